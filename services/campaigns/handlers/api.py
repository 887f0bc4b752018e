"""CampaignsApiFunction: the campaigns HTTP API (staff, behind the StaffJwt authorizer).

``GET /v1/admin/journeys/{name}/executions`` — a journey's runs newest first (admin, marketer):
churn warning's episodes, the birthday and points-expiring occurrences (one per message).
Roles are checked here too: the gateway only proves the token, not the group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from services.campaigns.handlers.routes import campaigns as planning_campaigns
from services.campaigns.handlers.routes import inbox as delivery_inbox
from services.campaigns.handlers.routes import segments as planning_segments
from services.campaigns.handlers.routes import wechat_push as delivery_wechat_push
from services.campaigns.models.api import EpisodeOut, EpisodePage, JourneyCouponOut, JourneyMessageOut
from services.campaigns.models.settings import CampaignsSettings
from shared import clock
from shared.api import make_resolver
from shared.auth import principal_from_event, require_roles
from shared.observability import get_logger, get_tracer
from shared.settings import load
from shared.web import Path, Query

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from services.campaigns.logic.journeys import OccurrenceView
    from services.campaigns.models.entities import Episode

SERVICE = "campaigns"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
app = make_resolver()
app.include_router(planning_campaigns.router)
app.include_router(planning_segments.router)
app.include_router(delivery_inbox.router)  # served by CampaignsInboxApiFunction; here for the API doc
app.include_router(delivery_wechat_push.router)  # served by CampaignsWeChatPushFunction; for the API doc


def _iso(value: Any) -> str | None:
    return clock.to_utc_iso(value) if value is not None else None


def _episode_out(episode: Episode) -> EpisodeOut:
    return EpisodeOut(
        episode_id=episode.episode_id,
        journey=episode.journey,
        member_id=episode.member_id,
        status=episode.status,
        outcome=episode.outcome,
        started_at=clock.to_utc_iso(episode.started_at),
        ended_at=_iso(episode.ended_at),
        execution_name=episode.execution_name,
        last_purchase_at=_iso(episode.last_purchase_at),
        error=episode.error,
    )


def _occurrence_out(view: OccurrenceView) -> EpisodeOut:
    occurrence, message, coupon = view.occurrence, view.message, view.coupon
    return EpisodeOut(
        episode_id=occurrence.occurrence_id,
        journey=occurrence.journey,
        member_id=occurrence.member_id,
        status=view.status,
        outcome=view.outcome,
        started_at=clock.to_utc_iso(occurrence.started_at),
        ended_at=_iso(view.ended_at),
        execution_name=None,
        last_purchase_at=None,
        error=view.error,
        send_id=occurrence.send_id,
        message=JourneyMessageOut(
            status=message.status,
            reason=message.reason,
            channel=message.channel,
            due_at=_iso(message.due_at),
            sent_at=_iso(message.sent_at),
            finished_at=_iso(message.finished_at),
        ),
        coupon=JourneyCouponOut(
            template_id=coupon.template_id,
            coupon_id=coupon.coupon_id,
            issued=coupon.issued,
            reason=coupon.reason,
        )
        if coupon is not None
        else None,
        birthday_on=occurrence.birthday_on,
        lot_id=occurrence.lot_id,
        points=occurrence.points,
        expires_at=_iso(occurrence.expires_at),
    )


@app.get(
    "/v1/admin/journeys/<name>/executions",
    summary="List a journey's runs, newest first (one member's with member_id): churn warning's "
    "episodes, the birthday and points-expiring messages",
    tags=["journeys"],
)
def list_journey_executions(
    name: Annotated[str, Path(max_length=64)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
    member_id: Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")] = None,
) -> EpisodePage:

    from services.campaigns.dal.episodes import DynamoEpisodeRepository  # noqa: PLC0415
    from services.campaigns.logic.journeys import MESSAGE_JOURNEYS, list_episodes  # noqa: PLC0415

    require_roles(principal_from_event(app.current_event.raw_event), "admin", "marketer")
    table_name = load(CampaignsSettings).table_name
    if name in MESSAGE_JOURNEYS:
        from services.campaigns.dal.occurrences import DynamoOccurrenceRepository  # noqa: PLC0415
        from services.campaigns.logic.journeys import list_occurrences  # noqa: PLC0415

        views, token = list_occurrences(
            name,
            DynamoOccurrenceRepository(table_name),
            limit=limit,
            next_token=next_token,
            member_id=member_id,
        )
        return EpisodePage(items=[_occurrence_out(v) for v in views], next_token=token)
    repo = DynamoEpisodeRepository(table_name)
    page = list_episodes(name, repo, limit=limit, next_token=next_token, member_id=member_id)
    return EpisodePage(items=[_episode_out(e) for e in page.episodes], next_token=page.next_token)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
