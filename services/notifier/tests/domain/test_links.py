"""The reset link rule: a link is mailed only under PUBLIC_BASE_URL (same scheme, host and port, and
a path at or below the base's)."""

import pytest

from notifier.domain.links import why_link_refused

BASE = "https://results.example.org"


@pytest.mark.parametrize("url", [
    "https://results.example.org/reset-password?token=abc",
    "https://RESULTS.example.org/reset-password?token=abc",
    "https://results.example.org:443/reset-password?token=abc",
    "https://results.example.org/",
    "https://results.example.org",
])
def test_a_link_under_the_base_is_mailed(url):
    assert why_link_refused(url, BASE) is None


@pytest.mark.parametrize(("url", "why"), [
    ("https://results.example.org.evil.com/reset-password?token=abc", "its host is 'results.example.org.evil.com'"),
    ("https://evil.com/?https://results.example.org", "its host is 'evil.com'"),
    ("https://evil.com/results.example.org/reset-password", "its host is 'evil.com'"),
    ("https://results.example.org@evil.com/reset-password", "names a user"),
    ("https://user:pw@results.example.org/reset-password", "names a user"),
    ("http://results.example.org/reset-password?token=abc", "its scheme is 'http'"),
    ("https://results.example.org:8443/reset-password?token=abc", "its port is 8443, not 443"),
    ("//results.example.org/reset-password", "its scheme is 'missing'"),
    ("/reset-password?token=abc", "its scheme is 'missing'"),
    ("javascript:alert(1)//results.example.org", "its scheme is 'javascript'"),
    ("https://results.example.org\\@evil.com/", "backslash"),
    ("https://evil.com\\.results.example.org/", "backslash"),
    ("https://results.example.org:99999/", "cannot be read"),
    ("https://results.example.org/reset-password\n.evil.com", "control character"),
])
def test_a_link_anywhere_else_is_refused_and_says_why(url, why):
    reason = why_link_refused(url, BASE)
    assert reason is not None and why in reason


def test_a_base_with_a_path_admits_only_links_below_that_path():
    base = "https://example.org/results/"
    assert why_link_refused("https://example.org/results/reset-password?token=t", base) is None
    assert why_link_refused("https://example.org/results", base) is None
    for url in ("https://example.org/results-evil/reset-password", "https://example.org/reset-password",
                "https://example.org/results/../reset-password", "https://example.org/results/%2e%2e/x",
                "https://example.org/results/a%2f..%2f../x"):
        assert why_link_refused(url, base) is not None, url


def test_the_local_default_base_compares_its_port():
    base = "http://127.0.0.1:8080"
    assert why_link_refused("http://127.0.0.1:8080/reset-password?token=t", base) is None
    assert "its port is 80, not 8080" in why_link_refused("http://127.0.0.1/reset-password?token=t", base)


def test_the_reason_never_shows_the_token():
    reason = why_link_refused("https://evil.com/reset-password?token=SECRET123#SECRET456", BASE)
    assert "SECRET" not in reason


@pytest.mark.parametrize("character", ["\u202e", "\u2066", "\u200b", "\u2028", "\u00a0", "\u0085", "\ufeff"])
def test_an_invisible_or_direction_changing_character_is_refused(character):
    # A right-to-left override would make the link's text in the email read as another site's.
    url = f"{BASE}/reset-password?token=abc{character}moc.live//:sptth"
    assert why_link_refused(url, BASE) == "it holds an invisible, spacing or direction-changing character"
