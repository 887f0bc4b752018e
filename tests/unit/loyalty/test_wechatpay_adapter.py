"""The WeChat Pay API v3 notification adapter: signature, time window, platform key, decryption."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from services.loyalty.logic.wallet_errors import WeChatPaySignatureInvalid
from services.loyalty.logic.wechatpay import (
    PAYMENT,
    LocalFakeWeChatPayNotifications,
    WeChatPayV3Notifications,
    purchase_request,
    refund_request,
)
from shared.errors import Unprocessable
from tests.unit.loyalty.wechatpay_support import APIV3_KEY, SERIAL, FakePlatform, payment, refund

NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
TS = int(NOW.timestamp())


@pytest.fixture(scope="module")
def platform() -> FakePlatform:
    return FakePlatform()


def adapter(platform: FakePlatform, key: bytes = APIV3_KEY) -> WeChatPayV3Notifications:
    return WeChatPayV3Notifications({SERIAL: platform.public_pem}, key)


def test_a_genuine_notice_is_verified_and_decrypted(platform: FakePlatform) -> None:
    headers, body = platform.notice(PAYMENT, payment(), timestamp=TS)

    notice = adapter(platform).open(headers, body, NOW)

    assert notice.event_type == PAYMENT and notice.notification_id == "EV-2018022511223320873"
    assert notice.resource["transaction_id"] == "4200000001202603010000000001"
    request = purchase_request(notice, None)
    assert (request.external_id, request.store_id, request.amount_cents) == (
        "4200000001202603010000000001",
        "store-0101",
        25900,
    )
    assert request.occurred_at == datetime(2026, 3, 1, 3, 58, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (
            lambda h, b: (h, b.replace(b"MALL_TRANSACTION", b"MALL_XTRANSACTION")),
            "wechatpay_signature_invalid",
        ),
        (lambda h, b: ({**h, "Wechatpay-Timestamp": str(TS - 301)}, b), "wechatpay_timestamp_stale"),
        (lambda h, b: ({**h, "Wechatpay-Serial": "PUB_KEY_ID_OTHER"}, b), "wechatpay_serial_unknown"),
        (
            lambda h, b: ({k: v for k, v in h.items() if k != "Wechatpay-Signature"}, b),
            "wechatpay_headers_missing",
        ),
    ],
)
def test_anything_not_signed_by_the_platform_key_is_401(
    platform: FakePlatform, tamper: Callable[..., tuple[dict[str, str], bytes]], code: str
) -> None:
    headers, body = tamper(*platform.notice(PAYMENT, payment(), timestamp=TS))

    with pytest.raises(WeChatPaySignatureInvalid) as raised:
        adapter(platform).open(headers, body, NOW)

    assert raised.value.status == 401 and raised.value.code == code


def test_another_platform_key_or_another_apiv3_key_is_refused(platform: FakePlatform) -> None:
    headers, body = FakePlatform().notice(PAYMENT, payment(), timestamp=TS)
    with pytest.raises(WeChatPaySignatureInvalid):
        adapter(platform).open(headers, body, NOW)

    headers, body = platform.notice(PAYMENT, payment(), timestamp=TS, apiv3_key=b"x" * 32)
    with pytest.raises(WeChatPaySignatureInvalid) as raised:
        adapter(platform).open(headers, body, NOW)
    assert raised.value.code == "wechatpay_resource_undecryptable"


def plain(event_type: str, resource: dict[str, object]) -> bytes:
    return json.dumps({"id": "n1", "event_type": event_type, "resource": {"plaintext": resource}}).encode()


def test_refund_notices_map_to_refunds_of_the_transaction() -> None:
    notice = LocalFakeWeChatPayNotifications().open({}, plain("MALL_REFUND.SUCCESS", refund()), NOW)
    request = refund_request(notice)

    assert (request.external_id, request.purchase_external_id, request.amount_cents) == (
        "50300000012026030100000001",
        "4200000001202603010000000001",
        10000,
    )
    assert LocalFakeWeChatPayNotifications.opened[-1] is notice


def test_a_shop_number_that_cannot_be_a_store_id_is_422() -> None:
    resource = {**payment(), "shop_number": "a#b"}
    notice = LocalFakeWeChatPayNotifications().open({}, plain(PAYMENT, resource), NOW)

    with pytest.raises(Unprocessable):
        purchase_request(notice, None)
