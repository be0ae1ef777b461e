"""The lockout rule (contract section 2).

Wrong passwords 1 to `threshold` in a row answer 401. Every log-in attempt is first counted, in
one conditional update before any password is checked, and only while fewer than `threshold`
are counted; an attempt that finds `threshold` counted (the `threshold + 1`-th in a row, or any
later one) is not checked at all: it locks the account. That is what makes 50 simultaneous
guesses check at most `threshold` passwords and lock exactly once.
While locked, no attempt is counted or checked, and the lock is never extended. A successful
log-in resets the count; the lock lifts by itself `duration` after it was set.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int = 3
    duration: timedelta = timedelta(minutes=30)

    @property
    def locking_attempt(self) -> int:
        """The place in a row of the attempt that locks (what `LoginLocked.failed_attempts` says)."""
        return self.threshold + 1

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
