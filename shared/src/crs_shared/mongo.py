"""MongoDB access through PyMongo's asyncio API. Every driver call of a service goes through
its repository and this module, so the driver is one place to change."""

from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import TypeVar

import pymongo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import (
    BulkWriteError, ConfigurationError, ConnectionFailure, ExecutionTimeout, InvalidURI, PyMongoError, WTimeoutError,
)
from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import ReadPreference
from pymongo.uri_parser import split_options
from pymongo.write_concern import WriteConcern

T = TypeVar("T")
H = TypeVar("H", bound=Hashable)

Session = AsyncClientSession

# SecantusDB (local runs, tests, benchmarks) matches every document it finds against the whole
# `$in` list, so one `$in` of k values costs about k² (1,000 ids found: 0.74 ms of its CPU an id;
# in lists of 100, 0.11 ms; of 25, 0.05 ms, where the round trips begin to cost more than they save).
# MongoDB does not care, and a few more round trips cost it little.
IN_QUERY_CHUNK = 25


def in_chunks(values: list[T], size: int = IN_QUERY_CHUNK) -> Iterator[list[T]]:
    """`values` in consecutive lists of at most `size`, for `$in` queries."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


async def find_grouped(collection: AsyncCollection, field: str, values: list[H], *, projection: dict | None = None,
                       sort: list[tuple[str, int]] | None = None) -> dict[H, list[dict]]:
    """The documents whose `field` is one of `values`, by that value (every value a key, [] for none),
    found with `$in` queries in chunks; in `sort` order within each value's list."""
    grouped: dict[H, list[dict]] = {value: [] for value in values}
    for chunk in in_chunks(values):
        cursor = collection.find({field: {"$in": chunk}}, projection)
        async for doc in cursor.sort(sort) if sort else cursor:
            grouped[doc[field]].append(doc)
    return grouped


# Stated, not left to the server: MongoDB 7 acknowledges writes with w:1 in a primary-secondary-
# arbiter set, and a write acknowledged by the primary alone can be rolled back after a failover,
# after its message was acked or its event published. A URL option replaces one of these; what
# production refuses of those is in WEAKER_OPTIONS.
CONCERNS = {"w": "majority", "readPreference": "primary", "retryWrites": True, "retryReads": True}
# Each transaction reads a majority-committed snapshot and commits to a majority.
TRANSACTION = {"read_concern": ReadConcern("majority"), "write_concern": WriteConcern("majority"),
               "read_preference": ReadPreference.PRIMARY}

# What a URL may ask for that is weaker than CONCERNS, and why production cannot have it.
WEAKER_OPTIONS = (
    ("w", lambda value: value != "majority",
     "a write acknowledged by fewer than a majority can be rolled back after a failover, after its "
     "message was acked or its event published"),
    ("journal", lambda value: value is False, "a write acknowledged before it is in the journal can be lost"),
    ("readPreference", lambda value: value != "primary",
     "a read from a secondary can miss a write just made (a registration, a log-out)"),
    ("retryWrites", lambda value: value is False, "a write cut off by an election fails instead of being retried"),
    ("retryReads", lambda value: value is False, "a read cut off by an election fails instead of being retried"),
    ("readConcernLevel", lambda value: value == "available", "a read may return orphaned documents"),
    ("directConnection", lambda value: value is True,
     "the services talk to that one member only, and never follow the primary to another"),
    ("wTimeoutMS", lambda value: value < 15_000,
     "a write-concern timeout shorter than an election reports writes that were applied as failed"),
)


def url_options(url: str) -> dict:
    """The options of a MongoDB URL, by their canonical names, read as the driver reads them (any
    case), without resolving a mongodb+srv host. InvalidURI if they cannot be read."""
    query = url.partition("?")[2]
    return dict(split_options(query)) if query else {}


def mongodb_url_problems(url: str) -> list[str]:
    """What production refuses in MONGODB_URL: options weaker than CONCERNS, each with why."""
    try:
        given = {name.lower(): value for name, value in url_options(url).items()}
    except (InvalidURI, ConfigurationError, ValueError) as exc:  # the driver says ValueError of some values
        return [f"MONGODB_URL has options the MongoDB driver cannot read ({exc})"]
    return [f"MONGODB_URL sets {name}={str(given[name.lower()]).lower()}: {why}; leave it out for the safe default"
            for name, weaker, why in WEAKER_OPTIONS if name.lower() in given and weaker(given[name.lower()])]


def create_client(url: str, *, server_selection_seconds: float | None = None) -> AsyncMongoClient:
    """A client with CONCERNS, but where the URL says otherwise. `server_selection_seconds` (how long
    an operation waits for a primary) is the driver's default (30 s) when not given."""
    given = {name.lower() for name in url_options(url)}
    defaults = {name: value for name, value in CONCERNS.items() if name.lower() not in given}
    timeouts = ({} if server_selection_seconds is None
                else {"serverSelectionTimeoutMS": int(server_selection_seconds * 1000)})
    return AsyncMongoClient(url, tz_aware=True, connectTimeoutMS=5000, **timeouts, **defaults)


async def run_in_transaction(client: AsyncMongoClient, work: Callable[[Session], Awaitable[T]]) -> T:
    """Runs `work(session)` in one transaction with the TRANSACTION concerns. The driver retries
    transient errors and unknown commits, with backoff, until the `pymongo.timeout()` budget of the
    caller (a request's, a handler's) runs out."""
    async with client.start_session() as session:
        return await session.with_transaction(work, **TRANSACTION)


def refused_writes(exc: BulkWriteError) -> list[dict]:
    """The writes of a bulk write the server refused (a duplicate key, a document too large)."""
    return (exc.details or {}).get("writeErrors", [])


def write_concern_failed(exc: BulkWriteError) -> bool:
    """Whether a bulk write was applied without the write concern's acknowledgement (a majority not
    reached in time, a primary stepping down): it may be rolled back, so it is not done."""
    return bool((exc.details or {}).get("writeConcernErrors"))


# The database could not be reached, or not within the budget of the work in hand (an outage, an
# election, a write concern not met in time): not a fault of the request or the message, so a
# request answers 503 and a handler runs again (crs_shared.http, crs_shared.messaging.consumer).
# Timeouts of the network and of server selection are ConnectionFailures already.
UNAVAILABLE = (ConnectionFailure, ExecutionTimeout, WTimeoutError)


async def ping(client: AsyncMongoClient, timeout_seconds: float = 2.0) -> bool:
    """Whether the server answers within `timeout_seconds` (a readiness probe must not hang)."""
    try:
        with pymongo.timeout(timeout_seconds):
            await client.admin.command("ping")
        return True
    except PyMongoError:
        return False
