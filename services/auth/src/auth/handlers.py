"""One async function per command or event. Dependencies are passed in."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from pymongo.errors import DuplicateKeyError

from auth.access_tokens import AccessTokenIssuer, IssuedToken
from auth.domain.errors import AccountLocked, InvalidCredentials, InvalidResetToken
from auth.domain.lockout import LockoutPolicy
from auth.domain.reminder_limit import ReminderLimit
from auth.domain.reset_tokens import new_reset_token, reset_token_digest, reset_url
from auth.metrics import LOGINS
from auth.repository import AuthRepository, LoginAttempts
from crs_shared.clock import Clock
from crs_shared.logging import get_logger
from crs_shared.messaging.contracts import (
    AccessRevoked,
    CandidateRegistered,
    LoginLocked,
    PasswordChanged,
    PasswordResetRequested,
)
from crs_shared.messaging.envelope import Envelope
from crs_shared.passwords import Passwords
from crs_shared.tokens import TokenVerifier
from crs_shared.unit_of_work import UnitsOfWork

SERVICE = "auth"
log = get_logger(__name__)


@dataclass(frozen=True)
class Dependencies:
    uow: UnitsOfWork
    repository: AuthRepository
    passwords: Passwords
    clock: Clock
    lockout: LockoutPolicy
    reminder_limit: ReminderLimit
    reset_token_lifetime: timedelta
    public_base_url: str
    access_tokens: AccessTokenIssuer
    verifier: TokenVerifier


async def store_credentials(deps: Dependencies, envelope: Envelope, event: CandidateRegistered) -> None:
    now = deps.clock.now()
    handling = deps.uow.handling(envelope, "store_credentials", now)
    async for uow in handling:
        async with uow:
            await deps.repository.store_credentials(
                uow.session, candidate_id=event.candidate_id, password_hash=event.password_hash,
                registered_at=event.registered_at, now=now,
            )
    if handling.committed:
        log.info("credentials stored", candidate_id=event.candidate_id)


async def log_in(deps: Dependencies, candidate_id: str, password: str) -> IssuedToken:
    now = deps.clock.now()
    credentials = await deps.repository.find_credentials(candidate_id)
    # An unknown ID goes through the same steps on a shadow count, so that its answers are a
    # registered one's; it costs the same hashing time and publishes nothing.
    attempts = deps.repository.attempts if credentials else deps.repository.shadow_attempts
    check_id = await attempts.reserve_check(candidate_id, now)
    if check_id is None:
        LOGINS.labels("locked").inc()
        raise AccountLocked(await _lock_in_force(deps, attempts, candidate_id, now), now)

    password_hash = credentials["password_hash"] if credentials else None
    if not await deps.passwords.verify(password_hash, password):
        await _refuse_wrong_password(deps, attempts, candidate_id, check_id, now, publish=credentials is not None)
    if not await deps.repository.record_success(candidate_id, check_id, password_hash, now):
        await attempts.release_check(candidate_id, check_id)
        LOGINS.labels("invalid_credentials").inc()
        raise InvalidCredentials()  # the password changed, or the account locked, while it was checked

    if deps.passwords.needs_rehash(password_hash):
        await deps.repository.replace_hash(candidate_id, password_hash, await deps.passwords.hash(password))
        log.info("password rehashed with current parameters", candidate_id=candidate_id)
    issued = deps.access_tokens.issue(candidate_id, now)
    LOGINS.labels("success").inc()
    log.info("logged in", candidate_id=candidate_id, jti=issued.token_id)
    return issued


async def _lock_in_force(deps: Dependencies, attempts: LoginAttempts, candidate_id: str, now: datetime) -> datetime:
    """When the lock that refused an attempt lifts. With every place of the window taken by checks
    in flight, the last of them is about to lock for the full duration, or to log in: the answer
    is the lock's either way, so that it says nothing of which."""
    state = await attempts.find(candidate_id)
    if state is not None and deps.lockout.is_locked(state.get("locked_until"), now):
        return state["locked_until"]
    return deps.lockout.locked_until(now)


