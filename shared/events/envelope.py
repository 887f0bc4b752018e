"""The envelope every MallCRM event travels in: ``{"metadata": {...}, "data": {...}}``.

``metadata`` is the same for every event (id, version, correlation id, time, producer), so
infrastructure — idempotency, tracing, the catalogue — never needs to know the event's type;
``data`` is the event's own model (:mod:`shared.events.contracts`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

from shared import clock
from shared.ids import new_ulid

__all__ = ["Envelope", "EventMetadata", "UtcDateTime"]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDateTime = Annotated[
    AwareDatetime,
    AfterValidator(_to_utc),
    PlainSerializer(clock.to_utc_iso, return_type=str, when_used="json"),
]
"""An aware datetime, normalised to UTC, written as ``2024-05-01T04:00:00.000000Z`` in JSON."""

ULID_PATTERN = r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$"


class EventMetadata(BaseModel):
    """What every event carries besides its data. Consumers are idempotent on ``event_id``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(pattern=ULID_PATTERN, description="ULID; unique per event, time-ordered.")
    event_version: int = Field(ge=1, description="Version of the data model (the model's VERSION).")
    correlation_id: str = Field(
        min_length=1, max_length=128, description="Ties together everything one request or job caused."
    )
    occurred_at: UtcDateTime = Field(description="When the fact happened (UTC).")
    producer: str = Field(min_length=1, max_length=128, description="The function or job that produced it.")

    @classmethod
    def new(
        cls,
        *,
        event_version: int,
        correlation_id: str,
        producer: str,
        occurred_at: datetime | None = None,
    ) -> EventMetadata:
        """Fresh metadata: a new ULID and ``occurred_at`` = now unless given."""
        moment = occurred_at if occurred_at is not None else clock.now()
        return cls(
            event_id=new_ulid(moment),
            event_version=event_version,
            correlation_id=correlation_id,
            occurred_at=moment,
            producer=producer,
        )


DataT = TypeVar("DataT", bound=BaseModel)


class Envelope(BaseModel, Generic[DataT]):
    """The EventBridge ``detail`` of a MallCRM event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metadata: EventMetadata
    data: DataT

    def to_detail(self) -> dict[str, Any]:
        """The JSON-ready dict (datetimes as ISO strings)."""
        return self.model_dump(mode="json")
