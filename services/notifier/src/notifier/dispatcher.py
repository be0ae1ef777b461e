"""Sends due notifications. Rows are leased in batches, so any number of notifier replicas can
dispatch at once without sending the same email twice; a row is marked sent only after the SMTP
server accepted it. Passing failures are retried with backoff for `retry_for_seconds`."""

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import timedelta

import structlog
from pymongo.errors import PyMongoError

from crs_shared.clock import Clock
from crs_shared.logging import get_logger
from notifier.config import Settings
from notifier.domain.notifications import Status, message_id, retry_delay
from notifier.mailer import PermanentSendError, SmtpPool, TransientSendError
from notifier.metrics import NOTIFICATIONS, QUEUED
from notifier.rendering import build_message, render
from notifier.repository import NotifierRepository

log = get_logger(__name__)
RECORD_RETRY_FIRST_SECONDS, RECORD_RETRY_MAX_SECONDS = 0.1, 2.0


@dataclass(frozen=True)
class Sender:
    mail_from: str
    reply_to: str
    centre_name: str
    public_base_url: str

    def common_context(self) -> dict:
        """What every template may use besides its notification's own data."""
        return {
            "centre_name": self.centre_name, "reply_to": self.reply_to,
            "login_url": f"{self.public_base_url}/login", "results_url": f"{self.public_base_url}/results",
            "forgot_url": f"{self.public_base_url}/forgot-password",
        }

    @property
    def domain(self) -> str:
        return self.mail_from.rsplit("@", 1)[-1].strip(" >")

    @classmethod
    def from_settings(cls, settings: Settings) -> "Sender":
        return cls(settings.mail_from, settings.reply_to, settings.centre_name, settings.public_base_url.rstrip("/"))


class Dispatcher:
    def __init__(self, repository: NotifierRepository, pool: SmtpPool, clock: Clock, settings: Settings):
        self._repository = repository
        self._pool = pool
        self._clock = clock
        self._sender = Sender.from_settings(settings)
        self._poll = settings.dispatch_poll_seconds
        self._batch = settings.dispatch_batch_size
        self._lease = timedelta(seconds=settings.send_lease_seconds)
        self._retry_for = timedelta(seconds=settings.retry_for_seconds)
        self._retry_base, self._retry_max = settings.send_retry_base_seconds, settings.send_retry_max_seconds
        self._wakeup = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                handled = await self.dispatch_once()
            except Exception as exc:  # survive database outages; rows stay queued
                log.warning("dispatch pass failed; will retry", error=repr(exc))
                handled = 0
            if handled < self._batch:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll)

    def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()

    async def dispatch_once(self) -> int:
        token = str(uuid.uuid4())
        leased = await self._repository.lease_due(self._clock.now(), token, self._lease, self._batch)
        await asyncio.gather(*(self._send(row, token) for row in leased))
        QUEUED.set(await self._repository.count({"status": Status.QUEUED}))
        return len(leased)

    async def _send(self, row: dict, token: str) -> None:
        # Each send runs in its own task (gather), so this binding stays with its own log lines.
        with structlog.contextvars.bound_contextvars(correlation_id=row.get("correlation_id")):
            await self._deliver(row, token)

    async def _deliver(self, row: dict, token: str) -> None:
        context = {**row["context"], **self._sender.common_context()}
        message = build_message(
            render(row["kind"], row["language"], context), to=row["email"], mail_from=self._sender.mail_from,
            reply_to=self._sender.reply_to, message_id=message_id(row["_id"], self._sender.domain),
            date=self._clock.now(), correlation_id=row.get("correlation_id"), language=row["language"],
        )
        try:
            await self._pool.send(message)
        except PermanentSendError as exc:
            await self._repository.mark_failed(row["_id"], token, self._clock.now(), str(exc))
            NOTIFICATIONS.labels(row["kind"], "failed").inc()
            log.error("email refused for good", notification=row["_id"], reason=str(exc))
            return
        except TransientSendError as exc:
            now = self._clock.now()
            if now - row["created_at"] > self._retry_for:
                await self._repository.mark_failed(row["_id"], token, now, f"gave up retrying: {exc}")
                NOTIFICATIONS.labels(row["kind"], "failed").inc()
                return
            delay = retry_delay(row.get("attempts", 0) + 1, base_seconds=self._retry_base, max_seconds=self._retry_max)
            await self._repository.schedule_retry(row["_id"], token, now + delay, str(exc))
            NOTIFICATIONS.labels(row["kind"], "retried").inc()
            log.warning("email not sent; will retry", notification=row["_id"], error=str(exc))
            return
        await self._record_sent(row, token)
        NOTIFICATIONS.labels(row["kind"], "sent").inc()
        log.info("email sent", notification=row["_id"], kind=row["kind"])

    async def _record_sent(self, row: dict, token: str) -> None:
        """The SMTP server has the email, so recording that must not give up on a database outage:
        the row's lease would run out and a later pass would send it again. Retried in place, soon
        after the database is back, well before another replica can take the lease over (only an
        outage longer than the lease leaves that window open)."""
        delay = RECORD_RETRY_FIRST_SECONDS
        while True:
            try:
                await self._repository.mark_sent(row["_id"], token, self._clock.now())
                return
            except PyMongoError as exc:
                log.warning("email sent but not yet recorded; retrying", notification=row["_id"], error=repr(exc))
                await asyncio.sleep(delay)
                delay = min(2 * delay, RECORD_RETRY_MAX_SECONDS)
