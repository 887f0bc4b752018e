"""LoyaltyLedgerJobsFunction: the ledger's clock (EventBridge Scheduler).

Input ``{"job": "daily"}`` (00:05 mall time: release return windows that ended, expire what is
due, then PointsExpiring for lots expiring within ``POINTS_EXPIRING_NOTICE_DAYS``),
``{"job": "tier-review"}`` (monthly, 1st 03:00 mall time), or — by hand — ``{"job": "release"}``
or ``{"job": "expiry"}`` alone.
See services/loyalty/logic/ledger_jobs.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.loyalty.dal.ledger import DynamoDueIndex, DynamoLedgerRepository
from services.loyalty.dal.loyalty_config import DynamoLoyaltyConfig
from services.loyalty.logic.ledger import EventsOut
from services.loyalty.logic.ledger_jobs import JobRun, run_expiry, run_release, run_review
from services.loyalty.models.settings import LedgerJobSettings
from shared import clock
from shared.events.contracts import EventData
from shared.ids import new_ulid
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "loyalty"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)
JOBS = ("daily", "release", "expiry", "tier-review")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(LedgerJobSettings)
    job = str(event.get("job", ""))
    if job not in JOBS:
        raise ValueError(f"unknown ledger job {job!r}; expected one of {JOBS}")
    now = clock.now()
    tz = clock.zone(settings.mall_timezone)
    store = DynamoLedgerRepository(settings.table_name)
    index = DynamoDueIndex(settings.table_name)
    producer = f"loyalty.{job}"
    correlation_id = f"{producer}:{context.aws_request_id}"

    def events_out(events: list[EventData]) -> EventsOut:
        return EventsOut(events=events, correlation_id=correlation_id, producer=producer, at=now)

    run = JobRun()
    if job in ("daily", "release"):
        run = run_release(store, index, now=now, new_id=new_ulid, events_out=events_out)
    if job in ("daily", "expiry"):
        released = run
        run = run_expiry(
            store,
            index,
            now=now,
            notice_days=settings.points_expiring_notice_days,
            tz=tz,
            new_id=new_ulid,
            events_out=events_out,
        )
        run.released, run.busy = released.released, released.busy + run.busy
    if job == "tier-review":
        tiers, program = DynamoLoyaltyConfig(settings.table_name).list_tiers()
        run = run_review(store, index, tiers, program, now=now, tz=tz, events_out=events_out)
    summary = {
        "job": job,
        "released": run.released,
        "expired": run.expired,
        "noticed": run.noticed,
        "reviewed": run.reviewed,
        "downgraded": run.downgraded,
        "busy": len(run.busy),
    }
    metrics.add_metric(name="PointsLotsReleased", unit="Count", value=run.released)
    metrics.add_metric(name="PointsLotsExpired", unit="Count", value=run.expired)
    metrics.add_metric(name="PointsExpiringNotices", unit="Count", value=run.noticed)
    metrics.add_metric(name="TierDowngrades", unit="Count", value=run.downgraded)
    if run.busy:
        # Members whose ledger kept changing during the job: the next run picks them up.
        logger.warning("ledger job left busy members for the next run", extra=summary)
    else:
        logger.info("ledger job finished", extra=summary)
    return summary
