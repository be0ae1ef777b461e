"""The envelope every event travels in (contract section 4)."""

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_serializer


class Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_id: str = Field(min_length=1, max_length=100)
    event_type: str = Field(min_length=1, max_length=100)
    event_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    producer: str = Field(min_length=1, max_length=100)
    correlation_id: str = Field(min_length=1, max_length=200)
    payload: dict[str, Any]

    @field_serializer("occurred_at")
    def _utc_z(self, value: datetime) -> str:
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def new_envelope(
    *, event_type: str, event_version: int, payload: BaseModel, producer: str, correlation_id: str, occurred_at: datetime
) -> Envelope:
    return Envelope(
        event_id=str(uuid.uuid4()),
        event_type=event_type,
        event_version=event_version,
        occurred_at=occurred_at,
        producer=producer,
        correlation_id=correlation_id,
        payload=payload.model_dump(mode="json"),
    )
