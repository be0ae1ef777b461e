"""POST /api/registration/candidates against real MongoDB and RabbitMQ."""

import json

from crs_shared.messaging.contracts import CandidateRegistered
from registration.repository import CANDIDATES
from services.registration.tests.conftest import body, entry, new_candidate_id, publish_entries
from tests.support.broker import EventTap
from tests.support.waiting import wait_until


async def test_registration_stores_the_candidate_and_publishes_candidate_registered(client, amqp_url):
    candidate_id = new_candidate_id()
    await publish_entries(amqp_url, client, [entry(candidate_id)])
    async with EventTap(amqp_url, "candidate.registered") as tap:
        response = await client.post("/api/registration/candidates", json=body(candidate_id.lower()),
                                     headers={"X-Request-ID": "req-123"})
        assert response.status_code == 201, response.text
        answer = response.json()
        assert answer["candidate_id"] == candidate_id
        assert answer["email"] == "amy@example.com"
        assert "registered_at" in answer and "password" not in response.text
        assert response.headers["X-Request-ID"] == "req-123"

        await wait_until(lambda: _async(len(tap.messages) >= 1), what="CandidateRegistered")
    message = tap.messages[0]
    envelope = json.loads(message.body)
    assert message.type == "CandidateRegistered" and message.message_id == envelope["event_id"]
    assert message.correlation_id == "req-123" == envelope["correlation_id"]
    assert message.content_type == "application/json" and message.delivery_mode == 2
    payload = CandidateRegistered.model_validate(envelope["payload"])
    assert payload.candidate_id == candidate_id and payload.given_name == "Amy" and payload.family_name == "Chen"
    assert payload.password_hash.startswith("$argon2id$")


async def test_an_email_address_with_a_non_ascii_local_part_is_refused_by_rule(client):
    response = await client.post("/api/registration/candidates", json=body("123456", email="josé@example.com"))
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"][-1] == "email" and error["type"] == "email_local_part_not_ascii"
    assert "before the @" in error["msg"]


async def test_an_internationalised_domain_is_stored_answered_and_published_in_its_ascii_form(client, amqp_url):
    candidate_id = new_candidate_id()
    await publish_entries(amqp_url, client, [entry(candidate_id)])
    async with EventTap(amqp_url, "candidate.registered") as tap:
        response = await client.post("/api/registration/candidates", json=body(candidate_id, email="gus@exämple.com"))
        assert response.status_code == 201, response.text
        assert response.json()["email"] == "gus@xn--exmple-cua.com"
        await wait_until(lambda: _async(len(tap.messages) >= 1), what="CandidateRegistered")
    payload = CandidateRegistered.model_validate(json.loads(tap.messages[0].body)["payload"])
    assert payload.email == "gus@xn--exmple-cua.com"
    stored = await client.app.state.runtime.db[CANDIDATES].find_one({"_id": candidate_id})
    assert stored["email"] == "gus@xn--exmple-cua.com"


async def test_an_id_registers_only_once(client, amqp_url):
    candidate_id = new_candidate_id()
    await publish_entries(amqp_url, client, [entry(candidate_id)])
    assert (await client.post("/api/registration/candidates", json=body(candidate_id))).status_code == 201
    again = await client.post("/api/registration/candidates", json=body(candidate_id, email="other@example.com"))
    assert again.status_code == 409
    assert again.json()["code"] == "already_registered"


async def test_wrong_secret_and_unknown_id_get_the_same_answer(client, amqp_url):
    candidate_id = new_candidate_id()
    await publish_entries(amqp_url, client, [entry(candidate_id)])
    wrong_secret = await client.post("/api/registration/candidates", json=body(candidate_id, secret_number="1111"))
    unknown_id = await client.post("/api/registration/candidates", json=body(new_candidate_id()))
    assert wrong_secret.status_code == unknown_id.status_code == 400
    assert wrong_secret.json() == unknown_id.json()
    assert wrong_secret.json()["code"] == "id_secret_mismatch"
    assert "48 hours" in wrong_secret.json()["detail"]


async def test_the_secret_is_checked_before_saying_an_id_is_registered(client, amqp_url):
    candidate_id = new_candidate_id()
    await publish_entries(amqp_url, client, [entry(candidate_id)])
    assert (await client.post("/api/registration/candidates", json=body(candidate_id))).status_code == 201
    probe = await client.post("/api/registration/candidates", json=body(candidate_id, secret_number="0000"))
    assert probe.status_code == 400 and probe.json()["code"] == "id_secret_mismatch"


async def test_a_unicode_password_is_accepted(client, amqp_url):
    candidate_id = new_candidate_id()
    await publish_entries(amqp_url, client, [entry(candidate_id)])
    password = "密碼測試abcdef12é"
    response = await client.post("/api/registration/candidates",
                                 json=body(candidate_id, password=password, password_confirm=password))
    assert response.status_code == 201, response.text


async def test_malformed_json_is_a_clear_422(client):
    response = await client.post("/api/registration/candidates", content=b'{"candidate_id": "1234',
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


async def test_each_missing_field_is_named(client):
    response = await client.post("/api/registration/candidates", json={})
    assert response.status_code == 422
    missing = {tuple(e["loc"])[-1] for e in response.json()["detail"] if e["type"] == "missing"}
    assert missing == {"candidate_id", "secret_number", "email", "password", "password_confirm", "accept_terms"}


async def test_every_failing_rule_is_its_own_entry_and_no_input_is_echoed(client):
    response = await client.post("/api/registration/candidates", json=body(
        "12", secret_number="48a1", email="not-an-email", password="short1", password_confirm="other", accept_terms=False))
    assert response.status_code == 422
    rules = {(e["loc"][-1], e["type"]) for e in response.json()["detail"]}
    assert {("candidate_id", "candidate_id_format"), ("secret_number", "secret_number_format"),
            ("password", "password_too_short"), ("password", "password_too_few_letters"),
            ("password", "password_too_few_digits"), ("accept_terms", "terms_not_accepted")} <= rules
    assert any(field == "email" for field, _ in rules)
    assert "short1" not in response.text and all("input" not in e for e in response.json()["detail"])


async def test_an_over_long_password_is_refused_by_rule(client):
    password = "abcdefgh12" * 13  # 130 characters
    response = await client.post("/api/registration/candidates", json=body("123456", password=password, password_confirm=password))
    assert response.status_code == 422
    assert ("password", "password_too_long") in {(e["loc"][-1], e["type"]) for e in response.json()["detail"]}


async def test_a_common_password_and_a_mismatched_confirmation_are_refused(client):
    common = await client.post("/api/registration/candidates", json=body("123456", password="password12", password_confirm="password12"))
    assert common.status_code == 422 and common.json()["detail"][0]["type"] == "password_too_common"
    mismatch = await client.post("/api/registration/candidates", json=body("123456", password_confirm="abcdef13"))
    assert mismatch.status_code == 422 and mismatch.json()["detail"][0]["loc"][-1] == "password_confirm"


async def test_operator_injection_in_the_candidate_id_is_a_422(client):
    response = await client.post("/api/registration/candidates", json=body({"$ne": ""}))
    assert response.status_code == 422


async def test_health_readiness_and_metrics(client):
    assert (await client.get("/healthz")).json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"mongodb": True, "rabbitmq": True}
    metrics = await client.get("/metrics")
    assert "http_request_duration_seconds" in metrics.text


async def _async(value):
    return value
