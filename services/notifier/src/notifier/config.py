from pydantic import Field

from crs_shared.config import DEV_SECRET, ServiceSettings


class Settings(ServiceSettings):
    port: int = Field(8004, validation_alias="NOTIFIER_PORT")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_timeout_seconds: float = 10.0
    smtp_connections: int = 8
    smtp_max_per_second: float = 0.0  # 0: no limit
    mail_from: str = "Candidate Results Service <results@results.example.org>"
    reply_to: str = "support@results.example.org"
    centre_name: str = "Candidate Results Service"

    dispatch_poll_seconds: float = 0.5
    dispatch_batch_size: int = 50
    # Passes at once: one leases, or waits for its sends to be recorded, while others send. One per
    # SMTP connection keeps them busy on release day (bench/README.md, change 30).
    dispatch_passes: int = Field(8, ge=1)
    # Sends recorded per database write (a crash re-sends at most this many, with their Message-ID).
    dispatch_record_group: int = Field(20, ge=1)
    # Rows just committed, waiting in memory for the dispatcher (see notifier.dispatcher).
    dispatch_handover_limit: int = Field(1000, ge=1)
    # A send that fails for a passing reason (server down, 4xx) is retried with backoff for this long.
    retry_for_seconds: float = 24 * 3600
    send_lease_seconds: float = 60.0
    send_retry_base_seconds: float = 5.0
    send_retry_max_seconds: float = 600.0
    operator_token: str = Field(DEV_SECRET, repr=False)
