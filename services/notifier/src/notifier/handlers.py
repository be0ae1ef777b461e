"""One async function per event. Each records what to send in the notifier's own database, in
one transaction with the inbox, then hands the new rows to this process's dispatcher, which sends
them when they are due.

An email for a candidate the notifier has no contact for yet is kept as a draft in that
candidate's contact document (`notifier.repository`) and acked; when CandidateRegistered comes,
the drafts become rows that follow the confirmation: due once it is sent (or has failed)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from crs_shared.clock import Clock
from crs_shared.domain.exams import ISSUED, find_exam
from crs_shared.logging import get_logger
from crs_shared.messaging.contracts import (
    CandidateRegistered,
    LoginLocked,
    PasswordChanged,
    PasswordResetRequested,
    ResultsReleased,
)
from crs_shared.messaging.envelope import Envelope
from crs_shared.mongo import Session
from crs_shared.unit_of_work import Attempts, UnitsOfWork
from notifier.domain.links import why_link_refused
from notifier.domain.notifications import Kind, Status, notification_id
from notifier.metrics import NOTIFICATIONS
from notifier.repository import FOLLOWS, NotifierRepository

SERVICE = "notifier"
log = get_logger(__name__)
# Emails the operator may queue again once failed: their context (erased when they failed) is
# written again from the contact and the row. A lock notice or reset link is stale by then.
REQUEUED_KINDS = (Kind.REGISTRATION_CONFIRMATION, Kind.RESULTS_READY, Kind.RESULTS_UPDATED)


@dataclass(frozen=True)
class Dependencies:
    uow: UnitsOfWork
    repository: NotifierRepository
    clock: Clock
    after_commit: Callable[[], None]  # rows may be due: wake the dispatcher
    hand_over: Callable[[list[dict]], Awaitable[None]]  # rows just committed, to this process's dispatcher
    # The leases rows due at once are written with, for that dispatcher (None: left to any search).
    handover_leases: Callable[[datetime, int], list[dict | None]]
    public_base_url: str  # PUBLIC_BASE_URL: a reset link must lead under it


def draft(kind: Kind, source: str, candidate_id: str, envelope: Envelope, context: dict, **fields) -> dict:
    """An email before it has its contact: what its row needs besides the contact."""
    return {"_id": notification_id(source, candidate_id, kind), "kind": str(kind), "candidate_id": candidate_id,
            "context": context, "event_id": envelope.event_id, "correlation_id": envelope.correlation_id, **fields}


def context_for(contact: dict, row: dict) -> dict:
    """What the templates of a row need: the candidate's names and the email's own data."""
    names = {"candidate_id": contact["_id"], "given_name": contact["given_name"], "family_name": contact["family_name"]}
    return names | row["context"]


def new_notification(email: dict, contact: dict, *, now: datetime, lease: dict | None,
                     due_at: datetime | None = None, follows: bool = False) -> dict:
    """A queued row of a draft. Due at once and given a `lease`: written leased to this process's
    dispatcher, which is handed it after the commit and sends it without leasing it again. Due
    later: free to take from its due time (`lease_until`, see `notifier.repository`); following a
    confirmation: not free until that has its outcome."""
    due_at = due_at or now
    if follows:
        lease = {"lease_until": FOLLOWS, "lease_owner": None}
    elif lease is None or due_at > now:
        lease = {"lease_until": due_at, "lease_owner": None}
    return email | {
        "email": contact["email"], "language": contact["language"], "context": context_for(contact, email),
        "status": Status.QUEUED, "due_at": due_at, **lease, "attempts": 0, "created_at": now,
    }


def registered(contact: dict | None) -> bool:
    """A contact document of a registered candidate, not one holding only drafts."""
    return contact is not None and "email" in contact


async def _hand_over(deps: Dependencies, handling: Attempts, added: list[dict]) -> None:
    """The rows an event's handling added, to the dispatcher once committed."""
    if handling.committed:
        await deps.hand_over(added)
        deps.after_commit()


