"""A unit of work: one MongoDB transaction holding a change, the events it publishes (the outbox)
and, for a consumer, the inbox entry of the event it handles. A handler reads

    async for uow in deps.uow.attempts(now):
        async with uow:
            await deps.repository.change(uow.session, ...)
            uow.publish(SomethingHappened(...))

The loop runs the block again on a transient error (a write conflict, a failover), as the driver's
`with_transaction` does: the block must only write through `uow.session`, compute what it keeps
from scratch each time, and be the loop's whole body. Leaving the block commits, unless it raised.
After a commit that published, the outbox relay is woken, so the events leave at once.

A handler's transaction reads straight down, with no closure handed to the driver; its tests can
give it a unit of work in memory (`tests/support/unit_of_work.py`)."""

import asyncio
import itertools
import random
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from types import TracebackType

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from crs_shared.logging import current_correlation_id
from crs_shared.messaging.contracts import EventPayload
from crs_shared.messaging.envelope import Envelope, new_envelope
from crs_shared.messaging.outbox import outbox_document
from crs_shared.metrics import DUPLICATES
from crs_shared.mongo import Session

# As the driver's `with_transaction`: retry for up to two minutes, with a growing, jittered pause.
RETRY_SECONDS = 120.0
BACKOFF_FIRST_SECONDS, BACKOFF_MAX_SECONDS = 0.005, 0.5
TRANSIENT, UNKNOWN_COMMIT = "TransientTransactionError", "UnknownTransactionCommitResult"
MAX_TIME_EXPIRED = 50  # a commit that ran out of its time is not retried


class UnitOfWork:
    """One attempt: a transaction open on `session`, committed when its block ends without error."""

    def __init__(self, units: "UnitsOfWork", now: datetime, inbox_key: str | None, deadline: float):
        self.session: Session = units.client.start_session()
        self.now = now
        self._units = units
        self._inbox_key = inbox_key
        self._deadline = deadline
        self._published: list[tuple[Envelope, str]] = []
        self.committed = False
        self.transient: PyMongoError | None = None  # why the iterator tries again
        self.duplicate = False  # another delivery of the same event committed first

    def publish(self, event: EventPayload, *, correlation_id: str | None = None) -> None:
        """`event` into the outbox with the change (correlated, by default, with what is being handled)."""
        if self._units.outbox is None:
            raise RuntimeError(f"{self._units.producer} publishes no events")
        envelope = new_envelope(event, producer=self._units.producer,
                                correlation_id=correlation_id or current_correlation_id(), occurred_at=self.now)
        self._published.append((envelope, event.ROUTING_KEY))

    @property
    def published(self) -> list[Envelope]:
        return [envelope for envelope, _ in self._published]

    async def __aenter__(self) -> "UnitOfWork":
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> bool:
        failure = error
        try:
            if error is None:
                await self._commit()
        except PyMongoError as exc:
            failure = exc
        finally:
            await self._end()
        if isinstance(failure, PyMongoError) and failure.has_error_label(TRANSIENT):
            self.transient = failure
            return True
        if isinstance(failure, DuplicateKeyError) and await self._handled_before():
            self.duplicate = True
            return True
        if failure is not error:
            raise failure
        return False

    async def _first_delivery(self) -> bool:
        """Records the event in the inbox within this unit; False if this handler handled it before."""
        inbox = self._units.inbox
        if await inbox.find_one({"_id": self._inbox_key}, {"_id": 1}, session=self.session) is not None:
            return False
        await inbox.insert_one({"_id": self._inbox_key, "handled_at": self.now}, session=self.session)
        return True

    async def _handled_before(self) -> bool:
        """Outside the transaction: whether another delivery of the event committed its handling."""
        return self._inbox_key is not None and await self._units.inbox.find_one(
            {"_id": self._inbox_key}, {"_id": 1}) is not None

    async def _commit(self) -> None:
        if self._published:
            documents = [outbox_document(envelope, key, self.now) for envelope, key in self._published]
            await self._units.outbox.insert_many(documents, ordered=False, session=self.session)
        while True:
            try:
                await self.session.commit_transaction()
                self.committed = True
                return
            except PyMongoError as exc:
                # The commit may have been applied: committing again is safe, and tells.
                if not exc.has_error_label(UNKNOWN_COMMIT) or exc.code == MAX_TIME_EXPIRED \
                        or time.monotonic() > self._deadline:
                    raise

    async def _end(self) -> None:
        if self.session.in_transaction:
            await self.session.abort_transaction()
        await self.session.end_session()


class Attempts:
    """Units of work for one change, one after another until one commits or fails for good.
    `committed` tells afterwards whether the change was made (False: the event was handled before)."""

    def __init__(self, units: "UnitsOfWork", now: datetime, inbox_key: str | None = None,
                 event_type: str | None = None):
        self._units = units
        self._now = now
        self._inbox_key = inbox_key
        self._event_type = event_type
        self.committed = False

    async def __aiter__(self) -> AsyncIterator[UnitOfWork]:
        deadline = time.monotonic() + RETRY_SECONDS
        for attempt in itertools.count():
            if attempt:
                pause = random.random() * min(BACKOFF_FIRST_SECONDS * 1.5 ** attempt, BACKOFF_MAX_SECONDS)
                if time.monotonic() + pause > deadline:
                    raise uow.transient
                await asyncio.sleep(pause)
            uow = UnitOfWork(self._units, self._now, self._inbox_key, deadline)
            try:
                await uow.session.start_transaction()
                first = self._inbox_key is None or await uow._first_delivery()
            except BaseException as error:
                # The inbox step fails as the caller's block would: transiently (try again), or for good.
                if not await uow.__aexit__(type(error), error, error.__traceback__):
                    raise
            else:
                if not first:
                    await uow._end()
                    uow.duplicate = True
                else:
                    yield uow
            if uow.duplicate:
                DUPLICATES.labels(self._units.producer, self._event_type).inc()
                return
            if uow.committed:
                self.committed = True
                if uow.published:
                    self._units.wake()
                return


class UnitsOfWork:
    """Where a service's units of work write: its client, outbox and inbox; `wake` is called after a
    commit that published events (the outbox relay's wake-up)."""

    def __init__(self, client: AsyncMongoClient, *, producer: str, outbox: AsyncCollection | None,
                 inbox: AsyncCollection, wake: Callable[[], None] = lambda: None):
        self.client = client
        self.producer = producer
        self.outbox = outbox
        self.inbox = inbox
        self.wake = wake

    def attempts(self, now: datetime) -> Attempts:
        """Units of work for a change at `now` (the time of its events)."""
        return Attempts(self, now)

    def handling(self, envelope: Envelope, handler: str, now: datetime) -> Attempts:
        """Units of work for `handler`'s handling of the event in `envelope`, recorded in the inbox; none
        at all if this handler has handled this event before (counted in `events_duplicate_total`)."""
        return Attempts(self, now, f"{handler}:{envelope.event_id}", envelope.event_type)
