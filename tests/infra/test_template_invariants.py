"""Template invariants: what every resource of a kind must have (docs/architecture.md, style "Templates").

Each test checks one rule over the whole template and lists every offender, so a failure reads as a
to-do list. Most checks read the SAM-translated CloudFormation (what is really deployed: SAM policy
templates expanded into IAM roles, Globals merged, events turned into mappings and schedules).
"""

from __future__ import annotations

import json
import re
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from moto.events.models import EventPattern

from tests.infra.template_loader import (
    SERVICES,
    TEMPLATE_PATH,
    Statement,
    action_allows,
    as_list,
    cfn_resources,
    managed_policy_arns,
    of_type,
    props,
    references,
    role_of,
    role_statements,
    sam_resources,
    sections,
    service_of,
    target_of,
    translated,
)

RUNTIMES = {"python3.12", "python3.13"}
REQUIRED_ENV = {
    "STAGE",
    "SERVICE_NAME",
    "EVENT_BUS_NAME",
    "MALL_TIMEZONE",
    "POWERTOOLS_SERVICE_NAME",
    "LOG_LEVEL",
}


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return cfn_resources()


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return sam_resources()


def _report(problems: list[str]) -> str:
    return "\n  " + "\n  ".join(problems)


def _functions(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return of_type(cfn, "AWS::Lambda::Function")


def _queues(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return of_type(cfn, "AWS::SQS::Queue")


# --- functions -----------------------------------------------------------------------------------


def test_the_template_has_functions(cfn):
    assert _functions(cfn), "template.yaml declares no function"


def test_every_function_is_arm64_on_a_pinned_python_runtime(cfn):
    problems = []
    for name, fn in _functions(cfn).items():
        p = props(fn)
        if p.get("Architectures") != ["arm64"]:
            problems.append(f"{name}: Architectures {p.get('Architectures')!r}, want [arm64]")
        if p.get("Runtime") not in RUNTIMES:
            problems.append(f"{name}: Runtime {p.get('Runtime')!r}, want one of {sorted(RUNTIMES)}")
    assert not problems, _report(problems)


def test_the_shared_layer_fits_every_function(cfn):
    layers = of_type(cfn, "AWS::Lambda::LayerVersion")
    problems = []
    for name, fn in _functions(cfn).items():
        used = [target_of(layer) for layer in as_list(props(fn).get("Layers"))]
        shared = [u for u in used if u in layers and u.startswith("SharedLayer")]
        if not shared:
            problems.append(f"{name}: does not use SharedLayer (Layers: {used})")
            continue
        layer = props(layers[shared[0]])
        if "arm64" not in as_list(layer.get("CompatibleArchitectures")):
            problems.append(f"{shared[0]}: CompatibleArchitectures lacks arm64")
        if props(fn).get("Runtime") not in as_list(layer.get("CompatibleRuntimes")):
            problems.append(f"{shared[0]}: CompatibleRuntimes lacks {props(fn).get('Runtime')} ({name})")
    assert not problems, _report(sorted(set(problems)))


def test_every_function_traces(cfn):
    problems = [
        f"{name}: TracingConfig {props(fn).get('TracingConfig')!r}, want Mode Active"
        for name, fn in _functions(cfn).items()
        if (props(fn).get("TracingConfig") or {}).get("Mode") != "Active"
    ]
    for name, machine in of_type(cfn, "AWS::StepFunctions::StateMachine").items():
        if not (props(machine).get("TracingConfiguration") or {}).get("Enabled"):
            problems.append(f"{name}: TracingConfiguration.Enabled is not true")
    assert not problems, _report(problems)


def test_every_function_carries_the_common_environment(cfn):
    problems = []
    for name, fn in _functions(cfn).items():
        variables = (props(fn).get("Environment") or {}).get("Variables") or {}
        missing = sorted(REQUIRED_ENV - set(variables))
        if missing:
            problems.append(f"{name}: environment lacks {', '.join(missing)}")
        svc = service_of(name)
        if svc and variables.get("SERVICE_NAME") not in (svc, None):
            problems.append(f"{name}: SERVICE_NAME {variables.get('SERVICE_NAME')!r}, want {svc!r}")
    assert not problems, _report(problems)


def test_every_function_has_its_own_log_group_with_retention(cfn):
    log_groups = of_type(cfn, "AWS::Logs::LogGroup")
    problems = []
    for name, fn in _functions(cfn).items():
        group_id = f"{name}LogGroup"
        group = log_groups.get(group_id)
        if group is None:
            problems.append(f"{name}: no AWS::Logs::LogGroup {group_id}")
            continue
        configured = target_of((props(fn).get("LoggingConfig") or {}).get("LogGroup"))
        group_name = json.dumps(props(group).get("LogGroupName"))
        function_name = props(fn).get("FunctionName")
        named_after = (
            isinstance(function_name, dict)
            and isinstance(function_name.get("Fn::Sub"), str)
            and f"/aws/lambda/{function_name['Fn::Sub']}" in group_name
        ) or f"${{{name}}}" in group_name
        if configured != group_id and not named_after:
            problems.append(
                f"{name}: {group_id} is neither its LoggingConfig.LogGroup nor named /aws/lambda/<it>"
            )
    for group_id, group in log_groups.items():
        if "RetentionInDays" not in props(group):
            problems.append(f"{group_id}: no RetentionInDays")
    assert not problems, _report(problems)


# --- asynchronous paths: queues, streams, schedules ---------------------------------------------


def test_every_sqs_and_stream_source_reports_partial_failures_and_has_a_failure_destination(cfn):
    queues = _queues(cfn)
    tables = of_type(cfn, "AWS::DynamoDB::Table")
    problems = []
    mappings = of_type(cfn, "AWS::Lambda::EventSourceMapping")
    for name, mapping in mappings.items():
        p = props(mapping)
        source = target_of(p.get("EventSourceArn"))
        if "ReportBatchItemFailures" not in as_list(p.get("FunctionResponseTypes")):
            problems.append(f"{name}: FunctionResponseTypes lacks ReportBatchItemFailures")
        if source in queues:
            redrive = props(queues[source]).get("RedrivePolicy") or {}
            if target_of(redrive.get("deadLetterTargetArn")) not in queues:
                problems.append(f"{name}: its queue {source} has no dead-letter queue")
        elif source in tables:
            on_failure = target_of(
                ((p.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            )
            if on_failure not in queues:
                problems.append(f"{name}: stream source without DestinationConfig.OnFailure to a queue")
            retries = p.get("MaximumRetryAttempts")
            if not isinstance(retries, int) or retries < 0:
                problems.append(
                    f"{name}: MaximumRetryAttempts {retries!r} (unset = retry forever, never fails over)"
                )
            if not p.get("FilterCriteria"):
                problems.append(f"{name}: stream mapping without FilterCriteria (outbox INSERTs only)")
        else:
            problems.append(
                f"{name}: event source {source!r} is neither a queue nor a table of this template"
            )
    assert not problems, _report(problems)


def test_every_queue_has_a_dead_letter_queue(cfn):
    queues = _queues(cfn)
    dead_letter = {
        target_of((props(q).get("RedrivePolicy") or {}).get("deadLetterTargetArn")) for q in queues.values()
    }
    problems = []
    for name, queue in queues.items():
        p = props(queue)
        if name in dead_letter or name.endswith("DLQ"):
            continue  # a dead-letter queue itself
        redrive = p.get("RedrivePolicy")
        if not redrive:
            problems.append(f"{name}: no RedrivePolicy")
            continue
        dlq = target_of(redrive.get("deadLetterTargetArn"))
        if dlq not in queues:
            problems.append(
                f"{name}: deadLetterTargetArn {redrive.get('deadLetterTargetArn')!r} is not a queue here"
            )
            continue
        if not isinstance(redrive.get("maxReceiveCount"), int):
            problems.append(f"{name}: RedrivePolicy.maxReceiveCount missing")
        # A message keeps its first enqueue time in the DLQ: a shorter DLQ retention drops it early.
        source_retention = p.get("MessageRetentionPeriod", 345600)
        dlq_retention = props(queues[dlq]).get("MessageRetentionPeriod", 345600)
        if int(dlq_retention) < int(source_retention):
            problems.append(
                f"{name}: DLQ {dlq} keeps messages {dlq_retention}s < the queue's {source_retention}s"
            )
    for name in sorted(n for n in queues if n.endswith("DLQ")):
        if props(queues[name]).get("RedrivePolicy"):
            problems.append(f"{name}: a DLQ with its own RedrivePolicy")
    assert not problems, _report(problems)


def test_queue_visibility_timeout_covers_six_function_timeouts(cfn):
    """AWS's guidance for SQS event sources; below 1x the mapping is rejected at deploy."""
    queues, functions = _queues(cfn), _functions(cfn)
    problems = []
    for mapping in of_type(cfn, "AWS::Lambda::EventSourceMapping").values():
        queue = target_of(props(mapping).get("EventSourceArn"))
        fn = target_of(props(mapping).get("FunctionName"))
        if queue not in queues or fn not in functions:
            continue
        visibility = int(props(queues[queue]).get("VisibilityTimeout", 30))
        timeout = int(props(functions[fn]).get("Timeout", 3))
        if visibility < 6 * timeout:
            problems.append(f"{queue}: VisibilityTimeout {visibility}s < 6 x {fn} Timeout {timeout}s")
    assert not problems, _report(problems)


def test_every_schedule_has_a_time_zone_retries_and_a_dead_letter_queue(cfn):
    queues = _queues(cfn)
    problems = []
    for name, schedule in of_type(cfn, "AWS::Scheduler::Schedule").items():
        p = props(schedule)
        target = p.get("Target") or {}
        if not p.get("ScheduleExpressionTimezone"):
            problems.append(f"{name}: no ScheduleExpressionTimezone")
        if target_of((target.get("DeadLetterConfig") or {}).get("Arn")) not in queues:
            problems.append(f"{name}: Target.DeadLetterConfig is not a queue of this template")
        if not target.get("RetryPolicy"):
            problems.append(f"{name}: no Target.RetryPolicy")
    for name, rule in of_type(cfn, "AWS::Events::Rule").items():
        if props(rule).get("ScheduleExpression"):
            problems.append(
                f"{name}: a scheduled EventBridge rule runs in UTC only; use a Scheduler schedule"
            )
    assert not problems, _report(problems)


def test_schedule_time_zones_are_real(cfn):
    parameters = translated().parameters
    problems = []
    for name, schedule in of_type(cfn, "AWS::Scheduler::Schedule").items():
        zone = props(schedule).get("ScheduleExpressionTimezone")
        ref = target_of(zone)
        value = parameters.get(ref) if ref else zone
        try:
            ZoneInfo(str(value))
        except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
            problems.append(f"{name}: time zone {value!r} is not an IANA zone")
    assert not problems, _report(problems)


def test_asynchronously_invoked_functions_have_an_on_failure_destination(cfn):
    """Scheduler, EventBridge and CloudWatch Logs subscriptions invoke Lambda asynchronously: the
    invoke config catches what fails."""
    functions, queues = _functions(cfn), _queues(cfn)
    async_targets: dict[str, str] = {}
    for name, schedule in of_type(cfn, "AWS::Scheduler::Schedule").items():
        fn = target_of((props(schedule).get("Target") or {}).get("Arn"))
        if fn in functions:
            async_targets[fn] = name
    for name, rule in of_type(cfn, "AWS::Events::Rule").items():
        for target in as_list(props(rule).get("Targets")):
            fn = target_of(target.get("Arn"))
            if fn in functions:
                async_targets[fn] = name
    for name, subscription in of_type(cfn, "AWS::Logs::SubscriptionFilter").items():
        fn = target_of(props(subscription).get("DestinationArn"))
        if fn in functions:
            async_targets[fn] = name
    configs = {
        target_of(props(c).get("FunctionName")): props(c)
        for c in of_type(cfn, "AWS::Lambda::EventInvokeConfig").values()
    }
    problems = []
    for fn, source in sorted(async_targets.items()):
        destination = (((configs.get(fn) or {}).get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination"
        )
        if target_of(destination) not in queues:
            problems.append(f"{fn} (invoked by {source}): no EventInvokeConfig OnFailure destination queue")
    assert not problems, _report(problems)


# --- tables --------------------------------------------------------------------------------------


def test_tables_are_on_demand_recoverable_and_encrypted_with_the_data_key(cfn):
    problems = []
    tables = of_type(cfn, "AWS::DynamoDB::Table")
    assert tables, "no tables"
    for name, table in tables.items():
        p = props(table)
        if p.get("BillingMode") != "PAY_PER_REQUEST":
            problems.append(f"{name}: BillingMode {p.get('BillingMode')!r}")
        if (p.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled") is not True:
            problems.append(f"{name}: point-in-time recovery is off")
        sse = p.get("SSESpecification") or {}
        if sse.get("SSEEnabled") is not True or sse.get("SSEType") != "KMS":
            problems.append(f"{name}: SSESpecification {sse!r}, want SSEEnabled true, SSEType KMS")
        elif target_of(sse.get("KMSMasterKeyId")) != "DataKey":
            problems.append(f"{name}: KMSMasterKeyId {sse.get('KMSMasterKeyId')!r}, want the DataKey")
        ttl = p.get("TimeToLiveSpecification")
        if ttl is not None and (ttl.get("Enabled") is not True or ttl.get("AttributeName") != "ttl"):
            problems.append(f"{name}: TimeToLiveSpecification {ttl!r}, want attribute ttl enabled")
        keys = {k["AttributeName"]: k["KeyType"] for k in p.get("KeySchema") or []}
        if keys != {"pk": "HASH", "sk": "RANGE"}:
            problems.append(f"{name}: KeySchema {keys}, want pk HASH / sk RANGE")
        types = {a["AttributeName"]: a["AttributeType"] for a in p.get("AttributeDefinitions") or []}
        if types.get("pk") != "S" or types.get("sk") != "S":
            problems.append(f"{name}: pk/sk must be strings")
        for index in p.get("GlobalSecondaryIndexes") or []:
            index_name = index.get("IndexName", "")
            index_keys = {k["AttributeName"]: k["KeyType"] for k in index.get("KeySchema") or []}
            want = {f"{index_name}pk": "HASH"}
            if len(index_keys) > 1:
                want[f"{index_name}sk"] = "RANGE"
            if not re.fullmatch(r"gsi\d+", index_name) or index_keys != want:
                problems.append(f"{name}: index {index_name} keys {index_keys}, want gsiN with gsiNpk/gsiNsk")
        if table.get("DeletionPolicy") != "Retain":
            problems.append(f"{name}: DeletionPolicy {table.get('DeletionPolicy')!r}, want Retain")
    assert not problems, _report(problems)


def test_tables_that_publish_have_a_stream_a_publisher_and_its_dlq(cfn):
    functions, queues = _functions(cfn), _queues(cfn)
    streamed_to = {
        target_of(props(m).get("EventSourceArn")): target_of(props(m).get("FunctionName"))
        for m in of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
    }
    problems = []
    for name, table in of_type(cfn, "AWS::DynamoDB::Table").items():
        stream = props(table).get("StreamSpecification")
        if not stream:
            continue
        svc = name.removesuffix("Table")
        publisher = f"{svc}StreamPublisherFunction"
        if stream.get("StreamViewType") not in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
            problems.append(f"{name}: StreamViewType {stream.get('StreamViewType')!r} has no new image")
        if publisher not in functions:
            problems.append(f"{name}: has a stream but no {publisher}")
        elif streamed_to.get(name) != publisher:
            problems.append(f"{name}: its stream feeds {streamed_to.get(name)!r}, not {publisher}")
        if f"{svc}StreamDLQ" not in queues:
            problems.append(f"{name}: no {svc}StreamDLQ")
    assert not problems, _report(problems)


def test_stream_filters_pass_outbox_inserts_only(cfn):
    outbox_insert = {
        "eventName": "INSERT",
        "dynamodb": {"NewImage": {"pk": {"S": "OUTBOX#1"}, "sk": {"S": "OUTBOX"}, "entity": {"S": "outbox"}}},
    }
    outbox_modify = {**outbox_insert, "eventName": "MODIFY"}
    business_insert = {"eventName": "INSERT", "dynamodb": {"NewImage": {"entity": {"S": "purchase"}}}}
    problems = []
    for name, mapping in of_type(cfn, "AWS::Lambda::EventSourceMapping").items():
        filters = (props(mapping).get("FilterCriteria") or {}).get("Filters") or []
        if not filters:
            continue
        patterns = [EventPattern.load(f["Pattern"]) for f in filters]

        def passes(record: dict[str, Any], patterns: list[EventPattern] = patterns) -> bool:
            return any(p.matches_event(cast(Any, record)) for p in patterns)

        if not passes(outbox_insert):
            problems.append(f"{name}: filter drops an outbox INSERT")
        if passes(outbox_modify) or passes(business_insert):
            problems.append(f"{name}: filter lets through records that are not outbox INSERTs")
    assert not problems, _report(problems)


# --- IAM -----------------------------------------------------------------------------------------


def _http_api_functions(sam: dict[str, Any]) -> list[str]:
    return sorted(
        name
        for name, fn in of_type(sam, "AWS::Serverless::Function").items()
        if any((e or {}).get("Type") == "HttpApi" for e in (props(fn).get("Events") or {}).values())
    )


def test_no_request_path_function_may_scan(cfn, sam):
    """DESIGN §5: no Scan on a request path. SAM policy templates are expanded by the translation
    (DynamoDBCrudPolicy and DynamoDBReadPolicy both grant Scan)."""
    problems = []
    api_functions = _http_api_functions(sam)
    assert api_functions, "no function serves the HTTP API"
    for fn in api_functions:
        role = role_of(cfn, fn)
        if role is None:
            problems.append(f"{fn}: cannot find its role")
            continue
        for statement in role_statements(cfn, role):
            if statement.effect == "Allow" and any(
                action_allows(a, "dynamodb:Scan") for a in statement.actions
            ):
                problems.append(f"{fn}: {role} allows {statement.actions} (covers dynamodb:Scan)")
        for arn in managed_policy_arns(cfn, role):
            if "AmazonDynamoDB" in arn:
                problems.append(f"{fn}: {role} has managed policy {arn} (covers dynamodb:Scan)")
    assert not problems, _report(problems)


def _put_events_statements(cfn: dict[str, Any]) -> list[tuple[str, Statement]]:
    found = []
    for role in of_type(cfn, "AWS::IAM::Role"):
        for statement in role_statements(cfn, role):
            if statement.effect == "Allow" and any(
                action_allows(a, "events:PutEvents") for a in statement.actions
            ):
                found.append((role, statement))
    return found


def test_put_events_only_for_stream_publishers_on_their_own_source(cfn):
    owners = {
        role_of(cfn, name): name
        for name in of_type(cfn, "AWS::Lambda::Function", "AWS::StepFunctions::StateMachine")
    }
    problems = []
    for role, statement in _put_events_statements(cfn):
        owner = owners.get(role, role)
        svc = service_of(owner)
        is_publisher = owner.endswith("StreamPublisherFunction") and svc is not None
        is_machine = cfn.get(owner, {}).get("Type") == "AWS::StepFunctions::StateMachine"
        if not (is_publisher or is_machine):
            problems.append(f"{owner}: may PutEvents but is not a <Svc>StreamPublisherFunction")
            continue
        if is_machine:
            svc = sections().get(owner)
        sources = as_list((statement.condition.get("StringEquals") or {}).get("events:source"))
        if sources != [f"mallcrm.{svc}"]:
            problems.append(f"{owner}: PutEvents condition events:source {sources!r}, want ['mallcrm.{svc}']")
        if [target_of(r) for r in statement.resources] != ["EventBus"]:
            problems.append(f"{owner}: PutEvents on {list(statement.resources)!r}, want only the EventBus")
    publishers = [n for n in of_type(cfn, "AWS::Lambda::Function") if n.endswith("StreamPublisherFunction")]
    with_put = {owners.get(role) for role, _ in _put_events_statements(cfn)}
    problems += [f"{p}: a stream publisher without PutEvents" for p in publishers if p not in with_put]
    assert not problems, _report(problems)


# --- EventBridge ---------------------------------------------------------------------------------


def test_every_rule_targets_a_queue_or_state_machine_in_the_consumers_section(cfn):
    section_of = sections()
    queues = _queues(cfn)
    machines = of_type(cfn, "AWS::StepFunctions::StateMachine")
    problems = []
    for name, rule in of_type(cfn, "AWS::Events::Rule").items():
        p = props(rule)
        if p.get("ScheduleExpression"):
            continue  # reported by the schedule test
        consumer = section_of.get(name)
        if consumer not in SERVICES:
            problems.append(f"{name}: declared under section {consumer!r}, not a service's")
        if service_of(name) != consumer:
            problems.append(f"{name}: named for {service_of(name)!r} but declared under {consumer!r}")
        pattern = p.get("EventPattern") or {}
        # AWS services (SES's e-mail events) publish to the account's default bus only.
        aws_source = all(str(s).startswith("aws.") for s in as_list(pattern.get("source")))
        want_bus = None if aws_source else "EventBus"
        if target_of(p.get("EventBusName")) != want_bus:
            problems.append(f"{name}: EventBusName {p.get('EventBusName')!r}, want {want_bus or 'default'}")
        if not pattern.get("source") or not pattern.get("detail-type"):
            problems.append(f"{name}: EventPattern must name source and detail-type")
        targets = as_list(p.get("Targets"))
        if not targets:
            problems.append(f"{name}: no targets")
        for target in targets:
            dest = target_of(target.get("Arn"))
            if dest not in queues and dest not in machines:
                problems.append(f"{name}: target {target.get('Arn')!r} is not a queue or state machine")
            elif section_of.get(dest) != consumer:
                problems.append(f"{name}: target {dest} is under {section_of.get(dest)!r}, not {consumer!r}")
            if target_of((target.get("DeadLetterConfig") or {}).get("Arn")) not in queues:
                problems.append(f"{name}: target {dest} has no DeadLetterConfig queue")
            if dest in machines and not target.get("RoleArn"):
                problems.append(f"{name}: state-machine target {dest} without RoleArn")
    assert not problems, _report(problems)


def test_queues_that_rules_send_to_allow_exactly_those_rules(cfn):
    queues = _queues(cfn)
    grants: dict[str, set[str]] = {}
    for policy in of_type(cfn, "AWS::SQS::QueuePolicy").values():
        p = props(policy)
        statements = as_list((p.get("PolicyDocument") or {}).get("Statement"))
        for raw in statements:
            principal = (raw.get("Principal") or {}).get("Service")
            if raw.get("Effect") != "Allow" or "events.amazonaws.com" not in as_list(principal):
                continue
            rules = references(raw.get("Condition") or {})
            for queue in (target_of(q) for q in as_list(p.get("Queues"))):
                if queue:
                    grants.setdefault(queue, set()).update(rules)
    problems = []
    for name, rule in of_type(cfn, "AWS::Events::Rule").items():
        for target in as_list(props(rule).get("Targets")):
            for dest in (
                target_of(target.get("Arn")),
                target_of((target.get("DeadLetterConfig") or {}).get("Arn")),
            ):
                if dest in queues and name not in grants.get(dest, set()):
                    problems.append(f"{dest}: no queue policy lets events.amazonaws.com send from {name}")
    assert not problems, _report(problems)


# --- state machines ------------------------------------------------------------------------------


def test_state_machines_have_logs_with_retention(cfn):
    log_groups = of_type(cfn, "AWS::Logs::LogGroup")
    problems = []
    for name, machine in of_type(cfn, "AWS::StepFunctions::StateMachine").items():
        logging = props(machine).get("LoggingConfiguration") or {}
        groups = [
            target_of((d.get("CloudWatchLogsLogGroup") or {}).get("LogGroupArn"))
            for d in as_list(logging.get("Destinations"))
        ]
        if not groups or any(g not in log_groups for g in groups):
            problems.append(f"{name}: LoggingConfiguration does not point at a log group of this template")
    assert not problems, _report(problems)


# --- names, parameters, secrets ------------------------------------------------------------------

NAME_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::KMS::Alias": "AliasName",
    "AWS::Cognito::UserPool": "UserPoolName",
}
OPTIONAL_NAME_PROPERTY = {
    "AWS::Cognito::UserPoolClient": "ClientName",
    "AWS::IAM::Role": "RoleName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Scheduler::ScheduleGroup": "Name",
    "AWS::S3::Bucket": "BucketName",
}


def test_the_stage_parameter_is_in_every_name(cfn, sam):
    parameters = translated().sam.get("Parameters") or {}
    problems = []
    stage = parameters.get("Stage") or {}
    if sorted(stage.get("AllowedValues") or []) != ["dev", "prod"]:
        problems.append(f"Parameters.Stage: AllowedValues {stage.get('AllowedValues')!r}, want dev and prod")
    sam_layers = of_type(sam, "AWS::Serverless::LayerVersion")
    for name, resource in cfn.items():
        kind = resource.get("Type")
        prop = NAME_PROPERTY.get(kind) or OPTIONAL_NAME_PROPERTY.get(kind)
        if prop is None:
            continue
        value = props(resource).get(prop)
        # SAM resolves a layer's name (and renames the layer SharedLayer<hash>): read the source.
        source = [layer for layer in sam_layers if name.startswith(layer)]
        if kind == "AWS::Lambda::LayerVersion" and source:
            value = props(sam_layers[source[0]]).get(prop)
        if value is None:
            if kind in NAME_PROPERTY:
                problems.append(f"{name}: no {prop} (every {kind} is named with the stage)")
            continue
        if "Stage" not in references(value):
            problems.append(f"{name}: {prop} {value!r} does not carry ${{Stage}}")
    assert not problems, _report(problems)


def test_no_hard_coded_account_ids_partitions_or_secrets():
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        code = line.split("#", 1)[0]
        if re.search(r"(?<![\d.])\d{12}(?![\d.])", code):
            problems.append(
                f"template.yaml:{number}: a 12-digit number (an account id?) - use ${{AWS::AccountId}}"
            )
        if re.search(r"arn:aws(-cn|-us-gov)?:", code):
            problems.append(
                f"template.yaml:{number}: a literal partition in an ARN - use ${{AWS::Partition}}"
            )
        if re.search(r"AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY", code):
            problems.append(f"template.yaml:{number}: looks like a credential")
    secretish = re.compile(r"secret|password|token|apikey|api_key|privatekey|signingkey", re.IGNORECASE)
    for name, spec in (translated().sam.get("Parameters") or {}).items():
        if secretish.search(name) and (not spec.get("NoEcho") or "Default" in spec):
            problems.append(f"Parameters.{name}: a secret parameter needs NoEcho and no Default")
    for name, fn in _functions(cfn_resources()).items():
        for key, value in ((props(fn).get("Environment") or {}).get("Variables") or {}).items():
            literal = isinstance(value, str | int | float)
            if literal and secretish.search(key) and not re.search(r"_(ARN|NAME|ID|SECONDS|TTL)$", key):
                problems.append(
                    f"{name}: environment {key} holds a literal - keep secrets in Secrets Manager"
                )
    assert not problems, _report(problems)
