"""The public verification route of the real results service cannot be used to list results:
wildcards, regular expressions, an empty family name and prefixes of the name or of the number
find nothing (the same 404 as a wrong number), and a client that keeps trying gets 429."""

import httpx
import pytest

from results.config import Settings
from tests.support.direct_services import access_token, publish_result

pytestmark = pytest.mark.e2e


async def test_wildcards_and_prefixes_find_nothing_and_guessing_is_rate_limited(services, security_vhost, registered):
    token = await access_token(services, registered)
    number = (await publish_result(security_vhost, services, registered, token))["verification_number"]
    family = registered.family_name
    attempts = [
        (number, "*"), (number, ".*"), (number, "%"), (number, f"^{family[0]}"), (number, family[:2]),
        (number, f"{family[:2]}*"), (number, ""), (number[:-1], family), (number[:4], family), ("*", family),
    ]
    # Each client address has its own bucket: the genuine check comes from one address and the
    # attempts from another, whose bucket holds all of them, so every attempt gets its answer.
    assert len(attempts) <= Settings().verify_burst
    async with client_from("127.0.0.5", services) as checker, client_from("127.0.0.6", services) as prober:
        genuine = await verify(checker, number, family)
        answers = [await verify(prober, n, f) for n, f in attempts]
        guesses = 0
        while (limited := await verify(prober, "2222-3333-4444", family)).status_code != 429 and guesses < 40:
            guesses += 1

    assert genuine.status_code == 200 and genuine.json()["verification_number"] == number
    assert [a.status_code for a in answers] == [404] * len(attempts), [a.text for a in answers]
    assert len({a.text for a in answers}) == 1 and family not in answers[0].text
    assert limited.status_code == 429 and limited.json()["code"] == "too_many_requests"
    assert guesses <= 2, f"{guesses} more guesses answered once the bucket was empty"
    assert int(limited.headers["Retry-After"]) >= 1


def client_from(address: str, services) -> httpx.AsyncClient:
    """A client whose connections come from `address` (another loopback address: another client)."""
    return httpx.AsyncClient(base_url=services.url("results"), timeout=30,
                             transport=httpx.AsyncHTTPTransport(local_address=address))


async def verify(http: httpx.AsyncClient, number: str, family_name: str) -> httpx.Response:
    return await http.get(f"/api/results/verify/{number}", params={"family_name": family_name})
