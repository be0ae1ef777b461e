"""Inbox: a consumer records `(handler, event_id)` in the same transaction as its effect. The
unique `_id` makes a second delivery of the same event a no-op, counted in `events_duplicate_total`."""

from collections.abc import Awaitable, Callable
from datetime import datetime

from pymongo import ASCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from crs_shared.messaging.envelope import Envelope
from crs_shared.metrics import DUPLICATES
from crs_shared.mongo import Session, run_in_transaction

INBOX_COLLECTION = "inbox"
INBOX_INDEXES = [IndexModel([("handled_at", ASCENDING)], expireAfterSeconds=90 * 24 * 3600, name="handled_at_ttl")]


async def handle_once(
    client: AsyncMongoClient,
    inbox: AsyncCollection,
    *,
    service: str,
    handler: str,
    envelope: Envelope,
    now: datetime,
    work: Callable[[Session], Awaitable[None]],
) -> bool:
    """Runs `work(session)` and records the event in one transaction, unless this handler has
    already handled this event. Returns False for a duplicate delivery."""
    if await _handle_once(client, inbox, f"{handler}:{envelope.event_id}", now, work):
        return True
    DUPLICATES.labels(service, envelope.event_type).inc()
    return False


async def _handle_once(client: AsyncMongoClient, inbox: AsyncCollection, key: str, now: datetime,
                       work: Callable[[Session], Awaitable[None]]) -> bool:
    async def transaction(session: Session) -> bool:
        if await inbox.find_one({"_id": key}, {"_id": 1}, session=session):
            return False
        await inbox.insert_one({"_id": key, "handled_at": now}, session=session)
        await work(session)
        return True

    try:
        return await run_in_transaction(client, transaction)
    except DuplicateKeyError:
        # A concurrent delivery of the same event committed first.
        if await inbox.find_one({"_id": key}, {"_id": 1}):
            return False
        raise
