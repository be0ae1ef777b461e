"""Signing keys: from settings, generated once in dev, rotated with the old key still published."""

import stat
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import ValidationError

from auth.access_tokens import AccessTokenIssuer
from auth.config import Settings
from auth.keys import SIGNING_KEY_FILE, KeyRing, generate_private_pem, load_keyring, load_private_key
from auth.main import create_app
from crs_shared.clock import ManualClock
from crs_shared.tokens import JwksKeys, TokenVerifier
from services.auth.tests.conftest import log_in, new_candidate_id, register
from tests.support.apps import serving


def test_in_dev_a_key_is_generated_once_and_kept(tmp_path):
    folder = tmp_path / "auth-keys"
    first = load_keyring(Settings(jwt_keys_dir=str(folder)))
    second = load_keyring(Settings(jwt_keys_dir=str(folder)))
    assert first.kid == second.kid
    assert stat.S_IMODE((folder / SIGNING_KEY_FILE).stat().st_mode) == 0o600
    assert [p.name for p in folder.iterdir()] == [SIGNING_KEY_FILE]


def test_a_key_from_settings_as_text_or_file(tmp_path):
    pem = generate_private_pem()
    (tmp_path / "key.pem").write_bytes(pem)
    from_text = load_keyring(Settings(jwt_signing_key=pem.decode()))
    from_file = load_keyring(Settings(jwt_signing_key_file=str(tmp_path / "key.pem")))
    assert from_text.kid == from_file.kid
    assert "PRIVATE" not in repr(Settings(jwt_signing_key=pem.decode()))


def test_production_refuses_to_start_without_a_key():
    with pytest.raises(ValidationError, match="auth has no signing key"):
        Settings(environment="prod")


def test_the_jwks_publishes_public_keys_only():
    ring = KeyRing(load_private_key(generate_private_pem()), (load_private_key(generate_private_pem()).public_key(),))
    keys = ring.jwks()["keys"]
    assert len(keys) == 2 and keys[0]["kid"] == ring.kid
    for key in keys:
        assert set(key) == {"kty", "crv", "x", "kid", "alg", "use"}
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")


async def test_after_a_rotation_tokens_of_both_keys_verify(settings, amqp_url, tmp_path):
    old_pem = generate_private_pem()
    (tmp_path / "old.pem").write_bytes(old_pem)
    old_ring = KeyRing(load_private_key(old_pem))
    old_token = AccessTokenIssuer(old_ring, timedelta(minutes=30)).issue("A12345678", datetime.now(UTC)).token
    rotated = settings.model_copy(update={"jwt_retired_key_files": [str(tmp_path / "old.pem")]})
    clock = ManualClock()
    app = create_app(rotated, clock)

    async with serving(app) as client:
        client.app = app
        candidate_id = new_candidate_id()
        await register(amqp_url, client, candidate_id)
        new_token = (await log_in(client, candidate_id)).json()["access_token"]
        served = (await client.get("/.well-known/jwks.json")).json()
        assert served == (await client.get("/api/auth/.well-known/jwks.json")).json()
        assert {k["kid"] for k in served["keys"]} == {old_ring.kid, app.state.keys.kid}

        # A verifier that only knew the old key fetches the JWKS again when the new kid appears.
        keys = JwksKeys("http://auth/api/auth/.well-known/jwks.json", jwks=old_ring.jwks(),
                        transport=httpx.ASGITransport(app=app))
        verifier = TokenVerifier(keys, None, clock)
        assert (await verifier.verify(old_token)).candidate_id == "A12345678"
        assert (await verifier.verify(new_token)).candidate_id == candidate_id
