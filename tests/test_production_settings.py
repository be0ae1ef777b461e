"""Every service started with ENVIRONMENT=prod refuses the settings fit only for a developer
machine (crs_shared.config): its secrets left at their development values or empty, RabbitMQ's
guest user, and links in emails that are not https or lead to this machine."""

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from tests.support.settings import service_settings

SERVICES = ("registration", "auth", "results", "notifier")
FIT = {"ENVIRONMENT": "prod", "AMQP_URL": "amqp://crs:amqp-password-1@rabbitmq:5672/",
       "PUBLIC_BASE_URL": "https://results.example.org"}
# Each service's secrets, set as production sets them.
SECRETS = {
    "registration": {"SECRET_NUMBER_KEY": "secret-number-key-1", "OPERATOR_TOKEN": "operator-token-1"},
    "auth": {"JWT_SIGNING_KEY_FILE": "/var/run/secrets/crs-auth/signing-key.pem"},
    "results": {"OPERATOR_TOKEN": "operator-token-1"},
    "notifier": {"OPERATOR_TOKEN": "operator-token-1"},
}
EACH_SECRET = [(service, name) for service, secrets in SECRETS.items() for name in secrets]


def settings_of(service: str, monkeypatch, **environment):
    """The service's settings, fit for production but for `environment` (None: not set)."""
    given = {name: value for name, value in (FIT | SECRETS[service] | environment).items() if value is not None}
    return service_settings(service, given, monkeypatch)


def refusal(service: str, monkeypatch, **environment) -> str:
    with pytest.raises(ValidationError) as refused:
        settings_of(service, monkeypatch, **environment)
    return str(refused.value)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_starts_in_production_with_its_secrets_set(service, monkeypatch):
    assert settings_of(service, monkeypatch).environment == "prod"


@pytest.mark.parametrize(("service", "secret"), EACH_SECRET)
@pytest.mark.parametrize("value", [None, "", " "], ids=["not set", "empty", "blank"])
def test_each_service_refuses_its_secrets_not_set_or_empty(service, secret, value, monkeypatch):
    if secret == "JWT_SIGNING_KEY_FILE":
        why = "- auth has no signing key (JWT_SIGNING_KEY_FILE, a PEM file, or JWT_SIGNING_KEY, PEM text)"
    else:
        why = f"- {secret} is not set" if value is None else f"- {secret} is empty"
    assert why in refusal(service, monkeypatch, **{secret: value})


@pytest.mark.parametrize(("service", "secret"), [(s, n) for s, n in EACH_SECRET if n != "JWT_SIGNING_KEY_FILE"])
def test_each_service_refuses_the_development_value_of_its_secrets(service, secret, monkeypatch):
    assert f"- {secret} is not set" in refusal(service, monkeypatch, **{secret: "dev-only-not-secret"})


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize(("setting", "value"), [
    ("AMQP_URL", "amqp://guest:guest@rabbitmq:5672/"),
    ("AMQP_URL", "amqp://rabbitmq:5672/"),
    ("PUBLIC_BASE_URL", "http://results.example.org"),
    ("PUBLIC_BASE_URL", "https://127.0.0.1:8080"),
])
def test_each_service_refuses_the_guest_user_and_links_that_are_not_https_or_lead_here(service, setting, value,
                                                                                       monkeypatch):
    assert f"- {setting} " in refusal(service, monkeypatch, **{setting: value})


def test_a_service_started_with_refused_settings_says_what_is_wrong_and_exits():
    environment = os.environ | FIT | {"OPERATOR_TOKEN": "", "AMQP_URL": "amqp://guest:amqp-password-2@rabbitmq/"}
    started = subprocess.run([sys.executable, "-m", "results"], env=environment, capture_output=True, text=True,
                             timeout=60)
    assert started.returncode == 1
    assert started.stderr.splitlines()[:4] == [
        "results will not start:",
        "with ENVIRONMENT=prod these settings are refused:",
        "- OPERATOR_TOKEN is empty, and an empty secret protects nothing: make one with "
        "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
        "- AMQP_URL logs in as guest, RabbitMQ's default user whose password everyone knows: give the services a "
        "user and password of their own, amqp://USER:PASSWORD@HOST:5672/",
    ]
    assert "Traceback" not in started.stderr and "amqp-password-2" not in started.stderr
