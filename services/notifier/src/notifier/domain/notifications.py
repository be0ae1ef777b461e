"""What a notification is, and the rules for retrying one."""

import hashlib
import random
from datetime import timedelta
from enum import StrEnum


class Kind(StrEnum):
    REGISTRATION_CONFIRMATION = "registration_confirmation"
    RESULTS_READY = "results_ready"
    LOGIN_LOCKED = "login_locked"
    PASSWORD_RESET = "password_reset"
    PASSWORD_CHANGED = "password_changed"


class Status(StrEnum):
    QUEUED = "queued"  # waiting for its due time, or for a retry
    SENT = "sent"
    FAILED = "failed"  # permanently refused, or out of retries


def notification_id(source: str, candidate_id: str, kind: Kind) -> str:
    """Unique per source, candidate and kind: the same source can never make a second email.

    The source is the event id, except for results, where it is the board's batch: the same batch
    part sent again as a new event still makes no second email."""
    return f"{kind}:{candidate_id}:{source}"


def message_id(notification: str, domain: str) -> str:
    """The email's Message-ID, derived from its notification so a resend after a crash keeps it."""
    return f"<{hashlib.sha256(notification.encode()).hexdigest()[:32]}@{domain}>"


def retry_delay(attempts: int, *, base_seconds: float = 5.0, max_seconds: float = 600.0) -> timedelta:
    """Exponential backoff with jitter after `attempts` failed tries."""
    ceiling = min(max_seconds, base_seconds * 2 ** max(0, attempts - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))
