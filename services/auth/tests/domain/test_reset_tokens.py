"""Reset tokens and reminder limits alone: no I/O."""

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

from auth.domain.reminder_limit import ReminderLimit
from auth.domain.reset_tokens import new_reset_token, reset_token_digest, reset_url


def test_a_token_has_at_least_128_random_bits_and_only_its_sha256_is_kept():
    token, digest = new_reset_token()
    assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) * 8 >= 128
    assert digest == hashlib.sha256(token.encode()).hexdigest() == reset_token_digest(token)
    assert token not in digest
    assert len({new_reset_token()[0] for _ in range(100)}) == 100


def test_the_link_is_built_from_the_public_base_url():
    token, _ = new_reset_token()
    url = reset_url("https://results.example.org/", token)
    assert url.startswith("https://results.example.org/reset-password?token=")
    assert parse_qs(urlparse(url).query)["token"] == [token]


def test_reminders_older_than_the_window_no_longer_count():
    now = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    assert ReminderLimit(3, timedelta(hours=1)).cutoff(now) == now - timedelta(hours=1)
