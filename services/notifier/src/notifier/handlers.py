"""One async function per event. Each records what to send in the notifier's own database, in
one transaction with the inbox, then hands the new rows to this process's dispatcher, which sends
them when they are due."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from crs_shared.clock import Clock
from crs_shared.domain.exams import ISSUED, check_part, find_exam
from crs_shared.messaging.contracts import (
    CandidateRegistered,
    LoginLocked,
    PasswordChanged,
    PasswordResetRequested,
    ResultsPublished,
)
from crs_shared.messaging.envelope import Envelope
from crs_shared.messaging.inbox import handle_once
from crs_shared.mongo import Session
from notifier.domain.notifications import Kind, Status, notification_id
from notifier.repository import NotifierRepository

SERVICE = "notifier"


class UnknownContact(Exception):
    """An event about a candidate whose CandidateRegistered has not reached the notifier (yet).
    Transient: the consumer retries, then dead-letters it."""


@dataclass(frozen=True)
class Dependencies:
    mongo: AsyncMongoClient
    repository: NotifierRepository
    inbox: AsyncCollection
    clock: Clock
    after_commit: Callable[[], None]  # rows may be due: wake the dispatcher
    hand_over: Callable[[list[dict]], Awaitable[None]]  # rows just committed, to this process's dispatcher
    hand_over_mailings: Callable[[list[dict]], Awaitable[None]]  # mailings just committed, likewise
    handover_lease: Callable[[datetime], dict]  # the lease a row due at once is written with, for that dispatcher


def new_notification(
    kind: Kind, source: str, envelope: Envelope, contact: dict, context: dict, *, now: datetime, lease: dict,
    due_at: datetime | None = None,
) -> dict:
    """A queued row. One due at once is written already leased (`lease`) to this process's
    dispatcher, which is handed it after the commit and sends it without leasing it again; one due
    later is free to take from its due time (`lease_until`, see `notifier.repository`)."""
    due_at = due_at or now
    names = {"candidate_id": contact["_id"], "given_name": contact["given_name"], "family_name": contact["family_name"]}
    return {
        "_id": notification_id(source, contact["_id"], kind),
        "kind": str(kind),
        "candidate_id": contact["_id"],
        "email": contact["email"],
        "language": contact["language"],
        "context": names | context,
        "event_id": envelope.event_id,
        "correlation_id": envelope.correlation_id,
        "status": Status.QUEUED,
        "due_at": due_at,
        **_lease_until_due(lease, due_at, now),
        "attempts": 0,
        "created_at": now,
    }


def new_mailing(source: str, envelope: Envelope, rows: list[dict], *, now: datetime, lease: dict,
                due_at: datetime | None = None) -> dict:
    """The emails of one event as one document (`notifier.repository`): `rows` are the rows they
    become once each has an outcome; the mailing holds the lease for all of them."""
    due_at = due_at or now
    return {
        "_id": f"{source}:{envelope.event_id}",
        "source": source,
        "candidate_ids": [row["candidate_id"] for row in rows],
        "emails": len(rows),
        "rows": [{k: v for k, v in row.items() if k not in ("lease_until", "lease_owner")} for row in rows],
        "due_at": due_at,
        **_lease_until_due(lease, due_at, now),
        "created_at": now,
    }


def _lease_until_due(lease: dict, due_at: datetime, now: datetime) -> dict:
    """Due at once: leased to this process's dispatcher (`lease`); due later: free from its due time."""
    return lease if due_at <= now else {"lease_until": due_at, "lease_owner": None}


async def _record(
    deps: Dependencies, envelope: Envelope, handler: str, work: Callable[[Session, datetime], Awaitable[list[dict]]],
    hand_over: Callable[[list[dict]], Awaitable[None]] | None = None,
) -> None:
    """Runs `work` (which returns the notification rows, or mailings, it added) once per event,
    then hands the committed documents over (`deps.hand_over` unless told otherwise)."""
    now = deps.clock.now()
    added: list[dict] = []

    async def transaction(session: Session) -> None:
        added[:] = await work(session, now)  # a retried transaction replaces, never adds to, the rows

    if await handle_once(deps.mongo, deps.inbox, service=SERVICE, handler=handler, envelope=envelope, now=now,
                         work=transaction):
        await (hand_over or deps.hand_over)(added)


