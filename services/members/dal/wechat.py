"""WeChat mini-program login (code2session) adapters.

* :class:`WeChatCode2Session` — the real one: ``GET https://api.weixin.qq.com/sns/jscode2session``
  with ``appid``, ``secret``, ``js_code`` and ``grant_type=authorization_code``; the answer carries
  ``openid``, ``session_key``, ``unionid`` (when the app is bound to an open-platform account) or
  ``errcode``/``errmsg``. The app id and secret come from Secrets Manager ``WeChatAppSecret``
  (``{"app_id": ..., "app_secret": ...}``). ``session_key`` is dropped at once: MallCRM does not
  decrypt WeChat's encrypted user data.
* :class:`FakeWeChatLogin` — the local cloud's: accepts ``local:<openid>`` (or
  ``local:<openid>:<unionid>``) and records every code it was asked about in ``calls``.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import ClassVar, Protocol

from shared.errors import MallCrmError, TooManyRequests, Unauthorized

CODE2SESSION_URL = "https://api.weixin.qq.com/sns/jscode2session"
_INVALID_CODE = {40029, 40163, 40226}  # invalid code, code already used, high-risk user blocked
_RATE_LIMITED = {45011}


@dataclass(frozen=True)
class WeChatSession:
    """What code2session tells about the shopper (session_key is dropped)."""

    openid: str
    unionid: str | None


class WeChatLogin(Protocol):
    def code2session(self, code: str) -> WeChatSession: ...


class WeChatUnavailable(MallCrmError):
    def __init__(self) -> None:
        super().__init__(503, "wechat_unavailable", "WeChat login is unavailable; try again.")


class WeChatCode2Session:
    def __init__(self, app_id: str, app_secret: str, *, timeout: float = 3.0) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.timeout = timeout

    def _get(self, url: str) -> dict[str, object]:
        with urllib.request.urlopen(url, timeout=self.timeout) as response:  # noqa: S310 - fixed https URL
            parsed = json.loads(response.read().decode("utf-8"))
        return parsed if isinstance(parsed, dict) else {}

    def code2session(self, code: str) -> WeChatSession:
        query = urllib.parse.urlencode(
            {
                "appid": self.app_id,
                "secret": self.app_secret,
                "js_code": code,
                "grant_type": "authorization_code",
            }
        )
        try:
            answer = self._get(f"{CODE2SESSION_URL}?{query}")
        except (OSError, ValueError):
            raise WeChatUnavailable() from None
        errcode = answer.get("errcode")
        if errcode not in (None, 0):
            if errcode in _INVALID_CODE:
                raise Unauthorized("wechat_code_invalid", "The WeChat login code is not valid.")
            if errcode in _RATE_LIMITED:
                raise TooManyRequests("wechat_rate_limited", "Too many logins; try again shortly.")
            raise WeChatUnavailable()
        openid = answer.get("openid")
        if not isinstance(openid, str) or not openid:
            raise WeChatUnavailable()
        unionid = answer.get("unionid")
        return WeChatSession(openid=openid, unionid=unionid if isinstance(unionid, str) and unionid else None)


class FakeWeChatLogin:
    """Local cloud only: ``local:<openid>[:<unionid>]``; anything else is an invalid code."""

    PREFIX = "local:"
    calls: ClassVar[list[str]] = []
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def code2session(self, code: str) -> WeChatSession:
        with self._lock:
            self.calls.append(code)
        if not code.startswith(self.PREFIX):
            raise Unauthorized("wechat_code_invalid", "The WeChat login code is not valid.")
        openid, _, unionid = code[len(self.PREFIX) :].partition(":")
        if not openid or len(openid) > 128:
            raise Unauthorized("wechat_code_invalid", "The WeChat login code is not valid.")
        return WeChatSession(openid=openid, unionid=unionid or None)


def wechat_app_credentials(secret_string: str) -> tuple[str, str]:
    parsed = json.loads(secret_string)
    if not isinstance(parsed, dict) or not parsed.get("app_id") or not parsed.get("app_secret"):
        raise ValueError("WeChatAppSecret must hold {app_id, app_secret}")
    return str(parsed["app_id"]), str(parsed["app_secret"])
