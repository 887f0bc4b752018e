"""CampaignsOnDeliveryEventsFunction: events that become messages → ``CampaignsDispatchQueue``.

``MemberBirthdayToday`` (members, contract F) → the birthday message and coupon;
``PointsExpiring`` (loyalty) → the reminder, once per lot — unless an operator's active triggered
campaign on ``PointsExpiring`` exists, which then is the one reminder; ``NotificationRequested`` (tickets,
contract C) → a transactional message. Idempotency is the dispatch's: every request carries a
send id derived from the event's business key, so a redelivered event queues a duplicate request
that dispatch ignores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.campaigns.dal.dispatch_queue import SqsDispatchQueue
from services.campaigns.logic.journey_messages import (
    birthday_request,
    notification_request,
    points_expiring_request,
)
from services.campaigns.models.settings import DeliveryProducerSettings
from shared import clock
from shared.consumer import process_event_batch, typed
from shared.events.contracts import MemberBirthdayToday, NotificationRequested
from shared.observability import get_logger, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from shared.events.envelope import EventMetadata

SERVICE = "campaigns"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(DeliveryProducerSettings)
    queue = SqsDispatchQueue(settings.dispatch_queue_url)
    zone = clock.zone(settings.mall_timezone)

    def on_birthday(metadata: EventMetadata, data: MemberBirthdayToday) -> None:
        queue.send(
            [
                birthday_request(
                    data.member_id,
                    data.birthday_on,
                    data.mode,
                    template_id=settings.birthday_coupon_template_id,
                    zone=zone,
                    now=clock.now(),
                )
            ]
        )

    replaced: list[bool] = []

    def reminder_replaced_by_a_campaign() -> bool:
        # An operator's active PointsExpiring campaign (C2's triggers) sends its own reminder for
        # the same lot; the built-in one would make it two. Read once per batch.
        if not replaced:
            from services.campaigns.dal.trigger_index import has_active_trigger  # noqa: PLC0415

            replaced.append(has_active_trigger(settings.table_name, "PointsExpiring"))
        return replaced[0]

    def on_points_expiring(metadata: EventMetadata, data: dict[str, Any]) -> None:
        if reminder_replaced_by_a_campaign():
            logger.info(
                "points reminder left to the operator's campaign", extra={"event_id": metadata.event_id}
            )
            return
        queue.send([points_expiring_request(data, zone=zone, now=clock.now())])

    def on_notification(metadata: EventMetadata, data: NotificationRequested) -> None:
        queue.send([notification_request(data, now=clock.now())])

    return process_event_batch(
        event,
        context,
        routes={
            "MemberBirthdayToday": typed(MemberBirthdayToday, on_birthday),
            "PointsExpiring": on_points_expiring,
            "NotificationRequested": typed(NotificationRequested, on_notification),
        },
    )
