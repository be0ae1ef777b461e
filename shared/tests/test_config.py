"""Production mode refuses settings fit only for a developer machine, and says which and why."""

import pytest
from pydantic import Field, ValidationError

from crs_shared.config import DEV_SECRET, DatabaseSettings, ServiceSettings, settings_from_environment
from crs_shared.mongo import mongodb_url_problems

FIT = {"environment": "prod", "amqp_url": "amqp://crs:amqp-password-1@rabbitmq:5672/",
       "public_base_url": "https://results.example.org", "api_key": "a-long-random-value"}


class WithASecret(ServiceSettings):
    api_key: str = Field(DEV_SECRET, repr=False)


def refusal(**settings) -> str:
    with pytest.raises(ValidationError) as refused:
        WithASecret(**(FIT | settings))
    return str(refused.value)


def test_production_takes_settings_fit_for_it_and_dev_takes_its_defaults():
    assert WithASecret(**FIT).environment == "prod"
    assert WithASecret(environment="dev").api_key == DEV_SECRET
    assert WithASecret(**(FIT | {"environment": "dev", "api_key": "", "amqp_url": "amqp://127.0.0.1/",
                                 "public_base_url": "http://127.0.0.1:8080"})).api_key == ""


@pytest.mark.parametrize(("value", "why"), [(DEV_SECRET, "is not set"), ("", "is empty"), ("  ", "is empty")])
def test_production_refuses_a_secret_left_at_its_development_value_or_empty(value, why):
    assert f"API_KEY {why}" in refusal(api_key=value)


@pytest.mark.parametrize(("url", "why"), [
    ("amqp://guest:guest@rabbitmq:5672/", "logs in as guest"),
    ("amqps://%67uest:a-password@rabbitmq/", "logs in as guest"),
    ("amqp://rabbitmq:5672/", "has no user, so it logs in as guest"),
    ("amqp://:a-password@rabbitmq:5672/", "has no user, so it logs in as guest"),
])
def test_production_refuses_rabbitmqs_guest_user(url, why):
    assert f"AMQP_URL {why}" in refusal(amqp_url=url)


@pytest.mark.parametrize(("url", "why"), [
    ("http://results.example.org", "does not start with https://"),
    ("https://localhost:8443", "points at this machine (localhost)"),
    ("https://portal.localhost/", "points at this machine (portal.localhost)"),
    ("https://127.0.0.1:8080", "points at this machine (127.0.0.1)"),
    ("https://127.3.2.1", "points at this machine (127.3.2.1)"),
    ("https://[::1]:8080", "points at this machine (::1)"),
    ("https:///reset", "has no host name"),
])
def test_production_refuses_links_that_are_not_https_or_lead_to_this_machine(url, why):
    assert f"PUBLIC_BASE_URL {url!r} {why}" in refusal(public_base_url=url)


# Other spellings of this machine's addresses, which a browser reads as 127.0.0.1, ::1 or "any
# address here" (WHATWG URL host parsing: IPv4 shorthand, decimal, hex, octal; percent-decoding).
@pytest.mark.parametrize("url", [
    "https://127.1/", "https://2130706433/", "https://0x7f000001/", "https://0177.0.0.1/",
    "https://[::ffff:127.0.0.1]/", "https://0.0.0.0/", "https://[::]/", "https://%6c%6fcalhost/",
])
def test_production_refuses_links_to_this_machine_however_its_address_is_spelt(url):
    assert f"PUBLIC_BASE_URL {url!r} points at this machine" in refusal(public_base_url=url)


def test_every_refused_setting_is_listed_at_once_and_no_value_of_a_secret_is_shown():
    message = refusal(api_key="", amqp_url="amqp://guest:amqp-password-2@rabbitmq/", public_base_url="http://localhost")
    assert [line.split(" ")[1] for line in message.splitlines() if line.startswith("- ")] == [
        "API_KEY", "AMQP_URL", "PUBLIC_BASE_URL", "PUBLIC_BASE_URL"]
    assert "amqp-password" not in message and "input_value" not in message


