"""CampaignsOnMemberPrivacyFunction: MemberConsentChanged and MemberErased (rule → queue → here).

* MemberConsentChanged → the consent projection (newest ``changed_at`` wins; idempotent);
* MemberErased → projections and locks deleted, episodes pseudonymised (idempotent).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.campaigns.dal.privacy import DynamoConsentProjection, DynamoErasureRepository, pseudonym_key
from services.campaigns.logic.privacy import erase_member, project_consent
from services.campaigns.models.settings import CampaignsPrivacySettings
from shared.consumer import process_event_batch, typed
from shared.events.contracts import MemberConsentChanged, MemberErased
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
    settings = load(CampaignsPrivacySettings)
    projection = DynamoConsentProjection(settings.table_name)
    erasure = DynamoErasureRepository(settings.table_name, settings.member_exports_bucket)

    def on_consent(metadata: EventMetadata, data: MemberConsentChanged) -> None:
        outcome = project_consent(
            metadata.event_id, data, projection, pseudonym_key(settings.pseudonym_key_secret_arn)
        )
        metrics.add_metric(name=f"ConsentProjection{outcome.name.title()}", unit="Count", value=1)

    def on_erased(metadata: EventMetadata, data: MemberErased) -> None:
        result = erase_member(
            metadata.event_id,
            data.member_id,
            data.erased_at,
            erasure,
            pseudonym_key(settings.pseudonym_key_secret_arn),
        )
        logger.info(
            "member erased from campaigns",
            extra={
                "projections_deleted": result.projections_deleted,
                "episodes_pseudonymised": result.episodes_pseudonymised,
                "already_done": result.already_done,
            },
        )
        metrics.add_metric(name="MemberErasures", unit="Count", value=1)
        # Planning: the member's id out of recent launches' assignment buckets. Imported here: it
        # brings the launch logic, which consent changes (the frequent event) do not need.
        from services.campaigns.dal.attribution import DynamoAttributionRepository  # noqa: PLC0415

        buckets = DynamoAttributionRepository(settings.table_name).forget_member(
            data.member_id, data.erased_at
        )
        logger.info("member removed from launch assignments", extra={"buckets_changed": buckets})

    return process_event_batch(
        event,
        context,
        routes={
            "MemberConsentChanged": typed(MemberConsentChanged, on_consent),
            "MemberErased": typed(MemberErased, on_erased),
        },
    )
