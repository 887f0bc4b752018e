"""The WeChat subscription-message channel as ``CHANNEL_MODE=aws`` wires it: the app id and secret
from Secrets Manager (moto ``WeChatAppSecret``), WeChat's stable access token cached per
container, the send retried once with a fresh token when WeChat says the token is invalid or
expired, and token failures mapped so that dispatch retries or fails the send — never leaves it
``outcome_unknown``. One recording fake transport answers both WeChat endpoints."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from services.campaigns.dal.channels import WeChatSubscribeAdapter
from services.campaigns.dal.dispatch import DynamoDispatchStore
from services.campaigns.dal.wechat_token import (
    STABLE_TOKEN_URL,
    StableAccessToken,
    app_credentials,
    reset_providers,
    stable_access_token,
)
from services.campaigns.handlers import dispatch as dispatch_handler
from services.campaigns.logic.dispatch import Dependencies, OutgoingMessage, Policy, ProviderError, process
from services.campaigns.logic.guardrails import Limits, QuietHours
from services.campaigns.models.settings import DispatchSettings
from shared import secrets
from tests.integration.campaigns.test_dispatch import (
    MORNING,
    TABLE,
    ZONE,
    FakeOffers,
    FakeWaker,
    consent,
    record,
    request,
)
from tests.integration.helpers import aws, create_table

SEND_URL = WeChatSubscribeAdapter.URL
APP_SECRET = "wechat-app-secret-0123456789abcdef"
MESSAGE = OutgoingMessage(
    send_id="cmp#c1#m1",
    member_id="m1",
    channel="wechat",
    kind="marketing",
    title="周末特惠",
    body="您好 周末全场8折 会员再享双倍积分 仅限本周六日",
    link="/pages/promo/index",
    campaign_id="c1",
    topic=None,
)


class Contacts:
    def address(self, member_id: str, channel: str, purpose: str) -> str | None:
        return {"m1": "o-openid-m1"}.get(member_id) if channel == "wechat" else None


class WeChat:
    """The fake transport: records each POST; ``tokens`` and ``sends`` script the answers."""

    def __init__(self) -> None:
        self.tokens: list[dict[str, Any]] = []
        self.sends: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.issued = 0

    def __call__(self, url: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((url, payload))
        if url == STABLE_TOKEN_URL:
            if self.tokens:
                return self.tokens.pop(0)
            self.issued += 1
            return {"access_token": f"TOKEN-{self.issued}", "expires_in": 7200}
        assert url.startswith(f"{SEND_URL}?access_token=")
        return self.sends.pop(0) if self.sends else {"errcode": 0, "errmsg": "ok", "msgid": 4242}

    def token_calls(self) -> list[dict[str, Any]]:
        return [body for url, body in self.calls if url == STABLE_TOKEN_URL]

    def send_tokens(self) -> list[str]:
        return [url.split("access_token=", 1)[1] for url, _ in self.calls if url.startswith(SEND_URL)]


@pytest.fixture
def secret_arn(moto_aws: None) -> Iterator[str]:
    reset_providers()
    secrets.clear_cache()
    arn = aws("secretsmanager").create_secret(
        Name="mallcrm/test/members/wechat-app",
        SecretString=json.dumps({"app_id": "wx-mall-app", "app_secret": APP_SECRET}),
    )["ARN"]
    yield str(arn)
    reset_providers()
    secrets.clear_cache()


@pytest.fixture
def wechat() -> WeChat:
    return WeChat()


def adapter(secret_arn: str, wechat: WeChat) -> WeChatSubscribeAdapter:
    return WeChatSubscribeAdapter(
        Contacts(), "TPL-1", stable_access_token(secret_arn, http_post=wechat), wechat
    )


def settings(**overrides: Any) -> DispatchSettings:
    return DispatchSettings.model_validate(
        {
            "stage": "test",
            "service_name": "campaigns",
            "event_bus_name": "bus",
            "table_name": TABLE,
            "dispatch_queue_url": "https://sqs/q",
            "due_function_arn": "arn:due",
            "scheduler_role_arn": "arn:role",
            "channel_mode": "aws",
            "contact_directory_function": "mallcrm-test-members-contact-directory",
            **overrides,
        }
    )


def test_the_token_is_fetched_once_with_the_secret_and_reused_by_every_send(
    secret_arn: str, wechat: WeChat
) -> None:
    first = adapter(secret_arn, wechat)
    assert first.send(MESSAGE).provider_message_id == "4242"
    # The handler builds new adapters on every invocation; the container's token outlives them.
    second = adapter(secret_arn, wechat)
    assert second.send(MESSAGE).provider_message_id == "4242"
    assert wechat.token_calls() == [
        {
            "grant_type": "client_credential",
            "appid": "wx-mall-app",
            "secret": APP_SECRET,
            "force_refresh": False,
        }
    ]
    assert wechat.send_tokens() == ["TOKEN-1", "TOKEN-1"]
    payload = wechat.calls[1][1]
    assert (payload["touser"], payload["template_id"], payload["page"]) == (
        "o-openid-m1",
        "TPL-1",
        "/pages/promo/index",
    )
    # thing keywords hold at most 20 characters: the body is cut, not refused by WeChat (47003).
    assert payload["data"] == {
        "thing1": {"value": "周末特惠"},
        "thing2": {"value": MESSAGE.body[:20]},
    }


@pytest.mark.parametrize("rejection", [40001, 42001, 40014])
def test_a_rejected_token_is_refreshed_once_and_the_send_retried(
    secret_arn: str, wechat: WeChat, rejection: int
) -> None:
    wechat.sends = [{"errcode": rejection, "errmsg": "access_token expired"}]
    delivery = adapter(secret_arn, wechat).send(MESSAGE)
    assert delivery.provider_message_id == "4242"  # accepted; delivered when WeChat pushes the result
    assert wechat.send_tokens() == ["TOKEN-1", "TOKEN-2"]
    assert [body["force_refresh"] for body in wechat.token_calls()] == [False, False]


def test_a_second_rejection_is_a_retryable_failure_not_a_loop(secret_arn: str, wechat: WeChat) -> None:
    wechat.sends = [{"errcode": 40001}, {"errcode": 42001}]
    with pytest.raises(ProviderError) as failure:
        adapter(secret_arn, wechat).send(MESSAGE)
    assert (failure.value.reason, failure.value.retryable) == ("wechat_42001", True)
    assert len(wechat.send_tokens()) == 2 and len(wechat.token_calls()) == 2


def test_final_send_errcodes_are_not_retried(secret_arn: str, wechat: WeChat) -> None:
    wechat.sends = [{"errcode": 43101}, {"errcode": 47003}]
    for code in (43101, 47003):
        with pytest.raises(ProviderError) as failure:
            adapter(secret_arn, wechat).send(MESSAGE)
        assert (failure.value.reason, failure.value.retryable) == (f"wechat_{code}", False)
    assert len(wechat.send_tokens()) == 2


def test_a_bad_secret_is_a_clear_final_error_and_nothing_is_posted(secret_arn: str, wechat: WeChat) -> None:
    aws("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString='{"app_id": "wx-mall-app"}')
    with pytest.raises(ProviderError) as failure:
        adapter(secret_arn, wechat).send(MESSAGE)
    assert (failure.value.reason, failure.value.retryable) == ("wechat_app_secret_invalid", False)
    assert wechat.calls == []


def test_an_errcode_from_stable_token_fails_the_send_before_anything_is_sent(
    secret_arn: str, wechat: WeChat
) -> None:
    wechat.tokens = [{"errcode": 40125, "errmsg": "invalid appsecret"}]
    with pytest.raises(ProviderError) as failure:
        adapter(secret_arn, wechat).send(MESSAGE)
    assert (failure.value.reason, failure.value.retryable) == ("wechat_token_40125", False)
    assert wechat.send_tokens() == []


def test_nothing_secret_reaches_the_logs(
    secret_arn: str, wechat: WeChat, caplog: pytest.LogCaptureFixture
) -> None:
    # Production's level (INFO: botocore's DEBUG lines echo whole responses, secrets included),
    # and everything campaigns logs.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="campaigns")
    wechat.sends = [{"errcode": 40001}]
    adapter(secret_arn, wechat).send(MESSAGE)
    reset_providers()
    wechat.tokens = [{"errcode": 40125, "errmsg": f"invalid appsecret {APP_SECRET}"}]
    with pytest.raises(ProviderError):
        adapter(secret_arn, wechat).send(MESSAGE)
    assert caplog.records
    logged = caplog.text + "".join(repr(vars(record)) for record in caplog.records)
    for secret in (APP_SECRET, "TOKEN-1", "TOKEN-2"):
        assert secret not in logged


def test_dispatch_retries_a_send_whose_token_failed_then_sends_it(secret_arn: str, wechat: WeChat) -> None:
    """Through the dispatch flow and the real store: a token failure happens before anything is
    sent, so the send is retried with backoff (not left outcome_unknown) and goes out later."""
    create_table(TABLE)
    consent("m1", "wechat")
    waker = FakeWaker()
    # The token's clock follows the dispatch clock here (a failed fetch is held for seconds).
    now = [0.0]
    tokens = StableAccessToken(
        lambda: app_credentials(secrets.secret_string(secret_arn, 300)), wechat, lambda: now[0]
    )
    deps = Dependencies(
        store=DynamoDispatchStore(TABLE),
        channels={"wechat": WeChatSubscribeAdapter(Contacts(), "TPL-1", tokens, wechat)},
        offers=FakeOffers(),
        waker=waker,
    )
    policy = Policy(
        zone=ZONE,
        limits=Limits(per_day=1, per_week=3),
        quiet=QuietHours(21, 9),
        decision_window=timedelta(seconds=60),
        rate_per_minute=1000,
        max_attempts=3,
    )
    wechat.tokens = [{"errcode": -1, "errmsg": "system error"}]
    send = request(channels=("wechat",))
    assert process(send, deps, policy, MORNING) == "held"
    assert process(send, deps, policy, MORNING + timedelta(minutes=1)) == "retry"
    assert record(send.send_id)["status"] != "sending"
    assert wechat.send_tokens() == []
    later = waker.times[-1]
    now[0] += (later - MORNING).total_seconds()
    assert process(send, deps, policy, later) == "sent"
    assert wechat.send_tokens() == ["TOKEN-1"]
    assert record(send.send_id)["status"] in {"sent", "delivered"}


def test_aws_mode_wires_the_stable_token_and_the_template_keywords(secret_arn: str) -> None:
    adapters = dispatch_handler.adapters_from(
        settings(
            wechat_template_id="TPL-1",
            wechat_app_secret_arn=secret_arn,
            wechat_template_keywords="thing3,thing5",
        )
    )
    wechat = adapters["wechat"]
    assert isinstance(wechat, WeChatSubscribeAdapter)
    assert (wechat.template_id, wechat.keywords) == ("TPL-1", ("thing3", "thing5"))
    assert wechat.token_provider is stable_access_token(secret_arn)  # one per container
    with pytest.raises(RuntimeError, match="WECHAT_APP_SECRET_ARN"):
        dispatch_handler.adapters_from(settings(wechat_template_id="TPL-1"))


def test_without_a_template_the_channel_is_dropped_and_said_once(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(dispatch_handler, "_noted", set())
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        assert "wechat" not in dispatch_handler.adapters_from(settings())
    notes = [r for r in caplog.records if "WECHAT_TEMPLATE_ID" in r.getMessage()]
    assert len(notes) == 1
    assert "wechat" in dispatch_handler.adapters_from(settings(channel_mode="local"))
