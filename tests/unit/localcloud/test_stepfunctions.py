"""State machines on moto's interpreter and the virtual clock: waits, retries, catches, dates."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.localcloud.cloud import LocalCloud
from tests.fixtures.handlers import flaky
from tests.unit.localcloud.conftest import EPOCH, start_cloud


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    cloud = start_cloud("machines.yaml", start=EPOCH)
    try:
        yield cloud
    finally:
        cloud.stop()


def _start(cloud: LocalCloud, machine: str, payload: dict[str, Any]) -> str:
    sfn = cloud.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=cloud.physical_id(machine), name=uuid.uuid4().hex, input=json.dumps(payload)
    )
    return str(arn["executionArn"])


def _describe(cloud: LocalCloud, execution_arn: str) -> dict[str, Any]:
    return dict(cloud.client("stepfunctions").describe_execution(executionArn=execution_arn))


def test_a_seven_day_wait_finishes_right_after_advancing_seven_days(cloud: LocalCloud) -> None:
    began = time.perf_counter()
    started_at = cloud.clock.now()
    execution = _start(cloud, "WeekMachine", {"hello": "week"})
    cloud.settle()
    assert _describe(cloud, execution)["status"] == "RUNNING"
    cloud.advance(7 * 86400 - 1)
    assert _describe(cloud, execution)["status"] == "RUNNING"
    cloud.advance(1)
    described = _describe(cloud, execution)
    elapsed = time.perf_counter() - began
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["event"] == {"hello": "week"}
    # Execution dates are virtual too.
    assert described["startDate"].astimezone(UTC) - started_at < timedelta(seconds=1)
    assert described["stopDate"] - described["startDate"] >= timedelta(days=7)
    # Functional, not a benchmark (make bench measures it): the week is not slept in real time.
    assert elapsed < 60, f"a 7-day wait took {elapsed:.2f} s of real time"


def test_retry_backoff_waits_on_the_virtual_clock(cloud: LocalCloud) -> None:
    key = uuid.uuid4().hex
    t0 = cloud.clock.now()
    execution = _start(cloud, "RetryMachine", {"key": key, "fail_times": 2})
    cloud.settle()
    assert len(flaky.ATTEMPTS[key]) == 1 and _describe(cloud, execution)["status"] == "RUNNING"
    cloud.advance(59)
    assert len(flaky.ATTEMPTS[key]) == 1
    cloud.advance(1)  # IntervalSeconds 60
    assert len(flaky.ATTEMPTS[key]) == 2
    cloud.advance(119)
    assert len(flaky.ATTEMPTS[key]) == 2
    cloud.advance(1)  # 60 * BackoffRate 2
    described = _describe(cloud, execution)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"key": key, "attempts": 3}
    attempts = [datetime.fromisoformat(a) for a in flaky.ATTEMPTS[key]]
    assert [a - t0 for a in attempts] == [timedelta(0), timedelta(seconds=60), timedelta(seconds=180)]


def test_catch_after_the_retries_are_exhausted(cloud: LocalCloud) -> None:
    key = uuid.uuid4().hex
    execution = _start(cloud, "RetryMachine", {"key": key, "fail_times": 99})
    cloud.advance(60 + 120 + 240)
    described = _describe(cloud, execution)
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["outcome"] == "gave-up"
    assert output["error"]["Error"] == "FlakyError"
    assert "attempt 4 fails" in output["error"]["Cause"]
    assert len(flaky.ATTEMPTS[key]) == 4


def test_timestamp_waits_and_context_times_are_virtual(cloud: LocalCloud) -> None:
    now = cloud.clock.now()
    until = (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    execution = _start(cloud, "TimestampMachine", {"until": until})
    cloud.settle()
    assert _describe(cloud, execution)["status"] == "RUNNING"
    assert cloud.next_deadline() is not None
    cloud.advance(2 * 86400)
    described = _describe(cloud, execution)
    assert described["status"] == "SUCCEEDED"
    seen = json.loads(described["output"])["event"]
    assert seen["until"] == until
    started = datetime.fromisoformat(seen["started"].replace("Z", "+00:00"))
    entered = datetime.fromisoformat(seen["entered"].replace("Z", "+00:00"))
    assert abs(started - now) < timedelta(seconds=1)
    assert abs(entered - now) < timedelta(seconds=1)


def test_lambda_errors_reach_the_state_machine_as_error_types(cloud: LocalCloud) -> None:
    # The Invoke API reports handler errors with FunctionError and an errorType payload.
    response = cloud.client("lambda").invoke(
        FunctionName=cloud.physical_id("FlakyFunction"),
        Payload=json.dumps({"key": uuid.uuid4().hex, "fail_times": 1}),
    )
    assert response["FunctionError"]
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == "FlakyError" and payload["errorMessage"] == "attempt 1 fails"
    assert cloud.invocations[-1].trigger == "direct"


def test_executions_closed_more_than_ninety_days_ago_are_forgotten(cloud: LocalCloud) -> None:
    """As Step Functions does (90 days after an execution closed), and so that moto's copy of the
    state machine and the history of every execution ever run do not pile up in a long make dev."""
    finished = _start(cloud, "WeekMachine", {"n": "finished"})
    cloud.advance(7 * 86400)
    assert _describe(cloud, finished)["status"] == "SUCCEEDED"
    cloud.advance(90 * 86400 - 1)
    assert finished in {e["executionArn"] for e in cloud.executions("WeekMachine")}
    running = _start(cloud, "WeekMachine", {"n": "running"})
    cloud.advance(2)
    kept = {e["executionArn"]: e["status"] for e in cloud.executions("WeekMachine")}
    assert finished not in kept
    assert kept[running] == "RUNNING"
    with pytest.raises(cloud.client("stepfunctions").exceptions.ExecutionDoesNotExist):
        _describe(cloud, finished)
    cloud.advance(7 * 86400)
    assert _describe(cloud, running)["status"] == "SUCCEEDED"
