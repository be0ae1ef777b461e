"""crs_shared.schema against the real database: migrate makes what is missing and leaves a changed
index alone, saying how to rebuild it; a starting service waits for what it lacks."""

import asyncio

import pytest
from pymongo import ASCENDING, IndexModel

from crs_shared.mongo import create_client
from crs_shared.schema import SchemaMissing, compare, migrate, wait_for_schema
from tests.support.apps import unique_database

SCHEMA = {
    "plain": [],
    "things": [IndexModel([("owner", ASCENDING), ("at", ASCENDING)]),
               IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at_ttl")],
}


@pytest.fixture
async def db(mongo_url):
    client = create_client(mongo_url)
    db = client[unique_database("schema")]
    yield db
    await client.drop_database(db.name)
    await client.close()


async def test_migrate_makes_every_collection_even_one_without_indexes_and_every_index(db):
    said = []
    assert await migrate(db, SCHEMA, said.append) == []
    assert set(await db.list_collection_names()) == {"plain", "things"}
    assert set(await db.things.index_information()) == {"_id_", "owner_1_at_1", "expires_at_ttl"}
    assert said == ["created collection plain", "created collection things", "creating index owner_1_at_1 of things",
                    "creating index expires_at_ttl of things"]
    differences = await compare(db, SCHEMA)
    assert (differences.missing, differences.changed) == ([], [])


async def test_a_collection_another_migrate_made_meanwhile_is_no_error(db, monkeypatch):
    await migrate(db, SCHEMA)

    async def listed_before_the_other_made_them():
        return []
    monkeypatch.setattr(db, "list_collection_names", listed_before_the_other_made_them)

    assert await migrate(db, SCHEMA) == []


async def test_an_index_whose_options_changed_is_left_alone_and_reported_with_the_command_that_rebuilds_it(db):
    await db.things.create_index([("expires_at", ASCENDING)], name="expires_at_ttl", expireAfterSeconds=60)

    [changed] = await migrate(db, SCHEMA)

    assert "index expires_at_ttl of things is" in changed
    assert '"expireAfterSeconds": 60}, and this version declares' in changed
    assert changed.endswith(
        f'db.getSiblingDB("{db.name}").getCollection("things").dropIndex("expires_at_ttl"); '
        f'db.getSiblingDB("{db.name}").getCollection("things").createIndex({{"expires_at": 1}}, '
        '{"name": "expires_at_ttl", "expireAfterSeconds": 0})')
    assert (await db.things.index_information())["expires_at_ttl"]["expireAfterSeconds"] == 60
    assert "owner_1_at_1" in await db.things.index_information()


async def test_the_same_keys_under_another_name_are_reported_not_crashed_on(db):
    await db.things.create_index([("owner", ASCENDING), ("at", ASCENDING)], name="by_owner")

    changed = await migrate(db, SCHEMA)

    assert len(changed) == 1 and "index owner_1_at_1 of things cannot be created" in changed[0]
    assert changed[0].endswith('.dropIndex("by_owner"); '
                               f'db.getSiblingDB("{db.name}").getCollection("things").createIndex('
                               '{"owner": 1, "at": 1}, {"name": "owner_1_at_1"})')


async def test_a_starting_service_waits_for_what_it_lacks_and_goes_on_once_it_is_made(db):
    waiting = asyncio.create_task(wait_for_schema(db, SCHEMA, service="svc", timeout=30))
    await asyncio.sleep(0)
    assert not waiting.done()
    await migrate(db, SCHEMA)
    await asyncio.wait_for(waiting, timeout=10)
    assert set(await db.list_collection_names()) == {"plain", "things"}


async def test_a_starting_service_gives_up_saying_what_is_missing_and_what_to_run(db):
    await migrate(db, {"plain": []})
    with pytest.raises(SchemaMissing) as missing:
        await wait_for_schema(db, SCHEMA, service="svc", timeout=0.5)
    assert str(missing.value).startswith(f"svc will not start: its database '{db.name}' lacks collection things.")
    assert "Run `svc-migrate` with this service's MONGODB_URL and DATABASE_NAME" in str(missing.value)
    assert await db.list_collection_names() == ["plain"]  # it made nothing itself


async def test_a_plain_index_where_a_ttl_of_0_seconds_is_declared_is_reported(db):
    # expireAfterSeconds=0 (every expires_at TTL) is an option, though 0 == False: without it
    # nothing in the collection would ever expire.
    schema = {"things": [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at_ttl")]}
    await db.create_collection("things")
    await db.things.create_index([("expires_at", ASCENDING)], name="expires_at_ttl")
    assert (await compare(db, schema)).changed
    assert await migrate(db, schema)
