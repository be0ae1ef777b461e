"""Operator routes: see failed notifications and queue them again."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from crs_shared.http import DomainError, DomainErrorBody, operator_bearer, operator_token_matches
from notifier import handlers
from notifier.schemas import FailedNotification, FailedNotifications, Requeued

router = APIRouter(prefix="/api/notifier")
ERRORS = {401: {"model": DomainErrorBody}}


async def operator(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(operator_bearer)]
) -> None:
    if not operator_token_matches(credentials, request.app.state.settings.operator_token):
        raise DomainError(401, "operator_token_required", "An operator token is required for this request.",
                          headers={"WWW-Authenticate": "Bearer"})


@router.get("/notifications/failed", response_model=FailedNotifications, responses=ERRORS,
            dependencies=[Depends(operator)])
async def failed_notifications(request: Request) -> FailedNotifications:
    repository = request.app.state.dependencies.repository
    rows = await repository.failed()
    return FailedNotifications(failed=[
        FailedNotification(notification_id=r["_id"], kind=r["kind"], candidate_id=r["candidate_id"],
                           failed_at=r.get("failed_at"), reason=r.get("last_error")) for r in rows])


@router.post("/notifications/failed/retry", response_model=Requeued, responses=ERRORS,
             dependencies=[Depends(operator)])
async def retry_failed(request: Request) -> Requeued:
    return Requeued(requeued=await handlers.requeue_failed(request.app.state.dependencies))
