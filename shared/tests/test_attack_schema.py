"""Attacks on crs_shared.schema (issue 34): an index declared with expireAfterSeconds=0 (every
expires_at TTL of auth, registration and the token revocations) is not told from a plain index."""

import contextlib
import json
import re

import pytest
from pymongo import ASCENDING, IndexModel
from pymongo.errors import OperationFailure

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


UNIQUE = {"results": [IndexModel([("verification_number", ASCENDING)], unique=True, name="verification_number_unique")]}


def run_mongosh_rebuild(command: str):
    """Runs the reported `...dropIndex(N); ...createIndex(K, O)` with PyMongo, as mongosh would."""
    drop = re.search(r'\.dropIndex\((".*?")\);', command)
    create = re.search(r"\.createIndex\((\{.*?\}), (\{.*\})\)$", command)
    assert drop and create, command
    return json.loads(drop.group(1)), list(json.loads(create.group(1)).items()), json.loads(create.group(2))


async def test_attack_the_reported_rebuild_command_never_turns_a_changed_index_into_a_missing_one(db):
    # An index of the declared name exists without `unique` (so duplicates could get in), on a
    # populated collection. migrate reports the change; a running service carries on with a
    # warning. The reported fix drops the index first, then fails to create the unique one: the
    # index is now missing, and every service that starts afterwards waits SCHEMA_WAIT_SECONDS and
    # refuses to start ("lacks index ..."), while queries scan the collection.
    await db.create_collection("results")
    await db.results.insert_many([{"verification_number": "V1"}, {"verification_number": "V1"}])
    await db.results.create_index([("verification_number", ASCENDING)], name="verification_number_unique")
    [changed] = await migrate(db, UNIQUE)
    name, keys, options = run_mongosh_rebuild(changed)

    await db.results.drop_index(name)
    with contextlib.suppress(OperationFailure):
        await db.results.create_index(keys, **options)

    assert (await compare(db, UNIQUE)).missing == [], "following the reported command left the index missing"