async def _notify_contact(
    deps: Dependencies, envelope: Envelope, handler: str, kind: Kind, candidate_id: str, context: dict
) -> None:
    async def work(session: Session, now: datetime) -> list[dict]:
        contact = await deps.repository.find_contact(session, candidate_id)
        if contact is None:
            raise UnknownContact(f"no contact for candidate {candidate_id} yet")
        return await deps.repository.add_notifications(
            session, [new_notification(kind, envelope.event_id, envelope, contact, context, now=now,
                                      lease=deps.handover_lease(now))])

    await _record(deps, envelope, handler, work)


async def on_candidate_registered(deps: Dependencies, envelope: Envelope, event: CandidateRegistered) -> None:
    async def work(session: Session, now: datetime) -> list[dict]:
        contact = {"_id": event.candidate_id, "email": event.email, "given_name": event.given_name,
                   "family_name": event.family_name, "language": event.language, "updated_at": now}
        await deps.repository.upsert_contact(session, contact)
        return await deps.repository.add_notifications(
            session, [new_notification(Kind.REGISTRATION_CONFIRMATION, envelope.event_id, envelope, contact, {}, now=now,
                                      lease=deps.handover_lease(now))])

    await _record(deps, envelope, "on_candidate_registered", work)


async def on_results_published(deps: Dependencies, envelope: Envelope, event: ResultsPublished) -> None:
    """One "your result is available" email per registered candidate with an issued result, due at
    `release_at`, all in one mailing. Keyed by the board's batch, so a re-sent part sends nothing
    new, and a candidate already emailed or in a mailing of the same batch (in two parts of it) is
    left out. Candidates not registered (yet) get no email; withheld and pending results get none,
    and neither do records the results service refuses (the same `check_part` decides)."""
    exam = find_exam(event.exam)
    context = {"exam_name": exam.name if exam else event.exam, "session": event.session}
    valid, _refused = check_part(exam or event.exam, event.results)
    candidate_ids = sorted({r.candidate_id for r in valid if r.status == ISSUED})
    source = f"{event.board}:{event.batch_id}"

    async def work(session: Session, now: datetime) -> list[dict]:
        contacts = await deps.repository.find_contacts(session, candidate_ids)
        lease = deps.handover_lease(now)
        rows = [new_notification(Kind.RESULTS_READY, source, envelope, c, context, now=now, lease=lease,
                                 due_at=event.release_at) for c in contacts]
        known = await deps.repository.known_ids(session, [r["_id"] for r in rows])
        in_mailings = await deps.repository.in_mailings(session, source, [r["candidate_id"] for r in rows])
        rows = [r for r in rows if r["_id"] not in known and r["candidate_id"] not in in_mailings]
        if not rows:
            return []
        mailing = new_mailing(source, envelope, rows, now=now, lease=lease, due_at=event.release_at)
        await deps.repository.add_mailing(session, mailing)
        return [mailing]

    await _record(deps, envelope, "on_results_published", work, deps.hand_over_mailings)


async def on_login_locked(deps: Dependencies, envelope: Envelope, event: LoginLocked) -> None:
    await _notify_contact(deps, envelope, "on_login_locked", Kind.LOGIN_LOCKED, event.candidate_id,
                          {"locked_until": event.locked_until, "failed_attempts": event.failed_attempts})


async def on_password_reset_requested(deps: Dependencies, envelope: Envelope, event: PasswordResetRequested) -> None:
    await _notify_contact(deps, envelope, "on_password_reset_requested", Kind.PASSWORD_RESET, event.candidate_id,
                          {"reset_url": event.reset_url, "expires_at": event.expires_at})


async def on_password_changed(deps: Dependencies, envelope: Envelope, event: PasswordChanged) -> None:
    await _notify_contact(deps, envelope, "on_password_changed", Kind.PASSWORD_CHANGED, event.candidate_id,
                          {"changed_at": event.changed_at})
