"""LoyaltyOnPointsAdjustmentRequestedFunction (contract D): tickets' PointsAdjustmentRequested
(rule → queue → here) → a pending adjustment that a second person must approve, once per
``request_id`` (a redelivered event, or the same request twice, creates nothing new)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.loyalty.dal.adjustments import DynamoAdjustmentRepository
from services.loyalty.logic.adjustments import request_adjustment
from services.loyalty.models.settings import LoyaltySettings
from shared import clock
from shared.consumer import process_event_batch, typed
from shared.events.contracts import PointsAdjustmentRequested
from shared.ids import new_ulid
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from shared.events.envelope import EventMetadata

SERVICE = "loyalty"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(LoyaltySettings)
    repo = DynamoAdjustmentRepository(settings.table_name)

    def on_request(metadata: EventMetadata, data: PointsAdjustmentRequested) -> None:
        created = request_adjustment(
            member_id=data.member_id,
            points=data.points,
            reason=data.reason,
            requested_by=data.requested_by,
            repo=repo,
            now=clock.now(),
            new_id=new_ulid,
            ticket_id=data.ticket_id,
            request_key=f"tickets#{data.request_id}",
        )
        logger.info(
            "pending adjustment from a ticket",
            extra={"adjustment_id": created.adjustment.adjustment_id, "replayed": created.replayed},
        )
        if not created.replayed:
            metrics.add_metric(name="PointsAdjustmentRequestedFromTicket", unit="Count", value=1)

    return process_event_batch(
        event, context, routes={"PointsAdjustmentRequested": typed(PointsAdjustmentRequested, on_request)}
    )