async def _add(deps: Dependencies, session: Session, now: datetime, drafts: list[tuple[dict, dict]],
               due_at: datetime | None = None) -> list[dict]:
    """Rows of (draft, contact) pairs, less those already written, one per row id."""
    known = await deps.repository.known_ids(session, [email["_id"] for email, _ in drafts])
    drafts = list({email["_id"]: (email, contact) for email, contact in drafts if email["_id"] not in known}.values())
    leases = deps.handover_leases(now, len(drafts))
    return await deps.repository.add_notifications(session, [
        new_notification(email, contact, now=now, lease=lease, due_at=due_at)
        for (email, contact), lease in zip(drafts, leases)])


async def _notify_contact(
    deps: Dependencies, envelope: Envelope, handler: str, kind: Kind, candidate_id: str, context: dict
) -> None:
    now = deps.clock.now()
    handling, added = deps.uow.handling(envelope, handler, now), []
    async for uow in handling:
        async with uow:
            email = draft(kind, envelope.event_id, candidate_id, envelope, context)
            contact = await deps.repository.find_contact(uow.session, candidate_id)
            if registered(contact):
                added = await _add(deps, uow.session, now, [(email, contact)])
            else:
                await deps.repository.keep_waiting(uow.session, {candidate_id: [email]})
                added = []
    await _hand_over(deps, handling, added)


async def on_candidate_registered(deps: Dependencies, envelope: Envelope, event: CandidateRegistered) -> None:
    """The confirmation, and the emails that waited for this contact, right after it."""
    now = deps.clock.now()
    handling, added = deps.uow.handling(envelope, "on_candidate_registered", now), []
    contact = {"_id": event.candidate_id, "email": event.email, "given_name": event.given_name,
               "family_name": event.family_name, "language": event.language, "updated_at": now}
    async for uow in handling:
        async with uow:
            before = await deps.repository.register_contact(uow.session, contact)
            waiting = {email["_id"]: email for email in (before or {}).get("waiting", [])}
            known = await deps.repository.known_ids(uow.session, list(waiting))
            followers = [new_notification(email, contact, now=now, lease=None, follows=True)
                         for email_id, email in waiting.items() if email_id not in known]
            confirmation = draft(Kind.REGISTRATION_CONFIRMATION, envelope.event_id, event.candidate_id, envelope, {})
            if followers:
                confirmation["then"] = [row["_id"] for row in followers]
            [lease] = deps.handover_leases(now, 1)
            rows = [new_notification(confirmation, contact, now=now, lease=lease), *followers]
            added = await deps.repository.add_notifications(uow.session, rows)
    await _hand_over(deps, handling, added)


def results_context(exam: str, session: str) -> dict:
    found = find_exam(exam)
    return {"exam_name": found.name if found else exam, "session": session}


async def on_results_released(deps: Dependencies, envelope: Envelope, event: ResultsReleased) -> None:
    """The results emails of results the candidates can now see in GET /api/results/me (the results
    service publishes this once they are stored and released; a refused record is never in it).
    Per issued result: "now available", one per candidate, exam and session whatever the batch or
    part; for a correction of a result the candidate was told of, "has been updated" instead. A
    candidate with no contact yet gets the email kept as a draft, sent after its confirmation.
    Withheld and pending results get no email, and withdraw a "now available" not yet on its way."""
    now = deps.clock.now()
    handling, added = deps.uow.handling(envelope, "on_results_released", now), []
    async for uow in handling:
        async with uow:
            added = await _record_results_emails(deps, uow.session, envelope, event, now)
    await _hand_over(deps, handling, added)


