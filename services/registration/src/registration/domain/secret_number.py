"""Secret numbers are stored only as a keyed hash (HMAC-SHA256 over the candidate ID and the
number). The key is in settings, so a copy of the database alone cannot reveal them."""

import hashlib
import hmac


def secret_digest(key: str, candidate_id: str, secret_number: str) -> str:
    message = f"{candidate_id.upper()}:{secret_number}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def secret_matches(key: str, candidate_id: str, secret_number: str, stored_digest: str | None) -> bool:
    """Constant-time; an unknown ID (no stored digest) costs the same and never matches."""
    expected = secret_digest(key, candidate_id, secret_number)
    return hmac.compare_digest(expected, stored_digest or "0" * len(expected)) and stored_digest is not None
