"""The answers of the notifier's operator routes."""

from datetime import datetime

from pydantic import BaseModel


class FailedNotification(BaseModel):
    notification_id: str
    kind: str
    candidate_id: str
    failed_at: datetime | None
    reason: str | None


class FailedNotifications(BaseModel):
    failed: list[FailedNotification]


class Requeued(BaseModel):
    requeued: int
