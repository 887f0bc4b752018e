"""``POST /v1/members`` (register) and ``GET/PATCH /v1/members/me`` (member token)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from services.members.handlers.routes.common import (
    Deps,
    authorizer_context,
    caller,
    correlation_id,
    open_member,
)
from services.members.logic.tokens import issue_token
from services.members.logic.views import owner_view
from services.members.models.api import MemberOut, ProfilePatch, RegistrationRequest, RegistrationResponse
from shared import clock
from shared.api import json_response
from shared.auth import require_member
from shared.errors import Conflict, Forbidden
from shared.ids import new_ulid
from shared.observability import get_logger

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves it untyped
logger = get_logger("members")


@router.post(
    "/v1/members",
    summary="Register the logged-in shopper as a member",
    description="Needs a member token without member_id. Phone normalised to E.164 (default region CN); "
    "one member per phone and per WeChat account (409). Returns the member and a new token that "
    "carries member_id.",
    tags=["members"],
    responses={
        201: {"description": "Registered", "content": {"application/json": {"model": RegistrationResponse}}},
        409: {"description": "Already registered, or the phone/card/plate belongs to another member"},
        422: {"description": "Invalid phone, birthday, plate, consent…"},
    },
)
def register(body: RegistrationRequest) -> Response[str]:
    event = router.current_event.raw_event
    principal = caller(event)
    if principal.kind != "member":
        raise Forbidden("members_only", "This action is for members.")
    if principal.member_id:
        raise Conflict("already_registered", "This WeChat account is already a member.")
    from services.members.logic.members import plan_registration  # noqa: PLC0415 - write path only

    deps = Deps.load()
    now = clock.now()
    vault = deps.vault()
    try:
        plan = plan_registration(
            body,
            member_id=new_ulid(),
            openid_hash=principal.subject,
            unionid_hash=str(authorizer_context(event).get("unionid_hash") or "") or None,
            pepper=deps.pepper(),
            vault=vault,
            now=now,
            today=clock.mall_now(deps.settings.mall_timezone).date(),
            correlation_id=correlation_id(event),
            new_id=new_ulid,
            phone_region=deps.settings.phone_default_region,
        )
        deps.repo.apply(plan.writes, consents=plan.consents, correlation_id=correlation_id(event))
    finally:
        vault.forget()
    token, claims = issue_token(
        deps.token_key(),
        subject=principal.subject,
        member_id=plan.member_id,
        unionid_hash=str(authorizer_context(event).get("unionid_hash") or "") or None,
        now=now,
        ttl_seconds=deps.settings.member_token_ttl_seconds,
    )
    logger.info("member registered", extra={"member_id": plan.member_id})
    answer = RegistrationResponse(
        member=owner_view(plan.profile, plan.opened),
        token=token,
        expires_in=claims.expires_at - claims.issued_at,
    )
    return json_response(201, answer.model_dump(mode="json"))


@router.get("/v1/members/me", summary="The member's own profile (clear values)", tags=["members"])
def get_me() -> MemberOut:
    member_id = require_member(caller(router.current_event.raw_event))
    deps = Deps.load()
    vault = deps.vault()
    try:
        profile, opened = open_member(deps, member_id, vault)
    finally:
        vault.forget()
    return owner_view(profile, opened)


@router.patch(
    "/v1/members/me",
    summary="Change the member's own profile",
    description="Only the fields sent change; MemberProfileUpdated names the changed fields (no values). "
    "Plates need the car_plates consent. The phone cannot be changed here (it needs SMS verification).",
    tags=["members"],
    responses={409: {"description": "Card/plate linked to another member, or a concurrent change"}},
)
def patch_me(body: ProfilePatch) -> MemberOut:
    event = router.current_event.raw_event
    member_id = require_member(caller(event))
    from services.members.logic.members import plan_patch  # noqa: PLC0415 - write path only

    deps = Deps.load()
    vault = deps.vault()
    try:
        profile, opened = open_member(deps, member_id, vault)
        plan = plan_patch(
            profile,
            opened,
            body,
            pepper=deps.pepper(),
            vault=vault,
            now=clock.now(),
            today=clock.mall_now(deps.settings.mall_timezone).date(),
            correlation_id=correlation_id(event),
        )
        if plan is None:
            return owner_view(profile, opened)
        deps.repo.apply(plan.writes)
    finally:
        vault.forget()
    logger.info("member profile updated", extra={"member_id": member_id, "fields": plan.changed_fields})
    return owner_view(plan.profile, plan.opened)
