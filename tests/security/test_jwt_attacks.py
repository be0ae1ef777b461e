"""Forged and altered access tokens at the results service's /api/results/me, with the real auth
service's tokens and keys (results verifies with auth's JWKS over HTTP): every attack is a 401 with
the same body, and the genuine token and a token we sign correctly with auth's own key both work,
so each refusal is for the one thing the attack changed."""

import base64
import hashlib
import hmac
import json
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from auth.keys import SIGNING_KEY_FILE, load_private_key
from crs_shared.tokens import AUDIENCE, ISSUER
from tests.security.conftest import auth_keys_dir
from tests.support.direct_services import access_token

pytestmark = pytest.mark.e2e


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict, claims: dict) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def hs256(header: dict, claims: dict, secret: bytes) -> str:
    """Signed by hand: PyJWT refuses to use a public key as an HMAC secret, which is the attack."""
    signing_input = unsigned(header | {"alg": "HS256"}, claims)
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


async def test_every_forged_or_altered_token_is_refused_alike(services, registered):
    genuine = await access_token(services, registered)
    header, claims = jwt.get_unverified_header(genuine), jwt.decode(genuine, options={"verify_signature": False})
    private = load_private_key((auth_keys_dir(services) / SIGNING_KEY_FILE).read_bytes())
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    public_raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def signed(changes: dict, kid: str = header["kid"]) -> str:
        return jwt.encode(claims | changes, private, algorithm="EdDSA", headers={"kid": kid})

    body, signature = genuine.rsplit(".", 1)
    other_payload = b64(json.dumps(claims | {"sub": "SOMEONE01"}).encode())
    now = int(time.time())
    attacks = {
        "alg none": unsigned(header | {"alg": "none"}, claims) + ".",
        "HS256 with the public key (PEM) as secret": hs256(header, claims, public_pem),
        "HS256 with the public key (raw) as secret": hs256(header, claims, public_raw),
        "wrong audience": signed({"aud": "another-service"}),
        "wrong issuer": signed({"iss": "not-auth"}),
        "expired": signed({"iat": now - 3600, "exp": now - 60}),
        "tampered signature": f"{body}.{signature[:-4]}{'AAAA' if not signature.endswith('AAAA') else 'BBBB'}",
        "tampered payload": f"{body.split('.')[0]}.{other_payload}.{signature}",
        "unknown kid": signed({}, kid="not-a-key-of-auth"),
        "no kid": jwt.encode(claims, private, algorithm="EdDSA"),
    }
    async with httpx.AsyncClient(base_url=services.url("results"), timeout=30) as http:
        async def me(token: str) -> httpx.Response:
            return await http.get("/api/results/me", headers={"Authorization": f"Bearer {token}"})

        assert (await me(genuine)).status_code == 200
        assert (await me(signed({"jti": "ours"}))).status_code == 200, "a token signed with auth's key must pass"
        refusals = {name: await me(token) for name, token in attacks.items()}
    assert {name: r.status_code for name, r in refusals.items()} == {name: 401 for name in attacks}
    assert {r.text for r in refusals.values()} == {'{"detail":"Please log in again.","code":"invalid_token"}'}
    assert claims["aud"] == AUDIENCE and claims["iss"] == ISSUER
