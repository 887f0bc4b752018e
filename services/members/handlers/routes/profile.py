"""``POST /v1/members`` (register), ``GET/PATCH /v1/members/me`` and the e-mail address's
verification (``POST /v1/members/me/email/verification`` and ``…/email/confirmation``; member token)."""

from __future__ import annotations

from services.members.handlers.routes.common import (
    Deps,
    authorizer_context,
    caller,
    correlation_id,
    open_member,
)
from services.members.logic.tokens import issue_token
from services.members.logic.views import owner_view
from services.members.models.api import (
    EmailCodeSent,
    EmailConfirm,
    MemberOut,
    ProfilePatch,
    RegistrationRequest,
    RegistrationResponse,
)
from shared import clock
from shared.api import json_response
from shared.auth import require_member
from shared.errors import Conflict, Forbidden
from shared.ids import new_ulid
from shared.observability import get_logger
from shared.web import Response, Router

router = Router()
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
        422: {"description": "Invalid phone, e-mail address, birthday, plate, consent…"},
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
    "Plates need the car_plates consent. The phone cannot be changed here (it needs SMS verification). "
    "email: an address sets or replaces it (422 email_invalid), null removes it.",
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


@router.post(
    "/v1/members/me/email/verification",
    summary="Send a verification code to the member's e-mail address",
    description="The code goes to the address on the profile and is valid 30 minutes; one code a "
    "minute, five a day per member. Marketing by e-mail reaches only a verified address.",
    tags=["members"],
    responses={
        202: {"description": "Code sent", "content": {"application/json": {"model": EmailCodeSent}}},
        409: {"description": "no_email, email_already_verified"},
        422: {"description": "email_rejected (SES refused the address)"},
        429: {"description": "Asked too often"},
        503: {"description": "email_unavailable"},
    },
)
def request_email_code() -> Response[str]:
    from services.members.dal.one_time_code import DynamoOneTimeCodes  # noqa: PLC0415
    from services.members.logic.email_verification import CODES, new_code, plan_code_request  # noqa: PLC0415
    from services.members.logic.identity import mask_member_email  # noqa: PLC0415

    member_id = require_member(caller(router.current_event.raw_event))
    deps = Deps.load()
    pending_items = DynamoOneTimeCodes(deps.settings.table_name, CODES)
    vault = deps.vault()
    try:
        profile, opened = open_member(deps, member_id, vault)
    finally:
        vault.forget()
    address = opened.get("email")
    request = plan_code_request(
        member_id=member_id,
        profile=profile,
        address=address,
        pending=pending_items.pending(member_id),
        key=deps.email_code_key(),
        now=clock.now(),
        code=new_code(),
    )
    assert address is not None  # plan_code_request refused a profile without one
    sender = deps.email_sender()  # a misconfigured sender fails before a code is recorded
    pending_items.save_request(request)
    # Sent after the code is stored: a failed send costs one of the day's codes, and no code ever
    # reaches a mailbox without being recorded.
    message_id = sender.send_code(address, request.code)
    logger.info("email verification code sent", extra={"member_id": member_id, "provider_id": message_id})
    answer = EmailCodeSent(
        sent_to=mask_member_email(address),
        expires_in=CODES.expires_in,
        resend_after=CODES.resend_seconds,
    )
    return json_response(202, answer.model_dump(mode="json"))


@router.post(
    "/v1/members/me/email/confirmation",
    summary="Confirm the member's e-mail address with the code sent to it",
    description="Marks the address on the profile verified (MemberProfileUpdated names "
    "email_verified). A code sent to an earlier address does not verify a new one; five wrong codes "
    "void the code.",
    tags=["members"],
    responses={
        409: {"description": "no_email_verification_pending, email_code_used, member_changed"},
        422: {"description": "code_invalid, code_expired"},
        429: {"description": "too_many_attempts"},
    },
)
def confirm_email(body: EmailConfirm) -> MemberOut:
    from services.members.dal.one_time_code import DynamoOneTimeCodes  # noqa: PLC0415
    from services.members.logic.email_verification import CODES, check_code, plan_verified  # noqa: PLC0415

    event = router.current_event.raw_event
    member_id = require_member(caller(event))
    deps = Deps.load()
    pending_items = DynamoOneTimeCodes(deps.settings.table_name, CODES)
    now = clock.now()
    vault = deps.vault()
    try:
        profile, opened = open_member(deps, member_id, vault)
    finally:
        vault.forget()
    pending = pending_items.pending(member_id)
    with pending_items.wrong_attempts_counted(member_id, pending):
        check_code(
            pending,
            member_id=member_id,
            address=opened.get("email"),
            code=body.code,
            key=deps.email_code_key(),
            now=now,
        )
    assert pending is not None  # check_code passed
    writes, verified = plan_verified(
        profile=profile, pending=pending, now=now, correlation_id=correlation_id(event)
    )
    deps.repo.apply(writes)
    logger.info("member email verified", extra={"member_id": member_id})
    return owner_view(verified, opened)
