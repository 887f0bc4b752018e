"""Valid sample events built from each model's ``EXAMPLE``.

For tests that must not hand-write event JSON: the rule-pattern contract test (does each
consumer's EventBridge rule match what the producer really sends?), consumer tests, and demos.
Samples are validated through the model, so a sample can never drift from the contract.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.events.contracts import model_for
from shared.events.envelope import EventMetadata

__all__ = ["sample_data", "sample_detail", "sample_event"]

SAMPLE_ACCOUNT = "123456789012"
SAMPLE_REGION = "us-east-1"


def sample_data(detail_type: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The model's ``EXAMPLE`` with ``overrides`` applied, validated, as JSON-ready data."""
    model = model_for(detail_type)
    return model.model_validate({**model.EXAMPLE, **(overrides or {})}).model_dump(mode="json")


def sample_detail(
    detail_type: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    correlation_id: str = "sample-correlation",
    producer: str = "sample",
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    """A full ``detail`` (``{"metadata", "data"}``) for ``detail_type``; ``overrides`` apply to data."""
    model = model_for(detail_type)
    metadata = EventMetadata.new(
        event_version=model.VERSION,
        correlation_id=correlation_id,
        producer=producer,
        occurred_at=occurred_at,
    )
    return {"metadata": metadata.model_dump(mode="json"), "data": sample_data(detail_type, overrides)}


def sample_event(detail_type: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An EventBridge event as a rule target (SQS) receives it, with a sample ``detail``."""
    detail = sample_detail(detail_type, overrides)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": model_for(detail_type).SOURCE,
        "account": SAMPLE_ACCOUNT,
        "time": detail["metadata"]["occurred_at"][:19] + "Z",
        "region": SAMPLE_REGION,
        "resources": [],
        "detail": detail,
    }