async def _record_results_emails(deps: Dependencies, session: Session, envelope: Envelope, event: ResultsReleased,
                                 now: datetime) -> list[dict]:
    """The rows and drafts of `on_results_released`; returns the rows added."""
    exam = find_exam(event.exam)
    code = exam.code if exam else event.exam
    context = results_context(code, event.session)
    issued = [r for r in event.results if r.status == ISSUED]

    def ready_id(candidate_id: str) -> str:
        return notification_id(f"{code}:{event.session}", candidate_id, Kind.RESULTS_READY)

    contacts = {c["_id"]: c for c in await deps.repository.find_contacts(session, [r.candidate_id for r in issued])}
    # A "now available" still following its confirmation has not gone: not told yet.
    told = await deps.repository.known_ids(session, [ready_id(r.candidate_id) for r in issued if r.correction],
                                           following=False)
    emails, waiting = [], {}
    for result in issued:
        if ready_id(result.candidate_id) in told:
            # A result keeps its id through its corrections: each correcting batch is an update.
            kind, source = Kind.RESULTS_UPDATED, f"{result.result_id}:{event.board}:{event.batch_id}"
        else:
            kind, source = Kind.RESULTS_READY, f"{code}:{event.session}"
        email = draft(kind, source, result.candidate_id, envelope, context, exam=code, session=event.session)
        contact = contacts.get(result.candidate_id)
        if registered(contact):
            emails.append((email, contact))
        elif email["_id"] not in {d["_id"] for d in (contact or {}).get("waiting", [])}:
            waiting.setdefault(result.candidate_id, []).append(email)
    await deps.repository.keep_waiting(session, waiting)
    # A result no longer issued (withheld by a correction) is not "now available" after all, to
    # a candidate not told yet: its draft, or its row still behind the confirmation, goes.
    await deps.repository.withdraw(session, [(r.candidate_id, ready_id(r.candidate_id))
                                             for r in event.results if r.status != ISSUED])
    return await _add(deps, session, now, emails)


async def on_login_locked(deps: Dependencies, envelope: Envelope, event: LoginLocked) -> None:
    await _notify_contact(deps, envelope, "on_login_locked", Kind.LOGIN_LOCKED, event.candidate_id,
                          {"locked_until": event.locked_until, "failed_attempts": event.failed_attempts})


async def on_password_reset_requested(deps: Dependencies, envelope: Envelope, event: PasswordResetRequested) -> None:
    """A reset link that does not lead under PUBLIC_BASE_URL is refused: no email, no draft, and the
    event is acked as handled (logged, and counted as a `refused` password_reset); a dead-lettered
    copy would keep its token in the broker, and a second delivery would be refused again."""
    if (why := why_link_refused(event.reset_url, deps.public_base_url)) is not None:
        NOTIFICATIONS.labels(Kind.PASSWORD_RESET, "refused").inc()
        log.error("reset link refused: it does not lead under PUBLIC_BASE_URL; no email sent",
                  candidate_id=event.candidate_id, why=why, public_base_url=deps.public_base_url)
        return
    await _notify_contact(deps, envelope, "on_password_reset_requested", Kind.PASSWORD_RESET, event.candidate_id,
                          {"reset_url": event.reset_url, "expires_at": event.expires_at})


async def on_password_changed(deps: Dependencies, envelope: Envelope, event: PasswordChanged) -> None:
    await _notify_contact(deps, envelope, "on_password_changed", Kind.PASSWORD_CHANGED, event.candidate_id,
                          {"changed_at": event.changed_at})


async def requeue_failed(deps: Dependencies) -> int:
    """Queues the failed emails again that can be written again (`REQUEUED_KINDS`), to the
    contact's address and language as they are now, their context written again."""
    now = deps.clock.now()
    rows = await deps.repository.failed_of(list(REQUEUED_KINDS))
    contacts = {c["_id"]: c for c in await deps.repository.find_contacts(None, sorted({r["candidate_id"] for r in rows}))}
    again = []
    for row in rows:
        contact = contacts.get(row["candidate_id"])
        if registered(contact):
            own = results_context(row["exam"], row["session"]) if "exam" in row else {}
            again.append({"_id": row["_id"], "email": contact["email"], "language": contact["language"],
                          "context": context_for(contact, {"context": own})})
    requeued = await deps.repository.requeue(again, now)
    deps.after_commit()
    return requeued
