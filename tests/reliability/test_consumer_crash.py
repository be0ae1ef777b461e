"""Consumer crash: the results and notifier processes are SIGKILLed after their handler committed a
result part and before the ack: results after the batch's first part, the notifier after the part
whose release owes the registered candidates their results emails. The broker redelivers each part
to the restarted processes, which skip it: no result is stored twice and no email is sent twice."""

import asyncio

import httpx

from crs_shared.faults import KILL_AFTER_HANDLE, KILL_AFTER_HANDLE_IF
from crs_shared.messaging.contracts import ResultsPublished, ResultsReleased
from crs_shared.messaging.definitions import queue_name
from tests.reliability.report import record
from tests.reliability.traffic import Workload
from tests.support.waiting import wait_until

PROMISE = "A consumer that dies after its commit and before its ack: the redelivery changes nothing."


async def test_a_consumer_killed_between_commit_and_ack_does_nothing_twice(mongo_url, amqp_url, smtp, make_system):
    # One message at a time in the doomed processes: a transaction left open by the kill would hold its
    # documents until the database reaps it (60 s), delaying its redelivery by as much (see docs/reliability.md).
    # The notifier mails from what the results service releases, so it dies only after results is back;
    # it dies after the part that names the registered candidates, whose emails it has just written.
    doomed = {"results": ResultsPublished, "notifier": ResultsReleased}

    def faults(workload: Workload) -> dict[str, dict[str, str]]:
        hooks = {name: {KILL_AFTER_HANDLE: queue_name(name, event.ROUTING_KEY), "AMQP_PREFETCH": "1"}
                 for name, event in doomed.items()}
        hooks["notifier"][KILL_AFTER_HANDLE_IF] = f'"{workload.early[0].candidate_id}"'
        return hooks

    system = make_system(mongo_url, amqp_url, smtp, faults=faults)
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
    notifier_skipped = await skipped_as_handled(system.stack["notifier"].url, ResultsReleased.EVENT_TYPE)
    record("Consumer crash", PROMISE, outcome.counts(), exit_codes=exit_codes,
           parts_published=system.workload.batch.parts, parts_stored_before_restart=stored_before_restart,
           results_redeliveries_skipped=redelivered, notifier_redeliveries_skipped=notifier_skipped,
           http=system.candidates.log.statuses)

    assert exit_codes == {"results": -9, "notifier": -9}
    assert stored_before_restart >= 1, "the results process died before committing anything"
    assert redelivered >= 1, "the part committed before the kill was not redelivered"
    assert notifier_skipped >= 1, "the notifier's part committed before the kill was not redelivered and skipped"
    assert outcome.exact, outcome.counts()
    assert outcome.dead_lettered == {}


async def skipped_as_handled(service_url: str, event_type: str) -> float:
    """Deliveries of `event_type` that this service process skipped as already handled (its inbox)."""
    async with httpx.AsyncClient(timeout=10) as http:
        metrics = (await http.get(f"{service_url}/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("events_duplicate_total{") and f'event_type="{event_type}"' in line)
