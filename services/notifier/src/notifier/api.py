"""Operator routes: see failed notifications and queue them again."""

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request

from crs_shared.http import DomainError
from notifier.domain.notifications import Status

router = APIRouter(prefix="/api/notifier")


def operator(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    expected = f"Bearer {request.app.state.settings.operator_token}"
    if not hmac.compare_digest((authorization or "").encode(), expected.encode()):
        raise DomainError(401, "operator_token_required", "An operator token is required for this request.")


@router.get("/notifications/failed", dependencies=[Depends(operator)])
async def failed_notifications(request: Request) -> dict:
    repository = request.app.state.dependencies.repository
    rows = await repository.find({"status": Status.FAILED})
    return {"failed": [{"notification_id": r["_id"], "kind": r["kind"], "candidate_id": r["candidate_id"],
                        "failed_at": r.get("failed_at"), "reason": r.get("last_error")} for r in rows]}


@router.post("/notifications/failed/retry", dependencies=[Depends(operator)])
async def retry_failed(request: Request) -> dict:
    deps = request.app.state.dependencies
    requeued = await deps.repository.requeue_failed(deps.clock.now())
    deps.after_commit()
    return {"requeued": requeued}
