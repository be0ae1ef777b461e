"""Access tokens as auth issues them, signed with a test key: for services that verify tokens
before auth is running. The JWKS goes to `crs_shared.tokens.JwksKeys(jwks=...)`."""

import json
import uuid
from datetime import datetime, timedelta

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from crs_shared.tokens import AUDIENCE, ISSUER


class TestSigningKey:
    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(self, kid: str | None = None):
        self.kid = kid or f"test-{uuid.uuid4().hex[:8]}"
        self._private = Ed25519PrivateKey.generate()

    @property
    def jwks(self) -> dict:
        public = json.loads(OKPAlgorithm.to_jwk(self._private.public_key()))
        return {"keys": [public | {"kid": self.kid, "alg": "EdDSA", "use": "sig"}]}

    def token(self, candidate_id: str, now: datetime, *, lifetime: timedelta = timedelta(minutes=15),
              token_id: str | None = None, audience: str = AUDIENCE, issuer: str = ISSUER,
              kid: str | None = None) -> str:
        claims = {"sub": candidate_id, "jti": token_id or uuid.uuid4().hex, "iat": int(now.timestamp()),
                  "exp": int((now + lifetime).timestamp()), "aud": audience, "iss": issuer}
        return jwt.encode(claims, self._private, algorithm="EdDSA", headers={"kid": kid or self.kid})
