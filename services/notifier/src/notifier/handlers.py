"""One async function per event. Each records what to send in the notifier's own database, in
one transaction with the inbox; the dispatcher sends it."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from crs_shared.clock import Clock
from crs_shared.messaging.contracts import CandidateRegistered
from crs_shared.messaging.envelope import Envelope
from crs_shared.messaging.inbox import handle_once
from crs_shared.mongo import Session
from notifier.domain.notifications import Kind, Status, notification_id
from notifier.repository import NotifierRepository

SERVICE = "notifier"


@dataclass(frozen=True)
class Dependencies:
    mongo: AsyncMongoClient
    repository: NotifierRepository
    inbox: AsyncCollection
    clock: Clock
    public_base_url: str
    after_commit: Callable[[], None] = lambda: None


def new_notification(
    kind: Kind, envelope: Envelope, contact: dict, context: dict, *, now: datetime, due_at: datetime | None = None
) -> dict:
    return {
        "_id": notification_id(envelope.event_id, contact["_id"], kind),
        "kind": str(kind),
        "candidate_id": contact["_id"],
        "email": contact["email"],
        "language": contact["language"],
        "context": context,
        "event_id": envelope.event_id,
        "correlation_id": envelope.correlation_id,
        "status": Status.QUEUED,
        "due_at": due_at or now,
        "lease_until": now,
        "lease_owner": None,
        "attempts": 0,
        "created_at": now,
    }


async def on_candidate_registered(deps: Dependencies, envelope: Envelope, event: CandidateRegistered) -> None:
    now = deps.clock.now()
    contact = {"_id": event.candidate_id, "email": event.email, "given_name": event.given_name,
               "family_name": event.family_name, "language": event.language, "updated_at": now}
    context = {"candidate_id": event.candidate_id, "given_name": event.given_name, "family_name": event.family_name,
               "login_url": f"{deps.public_base_url.rstrip('/')}/login"}

    async def work(session: Session) -> None:
        await deps.repository.upsert_contact(session, contact)
        await deps.repository.add_notification(
            session, new_notification(Kind.REGISTRATION_CONFIRMATION, envelope, contact, context, now=now)
        )

    if await handle_once(deps.mongo, deps.inbox, handler="on_candidate_registered", event_id=envelope.event_id,
                         now=now, work=work):
        deps.after_commit()
