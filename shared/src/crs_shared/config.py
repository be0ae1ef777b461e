"""Settings every service has. Each service subclasses `ServiceSettings` and adds its own knobs.

Every default works on a developer machine. With ENVIRONMENT=prod a service refuses to start on a
setting fit only for one: the rules are the functions below, and a service adds the rules of its
own settings by extending `production_problems`. A secret is a field hidden from repr
(`Field(..., repr=False)`)."""

import ipaddress
import socket
import sys
from typing import Literal, TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crs_shared.mongo import mongodb_url_problems

DEV_SECRET = "dev-only-not-secret"
MAKE_A_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


class DatabaseSettings(BaseSettings):
    """What a service's process, and its `migrate` command, need to reach its MongoDB database."""

    # Errors never show the input: it holds the secrets and the credentials in the URLs.
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, hide_input_in_errors=True)

    environment: Literal["dev", "prod"] = "dev"
    mongodb_url: str = "mongodb://127.0.0.1:27017"
    database_name: str | None = None  # defaults to the service's name
    # How long an operation waits for a primary. An election takes about 12 s: background work
    # (the outbox relay, the dispatcher) rides it out rather than failing and waiting for its next pass.
    mongodb_server_selection_seconds: float = Field(15.0, gt=0, allow_inf_nan=False)
    # The whole database work of one HTTP request (every operation and transaction retry in it):
    # past it the request answers 503 with Retry-After. It must stay under the gateway's
    # proxy_read_timeout (30 s, deploy/gateway/nginx.conf.template), leaving room for the rest of
    # the request (a password hash), so the candidate gets our 503 and not the gateway's 504.
    request_database_budget_seconds: float = Field(20.0, gt=0, lt=30, allow_inf_nan=False)
    # The database work of one event handler: past it the handler runs again in place, as in an
    # outage, without using up one of the message's deliveries. Long enough for a results part of
    # thousands of rows on a slow server, and for an election in the middle of it.
    consumer_database_budget_seconds: float = Field(120.0, gt=0, allow_inf_nan=False)
    # How long a starting service waits for its collections and indexes (made by its `migrate`
    # command) before it gives up and says which are missing.
    schema_wait_seconds: float = Field(120.0, gt=0, allow_inf_nan=False)

    def database_for(self, service: str) -> str:
        return self.database_name or service

    def production_problems(self) -> list[str]:
        """What ENVIRONMENT=prod refuses in these settings, one line per problem."""
        return mongodb_url_problems(self.mongodb_url)

    @model_validator(mode="after")
    def _fit_for_production(self):
        if self.environment == "prod" and (problems := self.production_problems()):
            raise ValueError("with ENVIRONMENT=prod these settings are refused:\n"
                             + "\n".join(f"- {problem}" for problem in problems))
        return self


class ServiceSettings(DatabaseSettings):
    host: str = "127.0.0.1"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    public_base_url: str = "http://127.0.0.1:8080"

    log_json: bool = False
    log_level: str = "INFO"

    # Messaging
    amqp_prefetch: int = 32
    retry_backoff_seconds: float = 0.5
    retry_backoff_max_seconds: float = 10.0
    max_message_bytes: int = 4 * 1024 * 1024
    publish_timeout_seconds: float = 10.0
    outbox_relay_enabled: bool = True
    outbox_poll_seconds: float = 0.5
    outbox_batch_size: int = 200
    consumers_enabled: bool = True
    # On SIGTERM: how long in-flight HTTP requests, and then event handlers, may each take to
    # finish. Keep twice this under the orchestrator's kill deadline (terminationGracePeriodSeconds).
    shutdown_grace_seconds: float = Field(20.0, gt=0)

    # argon2id, shared by registration (hashing) and auth (verifying).
    argon2_memory_kib: int = Field(19 * 1024, ge=19 * 1024)
    argon2_time_cost: int = Field(2, ge=2)
    argon2_parallelism: int = Field(1, ge=1)
    # Hashes computed at once, each holding argon2_memory_kib: set it to the container's CPU limit,
    # which the process cannot see (by default, every CPU the process may run on).
    argon2_workers: int | None = Field(None, ge=1)

    def production_problems(self) -> list[str]:
        """What ENVIRONMENT=prod refuses in these settings, one line per problem."""
        problems = [problem for name, field in type(self).model_fields.items() if field.repr is False
                    for problem in secret_problems(name.upper(), _revealed(getattr(self, name)), field.default)]
        return (super().production_problems() + problems + amqp_url_problems(self.amqp_url)
                + public_base_url_problems(self.public_base_url))


