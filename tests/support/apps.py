"""Running a service's app in the test's own event loop, with its real lifespan."""

import uuid
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from crs_shared.schema import migrate


@asynccontextmanager
async def serving(app: FastAPI):
    """Makes the app's collections and indexes (what its `migrate` command does before a service
    starts), starts its lifespan (MongoDB, broker, consumers, relay) and yields an HTTP client for it."""
    runtime = app.state.runtime
    await migrate(runtime.db, runtime.schema)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


# Every database a test names, so that a run on a server of the caller's (MONGODB_URL) drops
# what it made, and only that (the root conftest.py).
NAMED_DATABASES: set[str] = set()


def unique_database(service: str) -> str:
    name = f"{service}_{uuid.uuid4().hex[:10]}"
    NAMED_DATABASES.add(name)
    return name


def fast_settings(settings_class, mongo_url: str, amqp_url: str, service: str, **overrides):
    """Settings for tests: the test's servers, its own database, short retries, minimal argon2 cost."""
    return settings_class(
        mongodb_url=mongo_url, amqp_url=amqp_url, database_name=unique_database(service),
        retry_backoff_seconds=0.05, retry_backoff_max_seconds=0.2, outbox_poll_seconds=0.1, **overrides,
    )
