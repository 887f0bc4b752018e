"""CampaignsOnTriggerEventFunction: MemberRegistered, TierChanged, PointsExpiring, CouponExpiring
(rule → queue → here) → the active triggered campaigns for that trigger (logic/triggers.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from services.campaigns.dal.planning_adapters import SqsDispatch
from services.campaigns.dal.triggers import DynamoTriggerRepository
from services.campaigns.logic.triggers import TriggerFact, on_trigger
from services.campaigns.models.planning import TriggerSettings
from shared import clock
from shared.consumer import process_event_batch, typed
from shared.events.contracts import CouponExpiring, MemberRegistered, PointsExpiring, TierChanged
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
    settings = load(TriggerSettings)
    repo = DynamoTriggerRepository(settings.table_name)
    dispatch = SqsDispatch(settings.dispatch_queue_url)

    def route(metadata: EventMetadata, data: TriggerFact) -> None:
        outcomes = on_trigger(
            data,
            repo=repo,
            dispatch=dispatch,
            now=clock.now(),
            timezone=settings.mall_timezone,
            control_salt=settings.global_control_salt,
            control_basis_points=settings.global_control_basis_points,
            deferral=timedelta(hours=settings.deferral_hours),
        )
        for outcome in outcomes:
            logger.info("trigger", extra={"campaign_id": outcome.campaign_id, "outcome": outcome.reason})
            metrics.add_metric(name=f"Trigger_{outcome.reason}", unit="Count", value=1)

    return process_event_batch(
        event,
        context,
        routes={
            "MemberRegistered": typed(MemberRegistered, route),
            "TierChanged": typed(TierChanged, route),
            "PointsExpiring": typed(PointsExpiring, route),
            "CouponExpiring": typed(CouponExpiring, route),
        },
    )
