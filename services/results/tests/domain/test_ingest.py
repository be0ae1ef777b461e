"""Sorting a part's records against the results shown now (pure)."""

from datetime import UTC, datetime, timedelta

from crs_shared.domain.exams import RefusedRecord, check_part, find_exam
from results.domain.ingest import Late, New, PartArrival, Replacing, sort_part
from services.results.tests.conftest import record, results_part

PUBLISHED = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def arrival_of(records, batch_id: str = "batch-2") -> tuple[PartArrival, list, list]:
    part = results_part(records, batch_id=batch_id)
    arrival = PartArrival(part=part, exam=find_exam(part.exam), event_id="e-1", correlation_id="c-1",
                          published_at=PUBLISHED, received_at=PUBLISHED, release_at=PUBLISHED, announce_at=PUBLISHED)
    valid, refused = check_part(arrival.exam, part.results)
    return arrival, valid, refused


def shown(candidate_id: str, *, batch_id: str = "batch-1", part: int = 1,
          published_at: datetime = PUBLISHED - timedelta(days=1)) -> dict:
    return {"_id": f"r-{candidate_id}", "candidate_id": candidate_id, "board": "Test Board", "batch_id": batch_id,
            "part": part, "published_at": published_at}


def test_records_with_nothing_shown_are_new_in_the_parts_order():
    arrival, valid, refused = arrival_of([record("N000002"), record("N000001")])
    sorted_part = sort_part(arrival, valid, refused, {})
    assert sorted_part.stored == [New(valid[0]), New(valid[1])] and sorted_part.refused == []
    assert [s.result.candidate_id for s in sorted_part.showing] == ["N000002", "N000001"]
    assert sorted_part.corrected == 0


def test_a_record_shown_from_another_batch_replaces_it_and_an_older_publication_is_late():
    arrival, valid, refused = arrival_of([record("C000001"), record("C000002"), record("C000003")])
    earlier, newer = shown("C000001"), shown("C000002", published_at=PUBLISHED + timedelta(days=2))
    sorted_part = sort_part(arrival, valid, refused, {"C000001": earlier, "C000002": newer})
    assert sorted_part.stored == [Replacing(valid[0], earlier), Late(valid[1], newer), New(valid[2])]
    assert [s.result.candidate_id for s in sorted_part.showing] == ["C000001", "C000003"]
    assert sorted_part.corrected == 1


def test_a_record_shown_from_this_very_batch_is_refused_after_those_check_part_refused():
    arrival, valid, refused = arrival_of([record("S000001"), record("S000001"), record("S000002")])
    sorted_part = sort_part(arrival, valid, refused, {"S000002": shown("S000002", batch_id="batch-2", part=3)})
    assert sorted_part.stored == [New(valid[0])]
    assert sorted_part.refused == [
        RefusedRecord("S000001", ["appears more than once in this part"]),
        RefusedRecord("S000002", ["already has a result for B2 First (FCE) 2026-06 in part 3 of this batch"]),
    ]
