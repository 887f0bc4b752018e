"""Benchmark 3: what the local cloud adds to a request, and what the purchase handler costs warm.

3a. Front door + runner overhead per request, excluding the handler. A fresh local cloud (real
    template) serves N requests through ``cloud.http(...)`` — the same code path the HTTP server
    uses, without the socket. Before the first request, each handler module's ``handler`` attribute
    is replaced by a thin timing wrapper (:class:`bench.fixtures.TimedHandler`), so the runner
    calls the real handler through it. Per request:

        overhead = (time around cloud.http) - (time around the real handler call, same request)

    measured on the same request, so the handler's own variance (moto, DynamoDB emulation) cancels
    out. The runner's record of the invocation splits the overhead into runner (environment swap,
    Lambda context, invocation log) and front door (routing, authorizer, event building, response
    mapping). Routes: the signed purchase route (no authorizer; a new purchase per request) and a
    JWT route (Cognito token from the local user pool, RS256 verification in the front door).

3b. Warm handler time of the signed purchase handler with the AWS layer stubbed: the handler
    function called directly (no local cloud, no moto) with API Gateway 2.0 events; every boto3
    client that ``shared.aws`` creates answers from a ``before-call`` responder (the mechanism
    botocore's Stubber uses), so request serialisation and endpoint resolution still run but
    nothing is signed or sent. HMAC check, body validation, the DAL, Powertools logging and
    metrics (``LOG_LEVEL=INFO`` as in prod) all run; the Tracer is disabled (the X-Ray SDK needs a
    daemon and a Lambda trace header). Two paths: a new purchase (TransactWriteItems succeeds) and
    a replay (the same purchase with a new nonce: TransactWriteItems is cancelled on the purchase's
    condition, PutItem claims the nonce, then GetItem returns the stored purchase).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    Table,
    child_env,
    median,
    ms,
    percentile,
    run_child,
    template_functions,
    verdict,
)

TARGET_MS = 2.0
PURCHASE_FUNCTION = "LoyaltyApiFunction"
JWT_ROUTE = "/v1/admin/journeys/{name}/executions"
JWT_PATH = JWT_ROUTE.replace("{name}", "churn_warning")
_STAFF_PASSWORD = "Bench-Passw0rd-2026"


# -- 3a: in the child ---------------------------------------------------------------------------------


def _staff_token(cloud: Any) -> str:
    pool = cloud.user_pool
    if pool is None or pool.client_id is None:
        raise RuntimeError("the template has no user pool client")
    idp = cloud.client("cognito-idp")
    idp.admin_create_user(UserPoolId=pool.pool_id, Username="bench-admin", MessageAction="SUPPRESS")
    idp.admin_set_user_password(
        UserPoolId=pool.pool_id, Username="bench-admin", Password=_STAFF_PASSWORD, Permanent=True
    )
    idp.admin_add_user_to_group(UserPoolId=pool.pool_id, Username="bench-admin", GroupName="admin")
    result = idp.initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "bench-admin", "PASSWORD": _STAFF_PASSWORD},
    )["AuthenticationResult"]
    return str(result["IdToken"])


def _route_samples(
    cloud: Any, timed: Any, records: list[Any], make: Any, *, n: int, warmup: int
) -> dict[str, Any]:
    import time

    totals: list[float] = []
    handlers: list[float] = []
    runner: list[float] = []
    statuses: dict[int, int] = {}
    for i in range(warmup + n):
        method, path, headers, body = make(i)
        calls_before = timed.calls
        started = time.perf_counter()
        status, _headers, _body = cloud.http(method, path, headers, body)
        total = (time.perf_counter() - started) * 1000
        if timed.calls != calls_before + 1:
            raise RuntimeError(
                f"{method} {path} answered {status} without running the handler: {_body[:300]!r}"
            )
        statuses[status] = statuses.get(status, 0) + 1
        if i < warmup:
            continue
        totals.append(total)
        handlers.append(timed.last_ms)
        runner.append(records[-1].duration_ms)
    return {"total": totals, "handler": handlers, "invocation": runner, "statuses": statuses}


def frontdoor_child(out: str, n: int, jwt_n: int, warmup: int = 10) -> None:
    from bench.fixtures import (
        KEY,
        PURCHASES_PATH,
        SOURCE,
        member_id,
        purchase_body,
        signed_headers,
        wrap_handlers,
    )
    from infra.localcloud.cloud import LocalCloud

    cloud = LocalCloud.start(ROOT)
    try:
        timed = wrap_handlers((logical_id, spec.handler) for logical_id, spec in cloud.functions.items())
        records: list[Any] = []
        cloud.runner.add_listener(records.append)
        cloud.client("secretsmanager").put_secret_value(
            SecretId=cloud.physical_id("IntegrationKeysSecret"), SecretString=json.dumps({SOURCE: KEY})
        )
        routes: dict[str, Any] = {}

        def purchase(i: int) -> tuple[str, str, dict[str, str], bytes]:
            now = cloud.clock.now()
            body = purchase_body(f"BENCH-FD-{i}", member_id(i % 97), now)
            return "POST", PURCHASES_PATH, signed_headers(body, now), body

        routes[f"POST {PURCHASES_PATH} (signed, new purchase)"] = _route_samples(
            cloud, timed[PURCHASE_FUNCTION], records, purchase, n=n, warmup=warmup
        )
        try:
            token = _staff_token(cloud)
            function = next(
                r.function
                for r in cloud.api_routes
                if r.method == "GET" and r.path == JWT_ROUTE and r.authorizer is not None
            )
        except Exception as exc:  # the JWT route is a bonus; say why it is missing
            routes["JWT route"] = {"error": f"{type(exc).__name__}: {exc}"}
        else:

            def staff(_i: int) -> tuple[str, str, dict[str, str], bytes]:
                return "GET", JWT_PATH, {"authorization": f"Bearer {token}"}, b""

            routes[f"GET {JWT_PATH} (Cognito JWT)"] = _route_samples(
                cloud, timed[str(function)], records, staff, n=jwt_n, warmup=warmup
            )
        Path(out).write_text(json.dumps({"routes": routes}), encoding="utf-8")
    finally:
        cloud.stop()


# -- 3b: in the child ---------------------------------------------------------------------------------


def stubbed_child(out: str, n: int, warmup: int = 30) -> None:  # noqa: PLR0915 - one linear script
    import importlib
    import time

    from bench.fixtures import KEY, SOURCE, FakeContext, http_event, member_id, purchase_body, signed_headers

    fn = next(f for f in template_functions() if f.logical_id == PURCHASE_FUNCTION)
    os.environ.update(fn.environment)
    os.environ.update(
        {
            "MALLCRM_AWS_TARGET": "aws",
            "LOG_LEVEL": "INFO",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_LAMBDA_FUNCTION_NAME": f"bench-{fn.logical_id}",
        }
    )
    module_name, _, attribute = fn.handler.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)

    from botocore.awsrequest import AWSResponse

    from shared import aws

    state: dict[str, Any] = {"mode": "new", "item": None, "calls": {}}

    # One return per stubbed AWS operation: a table would hide the per-operation comments.
    def respond(model: Any, params: Any, **_: Any) -> tuple[Any, dict[str, Any]]:  # noqa: PLR0911
        op = model.name
        state["calls"][op] = state["calls"].get(op, 0) + 1
        meta = {"ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": "bench"}}
        if op == "GetSecretValue":
            return AWSResponse(None, 200, {}, None), {
                "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench",
                "Name": "bench",
                "VersionId": "bench",
                "SecretString": json.dumps({SOURCE: KEY}),
                **meta,
            }
        if op == "TransactWriteItems":
            if state["item"] is None:
                items = json.loads(params["body"])["TransactItems"]
                state["item"] = next(
                    i["Put"]["Item"]
                    for i in items
                    if i.get("Put", {}).get("Item", {}).get("entity") == {"S": "purchase"}
                )
            if state["mode"] == "new":
                return AWSResponse(None, 200, {}, None), meta
            reasons = [{"Code": "None"}, {"Code": "ConditionalCheckFailed"}, {"Code": "None"}]
            return AWSResponse(None, 400, {}, None), {
                "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                "CancellationReasons": reasons,
                "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "bench"},
            }
        if op == "PutItem":
            return AWSResponse(None, 200, {}, None), meta
        if op == "Query":  # the earning configuration, read once per container: none configured
            return AWSResponse(None, 200, {}, None), {"Items": [], "Count": 0, "ScannedCount": 0, **meta}
        if op == "GetItem":
            key = json.loads(params["body"])["Key"]["pk"]["S"]
            if key.startswith("PURCHASE#"):  # the original purchase, read on a replay
                return AWSResponse(None, 200, {}, None), {"Item": state["item"], **meta}
            return AWSResponse(None, 200, {}, None), meta  # the member's balance: a new member
        raise RuntimeError(f"the stub has no answer for {op}")

    for service in ("dynamodb", "secretsmanager"):
        aws.client(service).meta.events.register("before-call", respond)

    context = FakeContext(f"bench-{fn.logical_id}")
    results: dict[str, Any] = {}
    replay_body = b""
    for mode in ("new", "replay"):
        state["mode"] = mode
        state["calls"] = {}
        samples: list[float] = []
        for i in range(warmup + n):
            now = datetime.now(UTC)
            if mode == "new":
                body = purchase_body(f"BENCH-STUB-{i}", member_id(i % 97), now)
                replay_body = replay_body or body
            else:
                body = replay_body
            event = http_event("POST", "/v1/integrations/purchases", signed_headers(body, now), body, now)
            if i == warmup:
                state["calls"] = {}
            started = time.perf_counter()
            response = handler(event, context)
            elapsed = (time.perf_counter() - started) * 1000
            expected = 201 if mode == "new" else 200
            if response.get("statusCode") != expected:
                raise RuntimeError(f"{mode}: expected {expected}, got {response}")
            if i >= warmup:
                samples.append(elapsed)
        results[mode] = {"samples": samples, "calls": {k: v / n for k, v in state["calls"].items()}}
    sys.stdout.flush()
    Path(out).write_text(json.dumps(results), encoding="utf-8")


# -- parent -------------------------------------------------------------------------------------------


def _child(function: str, *args: int) -> Any:
    with tempfile.TemporaryDirectory(prefix="mallcrm-bench-") as tmp:
        out = Path(tmp) / "result.json"
        call = ", ".join([repr(str(out)), *(repr(a) for a in args)])
        run_child(f"from bench.overhead import {function}; {function}({call})", child_env(), timeout=600)
        return json.loads(out.read_text(encoding="utf-8"))


def run(n: int = 80, jwt_n: int = 300, stub_n: int = 500) -> list[Table]:
    door = _child("frontdoor_child", n, jwt_n)
    table = Table(
        "3a. Front door + runner overhead per request, handler excluded (ms; target p50 <= 2 ms)",
        [
            "route",
            "n",
            "total p50",
            "handler p50",
            "overhead p50",
            "p95",
            "runner p50",
            "front door p50",
            "target",
        ],
    )
    rows = []
    for route, r in door["routes"].items():
        if "error" in r:
            table.add(route, "-", "-", "-", "-", "-", "-", "-", "n/a")
            table.notes.append(f"{route}: not measured ({r['error']})")
            continue
        overhead = [t - h for t, h in zip(r["total"], r["handler"], strict=True)]
        runner = [i - h for i, h in zip(r["invocation"], r["handler"], strict=True)]
        front = [t - i for t, i in zip(r["total"], r["invocation"], strict=True)]
        p50 = percentile(overhead, 50)
        table.add(
            route,
            len(overhead),
            ms(percentile(r["total"], 50), 2),
            ms(percentile(r["handler"], 50), 2),
            ms(p50, 3),
            ms(percentile(overhead, 95), 3),
            ms(percentile(runner, 50), 3),
            ms(percentile(front, 50), 3),
            verdict(p50, TARGET_MS),
        )
        rows.append(
            {
                "route": route,
                "n": len(overhead),
                "total_p50": percentile(r["total"], 50),
                "handler_p50": percentile(r["handler"], 50),
                "overhead_p50": p50,
                "overhead_p95": percentile(overhead, 95),
                "overhead_mean": sum(overhead) / len(overhead),
                "runner_p50": percentile(runner, 50),
                "front_door_p50": percentile(front, 50),
                "statuses": r["statuses"],
                "handler_first20_p50": percentile(r["handler"][:20], 50),
                "handler_last20_p50": percentile(r["handler"][-20:], 50),
            }
        )
    table.notes += [
        "overhead = time around cloud.http(...) minus time around the real handler call, per request "
        "(a timing wrapper installed as the module's handler before the first request); "
        "the first 10 requests of each route dropped (warm-up).",
        "runner = the runner's invocation record minus the handler; front door = the rest.",
        *(
            f"{row['route'].split(' (')[0]}: handler p50 {row['handler_first20_p50']:.1f} ms over the "
            f"first 20 timed requests, {row['handler_last20_p50']:.1f} ms over the last 20"
            for row in rows
        ),
    ]
    table.data = {"target_ms": TARGET_MS, "rows": rows}

    stub = _child("stubbed_child", stub_n)
    stubbed = Table(
        "3b. Warm signed-purchase handler, AWS stubbed, called directly (ms per call)",
        ["path", "n", "p50", "p95", "median", "AWS calls per request (stubbed)"],
    )
    stub_rows = []
    for mode, r in stub.items():
        samples = r["samples"]
        calls = ", ".join(f"{op} {count:.2g}" for op, count in sorted(r["calls"].items()))
        stubbed.add(
            f"POST /v1/integrations/purchases, {mode}",
            len(samples),
            ms(percentile(samples, 50), 2),
            ms(percentile(samples, 95), 2),
            ms(median(samples), 2),
            calls,
        )
        stub_rows.append(
            {"mode": mode, "n": len(samples), "p50": percentile(samples, 50), "p95": percentile(samples, 95)}
        )
    stubbed.notes += [
        "handler(event, context) timed with perf_counter; 30 warm-up calls dropped; AWS answered by a "
        "before-call responder on the shared.aws clients (serialisation runs, nothing is signed or sent); "
        "Tracer disabled.",
        "calls column: API calls per timed request (GetSecretValue happened once, during warm-up: "
        "cached per container).",
    ]
    stubbed.data = {"rows": stub_rows}
    return [table, stubbed]
