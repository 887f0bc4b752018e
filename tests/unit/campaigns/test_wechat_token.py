"""WeChat's stable access token, cached per container: fetched once and reused, fetched again
300 s before it expires, one fetch at a time, errcodes mapped, nothing secret in logs or errors.
A recording fake transport stands in for ``POST https://api.weixin.qq.com/cgi-bin/stable_token``
and a settable clock for ``time.monotonic``."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from services.campaigns.dal.wechat_token import (
    FAILURE_HOLD_SECONDS,
    STABLE_TOKEN_URL,
    StableAccessToken,
    WeChatTokenError,
    app_credentials,
)

APP_ID = "wx0123456789abcdef"
APP_SECRET = "s3cr3t-app-secret-value-0123456"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Transport:
    """Records every POST and answers from a script (a dict, or an exception to raise)."""

    def __init__(self, *answers: dict[str, Any] | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, url: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((url, payload))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def token(value: str, expires_in: int = 7200) -> dict[str, Any]:
    return {"access_token": value, "expires_in": expires_in}


def provider(transport: Transport, clock: Clock) -> StableAccessToken:
    return StableAccessToken(lambda: (APP_ID, APP_SECRET), transport, clock)


def test_fetched_once_with_the_documented_body_and_reused_until_300_s_before_expiry() -> None:
    clock, transport = Clock(), Transport(token("T1"), token("T2"))
    tokens = provider(transport, clock)
    assert tokens() == "T1"
    clock.now += 7200 - 300 - 1
    assert tokens() == "T1"
    assert transport.calls == [
        (
            STABLE_TOKEN_URL,
            {
                "grant_type": "client_credential",
                "appid": APP_ID,
                "secret": APP_SECRET,
                "force_refresh": False,
            },
        )
    ]
    clock.now += 1  # WeChat renews the stable token from here on: fetch again
    assert tokens() == "T2"
    assert len(transport.calls) == 2
    assert all(body["force_refresh"] is False for _, body in transport.calls)


def test_a_token_answered_in_its_last_five_minutes_is_still_cached_a_little() -> None:
    clock, transport = Clock(), Transport(token("T1", expires_in=300), token("T2"))
    tokens = provider(transport, clock)
    assert tokens() == "T1"
    clock.now += 59
    assert tokens() == "T1"
    clock.now += 1
    assert tokens() == "T2"


def test_invalidate_drops_the_rejected_token_only() -> None:
    clock, transport = Clock(), Transport(token("T1"), token("T2"))
    tokens = provider(transport, clock)
    assert tokens() == "T1"
    tokens.invalidate("T0")  # a token another thread already replaced: nothing to do
    assert tokens() == "T1" and len(transport.calls) == 1
    tokens.invalidate("T1")
    assert tokens() == "T2" and len(transport.calls) == 2


def test_concurrent_callers_share_one_fetch() -> None:
    release = threading.Event()
    calls: list[dict[str, Any]] = []

    def slow(url: str, payload: dict[str, Any]) -> dict[str, Any]:
        calls.append(payload)
        release.wait(5)
        return token("T1")

    tokens = StableAccessToken(lambda: (APP_ID, APP_SECRET), slow, Clock())
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(tokens())) for _ in range(8)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join()
    assert seen == ["T1"] * 8
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("answer", "reason", "retryable"),
    [
        ({"errcode": 40125, "errmsg": "invalid appsecret"}, "wechat_token_40125", False),
        ({"errcode": 40013, "errmsg": "invalid appid"}, "wechat_token_40013", False),
        ({"errcode": 40164, "errmsg": "invalid ip 1.2.3.4, not in whitelist"}, "wechat_token_40164", False),
        ({"errcode": -1, "errmsg": "system error"}, "wechat_token_-1", True),
        ({"errcode": 45009, "errmsg": "reach max api daily quota limit"}, "wechat_token_45009", True),
        ({"expires_in": 7200}, "wechat_token_malformed", True),
        (OSError("connection reset"), "wechat_token_unreachable", True),
        (ValueError("not JSON"), "wechat_token_unreachable", True),
    ],
)
def test_stable_token_failures_are_mapped(answer: Any, reason: str, retryable: bool) -> None:
    clock, transport = Clock(), Transport(answer, token("T1"))
    tokens = provider(transport, clock)
    with pytest.raises(WeChatTokenError) as failure:
        tokens()
    assert (failure.value.reason, failure.value.retryable) == (reason, retryable)
    # The failure is held briefly: a wrong secret does not cost one WeChat call per message.
    with pytest.raises(WeChatTokenError):
        tokens()
    assert len(transport.calls) == 1
    clock.now += FAILURE_HOLD_SECONDS
    assert tokens() == "T1"


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        "[]",
        '{"app_id": "wx1"}',
        '{"app_secret": "abc"}',
        '{"app_id": "", "app_secret": "abc"}',
        '{"app_id": 1, "app_secret": "abc"}',
    ],
)
def test_a_bad_secret_is_a_clear_final_error_that_does_not_quote_it(value: str) -> None:
    with pytest.raises(WeChatTokenError) as failure:
        app_credentials(value)
    assert failure.value.reason == "wechat_app_secret_invalid" and not failure.value.retryable
    assert "app_id" in str(failure.value) and "app_secret" in str(failure.value)
    assert "abc" not in str(failure.value) and failure.value.__cause__ is None
    assert app_credentials('{"app_id": "wx1", "app_secret": "abc"}') == ("wx1", "abc")


def test_an_unreadable_secret_is_retryable_and_nothing_is_posted() -> None:
    def denied() -> tuple[str, str]:
        raise RuntimeError("AccessDeniedException")

    transport = Transport()
    with pytest.raises(WeChatTokenError) as failure:
        StableAccessToken(denied, transport, Clock())()
    assert (failure.value.reason, failure.value.retryable) == ("wechat_app_secret_unavailable", True)
    assert transport.calls == []


def test_neither_the_secret_nor_a_token_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="campaigns.wechat_token")
    clock = Clock()
    transport = Transport(
        OSError(f"boom {APP_SECRET}"),
        {"errcode": 40125, "errmsg": f"invalid appsecret {APP_SECRET}"},
        token("TOKEN-abcdef-123456"),
    )
    tokens = provider(transport, clock)
    for _ in range(2):
        with pytest.raises(WeChatTokenError) as failure:
            tokens()
        assert APP_SECRET not in str(failure.value)
        clock.now += FAILURE_HOLD_SECONDS
    assert tokens() == "TOKEN-abcdef-123456"
    assert len(caplog.records) == 3  # unreachable, refused (with its errcode), fetched
    logged = caplog.text + "".join(repr(vars(record)) for record in caplog.records)
    assert APP_SECRET not in logged
    assert "TOKEN-abcdef-123456" not in logged
    refused = caplog.records[1]
    assert refused.errcode == 40125  # type: ignore[attr-defined]
