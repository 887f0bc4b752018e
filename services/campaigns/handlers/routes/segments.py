"""Segments (included by handlers/api.py); admin and marketer.

* ``POST /v1/admin/segments`` — ``{name, description?, rule}`` → 201; an invalid rule → 422
  ``invalid_segment_rule`` with the path of each field at fault; nothing written;
* ``GET /v1/admin/segments`` — newest first, paginated; ``GET /v1/admin/segments/{id}``;
* ``POST /v1/admin/segments/{id}/preview`` and ``POST /v1/admin/segments/preview`` (an unsaved
  rule) — count and a masked sample, from the audience snapshot's bitmaps (no table read);
* ``POST /v1/admin/audience/snapshots`` — 202: materialise a fresh snapshot now (asynchronous).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

from services.campaigns.handlers.routes.planning_common import decode_token, encode_token, settings, staff
from services.campaigns.models.campaigns import (
    PreviewOptions,
    PreviewOut,
    RulePreview,
    Segment,
    SegmentCreate,
    SegmentOut,
    SegmentPage,
)
from shared import clock
from shared.api import json_response
from shared.web import Path, Query, Response, Router

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.campaigns.dal.planning import DynamoSegmentRepository

# Repositories and logic (which import the event contracts) are imported by the routes that use
# them: the API's cold start pays only for the routing and the request models.

router = Router()
ID = r"^[0-9A-HJKMNP-TV-Z]{26}$"


def _out(segment: Segment) -> SegmentOut:
    return SegmentOut(
        segment_id=segment.segment_id,
        name=segment.name,
        description=segment.description,
        rule=segment.rule,
        created_at=clock.to_utc_iso(segment.created_at),
        created_by=segment.created_by,
    )


def _repo() -> DynamoSegmentRepository:
    from services.campaigns.dal.planning import DynamoSegmentRepository  # noqa: PLC0415

    return DynamoSegmentRepository(settings().table_name)


@router.post(
    "/v1/admin/segments",
    summary="Create a segment (rule validated first)",
    tags=["segments"],
    responses={
        201: {"description": "Created", "content": {"application/json": {"model": SegmentOut}}},
        422: {"description": "The rule is not valid; error.fields names each problem"},
    },
)
def create(body: SegmentCreate) -> Response[str]:
    from services.campaigns.logic.campaigns import create_segment  # noqa: PLC0415

    actor = staff(router)
    segment = create_segment(body, _repo(), actor, clock.now())
    return json_response(201, _out(segment).model_dump(mode="json"))


@router.get("/v1/admin/segments", summary="Segments, newest first", tags=["segments"])
def list_segments(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
) -> SegmentPage:
    staff(router)
    items, last = _repo().list_page(limit, decode_token(next_token, "SEGMENTS"))
    return SegmentPage(items=[_out(s) for s in items], next_token=encode_token(last))


@router.get("/v1/admin/segments/<segment_id>", summary="One segment", tags=["segments"])
def get_one(segment_id: Annotated[str, Path(pattern=ID)]) -> SegmentOut:
    from services.campaigns.logic.campaigns import get_segment  # noqa: PLC0415

    staff(router)
    return _out(get_segment(segment_id, _repo()))


def _preview(rule: dict[str, Any], sample_size: int) -> PreviewOut:
    from services.campaigns.dal.snapshots import S3SnapshotStore  # noqa: PLC0415
    from services.campaigns.logic.campaigns import checked_rule, preview  # noqa: PLC0415
    from services.campaigns.logic.snapshots import current_audience  # noqa: PLC0415

    parsed = checked_rule(rule)
    config = settings()
    audience = current_audience(S3SnapshotStore(config.snapshot_bucket), clock.now(), None)
    return preview(parsed, audience, clock.now(), sample_size)


@router.post(
    "/v1/admin/segments/<segment_id>/preview",
    summary="Count and masked sample of a segment (from the audience snapshot)",
    tags=["segments"],
)
def preview_segment(
    segment_id: Annotated[str, Path(pattern=ID)], body: PreviewOptions | None = None
) -> PreviewOut:
    from services.campaigns.logic.campaigns import get_segment  # noqa: PLC0415

    staff(router)
    segment = get_segment(segment_id, _repo())
    return _preview(segment.rule, (body or PreviewOptions()).sample_size)


@router.post(
    "/v1/admin/segments/preview",
    summary="Count and masked sample of an unsaved rule",
    tags=["segments"],
)
def preview_rule(body: RulePreview) -> PreviewOut:
    staff(router)
    return _preview(body.rule, body.sample_size)


@router.post(
    "/v1/admin/audience/snapshots",
    summary="Materialise a fresh audience snapshot (asynchronous)",
    tags=["segments"],
    responses={202: {"description": "Accepted"}},
)
def request_snapshot() -> Response[str]:
    staff(router)
    config = settings()
    if config.materialise_function:
        from shared.aws import client  # noqa: PLC0415

        client("lambda").invoke(
            FunctionName=config.materialise_function, InvocationType="Event", Payload=json.dumps({}).encode()
        )
    return json_response(202, {"status": "accepted"})
