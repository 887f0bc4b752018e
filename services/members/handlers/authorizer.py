"""MemberAuthorizerFunction: the HTTP API's Lambda REQUEST authorizer for member routes.

Payload 2.0, simple responses: ``{"isAuthorized": bool, "context": {...}}``. A valid member token
(HS256, key derived from ``MemberTokenKeySecret``) gives the context that
``shared.auth.principal_from_event`` reads from ``requestContext.authorizer.lambda``:
``kind`` = ``member``, ``subject`` (keyed hash of the openid), ``member_id`` ("" until registered),
``unionid_hash`` ("" when WeChat gave none). Anything else is ``isAuthorized: false`` (the gateway
answers 403). The gateway caches the answer per Authorization header (``ReauthorizeEvery``, 60 s),
so the decision must not depend on the route — it does not.

Keys: the token's ``kid`` picks the current or the previous version of ``MemberTokenKeySecret``
(rotation). Revocation: a registered member's token issued at or before the profile's
``tokens_valid_after`` is refused, and so is every token of a member whose profile is not
``active`` (erased) or missing — one GetItem (``status``, ``tokens_valid_after``) per cache miss.
At most 60 s after a revocation or an erasure (the gateway's cache; none in the local cloud) no
request passes with such a token.

Kept light for cold starts: no Powertools resolver, no pydantic models, no PyJWT.
"""

from __future__ import annotations

from typing import Any

from services.members.dal.tokens import token_masters, token_state
from services.members.logic.tokens import derive_key, token_refusal, verify_token
from services.members.models.authorizer_settings import MemberAuthorizerSettings
from shared import clock
from shared.errors import Unauthorized
from shared.observability import get_logger
from shared.settings import load

logger = get_logger("members")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = load(MemberAuthorizerSettings)
    sources = event.get("identitySource") or []
    token = str(sources[0]) if sources else str((event.get("headers") or {}).get("authorization") or "")
    try:
        masters = token_masters(settings.member_token_key_secret_arn, settings.secret_cache_seconds)
        claims = verify_token([derive_key(m, "member-token") for m in masters], token, now=clock.now())
        if claims.member_id:
            status, valid_after = token_state(settings.table_name, claims.member_id)
            reason = token_refusal(claims.issued_at, status=status, tokens_valid_after=valid_after)
            if reason is not None:
                raise Unauthorized(reason, "The member's tokens are no longer valid.")
    except Unauthorized as refused:
        logger.info("member token refused", extra={"reason": refused.code})
        return {"isAuthorized": False}
    return {
        "isAuthorized": True,
        "context": {
            "kind": "member",
            "subject": claims.subject,
            "member_id": claims.member_id or "",
            "unionid_hash": claims.unionid_hash or "",
        },
    }
