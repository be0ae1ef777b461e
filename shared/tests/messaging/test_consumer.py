"""Parsing and retry rules of the consumer runner (pure; the broker paths are tested per service)."""

import json
from dataclasses import dataclass

import pytest

from crs_shared.messaging.consumer import PermanentFailure, RetryPolicy, parse
from crs_shared.messaging.contracts import LoginLocked
from tests.support.broker import envelope_for


@dataclass
class Message:
    body: bytes


def event() -> LoginLocked:
    return LoginLocked(candidate_id="123456", locked_until="2026-11-25T10:30:00Z", failed_attempts=4)


def test_a_valid_message_parses_and_unknown_fields_are_ignored():
    body = json.loads(envelope_for(event()).to_json())
    body["payload"]["something_new"] = 1
    body["extra_envelope_field"] = True
    envelope, payload = parse(Message(json.dumps(body).encode()), LoginLocked, 10_000)
    assert payload.candidate_id == "123456" and envelope.event_type == "LoginLocked"


@pytest.mark.parametrize("mutate, reason", [
    (lambda b: b"not json", "not a valid event envelope"),
    (lambda b: json.dumps({**json.loads(b), "event_type": "Other"}).encode(), "unexpected event_type"),
    (lambda b: json.dumps({**json.loads(b), "event_version": 2}).encode(), "newer than the supported"),
    (lambda b: json.dumps({**json.loads(b), "payload": {"candidate_id": "1"}}).encode(), "breaks the LoginLocked contract"),
    (lambda b: b + b" " * 200, "over the"),
])
def test_bad_messages_are_permanent_failures_with_a_reason(mutate, reason):
    body = envelope_for(event()).to_json()
    with pytest.raises(PermanentFailure, match=reason):
        parse(Message(mutate(body)), LoginLocked, len(body) + 100)


def test_a_failure_reason_never_quotes_the_input():
    body = json.loads(envelope_for(event()).to_json())
    body["payload"]["candidate_id"] = "secret-looking-input-!!"
    with pytest.raises(PermanentFailure) as failure:
        parse(Message(json.dumps(body).encode()), LoginLocked, 10_000)
    assert "secret-looking-input" not in str(failure.value)


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(backoff_seconds=1, backoff_max_seconds=8)
    assert 0.5 <= policy.delay(0) <= 1
    assert 2 <= policy.delay(2) <= 4
    assert all(4 <= policy.delay(n) <= 8 for n in range(3, 10))
