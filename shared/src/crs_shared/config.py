"""Settings every service has. Each service subclasses `ServiceSettings` and adds its own knobs."""

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-not-secret"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    environment: Literal["dev", "prod"] = "dev"
    host: str = "127.0.0.1"
    mongodb_url: str = "mongodb://127.0.0.1:27017"
    database_name: str | None = None  # defaults to the service's name
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    public_base_url: str = "http://127.0.0.1:8080"

    log_json: bool = False
    log_level: str = "INFO"

    # Messaging
    amqp_prefetch: int = 32
    consumer_max_deliveries: int = 5
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

    @model_validator(mode="after")
    def _no_dev_secrets_in_prod(self):
        if self.environment == "prod":
            for name, value in self.model_dump().items():
                if value == DEV_SECRET:
                    raise ValueError(f"{name} must be set in production")
        return self
