"""Sends due notifications, one row an email, each in four steps: its lease (taken by a search, or
written with the row for a row due at once), its message (`notifier.rendering`), its send (the
SMTP pool, the lease checked first) and its outcome (`notifier.recording`). Whatever goes wrong
with one email is that email's outcome alone, but for the SMTP server refusing the service itself
(`notifier.mailer.SmtpConfigurationError`): then the pool pauses, the email's row is queued again
as it was (its try not counted), and no row is taken up until the pool resumes.

Rows this process has just committed are handed over in memory, without a search. A row due at once
was written already leased to this dispatcher (`handover_leases`) and is sent as it is, one database
update less an email. The search runs whenever nothing is handed over, so rows of a crashed process,
of another replica, retries and rows due later are all sent; a handed-over row lost in a crash is
only a shortcut lost, and those left at a stop have their lease ended.

At most `in_flight_limit()` emails are taken up and unsent at once: what the pool can send in a
quarter of the lease at its recent pace (`notifier.domain.in_flight`). The hand-over lease is given
by the same rule, to as many rows as the pool sends in a quarter of the lease, counting those
handed over or taken up already, at most `dispatch_handover_limit`: on release day nearly every
row is handed over and no search is made, while a slow SMTP server leaves the rest free for
another replica's search. (A search reads the range of free rows, so a release sent through
searches costs SecantusDB about the square of its size.)"""

import asyncio
import contextlib
import uuid
from datetime import datetime, timedelta

import structlog
from pymongo.errors import PyMongoError

from crs_shared.clock import Clock
from crs_shared.logging import get_logger
from notifier.config import Settings
from notifier.domain.in_flight import in_flight_limit
from notifier.domain.notifications import gives_up, lease_needs_extending, retry_delay
from notifier.mailer import PermanentSendError, SmtpConfigurationError, SmtpPool, TransientSendError
from notifier.metrics import NOTIFICATIONS, QUEUED
from notifier.recording import Recorder
from notifier.rendering import Sender, Unsendable, compose
from notifier.repository import NotifierRepository, Outcome

log = get_logger(__name__)
# Counting the queue is a query of its own, whose cost grows with the queue (0.2 s at 10,000 queued):
# the gauge is refreshed at most this often, often enough for a gauge scraped every 15 s or more.
QUEUED_GAUGE_SECONDS = 15.0
PERMANENT = (Unsendable, PermanentSendError)


