"""MongoDB access through PyMongo's asyncio API. Every driver call of a service goes through
its repository and this module, so the driver is one place to change."""

from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import TypeVar

import pymongo
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

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


def create_client(url: str) -> AsyncMongoClient:
    return AsyncMongoClient(url, tz_aware=True, serverSelectionTimeoutMS=5000, connectTimeoutMS=5000)


async def run_in_transaction(client: AsyncMongoClient, work: Callable[[Session], Awaitable[T]]) -> T:
    """Runs `work(session)` in one transaction; the driver retries transient errors and unknown commits."""
    async with client.start_session() as session:
        return await session.with_transaction(work)


async def ensure_indexes(db: AsyncDatabase, indexes: dict[str, list[IndexModel]]) -> None:
    for collection, models in indexes.items():
        if models:
            await db[collection].create_indexes(models)


async def ping(client: AsyncMongoClient, timeout_seconds: float = 2.0) -> bool:
    """Whether the server answers within `timeout_seconds` (a readiness probe must not hang)."""
    try:
        with pymongo.timeout(timeout_seconds):
            await client.admin.command("ping")
        return True
    except PyMongoError:
        return False
