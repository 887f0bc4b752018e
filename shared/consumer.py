"""Consuming events: SQS batches whose messages are EventBridge events (rule → queue → function).

:func:`process_event_batch` parses each message, finds the route for its ``detail-type`` and calls
it with the event's metadata and ``data``. Powertools' ``BatchProcessor`` reports the records whose
route raised, so only those are retried (and land in the DLQ after ``maxReceiveCount``); the rest
of the batch is deleted. An unknown ``detail-type`` is logged and acknowledged: retrying cannot
help, and it only happens when a rule is wider than the routes.

Routes must be idempotent on ``metadata.event_id`` (SQS and the outbox both deliver at least
once): put :func:`shared.dynamo.idempotency_put` in the same transaction as the change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from shared.events.contracts import EventData, UnsupportedEventVersion, parse_data
from shared.events.envelope import EventMetadata
from shared.observability import get_logger

__all__ = ["Route", "process_event_batch", "typed"]

Route = Callable[[EventMetadata, dict[str, Any]], None]
EventT = TypeVar("EventT", bound=EventData)


def typed(model: type[EventT], fn: Callable[[EventMetadata, EventT], None]) -> Route:
    """Adapt ``fn(metadata, event_model)`` into a route: ``data`` is parsed tolerantly into ``model``
    and the event version is checked (a different version fails the record)."""

    def route(metadata: EventMetadata, data: dict[str, Any]) -> None:
        if metadata.event_version != model.VERSION:
            raise UnsupportedEventVersion(
                f"{model.__name__} v{metadata.event_version} received; this consumer knows v{model.VERSION}"
            )
        fn(metadata, parse_data(model, data))

    route.__name__ = getattr(fn, "__name__", "route")
    return route


def process_event_batch(
    event: Mapping[str, Any],
    context: Any,
    routes: Mapping[str, Route],
) -> dict[str, Any]:
    """Handler body for an SQS-triggered consumer (ReportBatchItemFailures on the event source).

    Returns ``{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}``. A whole batch that
    fails is reported the same way (not raised), so AWS and the local cloud treat it alike.
    """
    # Imported here, not at module level: handler modules import this one at cold start.
    from aws_lambda_powertools.utilities.batch import (  # noqa: PLC0415
        BatchProcessor,
        EventType,
        process_partial_response,
    )
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord  # noqa: PLC0415

    logger = get_logger()

    def handle(record: SQSRecord) -> None:
        message = json.loads(record.body)
        detail_type = str(message.get("detail-type", ""))
        route = routes.get(detail_type)
        if route is None:
            logger.warning(
                "no route for event; acknowledged",
                extra={
                    "detail_type": detail_type,
                    "source": message.get("source"),
                    "message_id": record.message_id,
                },
            )
            return
        detail = message["detail"]
        metadata = EventMetadata.model_validate(detail["metadata"], extra="ignore")
        logger.append_keys(event_id=metadata.event_id, correlation_id=metadata.correlation_id)
        try:
            route(metadata, dict(detail["data"]))
        except Exception:
            logger.exception("event handler failed", extra={"detail_type": detail_type})
            raise
        finally:
            logger.remove_keys(["event_id", "correlation_id"])

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(
        process_partial_response(
            event=dict(event), record_handler=handle, processor=processor, context=context
        )
    )
