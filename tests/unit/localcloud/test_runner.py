"""The in-process runner: environment, context, errors, log lines, overhead."""

from __future__ import annotations

import logging
import os
import statistics
import threading
from datetime import UTC, datetime

import pytest

from infra.localcloud.clock import VirtualClock
from infra.localcloud.runner import FunctionSpec, Runner, RunnerError, correlation_id
from tests.fixtures.handlers import noop
from tests.unit.localcloud.conftest import ROOT

HANDLERS = ROOT / "tests" / "fixtures" / "handlers"
AT = datetime(2026, 5, 4, 8, 30, tzinfo=UTC)


def spec(logical_id: str, handler: str, **environment: str) -> FunctionSpec:
    return FunctionSpec(
        logical_id=logical_id,
        name=f"fn-{logical_id.lower()}",
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:fn-{logical_id.lower()}",
        handler=handler,
        code_dir=HANDLERS,
        environment=dict(environment),
        timeout=7,
        memory=384,
    )


@pytest.fixture
def runner() -> Runner:
    runner = Runner(ROOT, VirtualClock(AT), history=5)
    runner.register(spec("Echo", "tests.fixtures.handlers.echo.handler", ONLY_ECHO="yes", STAGE="test"))
    runner.register(spec("Other", "tests.fixtures.handlers.echo.handler", STAGE="other"))
    runner.register(spec("Noop", "tests.fixtures.handlers.noop.handler"))
    runner.register(spec("Slow", "tests.fixtures.handlers.noop.slow", STAGE="slow"))
    runner.register(spec("Missing", "tests.fixtures.handlers.nowhere.handler"))
    return runner


def test_each_function_sees_its_own_environment_and_nothing_leaks(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGE", "outer")
    monkeypatch.delenv("ONLY_ECHO", raising=False)
    echo = runner.invoke("Echo", {"a": 1})
    assert echo.ok
    env = echo.payload["env"]
    assert env["ONLY_ECHO"] == "yes" and env["STAGE"] == "test"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "fn-echo"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["MALLCRM_AWS_TARGET"] == "local"
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
    # Restored: the outer value is back, the function's own and the handler's leak are gone.
    assert os.environ["STAGE"] == "outer"
    assert "ONLY_ECHO" not in os.environ
    assert "ECHO_LEAK" not in os.environ
    other = runner.invoke("fn-other", {})  # by physical name
    assert other.payload["env"]["ONLY_ECHO"] is None
    assert other.payload["env"]["STAGE"] == "other"


def test_lambda_context(runner: Runner) -> None:
    first = runner.invoke("Echo", {}).payload
    second = runner.invoke("arn:aws:lambda:us-east-1:123456789012:function:fn-echo", {}).payload
    assert first["function"] == "fn-echo"
    assert first["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:fn-echo"
    assert first["memory"] == 384
    assert 6000 < first["remaining_ms"] <= 7000
    assert first["request_id"] != second["request_id"]


def test_errors_become_lambda_error_results_with_the_traceback_logged(
    runner: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="infra.localcloud"):
        result = runner.invoke("Echo", {"fail": "on purpose"}, trigger="rule")
    assert not result.ok and result.payload is None
    assert result.error is not None
    assert result.error["errorType"] == "EchoError"
    assert result.error["errorMessage"] == "asked to fail: on purpose"
    assert any("echo.py" in line for line in result.error["stackTrace"])
    assert "Traceback" in caplog.text and "EchoError: asked to fail" in caplog.text
    assert result.record.outcome == "error:EchoError"
    assert "Echo rule" in caplog.text and "error:EchoError" in caplog.text
    assert "ECHO_LEAK" not in os.environ


def test_import_errors_and_unknown_functions(runner: Runner) -> None:
    missing = runner.invoke("Missing", {})
    assert missing.error is not None and missing.error["errorType"] == "Runtime.ImportModuleError"
    with pytest.raises(RunnerError, match="no function"):
        runner.invoke("Nope", {})


def test_one_log_line_per_invocation_with_virtual_time_and_correlation(
    runner: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    event = {"headers": {"X-Correlation-Id": "corr-42"}, "rawPath": "/"}
    with caplog.at_level(logging.INFO, logger="infra.localcloud"):
        result = runner.invoke("Noop", event, trigger="http")
    [line] = [r.getMessage() for r in caplog.records if r.name == "infra.localcloud"]
    assert line.startswith("2026-05-04T08:30:00Z Noop http ")
    assert line.endswith(" ok corr=corr-42")
    assert result.record.correlation_id == "corr-42"
    assert result.record.at == AT
    partial = runner.invoke(
        "Noop", {"batchItemFailures": [{"itemIdentifier": "1"}, {"itemIdentifier": "2"}]}, trigger="sqs"
    )
    assert partial.record.outcome == "partial:2 failed"


def test_invocations_are_kept_in_a_ring_buffer(runner: Runner) -> None:
    for number in range(8):
        runner.invoke("Noop", {"n": number})
    records = runner.invocations
    assert len(records) == 5
    assert [r.logical_id for r in records] == ["Noop"] * 5


def test_invocations_are_serialised(runner: Runner) -> None:
    noop.ACTIVE.update(now=0, max=0)
    threads = [threading.Thread(target=runner.invoke, args=("Slow", {})) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert noop.ACTIVE["max"] == 1


def test_runner_overhead_is_small(runner: Runner) -> None:
    runner.invoke("Noop", {})  # import once
    overheads = []
    for _ in range(300):
        runner.invoke("Noop", {"k": "v"}, trigger="direct")
        overheads.append(runner.overhead_ms)
    median = statistics.median(overheads)
    # Budget: 2 ms per invocation excluding the handler (typically ~0.1 ms).
    assert median < 2.0, f"median runner overhead {median:.3f} ms"


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"headers": {"x-correlation-id": "h1"}}, "h1"),
        ({"detail": {"metadata": {"correlation_id": "eb1"}}}, "eb1"),
        ({"Records": [{"body": '{"detail": {"metadata": {"correlation_id": "sqs1"}}}'}]}, "sqs1"),
        ({"Records": [{"body": '{"metadata": {"correlation_id": "sqs2"}}'}]}, "sqs2"),
        ({"Records": [{"body": "not json"}, {"body": '{"correlation_id": "sqs3"}'}]}, "sqs3"),
        (
            {
                "Records": [
                    {"dynamodb": {"NewImage": {"detail": {"S": '{"metadata": {"correlation_id": "ddb1"}}'}}}}
                ]
            },
            "ddb1",
        ),
        ({"metadata": {"correlation_id": "sfn1"}, "order_id": "o"}, "sfn1"),
        ({"nothing": True}, None),
        ("text", None),
    ],
)
def test_correlation_id_from_every_event_shape(event: object, expected: str | None) -> None:
    assert correlation_id(event) == expected
