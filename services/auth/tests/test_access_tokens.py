"""Forged and stale access tokens are refused by `crs_shared.tokens.TokenVerifier`, the check every
service uses, fed with auth's real JWKS."""

import base64
import hashlib
import hmac
import json
import secrets

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auth.keys import load_private_key, public_jwk
from crs_shared.tokens import AUDIENCE, ISSUER, InvalidToken
from services.auth.tests.conftest import later, log_in, new_candidate_id, register, verifier_for


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segments(token: str) -> tuple[dict, dict, str]:
    header, payload, signature = token.split(".")
    return (json.loads(base64.urlsafe_b64decode(header + "==")), json.loads(base64.urlsafe_b64decode(payload + "==")),
            signature)


def unsigned(header: dict, claims: dict) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def hs256(header: dict, claims: dict, key: bytes) -> str:
    signing_input = unsigned(header | {"alg": "HS256"}, claims)
    return f"{signing_input}.{b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


@pytest.fixture
async def issued(client, amqp_url, clock):
    """A genuine token, its header and claims, and a verifier built from auth's JWKS."""
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    token = (await log_in(client, candidate_id)).json()["access_token"]
    header, claims, _ = segments(token)
    return token, header, claims, await verifier_for(client, clock)


async def refused(verifier, token: str) -> bool:
    with pytest.raises(InvalidToken):
        await verifier.verify(token)
    return True


async def test_a_genuine_token_has_the_agreed_claims_and_header(issued, client):
    token, header, claims, verifier = issued
    assert header["alg"] == "EdDSA" and header["kid"] in {k["kid"] for k in (await client.get(
        "/api/auth/.well-known/jwks.json")).json()["keys"]}
    assert {"exp", "iat", "aud", "iss", "sub", "jti"} <= claims.keys()
    assert claims["aud"] == AUDIENCE and claims["iss"] == ISSUER
    assert isinstance(claims["iat"], float) and round(claims["iat"], 3) == claims["iat"]
    assert (await verifier.verify(token)).candidate_id == claims["sub"]


async def test_alg_none_is_refused(issued):
    _token, header, claims, verifier = issued
    assert await refused(verifier, unsigned(header | {"alg": "none"}, claims) + ".")
    assert await refused(verifier, unsigned({"alg": "none", "typ": "JWT"}, claims) + ".")


async def test_a_swapped_algorithm_signed_with_the_public_key_is_refused(issued, signing_key_pem):
    _token, header, claims, verifier = issued
    public = load_private_key(signing_key_pem.encode()).public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    for key in (pem, raw, public_jwk(public)["x"].encode()):
        assert await refused(verifier, hs256(header, claims, key))
    # Even a forged header that keeps alg=EdDSA cannot carry an HMAC signature.
    forged = hs256(header, claims, pem).split(".")
    assert await refused(verifier, f"{unsigned(header, claims)}.{forged[2]}")


async def test_a_wrong_audience_or_issuer_is_refused_even_when_signed_by_auth(issued, signing_key_pem):
    _token, header, claims, verifier = issued
    key = load_private_key(signing_key_pem.encode())
    for changed in ({"aud": "someone-else"}, {"iss": "not-auth"}, {"aud": None}):
        forged = jwt.encode({**claims, **changed}, key, algorithm="EdDSA", headers={"kid": header["kid"]})
        assert await refused(verifier, forged)
    # And a malformed claim is refused, not a crash.
    odd = jwt.encode({**claims, "exp": "tomorrow"}, key, algorithm="EdDSA", headers={"kid": header["kid"]})
    assert await refused(verifier, odd)


async def test_an_expired_token_is_refused(issued, clock):
    token, _header, _claims, verifier = issued
    later(clock, minutes=29, seconds=59)
    await verifier.verify(token)
    later(clock, seconds=1)
    assert await refused(verifier, token)


async def test_a_tampered_signature_or_payload_is_refused(issued):
    token, header, claims, verifier = issued
    signing_input, signature = token.rsplit(".", 1)
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert await refused(verifier, f"{signing_input}.{flipped}")
    assert await refused(verifier, f"{unsigned(header, claims | {'sub': 'SOMEONE'})}.{signature}")
    assert await refused(verifier, signing_input + ".")


async def test_a_token_signed_by_another_key_is_refused(issued):
    _token, header, claims, verifier = issued
    stranger = Ed25519PrivateKey.generate()
    for kid in (header["kid"], public_jwk(stranger.public_key())["kid"], secrets.token_hex(8)):
        assert await refused(verifier, jwt.encode(claims, stranger, algorithm="EdDSA", headers={"kid": kid}))


async def test_garbage_is_refused(issued):
    *_, verifier = issued
    for token in ("", "abc", "a.b.c", "....", "eyJhbGciOiJFZERTQSJ9.e30."):
        assert await refused(verifier, token)
