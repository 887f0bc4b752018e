"""Intrinsic functions, conditions and creation order."""

from __future__ import annotations

from typing import Any

import pytest

from infra.localcloud.intrinsics import IntrinsicError, Resolver, creation_order, dependencies

RESOURCES = {"Queue": "https://queue-url", "Table": "orders"}
ATTRIBUTES = {("Queue", "Arn"): "arn:aws:sqs:us-east-1:123456789012:q", ("Table", "StreamArn"): "arn:stream"}


def make(**overrides: object) -> Resolver:
    options: dict[str, object] = {
        "parameters": {"Stage": "dev", "Zones": "a,b", "Size": "3"},
        "parameter_types": {"Zones": "CommaDelimitedList", "Size": "Number"},
        "mappings": {"StageConfig": {"dev": {"LogLevel": "DEBUG"}, "prod": {"LogLevel": "INFO"}}},
        "conditions": {
            "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
            "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
            "DevAndBig": {"Fn::And": [{"Condition": "IsDev"}, {"Fn::Equals": ["3", {"Ref": "Size"}]}]},
            "Either": {"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "DevAndBig"}]},
        },
        "ref": RESOURCES.__getitem__,
        "get_att": lambda logical, attr: ATTRIBUTES[(logical, attr)],
    }
    options.update(overrides)
    return Resolver(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"Ref": "Stage"}, "dev"),
        ({"Ref": "Queue"}, "https://queue-url"),
        ({"Ref": "Zones"}, ["a", "b"]),
        ({"Ref": "AWS::Region"}, "us-east-1"),
        ({"Ref": "AWS::AccountId"}, "123456789012"),
        ({"Ref": "AWS::Partition"}, "aws"),
        ({"Ref": "AWS::StackName"}, "mallcrm-local"),
        ({"Ref": "AWS::URLSuffix"}, "amazonaws.com"),
        ({"Fn::GetAtt": ["Queue", "Arn"]}, "arn:aws:sqs:us-east-1:123456789012:q"),
        ({"Fn::GetAtt": "Table.StreamArn"}, "arn:stream"),
        (
            {"Fn::Sub": "t-${Stage}-${Table}-${Queue.Arn}-${AWS::Region}-${!Literal}"},
            "t-dev-orders-arn:aws:sqs:us-east-1:123456789012:q-us-east-1-${Literal}",
        ),
        ({"Fn::Sub": ["${Name}/${Stage}", {"Name": {"Ref": "Table"}}]}, "orders/dev"),
        ({"Fn::Join": ["-", ["a", {"Ref": "Stage"}, 3]]}, "a-dev-3"),
        ({"Fn::Join": [",", {"Ref": "Zones"}]}, "a,b"),
        ({"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}, "y"),
        ({"Fn::If": ["IsProd", "big", "small"]}, "small"),
        ({"Fn::If": ["Either", "yes", "no"]}, "yes"),
        ({"Fn::FindInMap": ["StageConfig", {"Ref": "Stage"}, "LogLevel"]}, "DEBUG"),
        ({"Fn::FindInMap": ["StageConfig", "qa", "LogLevel", {"DefaultValue": "WARN"}]}, "WARN"),
        ({"Fn::GetAZs": ""}, ["us-east-1a", "us-east-1b", "us-east-1c"]),
        ({"Fn::Select": [0, {"Fn::GetAZs": {"Ref": "AWS::Region"}}]}, "us-east-1a"),
        ({"Fn::Base64": "hi"}, "aGk="),
        ({"Fn::ToJsonString": {"a": [1]}}, '{"a":[1]}'),
    ],
)
def test_functions(expression: object, expected: object) -> None:
    assert make().resolve(expression) == expected


def test_no_value_removes_keys_and_items() -> None:
    value = {
        "Keep": 1,
        "Drop": {"Fn::If": ["IsProd", 5, {"Ref": "AWS::NoValue"}]},
        "List": ["a", {"Ref": "AWS::NoValue"}, {"Fn::If": ["IsDev", "b", "c"]}],
    }
    assert make().resolve(value) == {"Keep": 1, "List": ["a", "b"]}


def test_conditions() -> None:
    resolver = make()
    assert resolver.condition("IsDev") is True
    assert resolver.condition("IsProd") is False
    assert resolver.condition("DevAndBig") is True
    prod = make(parameters={"Stage": "prod", "Zones": "", "Size": "1"})
    assert prod.condition("IsProd") and not prod.condition("DevAndBig") and prod.condition("Either")


def test_errors_are_clear() -> None:
    resolver = make()
    with pytest.raises(IntrinsicError, match=r"Ref to unknown name"):
        make(ref=None).resolve({"Ref": "Nope"})
    with pytest.raises(IntrinsicError, match="unknown condition"):
        resolver.resolve({"Fn::If": ["Nope", 1, 2]})
    with pytest.raises(IntrinsicError, match="not supported"):
        resolver.resolve({"Fn::ImportValue": "x"})
    with pytest.raises(IntrinsicError, match="out of range"):
        resolver.resolve({"Fn::Select": [5, ["a"]]})
    with pytest.raises(IntrinsicError, match="FindInMap"):
        resolver.resolve({"Fn::FindInMap": ["StageConfig", "qa", "LogLevel"]})


def test_dependencies_and_creation_order() -> None:
    resources: dict[str, dict[str, Any]] = {
        "Rule": {
            "Properties": {"Targets": [{"Arn": {"Fn::GetAtt": ["Queue", "Arn"]}}], "Bus": {"Ref": "Bus"}}
        },
        "Queue": {"Properties": {"RedrivePolicy": {"deadLetterTargetArn": {"Fn::Sub": "${DLQ.Arn}"}}}},
        "DLQ": {"Properties": {}},
        "Bus": {
            "Properties": {"Name": {"Fn::Sub": ["${Prefix}-bus", {"Prefix": {"Ref": "AWS::StackName"}}]}}
        },
        "Late": {"DependsOn": "Rule", "Properties": {"Name": {"Fn::Sub": "${AWS::Region}-${Stage}"}}},
    }
    assert dependencies(resources["Rule"]["Properties"], resources) == {"Queue", "Bus"}
    assert dependencies(resources["Bus"]["Properties"], resources) == set()
    order = creation_order(resources)
    assert order.index("DLQ") < order.index("Queue") < order.index("Rule") < order.index("Late")
    assert order.index("Bus") < order.index("Rule")
    resources["DLQ"]["Properties"] = {"X": {"Ref": "Rule"}}
    with pytest.raises(IntrinsicError, match="circular"):
        creation_order(resources)
