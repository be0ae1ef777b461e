"""The inbox on the real database: an event's work runs once per handler, and a repeat is counted."""

import uuid
from datetime import UTC, datetime

import pytest

from crs_shared.messaging.contracts import LoginLocked
from crs_shared.messaging.inbox import handle_once
from crs_shared.mongo import create_client
from tests.support.apps import unique_database
from tests.support.broker import envelope_for
from tests.support.metrics import sample


@pytest.fixture
async def database(mongo_url):
    client = create_client(mongo_url)
    yield client, client[unique_database("inbox")]
    await client.close()


async def test_a_repeated_event_is_handled_once_per_handler_and_counted_as_a_duplicate(database):
    client, db = database
    service = f"svc{uuid.uuid4().hex[:8]}"
    envelope = envelope_for(LoginLocked(candidate_id="123456", locked_until="2026-11-25T10:30:00Z", failed_attempts=4))
    done = []

    async def handle(handler: str) -> bool:
        async def work(session) -> None:
            await db.effects.insert_one({"handler": handler}, session=session)
            done.append(handler)

        return await handle_once(client, db.inbox, service=service, handler=handler, envelope=envelope,
                                 now=datetime.now(UTC), work=work)

    assert [await handle("notify"), await handle("notify"), await handle("audit")] == [True, False, True]
    assert done == ["notify", "audit"]
    assert await db.effects.count_documents({}) == 2
    assert sample("events_duplicate_total", service=service, event_type="LoginLocked") == 1
