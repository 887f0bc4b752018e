"""The LocalCloud facade: lifecycle, settle/advance, looking inside, background mode."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from infra.localcloud import moto_patches
from infra.localcloud.cloud import LocalCloud, SettleError
from shared import clock as shared_clock
from tests.fixtures.handlers import batch
from tests.unit.localcloud.conftest import EPOCH, start_cloud


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    cloud = start_cloud("machines.yaml", start=EPOCH)
    try:
        yield cloud
    finally:
        cloud.stop()


def test_handlers_see_the_virtual_clock(cloud: LocalCloud) -> None:
    assert shared_clock.now() == cloud.clock.now() == EPOCH + (cloud.clock.now() - EPOCH)
    before = shared_clock.now()
    cloud.advance(86400)
    assert shared_clock.now() - before == timedelta(days=1)


def test_advance_returns_the_new_time_and_never_goes_back(cloud: LocalCloud) -> None:
    now = cloud.clock.now()
    assert cloud.advance(90) == now + timedelta(seconds=90)
    with pytest.raises(ValueError, match="backwards"):
        cloud.advance(-1)


def test_a_synchronous_invoke_from_a_handler_re_enters_the_runner(cloud: LocalCloud) -> None:
    result = cloud.invoke(
        "InvokerFunction", {"target": cloud.physical_id("EchoFunction"), "payload": {"n": 1}}
    )
    assert result.ok, result.error
    assert result.payload["inner"]["event"] == {"n": 1}
    assert result.payload["inner"]["env"]["ONLY_ECHO"] is None  # the inner function's own environment
    assert result.payload["my_env_after"] == "invoker"  # and the outer one's is back afterwards
    assert result.payload["my_name"] == cloud.functions["InvokerFunction"].name
    failing = cloud.invoke(
        "InvokerFunction", {"target": cloud.physical_id("EchoFunction"), "payload": {"fail": "inner"}}
    )
    assert failing.payload["function_error"] and failing.payload["inner"]["errorType"] == "EchoError"


def test_invoke_takes_json_only_and_results_must_be_json(cloud: LocalCloud) -> None:
    with pytest.raises(TypeError):
        cloud.invoke("EchoFunction", {"when": object()})
    response = cloud.client("lambda").invoke(FunctionName=cloud.physical_id("NotSerialisableFunction"))
    assert json.loads(response["Payload"].read())["errorType"] == "Runtime.MarshalError"


def test_outbox_and_invocations(cloud: LocalCloud) -> None:
    cloud.record_outbox({"channel": "sms", "to": "+8613800000000", "text": "hi"})
    [message] = cloud.outbox[-1:]
    assert message["channel"] == "sms" and message["at"] == cloud.clock.now().isoformat() and message["id"]
    cloud.invoke("EchoFunction", {"headers": {"x-correlation-id": "c-77"}}, trigger="http")
    last = cloud.invocations[-1]
    assert (last.logical_id, last.trigger, last.correlation_id, last.outcome) == (
        "EchoFunction",
        "http",
        "c-77",
        "ok",
    )


def test_settle_detects_an_endless_loop(cloud: LocalCloud) -> None:
    cloud.client("events").put_events(
        Entries=[{"Source": "fixture.loop", "DetailType": "Start", "Detail": "{}"}]
    )
    with pytest.raises(SettleError, match="a loop"):
        cloud.settle(max_rounds=20)
    # Break the loop so the module's other tests see a quiet cloud.
    cloud.client("events").disable_rule(Name=cloud.physical_id("LoopFunctionAgain"))
    cloud.settle()


def test_front_door_without_a_socket(cloud: LocalCloud) -> None:
    status, _headers, body = cloud.http("GET", "/_local/health")
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_background_mode_settles_and_runs_the_clock(cloud: LocalCloud) -> None:
    batch.SEEN.clear()
    cloud.run_background(interval=0.05)
    try:
        assert cloud.clock.running
        first = cloud.clock.now()
        cloud.client("sqs").send_message(
            QueueUrl=cloud.physical_id("WorkQueue"), MessageBody=json.dumps({"bg": 1})
        )
        deadline = time.monotonic() + 5
        while not batch.SEEN and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [s["body"] for s in batch.SEEN] == [{"bg": 1}]
        assert cloud.clock.now() > first
        cloud.advance(3600)  # advance adds to the offset of the running clock
        assert cloud.clock.now() - first >= timedelta(hours=1)
    finally:
        cloud.stop_background()
    assert not cloud.clock.running


def test_stop_leaves_nothing_behind(cloud: LocalCloud) -> None:
    execution = cloud.client("stepfunctions").start_execution(
        stateMachineArn=cloud.physical_id("WeekMachine")
    )["executionArn"]
    cloud.settle()
    assert cloud.client("stepfunctions").describe_execution(executionArn=execution)["status"] == "RUNNING"
    threads_before = threading.active_count()
    cloud.stop()
    assert not moto_patches.installed()
    from moto.awslambda.models import LambdaFunction

    assert LambdaFunction._invoke_lambda is not moto_patches._invoke_lambda
    from moto.core.common_models import BaseModel

    restored = vars(BaseModel)["__new__"]  # moto's own static method again, exactly
    assert isinstance(restored, staticmethod) and restored.__func__ is not moto_patches._untracked_new
    deadline = time.monotonic() + 2
    while threading.active_count() >= threads_before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threading.active_count() < threads_before  # the waiting execution's threads ended
    assert moto_patches.sfn_running_executions("123456789012", "us-east-1") == []
    assert abs(shared_clock.now() - datetime.now(UTC)) < timedelta(seconds=5)  # the real clock again
    with pytest.raises(RuntimeError, match="not running"):
        cloud.settle()
    cloud.stop()  # idempotent
