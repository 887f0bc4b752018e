"""Members' contact directory hands out phone numbers and openids: only campaigns' dispatch may call it.

Checked on the SAM-translated template (what is deployed): no IAM role other than
CampaignsDispatchFunction's has an Allow for ``lambda:InvokeFunction`` on a resource that could be
the directory (a reference to it, ``*``, or a wildcard ARN that matches its name); no resource-based
permission or event source opens it to anyone; and the directory itself may only read member items
(profile, data key, the channel's consent: one BatchGetItem) and append audit entries.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest

from tests.infra.template_loader import (
    action_allows,
    as_list,
    cfn_resources,
    of_type,
    props,
    references,
    role_of,
    role_statements,
    sam_resources,
    target_of,
)

DIRECTORY = "MembersContactDirectoryFunction"
CALLER = "CampaignsDispatchFunction"
# The deployed name with placeholders filled in, for wildcard ARNs written with ${...} variables.
DEPLOYED_ARN = "arn:aws:lambda:us-east-1:123456789012:function:mallcrm-prod-members-contact-directory"
_VARIABLE = re.compile(r"\$\{[^}]+\}")


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return cfn_resources()


PSEUDO = {
    "Stage": "prod",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
}


def _function_name(cfn: dict[str, Any], logical_id: str) -> str:
    """A function's deployed name (its FunctionName Sub, filled in), or an unmatched placeholder."""
    name = props(cfn.get(logical_id) or {}).get("FunctionName")
    if isinstance(name, dict) and isinstance(name.get("Fn::Sub"), str):
        return _fill(name["Fn::Sub"], {})
    return f"<{logical_id}>"


def _fill(text: str, variables: dict[str, str]) -> str:
    # Unknown variables become "*": a grant written with one must be assumed to be broad.
    def value(match: re.Match[str]) -> str:
        key = match.group(0)[2:-1]
        return variables.get(key) or PSEUDO.get(key) or "*"

    return _VARIABLE.sub(value, text)


def _could_name_directory(resource: Any, cfn: dict[str, Any] | None = None) -> bool:
    if DIRECTORY in references(resource):
        return True
    text: Any = resource
    variables: dict[str, str] = {}
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        inner = resource["Fn::Sub"]
        text = inner[0] if isinstance(inner, list) else inner
        if isinstance(inner, list) and len(inner) > 1:
            for key, ref in inner[1].items():
                target = target_of(ref)
                variables[key] = _function_name(cfn or {}, target) if target else "*"
    if not isinstance(text, str):
        return False  # another function's Ref / GetAtt
    pattern = _fill(text, variables)
    return fnmatch.fnmatchcase(DEPLOYED_ARN, pattern) or fnmatch.fnmatchcase(DEPLOYED_ARN + ":live", pattern)


def _invokers(cfn: dict[str, Any]) -> set[str]:
    roles: set[str] = set()
    for role in of_type(cfn, "AWS::IAM::Role"):
        for statement in role_statements(cfn, role):
            if statement.effect != "Allow":
                continue
            if not any(action_allows(a, "lambda:InvokeFunction") for a in statement.actions):
                continue
            if any(_could_name_directory(r, cfn) for r in statement.resources):
                roles.add(role)
    return roles


def test_only_the_dispatch_function_role_may_invoke_the_contact_directory(cfn: dict[str, Any]) -> None:
    assert DIRECTORY in cfn
    dispatch_role = role_of(cfn, CALLER)
    assert dispatch_role
    assert _invokers(cfn) == {dispatch_role}


def test_the_check_would_catch_a_broad_grant(cfn: dict[str, Any]) -> None:
    # The detector itself: a wildcard over the stage's functions or "*" counts as a grant; a SAM
    # LambdaInvokePolicy (name + "*") for another function does not.
    assert _could_name_directory({"Fn::Sub": "arn:${AWS::Partition}:lambda:*:*:function:mallcrm-${Stage}-*"})
    assert _could_name_directory("*")
    assert _could_name_directory({"Fn::GetAtt": [DIRECTORY, "Arn"]})
    assert not _could_name_directory({"Fn::GetAtt": ["LoyaltyOffersFunction", "Arn"]})
    sam_policy = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${functionName}*"
    assert not _could_name_directory(
        {"Fn::Sub": [sam_policy, {"functionName": {"Ref": "LoyaltyOffersFunction"}}]}, cfn
    )
    assert _could_name_directory({"Fn::Sub": [sam_policy, {"functionName": {"Ref": DIRECTORY}}]}, cfn)
    assert _could_name_directory({"Fn::Sub": [sam_policy, {"functionName": "mallcrm-prod-members"}]}, cfn)
    assert not _could_name_directory(
        {"Fn::Sub": "arn:${AWS::Partition}:lambda:*:*:function:mallcrm-${Stage}-campaigns-*"}
    )


def test_no_resource_policy_or_event_source_opens_the_directory(cfn: dict[str, Any]) -> None:
    permissions = [
        name
        for name, resource in of_type(cfn, "AWS::Lambda::Permission").items()
        if target_of(props(resource).get("FunctionName")) == DIRECTORY
        or DIRECTORY in references(props(resource).get("FunctionName"))
    ]
    mappings = [
        name
        for name, resource in of_type(cfn, "AWS::Lambda::EventSourceMapping").items()
        if DIRECTORY in references(props(resource).get("FunctionName"))
    ]
    assert permissions == [] and mappings == []
    assert not props(sam_resources()[DIRECTORY]).get("Events")


def test_dispatch_is_wired_to_the_directory(cfn: dict[str, Any]) -> None:
    env = props(cfn[CALLER])["Environment"]["Variables"]
    assert target_of(env["CONTACT_DIRECTORY_FUNCTION"]) == DIRECTORY


def test_the_directory_reads_profiles_and_keys_and_appends_audit_entries_only(cfn: dict[str, Any]) -> None:
    role = role_of(cfn, DIRECTORY)
    assert role
    table_actions: dict[str, set[str]] = {}
    kms: list[Any] = []
    for statement in role_statements(cfn, role):
        assert statement.effect == "Allow"
        for action in statement.actions:
            if action.startswith("dynamodb:"):
                keys = statement.condition.get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
                table_actions.setdefault(action, set()).update(as_list(keys) or ["<any key>"])
            elif action.startswith("kms:"):
                kms.append((action, statement.condition))
            else:
                assert action.startswith("logs:") or action.startswith("xray:"), action
    assert table_actions == {"dynamodb:BatchGetItem": {"MEMBER#*"}, "dynamodb:PutItem": {"AUDIT#*"}}
    assert [a for a, _ in kms] == ["kms:Decrypt"]
    assert kms[0][1]["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"] == ["member_id"]
