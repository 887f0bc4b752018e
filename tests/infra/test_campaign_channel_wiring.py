"""Campaigns' real channels are wired as a deployment option, not by editing the template: the
channel mode is a parameter, e-mail goes through the receipts configuration set, and the dispatch
role may send exactly what that mode needs."""

from __future__ import annotations

from typing import Any

from tests.infra.template_loader import props, sam_resources, target_of, translated


def _dispatch() -> dict[str, Any]:
    return props(sam_resources()["CampaignsDispatchFunction"])


def test_channel_mode_is_a_parameter_that_defaults_to_recording() -> None:
    env = _dispatch()["Environment"]["Variables"]
    assert target_of(env["CHANNEL_MODE"]) == "CampaignChannelMode"
    parameter = translated().sam["Parameters"]["CampaignChannelMode"]
    assert parameter["Default"] == "local" and set(parameter["AllowedValues"]) == {"local", "aws"}


def test_email_goes_through_the_receipts_configuration_set() -> None:
    env = _dispatch()["Environment"]["Variables"]
    assert target_of(env["SES_CONFIGURATION_SET"]) == "CampaignsEmailConfigurationSet"
    assert target_of(env["EMAIL_FROM"]) == "MemberEmailFrom"


def test_dispatch_may_send_sms_to_numbers_and_email_but_publish_to_no_topic() -> None:
    statements = [
        s for p in _dispatch()["Policies"] if isinstance(p, dict) and "Statement" in p for s in p["Statement"]
    ]
    sms = next(s for s in statements if s.get("Sid") == "SmsToPhoneNumbers")
    assert sms["Action"] == "sns:Publish" and "Resource" not in sms
    assert sms["NotResource"] == {"Fn::Sub": "arn:${AWS::Partition}:sns:*:*:*"}
    email = next(s for s in statements if s.get("Sid") == "CampaignEmail")
    assert email["Action"] == "ses:SendEmail"
    assert any("configuration-set/${CampaignsEmailConfigurationSet}" in str(r) for r in email["Resource"])
