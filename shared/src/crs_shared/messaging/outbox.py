"""Transactional outbox. A state change and the event it causes are written in one transaction
(`crs_shared.unit_of_work`); `OutboxRelay` publishes what is unsent, with confirms, and marks it
sent. A crash between commit and publish only delays the event.

Several replicas may relay at once: each leases a batch before publishing it, and a lease that
outlives a crashed relay expires. A publish whose confirm was lost may be repeated; consumers are
idempotent on `event_id`, so that repeat changes nothing."""

import asyncio
import contextlib
import uuid
from datetime import datetime, timedelta

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from crs_shared import faults
from crs_shared.clock import Clock
from crs_shared.logging import get_logger
from crs_shared.messaging.envelope import Envelope
from crs_shared.messaging.publisher import EventPublisher, PublishError
from crs_shared.metrics import OUTBOX_BACKLOG, PUBLISHED

OUTBOX_COLLECTION = "outbox"
OUTBOX_INDEXES = [
    IndexModel([("sent_at", ASCENDING), ("created_at", ASCENDING)]),
    # Sent entries are kept a week for inspection, then MongoDB removes them.
    IndexModel([("sent_at", ASCENDING)], expireAfterSeconds=7 * 24 * 3600, name="sent_at_ttl"),
]
LEASE = timedelta(seconds=30)
log = get_logger(__name__)


def outbox_document(envelope: Envelope, routing_key: str, now: datetime) -> dict:
    return {
        "_id": envelope.event_id,
        "routing_key": routing_key,
        "envelope": envelope.model_dump(mode="json"),
        "created_at": now,
        "sent_at": None,
        "lease_until": now,
        "lease_owner": None,
    }


class OutboxRelay:
    def __init__(
        self,
        outbox: AsyncCollection,
        publisher: EventPublisher,
        clock: Clock,
        *,
        service: str,
        poll_seconds: float = 0.5,
        batch_size: int = 200,
    ):
        self._outbox = outbox
        self._publisher = publisher
        self._clock = clock
        self._service = service
        self._poll = poll_seconds
        self._batch_size = batch_size
        self._owner = str(uuid.uuid4())
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._pass = asyncio.Lock()  # one pass at a time, so the final flush never races the loop's pass

    def wake(self) -> None:
        """Called after a commit that added to the outbox, so the event leaves at once."""
        self._wakeup.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                sent = await self.relay_once()
            except Exception as exc:  # the relay must outlive broker and database outages
                log.warning("outbox relay pass failed; will retry", error=repr(exc))
                sent = 0
            if sent < self._batch_size:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll)

    async def stop(self) -> int:
        """Stops after the current pass, then publishes what is left; returns how many it published."""
        self._stopping = True
        self._wakeup.set()
        published = 0
        with contextlib.suppress(Exception):
            while (sent := await self.relay_once()) > 0:
                published += sent
        return published

    async def relay_once(self) -> int:
        async with self._pass:
            return await self._relay_pass()

    async def _relay_pass(self) -> int:
        now = self._clock.now()
        unleased = {"sent_at": None, "lease_until": {"$lte": now}}
        due = self._outbox.find(unleased, {"_id": 1, "envelope.event_type": 1}).sort("created_at", ASCENDING)
        unsent = await due.limit(self._batch_size).to_list()
        ids = [doc["_id"] for doc in unsent]
        if not ids:
            OUTBOX_BACKLOG.labels(self._service).set(0)
            return 0
        for doc in unsent:
            faults.kill_before_publish(doc["envelope"]["event_type"])
        await self._outbox.update_many(
            {"_id": {"$in": ids}, **unleased}, {"$set": {"lease_until": now + LEASE, "lease_owner": self._owner}}
        )
        leased = [doc async for doc in self._outbox.find({"_id": {"$in": ids}, "lease_owner": self._owner, "sent_at": None})]
        results = await asyncio.gather(*(self._publish(doc) for doc in leased))
        sent_ids = [doc_id for doc_id in results if doc_id is not None]
        if sent_ids:
            # A sent entry keeps only its metadata: its payload may hold a password hash.
            await self._outbox.update_many(
                {"_id": {"$in": sent_ids}}, {"$set": {"sent_at": self._clock.now()}, "$unset": {"envelope": ""}}
            )
        OUTBOX_BACKLOG.labels(self._service).set(await self._outbox.count_documents({"sent_at": None}))
        return len(sent_ids)

    async def _publish(self, doc: dict) -> str | None:
        envelope = Envelope.model_validate(doc["envelope"])
        try:
            await self._publisher.publish(envelope, doc["routing_key"])
        except PublishError as exc:
            # Release the lease so the next pass (or another replica) tries again.
            await self._outbox.update_one({"_id": doc["_id"]}, {"$set": {"lease_until": self._clock.now()}})
            log.warning("event not published; will retry", event_id=envelope.event_id, event_type=envelope.event_type,
                        correlation_id=envelope.correlation_id, error=str(exc))
            return None
        PUBLISHED.labels(self._service, envelope.event_type).inc()
        return doc["_id"]
