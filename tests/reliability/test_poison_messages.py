"""Poison and oversized messages, end to end against the results process (the board's only
consumer; the notifier mails from the ResultsReleased results publishes): a body
that is not JSON, an unknown event_type, a newer event_version, a 10 MB body and a payload that
breaks its schema each land in `<queue>.dlq` with the reason in the service's log, and the queue
keeps flowing: the result batch published after them is handled in full."""

import json

from crs_shared.messaging.contracts import ResultRecord, ResultsPublished
from crs_shared.messaging.definitions import dead_letter_queue_name, queue_name
from tests.reliability.ledger import queue_depths
from tests.reliability.report import record
from tests.reliability.traffic import BOARD, EXAM, SESSION
from tests.support.broker import drain, envelope_for, publish_raw
from tests.support.waiting import wait_until

PROMISE = "Messages that can never be handled go to <queue>.dlq at once, with the reason logged; the queue keeps flowing."
TEN_MB = 10 * 1024 * 1024


def poison(record: ResultRecord) -> dict[str, tuple[bytes, str]]:
    """message id -> (body, the reason the consumer must log)."""
    part = ResultsPublished(board=BOARD, batch_id="poison", part=1, parts=1, exam=EXAM.code, session=SESSION,
                            results=[record])
    good = envelope_for(part).model_dump(mode="json")
    variant = lambda **changes: json.dumps({**good, **changes}).encode()  # noqa: E731
    return {
        "poison-not-json": (b"\x00this is not JSON{", "not a valid event envelope"),
        "poison-unknown-type": (variant(event_type="ResultsRetracted"), "unexpected event_type 'ResultsRetracted'"),
        "poison-newer-version": (variant(event_version=2), "event_version 2 is newer than the supported 1"),
        "poison-10mb": (variant(padding="x" * TEN_MB), "byte limit"),
        "poison-wrong-schema": (variant(payload={"board": "Reliability Board", "parts": "many"}),
                                "payload breaks the ResultsPublished contract"),
    }


async def test_poison_and_oversized_messages_are_dead_lettered_and_the_queue_keeps_flowing(
        mongo_url, amqp_url, smtp, make_system):
    system = make_system(mongo_url, amqp_url, smtp)
    await system.register_early()
    bad = poison(system.workload.results[0])
    for message_id, (body, _reason) in bad.items():
        await publish_raw(amqp_url, ResultsPublished.ROUTING_KEY, body, message_id=message_id)
    traffic = system.steady_traffic()
    await system.board.publish_results()
    await traffic
    outcome = await system.ledger.settled()

    dlq = dead_letter_queue_name(queue_name("results", ResultsPublished.ROUTING_KEY))
    await wait_until(lambda: _holds(amqp_url, dlq, len(bad)), timeout=30, what=f"the poison in {dlq}")
    dead = {dlq: sorted(m.message_id for m in await drain(amqp_url, dlq))}
    logged = {"results": _dead_letter_reasons(system.stack["results"].log())}
    record("Poison and oversized messages", PROMISE, outcome.counts(), poison_published=len(bad),
           dead_letter_queues={dlq: len(ids) for dlq, ids in dead.items()}, reasons_logged=logged)

    for dlq, ids in dead.items():
        assert ids == sorted(bad), dlq
    for service, reasons in logged.items():
        for message_id, (_body, reason) in bad.items():
            assert any(reason in r for r in reasons), f"{service} logged no reason {reason!r} for {message_id}: {reasons}"
    assert outcome.exact, outcome.counts()


async def _holds(amqp_url: str, dlq: str, count: int) -> bool:
    return (await queue_depths(amqp_url, [dlq]))[dlq] >= count


def _dead_letter_reasons(log: str) -> list[str]:
    lines = (json.loads(line) for line in log.splitlines() if line.startswith("{"))
    return [line.get("reason", "") for line in lines if line.get("event") == "message dead-lettered"]
