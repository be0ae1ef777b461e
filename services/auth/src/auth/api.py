"""HTTP routes: parse, call a handler, shape the answer."""

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response, status

from auth import handlers
from auth.domain.errors import AccountLocked, InvalidCredentials, InvalidResetToken
from auth.domain.lockout import lock_message
from auth.schemas import (
    Jwks,
    LockedBody,
    LoginAnswer,
    LoginRequest,
    PasswordResetRequest,
    ReminderAnswer,
    ReminderRequest,
)
from crs_shared.http import DomainError, DomainErrorBody
from crs_shared.tokens import InvalidToken, bearer_token

INVALID_CREDENTIALS = "The ID Number or password is incorrect."
INVALID_RESET_TOKEN = (
    "This password reset link is invalid, has already been used or has expired. "
    "Please ask for a new one with \"Forgotten your password?\"."
)
INVALID_ACCESS_TOKEN = "Your session has ended. Please log in again."
REMINDER_ACCEPTED = (
    "If this ID Number is registered, we have sent an email to its address with a link to reset the "
    "password. The link is valid for {minutes} minutes."
)

# OpenAPI links: what a client (and schemathesis' stateful tests) can do with a login's answer.
LOGIN_LINKS = {"LogOut": {"operationId": "logout_api_auth_logout_post",
                          "parameters": {"header.authorization": "Bearer {$response.body#/access_token}"}}}

router = APIRouter(prefix="/api/auth")
well_known = APIRouter()


# Dependencies are `async def`: FastAPI runs a plain `def` one in a worker thread, a thread hop
# on every request.
async def dependencies(request: Request) -> handlers.Dependencies:
    return request.app.state.dependencies


Deps = Annotated[handlers.Dependencies, Depends(dependencies)]


@router.post(
    "/login",
    response_model=LoginAnswer,
    responses={200: {"links": LOGIN_LINKS}, 401: {"model": DomainErrorBody}, 423: {"model": LockedBody},
               503: {"model": DomainErrorBody}},
)
async def login(body: LoginRequest, deps: Deps, response: Response) -> LoginAnswer:
    try:
        issued = await handlers.log_in(deps, body.candidate_id, body.password)
    except InvalidCredentials:
        raise DomainError(401, "invalid_credentials", INVALID_CREDENTIALS) from None
    except AccountLocked as locked:
        seconds = deps.lockout.retry_after_seconds(locked.locked_until, locked.now)
        raise DomainError(423, "account_locked", lock_message(seconds), headers={"Retry-After": str(seconds)},
                          retry_after_seconds=seconds) from None
    response.headers["Cache-Control"] = "no-store"
    return LoginAnswer(access_token=issued.token, expires_in=issued.expires_in)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses={401: {"model": DomainErrorBody}})
async def logout(deps: Deps, authorization: Annotated[str | None, Header()] = None) -> Response:
    try:
        await handlers.log_out(deps, bearer_token(authorization))
    except InvalidToken:
        raise DomainError(401, "invalid_token", INVALID_ACCESS_TOKEN,
                          headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/password-reminder", status_code=status.HTTP_202_ACCEPTED, response_model=ReminderAnswer)
async def password_reminder(body: ReminderRequest, deps: Deps) -> ReminderAnswer:
    # The same answer whether the ID exists, is rate-limited or not: it must reveal nothing.
    await handlers.request_password_reset(deps, body.candidate_id)
    minutes = int(deps.reset_token_lifetime.total_seconds() // 60)
    return ReminderAnswer(detail=REMINDER_ACCEPTED.format(minutes=minutes))


@router.post("/password-reset", status_code=status.HTTP_204_NO_CONTENT, responses={400: {"model": DomainErrorBody}})
async def password_reset(body: PasswordResetRequest, deps: Deps) -> Response:
    try:
        await handlers.reset_password(deps, body.token, body.password)
    except InvalidResetToken:
        raise DomainError(400, "invalid_token", INVALID_RESET_TOKEN) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _jwks(request: Request, response: Response) -> Jwks:
    response.headers["Cache-Control"] = "public, max-age=300"
    return Jwks(**request.app.state.keys.jwks())


router.add_api_route("/.well-known/jwks.json", _jwks, methods=["GET"], response_model=Jwks)
# The same document at the conventional root path, for services that reach auth directly.
well_known.add_api_route("/.well-known/jwks.json", _jwks, methods=["GET"], response_model=Jwks, include_in_schema=False)
