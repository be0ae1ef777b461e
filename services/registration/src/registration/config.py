from pydantic import Field

from crs_shared.config import DEV_SECRET, ServiceSettings


class Settings(ServiceSettings):
    port: int = Field(8001, validation_alias="REGISTRATION_PORT")
    # Secret numbers have only 10,000 values, so their HMAC is only as safe as this key, which
    # lives in settings and never in the database.
    secret_number_key: str = Field(DEV_SECRET, repr=False)
    # Operators lift guess holds with `Authorization: Bearer <operator_token>`.
    operator_token: str = Field(DEV_SECRET, repr=False)

    # Guess limit (contract section 2): this many wrong Secret Numbers for one ID within
    # `guess_window_minutes` of the first hold the ID for `guess_hold_minutes`. A check slot still
    # reserved after `guess_check_lease_seconds` was left by a crashed process and is taken back.
    guess_limit: int = Field(5, ge=1)
    guess_window_minutes: int = Field(60, ge=1)
    guess_hold_minutes: int = Field(60, ge=1)
    guess_check_lease_seconds: int = Field(60, ge=1)
