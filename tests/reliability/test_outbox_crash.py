"""Outbox crash: the registration process is SIGKILLed after committing a registration and its
CandidateRegistered outbox entry, before publishing it. After a restart the event is delivered:
auth lets the candidate log in and the confirmation email arrives, once."""

import asyncio

from pymongo import AsyncMongoClient

from crs_shared.faults import KILL_BEFORE_PUBLISH
from crs_shared.messaging.contracts import CandidateRegistered
from tests.reliability.report import record
from tests.support.waiting import wait_until

PROMISE = "A service that dies between its commit and the publish: the event leaves after the restart, once."


async def test_an_event_committed_before_a_crash_is_delivered_after_the_restart(mongo_url, amqp_url, smtp, make_system):
    system = make_system(mongo_url, amqp_url, smtp,
                         faults={"registration": {KILL_BEFORE_PUBLISH: CandidateRegistered.EVENT_TYPE}})
    registration = system.stack["registration"]
    await system.publish_entries()
    # One candidate registers alone, so the kill leaves no other transaction open; she keeps trying
    # while registration is down.
    victim, *others = system.workload.early
    registering = asyncio.ensure_future(system.candidates.register(victim))

    async def killed() -> bool:
        return registration.child.process.poll() is not None
    await wait_until(killed, timeout=60, what="registration to kill itself before publishing")
    exit_code = registration.child.process.returncode
    unsent_at_crash = await _unsent(mongo_url, system.stack.database("registration"))
    registration.stop()
    system.stack.start_one("registration")  # without the hook

    await registering
    await system.candidates.register_all(others)
    await system.wait_for_contacts()
    traffic = system.steady_traffic()
    await system.board.publish_results()
    await traffic
    outcome = await system.ledger.settled()
    record("Outbox crash", PROMISE, outcome.counts(), exit_code=exit_code,
           outbox_entries_unsent_at_crash=unsent_at_crash, http=system.candidates.log.statuses)

    assert exit_code == -9 and "fault injection: killing this process" in registration.log()
    assert unsent_at_crash >= 1, "nothing was committed and left unpublished when the process died"
    assert outcome.exact, outcome.counts()
    assert outcome.dead_lettered == {}


async def _unsent(mongo_url: str, database: str) -> int:
    client = AsyncMongoClient(mongo_url)
    try:
        return await client[database].outbox.count_documents(
            {"sent_at": None, "envelope.event_type": CandidateRegistered.EVENT_TYPE})
    finally:
        await client.close()
