"""Campaigns' real channels are wired as a deployment option, not by editing the template: the
channel mode is a parameter, e-mail goes through the receipts configuration set, and the dispatch
role may send exactly what that mode needs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from services.campaigns.models.settings import DispatchSettings
from tests.infra.template_loader import (
    action_allows,
    cfn_resources,
    props,
    role_of,
    role_statements,
    sam_resources,
    target_of,
    translated,
)

_SETTINGS = {
    "stage": "test",
    "service_name": "campaigns",
    "event_bus_name": "bus",
    "table_name": "campaigns",
    "dispatch_queue_url": "https://sqs/q",
    "due_function_arn": "arn:due",
    "scheduler_role_arn": "arn:role",
}


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


# --- WeChat subscription messages -----------------------------------------------------------------


def _role_statements() -> list[Any]:
    cfn = cfn_resources()
    role = role_of(cfn, "CampaignsDispatchFunction")
    assert role
    return list(role_statements(cfn, role))


def test_wechat_template_and_keywords_are_parameters_that_default_to_no_channel() -> None:
    env = _dispatch()["Environment"]["Variables"]
    parameters = translated().sam["Parameters"]
    assert target_of(env["WECHAT_TEMPLATE_ID"]) == "CampaignWeChatTemplateId"
    assert parameters["CampaignWeChatTemplateId"]["Default"] == ""  # empty: no WeChat channel
    assert target_of(env["WECHAT_TEMPLATE_KEYWORDS"]) == "CampaignWeChatTemplateKeywords"
    keywords = parameters["CampaignWeChatTemplateKeywords"]
    assert keywords["Default"] == "thing1,thing2"
    # The parameter accepts what the settings accept, and refuses what they refuse.
    pattern = re.compile(keywords["AllowedPattern"])
    for value in ("thing1,thing2", "thing12,thing3"):
        assert pattern.fullmatch(value)
        DispatchSettings.model_validate({**_SETTINGS, "wechat_template_keywords": value})
    for value in ("time2,thing1", "thing1", "thing1,thing2,thing3"):
        assert not pattern.fullmatch(value)
        with pytest.raises(ValidationError):
            DispatchSettings.model_validate({**_SETTINGS, "wechat_template_keywords": value})


def test_the_wechat_token_comes_from_members_wechat_app_secret() -> None:
    env = _dispatch()["Environment"]["Variables"]
    assert target_of(env["WECHAT_APP_SECRET_ARN"]) == "WeChatAppSecret"
    # Every WECHAT_ variable the template sets is one DispatchSettings reads.
    for name in (n for n in env if n.startswith("WECHAT_")):
        assert name.lower() in DispatchSettings.model_fields, name


def test_dispatch_may_read_the_wechat_secret_and_decrypt_it_only_through_secrets_manager() -> None:
    statements = _role_statements()
    reads = [
        s for s in statements if any(action_allows(a, "secretsmanager:GetSecretValue") for a in s.actions)
    ]
    # Each read names its secrets (no wildcard); the WeChat one is granted on its own.
    readable = [target_of(r) for s in reads for r in s.resources]
    assert all(name and name in sam_resources() for name in readable), readable
    assert ("secretsmanager:GetSecretValue",) in [
        s.actions for s in reads if s.resources == ({"Ref": "WeChatAppSecret"},)
    ]
    # The secret is encrypted with the DataKey: kms:Decrypt on that key, only through Secrets Manager.
    secret = props(sam_resources()["WeChatAppSecret"])
    assert target_of(secret["KmsKeyId"]) == "DataKey"
    decrypts = [s for s in statements if any(action_allows(a, "kms:Decrypt") for a in s.actions)]
    assert len(decrypts) == 1
    [decrypt] = decrypts
    assert decrypt.actions == ("kms:Decrypt",)
    assert [target_of(r) for r in decrypt.resources] == ["DataKey"]
    via = decrypt.condition["StringEquals"]["kms:ViaService"]
    assert via == {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}
