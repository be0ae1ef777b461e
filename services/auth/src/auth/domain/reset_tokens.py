"""Password reset tokens: 256 random bits sent to the candidate, only their SHA-256 stored.

A fast hash is enough here (unlike passwords): the token is random and long, so a copy of the
database does not let anyone guess it back."""

import hashlib
import secrets
from urllib.parse import urlencode

TOKEN_BYTES = 32


def new_reset_token() -> tuple[str, str]:
    """A fresh token and the digest to store in its place."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, reset_token_digest(token)


def reset_token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def reset_url(public_base_url: str, token: str) -> str:
    """Built from settings only, never from request headers (a forged Host must not steer the link)."""
    return f"{public_base_url.rstrip('/')}/reset-password?{urlencode({'token': token})}"
