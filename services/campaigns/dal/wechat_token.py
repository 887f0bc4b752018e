"""The WeChat mini-program server API access token, for the subscription-message adapter.

WeChat's ``getStableAccessToken``: ``POST https://api.weixin.qq.com/cgi-bin/stable_token`` with the
JSON body ``{"grant_type": "client_credential", "appid", "secret", "force_refresh": false}`` →
``{"access_token", "expires_in"}`` (seconds, at most 7200) or ``{"errcode", "errmsg"}``.

Why the *stable* token and not ``cgi-bin/token``: every ``cgi-bin/token`` call issues a new token
and retires the previous one (five minutes' grace), so N dispatch containers fetching their own
would keep invalidating each other — WeChat's answer to that is a central token server. In normal
mode (``force_refresh: false``) ``stable_token`` returns the *current* token for as long as it is
valid, whoever asks; WeChat renews it five minutes before it expires and keeps old and new valid
during those five minutes, so any answer is good for at least 300 s. Each container can therefore
fetch and cache its own copy without coordination (limits: 10,000 calls a minute, 500,000 a day
per app — one call per container every ~2 h).

``force_refresh: true`` is never sent from here: it invalidates the token every other container
holds (which would then see 40001 and refresh, in a cascade), is limited to 20 calls a day at least
30 s apart, and WeChat recommends it only when a token has leaked — an operator's action.

The app id and secret are members' ``WeChatAppSecret`` (``{"app_id", "app_secret"}``, the same
mini-program), read through :func:`shared.secrets.secret_string` only when a token must be fetched.
Neither the secret nor a token is ever logged or put in an exception message.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from shared.secrets import secret_string

STABLE_TOKEN_URL = "https://api.weixin.qq.com/cgi-bin/stable_token"  # noqa: S105 - a URL, not a secret
# WeChat renews the stable token 300 s before it expires: a cached copy is used until then and the
# next fetch gets the new one (the old one still works for those 300 s).
REFRESH_MARGIN_SECONDS = 300
# A token answered inside the last 300 s (expires_in == 300 is allowed) is still cached this long,
# so a busy container does not fetch on every send.
MIN_CACHE_SECONDS = 60
# After a failed fetch, sends fail at once for this long instead of each calling WeChat again (a
# wrong secret would otherwise cost one stable_token call per message).
FAILURE_HOLD_SECONDS = 10
# stable_token errcodes worth retrying: -1 system busy, 45009 daily quota, 45011 minute quota.
# Every other errcode (40002 grant_type, 40013 appid, 40125 appsecret, 40164 caller IP not in the
# whitelist, 41002/41004 missing appid/secret…) is a configuration problem a retry cannot fix.
RETRYABLE_ERRCODES = frozenset({-1, 45009, 45011})

# A child of the campaigns service logger: formatted (and redacted) by its Powertools handler.
logger = logging.getLogger("campaigns.wechat_token")

HttpPost = Callable[[str, dict[str, Any]], dict[str, Any]]


class WeChatTokenError(Exception):
    """No access token: ``reason`` is safe to log and to store as a send's failure reason."""

    def __init__(self, reason: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.reason = reason
        self.retryable = retryable


def post_json(url: str, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """POST ``payload`` as JSON to a fixed https URL and return the JSON answer (a dict)."""
    import urllib.request  # noqa: PLC0415 - only the real WeChat calls need it

    request = urllib.request.Request(  # noqa: S310 - fixed https URLs only
        url,
        data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        answer = json.loads(response.read())
    if not isinstance(answer, dict):
        raise ValueError("WeChat answered JSON that is not an object")
    return answer


def app_credentials(value: str) -> tuple[str, str]:
    """``(app_id, app_secret)`` from ``WeChatAppSecret``'s JSON; the error never quotes the value."""
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if (
        not isinstance(parsed, dict)
        or not isinstance(parsed.get("app_id"), str)
        or not isinstance(parsed.get("app_secret"), str)
        or not parsed["app_id"]
        or not parsed["app_secret"]
    ):
        raise WeChatTokenError(
            "wechat_app_secret_invalid",
            'WeChatAppSecret must hold JSON {"app_id": "...", "app_secret": "..."}',
            retryable=False,
        )
    return parsed["app_id"], parsed["app_secret"]


class StableAccessToken:
    """One app's access token, cached in this container; thread-safe, one fetch at a time.

    Call it for the token. :meth:`invalidate` drops a token WeChat rejected (40001, 40014, 42001),
    so the next call fetches again (normal mode: WeChat answers its current token).
    """

    def __init__(
        self,
        credentials: Callable[[], tuple[str, str]],
        http_post: HttpPost | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = credentials
        self._http_post = http_post or post_json
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._token: str | None = None
        self._fresh_until = 0.0
        self._failed: WeChatTokenError | None = None
        self._failed_until = 0.0

    def __call__(self) -> str:
        token = self._cached()
        if token is not None:
            return token
        with self._lock:  # one fetch; the threads that waited use its answer
            token = self._cached()
            if token is not None:
                return token
            now = self._monotonic()
            if self._failed is not None and now < self._failed_until:
                raise self._failed
            try:
                token, ttl = self._fetch()
            except WeChatTokenError as exc:
                self._failed, self._failed_until = exc, now + FAILURE_HOLD_SECONDS
                raise
            self._failed = None
            self._token, self._fresh_until = token, now + ttl
            return token

    def invalidate(self, token: str) -> None:
        """WeChat rejected ``token``: forget it, unless another thread already replaced it."""
        with self._lock:
            if self._token == token:
                self._token, self._fresh_until = None, 0.0

    def _cached(self) -> str | None:
        token = self._token
        if token is not None and self._monotonic() < self._fresh_until:
            return token
        return None

    def _fetch(self) -> tuple[str, float]:
        try:
            app_id, app_secret = self._credentials()
        except WeChatTokenError as exc:
            logger.error("wechat app secret unusable", extra={"reason": exc.reason})
            raise
        except Exception as exc:  # Secrets Manager throttled, denied or unreachable
            logger.warning("wechat app secret unavailable", extra={"error": type(exc).__name__})
            raise WeChatTokenError(
                "wechat_app_secret_unavailable", "WeChatAppSecret could not be read", retryable=True
            ) from None
        body = {
            "grant_type": "client_credential",
            "appid": app_id,
            "secret": app_secret,
            "force_refresh": False,
        }
        try:
            answer = self._http_post(STABLE_TOKEN_URL, body)
        except (OSError, ValueError) as exc:
            # The exception text of a transport failure names no secret (the secret is in the
            # body, never in the URL), but the class name is all an operator needs.
            logger.warning("wechat stable_token unreachable", extra={"error": type(exc).__name__})
            raise WeChatTokenError(
                "wechat_token_unreachable", "WeChat's stable_token could not be reached", retryable=True
            ) from None
        errcode = _errcode(answer)
        if errcode not in (None, 0):
            errmsg = str(answer.get("errmsg", ""))[:200].replace(app_secret, "***")
            logger.error("wechat stable_token refused", extra={"errcode": errcode, "errmsg": errmsg})
            raise WeChatTokenError(
                f"wechat_token_{errcode}",
                f"WeChat's stable_token answered errcode {errcode}",
                retryable=errcode in RETRYABLE_ERRCODES,
            )
        token = answer.get("access_token")
        expires_in = answer.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int) or expires_in <= 0:
            logger.error("wechat stable_token answered no token")
            raise WeChatTokenError(
                "wechat_token_malformed", "WeChat's stable_token answered no token", retryable=True
            )
        ttl = max(expires_in - REFRESH_MARGIN_SECONDS, min(MIN_CACHE_SECONDS, expires_in // 2))
        logger.info("wechat access token fetched", extra={"expires_in": expires_in, "cached_for": ttl})
        return token, float(ttl)


def _errcode(answer: dict[str, Any]) -> int | None:
    raw = answer.get("errcode")
    if raw is None:
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        return -1


_providers: dict[str, StableAccessToken] = {}
_providers_lock = threading.Lock()


def stable_access_token(
    secret_arn: str, *, secret_max_age: float = 300.0, http_post: HttpPost | None = None
) -> StableAccessToken:
    """This container's token for the app in ``secret_arn`` (one per secret, kept across
    invocations: the handler builds its adapters on every run, the token must outlive them)."""
    with _providers_lock:
        provider = _providers.get(secret_arn)
        if provider is None:

            def credentials() -> tuple[str, str]:
                return app_credentials(secret_string(secret_arn, secret_max_age))

            provider = _providers[secret_arn] = StableAccessToken(credentials, http_post)
        return provider


def reset_providers() -> None:
    """Forget every cached token (tests)."""
    with _providers_lock:
        _providers.clear()
