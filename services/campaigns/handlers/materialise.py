"""CampaignsMaterialiseFunction: writes a fresh audience snapshot (daily schedule at 02:00 mall
time, or invoked asynchronously by ``POST /v1/admin/audience/snapshots``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.campaigns.dal.snapshots import DynamoRowSource, S3SnapshotStore
from services.campaigns.logic.snapshots import materialise
from services.campaigns.models.planning import SnapshotSettings
from shared import clock
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "campaigns"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(SnapshotSettings)
    manifest = materialise(
        DynamoRowSource(settings.table_name), S3SnapshotStore(settings.snapshot_bucket), clock.now()
    )
    logger.info(
        "audience snapshot written", extra={"snapshot_id": manifest.snapshot_id, "members": manifest.members}
    )
    metrics.add_metric(name="AudienceSnapshotMembers", unit="Count", value=manifest.members)
    return {"snapshot_id": manifest.snapshot_id, "members": manifest.members}
