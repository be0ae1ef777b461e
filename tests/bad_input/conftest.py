import asyncio
from typing import NamedTuple

import pytest

from tests.support.direct_services import Candidate, DirectServices, access_token, publish_result, register
from tests.support.infrastructure import SmtpCapture

FUZZ_CANDIDATE = Candidate("FUZZ01", "4821", "bluesky42river", "fuzz01@example.com")


class FuzzTarget(NamedTuple):
    services: DirectServices
    candidate_token: str


@pytest.fixture(scope="module")
def fuzz_vhost(rabbit_vhosts):
    with rabbit_vhosts.lent() as url:
        yield url


@pytest.fixture(scope="module")
def fuzz_target(mongo_url, fuzz_vhost, tmp_path_factory):
    """The four services on the test's SecantusDB and vhost, with one registered candidate who has a
    released result, so that the candidate's routes answer with data and not only with 401."""
    folder = tmp_path_factory.mktemp("fuzz")
    smtp = SmtpCapture(folder / "mail")
    services = DirectServices(mongo_url, fuzz_vhost, smtp.port, folder)
    # Fuzzing verification should reach its handler, not only the rate limit (tested in tests/security).
    services.extra_env["results"]["VERIFY_BURST"] = "100000"

    async def seed() -> str:
        await register(fuzz_vhost, services, FUZZ_CANDIDATE)
        token = await access_token(services, FUZZ_CANDIDATE)
        await publish_result(fuzz_vhost, services, FUZZ_CANDIDATE, token)
        return token

    try:
        services.start()
        yield FuzzTarget(services, asyncio.run(seed()))
    finally:
        services.stop()
        smtp.stop()
