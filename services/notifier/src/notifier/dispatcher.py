"""Sends due notifications. Rows are leased in batches, so any number of notifier replicas can
dispatch at once without sending the same email twice; a row is marked sent only after the SMTP
server accepted it, in groups (one database write per `dispatch_record_group` sends). Passing
failures are retried with backoff for `retry_for_seconds`.

Rows this process has just committed are handed over in memory, without a search for due rows. A
row due at once was written already leased to this dispatcher (`handover_lease`) and is sent as it
is, one database update less an email. The search runs whenever nothing is handed over, so rows of
a crashed process, of another replica, retries and rows due later are all sent; a handed-over row
lost in a crash is only a shortcut lost, and those left at a stop have their lease ended. The
hand-over holds at most `dispatch_handover_limit` rows: a consumer that gets ahead of the sending
waits, so memory does not grow with the batch.

A mailing (a results part's emails, `notifier.repository`) is handed over as its emails, each
sent like a row; their outcomes are written as new rows, and once every email of it has one the
mailing is deleted. One whose emails were not all sent here (a slow SMTP server, a stop, a crash)
is taken as a whole by a search once its lease ends, and only its emails without a row are sent."""

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr

import structlog
from pymongo.errors import PyMongoError

from crs_shared.clock import Clock
from crs_shared.logging import get_logger
from notifier.config import Settings
from notifier.domain.notifications import message_id, retry_delay
from notifier.mailer import PermanentSendError, SmtpPool, TransientSendError
from notifier.metrics import NOTIFICATIONS, QUEUED
from notifier.rendering import build_message, render
from notifier.repository import NotifierRepository

log = get_logger(__name__)
RECORD_RETRY_FIRST_SECONDS, RECORD_RETRY_MAX_SECONDS = 0.1, 2.0
# Counting the queue is a query of its own, whose cost grows with the queue (0.2 s at 10,000 queued):
# the gauge is refreshed at most this often, often enough for a gauge scraped every 15 s or more.
QUEUED_GAUGE_SECONDS = 15.0


@dataclass(frozen=True)
class Sender:
    mail_from: str
    reply_to: str
    centre_name: str
    public_base_url: str

    def common_context(self) -> dict:
        """What every template may use besides its notification's own data. `centre_name` only
        signs an email: its default is the service's own name, so a phrase built around it
        ("the {centre_name} Results Service") named the service twice."""
        return {
            "centre_name": self.centre_name, "reply_to": self.reply_to,
            "login_url": f"{self.public_base_url}/login", "results_url": f"{self.public_base_url}/results",
            "forgot_url": f"{self.public_base_url}/forgot-password",
        }

    @functools.cached_property
    def envelope_from(self) -> str:
        return parseaddr(self.mail_from)[1]

    @property
    def domain(self) -> str:
        return self.envelope_from.rsplit("@", 1)[-1]

    @classmethod
    def from_settings(cls, settings: Settings) -> "Sender":
        return cls(settings.mail_from, settings.reply_to, settings.centre_name, settings.public_base_url.rstrip("/"))


class SentRecords:
    """Collects the sends of one pass and records them in groups: a group is written as soon as it
    is full, the rest at the end of the pass. Only the sends of a group not yet written when the
    process dies are sent again after their lease (same Message-ID), as an email in flight is."""

    def __init__(self, write: Callable[[list[dict]], Awaitable[None]], group: int):
        self._write, self._group = write, group
        self._pending: list[dict] = []
        self._writes: list[asyncio.Task] = []

    def add(self, email: dict) -> None:
        self._pending.append(email)
        if len(self._pending) >= self._group:
            self._flush()

    def _flush(self) -> None:
        ids, self._pending = self._pending, []
        self._writes.append(asyncio.create_task(self._write(ids)))

    async def written(self) -> None:
        if self._pending:
            self._flush()
        await asyncio.gather(*self._writes)


