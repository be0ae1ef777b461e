"""The release rule: a result is shown (to its candidate, on a statement, to a verifier) from its
release time on, and never before. Times are to the millisecond, as MongoDB keeps them.

`released` applies it in memory, to a candidate's results read from a short-lived cache, so a
release time holds to the request whatever the cache's age. The repository's single-result reads
apply the same rule as a database filter, `{"release_at": {"$lte": now}}`."""

from collections.abc import Iterable
from datetime import datetime


def is_released(release_at: datetime, now: datetime) -> bool:
    return release_at <= now


def released(results: Iterable[dict], now: datetime) -> list[dict]:
    """The results of `results` released at `now`, in their order."""
    return [result for result in results if is_released(result["release_at"], now)]
