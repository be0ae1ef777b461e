"""The release rule: a result is shown (to its candidate, on a statement, to a verifier) from its
release time on, and never before. Times are to the millisecond, as MongoDB keeps them.

`released` applies it in memory, to a candidate's results read from a short-lived cache, so a
release time holds to the request whatever the cache's age. The repository's single-result reads
apply the same rule as a database filter, `{"release_at": {"$lte": now}}`.

A part's release is announced (`ResultsReleased`) once, when it is due: a part released by the
time it is stored is due then, and announced by the transaction that stores it; one held until a
later release time is due from that time, and announced by the release announcer. The repository
claims a due part with the same rule as a filter, so that one replica announces it."""

from collections.abc import Iterable
from datetime import datetime


def is_released(release_at: datetime, now: datetime) -> bool:
    return release_at <= now


def released(results: Iterable[dict], now: datetime) -> list[dict]:
    """The results of `results` released at `now`, in their order."""
    return [result for result in results if is_released(result["release_at"], now)]


def announcement_due(release_at: datetime, announced_at: datetime | None, now: datetime) -> bool:
    """Whether a stored part's release is to be announced at `now`: released, and not yet announced."""
    return announced_at is None and is_released(release_at, now)


def announced(part: dict, shown: dict[str, dict]) -> list[dict]:
    """Of the results shown now for a part's candidates (by candidate ID), those the part itself
    stored, in its order: one a later batch has corrected since is announced by that batch's part."""
    stored_by = (part["board"], part["batch_id"], part["part"])
    results = (shown.get(candidate_id) for candidate_id in part["to_announce"])
    return [r for r in results if r is not None and (r["board"], r["batch_id"], r["part"]) == stored_by]
