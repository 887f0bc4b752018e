"""``GET /v1/members/me/code`` (member) and ``POST /v1/admin/members/verify-code`` (store staff and up)."""

from __future__ import annotations

from services.members.handlers.routes.common import Deps, caller, open_for_staff
from services.members.logic.tokens import issue_code, verify_code
from services.members.logic.views import masked_view
from services.members.models.api import MaskedMember, MemberCodeResponse, VerifyCodeRequest
from shared import clock
from shared.auth import require_member, require_roles
from shared.errors import NotFound
from shared.web import Router

router = Router()
VERIFY_CODE_ROLES = ("store_staff", "service_agent", "loyalty_ops", "admin")


@router.get(
    "/v1/members/me/code",
    summary="A short-lived member code for the till's scanner",
    description="Signed (HMAC), valid 60 s; fetch a new one when it expires. Compact enough for a QR code.",
    tags=["members"],
)
def get_code() -> MemberCodeResponse:
    member_id = require_member(caller(router.current_event.raw_event))
    deps = Deps.load()
    profile, _ = deps.repo.profile_and_key(member_id)
    if profile is None or profile.get("status") != "active":
        raise NotFound("member_not_found", "No such member.")
    now = clock.now()
    ttl = deps.settings.member_code_ttl_seconds
    code, expires = issue_code(deps.code_key(), member_id, now=now, ttl_seconds=ttl)
    return MemberCodeResponse(code=code, expires_at=clock.to_utc_iso(expires), expires_in=ttl)


@router.post(
    "/v1/admin/members/verify-code",
    summary="Resolve a scanned member code to the member (masked)",
    tags=["admin-members"],
    responses={
        422: {"description": "code_invalid (tampered/not a code) or code_expired"},
        404: {"description": "Member gone"},
    },
)
def post_verify_code(body: VerifyCodeRequest) -> MaskedMember:
    staff = require_roles(caller(router.current_event.raw_event), *VERIFY_CODE_ROLES)
    deps = Deps.load()
    now = clock.now()
    member_id = verify_code(deps.code_keys(), body.code, now=now)
    profile, opened = open_for_staff(deps, member_id, staff, "verify_code", fields=())
    return masked_view(profile, opened)
