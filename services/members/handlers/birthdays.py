"""MembersBirthdayFunction: the daily birthday job (EventBridge Scheduler, 09:00 mall time).

Publishes ``MemberBirthdayToday`` through the table's outbox (contract F; logic/birthdays.py).
The mode (``BIRTHDAY_MODE``: day | month) is read at each run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.members.dal.birthdays import DynamoBirthdayRepository
from services.members.logic.birthdays import run_birthdays
from services.members.models.birthday_settings import MembersBirthdaySettings
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
    settings = load(MembersBirthdaySettings)
    now = clock.now()
    today = now.astimezone(clock.zone(settings.mall_timezone)).date()
    repo = DynamoBirthdayRepository(
        settings.table_name, correlation_id=f"members.birthdays:{today.isoformat()}", now=now
    )
    outcome = run_birthdays(
        repo,
        today=today,
        mode=settings.birthday_mode,
        batch_size=settings.birthday_batch_size,
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
        stop_seconds=settings.birthday_stop_seconds,
    )
    summary = {
        "today": today.isoformat(),
        "mode": settings.birthday_mode,
        "published": outcome.published,
        "skipped": outcome.skipped,
        "runs_done": outcome.runs_done,
        "complete": outcome.complete,
    }
    metrics.add_metric(name="BirthdayEventsPublished", unit="Count", value=outcome.published)
    if outcome.complete:
        logger.info("birthday job finished", extra=summary)
    else:
        metrics.add_metric(name="BirthdayRunsIncomplete", unit="Count", value=1)
        logger.error("birthday job stopped before the end; the next run resumes", extra=summary)
    return summary
