"""Provisioning creates in moto what the template says (basic.yaml)."""

from __future__ import annotations

import json

import pytest

from infra.localcloud.cloud import LocalCloud
from tests.unit.localcloud.conftest import ROOT


def test_dynamodb_table(basic_cloud: LocalCloud) -> None:
    ddb = basic_cloud.client("dynamodb")
    table = ddb.describe_table(TableName="fixture-dev-items")["Table"]
    assert basic_cloud.physical_id("ItemsTable") == "fixture-dev-items"
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    [gsi] = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "gsi1"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert basic_cloud.attribute("ItemsTable", "StreamArn") == table["LatestStreamArn"]
    assert basic_cloud.attribute("ItemsTable", "Arn") == table["TableArn"]
    ttl = ddb.describe_time_to_live(TableName="fixture-dev-items")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}


def test_queues_with_redrive(basic_cloud: LocalCloud) -> None:
    sqs = basic_cloud.client("sqs")
    url = basic_cloud.physical_id("WorkQueue")
    assert url.endswith("/fixture-dev-work")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "60"
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": basic_cloud.attribute("WorkDLQ", "Arn"),
        "maxReceiveCount": 3,
    }
    assert basic_cloud.provisioned["WorkQueuePolicy"].status == "recorded"


def test_bus_rules_and_targets(basic_cloud: LocalCloud) -> None:
    events = basic_cloud.client("events")
    assert basic_cloud.physical_id("EventBus") == "fixture-dev"
    rule_name = basic_cloud.physical_id("RuleTargetFunctionOnThing")
    rule = events.describe_rule(Name=rule_name, EventBusName="fixture-dev")
    assert json.loads(rule["EventPattern"]) == {
        "source": ["fixture.things"],
        "detail-type": ["ThingHappened"],
    }
    [target] = events.list_targets_by_rule(Rule=rule_name, EventBusName="fixture-dev")["Targets"]
    assert target["Arn"] == basic_cloud.attribute("RuleTargetFunction", "Arn")
    assert target["InputTransformer"]["InputPathsMap"] == {
        "thing": "$.detail.data.thing_id",
        "kind": "$.detail-type",
    }
    nightly = events.describe_rule(Name=basic_cloud.physical_id("RuleTargetFunctionNightly"))
    assert nightly["ScheduleExpression"] == "cron(0 3 * * ? *)"
    disabled = events.describe_rule(Name=basic_cloud.physical_id("DisabledRule"), EventBusName="fixture-dev")
    assert disabled["State"] == "DISABLED"


def test_scheduler_schedule(basic_cloud: LocalCloud) -> None:
    schedule = basic_cloud.client("scheduler").get_schedule(Name="RuleTargetFunctionDaily")
    assert schedule["ScheduleExpression"] == "cron(30 9 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "America/New_York"
    assert schedule["Target"]["Arn"] == basic_cloud.attribute("RuleTargetFunction", "Arn")
    assert json.loads(schedule["Target"]["Input"]) == {"job": "daily-ny"}


def test_state_machines_get_their_substitutions(basic_cloud: LocalCloud) -> None:
    sfn = basic_cloud.client("stepfunctions")
    flow = sfn.describe_state_machine(stateMachineArn=basic_cloud.physical_id("Flow"))
    definition = json.loads(flow["definition"])
    assert flow["name"] == "fixture-dev-flow"
    assert definition["States"]["WaitAWeek"]["Seconds"] == 604800
    assert definition["States"]["Echo"]["Parameters"]["FunctionName"] == basic_cloud.attribute(
        "EchoFunction", "Arn"
    )
    quick = json.loads(
        sfn.describe_state_machine(stateMachineArn=basic_cloud.physical_id("QuickFlow"))["definition"]
    )
    assert quick["States"]["Echo"]["Resource"] == basic_cloud.attribute("EchoFunction", "Arn")


def test_functions_exist_in_moto_and_run_locally(basic_cloud: LocalCloud) -> None:
    config = basic_cloud.client("lambda").get_function_configuration(FunctionName="fixture-dev-echo")
    assert config["Handler"] == "tests.fixtures.handlers.echo.handler"
    assert config["Timeout"] == 10 and config["MemorySize"] == 256
    assert config["Layers"][0]["Arn"].startswith(
        "arn:aws:lambda:us-east-1:123456789012:layer:fixture-dev-shared:"
    )
    spec = basic_cloud.functions["EchoFunction"]
    assert spec.environment["TABLE_NAME"] == "fixture-dev-items"
    assert spec.environment["EVENT_BUS_NAME"] == "fixture-dev"
    assert spec.environment["LOG_LEVEL"] == "DEBUG"
    assert spec.code_dir == ROOT / "tests" / "fixtures" / "handlers"
    assert set(basic_cloud.functions) == {
        "EchoFunction",
        "WorkerFunction",
        "StreamFunction",
        "BisectFunction",
        "RuleTargetFunction",
    }


