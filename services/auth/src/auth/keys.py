"""The Ed25519 keys that sign access tokens, and the JWKS that publishes their public halves.

The signing key comes from settings (PEM text or a PEM file). On a developer machine, when
neither is set, one is generated once and kept under `jwt_keys_dir`, so tokens survive a restart
and every local replica signs with the same key. Each key's `kid` is its RFC 7638 thumbprint.

Rotation: give the new key as the signing key and list the old one in `jwt_retired_key_files`;
its public half stays in the JWKS so the tokens it signed keep verifying until they expire."""

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auth.config import Settings

SIGNING_KEY_FILE = "signing-key.pem"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public_key: Ed25519PublicKey) -> dict:
    x = _b64url(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    required = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True)
    kid = _b64url(hashlib.sha256(required.encode()).digest())
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}


def generate_private_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the access token signing key must be an Ed25519 private key")
    return key


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """The public half of a PEM holding either an Ed25519 private or public key."""
    if b"PRIVATE KEY" in pem:
        return load_private_key(pem).public_key()
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("a retired access token key must be an Ed25519 key")
    return key


@dataclass(frozen=True)
class KeyRing:
    signing_key: Ed25519PrivateKey = field(repr=False)
    retired: tuple[Ed25519PublicKey, ...] = ()

    @property
    def kid(self) -> str:
        return public_jwk(self.signing_key.public_key())["kid"]

    def jwks(self) -> dict:
        keys = [public_jwk(self.signing_key.public_key()), *(public_jwk(k) for k in self.retired)]
        unique = {key["kid"]: key for key in keys}
        return {"keys": list(unique.values())}


def load_keyring(settings: Settings) -> KeyRing:
    if settings.jwt_signing_key:
        signing = load_private_key(settings.jwt_signing_key.encode())
    elif settings.jwt_signing_key_file:
        signing = load_private_key(Path(settings.jwt_signing_key_file).read_bytes())
    else:
        signing = load_private_key(_dev_key_pem(Path(settings.jwt_keys_dir)))
    retired = tuple(load_public_key(Path(path).read_bytes()) for path in settings.jwt_retired_key_files)
    return KeyRing(signing, retired)


def _dev_key_pem(folder: Path) -> bytes:
    path = folder / SIGNING_KEY_FILE
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Written aside, then linked into place: a replica starting at the same moment either
        # wins the link or reads the winner's complete file, never half of one.
        temporary = folder / f".{SIGNING_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(generate_private_pem())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_bytes()
