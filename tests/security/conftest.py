import asyncio
import uuid
from pathlib import Path

import pytest

from tests.support.direct_services import Candidate, DirectServices, register
from tests.support.infrastructure import SmtpCapture


@pytest.fixture(scope="package")
def security_vhost(rabbit_vhosts):
    with rabbit_vhosts.lent() as url:
        yield url


@pytest.fixture(scope="package")
def security_smtp(tmp_path_factory):
    server = SmtpCapture(tmp_path_factory.mktemp("security-mail"))
    yield server
    server.stop()


@pytest.fixture(scope="package")
def services(mongo_url, security_vhost, security_smtp, tmp_path_factory) -> DirectServices:
    """The four services as processes, shared by the attacks of this package."""
    services = DirectServices(mongo_url, security_vhost, security_smtp.port, tmp_path_factory.mktemp("security"))
    services.start()
    yield services
    services.stop()


def new_candidate(prefix: str = "S") -> Candidate:
    candidate_id = prefix + uuid.uuid4().hex[:7].upper()
    password = f"riverbank{uuid.uuid4().hex[:10]}42"  # enough letters and digits whatever the hex holds
    return Candidate(candidate_id, f"{uuid.uuid4().int % 10_000:04d}", password, f"{candidate_id.lower()}@example.com")


@pytest.fixture
def registered(services, security_vhost) -> Candidate:
    """A candidate of the test's own, registered through the real services, whom auth now knows."""
    candidate = new_candidate()
    asyncio.run(register(security_vhost, services, candidate))
    return candidate


def auth_keys_dir(services: DirectServices) -> Path:
    return Path(services.extra_env["auth"]["JWT_KEYS_DIR"])
