"""HTTP routes: parse, call a handler, shape the answer."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from crs_shared.http import DomainError, DomainErrorBody
from registration import handlers
from registration.domain.errors import AlreadyRegistered, IdSecretMismatch, RegistrationRefused
from registration.schemas import RegistrationAnswer, RegistrationRequest

ID_SECRET_MISMATCH = (
    "The ID Number and Secret Number do not match our records. Please check them against your "
    "Confirmation of Entry. If you entered for your exam recently, please note that it can take up "
    "to 48 hours after your exam entry for your details to appear."
)
ALREADY_REGISTERED = "This ID Number is already registered. Please log in, or use \"Forgotten your password?\"."

REFUSALS: dict[type[RegistrationRefused], tuple[int, str, str]] = {
    IdSecretMismatch: (400, "id_secret_mismatch", ID_SECRET_MISMATCH),
    AlreadyRegistered: (409, "already_registered", ALREADY_REGISTERED),
}

router = APIRouter(prefix="/api/registration")


async def dependencies(request: Request) -> handlers.Dependencies:
    return request.app.state.dependencies


@router.post(
    "/candidates",
    status_code=status.HTTP_201_CREATED,
    response_model=RegistrationAnswer,
    responses={400: {"model": DomainErrorBody}, 409: {"model": DomainErrorBody}, 503: {"model": DomainErrorBody}},
)
async def register(
    body: RegistrationRequest, deps: Annotated[handlers.Dependencies, Depends(dependencies)]
) -> RegistrationAnswer:
    try:
        registered = await handlers.register_candidate(deps, body)
    except RegistrationRefused as refusal:
        status_code, code, message = REFUSALS[type(refusal)]
        raise DomainError(status_code, code, message) from None
    return RegistrationAnswer(
        candidate_id=registered.candidate_id, email=registered.email, registered_at=registered.registered_at
    )
