"""Campaigns (included by handlers/api.py); admin and marketer.

* ``POST /v1/admin/campaigns`` — create (201). 422 ``invalid_campaign`` naming each field at fault:
  no content for a channel, an unknown personalisation field, a schedule in the past, an unknown
  segment, an unknown coupon template (asked of loyalty: contract A ``describe_template``);
* ``GET /v1/admin/campaigns`` (newest first), ``GET /v1/admin/campaigns/{id}``;
* ``POST /v1/admin/campaigns/{id}/launch`` — 202: a one-off (or a scheduled one, early) is queued
  for the launch worker; a triggered one becomes active (200). 409 when not launchable;
* ``PATCH /v1/admin/campaigns/{id}`` — edit a draft (the fields given replace the stored ones;
  checked like a new campaign: 422 ``invalid_campaign``); 409 ``campaign_not_editable`` unless a
  draft, 409 ``campaign_changed`` when another edit won;
* ``POST /v1/admin/campaigns/{id}/cancel`` — cancel in any state (idempotent): a pending schedule
  is deleted, a triggered campaign leaves the trigger index, a running launch stops at its next
  page, queued sends are suppressed by dispatch (``campaign_cancelled``);
* ``GET /v1/admin/campaigns/{id}/report`` — per variant and control: audience, sends,
  suppressions, conversions, uplift with a 95 % Newcombe interval, incremental sales, offer cost.
"""

from __future__ import annotations

from typing import Annotated, Any

from services.campaigns.dal import planning_adapters
from services.campaigns.handlers.routes.planning_common import decode_token, encode_token, settings, staff
from services.campaigns.models.campaigns import Campaign, CampaignCreate, CampaignPage, CampaignPatch
from services.campaigns.models.reports import CampaignReport
from shared import clock
from shared.api import json_response
from shared.web import Path, Query, Response, Router

# Repositories, logic and the event contracts are imported by the routes that use them: the API's
# cold start pays only for the routing and the request models (DESIGN §2 cold imports).

router = Router()
ID = r"^[0-9A-HJKMNP-TV-Z]{26}$"
# The body of a route that answers one campaign (`_out`), for the OpenAPI document.
_CAMPAIGN = {"application/json": {"model": Campaign}}


def _out(campaign: Campaign) -> dict[str, Any]:
    return campaign.model_dump(mode="json")


@router.post(
    "/v1/admin/campaigns",
    summary="Create a campaign (one-off, scheduled or triggered)",
    tags=["campaigns"],
    responses={
        201: {"description": "Created", "content": _CAMPAIGN},
        422: {"description": "Not valid; error.fields names each problem"},
    },
)
def create(body: CampaignCreate) -> Response[str]:
    from services.campaigns.dal.planning import DynamoCampaignRepository, DynamoSegmentRepository  # noqa: PLC0415
    from services.campaigns.logic.campaigns import create_campaign  # noqa: PLC0415

    actor = staff(router)
    config = settings()
    campaign = create_campaign(
        body,
        segments=DynamoSegmentRepository(config.table_name),
        offers=planning_adapters.LambdaOfferCatalogue(config.loyalty_offers_function),
        campaigns=DynamoCampaignRepository(config.table_name),
        scheduler=planning_adapters.EventBridgeLaunchScheduler(
            config.schedule_group, config.launch_queue_arn, config.launch_schedule_role_arn
        ),
        created_by=actor,
        now=clock.now(),
        timezone=config.mall_timezone,
    )
    return json_response(201, _out(campaign))


@router.get("/v1/admin/campaigns", summary="Campaigns, newest first", tags=["campaigns"])
def list_campaigns(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
) -> CampaignPage:
    from services.campaigns.dal.planning import DynamoCampaignRepository  # noqa: PLC0415

    staff(router)
    items, last = DynamoCampaignRepository(settings().table_name).list_page(
        limit, decode_token(next_token, "CAMPAIGNS")
    )
    return CampaignPage(items=[_out(c) for c in items], next_token=encode_token(last))


@router.get(
    "/v1/admin/campaigns/<campaign_id>",
    summary="One campaign",
    tags=["campaigns"],
    responses={200: {"description": "The campaign", "content": _CAMPAIGN}},
)
def get_one(campaign_id: Annotated[str, Path(pattern=ID)]) -> dict[str, Any]:
    from services.campaigns.dal.planning import DynamoCampaignRepository  # noqa: PLC0415
    from services.campaigns.logic.campaigns import get_campaign  # noqa: PLC0415

    staff(router)
    return _out(get_campaign(campaign_id, DynamoCampaignRepository(settings().table_name)))


