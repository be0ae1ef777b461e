"""The registration request and answer. Every field rule answers FastAPI's standard 422,
one entry per failing rule, naming the field and the rule."""

import re
from datetime import datetime
from typing import Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from crs_shared import new_password
from crs_shared.http import DomainErrorBody

CANDIDATE_ID = re.compile(r"^[A-Za-z0-9]{3,9}$")
SECRET_NUMBER = re.compile(r"^[0-9]{4}$")


class RegistrationRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    candidate_id: str = Field(description="ID Number from the Confirmation of Entry: 3-9 letters or digits.",
                              examples=["123456"], max_length=64)
    secret_number: str = Field(description="Secret Number from the Confirmation of Entry: 4 digits.",
                               examples=["4821"], max_length=64)
    email: EmailStr
    password: str = Field(max_length=1024)
    password_confirm: str = Field(max_length=1024)
    accept_terms: bool
    language: Literal["en", "zh-TW"] = "en"
    marketing_opt_in: bool = False

    @field_validator("candidate_id")
    @classmethod
    def _candidate_id(cls, value: str) -> str:
        value = value.strip()
        if not CANDIDATE_ID.match(value):
            raise PydanticCustomError(
                "candidate_id_format", "The ID Number must be 3 to 9 letters or digits, as on your Confirmation of Entry."
            )
        return value.upper()

    @field_validator("secret_number")
    @classmethod
    def _secret_number(cls, value: str) -> str:
        value = value.strip()
        if not SECRET_NUMBER.match(value):
            raise PydanticCustomError(
                "secret_number_format", "The Secret Number must be exactly 4 digits, as on your Confirmation of Entry."
            )
        return value

    @field_validator("email")
    @classmethod
    def _deliverable_email(cls, value: str) -> str:
        """In the ASCII form every mail server takes: an internationalised domain in IDNA
        (`xn--`), and no local part that only SMTPUTF8 servers could deliver to."""
        try:
            return validate_email(value, check_deliverability=False, allow_smtputf8=False).ascii_email
        except EmailNotValidError:  # EmailStr has checked the rest: only SMTPUTF8 is left to refuse
            raise PydanticCustomError(
                "email_local_part_not_ascii",
                "The part of the email address before the @ can only use English letters, digits and signs "
                "such as . _ - +, because most mail servers cannot deliver to it otherwise. Please use "
                "another address.",
            ) from None

    @field_validator("password")
    @classmethod
    def _password_policy(cls, value: str) -> str:
        return new_password.check_policy(value)

    @field_validator("accept_terms")
    @classmethod
    def _terms(cls, value: bool) -> bool:
        if not value:
            raise PydanticCustomError("terms_not_accepted", "You must accept the terms and conditions to register.")
        return value

    @model_validator(mode="after")
    def _confirmation(self):
        new_password.check_confirmation(self.password, self.password_confirm)
        return self


class RegistrationAnswer(BaseModel):
    candidate_id: str
    email: str
    registered_at: datetime


class HeldBody(DomainErrorBody):
    """429 too_many_attempts: the ID is held after too many wrong Secret Numbers."""

    retry_after_seconds: int
