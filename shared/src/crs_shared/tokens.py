"""Verifying access tokens in any service: an asymmetrically signed JWT (EdDSA) from auth,
checked against auth's JWKS for signature, `exp`, `aud` and `iss`, then against the revocations
this service has learnt from `AccessRevoked` events (its own collection, no other service's DB)."""

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx
import jwt
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from crs_shared.clock import Clock
from crs_shared.messaging.consumer import Subscription
from crs_shared.messaging.contracts import AccessRevoked
from crs_shared.messaging.envelope import Envelope

ISSUER = "crs-auth"
AUDIENCE = "crs-candidates"
ALGORITHMS = ["EdDSA"]
REVOCATIONS_COLLECTION = "revocations"
REVOCATION_INDEXES = [
    IndexModel([("candidate_id", ASCENDING)]),
    IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at_ttl"),
]


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
    """The revocations this service knows, kept in its own database."""

    def __init__(self, collection: AsyncCollection):
        self._collection = collection

    async def record(self, event: AccessRevoked) -> None:
        key = f"{event.candidate_id}:{event.token_id or '*'}:{event.not_before.isoformat()}"
        await self._collection.update_one(
            {"_id": key},
            {"$set": {"candidate_id": event.candidate_id, "token_id": event.token_id,
                      "not_before": event.not_before, "expires_at": event.expires_at}},
            upsert=True,
        )

    async def is_revoked(self, claims: Claims) -> bool:
        found = await self._collection.find_one({
            "candidate_id": claims.candidate_id,
            "$or": [{"token_id": claims.token_id}, {"token_id": None, "not_before": {"$gt": claims.issued_at}}],
        }, {"_id": 1})
        return found is not None


def revocation_subscription(revocations: Revocations) -> Subscription:
    async def on_access_revoked(_envelope: Envelope, event: AccessRevoked) -> None:
        await revocations.record(event)  # an upsert: a redelivery changes nothing

    return Subscription(AccessRevoked, on_access_revoked)


class JwksKeys:
    """Public keys by `kid`, fetched from a JWKS URL and refreshed when an unknown `kid` appears
    (key rotation), at most once every `min_refresh_seconds`."""

    def __init__(self, jwks_url: str | None = None, *, jwks: dict | None = None, min_refresh_seconds: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None):
        self._url = jwks_url
        self._transport = transport
        self._keys: dict[str, jwt.PyJWK] = self._parse(jwks) if jwks else {}
        self._min_refresh = min_refresh_seconds
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    @staticmethod
    def _parse(jwks: dict) -> dict[str, jwt.PyJWK]:
        return {key["kid"]: jwt.PyJWK(key) for key in jwks.get("keys", []) if "kid" in key}

    async def get(self, kid: str) -> jwt.PyJWK | None:
        if kid not in self._keys and self._url is not None:
            async with self._lock:
                if kid not in self._keys and time.monotonic() - self._fetched_at > self._min_refresh:
                    self._fetched_at = time.monotonic()
                    try:
                        async with httpx.AsyncClient(timeout=5, transport=self._transport) as client:
                            response = await client.get(self._url)
                            response.raise_for_status()
                        self._keys = self._parse(response.json())
                    except (httpx.HTTPError, ValueError, KeyError, jwt.PyJWKError):
                        self._fetched_at = 0.0  # try again on the next request
        return self._keys.get(kid)


class TokenVerifier:
    def __init__(self, keys: JwksKeys, revocations: RevocationCheck | None, clock: Clock,
                 *, issuer: str = ISSUER, audience: str = AUDIENCE):
        self._keys, self._revocations, self._clock = keys, revocations, clock
        self._issuer, self._audience = issuer, audience

    async def verify(self, token: str) -> Claims:
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
            # Times are checked below against the injectable clock, not PyJWT's system time: tests
            # step past expiry, and a verifying host whose clock lags auth's by a second must not
            # refuse a token as "issued in the future".
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
        if decoded["exp"] <= self._clock.now().timestamp():
            raise InvalidToken()
        try:
            claims = Claims(
                candidate_id=decoded["sub"], token_id=decoded["jti"],
                issued_at=_from_epoch(decoded["iat"]), expires_at=_from_epoch(decoded["exp"]),
            )
        except (OverflowError, ValueError):
            raise InvalidToken() from None
        if self._revocations is not None and await self._revocations.is_revoked(claims):
            raise InvalidToken()
        return claims


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


__all__ = ["AUDIENCE", "ISSUER", "Claims", "InvalidToken", "JwksKeys", "RevocationCheck", "Revocations", "TokenVerifier",
           "bearer_token", "revocation_subscription"]
