"""The checks of a new password in a request model (registration, password reset): every broken
rule of the password policy as its own 422 entry, and the confirmation."""

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from crs_shared.domain import password_policy


def check_policy(value: str) -> str:
    broken = password_policy.violations(value)
    if broken:
        raise ValidationError.from_exception_data(
            "password",
            [InitErrorDetails(type=PydanticCustomError(v.code, v.message), loc=(), input="") for v in broken],
        )
    return value


def check_confirmation(password: str, password_confirm: str) -> None:
    if password != password_confirm:
        raise ValidationError.from_exception_data(
            "password_confirm",
            [InitErrorDetails(
                type=PydanticCustomError("password_mismatch", "The two passwords do not match."),
                loc=("password_confirm",), input="",
            )],
        )
