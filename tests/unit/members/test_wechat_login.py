"""The WeChat login adapters and which one a deployment gets."""

from __future__ import annotations

import urllib.request
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from services.members.dal.wechat import FakeWeChatLogin, WeChatCode2Session, WeChatUnavailable
from services.members.handlers.routes.common import Deps
from services.members.models.api_settings import MembersApiSettings
from shared.errors import TooManyRequests, Unauthorized


class Answer:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def __enter__(self) -> Answer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read(self) -> bytes:
        return self.body


def _adapter(
    monkeypatch: pytest.MonkeyPatch, body: bytes, seen: list[str] | None = None
) -> WeChatCode2Session:
    def urlopen(url: str, timeout: float) -> Answer:
        if seen is not None:
            seen.append(url)
        return Answer(body)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)  # the module the adapter calls
    return WeChatCode2Session("wx-app", "app-secret")


def test_code2session_request_and_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    adapter = _adapter(monkeypatch, b'{"openid":"o-1","session_key":"sk","unionid":"u-1"}', seen)
    session = adapter.code2session("the-code")
    assert (session.openid, session.unionid) == ("o-1", "u-1")
    url = urlparse(seen[0])
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://api.weixin.qq.com/sns/jscode2session"
    assert parse_qs(url.query) == {
        "appid": ["wx-app"],
        "secret": ["app-secret"],
        "js_code": ["the-code"],
        "grant_type": ["authorization_code"],
    }


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"errcode":40029,"errmsg":"invalid code"}', Unauthorized),
        (b'{"errcode":40163,"errmsg":"code been used"}', Unauthorized),
        (b'{"errcode":45011,"errmsg":"api minute-quota reach limit"}', TooManyRequests),
        (b'{"errcode":-1,"errmsg":"system busy"}', WeChatUnavailable),
        (b'{"session_key":"sk"}', WeChatUnavailable),
        (b"<html>", WeChatUnavailable),
    ],
)
def test_code2session_errors(monkeypatch: pytest.MonkeyPatch, body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        _adapter(monkeypatch, body).code2session("c")


def test_fake_accepts_local_codes_and_records_them() -> None:
    FakeWeChatLogin.calls.clear()
    fake = FakeWeChatLogin()
    assert fake.code2session("local:o-1").openid == "o-1"
    assert fake.code2session("local:o-2:u-2").unionid == "u-2"
    with pytest.raises(Unauthorized):
        fake.code2session("wx-real-code")
    assert FakeWeChatLogin.calls == ["local:o-1", "local:o-2:u-2", "wx-real-code"]


def _deps(adapter: str, **extra: Any) -> Deps:
    values = {
        "stage": "dev",
        "service_name": "members",
        "event_bus_name": "bus",
        "table_name": "t",
        "member_token_key_secret_arn": "a",
        "lookup_pepper_secret_arn": "b",
        "data_key_arn": "k",
        "wechat_login_adapter": adapter,
        **extra,
    }
    return Deps(MembersApiSettings.model_validate(values))


@pytest.mark.parametrize("target", ["local", "localstack"])
def test_auto_is_the_fake_on_local_targets(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    monkeypatch.setenv("MALLCRM_AWS_TARGET", target)
    assert isinstance(_deps("auto").wechat(), FakeWeChatLogin)


def test_auto_is_wechat_on_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLCRM_AWS_TARGET", raising=False)
    monkeypatch.setattr(
        "services.members.handlers.routes.common.secret_string", lambda *a: '{"app_id":"wx","app_secret":"s"}'
    )
    adapter = _deps("auto", wechat_app_secret_arn="arn:wechat").wechat()
    assert isinstance(adapter, WeChatCode2Session) and adapter.app_id == "wx"


def test_the_fake_is_refused_on_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLCRM_AWS_TARGET", "aws")
    with pytest.raises(RuntimeError):
        _deps("fake").wechat()
