"""Attacks on crs_shared.schema (issue 34): an index declared with expireAfterSeconds=0 (every
expires_at TTL of auth, registration and the token revocations) is not told from a plain index."""

import pytest
from pymongo import ASCENDING, IndexModel

from crs_shared.mongo import create_client
from crs_shared.schema import compare, migrate
from tests.support.apps import unique_database

SCHEMA = {"things": [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at_ttl")]}



@pytest.fixture
async def db(mongo_url):
    client = create_client(mongo_url)
    db = client[unique_database("schema")]
    yield db
    await client.drop_database(db.name)
    await client.close()


async def test_attack_a_plain_index_where_a_ttl_of_0_seconds_is_declared_is_reported(db):
    # The index exists under the declared name, but without its TTL (made by hand, by an older
    # version, or its TTL removed): nothing ever expires. `_shape` drops options equal to False,
    # and 0 == False, so the declared expireAfterSeconds=0 vanishes from the comparison.
    await db.create_collection("things")
    await db.things.create_index([("expires_at", ASCENDING)], name="expires_at_ttl")
    assert "expireAfterSeconds" not in (await db.things.index_information())["expires_at_ttl"]

    differences = await compare(db, SCHEMA)
    changed = await migrate(db, SCHEMA)

    assert differences.changed, "a TTL index that does not expire anything is reported as matching"
    assert changed, "migrate says nothing of the missing TTL"
