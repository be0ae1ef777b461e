"""Revocations as a verifying service keeps them: which tokens a revocation refuses, and each
candidate's revocations read from SecantusDB once per TTL, by candidate alone, except that one this
process records is refused at once. And a token's signature checked once per TTL, its expiry and
revocation on every use, and auth's keys fetched when needed, refreshed when old and kept through an
auth outage. (Forged tokens: services/auth/tests/test_access_tokens.py.)"""

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pymongo import AsyncMongoClient

from crs_shared.clock import ManualClock
from crs_shared.messaging.contracts import AccessRevoked
from crs_shared.schema import migrate
from crs_shared.tokens import (
    AUDIENCE, ISSUER, REVOCATION_CACHE_SECONDS, REVOCATION_INDEXES, REVOCATIONS_COLLECTION,
    VERIFIED_TOKEN_CACHE_SECONDS, Claims, InvalidToken, JwksKeys, Revocations, TokenVerifier, revokes,
)
from tests.support.apps import unique_database
from tests.support.commands import CommandLog
from tests.support.tokens import TestSigningKey
from tests.support.waiting import wait_until

ISSUED = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
JWKS_URL = "http://auth/api/auth/.well-known/jwks.json"


def claims(candidate_id: str = "C000001", token_id: str = "token-1", issued_at: datetime = ISSUED) -> Claims:
    return Claims(candidate_id=candidate_id, token_id=token_id, issued_at=issued_at,
                  expires_at=issued_at + timedelta(minutes=15))


def revoked(candidate_id: str = "C000001", token_id: str | None = "token-1",
            not_before: datetime = ISSUED) -> AccessRevoked:
    return AccessRevoked(candidate_id=candidate_id, token_id=token_id, not_before=not_before,
                         expires_at=not_before + timedelta(minutes=15))


def test_a_logout_revokes_its_token_only_and_a_reset_every_token_issued_before_it():
    logout = {"token_id": "token-1", "not_before": ISSUED + timedelta(hours=1)}
    assert revokes(logout, claims(token_id="token-1"))
    assert not revokes(logout, claims(token_id="token-2"))

    reset = {"token_id": None, "not_before": ISSUED + timedelta(seconds=1)}
    assert revokes(reset, claims(issued_at=ISSUED))
    assert not revokes(reset, claims(issued_at=ISSUED + timedelta(seconds=1)))  # issued at the reset: still valid
    assert revokes({"not_before": ISSUED + timedelta(seconds=1)}, claims())  # a document without token_id at all


def revocation_finds(log: CommandLog) -> list[dict]:
    return log.filters("find", REVOCATIONS_COLLECTION)


@pytest.fixture
def finds() -> CommandLog:
    return CommandLog()


@pytest.fixture
async def collection(mongo_url, finds):
    client = AsyncMongoClient(mongo_url, tz_aware=True, event_listeners=[finds])
    db = client[unique_database("tokens")]
    await migrate(db, {REVOCATIONS_COLLECTION: REVOCATION_INDEXES})
    yield db[REVOCATIONS_COLLECTION]
    await client.drop_database(db.name)
    await client.close()


async def test_a_candidates_revocations_are_read_once_per_ttl_by_candidate_alone(collection, finds):
    clock = ManualClock()
    revocations = Revocations(collection, clock)
    await Revocations(collection).record(revoked(token_id="token-1"))  # recorded by another replica

    assert [await revocations.is_revoked(claims(token_id=t)) for t in ("token-1", "token-2", "token-1")] == \
        [True, False, True]
    # By candidate ID alone (no $or), so the candidate_id index answers it; candidates asked for together share it.
    assert revocation_finds(finds) == [{"candidate_id": {"$in": ["C000001"]}}]

    clock.advance(timedelta(seconds=REVOCATION_CACHE_SECONDS))
    assert await revocations.is_revoked(claims(token_id="token-1"))
    assert len(revocation_finds(finds)) == 2


async def test_candidates_asked_for_together_share_one_read_and_keep_their_own_revocations(collection, finds):
    revocations = Revocations(collection, ManualClock())
    await Revocations(collection).record(revoked(candidate_id="C000002", token_id="token-2"))
    asked = [claims("C000001", "token-2"), claims("C000002", "token-2"), claims("C000003", "token-2")]
    assert await asyncio.gather(*(revocations.is_revoked(c) for c in asked)) == [False, True, False]
    assert revocation_finds(finds) == [{"candidate_id": {"$in": ["C000001", "C000002", "C000003"]}}]


async def test_a_revocation_recorded_here_is_refused_at_once_and_one_recorded_elsewhere_within_the_ttl(collection):
    clock = ManualClock(ISSUED + timedelta(minutes=1))
    here, elsewhere = Revocations(collection, clock), Revocations(collection, clock)
    logged_out, reset_away = claims(token_id="token-1"), claims(token_id="token-2")
    assert not await here.is_revoked(logged_out) and not await here.is_revoked(reset_away)

    await here.record(revoked(token_id="token-1"))  # as the AccessRevoked handler does
    assert await here.is_revoked(logged_out)

    await elsewhere.record(revoked(token_id=None, not_before=clock.now()))  # a password reset, seen by the other
    assert not await here.is_revoked(reset_away)  # up to a TTL late here
    clock.advance(timedelta(seconds=REVOCATION_CACHE_SECONDS))
    assert await here.is_revoked(reset_away)