async def _refuse_wrong_password(deps: Dependencies, attempts: LoginAttempts, candidate_id: str, check_id: str,
                                 now: datetime, *, publish: bool) -> NoReturn:
    """Counts a wrong password (401), or locks with it when it follows `threshold` counted ones (423)."""
    for _ in range(3):  # a right password or a reset may change the count between the two updates
        if await attempts.count_wrong(candidate_id, check_id, now):
            LOGINS.labels("invalid_credentials").inc()
            log.info("wrong password", candidate_id=candidate_id)
            raise InvalidCredentials()
        locked_until = deps.lockout.locked_until(now)
        if await _lock(deps, attempts, candidate_id, check_id, now, locked_until, publish=publish):
            LOGINS.labels("locked").inc()
            raise AccountLocked(locked_until, now)
    await attempts.release_check(candidate_id, check_id)
    LOGINS.labels("invalid_credentials").inc()
    raise InvalidCredentials()


async def _lock(deps: Dependencies, attempts: LoginAttempts, candidate_id: str, check_id: str, now: datetime,
                locked_until: datetime, *, publish: bool) -> bool:
    """Locks the account and publishes `LoginLocked` (not for a shadow count), in one transaction;
    False if the count no longer calls for a lock."""
    async for uow in deps.uow.attempts(now):
        async with uow:
            locked = await attempts.lock(uow.session, candidate_id, check_id, now, locked_until)
            if locked and publish:
                uow.publish(LoginLocked(candidate_id=candidate_id, locked_until=locked_until,
                                        failed_attempts=deps.lockout.locking_attempt))
    if not locked:
        return False
    log.info("account locked", candidate_id=candidate_id, locked_until=locked_until.isoformat())
    return True


async def log_out(deps: Dependencies, token: str) -> None:
    """Revokes the token it is given. InvalidToken if it is not a valid, unrevoked token."""
    claims = await deps.verifier.verify(token)
    now = deps.clock.now()
    try:
        async for uow in deps.uow.attempts(now):
            async with uow:
                await deps.repository.revoke_token(uow.session, claims=claims, now=now)
                uow.publish(AccessRevoked(candidate_id=claims.candidate_id, token_id=claims.token_id, not_before=now,
                                          expires_at=claims.expires_at))
    except DuplicateKeyError:
        return  # a concurrent log-out of the same token committed first
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
    async for uow in deps.uow.attempts(now):
        async with uow:
            await deps.repository.add_reset_token(uow.session, digest=digest, candidate_id=candidate_id, now=now,
                                                  expires_at=expires_at)
            uow.publish(event)
    log.info("password reset requested", candidate_id=candidate_id, expires_at=expires_at.isoformat())


async def reset_password(deps: Dependencies, token: str, password: str) -> None:
    digest = reset_token_digest(token)
    found = await deps.repository.find_usable_reset_token(digest, deps.clock.now())
    if found is None:
        raise InvalidResetToken()  # checked before hashing, so bad tokens cost no argon2 time
    candidate_id = found["candidate_id"]
    password_hash = await deps.passwords.hash(password)
    # After the hashing: every access token issued until the change commits must be revoked.
    now = deps.clock.now()
    async for uow in deps.uow.attempts(now):
        async with uow:
            if await deps.repository.use_reset_token(uow.session, digest, now) is None:
                raise InvalidResetToken()  # used or expired since it was found
            valid_after = await deps.repository.set_password(uow.session, candidate_id=candidate_id,
                                                             password_hash=password_hash, now=now)
            await deps.repository.void_reset_tokens(uow.session, candidate_id, now)
            uow.publish(PasswordChanged(candidate_id=candidate_id, changed_at=now))
            # Every token issued before `valid_after`; none of them outlives it by more than a lifetime.
            uow.publish(AccessRevoked(candidate_id=candidate_id, token_id=None, not_before=valid_after,
                                      expires_at=valid_after + deps.access_tokens.lifetime))
    log.info("password changed", candidate_id=candidate_id)
