"""Operator-defined tag rules (included by services/members/handlers/api.py); admin and marketer.

* ``GET /v1/admin/tags`` — every rule, and the fields the rule language reads;
* ``POST /v1/admin/tags`` — create ``{tag_id, name, description?, rule, enabled?}`` (201; 409 when
  the tag exists; 422 when the rule is not in the language — nothing written);
* ``GET /v1/admin/tags/{tag_id}`` — one rule (404);
* ``PUT /v1/admin/tags/{tag_id}`` — replace ``{name, description?, rule, enabled, version}``, where
  ``version`` is the one read (409 when someone changed it since; 404);
* ``DELETE /v1/admin/tags/{tag_id}`` — 204 (404).

The nightly scoring applies the rules as they are when it runs; members keep a tag until the next
night's score. The language: services/members/logic/tags.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from services.members.models.settings import MembersSettings
from shared import clock
from shared.api import json_response
from shared.auth import principal_from_event, require_roles
from shared.errors import Conflict, NotFound, Unprocessable
from shared.settings import load
from shared.web import Path, Response, Router

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.members.dal.tag_rules import DynamoTagRuleRepository
    from services.members.logic.tags import TagRule

# The tag language and its repository are imported by the (staff-only) routes: cold start.
router = Router()
ROLES = ("admin", "marketer")
TAG_PATH = r"^[a-z][a-z0-9_\-]{0,39}$"


class TagRuleBody(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str = Field(min_length=1, max_length=80)
    description: str = Field(default="", max_length=500)
    rule: dict[str, Any]
    enabled: bool = True


class TagRuleCreate(TagRuleBody):
    tag_id: str = Field(pattern=TAG_PATH)


class TagRuleUpdate(TagRuleBody):
    version: int = Field(ge=1)


class TagRuleOut(BaseModel):
    model_config = ConfigDict(defer_build=True)

    tag_id: str
    name: str
    description: str
    rule: dict[str, Any]
    enabled: bool
    version: int
    updated_at: str
    updated_by: str


class TagRuleList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[TagRuleOut]
    fields: dict[str, str] = Field(description="What a rule's `field` may name.")


def _repo() -> DynamoTagRuleRepository:
    from services.members.dal.tag_rules import DynamoTagRuleRepository  # noqa: PLC0415

    return DynamoTagRuleRepository(load(MembersSettings).table_name)


def _staff() -> str:
    return require_roles(principal_from_event(router.current_event.raw_event), *ROLES).subject


def _build(tag_id: str, body: TagRuleBody, *, version: int, actor: str) -> TagRule:
    from services.members.logic.tags import InvalidRule, TagRule, check_tag_id, parse  # noqa: PLC0415

    try:
        return TagRule(
            tag_id=check_tag_id(tag_id),
            name=body.name,
            description=body.description,
            rule=parse(body.rule),
            enabled=body.enabled,
            version=version,
            updated_at=clock.to_utc_iso(clock.now()),
            updated_by=actor,
        )
    except InvalidRule as exc:
        raise Unprocessable("invalid_tag_rule", str(exc), [{"field": "rule", "message": str(exc)}]) from None


def _out(rule: TagRule) -> TagRuleOut:
    return TagRuleOut.model_validate(rule.as_dict())


@router.get("/v1/admin/tags", summary="List the operators' tag rules", tags=["admin-tags"])
def list_tags() -> TagRuleList:
    from services.members.logic.tags import FEATURE_FIELDS, MAP_FIELDS  # noqa: PLC0415

    _staff()
    fields = dict(FEATURE_FIELDS) | {
        f"{m}.<category>": f"{m.replace('_', ' ')} of one category" for m in MAP_FIELDS
    }
    return TagRuleList(items=[_out(r) for r in _repo().list()], fields=fields)


@router.post(
    "/v1/admin/tags",
    summary="Create a tag rule",
    tags=["admin-tags"],
    responses={
        201: {"description": "Created", "content": {"application/json": {"model": TagRuleOut}}},
        409: {"description": "The tag exists"},
        422: {"description": "The rule is not in the language"},
    },
)
def create_tag(body: TagRuleCreate) -> Response[str]:
    actor = _staff()
    rule = _build(body.tag_id, body, version=1, actor=actor)
    if not _repo().put(rule, expected_version=None):
        raise Conflict("tag_exists", f"Tag {rule.tag_id} exists; change it with PUT.")
    return json_response(201, _out(rule).model_dump(mode="json"))


@router.get("/v1/admin/tags/<tag_id>", summary="One tag rule", tags=["admin-tags"])
def get_tag(tag_id: Annotated[str, Path(pattern=TAG_PATH)]) -> TagRuleOut:
    _staff()
    rule = _repo().get(tag_id)
    if rule is None:
        raise NotFound("tag_not_found", f"No tag {tag_id}.")
    return _out(rule)


@router.put(
    "/v1/admin/tags/<tag_id>",
    summary="Replace a tag rule (optimistic: send the version read)",
    tags=["admin-tags"],
)
def update_tag(tag_id: Annotated[str, Path(pattern=TAG_PATH)], body: TagRuleUpdate) -> TagRuleOut:
    actor = _staff()
    rule = _build(tag_id, body, version=body.version + 1, actor=actor)
    repo = _repo()
    if repo.put(rule, expected_version=body.version):
        return _out(rule)
    if repo.get(tag_id) is None:
        raise NotFound("tag_not_found", f"No tag {tag_id}.")
    raise Conflict("tag_changed", "The tag was changed since you read it; read it again.")


@router.delete("/v1/admin/tags/<tag_id>", summary="Delete a tag rule", tags=["admin-tags"])
def delete_tag(tag_id: Annotated[str, Path(pattern=TAG_PATH)]) -> Response[str]:
    _staff()
    if not _repo().delete(tag_id):
        raise NotFound("tag_not_found", f"No tag {tag_id}.")
    return Response(status_code=204, content_type="application/json", body="")
