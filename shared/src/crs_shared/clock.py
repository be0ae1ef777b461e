"""Time comes from a clock object so tests can step past lock-outs and embargoes without sleeping."""

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


def to_millisecond(moment: datetime) -> datetime:
    """`moment` as MongoDB keeps it: to the millisecond, rounded down. A time computed here and
    compared with one read back (a lock's end, a Retry-After) must be cut the same way."""
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
