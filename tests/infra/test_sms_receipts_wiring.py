"""SMS delivery receipts are wired only for real channels (``CampaignChannelMode=aws``): a
subscription filter on each of SNS's two SMS status log groups invokes
CampaignsOnSmsReceiptsFunction, which only CloudWatch Logs may invoke, for those two log groups of
this account, with a queue for the batches that keep failing. Locally (the default) none of it
exists: the log groups are SNS's, the local cloud has none."""

from __future__ import annotations

from typing import Any

import pytest

from infra.localcloud.intrinsics import Resolver
from tests.infra.template_loader import (
    Statement,
    action_allows,
    cfn_resources,
    of_type,
    props,
    role_of,
    role_statements,
    target_of,
    translated,
)

FUNCTION = "CampaignsOnSmsReceiptsFunction"
CONDITION = "CampaignChannelsOnAws"
LOG_GROUPS = {
    "sns/${AWS::Region}/${AWS::AccountId}/DirectPublishToPhoneNumber",
    "sns/${AWS::Region}/${AWS::AccountId}/DirectPublishToPhoneNumber/Failure",
}


def _sub(value: Any) -> str:
    assert isinstance(value, dict) and set(value) == {"Fn::Sub"}, value
    text = value["Fn::Sub"]
    assert isinstance(text, str)
    return text


def _allows(statement: Statement, action: str) -> bool:
    return statement.effect == "Allow" and any(action_allows(a, action) for a in statement.actions)


def _condition(mode: str) -> bool:
    template = translated()
    resolver = Resolver(
        parameters={"Stage": "dev", "CampaignChannelMode": mode},
        conditions=template.cfn.get("Conditions") or {},
    )
    return resolver.condition(CONDITION)


def test_the_condition_is_true_only_for_real_channels() -> None:
    assert _condition("aws") is True
    assert _condition("local") is False
    assert translated().sam["Parameters"]["CampaignChannelMode"]["Default"] == "local"


def test_everything_of_the_sms_receipts_exists_only_with_real_channels() -> None:
    cfn = cfn_resources()
    ours = {
        name: r
        for name, r in cfn.items()
        if name.startswith(("CampaignsOnSmsReceipts", "CampaignsSmsReceipts", "CampaignsSms"))
    }
    kinds = {r["Type"] for r in ours.values()}
    assert {
        "AWS::Lambda::Function",
        "AWS::IAM::Role",
        "AWS::Logs::LogGroup",
        "AWS::SQS::Queue",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::Lambda::Permission",
        "AWS::Logs::SubscriptionFilter",
    } <= kinds
    assert {name: r.get("Condition") for name, r in ours.items()} == dict.fromkeys(ours, CONDITION)
    # Nothing else in the template points at them (an unconditional reference would break the
    # default deployment and the local cloud).
    for name, resource in cfn.items():
        if name in ours:
            continue
        text = repr(resource)
        assert not any(f"'{other}'" in text or f"{{{other}" in text for other in ours), name


def test_a_subscription_filter_on_each_sms_log_group_invokes_the_function() -> None:
    cfn = cfn_resources()
    filters = {
        n: f
        for n, f in of_type(cfn, "AWS::Logs::SubscriptionFilter").items()
        if target_of(props(f).get("DestinationArn")) == FUNCTION
    }
    assert {_sub(props(f)["LogGroupName"]) for f in filters.values()} == LOG_GROUPS
    for name, subscription in filters.items():
        assert props(subscription)["FilterPattern"] == ""  # every status record
        assert "${Stage}" in _sub(props(subscription)["FilterName"])  # dev and prod may share an account
        # The permission must exist before CloudWatch Logs test-invokes the destination.
        permission = subscription.get("DependsOn")
        assert permission in of_type(cfn, "AWS::Lambda::Permission"), name
        assert _sub(props(cfn[permission])["SourceArn"]).endswith(
            f":log-group:{_sub(props(subscription)['LogGroupName'])}:*"
        )


def test_only_cloudwatch_logs_may_invoke_it_for_this_accounts_sms_log_groups() -> None:
    cfn = cfn_resources()
    permissions = [
        props(p)
        for p in of_type(cfn, "AWS::Lambda::Permission").values()
        if target_of(props(p).get("FunctionName")) == FUNCTION
    ]
    assert len(permissions) == 2
    for permission in permissions:
        assert permission["Action"] == "lambda:InvokeFunction"
        assert permission["Principal"] == "logs.amazonaws.com"
        assert target_of(permission["SourceAccount"]) == "AWS::AccountId"
        source = _sub(permission["SourceArn"])
        assert source.startswith("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:sns/")
    assert {
        _sub(p["SourceArn"]).split(":log-group:")[1].removesuffix(":*") for p in permissions
    } == LOG_GROUPS


def test_failed_batches_land_in_a_queue() -> None:
    cfn = cfn_resources()
    [config] = [
        props(c)
        for c in of_type(cfn, "AWS::Lambda::EventInvokeConfig").values()
        if target_of(props(c).get("FunctionName")) == FUNCTION
    ]
    destination = target_of(config["DestinationConfig"]["OnFailure"]["Destination"])
    assert destination in of_type(cfn, "AWS::SQS::Queue")
    assert config["MaximumRetryAttempts"] == 2
    role = role_of(cfn, FUNCTION)
    assert role
    statements = list(role_statements(cfn, role))
    assert any(_allows(s, "sqs:SendMessage") and destination in repr(s.resources) for s in statements)


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        ("dynamodb:Query", True),
        ("dynamodb:PutItem", True),
        ("dynamodb:UpdateItem", True),
        ("dynamodb:Scan", False),
        ("dynamodb:DeleteItem", False),
        ("dynamodb:GetItem", False),
        ("secretsmanager:GetSecretValue", False),
    ],
)
def test_the_role_reads_only_through_the_sms_index(action: str, allowed: bool) -> None:
    cfn = cfn_resources()
    role = role_of(cfn, FUNCTION)
    assert role
    granted = [s for s in role_statements(cfn, role) if _allows(s, action)]
    assert bool(granted) is allowed
    if action == "dynamodb:Query":
        assert all("/index/gsi1" in repr(s.resources) for s in granted)


def test_the_function_reads_only_its_table() -> None:
    env = props(cfn_resources()[FUNCTION])["Environment"]["Variables"]
    assert target_of(env["TABLE_NAME"]) == "CampaignsTable"
    assert (
        props(cfn_resources()[FUNCTION])["Handler"] == "services.campaigns.handlers.on_sms_receipts.handler"
    )
