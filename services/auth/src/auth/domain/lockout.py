"""The lockout rule (contract section 2).

Wrong passwords 1 to `threshold` in a row answer 401. Every log-in attempt first reserves its
place in the count (one atomic update, before any password is checked), so the attempt that
takes place `threshold + 1` or later is not checked at all: it locks the account. That is what
makes 50 simultaneous guesses check at most `threshold` passwords and lock exactly once.
While locked, no attempt is counted or checked, and the lock is never extended. A successful
log-in resets the count; the lock lifts by itself `duration` after it was set.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum


class Verdict(Enum):
    CHECK_PASSWORD = "check_password"
    LOCK = "lock"


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int = 3
    duration: timedelta = timedelta(minutes=30)

    def verdict(self, attempt_in_a_row: int) -> Verdict:
        """What to do with the attempt that took place `attempt_in_a_row` (counting from 1)."""
        return Verdict.CHECK_PASSWORD if attempt_in_a_row <= self.threshold else Verdict.LOCK

    def locked_until(self, now: datetime) -> datetime:
        """When a lock set now lifts, to the millisecond (the precision MongoDB stores)."""
        until = now + self.duration
        return until.replace(microsecond=until.microsecond - until.microsecond % 1000)

    @staticmethod
    def is_locked(locked_until: datetime | None, now: datetime) -> bool:
        return locked_until is not None and now < locked_until

    @staticmethod
    def retry_after_seconds(locked_until: datetime, now: datetime) -> int:
        return max(1, math.ceil((locked_until - now).total_seconds()))


def lock_message(retry_after_seconds: int) -> str:
    minutes = max(1, math.ceil(retry_after_seconds / 60))
    return f"This account has been locked. Please try again in {minutes} minute{'' if minutes == 1 else 's'}."
