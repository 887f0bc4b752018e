"""CampaignsOnPurchaseRecordedFunction: PurchaseRecorded (rule → queue → here) → the member's
last-purchase projection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.campaigns.dal.privacy import pseudonym_key
from services.campaigns.dal.projection import DynamoLastPurchaseRepository
from services.campaigns.logic.projection import record_last_purchase
from services.campaigns.models.settings import CampaignsPurchaseSettings
from shared.consumer import process_event_batch, typed
from shared.events.contracts import PurchaseRecorded
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from shared.events.envelope import EventMetadata

SERVICE = "campaigns"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(CampaignsPurchaseSettings)
    repo = DynamoLastPurchaseRepository(settings.table_name)
    secret = settings.pseudonym_key_secret_arn

    def on_purchase(metadata: EventMetadata, data: PurchaseRecorded) -> None:
        moved = record_last_purchase(data, repo, pseudonym_key(secret) if secret else None)
        metrics.add_metric(
            name="LastPurchaseAdvanced" if moved else "LastPurchaseUnchanged", unit="Count", value=1
        )

    return process_event_batch(
        event, context, routes={"PurchaseRecorded": typed(PurchaseRecorded, on_purchase)}
    )
