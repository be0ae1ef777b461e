"""Fixtures for every test tier: the real MongoDB-compatible server, broker and SMTP server."""

import pytest

from tests.support.infrastructure import RabbitVhost, SecantusServer, SmtpCapture


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory) -> str:
    server = SecantusServer(tmp_path_factory.mktemp("secantus") / "secantus.log")
    yield server.url
    server.stop()


@pytest.fixture
def amqp_url() -> str:
    vhost = RabbitVhost()
    yield vhost.url
    vhost.delete()


@pytest.fixture
def smtp(tmp_path) -> SmtpCapture:
    server = SmtpCapture(tmp_path / "mail")
    yield server
    server.stop()
