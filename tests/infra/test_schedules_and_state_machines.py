"""What cfn-lint does not check: schedule expressions and state machine definitions.

- every schedule expression is valid AWS syntax (cron: 6 fields, `?`, `L`, `W`, `#`, year — checked
  with aws-croniter, which also computes the next run, in the schedule's own time zone);
- every state machine definition is JSON after its DefinitionSubstitutions, uses JSONPath (the local
  interpreter runs no JSONata), gives every Task a Retry, names every substitution it uses, and is
  accepted and returned unchanged by Step Functions (moto's create_state_machine + describe).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from aws_croniter import AwsCroniter
from moto import mock_aws

from tests.infra.template_loader import as_list, cfn_resources, of_type, props, target_of, translated

ACCOUNT = "123456789012"
REGION = "us-east-1"
RATE = re.compile(r"rate\((1 (minute|hour|day)|([2-9]|[1-9]\d+) (minutes|hours|days))\)")
AT = re.compile(r"at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
LAMBDA_TRANSIENT = "Lambda.TooManyRequestsException"


def _schedule_expressions() -> list[tuple[str, str, str | None]]:
    """(resource, expression, time zone or None) for every schedule and scheduled rule."""
    cfn = cfn_resources()
    parameters = translated().parameters
    found: list[tuple[str, str, str | None]] = []
    for name, schedule in of_type(cfn, "AWS::Scheduler::Schedule").items():
        zone = props(schedule).get("ScheduleExpressionTimezone")
        ref = target_of(zone)
        found.append(
            (name, props(schedule).get("ScheduleExpression", ""), parameters.get(ref) if ref else zone)
        )
    for name, rule in of_type(cfn, "AWS::Events::Rule").items():
        if props(rule).get("ScheduleExpression"):
            found.append((name, props(rule)["ScheduleExpression"], "UTC"))
    return found


def test_every_schedule_expression_is_valid_aws_syntax():
    problems = []
    start = datetime(2026, 3, 28, tzinfo=UTC)  # the weekend before a European DST change
    for name, expression, zone in _schedule_expressions():
        if not isinstance(expression, str):
            problems.append(f"{name}: ScheduleExpression {expression!r} is not a literal")
            continue
        if expression.startswith("cron(") and expression.endswith(")"):
            try:
                cron = AwsCroniter(expression[5:-1])
                # aws-croniter counts in UTC: hand it the zone's wall-clock time dressed as UTC.
                wall_clock = start.astimezone(ZoneInfo(zone or "UTC")).replace(tzinfo=UTC)
                next_runs = cron.get_next(wall_clock, n=2)
            except Exception as exc:  # aws-croniter raises its own error types and ValueError
                problems.append(f"{name}: {expression}: {exc}")
                continue
            if len(next_runs) != 2 or next_runs[0] >= next_runs[1]:
                problems.append(f"{name}: {expression} does not produce a sequence of runs")
        elif not (RATE.fullmatch(expression) or AT.fullmatch(expression)):
            problems.append(f"{name}: {expression!r} is not cron(...), rate(...) or at(...)")
    assert not problems, "\n  " + "\n  ".join(problems)


def test_aws_croniter_rejects_what_aws_rejects():
    """Guards the guard: the 5-field Unix form and a day-of-month together with day-of-week."""
    for bad in ("0 9 * * *", "0 9 1 * MON *"):
        with pytest.raises(Exception):  # noqa: B017 - any of aws-croniter's errors
            AwsCroniter(bad)


# --- state machines -------------------------------------------------------------------------------


def _fake_value(cfn: dict[str, Any], key: str, value: Any) -> str:
    """A stand-in for a DefinitionSubstitutions value, shaped like what CloudFormation would give."""
    target = target_of(value)
    kind = (cfn.get(target or "") or {}).get("Type")
    if kind == "AWS::Lambda::Function":
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{target}"
    if kind == "AWS::StepFunctions::StateMachine":
        return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{target}"
    if kind == "AWS::SQS::Queue":
        return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{target}"
    if isinstance(value, str | int | float):
        return str(value)
    return f"{key}-placeholder"


def _machines() -> Iterator[tuple[str, str, dict[str, Any]]]:
    cfn = cfn_resources()
    definitions = translated().definitions
    for name, machine in of_type(cfn, "AWS::StepFunctions::StateMachine").items():
        p = props(machine)
        text = definitions.get(name) or p.get("DefinitionString")
        if text is None:
            text = json.dumps(p.get("Definition"))
        if not isinstance(text, str):
            text = json.dumps(text)
        yield name, text, p.get("DefinitionSubstitutions") or {}


def _substituted(text: str, substitutions: dict[str, Any]) -> str:
    cfn = cfn_resources()
    return PLACEHOLDER.sub(
        lambda m: (
            _fake_value(cfn, m.group(1), substitutions[m.group(1)])
            if m.group(1) in substitutions
            else m.group(0)
        ),
        text,
    )


def _states(definition: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for state_name, state in (definition.get("States") or {}).items():
        where = f"{path}{state_name}"
        yield where, state
        for index, branch in enumerate(state.get("Branches") or []):
            yield from _states(branch, f"{where}.Branches[{index}].")
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                yield from _states(state[key], f"{where}.{key}.")


def test_there_are_state_machines():
    assert list(_machines()), "template.yaml declares no state machine"


def test_definitions_name_exactly_their_substitutions():
    problems = []
    for name, text, substitutions in _machines():
        used = set(PLACEHOLDER.findall(text))
        if missing := sorted(used - set(substitutions)):
            problems.append(f"{name}: ${{...}} without a DefinitionSubstitutions entry: {missing}")
        if unused := sorted(set(substitutions) - used):
            problems.append(f"{name}: DefinitionSubstitutions never used: {unused}")
    assert not problems, "\n  " + "\n  ".join(problems)


def test_definitions_are_jsonpath_and_every_task_retries():
    problems = []
    for name, text, substitutions in _machines():
        try:
            definition = json.loads(_substituted(text, substitutions))
        except json.JSONDecodeError as exc:
            problems.append(f"{name}: not JSON after substitution: {exc}")
            continue
        if definition.get("QueryLanguage", "JSONPath") != "JSONPath":
            problems.append(
                f"{name}: QueryLanguage {definition['QueryLanguage']!r} (the local interpreter runs JSONPath)"
            )
        for where, state in _states(definition):
            if state.get("QueryLanguage", "JSONPath") != "JSONPath":
                problems.append(f"{name}.{where}: QueryLanguage {state['QueryLanguage']!r}")
            if state.get("Type") != "Task":
                continue
            retry = as_list(state.get("Retry"))
            if not retry:
                problems.append(f"{name}.{where}: a Task without Retry")
            elif "lambda:invoke" in str(state.get("Resource", "")):
                covered = {e for r in retry for e in as_list(r.get("ErrorEquals"))}
                if not covered & {LAMBDA_TRANSIENT, "States.ALL", "States.TaskFailed"}:
                    problems.append(f"{name}.{where}: Retry does not cover {LAMBDA_TRANSIENT}")
        if (props(cfn_resources()[name]).get("StateMachineType") or "STANDARD") == "EXPRESS":
            waits = [w for w, s in _states(definition) if s.get("Type") == "Wait"]
            if waits:
                problems.append(f"{name}: an EXPRESS machine (5 minutes at most) with Wait states {waits}")
    assert not problems, "\n  " + "\n  ".join(problems)


@mock_aws
def test_step_functions_accepts_every_definition():
    client = boto3.client("stepfunctions", region_name=REGION)
    role = f"arn:aws:iam::{ACCOUNT}:role/mallcrm-test-states"
    checked = 0
    for name, text, substitutions in _machines():
        definition = _substituted(text, substitutions)
        kind = props(cfn_resources()[name]).get("StateMachineType") or "STANDARD"
        arn = client.create_state_machine(name=name, definition=definition, roleArn=role, type=kind)[
            "stateMachineArn"
        ]
        described = client.describe_state_machine(stateMachineArn=arn)
        assert json.loads(described["definition"]) == json.loads(definition), name
        checked += 1
    assert checked
