"""TicketsStreamPublisherFunction: TicketsTable stream (outbox INSERTs only) → the event bus."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.observability import get_logger, get_tracer
from shared.outbox import publish_stream_batch

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "tickets"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[dict[str, str]]]:
    return publish_stream_batch(event, context)
