"""The outbox relay on the real broker and database: what it counts, and that stopping it flushes."""

import uuid
from datetime import UTC, datetime

import aio_pika
import pytest

from crs_shared.clock import SystemClock
from crs_shared.messaging.contracts import LoginLocked
from crs_shared.messaging.outbox import OutboxRelay, outbox_document
from crs_shared.messaging.publisher import EventPublisher
from crs_shared.mongo import create_client
from tests.support.apps import unique_database
from tests.support.broker import EventTap, envelope_for
from tests.support.metrics import sample
from tests.support.waiting import wait_until


def event() -> LoginLocked:
    return LoginLocked(candidate_id="123456", locked_until="2026-11-25T10:30:00Z", failed_attempts=4)


@pytest.fixture
async def outbox(mongo_url):
    client = create_client(mongo_url)
    yield client[unique_database("outbox")]["outbox"]
    await client.close()


@pytest.fixture
async def publisher(amqp_url):
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        publisher = EventPublisher(connection, timeout_seconds=5)
        await publisher.start()
        yield publisher


async def test_published_events_are_counted_by_type_and_the_backlog_is_what_is_left(amqp_url, outbox, publisher):
    service = f"svc{uuid.uuid4().hex[:8]}"
    relay = OutboxRelay(outbox, publisher, SystemClock(), service=service)
    now = datetime.now(UTC)
    routable = [envelope_for(event()) for _ in range(2)]
    unroutable = envelope_for(event())  # no queue takes this key, so the broker refuses it: stays unsent
    await outbox.insert_many([outbox_document(e, LoginLocked.ROUTING_KEY, now) for e in routable]
                             + [outbox_document(unroutable, "nobody.listens", now)])

    async with EventTap(amqp_url, LoginLocked.ROUTING_KEY) as tap:
        assert await relay.relay_once() == 2
        await wait_until(lambda: _at_least(tap.messages, 2), what="two events on the broker")
    assert sample("events_published_total", service=service, event_type="LoginLocked") == 2
    assert sample("outbox_backlog", service=service) == 1


async def test_stopping_the_relay_publishes_what_is_pending(amqp_url, outbox, publisher):
    relay = OutboxRelay(outbox, publisher, SystemClock(), service="test")
    pending = [envelope_for(event()) for _ in range(3)]
    await outbox.insert_many([outbox_document(e, LoginLocked.ROUTING_KEY, datetime.now(UTC)) for e in pending])

    async with EventTap(amqp_url, LoginLocked.ROUTING_KEY) as tap:
        assert await relay.stop() == 3
        await wait_until(lambda: _at_least(tap.messages, 3), what="three events on the broker")
    assert sorted(e.event_id for e in tap.envelopes()) == sorted(e.event_id for e in pending)
    assert await outbox.count_documents({"sent_at": None}) == 0


async def _at_least(items, count: int) -> bool:
    return len(items) >= count
