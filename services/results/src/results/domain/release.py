"""The release rule: a result is shown (to its candidate, on a statement, to a verifier) from its
release time on, and never before. Times are to the millisecond, as MongoDB keeps them.

`released` applies it in memory, to a candidate's results read from a short-lived cache, so a
release time holds to the request whatever the cache's age. The repository's single-result reads
apply the same rule as a database filter, `{"release_at": {"$lte": now}}`.

A part's release is announced (`ResultsReleased`, which the notifier mails from) once, when it is
due: from its release time, and never before every reader's cached list of a candidate's results
can hold it (`announce_from`), so that GET /api/results/me shows what the email says. A part due
by the time it is stored is announced by the transaction that stores it; any other by the release
announcer. The repository claims a due part with the same rule as a filter, so that one replica
announces it."""

from collections.abc import Iterable
from datetime import datetime, timedelta


def is_released(release_at: datetime, now: datetime) -> bool:
    return release_at <= now


def released(results: Iterable[dict], now: datetime) -> list[dict]:
    """The results of `results` released at `now`, in their order."""
    return [result for result in results if is_released(result["release_at"], now)]


def announce_from(release_at: datetime, stored_at: datetime, readers_staleness_seconds: float) -> datetime:
    """When a part stored at `stored_at` may be announced: once released, and once the lists the
    results processes read from their caches (at most `readers_staleness_seconds` old) were all
    read after it was stored."""
    return max(release_at, stored_at + timedelta(seconds=readers_staleness_seconds))


def announcement_due(announce_at: datetime, announced_at: datetime | None, now: datetime) -> bool:
    """Whether a stored part's release is to be announced at `now`: due, and not yet announced."""
    return announced_at is None and announce_at <= now


def announced(part: dict, shown: dict[str, dict]) -> list[dict]:
    """Of the results shown now for a part's candidates (by candidate ID), those the part itself
    stored, in its order: one a later batch has corrected since is announced by that batch's part."""
    stored_by = (part["board"], part["batch_id"], part["part"])
    results = (shown.get(candidate_id) for candidate_id in part["to_announce"])
    return [r for r in results if r is not None and (r["board"], r["batch_id"], r["part"]) == stored_by]
