"""After a fault, the only evidence: the services' databases, the mail the SMTP server took and the
dead-letter queues. Everything published must be stored exactly once, every email sent exactly once,
every registration present, and nothing dead-lettered."""

import contextlib
from collections import Counter
from dataclasses import asdict, dataclass
from email.message import EmailMessage

import aio_pika
from pymongo import AsyncMongoClient

from crs_shared.messaging.contracts import (
    AccessRevoked,
    CandidateRegistered,
    EntriesPublished,
    LoginLocked,
    PasswordChanged,
    PasswordResetRequested,
    ResultsPublished,
    ResultsReleased,
)
from crs_shared.messaging.definitions import dead_letter_queue_name, queue_name
from tests.reliability.traffic import Stack, Workload
from tests.support.infrastructure import SmtpCapture
from tests.support.waiting import stays, wait_until

SUBSCRIPTIONS = {
    "registration": [EntriesPublished], "auth": [CandidateRegistered], "results": [ResultsPublished, AccessRevoked],
    "notifier": [CandidateRegistered, ResultsReleased, LoginLocked, PasswordResetRequested, PasswordChanged],
}
QUEUES = [queue_name(service, event.ROUTING_KEY) for service, events in SUBSCRIPTIONS.items() for event in events]
SUBJECT_KINDS = {"registration for the Results Service is confirmed": "confirmation", "is now available": "results_ready"}


def email_kind(message: EmailMessage) -> str:
    subject = str(message["Subject"])
    return next((kind for words, kind in SUBJECT_KINDS.items() if words in subject), f"other: {subject}")


@dataclass(frozen=True)
class Tally:
    expected: int
    found: int  # distinct expected items found
    duplicates: int  # copies beyond the first
    unexpected: int  # found but never expected

    @property
    def lost(self) -> int:
        return self.expected - self.found

    @property
    def exact(self) -> bool:
        return self.lost == 0 and self.duplicates == 0 and self.unexpected == 0

    @classmethod
    def of(cls, expected: set, seen: Counter) -> "Tally":
        return cls(expected=len(expected), found=len(expected & set(seen)),
                   duplicates=sum(n - 1 for n in seen.values() if n > 1), unexpected=len(set(seen) - expected))

    def counts(self) -> dict:
        return {**asdict(self), "lost": self.lost}


@dataclass(frozen=True)
class Outcome:
    registrations: Tally
    credentials: Tally
    results: Tally
    emails: Tally
    emails_by_kind: dict[str, int]
    dead_lettered: dict[str, int]  # dead-letter queue -> messages in it
    unsent: int  # notifications queued, outbox entries not yet published, messages waiting in queues

    @property
    def exact(self) -> bool:
        """Everything expected exactly once and nothing left to do (dead letters are judged by the test)."""
        tallies = (self.registrations, self.credentials, self.results, self.emails)
        return all(t.exact for t in tallies) and self.unsent == 0

    def counts(self) -> dict:
        return {"registrations": self.registrations.counts(), "credentials": self.credentials.counts(),
                "results": self.results.counts(), "emails": self.emails.counts(),
                "emails_by_kind": self.emails_by_kind, "dead_lettered": self.dead_lettered, "unsent": self.unsent}


async def queue_depths(amqp_url: str, queues: list[str]) -> dict[str, int]:
    """Messages ready in each queue (a queue nobody declared holds none)."""
    connection = await aio_pika.connect(amqp_url, timeout=10)
    depths = {}
    async with connection:
        for name in queues:
            channel = await connection.channel()
            try:
                depths[name] = (await channel.declare_queue(name, passive=True)).declaration_result.message_count
            except aio_pika.exceptions.ChannelClosed:  # NOT_FOUND closes the channel
                depths[name] = 0
            finally:
                with contextlib.suppress(Exception):
                    await channel.close()
    return depths


class Ledger:
    def __init__(self, stack: Stack, mongo_url: str, amqp_url: str, workload: Workload, smtp: SmtpCapture):
        self.stack, self.mongo_url, self.amqp_url, self.workload, self.smtp = stack, mongo_url, amqp_url, workload, smtp
        self.lease_seconds = float(stack["notifier"].env["SEND_LEASE_SECONDS"])

    def expected_emails(self) -> set[tuple[str, str]]:
        issued = self.workload.issued_ids()
        return ({(c.email, "confirmation") for c in self.workload.candidates}
                | {(c.email, "results_ready") for c in self.workload.early if c.candidate_id in issued})

    async def outcome(self) -> Outcome:
        client = AsyncMongoClient(self.mongo_url, serverSelectionTimeoutMS=5000)
        try:
            db = lambda name: client[self.stack.database(name)]  # noqa: E731
            ids = {c.candidate_id for c in self.workload.candidates}
            registered = Counter([d["_id"] async for d in db("registration").candidates.find({}, {"_id": 1})])
            credentials = Counter([d["_id"] async for d in db("auth").credentials.find({}, {"_id": 1})])
            stored = Counter([d["candidate_id"] async for d in db("results").results.find(
                {"batch_id": self.workload.batch_id}, {"candidate_id": 1})])
            unsent = await db("notifier").notifications.count_documents({"status": "queued"})
            for name in ("registration", "auth", "results"):
                unsent += await db(name).outbox.count_documents({"sent_at": None})
        finally:
            await client.close()
        emails = Counter((str(m["To"]).lower(), email_kind(m)) for m in self.smtp.messages())
        waiting = await queue_depths(self.amqp_url, QUEUES)
        dead = await queue_depths(self.amqp_url, [dead_letter_queue_name(q) for q in QUEUES])
        return Outcome(
            registrations=Tally.of(ids, registered), credentials=Tally.of(ids, credentials),
            results=Tally.of({r.candidate_id for r in self.workload.results}, stored),
            emails=Tally.of(self.expected_emails(), emails),
            emails_by_kind=dict(Counter(kind for _, kind in emails.elements())),
            dead_lettered={q: n for q, n in dead.items() if n}, unsent=unsent + sum(waiting.values()),
        )

    async def settled(self, timeout: float = 90) -> Outcome:
        """The outcome once everything expected has arrived and nothing is left to send, and it has
        stayed so for longer than a send lease: a message handled but not acked (which the queue
        depths do not count) is redelivered, and an email whose lease runs out is taken again, within
        that time, so a second effect shows. If it never gets there, or changes in that time, the
        outcome then (whose assertion says what is missing or doubled)."""

        async def complete() -> Outcome | None:
            outcome = await self.outcome()
            return outcome if outcome.exact else None

        try:
            await wait_until(complete, timeout=timeout, interval=0.5, what="every effect exactly once")
        except AssertionError:
            return await self.outcome()
        return await stays(complete, seconds=self.lease_seconds + 1) or await self.outcome()
