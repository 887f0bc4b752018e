"""MembersOnMarketingComplaintFunction: MarketingComplaintReceived (campaigns; rule → queue → here)
→ the member's marketing consent on that channel withdrawn, with its history entry (source
``complaint``) and ``MemberConsentChanged`` — once per event (logic/complaints.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.members.dal.complaints import DynamoComplaintRepository
from services.members.logic.complaints import Complaint, record_complaint
from services.members.models.settings import MembersSettings
from shared.consumer import process_event_batch, typed
from shared.events.contracts import MarketingComplaintReceived
from shared.ids import new_ulid
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from shared.events.envelope import EventMetadata

SERVICE = "members"
PRODUCER = "members.on_marketing_complaint"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(MembersSettings)
    repo = DynamoComplaintRepository(settings.table_name)

    def on_complaint(metadata: EventMetadata, data: MarketingComplaintReceived) -> None:
        complaint = Complaint(
            event_id=metadata.event_id,
            member_id=data.member_id,
            channel=data.channel,
            complained_at=data.complained_at,
        )
        outcome = record_complaint(
            complaint, repo, new_id=new_ulid, correlation_id=metadata.correlation_id, producer=PRODUCER
        )
        logger.info(
            "marketing complaint",
            extra={"member_id": data.member_id, "channel": data.channel, "outcome": outcome},
        )
        metrics.add_metric(name=f"Complaint_{outcome}", unit="Count", value=1)

    return process_event_batch(
        event,
        context,
        routes={"MarketingComplaintReceived": typed(MarketingComplaintReceived, on_complaint)},
    )
