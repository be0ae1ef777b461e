"""The unit of work on the real database: a change commits with its events and its inbox entry,
or not at all; a transient error runs the block again; a repeated event is handled once."""

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from crs_shared.messaging.contracts import LoginLocked, PasswordChanged
from crs_shared.mongo import create_client
from crs_shared.unit_of_work import UnitsOfWork
from tests.support.broker import envelope_for
from tests.support.metrics import sample

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def database(mongo_url):
    client = create_client(mongo_url)
    db = client[f"uow_{uuid.uuid4().hex[:8]}"]
    await db.create_collection("effects")  # collections are not created inside a transaction
    await db.create_collection("inbox")
    await db.create_collection("outbox")
    yield client, db
    await client.drop_database(db.name)
    await client.close()


@pytest.fixture
def wakes() -> list[str]:
    return []


@pytest.fixture
def units(database, wakes) -> UnitsOfWork:
    client, db = database
    return UnitsOfWork(client, producer=f"svc{uuid.uuid4().hex[:8]}", outbox=db.outbox, inbox=db.inbox,
                       wake=lambda: wakes.append("relay"))


async def test_a_change_commits_with_the_events_it_publishes_and_wakes_the_relay(database, units, wakes):
    _, db = database
    attempts = units.attempts(NOW)
    async for uow in attempts:
        async with uow:
            await db.effects.insert_one({"_id": "changed"}, session=uow.session)
            uow.publish(PasswordChanged(candidate_id="123456", changed_at=NOW), correlation_id="c-1")
            assert wakes == []  # not before the commit
    assert attempts.committed and wakes == ["relay"]
    [entry] = await db.outbox.find().to_list()
    assert (entry["routing_key"], entry["created_at"].replace(tzinfo=UTC), entry["sent_at"]) == \
        (PasswordChanged.ROUTING_KEY, NOW, None)
    assert {k: entry["envelope"][k] for k in ("event_type", "producer", "correlation_id", "occurred_at")} == {
        "event_type": "PasswordChanged", "producer": units.producer, "correlation_id": "c-1",
        "occurred_at": "2026-06-01T09:00:00Z"}
    assert await db.effects.count_documents({}) == 1


async def test_a_block_that_raises_leaves_no_change_no_event_and_wakes_nothing(database, units, wakes):
    _, db = database
    attempts = units.attempts(NOW)
    with pytest.raises(LookupError):
        async for uow in attempts:
            async with uow:
                await db.effects.insert_one({"_id": "changed"}, session=uow.session)
                uow.publish(PasswordChanged(candidate_id="123456", changed_at=NOW))
                raise LookupError("refused")
    assert not attempts.committed and wakes == []
    assert await db.effects.count_documents({}) == 0 and await db.outbox.count_documents({}) == 0


async def test_a_write_conflict_runs_the_block_again_in_a_new_transaction(database, units):
    client, db = database
    await db.effects.insert_one({"_id": "counter", "n": 0})
    runs = 0
    async for uow in units.attempts(NOW):
        async with uow:
            runs += 1
            if runs == 1:  # another transaction holds an uncommitted write to the same document
                async with client.start_session() as other:
                    await other.start_transaction()
                    await db.effects.update_one({"_id": "counter"}, {"$inc": {"n": 10}}, session=other)
                    try:
                        await db.effects.update_one({"_id": "counter"}, {"$inc": {"n": 1}}, session=uow.session)
                    finally:
                        await other.commit_transaction()
            else:
                await db.effects.update_one({"_id": "counter"}, {"$inc": {"n": 1}}, session=uow.session)
    assert runs == 2
    assert (await db.effects.find_one({"_id": "counter"}))["n"] == 11


async def test_a_repeated_event_is_handled_once_per_handler_and_counted_as_a_duplicate(database, units, wakes):
    _, db = database
    envelope = envelope_for(LoginLocked(candidate_id="123456", locked_until="2026-11-25T10:30:00Z", failed_attempts=4))
    done = []

    async def handle(handler: str) -> bool:
        handling = units.handling(envelope, handler, NOW)
        async for uow in handling:
            async with uow:
                await db.effects.insert_one({"handler": handler}, session=uow.session)
                done.append(handler)
        return handling.committed

    assert [await handle("notify"), await handle("notify"), await handle("audit")] == [True, False, True]
    assert done == ["notify", "audit"]
    assert await db.effects.count_documents({}) == 2
    assert await db.inbox.count_documents({"_id": f"notify:{envelope.event_id}"}) == 1
    assert sample("events_duplicate_total", service=units.producer, event_type="LoginLocked") == 1
    assert wakes == []  # nothing was published


async def test_two_deliveries_of_one_event_at_once_are_handled_once(database, units):
    _, db = database
    envelope = envelope_for(LoginLocked(candidate_id="123456", locked_until="2026-11-25T10:30:00Z", failed_attempts=4))

    async def deliver() -> bool:
        handling = units.handling(envelope, "notify", NOW)
        async for uow in handling:
            async with uow:
                await db.effects.insert_one({"delivery": uuid.uuid4().hex}, session=uow.session)
        return handling.committed

    assert sorted(await asyncio.gather(deliver(), deliver(), deliver())) == [False, False, True]
    assert await db.effects.count_documents({}) == 1
    assert sample("events_duplicate_total", service=units.producer, event_type="LoginLocked") == 2
