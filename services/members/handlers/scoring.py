"""MembersScoringFunction: the nightly profile scoring (EventBridge Scheduler, 02:00 mall time).

Tier S: the whole population in this Lambda over the sharded gsi1 (two passes, see
``run_scoring``). Larger tiers score over an export with the columnar engine
(services/members/logic/scoring_sql.py; docs/performance.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.members.dal.profiles import DynamoScoringRepository
from services.members.logic.scoring import run_scoring
from services.members.models.settings import MembersSettings
from shared import clock
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "members"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(MembersSettings)
    run = run_scoring(
        DynamoScoringRepository(settings.table_name),
        as_of=clock.now(),
        tz=clock.zone(settings.mall_timezone),
        correlation_id=f"members.scoring:{context.aws_request_id}",
        producer="members.scoring",
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    summary = {
        "scored": run.scored,
        "published": run.published,
        "skipped_concurrent": run.skipped_concurrent,
        "shards_done": len(run.shards_done),
        "complete": run.complete,
        "not_scored": run.not_scored,
        "bounds": run.bounds.model_dump(mode="json") if run.bounds is not None else None,
    }
    metrics.add_metric(name="ProfilesScored", unit="Count", value=run.scored)
    metrics.add_metric(name="ProfileScoredEventsPublished", unit="Count", value=run.published)
    if run.complete:
        logger.info("scoring finished", extra=summary)
    else:
        metrics.add_metric(name="ScoringRunsIncomplete", unit="Count", value=1)
        logger.error("scoring stopped before every shard was scored", extra=summary)
    return summary
