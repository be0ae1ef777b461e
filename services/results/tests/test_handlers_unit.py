"""Results' handlers against a fake unit of work and a fake repository: the retry of a part that
holds shown sittings, a repeated part, and what the release announcer publishes. (Against the
real database: test_handlers.py and test_releases.py.)"""

import contextlib
from datetime import UTC, datetime, timedelta

from crs_shared.clock import ManualClock
from crs_shared.domain.exams import EXAMS, grade_and_cefr
from crs_shared.messaging.contracts import ReleasedResult, ResultRecord, ResultsPublished, ResultsReleased
from results import handlers
from results.domain.ingest import New, Replacing
from results.repository import SittingTaken
from tests.support.broker import envelope_for
from tests.support.metrics import sample
from tests.support.unit_of_work import FakeUnitsOfWork

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


class FakeCache:
    longest_staleness_seconds = 0.0

    def changing(self, candidate_ids):
        return contextlib.nullcontext()


class FakeRepository:
    def __init__(self, shown: dict[str, dict] | None = None, due: list[dict] | None = None):
        self.shown = shown or {}
        self.parts: dict[str, dict] = {}
        self.writes: list[list[type]] = []  # the kinds of what each write stored
        self.lookups = 0
        self.due = list(due or [])

    async def part_recorded(self, session, key) -> bool:
        return key in self.parts

    async def shown_results(self, session, exam, exam_session, candidate_ids) -> dict[str, dict]:
        self.lookups += 1
        return {c: self.shown[c] for c in candidate_ids if c in self.shown}

    async def store_part(self, session, arrival, sorted_part, *, announced, new_verification_number):
        self.writes.append([type(s) for s in sorted_part.stored])
        if any(isinstance(s, New) and s.result.candidate_id in self.shown for s in sorted_part.stored):
            raise SittingTaken()
        record = {"_id": arrival.part.key, "board": arrival.part.board, "batch_id": arrival.part.batch_id,
                  "part": arrival.part.part, "exam": arrival.exam_code, "session": arrival.part.session,
                  "release_at": arrival.release_at, "correlation_id": arrival.correlation_id}
        self.parts[arrival.part.key] = record
        showing = [{"_id": f"r-{s.result.candidate_id}", "candidate_id": s.result.candidate_id,
                    "status": s.result.status, "correction": isinstance(s, Replacing)} for s in sorted_part.showing]
        return record, showing

    async def claim_due_release(self, session, now):
        return self.due.pop(0) if self.due else None


def dependencies(repository: FakeRepository) -> handlers.Dependencies:
    return handlers.Dependencies(uow=FakeUnitsOfWork(), repository=repository, clock=ManualClock(NOW), verifier=None,
                                 revocations=None, candidate_results=FakeCache(), public_base_url="http://crs.test")


def part(*candidate_ids: str, batch_id: str = "batch-2") -> ResultsPublished:
    spec = EXAMS["B2_FIRST"]
    grade, cefr_level = grade_and_cefr(spec, 175)
    records = [ResultRecord(candidate_id=c, given_name="Amy", family_name="Chen", overall_score=175, grade=grade,
                            cefr_level=cefr_level, skills=dict.fromkeys(spec.skills, 175), status="issued")
               for c in candidate_ids]
    return ResultsPublished(board="Test Board", batch_id=batch_id, part=1, parts=1, exam="B2_FIRST",
                            session="2026-06", release_at=NOW, results=records)


async def test_a_part_holding_a_shown_sitting_is_written_again_with_the_shown_results_looked_up():
    shown = {"C000001": {"_id": "r-old", "board": "Test Board", "batch_id": "batch-1", "part": 1,
                         "published_at": NOW - timedelta(days=1)}}
    deps = dependencies(FakeRepository(shown=shown))
    corrected = part("C000001", "C000002")
    await handlers.store_results(deps, envelope_for(corrected), corrected)
    assert deps.repository.writes == [[New, New], [Replacing, New]]
    assert deps.repository.lookups == 1 and deps.uow.commits == 1
    [released] = deps.uow.published  # released by now: announced with the part
    assert [(r.candidate_id, r.correction) for r in released.results] == [("C000001", True), ("C000002", False)]


async def test_the_same_part_under_another_event_id_writes_nothing_more_and_is_counted():
    deps = dependencies(FakeRepository())
    again = part("C000001")
    duplicates = sample("events_duplicate_total", service="results", event_type="ResultsPublished")
    await handlers.store_results(deps, envelope_for(again), again)
    await handlers.store_results(deps, envelope_for(again), again)
    assert len(deps.repository.writes) == 1 and len(deps.uow.published) == 1
    assert sample("events_duplicate_total", service="results", event_type="ResultsPublished") == duplicates + 1


async def test_the_announcer_announces_each_due_part_under_its_own_correlation_id():
    due = [{"board": "Test Board", "batch_id": f"batch-{n}", "part": 1, "exam": "B2_FIRST", "session": "2026-06",
            "release_at": NOW, "correlation_id": f"board-batch-{n}", "to_announce": [f"C00000{n}"]} for n in (1, 2)]
    shown = {"C000001": {"_id": "r-1", "candidate_id": "C000001", "board": "Test Board", "batch_id": "batch-1",
                         "part": 1, "status": "issued", "correction": False}}  # C000002's was corrected since
    deps = dependencies(FakeRepository(shown=shown, due=due))
    assert await handlers.announce_due_releases(deps) == 2
    assert deps.uow.published == [ResultsReleased(
        board="Test Board", batch_id="batch-1", part=1, exam="B2_FIRST", session="2026-06", released_at=NOW,
        results=[ReleasedResult(candidate_id="C000001", result_id="r-1", status="issued", correction=False)])]
    assert deps.uow.correlation_ids == ["board-batch-1"]
