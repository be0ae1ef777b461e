import asyncio
import random
import string
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from auth.config import Settings
from auth.keys import generate_private_pem
from auth.main import create_app
from crs_shared.clock import ManualClock
from crs_shared.config import ServiceSettings
from crs_shared.messaging.contracts import CandidateRegistered
from crs_shared.runtime import ServiceRuntime
from crs_shared.schema import migrate
from crs_shared.tokens import (
    REVOCATION_INDEXES,
    REVOCATIONS_COLLECTION,
    InvalidToken,
    JwksKeys,
    Revocations,
    TokenVerifier,
    revocation_subscription,
)
from tests.support.apps import fast_settings, serving
from tests.support.broker import envelope_for, publish
from tests.support.waiting import wait_until

PASSWORD = "abcdef12"
WRONG_PASSWORD = "wrong-password-99"
NEW_PASSWORD = "newpassword42"


def new_candidate_id() -> str:
    return "A" + "".join(random.choices(string.digits, k=8))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def signing_key_pem() -> str:
    return generate_private_pem().decode()


@pytest.fixture
def settings(mongo_url, amqp_url, signing_key_pem) -> Settings:
    return fast_settings(Settings, mongo_url, amqp_url, "auth", argon2_memory_kib=19 * 1024,
                         jwt_signing_key=signing_key_pem)


@pytest.fixture
async def client(settings, clock):
    app = create_app(settings, clock)
    async with serving(app) as http:
        http.app = app
        yield http


def deps_of(client):
    return client.app.state.dependencies


async def publish_registration(amqp_url: str, client, candidate_id: str, password: str = PASSWORD) -> None:
    """Publishes `CandidateRegistered` as registration would, with the password hashed as it hashes it."""
    event = CandidateRegistered(
        candidate_id=candidate_id, email=f"{candidate_id.lower()}@example.com", given_name="Amy", family_name="Chen",
        language="en", password_hash=await deps_of(client).passwords.hash(password), registered_at=datetime.now(UTC),
    )
    await publish(amqp_url, (envelope_for(event, producer="registration"), event.ROUTING_KEY))


async def register(amqp_url: str, client, candidate_id: str, password: str = PASSWORD) -> None:
    """Registers a candidate and waits until auth has the credentials."""
    await publish_registration(amqp_url, client, candidate_id, password)
    repository = deps_of(client).repository
    await wait_until(lambda: repository.find_credentials(candidate_id), what=f"credentials of {candidate_id}")


async def log_in(client, candidate_id: str, password: str = PASSWORD):
    return await client.post("/api/auth/login", json={"candidate_id": candidate_id, "password": password})


async def verifier_for(client, clock, revocations=None) -> TokenVerifier:
    """The verifier another service would build from auth's JWKS."""
    jwks = (await client.get("/api/auth/.well-known/jwks.json")).json()
    return TokenVerifier(JwksKeys(jwks=jwks), revocations, clock)


def token_of(reset_url: str) -> str:
    return parse_qs(urlparse(reset_url).query)["token"][0]


def later(clock: ManualClock, **delta) -> None:
    clock.advance(timedelta(**delta))


class CountingVerify:
    """Wraps `Passwords.verify` to count the passwords checked (and against no hash)."""

    def __init__(self, passwords):
        self._original = passwords.verify
        self.calls: list[bool] = []  # True: against a stored hash; False: the dummy for an unknown ID
        passwords.verify = self

    async def __call__(self, stored_hash, password):
        self.calls.append(stored_hash is not None)
        return await self._original(stored_hash, password)


class Held:
    """Wraps one method of `Passwords` (`verify` or `hash`) so that each call, once its work is
    done, waits for `release` before it returns."""

    def __init__(self, passwords, method: str):
        self._original = getattr(passwords, method)
        self.done, self.release = asyncio.Event(), asyncio.Event()
        self.calls = 0
        setattr(passwords, method, self)

    async def __call__(self, *args):
        self.calls += 1
        result = await self._original(*args)
        self.done.set()
        await self.release.wait()
        return result


@asynccontextmanager
async def revocation_listener(mongo_url: str, amqp_url: str, clock):
    """What the results service runs: its own revocations, learnt from `AccessRevoked` events."""
    settings = fast_settings(ServiceSettings, mongo_url, amqp_url, "results")
    runtime = ServiceRuntime(settings, "results", clock, {REVOCATIONS_COLLECTION: REVOCATION_INDEXES})
    await migrate(runtime.db, runtime.schema)
    await runtime.start()
    revocations = Revocations(runtime.db[REVOCATIONS_COLLECTION])
    await runtime.subscribe([revocation_subscription(revocations)])
    try:
        yield revocations
    finally:
        await runtime.close()


async def rejected(verifier: TokenVerifier, token: str) -> bool:
    try:
        await verifier.verify(token)
    except InvalidToken:
        return True
    return False
