"""End to end, with every piece a real process and the emails read from the SMTP server: a board
publishes entries and a candidate registers; a locked-out candidate resets the password from the
emailed link."""

import re

import httpx
import pytest

from crs_shared.messaging.contracts import EntriesPublished, Entry
from tests.support.broker import envelope_for, publish
from tests.support.stack import ServiceProcess, service_env, wait_for_entries
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e
PASSWORD, NEW_PASSWORD = "abcdef12", "fresh-pass-42"


@pytest.fixture
def services(mongo_url, amqp_url, smtp, tmp_path):
    started = []

    def start(name: str) -> ServiceProcess:
        process = ServiceProcess(name, service_env(mongo_url, amqp_url, smtp.port, name), tmp_path).start()
        started.append(process)
        return process

    yield start
    for process in reversed(started):
        process.stop()


async def register(amqp_url: str, registration: ServiceProcess, candidate_id: str, email: str,
                   request_id: str = "journey") -> httpx.Response:
    """Publishes the candidate's entry and registers once registration has it."""
    entry = Entry(candidate_id=candidate_id, secret_number="4821", given_name="Amy", family_name="Chen",
                  exam="B2_FIRST", session="2026-06", centre="GB001")
    part = EntriesPublished(board="Cambridge", batch_id=f"e2e-{candidate_id}", part=1, parts=1, entries=[entry])
    await publish(amqp_url, (envelope_for(part), part.ROUTING_KEY))
    await wait_for_entries(registration, [candidate_id])

    async with httpx.AsyncClient(base_url=registration.url) as http:
        body = {"candidate_id": candidate_id.lower(), "secret_number": "4821", "email": email,
                "password": PASSWORD, "password_confirm": PASSWORD, "accept_terms": True}
        return await http.post("/api/registration/candidates", json=body, headers={"X-Request-ID": request_id})


async def emails_to(smtp, address: str, count: int) -> list:
    async def arrived():
        messages = smtp.messages_to(address)
        return messages if len(messages) >= count else None
    return await wait_until(arrived, timeout=30, what=f"{count} emails to {address}")


async def test_entries_then_registration_then_confirmation_email(services, amqp_url, smtp):
    registration, _notifier = services("registration"), services("notifier")
    response = await register(amqp_url, registration, "E2E001", "amy.e2e@example.com", request_id="journey-1")
    assert response.status_code == 201, response.text

    [message] = await emails_to(smtp, "amy.e2e@example.com", 1)
    assert "confirmed" in message["Subject"]
    assert message["X-Correlation-ID"] == "journey-1"
    assert "E2E001" in message.get_body(("plain",)).get_content()


async def test_a_locked_out_candidate_resets_the_password_from_the_emailed_link(services, amqp_url, smtp):
    registration, auth, _notifier = services("registration"), services("auth"), services("notifier")
    email = "reset.e2e@example.com"
    assert (await register(amqp_url, registration, "E2E002", email)).status_code == 201
    await emails_to(smtp, email, 1)

    async with httpx.AsyncClient(base_url=f"{auth.url}/api/auth") as http:
        async def log_in(password: str) -> httpx.Response:
            return await http.post("/login", json={"candidate_id": "E2E002", "password": password})

        # Auth learns of the candidate from CandidateRegistered.
        first = await wait_until(lambda: _ok(log_in(PASSWORD)), what="auth to know the registered candidate")
        old_token = first.json()["access_token"]
        assert [(await log_in("wrongpassword99")).status_code for _ in range(4)] == [401, 401, 401, 423]
        assert (await log_in(PASSWORD)).status_code == 423

        assert (await http.post("/password-reminder", json={"candidate_id": "E2E002"})).status_code == 202
        messages = await emails_to(smtp, email, 3)  # confirmation, lock notice, reset link
        [reset_email] = [m for m in messages if "reset" in m["Subject"].lower()]
        token = re.search(r"/reset-password\?token=([A-Za-z0-9_-]+)", reset_email.get_body(("plain",)).get_content())[1]

        new = {"token": token, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
        assert (await http.post("/password-reset", json=new)).status_code == 204
        again = await http.post("/password-reset", json=new)
        assert again.status_code == 400 and again.json()["code"] == "invalid_token"

        # The lock is cleared, only the new password works, and the old access token is revoked.
        assert (await log_in(PASSWORD)).status_code == 401
        assert (await log_in(NEW_PASSWORD)).status_code == 200
        logout = await http.post("/logout", headers={"Authorization": f"Bearer {old_token}"})
        assert logout.status_code == 401 and logout.json()["code"] == "invalid_token"
    await emails_to(smtp, email, 4)  # and the password-changed notice


async def _ok(request) -> httpx.Response | None:
    response = await request
    return response if response.status_code == 200 else None