async def test_at_most_cache_entries_candidates_are_kept(collection, finds):
    revocations = Revocations(collection, ManualClock(), cache_entries=2)
    for candidate_id in ("C000001", "C000002", "C000003", "C000001"):
        await revocations.is_revoked(claims(candidate_id=candidate_id))
    assert [f["candidate_id"]["$in"] for f in revocation_finds(finds)] == [["C000001"], ["C000002"], ["C000003"],
                                                                           ["C000001"]]


class RevokedIds:
    def __init__(self):
        self.token_ids: set[str] = set()

    async def is_revoked(self, claims: Claims) -> bool:
        return claims.token_id in self.token_ids


async def test_a_tokens_signature_is_checked_once_per_ttl_and_its_expiry_and_revocation_on_every_use(monkeypatch):
    key = Ed25519PrivateKey.generate()
    jwk = jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"kid": "k1"}
    clock, revoked_ids = ManualClock(ISSUED), RevokedIds()
    verifier = TokenVerifier(JwksKeys(jwks={"keys": [jwk]}), revoked_ids, clock)
    decoded = []
    monkeypatch.setattr(jwt, "decode", lambda *a, decode=jwt.decode, **k: decoded.append(a[0]) or decode(*a, **k))

    def token(token_id: str) -> str:
        now = ISSUED.timestamp()
        return jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "C000001", "jti": token_id, "iat": now,
                           "exp": now + 30 * 60}, key, algorithm="EdDSA", headers={"kid": "k1"})

    first, second = token("token-1"), token("token-2")
    for _ in range(3):
        assert (await verifier.verify(first)).token_id == "token-1"
    assert decoded == [first]

    revoked_ids.token_ids.add("token-1")  # revoked after its signature was cached: refused at once
    with pytest.raises(InvalidToken):
        await verifier.verify(first)
    assert (await verifier.verify(second)).token_id == "token-2"

    clock.advance(timedelta(seconds=VERIFIED_TOKEN_CACHE_SECONDS))
    await verifier.verify(second)
    assert decoded == [first, second, second]  # checked again once the TTL has passed

    clock.advance(timedelta(minutes=30))  # past its expiry, though its checked signature is still kept
    with pytest.raises(InvalidToken):
        await verifier.verify(second)


class Jwks:
    """auth's JWKS endpoint as a transport: serves `keys`, or fails while `down`; counts requests."""

    def __init__(self, *keys: TestSigningKey):
        self.keys, self.down, self.requests = list(keys), False, 0
        self.transport = httpx.MockTransport(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"keys": [k for key in self.keys for k in key.jwks["keys"]]})


async def test_a_key_withdrawn_from_the_jwks_is_no_longer_trusted_once_the_keys_are_old():
    old, new = TestSigningKey(), TestSigningKey()
    jwks = Jwks(old, new)
    keys = JwksKeys(JWKS_URL, max_age_seconds=0, min_refresh_seconds=0, transport=jwks.transport)
    try:
        assert await keys.get(old.kid) is not None  # unknown at first: fetched there and then
        jwks.keys = [new]
        await wait_until(lambda: _is_none(keys.get(old.kid)), what="the withdrawn key to be dropped")
        assert await keys.get(new.kid) is not None
    finally:
        await keys.close()


async def test_keys_are_fetched_at_most_once_a_min_refresh_and_soon_again_after_a_failure():
    key = TestSigningKey()
    jwks = Jwks(key)
    keys = JwksKeys(JWKS_URL, min_refresh_seconds=3600, retry_seconds=0, transport=jwks.transport)
    jwks.down = True
    assert await keys.get(key.kid) is None  # auth not up yet
    jwks.down = False
    assert await keys.get(key.kid) is not None  # tried again on the next request
    for _ in range(3):
        assert await keys.get("unknown kid") is None
    assert jwks.requests == 2  # a flood of unknown kids does not reach auth


async def test_an_auth_outage_keeps_the_keys_known_and_is_not_asked_on_every_read():
    key = TestSigningKey()
    jwks = Jwks(key)
    keys = JwksKeys(JWKS_URL, max_age_seconds=0, min_refresh_seconds=0, retry_seconds=3600,
                    transport=jwks.transport)
    try:
        assert await keys.get(key.kid) is not None
        jwks.down = True

        async def refresh_tried() -> bool:
            assert await keys.get(key.kid) is not None  # the old keys, while their refresh fails
            return jwks.requests == 2

        await wait_until(refresh_tried, what="a refresh of the old keys to be tried")
        for _ in range(3):
            assert await keys.get(key.kid) is not None
        assert jwks.requests == 2
    finally:
        await keys.close()


async def _is_none(value) -> bool:
    return await value is None
