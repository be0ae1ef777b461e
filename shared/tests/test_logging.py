import json

import structlog

from crs_shared.logging import configure_logging, current_correlation_id, get_logger


def test_lines_carry_service_and_correlation_id_and_never_a_secret(capsys):
    configure_logging("registration", json=True)
    with structlog.contextvars.bound_contextvars(correlation_id="corr-1"):
        get_logger().info("something happened", candidate_id="123456", password="hunter22",
                          password_hash="$argon2id$x", reset_token="tok", secret_number="4821")
        assert current_correlation_id() == "corr-1"
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["service"] == "registration" and line["correlation_id"] == "corr-1"
    assert line["candidate_id"] == "123456"
    assert not {"password", "password_hash", "reset_token", "secret_number"} & set(line)


def test_without_a_request_a_fresh_correlation_id_is_made():
    configure_logging("registration")
    assert current_correlation_id() != current_correlation_id()