def test_event_source_mappings_are_recorded_not_created(basic_cloud: LocalCloud) -> None:
    assert basic_cloud.client("lambda").list_event_source_mappings()["EventSourceMappings"] == []
    mappings = {p.mapping.logical_id: p.mapping for p in basic_cloud.pollers}
    work = mappings["WorkerFunctionWork"]
    assert (work.kind, work.function, work.batch_size, work.report_batch_item_failures) == (
        "sqs",
        "WorkerFunction",
        5,
        True,
    )
    stream = mappings["StreamFunctionStream"]
    assert stream.kind == "dynamodb" and stream.starting_position == "TRIM_HORIZON"
    assert stream.filters == [
        {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"entity": {"S": ["outbox"]}}}}
    ]
    assert stream.maximum_retry_attempts == 2
    assert stream.on_failure_arn == basic_cloud.attribute("StreamDLQ", "Arn")


def test_identity_secrets_keys_and_the_rest(basic_cloud: LocalCloud) -> None:
    pool = basic_cloud.user_pool
    assert pool is not None and pool.logical_id == "StaffUserPool"
    assert pool.issuer == f"https://cognito-idp.us-east-1.amazonaws.com/{pool.pool_id}"
    assert pool.client_id == basic_cloud.physical_id("StaffUserPoolClient")
    assert pool.groups == ["admin"]
    cognito = basic_cloud.client("cognito-idp")
    described = cognito.describe_user_pool(UserPoolId=pool.pool_id)["UserPool"]
    assert described["Name"] == "fixture-dev-staff"
    assert described["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
    secret = basic_cloud.client("secretsmanager").get_secret_value(
        SecretId=basic_cloud.physical_id("ApiSecret")
    )
    document = json.loads(secret["SecretString"])
    assert document["client"] == "pos" and len(document["key"]) == 40 and document["key"].isalnum()
    kms = basic_cloud.client("kms")
    key_id = kms.describe_key(KeyId="alias/fixture-dev")["KeyMetadata"]["KeyId"]
    assert key_id == basic_cloud.physical_id("DataKey")
    assert basic_cloud.client("sns").get_topic_attributes(TopicArn=basic_cloud.physical_id("Topic"))
    basic_cloud.client("s3").head_bucket(Bucket="fixture-dev-bucket")
    assert basic_cloud.provisioned["ProdOnlyQueue"].status == "skipped"
    assert basic_cloud.unsupported == ["OddThing (AWS::CloudWatch::Dashboard)"]


def test_outputs_and_api_routes(basic_cloud: LocalCloud) -> None:
    api_id = basic_cloud.physical_id("Api")
    assert basic_cloud.outputs["ApiUrl"] == f"https://{api_id}.execute-api.us-east-1.amazonaws.com/dev"
    assert basic_cloud.outputs["Joined"] == "a-notprod-us-east-1a"
    routes = {(r.method, r.path): r for r in basic_cloud.api_routes}
    assert set(routes) == {("GET", "/items/{id}"), ("GET", "/health")}
    secured = routes[("GET", "/items/{id}")]
    assert secured.function == "EchoFunction"
    assert secured.authorizer is not None and secured.authorizer.type == "jwt"
    assert secured.authorizer.issuer == basic_cloud.user_pool.issuer  # type: ignore[union-attr]
    assert secured.authorizer.audience == [basic_cloud.user_pool.client_id]  # type: ignore[union-attr]
    assert routes[("GET", "/health")].authorizer is None
    assert basic_cloud.apis[0].stage == "dev"
    assert basic_cloud.api_id == api_id


def test_unknown_resource_and_attribute_lookups(basic_cloud: LocalCloud) -> None:
    with pytest.raises(KeyError, match="no resource"):
        basic_cloud.physical_id("Nope")
    with pytest.raises(KeyError, match="no attribute"):
        basic_cloud.attribute("WorkQueue", "Nope")
