import json
import logging

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


def test_a_library_warning_is_a_line_like_ours(capsys):
    configure_logging("notifier", json=True)
    library = logging.getLogger("aio_pika.robust_connection")
    with structlog.contextvars.bound_contextvars(correlation_id="corr-2"):
        library.info("reconnected")  # below WARNING: not written
        try:
            raise ConnectionError("broker went away")
        except ConnectionError:
            library.warning("connection lost to %s", "127.0.0.1:5672", exc_info=True)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    line = json.loads(lines[0])
    assert line["service"] == "notifier" and line["correlation_id"] == "corr-2"
    assert line["level"] == "warning" and line["logger"] == "aio_pika.robust_connection"
    assert line["event"] == "connection lost to 127.0.0.1:5672"
    assert "ConnectionError: broker went away" in line["exception"]


def test_setting_up_again_keeps_one_handler_for_library_lines(capsys):
    configure_logging("auth", json=True)
    configure_logging("auth", json=True)
    logging.getLogger("pymongo.topology").error("server selection failed")
    lines = capsys.readouterr().err.strip().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["server selection failed"]
