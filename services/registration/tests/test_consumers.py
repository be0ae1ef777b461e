"""EntriesPublished -> the roster, through the real broker: idempotent, and poison goes to the DLQ."""

import hashlib

from crs_shared.messaging.definitions import dead_letter_queue_name, queue_name
from services.registration.tests.conftest import entries_part, entry, new_candidate_id
from tests.support.broker import drain, envelope_for, publish, publish_raw
from tests.support.metrics import sample
from tests.support.waiting import wait_until

KEY = "entries.published"


async def test_entries_are_stored_with_the_secret_number_hashed(client, amqp_url):
    candidate_id = new_candidate_id()
    await publish(amqp_url, (envelope_for(entries_part([entry(candidate_id, secret="7319")])), KEY))
    repository = client.app.state.dependencies.repository
    stored = await wait_until(lambda: repository.find_entry(candidate_id), what="the entry")
    assert stored["given_name"] == "Amy" and stored["exam"] == "B2_FIRST"
    # The digest is 64 hex digits, which hold "7319" once in about a thousand entries: it is looked
    # at on its own.
    assert "7319" not in str({k: v for k, v in stored.items() if k != "secret_digest"})
    assert "secret_number" not in stored
    assert len(stored["secret_digest"]) == 64 and stored["secret_digest"] != hashlib.sha256(b"7319").hexdigest()


async def test_a_resent_part_and_a_redelivered_event_change_nothing(client, amqp_url):
    ids = [new_candidate_id() for _ in range(3)]
    part = entries_part([entry(i) for i in ids], batch_id="resend")
    first = envelope_for(part)
    handled_before = sample("events_consumed_total", service="registration", event_type="EntriesPublished")
    await publish(amqp_url, (first, KEY), (first, KEY), (envelope_for(part), KEY))
    await wait_until(lambda: _at_least(sample("events_consumed_total", service="registration",
                                              event_type="EntriesPublished") - handled_before, 3),
                     what="three deliveries handled")
    db = client.app.state.runtime.db
    assert await db.entries.count_documents({"_id": {"$in": ids}}) == 3
    assert await db.entry_parts.count_documents({"batch_id": "resend"}) == 1
    assert await db.inbox.count_documents({"_id": {"$regex": f"^store_entries:{first.event_id}$"}}) == 1


async def test_poison_messages_are_dead_lettered_and_the_queue_keeps_flowing(client, amqp_url):
    await publish_raw(amqp_url, KEY, b"this is not json", message_id="poison-1")
    await publish_raw(amqp_url, KEY, b'{"event_type": "EntriesPublished"}', message_id="poison-2")
    candidate_id = new_candidate_id()
    await publish(amqp_url, (envelope_for(entries_part([entry(candidate_id)])), KEY))

    repository = client.app.state.dependencies.repository
    await wait_until(lambda: repository.find_entry(candidate_id), what="the good entry after the poison")
    dlq = dead_letter_queue_name(queue_name("registration", KEY))

    async def dead_lettered():
        got.extend(await drain(amqp_url, dlq, timeout=0.2))
        return len(got) >= 2
    got = []
    await wait_until(dead_lettered, what="both poison messages in the dead-letter queue")
    assert sorted(m.message_id for m in got) == ["poison-1", "poison-2"]


async def _at_least(value, target):
    return value >= target
