"""Verifying access tokens in any service: an asymmetrically signed JWT (EdDSA) from auth,
checked against auth's JWKS for signature, `exp`, `aud` and `iss`, then against the revocations
this service has learnt from `AccessRevoked` events (its own collection, no other service's DB)."""

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx
import jwt
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from crs_shared.clock import Clock
from crs_shared.logging import get_logger
from crs_shared.messaging.consumer import Subscription
from crs_shared.messaging.contracts import AccessRevoked
from crs_shared.messaging.envelope import Envelope
from crs_shared.mongo import find_grouped
from crs_shared.read_cache import ReadThroughCache, one_by_one

log = get_logger(__name__)
ISSUER = "crs-auth"
AUDIENCE = "crs-candidates"
ALGORITHMS = ["EdDSA"]
REVOCATIONS_COLLECTION = "revocations"
REVOCATION_INDEXES = [
    IndexModel([("candidate_id", ASCENDING)]),
    IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at_ttl"),
]
# Each process keeps a candidate's revocations this long and for this many candidates at most. A
# revocation this process records is refused at once; one recorded by another replica (the
# AccessRevoked queue is shared, so one replica records it) is refused here within the TTL (two while
# the database is slow to answer: crs_shared.read_cache.STALE_WHILE_REFRESHING).
# Revocations arrive by event, so they are eventually consistent anyway; a second adds little to
# that, and saves a database round trip on nearly every authenticated request.
REVOCATION_CACHE_SECONDS = 1.0
REVOCATION_CACHE_ENTRIES = 10_000
# A token's signature, issuer and audience are checked once; what they yield is kept this long, for
# this many tokens at most. Expiry and revocation are still checked on every request. Checking the
# signature again on every request was the largest single cost of a results read.
VERIFIED_TOKEN_CACHE_SECONDS = 60.0
VERIFIED_TOKEN_CACHE_ENTRIES = 10_000


class InvalidToken(Exception):
    """Missing, malformed, forged, expired or revoked. Callers answer 401 without saying which."""


@dataclass(frozen=True)
class Claims:
    candidate_id: str
    token_id: str
    issued_at: datetime
    expires_at: datetime


class RevocationCheck(Protocol):
    async def is_revoked(self, claims: Claims) -> bool: ...


class Revocations:
    """The revocations this service knows, kept in its own database. Verifying a token asks for them
    on every request, so each candidate's are read once and kept in memory for a moment (see
    REVOCATION_CACHE_SECONDS)."""

    def __init__(self, collection: AsyncCollection, clock: Clock | None = None, *,
                 cache_seconds: float = REVOCATION_CACHE_SECONDS, cache_entries: int = REVOCATION_CACHE_ENTRIES):
        self._collection = collection
        self._by_candidate: ReadThroughCache[str, list[dict]] = ReadThroughCache(
            self._of_candidates, ttl_seconds=cache_seconds, max_entries=cache_entries, clock=clock)

    async def record(self, event: AccessRevoked) -> None:
        key = f"{event.candidate_id}:{event.token_id or '*'}:{event.not_before.isoformat()}"
        with self._by_candidate.changing([event.candidate_id]):  # refused here at once, not a TTL later
            await self._collection.update_one(
                {"_id": key},
                {"$set": {"candidate_id": event.candidate_id, "token_id": event.token_id,
                          "not_before": event.not_before, "expires_at": event.expires_at}},
                upsert=True,
            )

    async def is_revoked(self, claims: Claims) -> bool:
        return any(revokes(revocation, claims) for revocation in await self._by_candidate.get(claims.candidate_id))

    async def _of_candidates(self, candidate_ids: list[str]) -> dict[str, list[dict]]:
        # By candidate only, so the candidate_id index answers it; which ones apply is decided in `revokes`.
        return await find_grouped(self._collection, "candidate_id", candidate_ids,
                                  projection={"_id": 0, "candidate_id": 1, "token_id": 1, "not_before": 1})


def revokes(revocation: dict, claims: Claims) -> bool:
    """A revocation names one token (logout), or has none and revokes every token issued before its
    `not_before` (password reset)."""
    token_id = revocation.get("token_id")
    if token_id is not None:
        return token_id == claims.token_id
    return revocation["not_before"] > claims.issued_at


def revocation_subscription(revocations: Revocations) -> Subscription:
    async def on_access_revoked(_envelope: Envelope, event: AccessRevoked) -> None:
        await revocations.record(event)  # an upsert: a redelivery changes nothing

    return Subscription(AccessRevoked, on_access_revoked)


