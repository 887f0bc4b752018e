"""CampaignsJourneyContactFunction: the churn-warning journey's contact tasks, by ``action``:

* ``recent_contact`` (CheckRecentContact) → ``{"recent", "last_contact_at"}``;
* ``send_win_back`` (SendWinBack) → ``{"send_id"}`` (queued on CampaignsDispatchQueue);
* ``escalate`` (EscalateIfValuable) → ``{"escalated", "coupon_id"}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.campaigns.dal.dispatch import DynamoDispatchStore
from services.campaigns.dal.dispatch_queue import SqsDispatchQueue
from services.campaigns.dal.episodes import DynamoEpisodeRepository
from services.campaigns.dal.escalations import DynamoEscalations
from services.campaigns.logic.churn_contact import escalate_if_valuable, recent_contact, send_win_back
from services.campaigns.models.settings import DeliveryProducerSettings
from services.campaigns.models.tasks import ContactTaskInput
from shared import clock
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
    task = ContactTaskInput.model_validate(event)
    settings = load(DeliveryProducerSettings)
    now = clock.now()
    if task.action == "recent_contact":
        last = DynamoDispatchStore(settings.table_name).last_contact(task.member_id)
        check = recent_contact(last, now=now, days=settings.recent_contact_days)
        result: dict[str, Any] = {
            "recent": check.recent,
            "last_contact_at": clock.to_utc_iso(last) if last else None,
        }
    elif task.action == "send_win_back":
        episode = DynamoEpisodeRepository(settings.table_name).get(task.episode_id)
        if episode is None or episode.member_id != task.member_id:
            # Erased meanwhile (the episode now holds a pseudonym): no message to anyone.
            return {"send_id": None}
        send_id = send_win_back(
            task.episode_id,
            task.member_id,
            SqsDispatchQueue(settings.dispatch_queue_url),
            template_id=settings.win_back_coupon_template_id,
            observe_seconds=task.observe_seconds or 0,
            now=now,
        )
        result = {"send_id": send_id}
    else:
        sent = DynamoDispatchStore(settings.table_name).get(f"jrn#churn_warning#{task.episode_id}")
        coupon_id = sent.coupon_id if sent else None
        escalated = escalate_if_valuable(
            DynamoEpisodeRepository(settings.table_name).get(task.episode_id),
            DynamoEscalations(settings.table_name),
            execution_name=task.execution_name or task.episode_id,
            last_purchase_at=task.last_purchase_at,
            coupon_id=coupon_id,
            now=now,
        )
        result = {"escalated": escalated, "coupon_id": coupon_id}
    logger.info(
        "journey contact task", extra={"episode_id": task.episode_id, "action": task.action, **result}
    )
    return result
