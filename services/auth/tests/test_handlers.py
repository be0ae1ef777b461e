"""Auth's password-reset handlers against a fake unit of work and a fake repository: what they
publish, and that a refused change publishes nothing. (Against the real database and broker:
test_password_reset.py.)"""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from auth import handlers
from auth.domain.errors import InvalidResetToken
from auth.domain.reminder_limit import ReminderLimit
from auth.domain.reset_tokens import reset_token_digest
from crs_shared.clock import ManualClock
from crs_shared.messaging.contracts import AccessRevoked, PasswordChanged, PasswordResetRequested
from tests.support.unit_of_work import FakeUnitsOfWork

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
VALID_AFTER = NOW + timedelta(milliseconds=1)
TOKEN_LIFETIME = timedelta(minutes=15)


class FakeRepository:
    def __init__(self, *, reminder_allowed: bool = True, token_usable: bool = True):
        self.reminder_allowed = reminder_allowed
        self.token_usable = token_usable
        self.reset_tokens: dict[str, dict] = {}
        self.passwords: dict[str, str] = {}

    async def record_reminder(self, candidate_id, *, now, cutoff, limit) -> bool:
        return self.reminder_allowed

    async def find_credentials(self, candidate_id):
        return {"_id": candidate_id}

    async def add_reset_token(self, session, *, digest, candidate_id, now, expires_at) -> None:
        self.reset_tokens[digest] = {"candidate_id": candidate_id, "expires_at": expires_at}

    async def find_usable_reset_token(self, digest, now):
        return self.reset_tokens.get(digest)

    async def use_reset_token(self, session, digest, now):
        return self.reset_tokens.get(digest) if self.token_usable else None

    async def set_password(self, session, *, candidate_id, password_hash, now) -> datetime:
        self.passwords[candidate_id] = password_hash
        return VALID_AFTER

    async def void_reset_tokens(self, session, candidate_id, now) -> None:
        self.reset_tokens = {d: t for d, t in self.reset_tokens.items() if t["candidate_id"] != candidate_id}


class FakePasswords:
    async def hash(self, password: str) -> str:
        return f"hashed:{password}"


def dependencies(repository: FakeRepository) -> handlers.Dependencies:
    return handlers.Dependencies(
        uow=FakeUnitsOfWork(), repository=repository, passwords=FakePasswords(), clock=ManualClock(NOW),
        lockout=None, reminder_limit=ReminderLimit(), reset_token_lifetime=timedelta(hours=1),
        public_base_url="https://results.example.org", access_tokens=SimpleNamespace(lifetime=TOKEN_LIFETIME),
        verifier=None)


async def test_a_reminder_stores_the_links_digest_and_publishes_the_link():
    deps = dependencies(FakeRepository())
    await handlers.request_password_reset(deps, "123456")
    [requested] = deps.uow.published
    assert isinstance(requested, PasswordResetRequested)
    assert requested.reset_url.startswith("https://results.example.org/reset-password?token=")
    token = requested.reset_url.split("token=")[1]
    assert deps.repository.reset_tokens == {
        reset_token_digest(token): {"candidate_id": "123456", "expires_at": NOW + timedelta(hours=1)}}
    assert requested.expires_at == NOW + timedelta(hours=1)


async def test_a_reminder_over_the_limit_changes_and_publishes_nothing():
    deps = dependencies(FakeRepository(reminder_allowed=False))
    await handlers.request_password_reset(deps, "123456")
    assert (deps.uow.commits, deps.uow.published, deps.repository.reset_tokens) == (0, [], {})


async def test_a_reset_publishes_the_change_then_the_revocation_of_every_earlier_token():
    deps = dependencies(FakeRepository())
    await handlers.request_password_reset(deps, "123456")
    token = deps.uow.published[0].reset_url.split("token=")[1]
    await handlers.reset_password(deps, token, "newpassword42")
    changed, revoked = deps.uow.published[1:]
    assert changed == PasswordChanged(candidate_id="123456", changed_at=NOW)
    assert revoked == AccessRevoked(candidate_id="123456", token_id=None, not_before=VALID_AFTER,
                                    expires_at=VALID_AFTER + TOKEN_LIFETIME)
    assert deps.repository.passwords == {"123456": "hashed:newpassword42"} and deps.repository.reset_tokens == {}


async def test_a_token_used_since_it_was_found_is_refused_and_publishes_nothing():
    deps = dependencies(FakeRepository(token_usable=False))
    await handlers.request_password_reset(deps, "123456")
    token = deps.uow.published[0].reset_url.split("token=")[1]
    with pytest.raises(InvalidResetToken):
        await handlers.reset_password(deps, token, "newpassword42")
    assert len(deps.uow.published) == 1 and deps.uow.commits == 1  # the reminder's only
    assert deps.repository.passwords == {}
