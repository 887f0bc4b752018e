"""The Token of WeChat's message push (the only AWS call of the push function besides the receipts
in dal/receipts.py): ``WeChatMessagePushSecret`` = ``{"token": "..."}``, the value the operator
enters as 令牌 (Token) in the mini-program's message push configuration. Read through
:func:`shared.secrets.secret_string` (cached per container); never logged."""

from __future__ import annotations

import json

from shared.secrets import secret_string


class PushTokenUnavailable(RuntimeError):
    """The secret is not ``{"token": "<non-empty text>"}`` (a deployment problem: fail loudly)."""


def push_token(secret_arn: str, max_age_seconds: float) -> str:
    try:
        value = json.loads(secret_string(secret_arn, max_age_seconds))
    except ValueError:
        # from None: the decode error holds the secret's text
        raise PushTokenUnavailable("WeChatMessagePushSecret is not JSON") from None
    token = value.get("token") if isinstance(value, dict) else None
    if not isinstance(token, str) or not token:
        raise PushTokenUnavailable('WeChatMessagePushSecret is not {"token": "<text>"}')
    return token
