"""Which links the notifier puts in an email it is handed (pure).

A password reset link comes in the event, made by the auth service; the notifier mails it only if
it leads under PUBLIC_BASE_URL: the same scheme, host and port, and a path at or below the base's
path. So an event that is forged, or made by a service configured for another site, cannot make
the notifier send candidates a link to somewhere else."""

import re
import unicodedata
from urllib.parse import unquote, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
# What a browser reads differently from urlsplit (backslashes, control characters, spaces): refused
# outright rather than guessed at.
UNSAFE = re.compile(r"[\\\x00-\x20\x7f]")
# Beyond ASCII: controls, format characters (direction overrides and isolates, zero-width ones),
# separators (line, paragraph, no-break and other spaces) and unassigned code points. In the plain
# text of an email a right-to-left override makes the rest of a line read backwards, so a link's
# text could read as another site's.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Cn", "Co", "Cs"})


def why_link_refused(url: str, base: str) -> str | None:
    """None if `url` lies under `base` (PUBLIC_BASE_URL), else why not, in plain words. The reason
    never quotes the URL's query or fragment (a reset link's token is there)."""
    if UNSAFE.search(url):
        return "it holds a backslash, a space or a control character"
    if any(not c.isascii() and unicodedata.category(c) in UNSAFE_CATEGORIES for c in url):
        return "it holds an invisible, spacing or direction-changing character"
    try:
        link, home = urlsplit(url), urlsplit(base)
        link_port, home_port = _port(link), _port(home)
    except ValueError:
        return "it cannot be read as a URL"
    shown = f"{link.scheme}://{link.hostname or ''}{'' if link.port is None else f':{link.port}'}{link.path}"
    if link.scheme.lower() != home.scheme.lower():
        return f"its scheme is {link.scheme or 'missing'!r}, not {home.scheme!r} ({shown})"
    if link.username is not None or link.password is not None:
        return f"it names a user before its host ({link.hostname})"
    if not link.hostname or link.hostname != home.hostname:
        return f"its host is {link.hostname!r}, not {home.hostname!r} ({shown})"
    if link_port != home_port:
        return f"its port is {link_port}, not {home_port} ({shown})"
    segments = [unquote(segment) for segment in link.path.split("/")]
    if any(segment in (".", "..") or "/" in segment or "\\" in segment for segment in segments):
        return f"its path climbs out of its folder ({shown})"
    prefix = home.path.rstrip("/")
    if link.path != prefix and not link.path.startswith(prefix + "/"):
        return f"its path is not under {prefix or '/'!r} ({shown})"
    return None


def _port(parts) -> int | None:
    return parts.port if parts.port is not None else DEFAULT_PORTS.get(parts.scheme.lower())
