from datetime import UTC, datetime, timedelta

from results.domain.release import announce_from, announced, announcement_due, is_released, released

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


def test_a_parts_release_is_due_from_its_release_time_until_it_is_announced():
    assert not announcement_due(RELEASE, None, RELEASE - timedelta(milliseconds=1))
    assert announcement_due(RELEASE, None, RELEASE)
    assert announcement_due(RELEASE, None, RELEASE + timedelta(days=3))
    assert not announcement_due(RELEASE, RELEASE, RELEASE + timedelta(days=3))


def test_an_announcement_names_the_parts_results_still_shown_in_its_order():
    part = {"board": "B", "batch_id": "first", "part": 2, "to_announce": ["C3", "C1", "C2", "C4"]}
    shown = {
        "C1": {"_id": "r1", "board": "B", "batch_id": "first", "part": 2},
        "C2": {"_id": "r2", "board": "B", "batch_id": "correction", "part": 1},  # corrected since by another batch
        "C3": {"_id": "r3", "board": "B", "batch_id": "first", "part": 2},
        "C5": {"_id": "r5", "board": "B", "batch_id": "first", "part": 1},  # another part of the batch
    }
    assert [r["_id"] for r in announced(part, shown)] == ["r3", "r1"]


def test_a_part_is_announced_once_released_and_once_no_reader_can_hold_a_list_from_before_it():
    stored = RELEASE - timedelta(hours=1)
    assert announce_from(RELEASE, stored, 2.0) == RELEASE  # embargoed: its release time
    assert announce_from(stored, stored, 2.0) == stored + timedelta(seconds=2)  # released as it is stored
    assert announce_from(RELEASE, RELEASE - timedelta(seconds=1), 2.0) == RELEASE + timedelta(seconds=1)
    assert announce_from(stored, stored, 0.0) == stored  # no cache: at once
