"""End to end, with every piece a real process: a board publishes entries, a candidate registers
over HTTP, and the confirmation email reaches the SMTP server."""

import httpx
import pytest

from crs_shared.messaging.contracts import EntriesPublished, Entry
from tests.support.broker import envelope_for, publish
from tests.support.stack import ServiceProcess, service_env
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


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


async def test_entries_then_registration_then_confirmation_email(services, amqp_url, smtp):
    registration, _notifier = services("registration"), services("notifier")
    entry = Entry(candidate_id="E2E001", secret_number="4821", given_name="Amy", family_name="Chen",
                  exam="B2_FIRST", session="2026-06", centre="GB001")
    part = EntriesPublished(board="Cambridge", batch_id="e2e", part=1, parts=1, entries=[entry])
    await publish(amqp_url, (envelope_for(part), part.ROUTING_KEY))

    async with httpx.AsyncClient(base_url=registration.url) as http:
        body = {"candidate_id": "e2e001", "secret_number": "4821", "email": "amy.e2e@example.com",
                "password": "abcdef12", "password_confirm": "abcdef12", "accept_terms": True}

        async def register():
            response = await http.post("/api/registration/candidates", json=body, headers={"X-Request-ID": "journey-1"})
            return response if response.status_code != 400 else None  # entries may still be on their way
        response = await wait_until(register, what="registration to accept the published entry")
    assert response.status_code == 201, response.text

    async def email():
        return smtp.messages_to("amy.e2e@example.com")
    [message] = await wait_until(email, timeout=30, what="the confirmation email")
    assert "confirmed" in message["Subject"]
    assert message["X-Correlation-ID"] == "journey-1"
    assert "E2E001" in message.get_body(("plain",)).get_content()
