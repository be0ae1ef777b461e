"""MongoDB operators sent where the services take user input, against the real services: as JSON
objects they are refused by the schema (422), and as strings that merely look like operators they
are matched literally and find nothing. Never a 200 (which would mean the operator matched some
document), never a 5xx. The candidate used is registered, so a query that matched "any value"
would have something to match."""

import httpx
import pytest

from tests.support.direct_services import access_token, publish_result

pytestmark = pytest.mark.e2e
OPERATORS = [{"$ne": ""}, {"$gt": ""}, {"$regex": ".*"}, {"$exists": True}]
OPERATOR_STRINGS = ['{"$ne": ""}', '{"$gt": ""}', "$ne", ".*"]


def json_cases(candidate) -> list[tuple[str, dict, str]]:
    """(route, valid body, field to replace) for every field of every JSON body a query reads."""
    registration = candidate.registration()
    login = {"candidate_id": candidate.candidate_id, "password": candidate.password}
    reset = {"token": "x" * 43, "password": "fresh-secret-99y", "password_confirm": "fresh-secret-99y"}
    return [
        *[("registration:/api/registration/candidates", registration, f)
          for f in ("candidate_id", "secret_number", "email", "password")],
        *[("auth:/api/auth/login", login, f) for f in ("candidate_id", "password")],
        ("auth:/api/auth/password-reminder", {"candidate_id": candidate.candidate_id}, "candidate_id"),
        ("auth:/api/auth/password-reset", reset, "token"),
    ]


async def test_operators_as_json_values_are_refused_by_the_schema(services, registered):
    seen = {}
    async with httpx.AsyncClient(timeout=30) as http:
        for route, body, field in json_cases(registered):
            service, path = route.split(":", 1)
            for operator in OPERATORS:
                response = await http.post(services.url(service) + path, json=body | {field: operator})
                seen[(path, field, str(operator))] = response.status_code
    assert set(seen.values()) == {422}, {k: v for k, v in seen.items() if v != 422}


async def test_operator_looking_strings_match_nothing(services, registered):
    async with httpx.AsyncClient(timeout=30) as http:
        auth = services.url("auth")
        for text in OPERATOR_STRINGS:
            login = await http.post(f"{auth}/api/auth/login", json={"candidate_id": text, "password": text})
            as_password = await http.post(f"{auth}/api/auth/login",
                                          json={"candidate_id": registered.candidate_id, "password": text})
            reset = await http.post(f"{auth}/api/auth/password-reset", json={
                "token": text, "password": "fresh-secret-99y", "password_confirm": "fresh-secret-99y"})
            registration = await http.post(f"{services.url('registration')}/api/registration/candidates",
                                           json=registered.registration() | {"candidate_id": text})
            assert login.status_code == 401, text
            assert as_password.status_code in (401, 423), text  # the fourth wrong password locks
            assert reset.status_code == 400 and reset.json()["code"] == "invalid_token", text
            assert registration.status_code == 422, text  # not an ID Number's format


async def test_operators_in_paths_and_query_strings_find_nothing(services, security_vhost, registered):
    token = await access_token(services, registered)
    result = await publish_result(security_vhost, services, registered, token)
    results = services.url("results")
    candidate = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=results, timeout=30) as http:
        statuses = {
            "statement id $gt": (await http.get('/api/results/me/{"$gt": ""}/statement.pdf', headers=candidate)).status_code,
            "statement id [$ne]": (await http.get("/api/results/me/x/statement.pdf?result_id[$ne]=x",
                                                  headers=candidate)).status_code,
            "verify family_name[$gt]": (await http.get(f"/api/results/verify/{result['verification_number']}"
                                                       "?family_name[$gt]=")).status_code,
            "verify number $gt": (await http.get('/api/results/verify/{"$gt": ""}',
                                                 params={"family_name": registered.family_name})).status_code,
            "verify family $regex": (await http.get(f"/api/results/verify/{result['verification_number']}",
                                                    params={"family_name": '{"$regex": ".*"}'})).status_code,
        }
    assert statuses == {"statement id $gt": 404, "statement id [$ne]": 404, "verify family_name[$gt]": 422,
                        "verify number $gt": 404, "verify family $regex": 404}
