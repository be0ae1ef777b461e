"""What a notification is, and the rules for trying one again."""

import hashlib
import random
from datetime import datetime, timedelta
from enum import StrEnum


class Kind(StrEnum):
    REGISTRATION_CONFIRMATION = "registration_confirmation"
    RESULTS_READY = "results_ready"
    RESULTS_UPDATED = "results_updated"
    LOGIN_LOCKED = "login_locked"
    PASSWORD_RESET = "password_reset"
    PASSWORD_CHANGED = "password_changed"


class Status(StrEnum):
    QUEUED = "queued"  # waiting for its due time, a retry, or the confirmation it follows
    SENT = "sent"
    FAILED = "failed"  # unsendable, permanently refused, or out of retries


def notification_id(source: str, candidate_id: str, kind: Kind) -> str:
    """Unique per source, candidate and kind: the same source can never make a second email.

    The source is the event id, except for results: "now available" is keyed by exam and session
    (one per candidate, exam and session, whatever the batch), "has been updated" by the result
    and the batch that corrected it (a result keeps its id through its corrections)."""
    return f"{kind}:{candidate_id}:{source}"


def message_id(notification: str, domain: str) -> str:
    """The email's Message-ID, derived from its notification so a resend after a crash keeps it."""
    return f"<{hashlib.sha256(notification.encode()).hexdigest()[:32]}@{domain}>"


def retry_delay(attempts: int, *, base_seconds: float = 5.0, max_seconds: float = 600.0) -> timedelta:
    """Exponential backoff with jitter after `attempts` failed tries."""
    ceiling = min(max_seconds, base_seconds * 2 ** max(0, attempts - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def gives_up(created_at: datetime, now: datetime, retry_for: timedelta) -> bool:
    """A passing failure is retried until the email is `retry_for` old, then the email fails."""
    return now - created_at > retry_for


def lease_needs_extending(lease_until: datetime, now: datetime, lease: timedelta) -> bool:
    """Right before a send: with less than half a lease left, the lease is extended first, so the
    send (bounded by the SMTP timeout, below half a lease) and its record end while it is held."""
    return lease_until - now < lease / 2
