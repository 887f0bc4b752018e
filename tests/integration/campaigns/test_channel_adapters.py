"""The real channel adapters against moto (SNS, SES v2) and a recorded WeChat endpoint, and the
local fake that records into the outbox logger."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from services.campaigns.dal.channels import (
    OUTBOX_LOGGER,
    LocalOutboxAdapter,
    SesEmailAdapter,
    SnsSmsAdapter,
    WeChatSubscribeAdapter,
)
from services.campaigns.logic.dispatch import OutgoingMessage, ProviderError
from tests.integration.helpers import aws

MESSAGE = OutgoingMessage(
    send_id="cmp#c1#m1",
    member_id="m1",
    channel="sms",
    kind="marketing",
    title="周末特惠",
    body="您好 周末全场8折",
    link="/pages/promo/index",
    campaign_id="c1",
    topic=None,
)


class Contacts:
    def __init__(self, **addresses: str) -> None:
        self.addresses = addresses
        self.asked: list[tuple[str, str, str]] = []

    def address(self, member_id: str, channel: str, purpose: str) -> str | None:
        self.asked.append((member_id, channel, purpose))
        return self.addresses.get(channel)


def test_sns_sms_publishes_to_the_members_phone(moto_aws: None) -> None:
    delivery = SnsSmsAdapter(Contacts(sms="+8613800000001"), sender_id="MALL").send(MESSAGE)
    assert delivery.provider_message_id
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    sent = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages
    assert [(phone, text) for phone, text in sent.values()] == [("+8613800000001", "您好 周末全场8折")]


def test_sns_without_a_phone_is_a_final_failure(moto_aws: None) -> None:
    with pytest.raises(ProviderError) as failure:
        SnsSmsAdapter(Contacts()).send(MESSAGE)
    assert (failure.value.reason, failure.value.retryable) == ("no_address", False)


def test_ses_sends_from_a_verified_identity_and_refuses_otherwise(moto_aws: None) -> None:
    adapter = SesEmailAdapter(Contacts(email="li@example.com"), from_address="news@mall.example")
    with pytest.raises(ProviderError) as failure:
        adapter.send(MESSAGE)  # the sender is not verified yet
    assert failure.value.reason.startswith("ses_")
    aws("sesv2").create_email_identity(EmailIdentity="news@mall.example")
    assert adapter.send(MESSAGE).provider_message_id


def test_wechat_subscription_message_payload_and_error_codes() -> None:
    posted: list[tuple[str, dict[str, Any]]] = []
    answers: list[dict[str, Any]] = [
        {"errcode": 0, "errmsg": "ok", "msgid": 123},
        {"errcode": 43101},
        {"errcode": -1},
    ]

    def post(url: str, payload: dict[str, Any]) -> dict[str, Any]:
        posted.append((url, payload))
        return answers.pop(0)

    adapter = WeChatSubscribeAdapter(Contacts(wechat="o-openid"), "tpl-1", lambda: "TOKEN", http_post=post)
    delivery = adapter.send(MESSAGE)
    # errcode 0 is acceptance: delivery comes from the subscribe_msg_sent_event push for msgid 123.
    assert (delivery.provider_message_id, delivery.delivered) == ("123", False)
    url, payload = posted[0]
    assert url == "https://api.weixin.qq.com/cgi-bin/message/subscribe/send?access_token=TOKEN"
    assert (payload["touser"], payload["template_id"], payload["page"]) == (
        "o-openid",
        "tpl-1",
        "/pages/promo/index",
    )
    assert payload["data"]["thing1"]["value"] == "周末特惠"
    with pytest.raises(ProviderError) as refused:
        adapter.send(MESSAGE)
    assert (refused.value.reason, refused.value.retryable) == ("wechat_43101", False)
    with pytest.raises(ProviderError) as busy:
        adapter.send(MESSAGE)
    assert (busy.value.reason, busy.value.retryable) == ("wechat_-1", True)


def test_the_local_fake_records_the_message_on_the_outbox_logger() -> None:
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger(OUTBOX_LOGGER)
    handler = Capture()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        delivery = LocalOutboxAdapter("sms").send(MESSAGE)
    finally:
        logger.removeHandler(handler)
    [record] = records
    entry = record.outbox  # type: ignore[attr-defined]
    assert (entry["channel"], entry["to"], entry["body"], entry["adapter"]) == (
        "sms",
        "m1",
        "您好 周末全场8折",
        "LocalOutboxAdapter",
    )
    assert entry["provider_message_id"] == delivery.provider_message_id


def test_ses_sends_with_the_configuration_set_and_the_escaped_send_id_tag(moto_aws: None) -> None:
    from services.campaigns.logic.receipts import decode_tag
    from shared.aws import client

    sent: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        sent.append(params)

    ses = client("sesv2")
    ses.meta.events.register("provide-client-params.sesv2.SendEmail", capture)
    try:
        aws("sesv2").create_email_identity(EmailIdentity="news@mall.example")
        adapter = SesEmailAdapter(
            Contacts(email="li@example.com"), from_address="news@mall.example", configuration_set="cs-1"
        )
        assert adapter.send(MESSAGE).provider_message_id
    finally:
        ses.meta.events.unregister("provide-client-params.sesv2.SendEmail", capture)
    [params] = sent
    assert params["ConfigurationSetName"] == "cs-1"
    [tag] = params["EmailTags"]
    assert tag["Name"] == "send_id" and tag["Value"] == "cmp_23c1_23m1"
    assert decode_tag(tag["Value"]) == MESSAGE.send_id
