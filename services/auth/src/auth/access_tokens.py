"""Issuing access tokens: EdDSA-signed JWTs that any service verifies with
`crs_shared.tokens.TokenVerifier` against auth's JWKS."""

import math
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import jwt

from auth.keys import KeyRing
from crs_shared.tokens import AUDIENCE, ISSUER


@dataclass(frozen=True)
class IssuedToken:
    token: str = field(repr=False)
    token_id: str
    issued_at: datetime
    expires_at: datetime
    expires_in: int


class AccessTokenIssuer:
    def __init__(self, keys: KeyRing, lifetime: timedelta):
        self._keys = keys
        self._kid = keys.kid
        self.lifetime = lifetime

    def issue(self, candidate_id: str, now: datetime) -> IssuedToken:
        # `iat` to the millisecond, the precision MongoDB stores a "valid after" time with, so a
        # token issued after a password reset is never mistaken for one issued before it.
        issued_at = math.floor(now.timestamp() * 1000) / 1000
        lifetime = int(self.lifetime.total_seconds())
        token_id = secrets.token_urlsafe(16)
        claims = {
            "iss": ISSUER, "aud": AUDIENCE, "sub": candidate_id, "jti": token_id,
            "iat": issued_at, "exp": issued_at + lifetime,
        }
        token = jwt.encode(claims, self._keys.signing_key, algorithm="EdDSA", headers={"kid": self._kid})
        issued = datetime.fromtimestamp(0, UTC) + timedelta(milliseconds=round(issued_at * 1000))
        return IssuedToken(token, token_id, issued, issued + timedelta(seconds=lifetime), lifetime)