class JwksKeys:
    """Public keys by `kid`, from auth's JWKS URL. Fetched again when an unknown `kid` appears (key
    rotation), and in the background once the keys are `max_age_seconds` old, so a key withdrawn
    from the JWKS (a leaked one, say) stops being trusted within that time (plus the verified-token
    cache's). At most one fetch every `min_refresh_seconds`, or `retry_seconds` after a failed one:
    auth may start after this service, and an auth outage must not turn into a request per read."""

    def __init__(self, jwks_url: str | None = None, *, jwks: dict | None = None, min_refresh_seconds: float = 30.0,
                 max_age_seconds: float = 300.0, retry_seconds: float = 1.0,
                 transport: httpx.AsyncBaseTransport | None = None):
        self._url = jwks_url
        self._transport = transport
        self._keys: dict[str, jwt.PyJWK] = self._parse(jwks) if jwks else {}
        self._min_refresh, self._max_age, self._retry = min_refresh_seconds, max_age_seconds, retry_seconds
        self._fetched_at = time.monotonic() if jwks else float("-inf")
        self._next_fetch = float("-inf")
        self._lock = asyncio.Lock()
        self._background: asyncio.Task | None = None

    @staticmethod
    def _parse(jwks: dict) -> dict[str, jwt.PyJWK]:
        return {key["kid"]: jwt.PyJWK(key) for key in jwks.get("keys", []) if "kid" in key}

    async def get(self, kid: str) -> jwt.PyJWK | None:
        if self._url is not None:
            if kid not in self._keys:
                async with self._lock:  # one fetch at a time: the requests behind it use its keys
                    if kid not in self._keys and self._may_fetch():
                        await self._fetch()
            elif self._stale() and (self._background is None or self._background.done()):
                self._background = asyncio.create_task(self._fetch_when_stale())
        return self._keys.get(kid)

    async def close(self) -> None:
        if self._background is not None:
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._background

    def _may_fetch(self) -> bool:
        return time.monotonic() >= self._next_fetch

    def _stale(self) -> bool:
        return time.monotonic() - self._fetched_at > self._max_age and self._may_fetch()

    async def _fetch_when_stale(self) -> None:
        async with self._lock:
            if self._stale():
                await self._fetch()

    async def _fetch(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=5, transport=self._transport) as client:
                response = await client.get(self._url)
                response.raise_for_status()
            self._keys = self._parse(response.json())
        except (httpx.HTTPError, ValueError, KeyError, TypeError, jwt.PyJWKError) as exc:
            log.warning("auth's JWKS not fetched; keeping the keys known", error=repr(exc))
            self._next_fetch = time.monotonic() + self._retry
            return
        self._fetched_at = time.monotonic()
        self._next_fetch = self._fetched_at + self._min_refresh


class TokenVerifier:
    def __init__(self, keys: JwksKeys, revocations: RevocationCheck | None, clock: Clock,
                 *, issuer: str = ISSUER, audience: str = AUDIENCE):
        self._keys, self._revocations, self._clock = keys, revocations, clock
        self._issuer, self._audience = issuer, audience
        self._signed: ReadThroughCache[str, tuple[Claims, float]] = ReadThroughCache(
            one_by_one(self._signed_claims), ttl_seconds=VERIFIED_TOKEN_CACHE_SECONDS,
            max_entries=VERIFIED_TOKEN_CACHE_ENTRIES, clock=clock)

    async def verify(self, token: str) -> Claims:
        claims, expires = await self._signed.get(token)
        if expires <= self._clock.now().timestamp():
            raise InvalidToken()
        if self._revocations is not None and await self._revocations.is_revoked(claims):
            raise InvalidToken()
        return claims

    async def _signed_claims(self, token: str) -> tuple[Claims, float]:
        """The claims of a token signed by auth for this audience, and its `exp`; InvalidToken if
        it is not. Neither changes with time, so the answer is cached (an InvalidToken is not)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken() from None
        if header.get("alg") not in ALGORITHMS or not isinstance(header.get("kid"), str):
            raise InvalidToken()
        key = await self._keys.get(header["kid"])
        if key is None:
            raise InvalidToken()
        try:
            # Times are checked in `verify` against the injectable clock, not PyJWT's system time:
            # tests step past expiry, and a verifying host whose clock lags auth's by a second must
            # not refuse a token as "issued in the future".
            decoded = jwt.decode(
                token, key.key, algorithms=ALGORITHMS, audience=self._audience, issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "jti", "aud", "iss"], "verify_exp": False,
                         "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            raise InvalidToken() from None
        if not (_is_number(decoded["exp"]) and _is_number(decoded["iat"])
                and isinstance(decoded["sub"], str) and isinstance(decoded["jti"], str)):
            raise InvalidToken()
        try:
            claims = Claims(
                candidate_id=decoded["sub"], token_id=decoded["jti"],
                issued_at=_from_epoch(decoded["iat"]), expires_at=_from_epoch(decoded["exp"]),
            )
        except (OverflowError, ValueError):
            raise InvalidToken() from None
        return claims, decoded["exp"]


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _from_epoch(seconds: float) -> datetime:
    # To the millisecond, as MongoDB stores times, so `iat` compares exactly with a stored "valid after".
    return datetime.fromtimestamp(0, UTC) + timedelta(milliseconds=round(seconds * 1000))


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer ...` header, or InvalidToken."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken()
    return token.strip()


__all__ = ["AUDIENCE", "ISSUER", "REVOCATION_CACHE_ENTRIES", "REVOCATION_CACHE_SECONDS", "VERIFIED_TOKEN_CACHE_ENTRIES",
           "VERIFIED_TOKEN_CACHE_SECONDS", "Claims", "InvalidToken",
           "JwksKeys", "RevocationCheck", "Revocations", "TokenVerifier", "bearer_token", "revocation_subscription",
           "revokes"]
