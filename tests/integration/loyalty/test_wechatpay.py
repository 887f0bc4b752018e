"""WeChat Pay business-district notices through LoyaltyApiFunction: verified (real adapter against
notices built like WeChat Pay's), linked members earn points, WeChat's retries are one purchase,
refunds claw back once, the local fake only runs locally."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from services.loyalty.dal.loyalty_config import DynamoLoyaltyConfig, clear_config_cache
from services.loyalty.handlers.routes.wallet_deps import WalletDeps
from services.loyalty.logic.wechatpay import PAYMENT, REFUND, LocalFakeWeChatPayNotifications
from services.loyalty.models.earning import EarningRule
from services.members.logic.identity import lookup_hash
from shared import secrets as shared_secrets
from tests.integration.helpers import aws, http_event
from tests.integration.loyalty.conftest import NOW, TABLE
from tests.integration.loyalty.wallet_support import ALICE, call, entities, outbox
from tests.unit.loyalty.wechatpay_support import APIV3_KEY, SERIAL, FakePlatform, payment, refund

PATH = "/v1/integrations/wechatpay/notifications"
PEPPER = "members-lookup-pepper-0123456789abcdef"
OPENID = "oUpF8uMuAJ2pxb1Q9zNjWUHsd"
PLATFORM = FakePlatform()


@pytest.fixture
def wechatpay(loyalty: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    sm = aws("secretsmanager")
    pepper = sm.create_secret(Name="mallcrm/test/lookup-pepper", SecretString=PEPPER)
    config = sm.create_secret(
        Name="mallcrm/test/wechatpay",
        SecretString=json.dumps(
            {"apiv3_key": APIV3_KEY.decode(), "platform_keys": {SERIAL: PLATFORM.public_pem}}
        ),
    )
    monkeypatch.setenv("LOOKUP_PEPPER_SECRET_ARN", pepper["ARN"])
    monkeypatch.setenv("WECHATPAY_SECRET_ARN", config["ARN"])
    monkeypatch.setenv("WECHATPAY_ADAPTER", "wechatpay")
    shared_secrets.clear_cache()
    clear_config_cache()
    DynamoLoyaltyConfig(TABLE).put_rule(
        EarningRule(rule_id="base", kind="base", name="1 point per yuan", points=1, per_cents=100),
        expected_version=None,
    )
    yield
    clear_config_cache()


def deliver(event_type: str, resource: dict[str, Any], **kwargs: Any) -> tuple[int, dict[str, Any]]:
    headers, body = PLATFORM.notice(event_type, resource, timestamp=int(NOW.timestamp()), **kwargs)
    return call(http_event("POST", PATH, body=body, headers=headers))


def link_alice() -> None:
    # Alice's member token: its subject is members' keyed hash of her openid.
    event = http_event("POST", "/v1/members/me/wechatpay/link")
    subject = lookup_hash(PEPPER.encode(), "openid", OPENID)
    event["requestContext"]["authorizer"] = {
        "lambda": {"kind": "member", "subject": subject, "member_id": ALICE}
    }
    assert call(event) == (200, {"linked": True})


def balance() -> int:
    found = WalletDeps.load().points().balance(ALICE)
    return found.available if found else 0


def test_a_linked_members_payment_earns_points_once_whatever_wechat_retries(wechatpay: None) -> None:
    link_alice()

    answers = [deliver(PAYMENT, payment(), notification_id=f"EV-{n}") for n in range(3)]

    assert answers == [(200, {"code": "SUCCESS", "message": "OK"})] * 3
    [purchase] = entities("purchase")
    assert (
        purchase["source_system"] == "wechatpay" and purchase["external_id"] == "4200000001202603010000000001"
    )
    assert purchase["member_id"] == ALICE and purchase["store_id"] == "store-0101"
    assert len(outbox("PurchaseRecorded")) == 1
    assert balance() == 259


def test_a_refund_notice_claws_back_once(wechatpay: None) -> None:
    link_alice()
    deliver(PAYMENT, payment())

    first = deliver(REFUND, refund(amount=10000))
    again = deliver(REFUND, refund(amount=10000), notification_id="EV-again")

    assert first[0] == again[0] == 200
    assert len(entities("refund")) == 1
    assert balance() == 259 - 100


def test_an_unlinked_payer_is_recorded_without_a_member(wechatpay: None) -> None:
    assert deliver(PAYMENT, payment(openid="someone-else"))[0] == 200

    [purchase] = entities("purchase")
    assert purchase.get("member_id") is None


def test_a_forged_notice_is_401_and_records_nothing(wechatpay: None) -> None:
    forged = FakePlatform()
    headers, body = forged.notice(PAYMENT, payment(), timestamp=int(NOW.timestamp()))

    status, answer = call(http_event("POST", PATH, body=body, headers=headers))

    assert status == 401 and answer["error"]["code"] == "wechatpay_signature_invalid"
    assert not entities("purchase")


def test_other_notices_are_acknowledged(wechatpay: None) -> None:
    assert deliver("MALL_AUTH.ACTIVATE_CARD", {"openid": OPENID, "code": "x"})[0] == 200
    assert not entities("purchase")


def test_the_local_fake_records_what_it_opened_and_only_runs_locally(
    wechatpay: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WECHATPAY_ADAPTER", "auto")
    body = json.dumps({"id": "fake-1", "event_type": PAYMENT, "resource": {"plaintext": payment()}}).encode()

    monkeypatch.setenv("MALLCRM_AWS_TARGET", "aws")
    with pytest.raises(RuntimeError, match="local cloud only"):
        monkeypatch.setenv("WECHATPAY_ADAPTER", "fake")
        call(http_event("POST", PATH, body=body))

    monkeypatch.setenv("MALLCRM_AWS_TARGET", "local")
    monkeypatch.setenv("WECHATPAY_ADAPTER", "auto")
    assert call(http_event("POST", PATH, body=body))[0] == 200
    assert LocalFakeWeChatPayNotifications.opened[-1].notification_id == "fake-1"
    assert len(entities("purchase")) == 1


def test_an_unknown_shop_number_is_refused_until_the_store_is_in_the_directory(wechatpay: None) -> None:
    from services.loyalty.models.stores import Store

    link_alice()
    config = DynamoLoyaltyConfig(TABLE)
    config.put_store(Store(store_id="store-0999", tenant_id="tenant-x", name="Other"), expected_version=None)
    clear_config_cache()

    status, answer = deliver(PAYMENT, payment())  # shop store-0101 is not in the directory

    assert status == 422 and answer["error"]["code"] == "unknown_store"  # WeChat retries for 24 h
    assert not entities("purchase") and balance() == 0
    config.put_store(Store(store_id="store-0101", tenant_id="tenant-c", name="Coffee"), expected_version=None)
    clear_config_cache()
    assert deliver(PAYMENT, payment(), notification_id="EV-retry")[0] == 200
    [purchase] = entities("purchase")
    assert purchase["tenant_id"] == "tenant-c" and balance() == 259
