"""CampaignsOnMemberFactsFunction: member facts (rule → queue → here) → the member-attribute
projection segments are evaluated on, and attribution of purchases and coupon redemptions.

MemberProfileScored, TierChanged, MemberRegistered and every balance-changing points movement
(PointsEarned, PointsReleased, PointsRedeemed, PointsExpired, PointsAdjusted, PurchaseRefunded with
a clawback) → projection; PurchaseRecorded → projection and attribution; CouponRedeemed →
attribution.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.campaigns.dal.attribution import DynamoAttributionRepository
from services.campaigns.dal.audience import DynamoAttributeRepository
from services.campaigns.dal.privacy import pseudonym_key
from services.campaigns.logic.attribution import attribute_purchase, attribute_redemption
from services.campaigns.logic.audience import Fact, project_fact
from services.campaigns.models.planning import AudienceSettings
from shared.consumer import process_event_batch, typed
from shared.events.contracts import (
    CouponRedeemed,
    MemberProfileScored,
    MemberRegistered,
    PointsAdjusted,
    PointsEarned,
    PointsExpired,
    PointsRedeemed,
    PointsReleased,
    PurchaseRecorded,
    PurchaseRefunded,
    TierChanged,
)
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
    settings = load(AudienceSettings)
    attributes = DynamoAttributeRepository(settings.table_name)
    attribution = DynamoAttributionRepository(settings.table_name)
    secret = settings.pseudonym_key_secret_arn

    def project(metadata: EventMetadata, data: Fact) -> None:
        changed = project_fact(data, attributes, pseudonym_key(secret) if secret else None)
        metrics.add_metric(
            name="AudienceRowChanged" if changed else "AudienceRowUnchanged", unit="Count", value=1
        )

    def on_purchase(metadata: EventMetadata, data: PurchaseRecorded) -> None:
        project(metadata, data)
        credited = attribute_purchase(
            metadata.event_id, data, attribution, pseudonym_key(secret) if secret else None
        )
        if credited:
            metrics.add_metric(name="PurchasesAttributed", unit="Count", value=credited)

    def on_redeemed(metadata: EventMetadata, data: CouponRedeemed) -> None:
        if attribute_redemption(metadata.event_id, data, attribution):
            metrics.add_metric(name="RedemptionsAttributed", unit="Count", value=1)

    return process_event_batch(
        event,
        context,
        routes={
            "MemberProfileScored": typed(MemberProfileScored, project),
            "TierChanged": typed(TierChanged, project),
            "PointsEarned": typed(PointsEarned, project),
            "PointsExpired": typed(PointsExpired, project),
            "PointsRedeemed": typed(PointsRedeemed, project),
            "PointsReleased": typed(PointsReleased, project),
            "PointsAdjusted": typed(PointsAdjusted, project),
            "PurchaseRefunded": typed(PurchaseRefunded, project),
            "MemberRegistered": typed(MemberRegistered, project),
            "PurchaseRecorded": typed(PurchaseRecorded, on_purchase),
            "CouponRedeemed": typed(CouponRedeemed, on_redeemed),
        },
    )
