"""Requests, events and instruments the in-process benchmarks share.

Everything here runs inside a child interpreter started by a benchmark (never in ``python -m bench``
itself), so importing the project from here is fine.
"""

from __future__ import annotations

import importlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bench.common import ACCOUNT, REGION

SOURCE = "bench-pos"
KEY = "bench-signing-key-0123456789abcdef"  # a throwaway HMAC key for a throwaway cloud
PURCHASES_PATH = "/v1/integrations/purchases"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def member_id(n: int) -> str:
    """A valid, deterministic member id (ULID alphabet, 26 characters, first digit 0-7)."""
    digits = []
    for _ in range(25):
        n, r = divmod(n, 32)
        digits.append(_CROCKFORD[r])
    return "0" + "".join(reversed(digits))


def purchase_body(external_id: str, member: str | None, occurred_at: datetime) -> bytes:
    doc = {
        "external_id": external_id,
        "source_system": SOURCE,
        "store_id": "store-0101",
        "tenant_id": "tenant-uniqlo",
        "member_id": member,
        "amount_cents": 25900,
        "currency": "CNY",
        "channel": "pos",
        "items": [
            {"sku": "SKU-1", "category": "apparel", "quantity": 1, "amount_cents": 19900},
            {"sku": "SKU-2", "category": "accessories", "quantity": 2, "amount_cents": 6000},
        ],
        "occurred_at": (occurred_at - timedelta(minutes=1)).isoformat(),
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def signed_headers(body: bytes, now: datetime, path: str = PURCHASES_PATH) -> dict[str, str]:
    """The headers a POS sends: content type and the four signature headers (a fresh nonce)."""
    from shared.auth import HEADER_NONCE, HEADER_SIGNATURE, HEADER_SOURCE, HEADER_TIMESTAMP, sign_request

    timestamp = int(now.timestamp())
    nonce = uuid.uuid4().hex
    return {
        "content-type": "application/json",
        HEADER_SOURCE: SOURCE,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: sign_request(KEY.encode(), "POST", path, timestamp, nonce, body),
    }


def http_event(method: str, path: str, headers: dict[str, str], body: bytes, now: datetime) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, as the gateway would send it."""
    request_id = str(uuid.uuid4())
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "benchapi",
            "domainName": f"benchapi.execute-api.{REGION}.amazonaws.com",
            "domainPrefix": "benchapi",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "bench",
            },
            "requestId": request_id,
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": body.decode(),
        "isBase64Encoded": False,
    }


class FakeContext:
    """The part of a Lambda context that Powertools reads."""

    def __init__(self, name: str = "bench-function") -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


# -- instruments ------------------------------------------------------------------------------------


class TimedHandler:
    """Wraps a handler function: times each call and counts the records each event carried.

    Installed as the handler module's attribute *before* the local cloud first loads it, so the
    runner calls the wrapper; it adds well under a microsecond per call.
    """

    def __init__(self, logical_id: str, function: Callable[[Any, Any], Any]) -> None:
        self.logical_id = logical_id
        self.function = function
        self.last_ms = 0.0
        self.calls = 0
        self.records = 0

    def __call__(self, event: Any, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.function(event, context)
        finally:
            self.last_ms = (time.perf_counter() - started) * 1000
            self.calls += 1
            if isinstance(event, dict) and isinstance(event.get("Records"), list):
                self.records += len(event["Records"])
            else:
                self.records += 1


def wrap_handlers(functions: Iterable[tuple[str, str]]) -> dict[str, TimedHandler]:
    """Replace each ``(logical_id, "pkg.module.attr")`` handler by a :class:`TimedHandler`."""
    wrapped: dict[str, TimedHandler] = {}
    by_target: dict[str, TimedHandler] = {}
    for logical_id, handler in functions:
        module_name, _, attribute = handler.rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue  # the runner will report it when (if) the function is invoked
        current = getattr(module, attribute)
        if handler in by_target:  # two functions sharing one handler share the wrapper's function
            current = by_target[handler].function
        timed = TimedHandler(logical_id, current)
        setattr(module, attribute, timed)
        by_target[handler] = timed
        wrapped[logical_id] = timed
    return wrapped


@dataclass
class CallCounter:
    """botocore API calls made through ``shared.aws`` clients, by function and ``service.Operation``.

    A ``before-call`` hook is registered on every client ``shared.aws`` creates (its factory is
    wrapped before the first client exists). ``before-call`` fires once per API call, before
    retries, so a retried call counts once. The calling function is whatever the local cloud's
    runner is running at that moment (``AWS_LAMBDA_FUNCTION_NAME`` in the environment it sets).
    """

    resolve: Callable[[str], str]
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def hook(self, model: Any, **_: Any) -> None:
        import os

        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        caller = self.resolve(name) if name else "(outside any function)"
        self.counts[(caller, f"{model.service_model.service_name}.{model.name}")] += 1

    def install(self) -> None:
        from shared import aws

        factory = getattr(aws, "_create", None)
        if factory is None:
            raise RuntimeError("shared.aws has no _create factory to instrument; update bench/fixtures.py")

        def create(*args: Any, **kwargs: Any) -> Any:
            created = factory(*args, **kwargs)
            created.meta.events.register("before-call", self.hook)
            return created

        aws._create = create
        aws.reset_clients()

    def take(self) -> Counter[tuple[str, str]]:
        taken = self.counts
        self.counts = Counter()
        return taken
