"""The lockout rule (contract section 2): a wrong password entered more than `threshold` times in a
row blocks log-on for `duration`.

Only wrong passwords count. Wrong passwords 1 to `threshold` answer 401; the next wrong one answers
423 and locks. The right password logs in whenever the account is not locked and starts the count
again. While locked, no password is checked and the lock is never extended.

At most `locking_attempt` passwords are checked between two locks, however many arrive at once:
each check first reserves a place, atomically, and a place is free only while the wrong passwords
counted plus the checks in flight are fewer than `locking_attempt`. An attempt that finds no place
is refused unchecked and changes nothing. A place reserved by a process that died mid-check is free
again `check_timeout` after it was reserved.

A count left alone for `forget_after` starts again, so that an unknown ID's shadow count, which
must expire, behaves exactly as a registered one's.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from crs_shared.clock import to_millisecond


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int = 3
    duration: timedelta = timedelta(minutes=30)
    check_timeout: timedelta = timedelta(minutes=1)
    forget_after: timedelta = timedelta(hours=24)

    @property
    def locking_attempt(self) -> int:
        """The wrong password in a row that locks (what `LoginLocked.failed_attempts` says); also
        the most passwords checked between two locks."""
        return self.threshold + 1

    def locked_until(self, now: datetime) -> datetime:
        """When a lock set now lifts, to the millisecond (the precision MongoDB stores)."""
        return to_millisecond(now + self.duration)

    def stale_checks_before(self, now: datetime) -> datetime:
        return now - self.check_timeout

    def forgotten_before(self, now: datetime) -> datetime:
        return now - self.forget_after

    @staticmethod
    def is_locked(locked_until: datetime | None, now: datetime) -> bool:
        return locked_until is not None and now < locked_until

    @staticmethod
    def retry_after_seconds(locked_until: datetime, now: datetime) -> int:
        return max(1, math.ceil((locked_until - now).total_seconds()))


def lock_message(retry_after_seconds: int) -> str:
    minutes = max(1, math.ceil(retry_after_seconds / 60))
    return f"This account has been locked. Please try again in {minutes} minute{'' if minutes == 1 else 's'}."