class Dispatcher:
    def __init__(self, repository: NotifierRepository, pool: SmtpPool, clock: Clock, settings: Settings):
        self._repository = repository
        self._pool = pool
        self._clock = clock
        self._sender = Sender.from_settings(settings)
        self._poll = settings.dispatch_poll_seconds
        self._batch = settings.dispatch_batch_size
        self._record_group = settings.dispatch_record_group
        self._passes = settings.dispatch_passes
        self._queued_counted_at = float("-inf")
        self._lease = timedelta(seconds=settings.send_lease_seconds)
        self._retry_for = timedelta(seconds=settings.retry_for_seconds)
        self._retry_base, self._retry_max = settings.send_retry_base_seconds, settings.send_retry_max_seconds
        self._handed: asyncio.Queue[dict] = asyncio.Queue(maxsize=settings.dispatch_handover_limit)
        self._mailing_emails_left: dict[str, int] = {}  # mailings being sent here: emails without a row yet
        self._handover_owner = f"handover-{uuid.uuid4()}"
        self._wakeup = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wakeup.set()

    def handover_lease(self, now: datetime) -> dict:
        """The lease this process's handlers write a row due at once with. Handed over after the
        commit, the row is sent without leasing it again, one database update less an email; if
        this process dies first, the row waits out the lease and any replica's search takes it."""
        return {"lease_until": now + self._lease, "lease_owner": self._handover_owner}

    async def hand_over(self, rows: list[dict]) -> None:
        """Rows just committed by this process; those written without its hand-over lease (due
        later) are left to the search."""
        for row in rows:
            if row.get("lease_owner") == self._handover_owner:
                await self._handed.put(row)
                self._wakeup.set()

    async def hand_over_mailings(self, mailings: list[dict]) -> None:
        """Mailings just committed by this process: their emails join the hand-over (those due later
        are left to the search)."""
        for mailing in mailings:
            if mailing.get("lease_owner") == self._handover_owner:
                emails = mailing_emails(mailing, mailing["rows"])
                self._mailing_emails_left[mailing["_id"]] = len(emails)
                await self.hand_over(emails)

    async def run(self) -> None:
        """`dispatch_passes` passes at once, so one leases while another sends (the lease's conditions
        keep two passes, like two replicas, from taking the same row). While nothing is to be sent,
        the first pass searches every `dispatch_poll_seconds` and the others every `passes` times
        that, so rows come due while the first is busy still wait no longer than that; a hand-over,
        or a search that filled its batch, wakes them all. (Every pass searching every
        `dispatch_poll_seconds` made an idle replica query its database 32 times a second.)"""
        polls = [self._poll] + [self._poll * self._passes] * (self._passes - 1)
        await asyncio.gather(*(self._pass_after_pass(poll) for poll in polls))
        await self._release_handed_over()

    async def _pass_after_pass(self, poll_seconds: float) -> None:
        while not self._stopping:
            searched = self._handed.empty()  # a pass searches only when nothing is handed over
            try:
                handled = await self.dispatch_once()
            except Exception as exc:  # survive database outages; rows stay queued
                log.warning("dispatch pass failed; will retry", error=repr(exc))
                handled = 0
            more = handled >= self._batch or not self._handed.empty()
            if more:
                self._wakeup.set()  # the passes asleep join in
            if more or (searched and handled):
                continue  # a search that found a few may find more: small mailings due together
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=poll_seconds)

    async def _release_handed_over(self) -> None:
        """Once stopped: the rows still waiting in the hand-over are not sent here, so their lease
        ends now and another replica sends them at once, not a lease later (a rolling restart on
        release day would hold up to `dispatch_handover_limit` emails for the whole lease)."""
        left = [self._handed.get_nowait() for _ in range(self._handed.qsize())]
        if not left:
            return
        ids = [row["_id"] for row in left if "mailing" not in row]
        mailings = sorted({row["mailing"] for row in left if "mailing" in row})
        try:
            now = self._clock.now()
            released = await self._repository.release(ids, self._handover_owner, now) if ids else 0
            released_mailings = (await self._repository.release_mailings(mailings, self._handover_owner, now)
                                 if mailings else 0)
        except PyMongoError as exc:
            log.warning("handed-over emails not released; they wait out their lease", notifications=len(left),
                        error=repr(exc))
            return
        log.info("handed-over emails released", notifications=released, mailings=released_mailings)

    def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()

    async def dispatch_once(self) -> int:
        """One pass: the rows handed over, if any, else a search. Returns how many rows it took up."""
        handed = [self._handed.get_nowait() for _ in range(min(self._batch, self._handed.qsize()))]
        now = self._clock.now()
        if handed:
            # A row that waited in the hand-over until its lease ran low (a slow SMTP server) is
            # left to the search once the lease ends, like a row of a process that died.
            fresh, waited = [], []
            for row in handed:
                (fresh if row["lease_until"] - now >= self._lease / 2 else waited).append(row)
            for row in waited:
                if "mailing" in row:  # its mailing is the search's, once its lease ends
                    self._mailing_emails_left.pop(row["mailing"], None)
            await self._send_all(fresh, self._handover_owner)
            return len(handed)
        token = str(uuid.uuid4())
        leased = await self._repository.lease_due(now, token, self._lease, self._batch)
        if leased:
            await self._send_all(leased, token)
            return len(leased)
        mailing = await self._repository.lease_mailing(now, token, self._lease)
        return 0 if mailing is None else await self._send_mailing(mailing, token)

    async def _send_mailing(self, mailing: dict, token: str) -> int:
        """A mailing taken by a search (one due later, or one whose holder stopped): its emails
        without a row, as many at a time as all passes take up together, the lease renewed before
        each such slice. Returns how many emails it took up."""
        known = await self._repository.known_ids(None, [row["_id"] for row in mailing["rows"]])
        emails = mailing_emails(mailing, [row for row in mailing["rows"] if row["_id"] not in known])
        if not emails:
            await self._repository.finish_mailing(mailing["_id"], token)
            return 1
        self._mailing_emails_left[mailing["_id"]] = len(emails)
        at_once = self._batch * self._passes
        for start in range(0, len(emails), at_once):
            renewed = self._clock.now() + self._lease
            if start and not await self._repository.renew_mailing(mailing["_id"], token, renewed):
                self._mailing_emails_left.pop(mailing["_id"], None)  # another dispatcher took it over
                return start
            await self._send_all(emails[start:start + at_once], token)
        return len(emails)

    async def _send_all(self, rows: list[dict], owner: str) -> None:
        sent = SentRecords(lambda emails: self._record_sent(emails, owner), self._record_group)
        await asyncio.gather(*(self._send(row, owner, sent) for row in rows))
        await sent.written()
        await self._finish_mailings(rows, owner)
        await self._count_queued()

    async def _finish_mailings(self, rows: list[dict], owner: str) -> None:
        """Every one of `rows` has its outcome written: a mailing none of whose emails is left
        without one is done."""
        for row in rows:
            mailing = row.get("mailing")
            if mailing in self._mailing_emails_left:
                self._mailing_emails_left[mailing] -= 1
                if self._mailing_emails_left[mailing] == 0:
                    del self._mailing_emails_left[mailing]
                    await self._repository.finish_mailing(mailing, owner)

    async def _count_queued(self) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._queued_counted_at >= QUEUED_GAUGE_SECONDS:
            self._queued_counted_at = now
            QUEUED.set(await self._repository.count_queued())

    async def _send(self, row: dict, token: str, sent: SentRecords) -> None:
        # Each send runs in its own task (gather), so this binding stays with its own log lines.
        with structlog.contextvars.bound_contextvars(correlation_id=row.get("correlation_id")):
            await self._deliver(row, token, sent)

    async def _deliver(self, row: dict, token: str, sent: SentRecords) -> None:
        context = {**row["context"], **self._sender.common_context()}
        message = build_message(
            render(row["kind"], row["language"], context), to=row["email"], mail_from=self._sender.mail_from,
            reply_to=self._sender.reply_to, message_id=message_id(row["_id"], self._sender.domain),
            date=self._clock.now(), correlation_id=row.get("correlation_id"), language=row["language"],
        )
        try:
            await self._pool.send(message, self._sender.envelope_from, [row["email"]])
        except PermanentSendError as exc:
            await self._mark_failed(row, token, self._clock.now(), str(exc))
            NOTIFICATIONS.labels(row["kind"], "failed").inc()
            log.error("email refused for good", notification=row["_id"], reason=str(exc))
            return
        except TransientSendError as exc:
            now = self._clock.now()
            if now - row["created_at"] > self._retry_for:
                await self._mark_failed(row, token, now, f"gave up retrying: {exc}")
                NOTIFICATIONS.labels(row["kind"], "failed").inc()
                return
            delay = retry_delay(row.get("attempts", 0) + 1, base_seconds=self._retry_base, max_seconds=self._retry_max)
            await self._schedule_retry(row, token, now + delay, str(exc))
            NOTIFICATIONS.labels(row["kind"], "retried").inc()
            log.warning("email not sent; will retry", notification=row["_id"], error=str(exc))
            return
        sent.add(row)
        NOTIFICATIONS.labels(row["kind"], "sent").inc()
        log.info("email sent", notification=row["_id"], kind=row["kind"])

    # A row's outcome updates it; a mailing's email gets its row with it (`notifier.repository`).

    async def _mark_failed(self, row: dict, token: str, now: datetime, reason: str) -> None:
        if "mailing" in row:
            await self._repository.record_failed(row, now, reason)
        else:
            await self._repository.mark_failed(row["_id"], token, now, reason)

    async def _schedule_retry(self, row: dict, token: str, at: datetime, error: str) -> None:
        if "mailing" in row:
            await self._repository.record_retry(row, at, error)
        else:
            await self._repository.schedule_retry(row["_id"], token, at, error)

    async def _record_sent(self, emails: list[dict], token: str) -> None:
        """The SMTP server has these emails, so recording that must not give up on a database
        outage: the rows' lease would run out and a later pass would send them again. Retried in
        place, soon after the database is back, well before another replica can take the lease
        over (only an outage longer than the lease leaves that window open)."""
        rows = [email["_id"] for email in emails if "mailing" not in email]
        of_mailings = [email for email in emails if "mailing" in email]
        delay = RECORD_RETRY_FIRST_SECONDS
        while True:
            try:
                now = self._clock.now()
                if rows:
                    await self._repository.mark_sent(rows, token, now)
                    rows = []
                if of_mailings:
                    await self._repository.record_sent(of_mailings, now)
                return
            except PyMongoError as exc:
                log.warning("emails sent but not yet recorded; retrying", notifications=len(rows) + len(of_mailings),
                            error=repr(exc))
                await asyncio.sleep(delay)
                delay = min(2 * delay, RECORD_RETRY_MAX_SECONDS)


def mailing_emails(mailing: dict, rows: list[dict]) -> list[dict]:
    """`rows` of `mailing` as the dispatcher sends them: each under the mailing's lease."""
    lease = {"mailing": mailing["_id"], "lease_until": mailing["lease_until"], "lease_owner": mailing["lease_owner"]}
    return [row | lease for row in rows]
