"""Rate limit of password reminders, so nobody can flood a candidate's inbox: at most `limit`
reset emails per candidate in any sliding `window`. A refused reminder still answers 202.

The repository applies it in one atomic update: it keeps the times of the last `limit` reminders
and adds one only if the oldest of them is at or before `cutoff(now)`."""

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ReminderLimit:
    limit: int = 3
    window: timedelta = timedelta(hours=1)

    def cutoff(self, now: datetime) -> datetime:
        """Reminders sent at or before this moment no longer count."""
        return now - self.window

