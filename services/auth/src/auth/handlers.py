"""One async function per command or event. Dependencies are passed in."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from auth.access_tokens import AccessTokenIssuer, IssuedToken
from auth.domain.errors import AccountLocked, InvalidCredentials, InvalidResetToken
from auth.domain.lockout import LockoutPolicy
from auth.domain.reminder_limit import ReminderLimit
from auth.domain.reset_tokens import new_reset_token, reset_token_digest, reset_url
from auth.metrics import LOGINS
from auth.repository import AuthRepository
from crs_shared.clock import Clock
from crs_shared.logging import current_correlation_id, get_logger
from crs_shared.messaging.contracts import (
    AccessRevoked,
    CandidateRegistered,
    EventPayload,
    LoginLocked,
    PasswordChanged,
    PasswordResetRequested,
)
from crs_shared.messaging.envelope import Envelope, new_envelope
from crs_shared.messaging.inbox import handle_once
from crs_shared.messaging.outbox import add_to_outbox
from crs_shared.mongo import Session, run_in_transaction
from crs_shared.passwords import Passwords
from crs_shared.tokens import TokenVerifier

SERVICE = "auth"
log = get_logger(__name__)


@dataclass(frozen=True)
class Dependencies:
    mongo: AsyncMongoClient
    repository: AuthRepository
    outbox: AsyncCollection
    inbox: AsyncCollection
    passwords: Passwords
    clock: Clock
    lockout: LockoutPolicy
    reminder_limit: ReminderLimit
    reset_token_lifetime: timedelta
    public_base_url: str
    access_tokens: AccessTokenIssuer
    verifier: TokenVerifier
    after_commit: Callable[[], None] = lambda: None


async def _add_event(deps: Dependencies, session: Session, event: EventPayload, now: datetime) -> None:
    envelope = new_envelope(
        event_type=event.EVENT_TYPE, event_version=event.EVENT_VERSION, payload=event, producer=SERVICE,
        correlation_id=current_correlation_id(), occurred_at=now,
    )
    await add_to_outbox(deps.outbox, session, envelope, event.ROUTING_KEY, now)


async def store_credentials(deps: Dependencies, envelope: Envelope, event: CandidateRegistered) -> None:
    now = deps.clock.now()

    async def work(session: Session) -> None:
        await deps.repository.store_credentials(
            session, candidate_id=event.candidate_id, password_hash=event.password_hash,
            registered_at=event.registered_at, now=now,
        )

    if await handle_once(deps.mongo, deps.inbox, service=SERVICE, handler="store_credentials", envelope=envelope,
                         now=now, work=work):
        log.info("credentials stored", candidate_id=event.candidate_id)


async def log_in(deps: Dependencies, candidate_id: str, password: str) -> IssuedToken:
    now = deps.clock.now()
    counted = await deps.repository.reserve_attempt(candidate_id, now, deps.lockout.threshold)
    credentials = await deps.repository.find_credentials(candidate_id)
    if credentials is None:
        await deps.passwords.verify(None, password)  # an unknown ID costs the same time as a known one
        LOGINS.labels("invalid_credentials").inc()
        raise InvalidCredentials()
    if not counted:
        LOGINS.labels("locked").inc()
        if deps.lockout.is_locked(credentials["locked_until"], now):
            raise AccountLocked(credentials["locked_until"], now)
        raise AccountLocked(await _lock(deps, candidate_id, now), now)

    password_hash = credentials["password_hash"]
    if not await deps.passwords.verify(password_hash, password):
        LOGINS.labels("invalid_credentials").inc()
        log.info("wrong password", candidate_id=candidate_id)
        raise InvalidCredentials()
    if not await deps.repository.record_success(candidate_id, now):
        # Concurrent wrong passwords locked the account while this one was being checked.
        credentials = await deps.repository.find_credentials(candidate_id)
        LOGINS.labels("locked").inc()
        raise AccountLocked(credentials["locked_until"], now)

    if deps.passwords.needs_rehash(password_hash):
        await deps.repository.replace_hash(candidate_id, password_hash, await deps.passwords.hash(password))
        log.info("password rehashed with current parameters", candidate_id=candidate_id)
    issued = deps.access_tokens.issue(candidate_id, now)
    LOGINS.labels("success").inc()
    log.info("logged in", candidate_id=candidate_id, jti=issued.token_id)
    return issued


async def _lock(deps: Dependencies, candidate_id: str, now: datetime) -> datetime:
    """Locks the account and publishes `LoginLocked`, in one transaction; of many attempts over
    the threshold at once, only the first does. Returns when the lock lifts."""
    locked_until = deps.lockout.locked_until(now)

    async def work(session: Session) -> bool:
        if not await deps.repository.lock(
            session, candidate_id=candidate_id, now=now, threshold=deps.lockout.threshold, locked_until=locked_until
        ):
            return False
        event = LoginLocked(candidate_id=candidate_id, locked_until=locked_until,
                            failed_attempts=deps.lockout.locking_attempt)
        await _add_event(deps, session, event, now)
        return True

    if await run_in_transaction(deps.mongo, work):
        deps.after_commit()
        log.info("account locked", candidate_id=candidate_id, locked_until=locked_until.isoformat())
        return locked_until
    credentials = await deps.repository.find_credentials(candidate_id)
    if credentials is not None and deps.lockout.is_locked(credentials["locked_until"], now):
        return credentials["locked_until"]
    return locked_until  # the locking attempt has not committed yet: its lock ends about then


async def log_out(deps: Dependencies, token: str) -> None:
    """Revokes the token it is given. InvalidToken if it is not a valid, unrevoked token."""
    claims = await deps.verifier.verify(token)
    now = deps.clock.now()

    async def work(session: Session) -> None:
        await deps.repository.revoke_token(session, claims=claims, now=now)
        event = AccessRevoked(candidate_id=claims.candidate_id, token_id=claims.token_id, not_before=now,
                              expires_at=claims.expires_at)
        await _add_event(deps, session, event, now)

    try:
        await run_in_transaction(deps.mongo, work)
    except DuplicateKeyError:
        return  # a concurrent log-out of the same token committed first
    deps.after_commit()
    log.info("logged out", candidate_id=claims.candidate_id, jti=claims.token_id)


async def request_password_reset(deps: Dependencies, candidate_id: str) -> None:
    """Sends a reset link to a registered candidate, within the rate limit; silent otherwise."""
    now = deps.clock.now()
    limit = deps.reminder_limit
    if not await deps.repository.record_reminder(candidate_id, now=now, cutoff=limit.cutoff(now), limit=limit.limit):
        known = await deps.repository.find_credentials(candidate_id) is not None
        log.info("password reminder not sent", candidate_id=candidate_id,
                 reason="rate limited" if known else "unknown candidate")
        return

    token, digest = new_reset_token()
    expires_at = now + deps.reset_token_lifetime
    event = PasswordResetRequested(candidate_id=candidate_id, reset_url=reset_url(deps.public_base_url, token),
                                   expires_at=expires_at)

    async def work(session: Session) -> None:
        await deps.repository.add_reset_token(session, digest=digest, candidate_id=candidate_id, now=now,
                                              expires_at=expires_at)
        await _add_event(deps, session, event, now)

    await run_in_transaction(deps.mongo, work)
    deps.after_commit()
    log.info("password reset requested", candidate_id=candidate_id, expires_at=expires_at.isoformat())


async def reset_password(deps: Dependencies, token: str, password: str) -> None:
    now = deps.clock.now()
    digest = reset_token_digest(token)
    found = await deps.repository.find_usable_reset_token(digest, now)
    if found is None:
        raise InvalidResetToken()  # checked before hashing, so bad tokens cost no argon2 time
    candidate_id = found["candidate_id"]
    password_hash = await deps.passwords.hash(password)

    async def work(session: Session) -> bool:
        if await deps.repository.use_reset_token(session, digest, now) is None:
            return False  # used or expired since it was found
        await deps.repository.set_password(session, candidate_id=candidate_id, password_hash=password_hash, now=now)
        await deps.repository.void_reset_tokens(session, candidate_id, now)
        await _add_event(deps, session, PasswordChanged(candidate_id=candidate_id, changed_at=now), now)
        # Every token issued before now; none issued before now outlives now + its lifetime.
        revoked = AccessRevoked(candidate_id=candidate_id, token_id=None, not_before=now,
                                expires_at=now + deps.access_tokens.lifetime)
        await _add_event(deps, session, revoked, now)
        return True

    if not await run_in_transaction(deps.mongo, work):
        raise InvalidResetToken()
    deps.after_commit()
    log.info("password changed", candidate_id=candidate_id)
