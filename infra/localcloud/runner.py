"""Run Lambda handlers in-process, one at a time, each with its own environment.

The environment is process-wide, so invocations are serialised with one re-entrant lock (a handler
that invokes another function synchronously re-enters it) and ``os.environ`` is restored after
every call, including variables the handler itself set. Each invocation writes one readable log
line and is kept in a ring buffer (:attr:`Runner.invocations`).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from infra.localcloud.clock import VirtualClock

__all__ = [
    "TRIGGERS",
    "FunctionSpec",
    "InvocationRecord",
    "InvokeResult",
    "LambdaContext",
    "Runner",
    "RunnerError",
    "correlation_id",
]

LOG = logging.getLogger("infra.localcloud")

Trigger = Literal["http", "sqs", "stream", "rule", "schedule", "sfn", "direct", "async"]
TRIGGERS: tuple[str, ...] = ("http", "sqs", "stream", "rule", "schedule", "sfn", "direct", "async")


class RunnerError(RuntimeError):
    """A function cannot be found or its handler cannot be run at all."""


@dataclass
class FunctionSpec:
    """A provisioned function, with everything resolved, as the runner needs it."""

    logical_id: str
    name: str
    arn: str
    handler: str
    code_dir: Path | None
    environment: dict[str, str]
    timeout: int = 3
    memory: int = 128
    runtime: str | None = None
    layers: list[str] = field(default_factory=list)
    events: dict[str, Any] = field(default_factory=dict)
    dead_letter_arn: str | None = None
    async_max_retries: int = 2
    async_on_failure_arn: str | None = None


@dataclass(frozen=True)
class InvocationRecord:
    """One line of the invocation log."""

    request_id: str
    logical_id: str
    trigger: str
    at: datetime
    duration_ms: float
    outcome: str
    correlation_id: str | None
    error_type: str | None = None
    error_message: str | None = None

    def line(self) -> str:
        stamp = self.at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f"{stamp} {self.logical_id} {self.trigger} {self.duration_ms:.1f}ms {self.outcome} "
            f"corr={self.correlation_id or '-'}"
        )


@dataclass
class InvokeResult:
    """What a handler returned, or the Lambda-style error it raised."""

    payload: Any
    error: dict[str, Any] | None
    record: InvocationRecord

    @property
    def ok(self) -> bool:
        return self.error is None


class LambdaContext:
    """The subset of the Lambda context object handlers and Powertools use."""

    def __init__(self, spec: FunctionSpec, request_id: str, region: str) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = f"local/[$LATEST]{request_id.replace('-', '')}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._region = region
        self._deadline = time.monotonic() + spec.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def __repr__(self) -> str:
        return f"LambdaContext({self.function_name}, {self.aws_request_id})"


def _from_envelope(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    metadata = value.get("metadata")
    if isinstance(metadata, dict):
        found = metadata.get("correlation_id") or metadata.get("correlationId")
        if found:
            return str(found)
    found = value.get("correlation_id")
    return str(found) if found else None


def _from_json_text(text: Any) -> Any:
    if isinstance(text, str) and text[:1] == "{":
        try:
            return json.loads(text)
        except ValueError:
            return None
    return None


def correlation_id(event: Any) -> str | None:  # noqa: PLR0911, PLR0912 - one exit per event shape
    """The correlation id carried by an event, whatever its shape (best effort, cheap)."""
    if not isinstance(event, dict):
        return None
    headers = event.get("headers")
    if isinstance(headers, dict):
        for key, value in headers.items():
            if key.lower() == "x-correlation-id" and value:
                return str(value)
    found = _from_envelope(event.get("detail")) or _from_envelope(event)
    if found:
        return found
    records = event.get("Records")
    if isinstance(records, list):
        for record in records[:10]:
            if not isinstance(record, dict):
                continue
            body = _from_json_text(record.get("body"))
            if isinstance(body, dict):
                found = _from_envelope(body.get("detail")) or _from_envelope(body)
                if found:
                    return found
            image = (record.get("dynamodb") or {}).get("NewImage") or {}
            if isinstance(image, dict):
                attr = image.get("correlation_id")
                if isinstance(attr, dict) and "S" in attr:
                    return str(attr["S"])
                detail = image.get("detail")
                if isinstance(detail, dict):
                    found = _from_envelope(_from_json_text(detail.get("S")))
                    if found:
                        return found
    return None


def _outcome(trigger: str, payload: Any, error: dict[str, Any] | None) -> str:
    if error is not None:
        return f"error:{error.get('errorType', 'Error')}"
    if trigger in ("sqs", "stream") and isinstance(payload, dict):
        failures = payload.get("batchItemFailures")
        if isinstance(failures, list) and failures:
            return f"partial:{len(failures)} failed"
    return "ok"


class Runner:
    """Imports handlers by their dotted path and runs them with a Lambda context."""

    overhead_ms: float = 0.0  # the last invocation's time outside the handler (for benchmarks)

    def __init__(
        self,
        root: Path,
        clock: VirtualClock,
        *,
        region: str = "us-east-1",
        history: int = 1000,
    ) -> None:
        self.root = root.resolve()
        self.clock = clock
        self.region = region
        self.lock = threading.RLock()
        self._functions: dict[str, FunctionSpec] = {}
        self._by_name: dict[str, str] = {}
        self._env: dict[str, dict[str, str]] = {}
        # Set for every function by the local tools (e.g. the dev server's address for download
        # links); a function's own environment wins over it.
        self.shared_env: dict[str, str] = {}
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._history: deque[InvocationRecord] = deque(maxlen=history)
        self._listeners: list[Callable[[InvocationRecord], None]] = []
        self.count = 0
        self._depth = 0
        self._base_env: dict[str, str] = {}
        if str(self.root) not in sys.path:
            sys.path.insert(0, str(self.root))

    # -- registry ----------------------------------------------------------------------------------
    def register(self, spec: FunctionSpec) -> None:
        self._functions[spec.logical_id] = spec
        self._by_name[spec.name] = spec.logical_id
        self._by_name[spec.arn] = spec.logical_id
        self._handlers.pop(spec.logical_id, None)
        self._env[spec.logical_id] = {
            **spec.environment,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "_HANDLER": spec.handler,
            "MALLCRM_AWS_TARGET": "local",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        }

    @property
    def functions(self) -> Mapping[str, FunctionSpec]:
        return self._functions

    def find(self, name: str) -> FunctionSpec:
        """A function by logical id, physical name, ARN (qualified or not)."""
        if name in self._functions:
            return self._functions[name]
        logical_id = self._by_name.get(name)
        if logical_id is None and name.startswith("arn:"):
            parts = name.split(":")
            logical_id = self._by_name.get(":".join(parts[:7])) if len(parts) > 7 else None
        if logical_id is None:
            raise RunnerError(f"no function {name!r} in the template")
        return self._functions[logical_id]

    def add_listener(self, listener: Callable[[InvocationRecord], None]) -> None:
        self._listeners.append(listener)

    @property
    def invocations(self) -> list[InvocationRecord]:
        return list(self._history)

    # -- handlers ----------------------------------------------------------------------------------
    def load_handler(self, spec: FunctionSpec) -> Callable[[Any, Any], Any]:
        """Import the handler module (once) and check it lives under the function's CodeUri."""
        cached = self._handlers.get(spec.logical_id)
        if cached is not None:
            return cached
        module_name, _, attribute = spec.handler.rpartition(".")
        if not module_name:
            raise RunnerError(f"{spec.logical_id}: Handler {spec.handler!r} is not module.function")
        module = importlib.import_module(module_name)
        module_file = getattr(module, "__file__", None)
        if spec.code_dir is not None and (
            module_file is None or not Path(module_file).resolve().is_relative_to(spec.code_dir)
        ):
            raise RunnerError(
                f"{spec.logical_id}: handler module {module_name} is {module_file}, which is not under "
                f"its CodeUri {spec.code_dir}; the deployed artifact would not contain it"
            )
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise RunnerError(f"{spec.logical_id}: {module_name} has no callable {attribute!r}")
        self._handlers[spec.logical_id] = handler
        return handler  # type: ignore[no-any-return]

    # -- invoking ----------------------------------------------------------------------------------
    def invoke(self, name: str, event: Any, trigger: str = "direct") -> InvokeResult:
        """Run one function on ``event``; never raises for handler errors."""
        spec = self.find(name)
        overrides = {**self.shared_env, **self._env[spec.logical_id]}
        with self.lock:
            started = time.perf_counter()
            at = self.clock.now()
            request_id = str(uuid.uuid4())
            correlation = correlation_id(event)  # before the handler can change the event
            before = dict(os.environ)
            if self._depth == 0:
                self._base_env = before
                os.environ.update(overrides)
            else:
                # A function invoked from inside another sees its own environment, not the caller's.
                self._restore({**self._base_env, **overrides}, current=before)
            self._depth += 1
            payload: Any = None
            error: dict[str, Any] | None = None
            handler_started = handler_ended = 0.0
            try:
                handler = self.load_handler(spec)
                context = LambdaContext(spec, request_id, self.region)
                handler_started = time.perf_counter()
                payload = handler(event, context)
                handler_ended = time.perf_counter()
            except (Exception, SystemExit) as exc:
                handler_ended = time.perf_counter()
                error = self._error(spec, exc, request_id)
            finally:
                self._depth -= 1
                self._restore(before)
            duration_ms = (time.perf_counter() - started) * 1000
            self.count += 1
            record = InvocationRecord(
                request_id=request_id,
                logical_id=spec.logical_id,
                trigger=trigger,
                at=at,
                duration_ms=duration_ms,
                outcome=_outcome(trigger, payload, error),
                correlation_id=correlation,
                error_type=error.get("errorType") if error else None,
                error_message=error.get("errorMessage") if error else None,
            )
            self._history.append(record)
            self.overhead_ms = duration_ms - (handler_ended - handler_started) * 1000
            if LOG.isEnabledFor(logging.INFO):
                LOG.info("%s", record.line())
            if handler_ended - handler_started > spec.timeout:
                LOG.warning(
                    "%s ran %.1f s, longer than its Timeout of %d s",
                    spec.logical_id,
                    duration_ms / 1000,
                    spec.timeout,
                )
            for listener in self._listeners:
                listener(record)
            return InvokeResult(payload=payload, error=error, record=record)

    @staticmethod
    def _restore(wanted: dict[str, str], current: dict[str, str] | None = None) -> None:
        """Make ``os.environ`` equal to ``wanted``, touching only the keys that differ."""
        environ = os.environ
        current = dict(environ) if current is None else current
        for key in current.keys() - wanted.keys():
            del environ[key]
        for key, value in wanted.items():
            if current.get(key) != value:
                environ[key] = value

    @staticmethod
    def _error(spec: FunctionSpec, exc: BaseException, request_id: str) -> dict[str, Any]:
        if isinstance(exc, ImportError):
            error_type = "Runtime.ImportModuleError"
        elif isinstance(exc, RunnerError):
            error_type = "Runtime.HandlerNotFound"
        else:
            error_type = type(exc).__name__
        stack = traceback.format_exception(type(exc), exc, exc.__traceback__)
        LOG.error(
            "%s raised %s (request %s)\n%s", spec.logical_id, error_type, request_id, "".join(stack).rstrip()
        )
        return {
            "errorType": error_type,
            "errorMessage": str(exc),
            "requestId": request_id,
            "stackTrace": [line.rstrip() for line in traceback.format_tb(exc.__traceback__)],
        }
