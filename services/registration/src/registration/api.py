"""HTTP routes: parse, call a handler, shape the answer."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status

from crs_shared.http import DomainError, DomainErrorBody, require_operator
from registration import handlers
from registration.domain.errors import AlreadyRegistered, IdSecretMismatch, RegistrationRefused, TooManyAttempts
from registration.domain.guess_limit import held_message
from registration.schemas import CANDIDATE_ID, HeldBody, RegistrationAnswer, RegistrationRequest

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


def refused(refusal: RegistrationRefused) -> DomainError:
    if isinstance(refusal, TooManyAttempts):
        seconds = refusal.retry_after_seconds
        return DomainError(429, "too_many_attempts", held_message(seconds), headers={"Retry-After": str(seconds)},
                           retry_after_seconds=seconds)
    status_code, code, message = REFUSALS[type(refusal)]
    return DomainError(status_code, code, message)


@router.post(
    "/candidates",
    status_code=status.HTTP_201_CREATED,
    response_model=RegistrationAnswer,
    responses={400: {"model": DomainErrorBody}, 409: {"model": DomainErrorBody}, 429: {"model": HeldBody},
               503: {"model": DomainErrorBody}},
)
async def register(
    body: RegistrationRequest, deps: Annotated[handlers.Dependencies, Depends(dependencies)]
) -> RegistrationAnswer:
    try:
        registered = await handlers.register_candidate(deps, body)
    except RegistrationRefused as refusal:
        raise refused(refusal) from None
    return RegistrationAnswer(
        candidate_id=registered.candidate_id, email=registered.email, registered_at=registered.registered_at
    )


@router.delete(
    "/holds/{candidate_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: {"model": DomainErrorBody}},
    dependencies=[Depends(require_operator)],
)
async def lift_hold(
    candidate_id: Annotated[str, Path(pattern=CANDIDATE_ID.pattern, description="The ID Number, in any case.")],
    deps: Annotated[handlers.Dependencies, Depends(dependencies)],
) -> Response:
    # 204 whether or not the ID was held, or exists: the answer reveals neither.
    await handlers.lift_hold(deps, candidate_id.upper())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
