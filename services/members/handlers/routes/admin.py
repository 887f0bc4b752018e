"""Staff: ``GET /v1/admin/members?phone=|card=|plate=`` (exact-key search) and
``GET /v1/admin/members/{id}`` (the 360° view). Roles are enforced here (the gateway only proves
the token):

| route | roles |
|---|---|
| search | admin, service_agent, store_staff, loyalty_ops |
| 360 view, masked | admin, service_agent, loyalty_ops |
| 360 view with ``reveal=true`` (clear values, ``reason`` required, audited) | admin, service_agent |
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from services.members.handlers.routes.common import Deps, caller, open_for_staff
from services.members.logic.identity import (
    IdentityKind,
    ident_key,
    lookup_hash,
    mask_card,
    mask_member_phone,
    mask_plate,
    normalise_card,
    normalise_phone,
    normalise_plate,
)
from services.members.logic.views import masked_view, owner_view
from services.members.models.api import MemberSearchResponse
from shared import clock
from shared.auth import require_roles
from shared.errors import BadRequest, Unprocessable
from shared.ids import is_ulid
from shared.web import Path, Query, Router

router = Router()
SEARCH_ROLES = ("admin", "service_agent", "store_staff", "loyalty_ops")
VIEW_ROLES = ("admin", "service_agent", "loyalty_ops")
REVEAL_ROLES = ("admin", "service_agent")
_STATS_HIDDEN = {"pk", "sk", "gsi1pk", "gsi1sk", "days", "entity", "score", "version"}


@router.get(
    "/v1/admin/members",
    summary="Find a member by exact phone, card number or car plate (masked)",
    description="Exactly one of phone, card, plate. A keyed-hash lookup (GetItem), never a scan.",
    tags=["admin-members"],
)
def search_members(
    phone: Annotated[str | None, Query(max_length=32)] = None,
    card: Annotated[str | None, Query(max_length=40)] = None,
    plate: Annotated[str | None, Query(max_length=16)] = None,
) -> MemberSearchResponse:
    staff = require_roles(caller(router.current_event.raw_event), *SEARCH_ROLES)
    given = [(k, v) for k, v in (("phone", phone), ("card", card), ("plate", plate)) if v]
    if len(given) != 1:
        raise BadRequest("one_search_key", "Give exactly one of phone, card, plate.")
    deps = Deps.load()
    kind_name, raw = given[0]
    kind: IdentityKind
    if kind_name == "phone":
        kind, value = "phone", normalise_phone(raw, deps.settings.phone_default_region)
    elif kind_name == "card":
        kind, value = "card", normalise_card(raw)
    else:
        kind, value = "plate", normalise_plate(raw)
    member_id = deps.repo.lookup(kind, lookup_hash(deps.pepper(), kind, value))
    if member_id is None:
        return MemberSearchResponse(members=[])
    profile, opened = open_for_staff(deps, member_id, staff, "search", fields=(kind,))
    return MemberSearchResponse(members=[masked_view(profile, opened)])


def _identities(
    refs: list[dict[str, Any]], opened: dict[str, str], pepper: bytes, *, reveal: bool
) -> list[dict[str, Any]]:
    """Each lookup key's kind, when it was linked and its value (masked unless revealed); WeChat
    ids are shown as linked only. Values are matched to keys by hashing the opened values."""
    values: dict[str, str] = {}
    if opened.get("phone"):
        phone = opened["phone"]
        values[ident_key("phone", lookup_hash(pepper, "phone", phone))] = (
            phone if reveal else mask_member_phone(phone)
        )
    if opened.get("card_number"):
        card = opened["card_number"]
        values[ident_key("card", lookup_hash(pepper, "card", card))] = card if reveal else mask_card(card)
    for plate in json.loads(opened["plates"]) if opened.get("plates") else []:
        values[ident_key("plate", lookup_hash(pepper, "plate", plate))] = (
            plate if reveal else mask_plate(plate)
        )
    return [
        {"kind": ref.get("kind"), "linked_at": ref.get("created_at"), "value": values.get(str(ref["sk"]))}
        for ref in refs
    ]


def _links(member_id: str) -> dict[str, str]:
    return {
        "points_adjustments": f"/v1/admin/members/{member_id}/points-adjustments",
        # every ticket of the member (tickets' list filters by member; status=all: not only open ones)
        "tickets": f"/v1/admin/tickets?member_id={member_id}&status=all",
        # the member's own episodes (campaigns filters by member; without it: everyone's)
        "churn_warning_episodes": f"/v1/admin/journeys/churn_warning/executions?member_id={member_id}",
        "birthday_occurrences": f"/v1/admin/journeys/birthday/executions?member_id={member_id}",
        "points_expiring_reminders": f"/v1/admin/journeys/points_expiring/executions?member_id={member_id}",
    }


@router.get(
    "/v1/admin/members/<member_id>",
    summary="The member 360° view",
    description="Profile (masked; reveal=true with a reason shows clear values to admin and service_agent, "
    "and writes an audit entry), identities, consents, statistics, score and tags, links to other services.",
    tags=["admin-members"],
)
def member_360(
    member_id: Annotated[str, Path(min_length=26, max_length=26)],
    reveal: Annotated[bool, Query()] = False,
    reason: Annotated[str | None, Query(min_length=5, max_length=200)] = None,
) -> dict[str, Any]:
    staff = require_roles(caller(router.current_event.raw_event), *(REVEAL_ROLES if reveal else VIEW_ROLES))
    if not is_ulid(member_id):
        raise Unprocessable(fields=[{"field": "member_id", "message": "Not a member id."}])
    if reveal and not reason:
        raise Unprocessable(
            "reason_required",
            "Say why you need the clear values.",
            [{"field": "reason", "message": "Required with reveal."}],
        )
    deps = Deps.load()
    profile, opened = open_for_staff(deps, member_id, staff, "reveal" if reveal else None, reason=reason)
    repo = deps.repo
    if reveal:
        member: dict[str, Any] = owner_view(profile, opened).model_dump(mode="json")
    else:
        member = masked_view(profile, opened).model_dump(mode="json")
    identities = _identities(repo.identity_refs(member_id), opened, deps.pepper(), reveal=reveal)
    consents = [
        {
            "purpose": c.purpose,
            "channel": c.channel,
            "granted": c.granted,
            "text_version": c.text_version,
            "changed_at": clock.to_utc_iso(c.changed_at),
            "source": c.source,
        }
        for c in repo.consents(member_id)
    ]
    stats_item = repo.stats(member_id) or {}
    stats = {k: v for k, v in stats_item.items() if k not in _STATS_HIDDEN} or None
    return {
        "member": member,
        "revealed": reveal,
        "identities": identities,
        "consents": consents,
        "stats": stats,
        "score": stats_item.get("score"),
        "tags": stats_item.get("tags") or (stats_item.get("score") or {}).get("tags") or [],
        "links": _links(member_id),
    }
