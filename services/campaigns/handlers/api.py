"""CampaignsApiFunction: the campaigns HTTP API (staff, behind the StaffJwt authorizer).

``GET /v1/admin/journeys/{name}/executions`` — journey episodes newest first (admin, marketer).
Roles are checked here too: the gateway only proves the token, not the group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from services.campaigns.handlers.routes import campaigns as planning_campaigns
from services.campaigns.handlers.routes import inbox as delivery_inbox
from services.campaigns.handlers.routes import segments as planning_segments
from services.campaigns.handlers.routes import wechat_push as delivery_wechat_push
from services.campaigns.models.api import EpisodeOut, EpisodePage
from services.campaigns.models.settings import CampaignsSettings
from shared import clock
from shared.api import make_resolver
from shared.auth import principal_from_event, require_roles
from shared.observability import get_logger, get_tracer
from shared.settings import load
from shared.web import Path, Query

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

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


@app.get(
    "/v1/admin/journeys/<name>/executions",
    summary="List a journey's episodes, newest first (one member's with member_id)",
    tags=["journeys"],
)
def list_journey_executions(
    name: Annotated[str, Path(max_length=64)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
    member_id: Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")] = None,
) -> EpisodePage:

    from services.campaigns.dal.episodes import DynamoEpisodeRepository  # noqa: PLC0415
    from services.campaigns.logic.journeys import list_episodes  # noqa: PLC0415

    require_roles(principal_from_event(app.current_event.raw_event), "admin", "marketer")
    repo = DynamoEpisodeRepository(load(CampaignsSettings).table_name)
    page = list_episodes(name, repo, limit=limit, next_token=next_token, member_id=member_id)
    return EpisodePage(items=[_episode_out(e) for e in page.episodes], next_token=page.next_token)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
