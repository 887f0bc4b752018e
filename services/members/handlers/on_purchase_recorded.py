"""MembersOnPurchaseRecordedFunction: PurchaseRecorded / PurchaseRefunded (rule → queue → here)
→ the member's behaviour statistics, exactly once per event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.members.dal.profiles import DynamoStatsRepository
from services.members.logic.behaviour import Applied, record_purchase, record_refund
from services.members.models.settings import MembersSettings
from shared import clock
from shared.consumer import process_event_batch, typed
from shared.events.contracts import PurchaseRecorded, PurchaseRefunded
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from shared.events.envelope import EventMetadata

SERVICE = "members"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(MembersSettings)
    repo = DynamoStatsRepository(settings.table_name)
    tz = clock.zone(settings.mall_timezone)

    def outcome(result: Applied) -> None:
        metrics.add_metric(name=f"PurchaseStats{result.name.title().replace('_', '')}", unit="Count", value=1)

    def on_purchase(metadata: EventMetadata, data: PurchaseRecorded) -> None:
        outcome(record_purchase(metadata.event_id, data, repo, tz))

    def on_refund(metadata: EventMetadata, data: PurchaseRefunded) -> None:
        outcome(record_refund(metadata.event_id, data, repo, tz))

    return process_event_batch(
        event,
        context,
        routes={
            "PurchaseRecorded": typed(PurchaseRecorded, on_purchase),
            "PurchaseRefunded": typed(PurchaseRefunded, on_refund),
        },
    )