def _revealed(value):
    return value.get_secret_value() if isinstance(value, SecretStr) else value


AnySettings = TypeVar("AnySettings", bound=DatabaseSettings)


def settings_from_environment(settings_class: type[AnySettings], program: str | None = None) -> AnySettings:
    """A service's settings, as its process (or `program`) starts. Wrong ones end the process with
    what is wrong and no traceback, so what an operator reads first is the cause."""
    try:
        return settings_class()
    except ValidationError as exc:
        service = program or settings_class.__module__.split(".")[0]
        lines = [f"{'.'.join(str(part).upper() for part in error['loc'])}: {error['msg']}" if error["loc"]
                 else error["msg"].removeprefix("Value error, ") for error in exc.errors()]
        sys.exit(f"{service} will not start:\n" + "\n".join(lines))


def secret_problems(variable: str, value: str | None, default: str | None) -> list[str]:
    """A secret left at its development default, or set empty. None is a secret not given, which
    its service's own rule allows or not."""
    how = f": make one with {MAKE_A_SECRET}" if default == DEV_SECRET else ""
    if value == DEV_SECRET:
        return [f"{variable} is not set, and its development value is in the source code for anyone to read{how}"]
    if value is not None and not value.strip():
        return [f"{variable} is empty, and an empty secret protects nothing{how}"]
    return []


def amqp_url_problems(url: str) -> list[str]:
    """RabbitMQ's `guest` user has a password everyone knows; a URL without a user logs in as it."""
    user = unquote(urlsplit(url).username or "")
    if user in ("", "guest"):
        said = "has no user, so it logs in as guest" if not user else "logs in as guest"
        return [f"AMQP_URL {said}, RabbitMQ's default user whose password everyone knows: give the "
                "services a user and password of their own, amqp://USER:PASSWORD@HOST:5672/"]
    return []


def public_base_url_problems(url: str) -> list[str]:
    """The links in emails (reset links carry a token) start with PUBLIC_BASE_URL: they must be
    encrypted, and reach the service from a candidate's own computer."""
    parts = urlsplit(url)
    problems = []
    if parts.scheme != "https":
        problems.append(f"PUBLIC_BASE_URL {url!r} does not start with https://: the links in emails, password "
                        "reset links among them, would travel unencrypted")
    if not parts.hostname:
        problems.append(f"PUBLIC_BASE_URL {url!r} has no host name: give the address candidates open, "
                        "e.g. https://results.example.org")
    elif is_this_machine(parts.hostname):
        problems.append(f"PUBLIC_BASE_URL {url!r} points at this machine ({parts.hostname}): the links in emails "
                        "would lead each candidate to their own computer; give the address candidates open, "
                        "e.g. https://results.example.org")
    return problems


def is_this_machine(host: str) -> bool:
    """Loopback: localhost and its subdomains (RFC 6761), 127.0.0.0/8 and ::1, and the unspecified
    0.0.0.0 and ::, however a browser would read them: it percent-decodes a host and takes IPv4
    shorthand, decimal, hex and octal (127.1, 2130706433, 0x7f000001, 0177.0.0.1) and IPv4-mapped
    IPv6 addresses."""
    host = unquote(host).rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:  # the spellings inet_aton takes are those the WHATWG URL parser takes
            address = ipaddress.ip_address(socket.inet_aton(host))
        except OSError:
            return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified
