"""store_results against SecantusDB, without a broker: what one part costs, sittings already shown,
and number collisions."""

import asyncio
import itertools
import math
from dataclasses import replace
from datetime import timedelta

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError

from crs_shared.clock import ManualClock
from crs_shared.messaging.inbox import INBOX_COLLECTION, INBOX_INDEXES
from crs_shared.messaging.outbox import OUTBOX_COLLECTION
from crs_shared.mongo import IN_QUERY_CHUNK, ensure_indexes
from crs_shared.read_cache import ReadThroughCache
from crs_shared.unit_of_work import UnitsOfWork
from results import handlers
from results.domain.verification import new_verification_number
from results.repository import (
    INDEXES, SITTING_INDEX, VERIFICATION_NUMBER_INDEX, ResultsRepository, SittingTaken, _on_index,
)
from services.results.tests.conftest import new_batch_id, record, results_part
from tests.support.apps import unique_database
from tests.support.broker import envelope_for
from tests.support.commands import CommandLog


@pytest.fixture
def commands() -> CommandLog:
    return CommandLog()


@pytest.fixture
async def deps(mongo_url, commands):
    client = AsyncMongoClient(mongo_url, tz_aware=True, event_listeners=[commands])
    db = client[unique_database("results")]
    await ensure_indexes(db, {**INDEXES, INBOX_COLLECTION: INBOX_INDEXES})
    repository, clock = ResultsRepository(db), ManualClock()
    deps = handlers.Dependencies(
        uow=UnitsOfWork(client, producer=handlers.SERVICE, outbox=db[OUTBOX_COLLECTION], inbox=db[INBOX_COLLECTION]),
        repository=repository, clock=clock,
        verifier=None, revocations=None,
        candidate_results=ReadThroughCache(repository.candidates_results, ttl_seconds=1.0, max_entries=100,
                                           clock=clock),
        public_base_url="http://crs.test")
    yield deps
    await client.drop_database(db.name)
    await client.close()


def thousand(batch_id: str, overall: int = 175, prefix: str = "K") -> object:
    records = [record(f"{prefix}{index:06d}", overall=overall) for index in range(1000)]
    return results_part(records, batch_id=batch_id)


async def test_a_part_of_1000_results_costs_a_handful_of_round_trips(deps, commands):
    part = thousand(new_batch_id())
    commands.clear()
    await handlers.store_results(deps, envelope_for(part), part)
    sent = list(commands.names)
    assert await deps.repository.count_results({"batch_id": part.batch_id}) == 1000
    # inbox find + insert, part find, one bulk insert, the part's report, its announcement, commit: a
    # sitting's first results are not looked for
    assert len(sent) <= 7 and sent.count("find") == 2, sent

    # A correction of all 1000: the write as new is refused at once, then written again with the
    # shown results (one find per IN_QUERY_CHUNK candidates) and the history.
    correction = thousand(new_batch_id(), overall=180)
    commands.clear()
    await handlers.store_results(deps, envelope_for(correction), correction)
    sent = list(commands.names)
    assert await deps.repository.count_results({"batch_id": correction.batch_id, "overall_score": 180}) == 1000
    finds_of_shown = math.ceil(1000 / IN_QUERY_CHUNK)
    assert sent.count("find") == 2 + 2 + finds_of_shown, sent
    assert len(sent) <= 5 + 11 + finds_of_shown, sent  # the refused attempt: inbox, part, insert, abort


async def test_a_verification_number_collision_is_retried_with_fresh_numbers(deps):
    first = results_part([record("C000001")], batch_id=new_batch_id())
    await handlers.store_results(replace(deps, new_verification_number=lambda: "AAAA-BBBB-CCCC"), envelope_for(first), first)

    numbers = itertools.chain(["AAAA-BBBB-CCCC"], iter(new_verification_number, None))
    second = results_part([record("C000002"), record("C000003")], batch_id=new_batch_id())
    await handlers.store_results(replace(deps, new_verification_number=lambda: next(numbers)), envelope_for(second), second)

    stored = await deps.repository.find_results({"batch_id": second.batch_id})
    assert sorted(doc["candidate_id"] for doc in stored) == ["C000002", "C000003"]
    assert "AAAA-BBBB-CCCC" not in {doc["verification_number"] for doc in stored}
    assert (await deps.repository.batch_parts(second.batch_id))[0]["stored"] == 2


