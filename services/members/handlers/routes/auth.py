"""``POST /v1/auth/wechat`` (member login) and ``POST /v1/auth/staff`` (staff login). No authorizer."""

from __future__ import annotations

from services.members.dal.staff import staff_login
from services.members.handlers.routes.common import Deps
from services.members.logic.identity import lookup_hash
from services.members.logic.tokens import issue_token
from services.members.models.api import (
    MemberTokenResponse,
    StaffLoginRequest,
    StaffLoginResponse,
    WeChatLoginRequest,
)
from shared import clock
from shared.errors import MallCrmError
from shared.observability import get_logger
from shared.web import Router

router = Router()
logger = get_logger("members")


@router.post(
    "/v1/auth/wechat",
    summary="Log a shopper in with a WeChat mini-program login code",
    description="Exchanges the wx.login() code (code2session) and returns a member token "
    "(HS256, 1 h). member_id is null until the shopper registers (POST /v1/members).",
    tags=["auth"],
    responses={
        401: {"description": "The code is invalid or used"},
        503: {"description": "WeChat unavailable"},
    },
)
def wechat_login(body: WeChatLoginRequest) -> MemberTokenResponse:
    deps = Deps.load()
    session = deps.wechat().code2session(body.code)
    pepper = deps.pepper()
    subject = lookup_hash(pepper, "openid", session.openid)
    unionid_hash = lookup_hash(pepper, "unionid", session.unionid) if session.unionid else None
    member_id = deps.repo.lookup("openid", subject)
    if member_id is not None:
        _remember_openid(deps, member_id, session.openid)
    token, claims = issue_token(
        deps.token_key(),
        subject=subject,
        member_id=member_id,
        unionid_hash=unionid_hash,
        now=clock.now(),
        ttl_seconds=deps.settings.member_token_ttl_seconds,
    )
    logger.info("member logged in", extra={"registered": member_id is not None})
    return MemberTokenResponse(
        token=token,
        expires_in=claims.expires_at - claims.issued_at,
        member_id=member_id,
        registered=member_id is not None,
    )


def _remember_openid(deps: Deps, member_id: str, openid: str) -> None:
    """Seal the openid into the profile the first time a registered member logs in: WeChat
    messages need it (contact directory), and registration only knows its keyed hash."""
    from services.members.logic.contacts import OPENID_ATTRIBUTE, OPENID_FIELD  # noqa: PLC0415

    profile, wrapped = deps.repo.profile_and_key(member_id)
    if profile is None or profile.get("status") != "active" or wrapped is None:
        return
    if OPENID_ATTRIBUTE in profile:
        return
    vault = deps.vault()
    try:
        vault.load(member_id, wrapped)
        deps.repo.store_sealed_openid(member_id, vault.seal_one(member_id, OPENID_FIELD, openid))
    finally:
        vault.forget()


@router.post(
    "/v1/auth/staff",
    summary="Log staff in (Cognito user pool); the groups are the roles",
    tags=["auth"],
    responses={401: {"description": "Wrong username or password (never says which)"}},
)
def staff_auth(body: StaffLoginRequest) -> StaffLoginResponse:
    deps = Deps.load()
    if not deps.settings.staff_user_pool_client_id:
        raise MallCrmError(500, "internal_error", "Internal error.")
    tokens = staff_login(deps.settings.staff_user_pool_client_id, body.username, body.password)
    return StaffLoginResponse(
        id_token=tokens.id_token,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
        roles=tokens.roles,
    )
