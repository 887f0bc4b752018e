"""Phone change with SMS verification (member; logic/phone.py):

* ``POST /v1/members/me/phone/verification {phone}`` — a code by SMS to the new number → 202;
* ``POST /v1/members/me/phone {code}`` — confirm: the phone lookup key moves atomically → the profile.
"""

from __future__ import annotations

from datetime import timedelta

from services.members.handlers.routes.common import Deps, caller, correlation_id, open_member
from services.members.logic.identity import lookup_hash, mask_member_phone, normalise_phone
from services.members.logic.views import owner_view
from services.members.models.api import MemberOut, PhoneChangeConfirm, PhoneChangeRequest, PhoneCodeSent
from shared import clock
from shared.api import json_response
from shared.auth import require_member
from shared.errors import Conflict, Unprocessable
from shared.observability import get_logger
from shared.web import Response, Router

router = Router()
# logic.phone and dal.phone are imported by the two routes (cold start: most requests never need them).
logger = get_logger("members")


@router.post(
    "/v1/members/me/phone/verification",
    summary="Send a verification code to a new phone number",
    description="The code goes by SMS to the new number and is valid 5 minutes. One code a minute, "
    "five a day per member, five a day per number; a number of another member is 409.",
    tags=["members"],
    responses={
        202: {"description": "Code sent", "content": {"application/json": {"model": PhoneCodeSent}}},
        409: {"description": "phone_already_registered"},
        422: {"description": "Invalid phone, or the current one"},
        429: {"description": "Asked too often"},
    },
)
def request_code(body: PhoneChangeRequest) -> Response[str]:
    from services.members.dal.phone import DynamoPhoneChangeRepository  # noqa: PLC0415
    from services.members.logic.phone import CODES, PENDING_FIELD, new_code, plan_code_request  # noqa: PLC0415

    member_id = require_member(caller(router.current_event.raw_event))
    deps = Deps.load()
    phone = normalise_phone(body.phone, deps.settings.phone_default_region)
    pepper = deps.pepper()
    phone_hash = lookup_hash(pepper, "phone", phone)
    phones = DynamoPhoneChangeRepository(deps.settings.table_name)
    vault = deps.vault()
    try:
        _, opened = open_member(deps, member_id, vault)
        if opened.get("phone") == phone:
            raise Unprocessable(
                "phone_unchanged",
                "This is already your phone number.",
                [{"field": "phone", "message": "Same as the current number."}],
            )
        if deps.repo.lookup("phone", phone_hash) is not None:
            raise Conflict("phone_already_registered", "This phone number is already registered.")
        now = clock.now()
        request = plan_code_request(
            member_id=member_id,
            pending=phones.pending(member_id),
            phone_hash=phone_hash,
            sealed_phone=vault.seal(member_id, {PENDING_FIELD: phone}),
            key=deps.phone_code_key(),
            now=now,
            code=new_code(),
        )
    finally:
        vault.forget()
    sender = deps.sms()  # a misconfigured adapter fails before a code is recorded
    day = clock.mall_now(deps.settings.mall_timezone).date().isoformat()
    phones.save_phone_request(request, number_day=day, ttl=clock.epoch_seconds(now + timedelta(days=2)))
    # Sent after the code is stored: a failed send costs the member one of the day's codes, and no
    # code ever reaches a phone without being recorded. Not retried (SendSms is not idempotent).
    message_id = sender.send_code(phone, request.code)
    logger.info("phone change code sent", extra={"member_id": member_id, "sms_message_id": message_id})
    answer = PhoneCodeSent(
        sent_to=mask_member_phone(phone),
        expires_in=CODES.expires_in,
        resend_after=CODES.resend_seconds,
    )
    return json_response(202, answer.model_dump(mode="json"))


@router.post(
    "/v1/members/me/phone",
    summary="Confirm the new phone number with the SMS code",
    description="The phone's lookup key moves in one transaction (one member per phone: a number "
    "taken meanwhile is 409); MemberProfileUpdated names the field (phone), never the value. Five "
    "wrong codes void the code.",
    tags=["members"],
    responses={
        409: {"description": "phone_already_registered, no_phone_change_pending, phone_code_used"},
        422: {"description": "code_invalid, code_expired"},
        429: {"description": "too_many_attempts"},
    },
)
def confirm_phone(body: PhoneChangeConfirm) -> MemberOut:
    from services.members.dal.phone import DynamoPhoneChangeRepository  # noqa: PLC0415
    from services.members.logic.phone import PENDING_FIELD, check_code, plan_phone_change  # noqa: PLC0415

    event = router.current_event.raw_event
    member_id = require_member(caller(event))
    deps = Deps.load()
    phones = DynamoPhoneChangeRepository(deps.settings.table_name)
    now = clock.now()
    pending = phones.pending(member_id)
    with phones.wrong_attempts_counted(member_id, pending):
        check_code(pending, member_id=member_id, code=body.code, key=deps.phone_code_key(), now=now)
    assert pending is not None  # check_code passed
    vault = deps.vault()
    try:
        profile, opened = open_member(deps, member_id, vault)
        new_phone = vault.open(member_id, pending)[PENDING_FIELD]
        sealed = vault.seal(member_id, {"phone": new_phone})
        writes = plan_phone_change(
            profile=profile,
            old_phone=opened["phone"],
            pending=pending,
            sealed_phone=sealed,
            pepper=deps.pepper(),
            now=now,
            correlation_id=correlation_id(event),
        )
        deps.repo.apply(writes)
    finally:
        vault.forget()
    logger.info("member phone changed", extra={"member_id": member_id})
    profile = {**profile, **sealed, "version": int(profile.get("version") or 1) + 1}
    return owner_view(profile, {**opened, "phone": new_phone})