@router.patch(
    "/v1/admin/campaigns/<campaign_id>",
    summary="Edit a draft campaign",
    tags=["campaigns"],
    responses={
        200: {"description": "The edited campaign", "content": _CAMPAIGN},
        409: {"description": "Not a draft (campaign_not_editable), or edited meanwhile (campaign_changed)"},
        422: {"description": "The edited campaign is not valid; error.fields names each problem"},
    },
)
def edit(campaign_id: Annotated[str, Path(pattern=ID)], body: CampaignPatch) -> dict[str, Any]:
    from services.campaigns.dal.planning import DynamoCampaignRepository, DynamoSegmentRepository  # noqa: PLC0415
    from services.campaigns.logic.campaigns import edit_draft  # noqa: PLC0415

    actor = staff(router)
    config = settings()
    campaign = edit_draft(
        campaign_id,
        body,
        segments=DynamoSegmentRepository(config.table_name),
        offers=planning_adapters.LambdaOfferCatalogue(config.loyalty_offers_function),
        campaigns=DynamoCampaignRepository(config.table_name),
        scheduler=planning_adapters.EventBridgeLaunchScheduler(
            config.schedule_group, config.launch_queue_arn, config.launch_schedule_role_arn
        ),
        edited_by=actor,
        now=clock.now(),
        timezone=config.mall_timezone,
    )
    return _out(campaign)


@router.post(
    "/v1/admin/campaigns/<campaign_id>/cancel",
    summary="Cancel a campaign (any state; idempotent)",
    tags=["campaigns"],
    responses={
        200: {"description": "Cancelled", "content": _CAMPAIGN},
        404: {"description": "No campaign has this id"},
    },
)
def cancel(campaign_id: Annotated[str, Path(pattern=ID)]) -> dict[str, Any]:
    from services.campaigns.dal.planning import DynamoCampaignRepository  # noqa: PLC0415
    from services.campaigns.logic.campaigns import cancel_campaign  # noqa: PLC0415

    actor = staff(router)
    config = settings()
    campaign = cancel_campaign(
        campaign_id,
        DynamoCampaignRepository(config.table_name),
        planning_adapters.EventBridgeLaunchScheduler(
            config.schedule_group, config.launch_queue_arn, config.launch_schedule_role_arn
        ),
        cancelled_by=actor,
        now=clock.now(),
    )
    return _out(campaign)


@router.post(
    "/v1/admin/campaigns/<campaign_id>/launch",
    summary="Launch a campaign (queued) or activate a triggered one",
    tags=["campaigns"],
    responses={
        202: {"description": "Launch queued", "content": _CAMPAIGN},
        200: {"description": "A triggered campaign, now active", "content": _CAMPAIGN},
        409: {"description": "Not launchable"},
    },
)
def launch(campaign_id: Annotated[str, Path(pattern=ID)]) -> Response[str]:
    from services.campaigns.dal.planning import DynamoCampaignRepository  # noqa: PLC0415
    from services.campaigns.logic.campaigns import get_campaign, request_launch  # noqa: PLC0415
    from shared.events.contracts import CampaignLaunched  # noqa: PLC0415

    staff(router)
    config = settings()
    now = clock.now()
    repo = DynamoCampaignRepository(config.table_name)
    current = get_campaign(campaign_id, repo)
    activated = CampaignLaunched(
        campaign_id=campaign_id,
        kind=current.kind,
        segment_id=current.segment_id,
        audience=0,
        queued=0,
        control=0,
        holdout=0,
        variants=current.variant_names(),
        snapshot_id=None,
        launched_at=now,
    )
    campaign = request_launch(
        campaign_id, repo, planning_adapters.SqsLaunchQueue(config.launch_queue_url), now, activated
    )
    return json_response(200 if campaign.status == "active" else 202, _out(campaign))


@router.get("/v1/admin/campaigns/<campaign_id>/report", summary="A campaign's report", tags=["campaigns"])
def report(campaign_id: Annotated[str, Path(pattern=ID)]) -> CampaignReport:
    from services.campaigns.dal.attribution import DynamoAttributionRepository  # noqa: PLC0415
    from services.campaigns.dal.planning import DynamoCampaignRepository  # noqa: PLC0415
    from services.campaigns.logic.campaigns import get_campaign  # noqa: PLC0415
    from services.campaigns.logic.reports import build_report  # noqa: PLC0415

    staff(router)
    config = settings()
    campaign = get_campaign(campaign_id, DynamoCampaignRepository(config.table_name))
    stats = DynamoAttributionRepository(config.table_name).stats(campaign_id)
    return build_report(campaign, stats, config.point_value_cents)
