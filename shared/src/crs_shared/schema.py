"""Each service's collections and indexes: made by its `migrate` command (a one-shot before the
services: `make run`, compose, the k8s init container), never by a service as it starts.

A service only checks, as it starts, that what it needs exists, and waits for it (a migrate still
running) or stops saying what is missing. Building indexes at startup had every replica wait for
the commit quorum on a populated collection, without limit while a voting member was down, and
crash on an index whose options had changed. Collections are made here too, never implicitly by a
first write inside a transaction, where concurrent first writers conflict on MongoDB."""

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, OperationFailure, PyMongoError

from crs_shared.config import DatabaseSettings, settings_from_environment
from crs_shared.logging import get_logger
from crs_shared.messaging.inbox import INBOX_COLLECTION, INBOX_INDEXES
from crs_shared.messaging.outbox import OUTBOX_COLLECTION, OUTBOX_INDEXES
from crs_shared.mongo import create_client

# Every collection a service uses, with its indexes ([] for none).
Schema = dict[str, list[IndexModel]]
# What makes two indexes of the same name different: their keys and these options.
INDEX_OPTIONS = ("unique", "sparse", "expireAfterSeconds", "partialFilterExpression", "collation", "hidden")
# createIndexes on a populated collection waits for this many data-bearing voting members, so a
# member down in a primary-secondary-arbiter set does not hold the build up without limit.
COMMIT_QUORUM = "majority"
POLL_SECONDS = 1.0
log = get_logger(__name__)


def service_schema(own: Schema) -> Schema:
    """A service's own collections, with the outbox and inbox every service has."""
    return {**own, OUTBOX_COLLECTION: OUTBOX_INDEXES, INBOX_COLLECTION: INBOX_INDEXES}


def _shape(index: dict) -> dict:
    """An index's key (in order) and options, as declared (`IndexModel.document`) or as the server
    lists it (`index_information()`)."""
    key = index["key"]
    return {"key": list(key.items()) if isinstance(key, dict) else [tuple(part) for part in key],
            # `is False`, not `== False`: a TTL of 0 seconds (`expireAfterSeconds: 0`) is an option.
            **{option: index[option] for option in INDEX_OPTIONS
               if index.get(option) is not None and index.get(option) is not False}}


def _described(index: dict) -> str:
    shape = _shape(index)
    return json.dumps({**shape, "key": dict(shape["key"])}, default=str)


def rebuild_command(database: str, collection: str, declared: IndexModel, existing: str | None = None) -> str:
    """The mongosh commands that replace the index `existing` (by default, the one of the declared
    name) with the one declared."""
    document = dict(declared.document)
    key, name = dict(document.pop("key")), document.pop("name")
    target = f"db.getSiblingDB({json.dumps(database)}).getCollection({json.dumps(collection)})"
    options = json.dumps({"name": name, **document})
    return f"{target}.dropIndex({json.dumps(existing or name)}); {target}.createIndex({json.dumps(key)}, {options})"


class Differences:
    """What a database lacks of a schema (`missing`, one line each), and the indexes that exist
    with other keys or options than declared (`changed`: what differs, and the rebuild command)."""

    def __init__(self) -> None:
        self.missing: list[str] = []
        self.changed: list[str] = []

    def change(self, database: str, collection: str, declared: IndexModel, found: dict) -> None:
        self.changed.append(
            f"index {declared.document['name']} of {collection} is {_described(found)}, and this version declares "
            f"{_described(declared.document)}; it stays as it is until rebuilt, with: "
            f"{rebuild_command(database, collection, declared)}")


async def compare(db: AsyncDatabase, schema: Schema) -> Differences:
    differences = Differences()
    collections = set(await db.list_collection_names())
    for collection, indexes in schema.items():
        if collection not in collections:
            differences.missing.append(f"collection {collection}")
            continue
        found = await db[collection].index_information()
        for declared in indexes:
            name = declared.document["name"]
            if name not in found:
                differences.missing.append(f"index {name} of {collection}")
            elif _shape(found[name]) != _shape(declared.document):
                differences.change(db.name, collection, declared, found[name])
    return differences


