"""EventBridge rules: inputs rendered as on AWS, delivered to Lambda, SQS and state machines."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.localcloud.cloud import LocalCloud
from infra.localcloud.targets import json_path, render_rule_input, render_template
from tests.fixtures.handlers import echo

EVENT = {
    "version": "0",
    "id": "e-1",
    "detail-type": "ThingHappened",
    "source": "fixture.things",
    "account": "123456789012",
    "time": "2026-01-05T00:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"data": {"thing_id": "t-1", "count": 3, "tags": ["a"]}, "metadata": {"correlation_id": "c-1"}},
}


def test_json_path_subset() -> None:
    assert json_path(EVENT, "$.detail.data.count") == 3
    assert json_path(EVENT, "$.detail-type") == "ThingHappened"
    assert json_path(EVENT, "$.detail.data.tags[0]") == "a"
    assert json_path(EVENT, "$['detail']['data']['thing_id']") == "t-1"
    assert json_path(EVENT, "$") is EVENT
    assert json_path(EVENT, "$.detail.nope") is not None  # the missing sentinel, never an exception


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{"thing": <thing>, "n": <count>}', {"thing": "t-1", "n": 3}),
        ('{"label": "thing <thing> x<count>"}', {"label": "thing t-1 x3"}),
        (
            '{"tags": <tags>, "all": <data>}',
            {"tags": ["a"], "all": {"thing_id": "t-1", "count": 3, "tags": ["a"]}},
        ),
        ('{"missing": <nope>, "in": "[<nope>]"}', {"missing": None, "in": "[]"}),
        ('"<thing> is here"', "t-1 is here"),
        (
            '{"rule": "<aws.events.rule-name>", "event": <aws.events.event.json>}',
            {"rule": "the-rule", "event": EVENT},
        ),
    ],
)
def test_input_transformer_templates(template: str, expected: Any) -> None:
    target = {
        "InputTransformer": {
            "InputPathsMap": {
                "thing": "$.detail.data.thing_id",
                "count": "$.detail.data.count",
                "tags": "$.detail.data.tags",
                "data": "$.detail.data",
                "nope": "$.detail.nothing",
            },
            "InputTemplate": template,
        }
    }
    assert json.loads(render_rule_input(target, EVENT, "arn:rule", "the-rule")) == expected


def test_plain_text_templates_and_escaping() -> None:
    assert render_template("Thing <t> happened", {"t": "t-1"}) == "Thing t-1 happened"
    assert json.loads(render_template('{"q": "<t>"}', {"t": 'say "hi"'})) == {"q": 'say "hi"'}


def test_input_and_input_path() -> None:
    assert json.loads(render_rule_input({"Input": '{"fixed": 1}'}, EVENT, "a", "r")) == {"fixed": 1}
    assert json.loads(render_rule_input({"InputPath": "$.detail.data"}, EVENT, "a", "r"))["thing_id"] == "t-1"
    assert json.loads(render_rule_input({}, EVENT, "a", "r")) == EVENT


def _put_thing(cloud: LocalCloud, thing_id: str, source: str = "fixture.things") -> None:
    detail = {"data": {"thing_id": thing_id}, "metadata": {"correlation_id": f"corr-{thing_id}"}}
    result = cloud.client("events").put_events(
        Entries=[
            {
                "EventBusName": "fixture-dev",
                "Source": source,
                "DetailType": "ThingHappened",
                "Detail": json.dumps(detail),
            }
        ]
    )
    assert result["FailedEntryCount"] == 0


def _queue_bodies(cloud: LocalCloud) -> list[Any]:
    sqs = cloud.client("sqs")
    url = cloud.physical_id("RuleQueue")
    bodies = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_rule_delivers_to_lambda_sqs_and_state_machine(basic_cloud: LocalCloud) -> None:
    cloud = basic_cloud
    _queue_bodies(cloud)
    echo.CALLS.clear()
    executions_before = len(cloud.executions("QuickFlow"))
    _put_thing(cloud, "t-7")
    # SQS targets receive at once (before PutEvents returns), as with EventBridge.
    bodies = _queue_bodies(cloud)
    whole = next(b for b in bodies if "detail" in b)
    assert whole["detail-type"] == "ThingHappened" and whole["account"] == "123456789012"
    assert whole["time"] == cloud.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    assert {"thing_id": "t-7"} in bodies  # InputPath $.detail.data
    assert {"disabled": True} not in bodies  # the DISABLED rule
    assert len(bodies) == 2
    # Lambda and state-machine targets are asynchronous: delivered when the cloud settles.
    assert echo.CALLS == []
    cloud.settle()
    assert {"thing": "t-7", "label": "thing t-7 of ThingHappened"} in [c["event"] for c in echo.CALLS]
    executions = cloud.executions("QuickFlow")
    assert len(executions) == executions_before + 1
    newest = max(executions, key=lambda e: e["startDate"])
    assert newest["status"] == "SUCCEEDED"
    assert json.loads(newest["input"]) == {"constant": True}
    assert json.loads(newest["output"])["event"] == {"constant": True}
    rule_invocations = [r for r in cloud.invocations if r.trigger == "rule"]
    assert rule_invocations[-1].logical_id == "RuleTargetFunction"


def test_events_are_recorded_with_the_rules_they_matched(basic_cloud: LocalCloud) -> None:
    cloud = basic_cloud
    _put_thing(cloud, "t-8")
    _put_thing(cloud, "t-9", source="fixture.other")
    cloud.settle()
    recorded = cloud.events[-2:]
    assert recorded[0]["detail"]["data"] == {"thing_id": "t-8"}
    assert recorded[0]["bus"] == "fixture-dev" and recorded[0]["source"] == "fixture.things"
    assert recorded[0]["time"] == cloud.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    assert set(recorded[0]["rules"]) == {
        cloud.physical_id("RuleTargetFunctionOnThing"),
        cloud.physical_id("ThingsToQueueRule"),
        cloud.physical_id("ThingsToFlowRule"),
    }
    assert recorded[1]["rules"] == []  # nothing subscribes to fixture.other; the scheduled rule never matches
    _queue_bodies(cloud)


def test_a_failing_lambda_target_is_retried_twice(basic_cloud: LocalCloud) -> None:
    cloud = basic_cloud
    events = cloud.client("events")
    events.put_rule(
        Name="fail-rule", EventBusName="fixture-dev", EventPattern=json.dumps({"source": ["fixture.fail"]})
    )
    events.put_targets(
        Rule="fail-rule",
        EventBusName="fixture-dev",
        Targets=[
            {"Id": "echo", "Arn": cloud.attribute("EchoFunction", "Arn"), "Input": '{"fail": "always"}'}
        ],
    )
    since = len(cloud.invocations)
    events.put_events(
        Entries=[{"EventBusName": "fixture-dev", "Source": "fixture.fail", "DetailType": "X", "Detail": "{}"}]
    )
    cloud.settle()
    outcomes = [r.outcome for r in cloud.invocations[since:] if r.logical_id == "EchoFunction"]
    assert outcomes == ["error:EchoError"] * 3  # Lambda's asynchronous retries: 2
