"""Each service's `migrate` console script makes its collections and indexes on a fresh database;
a service never makes them itself: started before its migrate, it waits, then serves; an index
whose options changed is reported with the command that rebuilds it, and crashes nothing."""

import importlib
import os
import subprocess
import threading

import pytest
from pymongo import ASCENDING, AsyncMongoClient

from crs_shared.schema import compare, service_schema
from crs_tools.local_stack import BIN
from tests.support.stack import SERVICES, ServiceProcess, service_env
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


def migrate(service: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / f"{service}-migrate")], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def schema_of(service: str):
    return service_schema(importlib.import_module(f"{service}.repository").INDEXES)


@pytest.fixture
async def mongo(mongo_url):
    client = AsyncMongoClient(mongo_url)
    made = []
    yield client, made
    for name in made:
        await client.drop_database(name)
    await client.close()


@pytest.mark.parametrize("service", SERVICES)
async def test_migrate_makes_every_collection_and_index_of_the_service_on_a_fresh_database(
        service, mongo, mongo_url, amqp_url):
    client, made = mongo
    env = service_env(mongo_url, amqp_url, 1025, service)
    made.append(env["DATABASE_NAME"])
    db = client[env["DATABASE_NAME"]]
    assert await db.list_collection_names() == []

    first, again = migrate(service, env), migrate(service, env)

    assert first.returncode == 0, first.stderr
    assert again.returncode == 0, again.stderr
    differences = await compare(db, schema_of(service))
    assert (differences.missing, differences.changed) == ([], [])
    assert set(await db.list_collection_names()) == set(schema_of(service))
    assert "created collection outbox" in first.stdout and "created collection" not in again.stdout


async def test_a_service_started_before_its_migrate_waits_for_it_then_serves(mongo, mongo_url, amqp_url, tmp_path):
    client, made = mongo
    process = ServiceProcess("auth", service_env(mongo_url, amqp_url, 1025, "auth"), tmp_path)
    made.append(process.env["DATABASE_NAME"])
    wiring = {"JWT_KEYS_DIR": str(tmp_path / "keys")}
    starting = threading.Thread(target=process.start, kwargs={"migrate": False, **wiring})
    starting.start()
    try:
        await wait_until(lambda: _said(process, "waiting for the database's collections and indexes"), timeout=60,
                         what="auth to say it waits for its migrate")
        assert await client[process.env["DATABASE_NAME"]].list_collection_names() == []  # it made nothing itself

        assert migrate("auth", process.env).returncode == 0
        starting.join(timeout=60)
        assert not starting.is_alive() and process.child.process.poll() is None
        assert "auth-migrate" in process.log()
    finally:
        starting.join(timeout=60)
        process.stop()


async def test_a_service_whose_migrate_never_comes_stops_saying_what_is_missing_and_what_to_run(
        mongo, mongo_url, amqp_url, tmp_path):
    _client, made = mongo
    process = ServiceProcess("results", service_env(mongo_url, amqp_url, 1025, "results"), tmp_path)
    made.append(process.env["DATABASE_NAME"])
    with pytest.raises(RuntimeError, match="the process exited with status"):
        process.start(migrate=False, SCHEMA_WAIT_SECONDS="2")
    log = process.log()
    assert f"results will not start: its database '{process.env['DATABASE_NAME']}' lacks collection results" in log
    assert "Run `results-migrate` with this service's MONGODB_URL and DATABASE_NAME" in log


async def test_a_changed_index_option_is_reported_with_its_rebuild_command_and_crashes_nothing(
        mongo, mongo_url, amqp_url, tmp_path):
    client, made = mongo
    process = ServiceProcess("auth", service_env(mongo_url, amqp_url, 1025, "auth"), tmp_path)
    database = process.env["DATABASE_NAME"]
    made.append(database)
    # Made by an older version, with reset tokens kept an hour past their expiry.
    await client[database].reset_tokens.create_index([("expires_at", ASCENDING)], name="expires_at_ttl",
                                                     expireAfterSeconds=3600)

    migrated = migrate("auth", process.env)

    assert migrated.returncode == 0, migrated.stderr
    rebuild = (f'db.getSiblingDB("{database}").getCollection("reset_tokens").dropIndex("expires_at_ttl"); '
               f'db.getSiblingDB("{database}").getCollection("reset_tokens").createIndex({{"expires_at": 1}}, '
               '{"name": "expires_at_ttl", "expireAfterSeconds": 0})')
    assert "warning: index expires_at_ttl of reset_tokens" in migrated.stdout and rebuild in migrated.stdout
    differences = await compare(client[database], schema_of("auth"))
    assert differences.missing == [] and len(differences.changed) == 1  # the rest is made

    process.start(migrate=False, JWT_KEYS_DIR=str(tmp_path / "keys"))  # ready, so it did not crash
    try:
        logged = process.log()  # JSON lines
        assert "an index differs from what this version declares" in logged and rebuild.replace('"', '\\"') in logged
    finally:
        process.stop()


async def _said(process: ServiceProcess, words: str) -> bool:
    return words in process.log()
