"""Through the real processes, the three routes that take an ID Number answer a known and an
unknown ID alike, in status, body and headers (all but the request id and the date): registration
(unknown ID / an already registered ID with a wrong secret number), log-in (unknown ID / wrong
password) and the reminder. Each route's body alone is also compared in its service's
own tests; this adds the headers and the real processes."""

import httpx
import pytest

from tests.security.conftest import new_candidate

pytestmark = pytest.mark.e2e
VARYING = {"x-request-id", "date"}


def shape(response: httpx.Response) -> tuple:
    return response.status_code, response.text, sorted((k, v) for k, v in response.headers.items() if k not in VARYING)


async def test_a_known_id_answers_like_an_unknown_one(services, registered):
    unknown = new_candidate("U")
    wrong_secret = f"{(int(registered.secret_number) + 1) % 10_000:04d}"
    async with httpx.AsyncClient(timeout=30) as http:
        async def register(body: dict) -> httpx.Response:
            return await http.post(f"{services.url('registration')}/api/registration/candidates", json=body)

        async def auth(path: str, body: dict) -> httpx.Response:
            return await http.post(f"{services.url('auth')}/api/auth/{path}", json=body)

        registrations = [await register(unknown.registration()),
                         await register(registered.registration() | {"secret_number": wrong_secret})]
        logins = [await auth("login", {"candidate_id": unknown.candidate_id, "password": registered.password}),
                  await auth("login", {"candidate_id": registered.candidate_id, "password": unknown.password})]
        reminders = [await auth("password-reminder", {"candidate_id": unknown.candidate_id}),
                     await auth("password-reminder", {"candidate_id": registered.candidate_id})]

    for name, (first, second) in {"registration": registrations, "log-in": logins, "reminder": reminders}.items():
        assert shape(first) == shape(second), name
    assert [r.status_code for r in (registrations[0], logins[0], reminders[0])] == [400, 401, 202]


async def test_a_known_id_and_an_unknown_one_lock_alike(services, registered):
    unknown = new_candidate("U")
    async with httpx.AsyncClient(timeout=30) as http:
        async def five_wrong_passwords(candidate_id: str) -> list[httpx.Response]:
            body = {"candidate_id": candidate_id, "password": "not-the-password-1"}
            return [await http.post(f"{services.url('auth')}/api/auth/login", json=body) for _ in range(5)]

        known_answers = await five_wrong_passwords(registered.candidate_id)
        unknown_answers = await five_wrong_passwords(unknown.candidate_id)

    assert [r.status_code for r in known_answers] == [401, 401, 401, 423, 423]
    for known, unknown_answer in zip(known_answers, unknown_answers, strict=True):
        assert shape(known) == shape(unknown_answer)
