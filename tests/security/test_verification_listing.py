"""The public verification route of the real results service cannot be used to list results:
wildcards, regular expressions, an empty family name and prefixes of the name or of the number
find nothing (the same 404 as a wrong number), and a client that keeps trying gets 429."""

import httpx
import pytest

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
    async with httpx.AsyncClient(base_url=services.url("results"), timeout=30) as http:
        async def verify(given_number: str, family_name: str) -> httpx.Response:
            return await http.get(f"/api/results/verify/{given_number}", params={"family_name": family_name})

        genuine = await verify(number, family)
        answers = [await verify(n, f) for n, f in attempts]
        guesses = 0
        while (limited := await verify("2222-3333-4444", family)).status_code != 429 and guesses < 40:
            guesses += 1

    assert genuine.status_code == 200 and genuine.json()["verification_number"] == number
    refused = [a for a in answers if a.status_code != 429]  # the limit may already bite among the attempts
    assert refused and {a.status_code for a in refused} == {404}
    assert len({a.text for a in refused}) == 1 and family not in refused[0].text
    assert limited.status_code == 429 and limited.json()["code"] == "too_many_requests"
    assert int(limited.headers["Retry-After"]) >= 1
