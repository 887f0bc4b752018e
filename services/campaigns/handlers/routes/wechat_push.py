"""WeChat's message push for the mini-program (no gateway authorizer: WeChat signs the query with
the Token of ``WeChatMessagePushSecret``; logic/wechat_push.py). Served by
``CampaignsWeChatPushFunction`` (handlers/wechat_push_api.py); also included by handlers/api.py so
the API document describes it.

* ``GET /v1/integrations/wechat/message-push`` — WeChat's server URL check: the ``echostr`` back as
  plain text when the signature is WeChat's;
* ``POST /v1/integrations/wechat/message-push`` — a push (plaintext mode, XML or JSON):
  ``subscribe_msg_sent_event`` results become delivered / bounced on their send records (once per
  send: replays and WeChat's retries record nothing more); other pushes are acknowledged and
  ignored. ``success`` as plain text when handled.

A bad or missing signature (or a timestamp outside the window) → 401 and nothing read or written;
safe/compatible mode (``encrypt_type=aes``) or an unreadable body → 400. A failed write → 500, so
WeChat sends the push again.
"""

from __future__ import annotations

from typing import Annotated

from services.campaigns.models.wechat_push import WeChatPushSettings
from shared import clock
from shared.api import json_response
from shared.errors import error_body
from shared.observability import get_logger
from shared.settings import load
from shared.web import Query, Response, Router, content_types

router = Router()
logger = get_logger("campaigns")
PUSH_PATH = "/v1/integrations/wechat/message-push"
_SIGNED = "Signed by WeChat with the message push Token (SHA-1 of Token, timestamp and nonce, sorted)."

Signature = Annotated[str | None, Query(max_length=64, description=_SIGNED)]
Timestamp = Annotated[str | None, Query(max_length=16, description="Epoch seconds, signed.")]
Nonce = Annotated[str | None, Query(max_length=64, description="Signed.")]


def _text(status: int, body: str) -> Response[str]:
    return Response(status_code=status, content_type=content_types.TEXT_PLAIN, body=body)


def _rejected(reason: str) -> Response[str]:
    logger.warning("wechat push rejected", extra={"reason": reason})
    message = "The WeChat signature is missing or does not match."
    return json_response(401, error_body("invalid_signature", message))


def _query() -> dict[str, str]:
    return {k: str(v) for k, v in router.current_event.query_string_parameters.items()}


def _verified(settings: WeChatPushSettings) -> str | None:
    """None when the query is WeChat's; otherwise the reason it is not."""
    from services.campaigns.dal.wechat_push import push_token  # noqa: PLC0415 - cold start
    from services.campaigns.logic.wechat_push import SignatureRejected, verify  # noqa: PLC0415

    token = push_token(settings.wechat_push_secret_arn, settings.secret_cache_seconds)
    try:
        verify(token, _query(), now=clock.now(), max_skew_seconds=settings.wechat_push_max_skew_seconds)
    except SignatureRejected as exc:
        return str(exc)
    return None


@router.get(
    PUSH_PATH,
    summary="WeChat message push: server URL check (signed by WeChat)",
    description="Sent by WeChat when the message push URL is saved in the mini-program console. "
    "200 with `echostr` as text/plain when the signature matches; 401 otherwise.",
    tags=["integrations"],
)
def verify_url(
    signature: Signature = None,
    timestamp: Timestamp = None,
    nonce: Nonce = None,
    echostr: Annotated[str | None, Query(max_length=128, description="Echoed back when signed.")] = None,
) -> Response[str]:
    reason = _verified(load(WeChatPushSettings))
    if reason is not None:
        return _rejected(reason)
    return _text(200, echostr or "")


@router.post(
    PUSH_PATH,
    request_body={
        "required": True,
        "description": "WeChat's push in plaintext mode, JSON or XML (told apart by the first character).",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "MsgType": {"type": "string", "examples": ["event"]},
                        "Event": {"type": "string", "examples": ["subscribe_msg_sent_event"]},
                        "CreateTime": {"type": "integer"},
                        "List": {"description": "One {MsgID, TemplateId, ErrorCode, ErrorStatus} or a list."},
                    },
                }
            },
            "text/xml": {"schema": {"type": "string"}},
        },
    },
    summary="WeChat message push: subscription message results (signed by WeChat)",
    description="Plaintext mode, XML or JSON. `subscribe_msg_sent_event`: ErrorCode 0 → the send "
    "named by MsgID is delivered; otherwise bounced with ErrorStatus as the reason; once per send. "
    "Other pushes are acknowledged. 200 `success` (text/plain); 401 bad signature; 400 "
    "wechat_safe_mode_unsupported (safe mode, encrypt_type=aes) or wechat_push_unreadable (an "
    "unreadable body); 5xx makes WeChat retry.",
    tags=["integrations"],
)
def push(
    signature: Signature = None,
    timestamp: Timestamp = None,
    nonce: Nonce = None,
    encrypt_type: Annotated[str | None, Query(max_length=16, description="aes: refused.")] = None,
) -> Response[str]:
    from services.campaigns.dal.receipts import DynamoReceiptStore  # noqa: PLC0415 - cold start
    from services.campaigns.logic import wechat_push as logic  # noqa: PLC0415 - cold start

    settings = load(WeChatPushSettings)
    reason = _verified(settings)
    if reason is not None:
        return _rejected(reason)
    received_at = clock.now()
    try:
        logic.refuse_safe_mode(_query())
        parsed = logic.parse_push(router.current_event.decoded_body or "", received_at)
    except logic.PushError as exc:
        logger.warning("wechat push not read", extra={"code": exc.code, "error": str(exc)})
        return json_response(400, error_body(exc.code, str(exc)))
    store = DynamoReceiptStore(settings.table_name)
    outcomes: dict[str, int] = {}
    for result in parsed.results:
        outcome = logic.apply_sent_result(result, store)  # a failure raises: 500, WeChat retries
        key = f"{logic.receipt_kind(result)}_{outcome}"
        outcomes[key] = outcomes.get(key, 0) + 1
    logger.info("wechat push", extra={"event": parsed.event or "message", "outcomes": outcomes})
    return _text(200, "success")
