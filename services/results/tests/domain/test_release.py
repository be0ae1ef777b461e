from datetime import UTC, datetime, timedelta

from results.domain.release import is_released, released

RELEASE = datetime(2026, 8, 1, 8, 0, tzinfo=UTC)


def test_a_result_is_released_from_its_release_time_on():
    assert not is_released(RELEASE, RELEASE - timedelta(milliseconds=1))
    assert is_released(RELEASE, RELEASE)
    assert is_released(RELEASE, RELEASE + timedelta(days=300))


def test_released_keeps_the_released_results_in_their_order():
    results = [{"_id": "b", "release_at": RELEASE - timedelta(days=1)}, {"_id": "embargoed", "release_at": RELEASE},
               {"_id": "a", "release_at": RELEASE - timedelta(days=90)}]
    assert [r["_id"] for r in released(results, RELEASE - timedelta(microseconds=1))] == ["b", "a"]
    assert [r["_id"] for r in released(results, RELEASE)] == ["b", "embargoed", "a"]
