"""Splitting a batch into parts and wrapping them in envelopes (no broker needed)."""

import aiormq.exceptions
import pytest

from crs_shared.messaging.contracts import PART_MAX_RECORDS, EntriesPublished, Entry
from crs_shared.messaging.publisher import PublishError
from crs_tools.board_publish import (
    BatchNotPublished, _publish_reason, masked_url, part_ranges, prepare_batch, split_into_parts,
)


def entry(n: int) -> Entry:
    return Entry(candidate_id=f"C{n:06d}", secret_number="4821", given_name="Amy", family_name="Chen",
                 exam="B2_FIRST", session="2026-06", centre="GB001")


def builder(board: str, batch_id: str):
    return lambda part, parts, chunk: EntriesPublished(board=board, batch_id=batch_id, part=part, parts=parts,
                                                       entries=chunk)


@pytest.mark.parametrize("count, sizes", [
    (1, [1]), (PART_MAX_RECORDS, [1000]), (PART_MAX_RECORDS + 1, [1000, 1]), (2500, [1000, 1000, 500]),
])
def test_parts_hold_at_most_the_contracts_maximum_in_file_order(count, sizes):
    parts = list(split_into_parts(list(range(count))))
    assert [len(p) for p in parts] == sizes
    assert [x for p in parts for x in p] == list(range(count))


def test_a_batch_has_one_id_and_one_envelope_per_part():
    batch = prepare_batch([entry(n) for n in range(2500)], batch_id="b-1", make_part=builder(" Board X ", "b-1"))
    assert (batch.parts, batch.records, batch.part_sizes, batch.board) == (3, 2500, [1000, 1000, 500], "Board X")
    assert batch.routing_key == "entries.published"
    envelopes = list(batch.envelopes())
    assert len({e.event_id for e in envelopes}) == 3
    for number, envelope in enumerate(envelopes, start=1):
        assert (envelope.event_type, envelope.producer, envelope.correlation_id) == (
            "EntriesPublished", "board:Board X", "b-1")
        assert (envelope.payload["batch_id"], envelope.payload["part"], envelope.payload["parts"]) == ("b-1", number, 3)
    assert envelopes[2].payload["entries"][-1]["candidate_id"] == "C002499"


def test_a_report_of_a_batch_cut_short_says_what_was_confirmed_and_how_to_finish():
    batch = prepare_batch([entry(n) for n in range(2500)], batch_id="b-7", make_part=builder("X", "b-7"))
    report = BatchNotPublished(batch, [1], "part 2 of 3 was not published: the broker refused it").report()
    assert "Confirmed by the broker: part 1 of 3 (1,000 records)." in report
    assert "Not published: parts 2-3 of 3." in report
    assert "--batch-id b-7" in report


def test_part_ranges_and_masked_urls_read_well():
    assert part_ranges([1, 2, 3, 5, 7, 8]) == "1-3, 5, 7-8"
    assert part_ranges([]) == "none"
    assert masked_url("amqp://board:s3cret@broker.example:5672/exams") == "amqp://board:***@broker.example:5672/exams"
    assert masked_url("amqp://broker.example/") == "amqp://broker.example/"


def test_a_publish_the_broker_refuses_this_user_says_what_a_board_may_publish():
    refused = aiormq.exceptions.ChannelAccessRefused("ACCESS_REFUSED - access to topic 'results.published' refused")
    error = PublishError("ResultsPublished e-1 not confirmed")
    error.__cause__ = refused
    reason = _publish_reason(error, "results.published", "amqp://board-x:***@broker.example:5672/")
    assert reason == ("the broker at amqp://board-x:***@broker.example:5672/ does not let this user publish "
                      "'results.published' (an exam board's account may publish only entries.published and "
                      "results.published; is it a board's account?)")