async def migrate(db: AsyncDatabase, schema: Schema, say: Callable[[str], None] = lambda _line: None) -> list[str]:
    """Creates the collections and indexes of `schema` that `db` lacks, saying each with `say`.
    An index that exists with other options is left alone: returns each such one, with the command
    that rebuilds it. Safe to run again, and by several at once."""
    collections = set(await db.list_collection_names())
    for collection in schema:
        if collection not in collections:
            with contextlib.suppress(CollectionInvalid):  # another migrate made it first
                await db.create_collection(collection)
            say(f"created collection {collection}")
    differences = await compare(db, schema)
    for collection, indexes in schema.items():
        found = await db[collection].index_information()
        for declared in indexes:
            if declared.document["name"] in found:
                continue
            say(f"creating index {declared.document['name']} of {collection}")
            try:
                await db[collection].create_indexes([declared], commitQuorum=COMMIT_QUORUM)
            except OperationFailure as exc:
                if exc.code not in (85, 86):  # IndexOptionsConflict, IndexKeySpecsConflict
                    raise
                # The same keys under another name, or made by another migrate with other options.
                keys = _shape(declared.document)["key"]
                holder = next((name for name, index in found.items() if _shape(index)["key"] == keys), None)
                differences.changed.append(f"index {declared.document['name']} of {collection} cannot be created: "
                                           f"{exc.details.get('errmsg', exc)}; rebuild it with: "
                                           f"{rebuild_command(db.name, collection, declared, holder)}")
    return differences.changed


class SchemaMissing(RuntimeError):
    pass


async def wait_for_schema(db: AsyncDatabase, schema: Schema, *, service: str, timeout: float) -> None:
    """Returns once `db` has every collection and index of `schema`, logging each index whose
    options differ; raises SchemaMissing, saying what is missing and what to run, after `timeout`."""
    deadline = time.monotonic() + timeout
    said = None
    while True:
        try:
            differences = await compare(db, schema)
            missing = differences.missing
        except PyMongoError as exc:  # the database is not there yet either
            differences, missing = None, [f"an answer from MongoDB ({exc.__class__.__name__}: {exc})"]
        if differences is not None and not missing:
            for change in differences.changed:
                log.warning("an index differs from what this version declares", change=change)
            return
        if time.monotonic() >= deadline:
            raise SchemaMissing(
                f"{service} will not start: its database {db.name!r} lacks {', '.join(missing)}. "
                f"Run `{service}-migrate` with this service's MONGODB_URL and DATABASE_NAME (make run, the compose "
                f"service {service}-migrate and the k8s init container migrate do), then start {service} again.")
        if missing != said:
            log.warning("waiting for the database's collections and indexes: run this service's migrate command",
                        migrate=f"{service}-migrate", missing=missing,
                        gives_up_in_seconds=round(deadline - time.monotonic()))
            said = missing
        await asyncio.sleep(POLL_SECONDS)


Upgrade = Callable[[AsyncDatabase, datetime], Awaitable[None]]


def migrate_command(service: str, schema: Schema, upgrade: Upgrade | None = None) -> None:
    """The `<service>-migrate` console script: creates what the service's database lacks (and runs
    `upgrade`, the service's own changes to older data), says what it did, and exits 0; 1 with the
    reason when MongoDB cannot be reached or refuses. Reads MONGODB_URL, DATABASE_NAME and the
    other database settings as the service does."""
    settings = settings_from_environment(DatabaseSettings, program=f"{service}-migrate")
    try:
        changed = asyncio.run(_migrate(settings, service, service_schema(schema), upgrade))
    except PyMongoError as exc:
        sys.exit(f"{service}-migrate: MongoDB did not answer or refused ({exc.__class__.__name__}: {exc}); "
                 "nothing is lost, run it again once MongoDB answers")
    for change in changed:
        print(f"{service}-migrate: warning: {change}", flush=True)


async def _migrate(settings: DatabaseSettings, service: str, schema: Schema, upgrade: Upgrade | None) -> list[str]:
    client = create_client(settings.mongodb_url, server_selection_seconds=settings.mongodb_server_selection_seconds)
    db = client[settings.database_for(service)]
    try:
        changed = await migrate(db, schema, lambda line: print(f"{service}-migrate: {db.name}: {line}", flush=True))
        if upgrade is not None:
            await upgrade(db, datetime.now(UTC))
        print(f"{service}-migrate: {db.name}: every collection and index is there", flush=True)
        return changed
    finally:
        await client.close()