class Dispatcher:
    def __init__(self, repository: NotifierRepository, pool: SmtpPool, clock: Clock, settings: Settings):
        self._repository = repository
        self._pool = pool
        self._clock = clock
        self._sender = Sender.from_settings(settings)
        self._recorder = Recorder(repository, clock, settings.dispatch_record_group)
        self._poll = settings.dispatch_poll_seconds
        self._batch = settings.dispatch_batch_size
        self._most_in_flight = settings.dispatch_in_flight
        self._lease = timedelta(seconds=settings.send_lease_seconds)
        self._retry_for = timedelta(seconds=settings.retry_for_seconds)
        self._retry_base, self._retry_max = settings.send_retry_base_seconds, settings.send_retry_max_seconds
        self._handed: asyncio.Queue[dict] = asyncio.Queue(maxsize=settings.dispatch_handover_limit)
        self._handover_owner = f"handover-{uuid.uuid4()}"
        self._in_flight: set[asyncio.Task] = set()
        self._wakeup = asyncio.Event()  # rows handed over, or may be due
        self._room = asyncio.Event()  # an email taken up is done with
        self._queued_counted_at = float("-inf")
        self._stopping = False
        self._left: list[tuple[str, str]] = []  # (row, owner) taken up but not sent: stopped first

    def wake(self) -> None:
        self._wakeup.set()

    def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        self._room.set()

    def in_flight_limit(self) -> int:
        return in_flight_limit(self._pool.per_second(), self._lease.total_seconds(), at_least=self._pool.size,
                               at_most=self._most_in_flight)

    def handover_leases(self, now: datetime, count: int) -> list[dict | None]:
        """The leases `count` rows due at once are written with: this dispatcher's, as far as the
        rule above allows, so it is handed them after the commit and sends them without leasing them
        again; None for the rest, which any replica's search takes. If this process dies first,
        its rows wait out the lease."""
        budget = in_flight_limit(self._pool.per_second(), self._lease.total_seconds(), at_least=self._pool.size,
                                 at_most=self._handed.maxsize)
        room = max(0, budget - len(self._in_flight) - self._handed.qsize())
        lease = {"lease_until": now + self._lease, "lease_owner": self._handover_owner}
        return [lease] * min(room, count) + [None] * max(0, count - room)

    async def hand_over(self, rows: list[dict]) -> None:
        """Rows just committed by this process; those not written with its lease are left to the search."""
        for row in rows:
            if row.get("lease_owner") == self._handover_owner:
                await self._handed.put(row)
                self._wakeup.set()

    async def run(self) -> None:
        """Takes up rows while there is room (handed over first, else a search), each email its own
        task. While nothing is to be sent, searches every `dispatch_poll_seconds`. Once stopped:
        finishes the sends begun, records them, and releases the rows taken up or handed over but
        not sent."""
        try:
            while not self._stopping:
                if self._pool.fault is not None:  # the SMTP server refuses this service: take nothing up
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._pool.resumed.wait(), timeout=self._poll)
                    continue
                room = self.in_flight_limit() - len(self._in_flight)
                if room <= 0:
                    self._room.clear()
                    await self._room.wait()
                    continue
                self._wakeup.clear()
                if await self._take_up(min(room, self._batch)):
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll)
        finally:
            if self._in_flight:
                await asyncio.wait(self._in_flight)
            await self._recorder.flush()
            await self._release_handed_over()

    async def _take_up(self, most: int) -> int:
        """Starts up to `most` emails; returns how many."""
        if not self._handed.empty():
            rows = [self._handed.get_nowait() for _ in range(min(most, self._handed.qsize()))]
            owner = self._handover_owner
        else:
            owner = str(uuid.uuid4())
            try:
                rows = await self._repository.lease_due(self._clock.now(), owner, self._lease, most)
                await self._count_queued()
            except PyMongoError as exc:  # a database outage: the rows stay queued
                log.warning("search for due emails failed; will retry", error=repr(exc))
                return 0
        for row in rows:
            task = asyncio.create_task(self._send(row, owner))
            self._in_flight.add(task)
            task.add_done_callback(self._done)
        return len(rows)

    def _done(self, task: asyncio.Task) -> None:
        self._in_flight.discard(task)
        self._room.set()

    async def _count_queued(self) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._queued_counted_at >= QUEUED_GAUGE_SECONDS:
            self._queued_counted_at = now
            QUEUED.set(await self._repository.count_queued())

    async def _send(self, row: dict, owner: str) -> None:
        """One email, start to end. Any exception is this email's: it fails or is tried again on
        its own schedule, and its outcome is recorded with the others'."""
        with structlog.contextvars.bound_contextvars(correlation_id=row.get("correlation_id"), notification=row["_id"]):
            try:
                message = compose(row, self._sender, self._clock.now())
                async with self._pool.connection() as smtp:
                    if self._stopping:  # not sent yet: left to another replica, so a stop waits only for sends begun
                        self._left.append((row["_id"], owner))
                        return
                    if not await self._hold(row, owner):
                        return
                    await smtp.send(message, self._sender.envelope_from, [row["email"]])
            except Exception as exc:  # noqa: BLE001 (whatever it is, it is this email's alone)
                self._recorder.add(self._after_failure(row, owner, exc))
                return
            self._recorder.add(Outcome(row["_id"], owner, sent=True, then=tuple(row.get("then", ()))))
            NOTIFICATIONS.labels(row["kind"], "sent").inc()
            log.info("email sent", kind=row["kind"])

    async def _hold(self, row: dict, owner: str) -> bool:
        """Right before the send: the row's lease has at least half its length left, extended if
        need be. False if another dispatcher holds the row now (this one's lease ran out first)."""
        now = self._clock.now()
        if not lease_needs_extending(row["lease_until"], now, self._lease):
            return True
        until = now + self._lease
        if await self._repository.extend_lease(row["_id"], owner, until):
            row["lease_until"] = until
            return True
        log.info("email not sent here: another dispatcher holds it now")
        return False

    def _after_failure(self, row: dict, owner: str, exc: Exception) -> Outcome:
        now, reason = self._clock.now(), str(exc) or repr(exc)
        then = tuple(row.get("then", ()))
        if isinstance(exc, SmtpConfigurationError):  # no email's fault: due again once sending resumes, no try used
            NOTIFICATIONS.labels(row["kind"], "paused").inc()
            log.info("email not sent: sending is paused", reason=reason)
            return Outcome(row["_id"], owner, sent=False, error=reason, retry_at=now, then=then, counts=False)
        if isinstance(exc, PERMANENT) or gives_up(row["created_at"], now, self._retry_for):
            reason = reason if isinstance(exc, PERMANENT) else f"gave up retrying: {reason}"
            NOTIFICATIONS.labels(row["kind"], "failed").inc()
            log.error("email failed for good", reason=reason)
            return Outcome(row["_id"], owner, sent=False, error=reason, then=then)
        at = now + retry_delay(row.get("attempts", 0) + 1, base_seconds=self._retry_base, max_seconds=self._retry_max)
        NOTIFICATIONS.labels(row["kind"], "retried").inc()
        log.warning("email not sent; will retry", error=reason, exc_info=not isinstance(exc, TransientSendError | PyMongoError))
        return Outcome(row["_id"], owner, sent=False, error=reason, retry_at=at, then=then)

    async def _release_handed_over(self) -> None:
        """Once stopped: the rows still waiting in the hand-over, and those taken up but not sent
        before the stop, are not sent here, so their lease ends now and another replica sends them
        at once, not a lease later."""
        left = self._left + [(self._handed.get_nowait()["_id"], self._handover_owner)
                             for _ in range(self._handed.qsize())]
        self._left = []
        by_owner: dict[str, list[str]] = {}
        for row_id, owner in left:
            by_owner.setdefault(owner, []).append(row_id)
        released = 0
        for owner, row_ids in by_owner.items():
            try:
                released += await self._repository.release(row_ids, owner, self._clock.now())
            except PyMongoError as exc:
                log.warning("emails not released; they wait out their lease", notifications=len(row_ids),
                            error=repr(exc))
        if released:
            log.info("unsent emails released", notifications=released)
