"""CampaignsJourneyCheckConsentFunction: ChurnWarning task CheckConsent — may campaigns contact the
member for marketing? (the consent projection; absent = not granted)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.campaigns.dal.privacy import DynamoConsentProjection
from services.campaigns.logic.privacy import check_marketing_consent
from services.campaigns.models.settings import CampaignsSettings
from services.campaigns.models.tasks import CheckConsentInput
from shared.observability import get_logger, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "campaigns"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = CheckConsentInput.model_validate(event)
    check = check_marketing_consent(
        task.member_id, DynamoConsentProjection(load(CampaignsSettings).table_name)
    )
    logger.info("consent checked", extra={"episode_id": task.episode_id, "allowed": check.allowed})
    return {"allowed": check.allowed, "channels": check.channels}
