"""One async function per command or event. Dependencies are passed in."""

from dataclasses import dataclass
from datetime import datetime

from pymongo.errors import DuplicateKeyError

from crs_shared.clock import Clock
from crs_shared.logging import get_logger
from crs_shared.messaging.contracts import CandidateRegistered, EntriesPublished
from crs_shared.messaging.envelope import Envelope
from crs_shared.passwords import Passwords
from crs_shared.unit_of_work import UnitsOfWork
from registration.domain.errors import AlreadyRegistered, IdSecretMismatch, TooManyAttempts
from registration.domain.guess_limit import GuessLimit
from registration.domain.secret_number import secret_digest, secret_matches
from registration.metrics import GUESS_REFUSALS
from registration.repository import RegistrationRepository
from registration.schemas import RegistrationRequest

SERVICE = "registration"
log = get_logger(__name__)


@dataclass(frozen=True)
class Dependencies:
    uow: UnitsOfWork
    repository: RegistrationRepository
    passwords: Passwords
    clock: Clock
    secret_number_key: str
    guess_limit: GuessLimit


async def store_entries(deps: Dependencies, envelope: Envelope, part: EntriesPublished) -> None:
    now = deps.clock.now()
    entries = [
        {
            "_id": e.candidate_id,
            "secret_digest": secret_digest(deps.secret_number_key, e.candidate_id, e.secret_number),
            "given_name": e.given_name,
            "family_name": e.family_name,
            "exam": e.exam,
            "session": e.session,
            "centre": e.centre,
            "board": part.board,
            "batch_id": part.batch_id,
        }
        for e in part.entries
    ]
    handling = deps.uow.handling(envelope, "store_entries", now)
    async for uow in handling:
        async with uow:
            await deps.repository.store_entries(uow.session, entries)
            await deps.repository.record_entry_part(uow.session, part, now)
    if handling.committed:
        log.info("entries stored", board=part.board, batch_id=part.batch_id, part=part.part, entries=len(entries))


@dataclass(frozen=True)
class Registered:
    candidate_id: str
    email: str
    registered_at: datetime


async def check_secret_number(deps: Dependencies, candidate_id: str, secret_number: str) -> dict:
    """The entry whose Secret Number this is, within the guess limit. TooManyAttempts, unchecked,
    when the ID is held or checks in hand fill its tries; IdSecretMismatch when it is wrong (an
    unknown ID is counted the same)."""
    now = deps.clock.now()
    check_id = await deps.repository.reserve_check(candidate_id, now, deps.guess_limit)
    if check_id is None:
        raise await _too_many_attempts(deps, candidate_id, now)
    entry = await deps.repository.find_entry(candidate_id)
    if secret_matches(deps.secret_number_key, candidate_id, secret_number, entry["secret_digest"] if entry else None):
        await deps.repository.release_check(candidate_id, check_id)
        return entry
    await deps.repository.record_wrong(candidate_id, check_id, now, deps.guess_limit)
    raise IdSecretMismatch()


async def _too_many_attempts(deps: Dependencies, candidate_id: str, now: datetime) -> TooManyAttempts:
    held_until = await deps.repository.held_until(candidate_id)
    held = deps.guess_limit.is_held(held_until, now)
    GUESS_REFUSALS.labels("held" if held else "checks_in_flight").inc()
    log.info("registration refused: too many wrong secret numbers", candidate_id=candidate_id, held=held)
    return TooManyAttempts(deps.guess_limit.retry_after_seconds(held_until, now))


async def lift_hold(deps: Dependencies, candidate_id: str) -> None:
    """An operator's: the ID's next guess starts a fresh count. Nothing to lift is no error."""
    await deps.repository.lift_hold(candidate_id)
    log.info("guess hold lifted by an operator", candidate_id=candidate_id)


async def register_candidate(deps: Dependencies, request: RegistrationRequest) -> Registered:
    entry = await check_secret_number(deps, request.candidate_id, request.secret_number)
    if await deps.repository.is_registered(request.candidate_id):
        raise AlreadyRegistered()

    password_hash = await deps.passwords.hash(request.password)
    now = deps.clock.now()
    candidate = {
        "_id": request.candidate_id,
        "email": str(request.email),
        "given_name": entry["given_name"],
        "family_name": entry["family_name"],
        "language": request.language,
        "marketing_opt_in": request.marketing_opt_in,
        "terms_accepted_at": now,
        "registered_at": now,
    }
    event = CandidateRegistered(
        candidate_id=request.candidate_id, email=str(request.email), given_name=entry["given_name"],
        family_name=entry["family_name"], language=request.language, password_hash=password_hash, registered_at=now,
    )
    try:
        async for uow in deps.uow.attempts(now):
            async with uow:
                await deps.repository.insert_candidate(uow.session, candidate)
                uow.publish(event)
    except DuplicateKeyError:
        raise AlreadyRegistered() from None  # a concurrent registration of the same ID won
    log.info("candidate registered", candidate_id=request.candidate_id)
    return Registered(request.candidate_id, str(request.email), now)
