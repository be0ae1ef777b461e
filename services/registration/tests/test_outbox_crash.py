"""The registration process dies between the commit and the publish; after a restart the
CandidateRegistered still arrives, exactly once."""

import httpx
from pymongo import AsyncMongoClient

from crs_shared.messaging.contracts import CandidateRegistered
from services.registration.tests.conftest import body, entries_part, entry, new_candidate_id
from tests.support.broker import EventTap, envelope_for, publish
from tests.support.stack import ServiceProcess, service_env, wait_for_entries
from tests.support.waiting import value, wait_until


async def test_an_event_committed_before_a_crash_is_published_after_the_restart(mongo_url, amqp_url, smtp, tmp_path):
    env = service_env(mongo_url, amqp_url, smtp.port, "registration")
    registration = ServiceProcess("registration", env, tmp_path)
    # The relay is off, so the process commits the registration and its outbox entry and publishes nothing.
    registration.start(OUTBOX_RELAY_ENABLED="false")
    mongo = AsyncMongoClient(mongo_url)
    outbox = mongo[env["DATABASE_NAME"]].outbox
    try:
        candidate_id = new_candidate_id()
        await publish(amqp_url, (envelope_for(entries_part([entry(candidate_id)])), "entries.published"))
        await wait_for_entries(registration, [candidate_id])
        async with EventTap(amqp_url, CandidateRegistered.ROUTING_KEY) as tap:
            async with httpx.AsyncClient(base_url=registration.url) as http:
                response = await http.post("/api/registration/candidates",
                                           json=body(candidate_id, email="crash@example.com"))
                assert response.status_code == 201, response.text

            pending = await outbox.find_one({"envelope.payload.candidate_id": candidate_id})
            assert pending is not None and pending["sent_at"] is None
            registration.kill()  # SIGKILL: no graceful flush

            registration.start()
            await wait_until(lambda: _sent(outbox, pending["_id"]), what="the outbox entry to be marked sent")
            await wait_until(lambda: value(len(tap.messages) >= 1), what="CandidateRegistered on the broker")
        assert [m.message_id for m in tap.messages] == [pending["_id"]]
    finally:
        registration.stop()
        await mongo.close()


async def _sent(outbox, event_id):
    doc = await outbox.find_one({"_id": event_id})
    return doc is not None and doc["sent_at"] is not None