async def test_an_embargoed_part_keeps_its_release_time_and_a_null_one_is_released_at_once(deps):
    later = deps.clock.now().replace(microsecond=0) + timedelta(days=2)
    embargoed = results_part([record("E000001")], batch_id=new_batch_id(), release_at=later)
    now = results_part([record("E000002")], batch_id=new_batch_id())
    for part in (embargoed, now):
        await handlers.store_results(deps, envelope_for(part), part)
    assert await handlers.my_results(deps, "E000001") == []
    assert [d["candidate_id"] for d in await handlers.my_results(deps, "E000002")] == ["E000002"]
    deps.clock.advance(later - deps.clock.now())
    assert [d["candidate_id"] for d in await handlers.my_results(deps, "E000001")] == ["E000001"]


async def test_candidates_read_at_once_share_one_query_and_each_gets_only_their_own_results_newest_first(
        deps, commands):
    for exam, session in (("B2_FIRST", "2025-06"), ("C1_ADVANCED", "2026-06")):
        part = results_part([record("M000001", exam), record("M000002", exam)], batch_id=new_batch_id(), exam=exam,
                            session=session)
        await handlers.store_results(deps, envelope_for(part), part)
    commands.clear()
    first, second, none = await asyncio.gather(
        *(handlers.my_results(deps, c) for c in ("M000001", "M000002", "M000003")))
    assert [(d["candidate_id"], d["session"]) for d in first] == [("M000001", "2026-06"), ("M000001", "2025-06")]
    assert [(d["candidate_id"], d["session"]) for d in second] == [("M000002", "2026-06"), ("M000002", "2025-06")]
    assert none == [] and commands.names.count("find") == 1


def test_a_duplicate_key_is_told_by_its_index_whether_named_by_key_pattern_or_message():
    def duplicate_on(keys: list[str], message: str) -> BulkWriteError:
        return BulkWriteError({"writeErrors": [{
            "index": 0, "code": 11000, "errmsg": f"E11000 duplicate key error collection: results.results {message}",
            "keyPattern": dict.fromkeys(keys, 1), "op": {"candidate_id": "C000001"},
        }]})

    number, sitting = ["verification_number"], ["candidate_id", "exam", "session"]
    assert _on_index(duplicate_on(number, ""), VERIFICATION_NUMBER_INDEX)
    assert not _on_index(duplicate_on(number, ""), SITTING_INDEX)
    assert _on_index(duplicate_on(sitting, ""), SITTING_INDEX)
    assert not _on_index(duplicate_on(sitting, ""), VERIFICATION_NUMBER_INDEX)
    assert _on_index(duplicate_on([], f"index: {SITTING_INDEX}"), SITTING_INDEX)


async def test_a_result_written_as_new_for_a_shown_sitting_is_refused_as_sitting_taken(deps):
    first = results_part([record("S000001")], batch_id=new_batch_id())
    await handlers.store_results(deps, envelope_for(first), first)
    [shown] = await deps.repository.find_results({"candidate_id": "S000001"})
    again = {**shown, "_id": "another-id", "verification_number": new_verification_number()}

    with pytest.raises(SittingTaken):
        async for uow in deps.uow.attempts(deps.clock.now()):
            async with uow:
                await deps.repository.write_results(uow.session, new=[again], replacing=[], history=[])
    assert await deps.repository.find_results({"candidate_id": "S000001"}) == [shown]


async def test_an_older_publication_delivered_after_its_correction_goes_to_the_history(deps):
    original = results_part([record("L000001", overall=172)], batch_id=new_batch_id())
    correction = results_part([record("L000001", overall=181)], batch_id=new_batch_id())
    original_envelope = envelope_for(original)
    correction_envelope = envelope_for(correction).model_copy(
        update={"occurred_at": original_envelope.occurred_at + timedelta(days=3)})

    await handlers.store_results(deps, correction_envelope, correction)
    await handlers.store_results(deps, original_envelope, original)  # late, e.g. put back from a dead-letter queue

    [shown] = await handlers.my_results(deps, "L000001")
    assert (shown["overall_score"], shown["batch_id"]) == (181, correction.batch_id)
    [kept] = await deps.repository.history(shown["_id"])
    assert (kept["overall_score"], kept["batch_id"], kept["replaced_by"]["batch_id"]) == \
        (172, original.batch_id, correction.batch_id)
    assert (await deps.repository.batch_parts(original.batch_id))[0]["stored"] == 1
