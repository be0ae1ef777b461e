"""Requests and answers of the auth API. The new password of a reset answers FastAPI's standard
422, one entry per failing rule of the shared password policy, naming the field and the rule."""

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from crs_shared import new_password
from crs_shared.http import DomainErrorBody

# Bounds that only keep absurd input out; the rules themselves are checked elsewhere (an unknown
# or malformed ID Number simply fails to log in).
CANDIDATE_ID_MAX = 64
PASSWORD_MAX = 1024


CandidateId = Annotated[
    str,
    Field(description="ID Number from the Confirmation of Entry.", examples=["123456"], max_length=CANDIDATE_ID_MAX),
    AfterValidator(lambda value: value.strip().upper()),
]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    candidate_id: CandidateId
    password: str = Field(max_length=PASSWORD_MAX)


class LoginAnswer(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class ReminderRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    candidate_id: CandidateId


class ReminderAnswer(BaseModel):
    detail: str


class PasswordResetRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    token: str = Field(description="The token of the reset link.", min_length=1, max_length=512)
    password: str = Field(max_length=PASSWORD_MAX)
    password_confirm: str = Field(max_length=PASSWORD_MAX)

    @field_validator("password")
    @classmethod
    def _password_policy(cls, value: str) -> str:
        return new_password.check_policy(value)

    @model_validator(mode="after")
    def _confirmation(self):
        new_password.check_confirmation(self.password, self.password_confirm)
        return self



class LockedBody(DomainErrorBody):
    retry_after_seconds: int


class Jwks(BaseModel):
    keys: list[dict]
