"""The notifier's SMTP settings: a login needs both halves, the password is never shown, and with
ENVIRONMENT=prod it never crosses the network in clear (crs_shared.config's production rules)."""

import pytest
from pydantic import ValidationError

from tests.support.settings import service_settings
from tests.test_production_settings import FIT, SECRETS

RELAY = {"SMTP_HOST": "smtp-relay.example.org", "SMTP_PORT": "587", "SMTP_TLS": "starttls",
         "SMTP_USERNAME": "crs-notifier", "SMTP_PASSWORD": "relay-password-1"}


def settings(monkeypatch, **environment):
    given = FIT | SECRETS["notifier"] | RELAY | environment
    return service_settings("notifier", {k: v for k, v in given.items() if v is not None}, monkeypatch)


def refusal(monkeypatch, **environment) -> str:
    with pytest.raises(ValidationError) as refused:
        settings(monkeypatch, **environment)
    assert "relay-password-1" not in str(refused.value)
    return str(refused.value)


def test_a_relay_over_starttls_with_a_login_is_fit_for_production_and_its_password_is_never_shown(monkeypatch):
    relay = settings(monkeypatch)
    assert (relay.smtp_tls, relay.smtp_username) == ("starttls", "crs-notifier")
    assert relay.smtp_password.get_secret_value() == "relay-password-1"
    assert "relay-password-1" not in repr(relay) and "relay-password-1" not in str(relay.model_dump())


def test_production_refuses_a_password_sent_in_clear_to_another_machine(monkeypatch):
    assert "- SMTP_USERNAME and SMTP_PASSWORD are set but SMTP_TLS is none" in refusal(monkeypatch, SMTP_TLS="none")
    # To a relay on this machine (a sidecar), or without a login (Mailpit under `make up`), plain SMTP is allowed.
    assert settings(monkeypatch, SMTP_TLS="none", SMTP_HOST="127.0.0.1").smtp_tls == "none"
    assert settings(monkeypatch, SMTP_TLS="none", SMTP_HOST="mailpit", SMTP_PORT="1025", SMTP_USERNAME=None,
                    SMTP_PASSWORD=None).smtp_username is None


def test_production_refuses_an_empty_smtp_password(monkeypatch):
    assert "- SMTP_PASSWORD is empty" in refusal(monkeypatch, SMTP_PASSWORD="")


@pytest.mark.parametrize(("given", "missing"), [("SMTP_USERNAME", "SMTP_PASSWORD"), ("SMTP_PASSWORD", "SMTP_USERNAME")])
def test_half_a_login_is_refused_in_any_environment(monkeypatch, given, missing):
    message = refusal(monkeypatch, ENVIRONMENT="dev", **{missing: None})
    assert f"{given} is set without {missing}" in message


def test_a_missing_ca_file_and_an_unknown_tls_mode_are_refused(monkeypatch, tmp_path):
    assert "SMTP_CA_FILE" in refusal(monkeypatch, SMTP_CA_FILE=str(tmp_path / "missing.pem"))
    assert "smtp_tls\n  Input should be 'none', 'starttls' or 'tls'" in refusal(monkeypatch, SMTP_TLS="ssl")
