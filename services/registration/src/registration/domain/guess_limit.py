"""The guess limit on Secret Numbers (contract section 2). A Secret Number has 10,000 values, so
without a limit per ID a few thousand guesses, spread over addresses, would take any
unregistered candidate's account.

- Only wrong Secret Numbers count, for one ID from any address. A right one neither counts nor
  resets the count.
- The count runs for `window` from the first wrong number; a window that ends with fewer than
  `threshold` wrong numbers is forgotten.
- The `threshold`-th wrong number in a window holds the ID for `hold`: every attempt then answers
  429 without a check, even with the right number, and extends nothing. When the hold lifts (or
  an operator lifts it) the count starts again from nothing.
- An unknown ID is counted exactly like a known one, so the answers never tell whether it exists.

Each attempt reserves a check slot, in one conditional update, before its number is compared:
at most `threshold` wrong numbers and checks in hand together, so however many guesses arrive
at once, at most `threshold` numbers are compared per window. An attempt that finds no slot free
answers 429 unchecked. A slot reserved longer ago than `check_lease` belonged to a process that
died before recording its outcome, and is free again."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from crs_shared.clock import to_millisecond


@dataclass(frozen=True)
class GuessLimit:
    threshold: int = 5
    window: timedelta = timedelta(minutes=60)
    hold: timedelta = timedelta(minutes=60)
    check_lease: timedelta = timedelta(minutes=1)

    def window_ends(self, now: datetime) -> datetime:
        """The end of a window whose first wrong number comes now."""
        return to_millisecond(now + self.window)

    def held_until(self, now: datetime) -> datetime:
        """When a hold set now lifts."""
        return to_millisecond(now + self.hold)

    def stale_before(self, now: datetime) -> datetime:
        """Check slots reserved before this moment are free again."""
        return now - self.check_lease

    def lease_ends(self, now: datetime) -> datetime:
        return to_millisecond(now + self.check_lease)

    @staticmethod
    def is_held(held_until: datetime | None, now: datetime) -> bool:
        return held_until is not None and now < held_until

    def retry_after_seconds(self, held_until: datetime | None, now: datetime) -> int:
        """How long a refused attempt should wait. Without a hold the checks in hand fill the
        remaining tries; if they are all wrong, the hold that follows lasts `hold`."""
        if self.is_held(held_until, now):
            return max(1, math.ceil((held_until - now).total_seconds()))
        return math.ceil(self.hold.total_seconds())


def held_message(retry_after_seconds: int) -> str:
    minutes = max(1, math.ceil(retry_after_seconds / 60))
    return (
        "Too many wrong Secret Numbers have been entered for this ID Number, so its registration is paused. "
        "Please check the ID Number and Secret Number on your Confirmation of Entry and try again "
        f"in {minutes} minute{'' if minutes == 1 else 's'}."
    )
