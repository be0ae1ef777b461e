"""Fixtures for every test tier: the real MongoDB-compatible server, broker and SMTP server."""

import os

import pytest
from pymongo import MongoClient

from tests.support.apps import NAMED_DATABASES
from tests.support.infrastructure import RabbitVhosts, SecantusServer, SmtpCapture

# Taken out of the environment, so that it reaches the tests through `mongo_url` only: settings a
# test makes, and processes it starts, would otherwise pick it up by themselves (a production
# settings test would judge the caller's URL).
GIVEN_MONGODB_URL = os.environ.pop("MONGODB_URL", None)


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory) -> str:
    """MONGODB_URL, used as given, when it is set (a replica set: docs/mongodb.md), and the
    databases the tests made there dropped at the end; else a throw-away SecantusDB of our own."""
    if GIVEN_MONGODB_URL:
        yield GIVEN_MONGODB_URL
        with MongoClient(GIVEN_MONGODB_URL, serverSelectionTimeoutMS=30_000) as client:
            for name in sorted(NAMED_DATABASES & set(client.list_database_names())):
                client.drop_database(name)
        return
    server = SecantusServer(tmp_path_factory.mktemp("secantus") / "secantus.log")
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def rabbit_vhosts() -> RabbitVhosts:
    vhosts = RabbitVhosts()
    yield vhosts
    vhosts.close()


@pytest.fixture
def amqp_url(rabbit_vhosts) -> str:
    with rabbit_vhosts.lent() as url:
        yield url


@pytest.fixture
def smtp(tmp_path) -> SmtpCapture:
    server = SmtpCapture(tmp_path / "mail")
    yield server
    server.stop()
