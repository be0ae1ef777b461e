"""The envelope every event travels in (contract section 4)."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_serializer

from crs_shared.clock import utc_iso
from crs_shared.messaging.contracts import EventPayload


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
        return utc_iso(value)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def new_envelope(event: EventPayload, *, producer: str, correlation_id: str, occurred_at: datetime) -> Envelope:
    """`event` in an envelope of its own (a fresh event id), typed and versioned by its class."""
    return Envelope(
        event_id=str(uuid.uuid4()),
        event_type=event.EVENT_TYPE,
        event_version=event.EVENT_VERSION,
        occurred_at=occurred_at,
        producer=producer,
        correlation_id=correlation_id,
        payload=event.model_dump(mode="json"),
    )
