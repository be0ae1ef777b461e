import os
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator

from crs_shared.config import DEV_SECRET, ServiceSettings, is_this_machine


class Settings(ServiceSettings):
    port: int = Field(8004, validation_alias="NOTIFIER_PORT")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    # The longest one send may take, connection included; below half the lease (checked below).
    smtp_timeout_seconds: float = Field(10.0, gt=0)
    smtp_connections: int = Field(8, ge=1)
    smtp_max_per_second: float = 0.0  # 0: no limit
    # none: plain SMTP (the local capture server); starttls: upgraded after connecting (a relay on
    # port 587); tls: TLS from the first byte (port 465). The server's certificate is checked against
    # SMTP_CA_FILE (a PEM bundle), else the system's CAs.
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = Field(None, repr=False)
    smtp_ca_file: str | None = None
    # While the server refuses these settings sending pauses, and a login is tried again after this
    # long, doubling up to the most (notifier.mailer).
    smtp_recheck_first_seconds: float = Field(5.0, gt=0)
    smtp_recheck_max_seconds: float = Field(60.0, gt=0)
    mail_from: str = "Candidate Results Service <results@results.example.org>"
    reply_to: str = "support@results.example.org"
    centre_name: str = "Candidate Results Service"
    # Times in emails are shown in the centre's zone, and the text names it; the data stays in UTC.
    centre_timezone: str = "Asia/Taipei"

    dispatch_poll_seconds: float = 0.5
    # Rows one search leases, or one turn takes from the hand-over.
    dispatch_batch_size: int = Field(50, ge=1)
    # The most emails taken up and not yet sent at once; fewer when the SMTP pool is slower than
    # that many in a quarter of the lease (notifier.domain.in_flight).
    dispatch_in_flight: int = Field(400, ge=1)
    # Sends recorded per database write at most (a crash re-sends at most these, with their Message-ID).
    dispatch_record_group: int = Field(20, ge=1)
    # Rows just committed, waiting in memory for the dispatcher (see notifier.dispatcher): several
    # results parts, so that a release's rows are handed over rather than searched for.
    dispatch_handover_limit: int = Field(5000, ge=1)
    # A send that fails for a passing reason (server down, 4xx) is retried with backoff for this long.
    retry_for_seconds: float = 24 * 3600
    send_lease_seconds: float = Field(60.0, gt=0)
    send_retry_base_seconds: float = 5.0
    send_retry_max_seconds: float = 600.0
    operator_token: str = Field(DEV_SECRET, repr=False)

    @field_validator("centre_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Taipei)") from None
        return value

    @model_validator(mode="after")
    def _smtp_login_whole(self):
        if (self.smtp_username is None) != (self.smtp_password is None):
            given, missing = (("SMTP_USERNAME", "SMTP_PASSWORD") if self.smtp_password is None
                              else ("SMTP_PASSWORD", "SMTP_USERNAME"))
            raise ValueError(f"{given} is set without {missing}: a login to the SMTP server needs both")
        if self.smtp_ca_file is not None and not os.path.isfile(self.smtp_ca_file):
            raise ValueError(f"SMTP_CA_FILE {self.smtp_ca_file!r} is not a file (a PEM bundle of the CAs to trust)")
        return self

    def production_problems(self) -> list[str]:
        """Besides every service's: no SMTP password in clear. (Plain SMTP to another machine is
        allowed: `make up` mails Mailpit on its own network; services/notifier/README.md says why.)"""
        problems = super().production_problems()
        if self.smtp_tls == "none" and self.smtp_username is not None and not is_this_machine(self.smtp_host):
            problems.append(f"SMTP_USERNAME and SMTP_PASSWORD are set but SMTP_TLS is none: the password would cross "
                            f"the network to {self.smtp_host} unencrypted; set SMTP_TLS=starttls (port 587) or "
                            "tls (port 465)")
        return problems

    @model_validator(mode="after")
    def _a_send_ends_within_its_lease(self):
        # A send starts with at least half a lease left; it must end, and be recorded, before the
        # lease does, or another dispatcher could take the row and send it again.
        if self.smtp_timeout_seconds > self.send_lease_seconds / 4:
            raise ValueError(f"smtp_timeout_seconds ({self.smtp_timeout_seconds:g}) must be at most a quarter of "
                             f"send_lease_seconds ({self.send_lease_seconds:g})")
        return self
