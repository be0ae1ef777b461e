"""Consumer crash: the results and notifier processes are SIGKILLed after their handler committed a
result part and before the ack. The broker redelivers the part to the restarted processes: no
result is stored twice and no email is sent twice."""

import asyncio

from crs_shared.faults import KILL_AFTER_HANDLE
from crs_shared.messaging.contracts import ResultsPublished, ResultsReleased
from crs_shared.messaging.definitions import queue_name
from tests.reliability.report import record
from tests.support.waiting import wait_until

PROMISE = "A consumer that dies after its commit and before its ack: the redelivery changes nothing."


async def test_a_consumer_killed_between_commit_and_ack_does_nothing_twice(mongo_url, amqp_url, smtp, make_system):
    # One message at a time in the doomed processes: a transaction left open by the kill would hold its
    # documents until the database reaps it (60 s), delaying its redelivery by as much (see docs/reliability.md).
    # The notifier mails from what the results service releases, so it dies only after results is back.
    doomed = {"results": ResultsPublished, "notifier": ResultsReleased}
    system = make_system(mongo_url, amqp_url, smtp, faults={
        name: {KILL_AFTER_HANDLE: queue_name(name, event.ROUTING_KEY), "AMQP_PREFETCH": "1"}
        for name, event in doomed.items()})
    await system.register_early()

    logging_in = asyncio.ensure_future(system.candidates.log_in_all(system.workload.early))
    await system.board.publish_results()
    exit_codes, stored_before_restart = {}, None
    for name in doomed:
        async def killed() -> bool:
            return system.stack[name].child.process.poll() is not None
        await wait_until(killed, timeout=60, what=f"{name} to kill itself after a commit")
        exit_codes[name] = system.stack[name].child.process.returncode
        if stored_before_restart is None:
            stored_before_restart = await system.parts_stored()
        assert "fault injection: killing this process" in system.stack[name].log()
        system.stack[name].stop()
        system.stack.start_one(name)  # without the hook

    await logging_in
    await system.steady_traffic()
    outcome = await system.ledger.settled()
    redelivered = system.stack["results"].log().count("results part already stored; nothing changed")
    record("Consumer crash", PROMISE, outcome.counts(), exit_codes=exit_codes,
           parts_published=system.workload.batch.parts, parts_stored_before_restart=stored_before_restart,
           results_redeliveries_skipped=redelivered, http=system.candidates.log.statuses)

    assert exit_codes == {"results": -9, "notifier": -9}
    assert stored_before_restart >= 1, "the results process died before committing anything"
    assert redelivered >= 1, "the part committed before the kill was not redelivered"
    assert outcome.exact, outcome.counts()
    assert outcome.dead_lettered == {}
