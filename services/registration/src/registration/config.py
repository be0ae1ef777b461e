from pydantic import Field

from crs_shared.config import DEV_SECRET, ServiceSettings


class Settings(ServiceSettings):
    port: int = Field(8001, validation_alias="REGISTRATION_PORT")
    # Secret numbers have only 10,000 values, so their HMAC is only as safe as this key, which
    # lives in settings and never in the database.
    secret_number_key: str = Field(DEV_SECRET, repr=False)