def exit_message(monkeypatch, **settings) -> list[str]:
    for name, value in settings.items():
        monkeypatch.setenv(name.upper(), value)
    with pytest.raises(SystemExit) as exited:
        settings_from_environment(WithASecret)
    return str(exited.value.code).splitlines()


def test_a_process_started_with_refused_settings_ends_with_the_reasons_and_no_traceback(monkeypatch):
    assert exit_message(monkeypatch, **(FIT | {"api_key": DEV_SECRET})) == [
        f"{WithASecret.__module__.split('.')[0]} will not start:",
        "with ENVIRONMENT=prod these settings are refused:",
        "- API_KEY is not set, and its development value is in the source code for anyone to read: "
        "make one with python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"]
    assert exit_message(monkeypatch, argon2_time_cost="1")[1:] == [
        "ARGON2_TIME_COST: Input should be greater than or equal to 2"]


@pytest.mark.parametrize(("option", "why"), [
    ("w=1", "w=1: a write acknowledged by fewer than a majority can be rolled back after a failover"),
    ("w=2", "w=2: a write acknowledged by fewer than a majority"),
    ("journal=false", "journal=false: a write acknowledged before it is in the journal can be lost"),
    ("readPreference=secondaryPreferred", "readPreference=secondarypreferred: a read from a secondary can miss"),
    ("retryWrites=false", "retryWrites=false: a write cut off by an election fails"),
    ("RETRYREADS=false", "retryReads=false: a read cut off by an election fails"),
    ("directConnection=true", "directConnection=true: the services talk to that one member only"),
])
def test_production_refuses_a_mongodb_url_weaker_than_the_clients_defaults(option, why):
    url = f"mongodb://crs:mongo-password-1@db1,db2,db3/?replicaSet=rs0&{option}"
    refused = refusal(mongodb_url=url)
    assert f"MONGODB_URL sets {why}" in refused and "mongo-password-1" not in refused


def test_production_takes_a_replica_set_url_that_asks_for_the_defaults_or_more():
    url = ("mongodb://crs:mongo-password-1@db1,db2,db3/?replicaSet=rs0&w=majority&readPreference=primary"
           "&retryWrites=true")
    assert WithASecret(**(FIT | {"mongodb_url": url})).mongodb_url == url
    assert WithASecret(**(FIT | {"mongodb_url": url + "&retryWrites=false", "environment": "dev"}))


@pytest.mark.parametrize("option", ["readPreference=PRIMARY", "retrywrites=False", "journal=0", "w=-1",
                                    "directConnection=TRUE"])
def test_an_option_value_the_driver_refuses_is_a_problem_not_an_exception(option):
    problems = mongodb_url_problems(f"mongodb://db1,db2,db3/?replicaSet=rs0&{option}")
    assert problems and "MONGODB_URL" in problems[0]


def test_a_write_concern_timeout_shorter_than_an_election_is_refused_in_production():
    assert mongodb_url_problems("mongodb://db1,db2,db3/?replicaSet=rs0&wtimeoutMS=1")
    assert not mongodb_url_problems("mongodb://db1,db2,db3/?replicaSet=rs0&wtimeoutMS=30000")


@pytest.mark.parametrize("variable", ["CONSUMER_DATABASE_BUDGET_SECONDS", "MONGODB_SERVER_SELECTION_SECONDS",
                                      "REQUEST_DATABASE_BUDGET_SECONDS", "SCHEMA_WAIT_SECONDS"])
def test_an_infinite_budget_or_wait_is_refused_as_a_setting(variable, monkeypatch):
    # pymongo.timeout(inf) raises OverflowError on every call, and int(inf) crashes the client.
    monkeypatch.setenv(variable, "inf")
    with pytest.raises(ValidationError):
        DatabaseSettings()
