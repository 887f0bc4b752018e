"""Benchmark 4: AWS API calls per operation, by function and API.

Method. A fresh local cloud on the real template. Before any handler runs, ``shared.aws``'s client
factory is wrapped so every client it creates carries a botocore ``before-call`` hook
(:class:`bench.fixtures.CallCounter`); the hook attributes each call to the function the runner is
running at that moment. Only handler-side calls are counted (what a deployed function would make
and pay for); the local cloud's own clients (pollers, provisioning, the bench's set-up) are not
``shared.aws`` clients and are not counted. Each handler is wrapped to count invocations and the
records of each batch. The operations run in order, each in its own counting window:

1. signed purchase, new, through ``cloud.http`` — first request of the container, then warm;
2. ``cloud.settle()`` after one purchase: the loyalty stream publisher (one batch, one outbox
   record) and the PurchaseRecorded consumers (one record each);
3. the same purchase again with a new nonce (replay);
4. the scoring job (``MembersScoringFunction`` invoked directly) over M members whose statistics
   were built by M signed purchases; then the same job again with nothing changed;
5. journey start: a ``MemberProfileScored`` event (the contract's example: a member whose churn risk
   just became high) put on the bus; settle runs the rule's consumer (starts the episode and the
   execution) and the state machine's tasks as far as they go without the clock moving.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import ROOT, Table, child_env, run_child

PURCHASE_FUNCTION = "LoyaltyApiFunction"
SCORING_FUNCTION = "MembersScoringFunction"


def calls_child(out: str, members: int) -> None:  # noqa: PLR0915 - one linear script
    from bench.fixtures import (
        KEY,
        PURCHASES_PATH,
        SOURCE,
        CallCounter,
        member_id,
        purchase_body,
        signed_headers,
        wrap_handlers,
    )
    from infra.localcloud.cloud import LocalCloud

    cloud = LocalCloud.start(ROOT)
    try:

        def resolve(name: str) -> str:
            try:
                return str(cloud.runner.find(name).logical_id)
            except Exception:
                return name

        counter = CallCounter(resolve)
        counter.install()
        timed = wrap_handlers((logical_id, spec.handler) for logical_id, spec in cloud.functions.items())
        cloud.client("secretsmanager").put_secret_value(
            SecretId=cloud.physical_id("IntegrationKeysSecret"), SecretString=json.dumps({SOURCE: KEY})
        )
        windows: list[dict[str, Any]] = []

        def window(label: str, action: Any) -> Any:
            counter.take()
            before = {lid: (t.calls, t.records) for lid, t in timed.items()}
            result = action()
            counts = counter.take()
            invoked = {
                lid: [t.calls - before[lid][0], t.records - before[lid][1]]
                for lid, t in timed.items()
                if t.calls != before[lid][0]
            }
            windows.append(
                {
                    "operation": label,
                    "calls": [[fn, api, n] for (fn, api), n in sorted(counts.items())],
                    "invocations": invoked,
                }
            )
            return result

        def post(body: bytes) -> int:
            now = cloud.clock.now()
            status, _headers, text = cloud.http("POST", PURCHASES_PATH, signed_headers(body, now), body)
            if status not in (200, 201):
                raise RuntimeError(f"purchase answered {status}: {text[:300]!r}")
            return int(status)

        now = cloud.clock.now()
        first = purchase_body("BENCH-CALLS-1", member_id(1), now)
        second = purchase_body("BENCH-CALLS-2", member_id(2), now)
        window("signed purchase, new (first request of the container)", lambda: post(first))
        window("settle after one purchase (first run of each function)", cloud.settle)
        window("signed purchase, new (warm)", lambda: post(second))
        window("signed purchase, replay (same purchase, new nonce)", lambda: post(second))
        window("settle after one purchase (warm)", cloud.settle)

        for i in range(members):
            post(purchase_body(f"BENCH-MEMBER-{i}", member_id(100 + i), cloud.clock.now()))
        cloud.settle()
        counter.take()

        def scoring() -> Any:
            result = cloud.invoke(SCORING_FUNCTION, {})
            if result.error is not None:
                raise RuntimeError(f"scoring failed: {result.error}")
            return result.payload

        first_run = window("scoring job, first run", scoring)
        window("settle after the first scoring run", cloud.settle)
        second_run = window("scoring job, re-run with nothing changed", scoring)
        window("settle after the re-run", cloud.settle)

        def journey() -> None:
            from shared.events.contracts import MemberProfileScored

            # The contract's own example is a member whose churn risk just became high; only the
            # member and the time are ours, so the event follows the contract as it evolves.
            data = MemberProfileScored.model_validate(
                {**MemberProfileScored.EXAMPLE, "member_id": member_id(7), "scored_at": cloud.clock.now()}
            )
            metadata = data.new_metadata(correlation_id="bench-journey", producer="bench")
            cloud.client("events").put_events(
                Entries=[
                    {
                        "Source": data.SOURCE,
                        "DetailType": data.detail_type(),
                        "Detail": data.detail_json(metadata),
                        "EventBusName": cloud.physical_id("EventBus"),
                    }
                ]
            )
            cloud.settle()

        window("journey start (MemberProfileScored, churn_risk became high, then settle)", journey)
        Path(out).write_text(
            json.dumps({"windows": windows, "scoring": [first_run, second_run], "members": members}),
            encoding="utf-8",
        )
    finally:
        cloud.stop()


def run(members: int = 20) -> list[Table]:
    with tempfile.TemporaryDirectory(prefix="mallcrm-bench-") as tmp:
        out = Path(tmp) / "result.json"
        run_child(
            f"from bench.aws_calls import calls_child; calls_child({str(out)!r}, {members})",
            child_env(),
            timeout=600,
        )
        result = json.loads(out.read_text(encoding="utf-8"))

    table = Table(
        "4. AWS API calls per operation (handler-side calls through shared.aws clients)",
        ["operation", "function", "invocations (records)", "calls by API", "total"],
    )
    for w in result["windows"]:
        by_function: dict[str, dict[str, int]] = defaultdict(dict)
        for fn, api, n in w["calls"]:
            by_function[fn][api] = n
        functions = list(dict.fromkeys([*w["invocations"], *by_function]))
        if not functions:
            table.add(w["operation"], "(no function ran)", "0", "none", 0)
        for i, fn in enumerate(functions):
            calls = by_function.get(fn, {})
            inv = w["invocations"].get(fn)
            table.add(
                w["operation"] if i == 0 else "",
                fn,
                f"{inv[0]} ({inv[1]})" if inv else "-",
                ", ".join(f"{api} {n}" for api, n in sorted(calls.items())) or "none",
                sum(calls.values()),
            )
    journey = next(w for w in result["windows"] if w["operation"].startswith("journey start"))
    if not journey["invocations"]:
        table.notes.append(
            "journey start ran no function: the event no longer matches the journey's rule; "
            "update the event in bench/aws_calls.py"
        )
    scoring_notes = []
    for label, payload, w in zip(
        ("first run", "re-run"),
        result["scoring"],
        [w for w in result["windows"] if w["operation"].startswith("scoring job")],
        strict=True,
    ):
        calls = {api: n for fn, api, n in w["calls"] if fn == SCORING_FUNCTION}
        scored = int((payload or {}).get("scored", 0))
        queries = calls.get("dynamodb.Query", 0)
        writes = sum(calls.values()) - queries
        per_member = writes / scored if scored else float("nan")
        scoring_notes.append(
            f"scoring {label}: {scored} members scored, {queries} Query "
            "(fixed per run: the shard queries and lookups) + "
            f"{writes} writes = {per_member:.2f} write call(s) per member"
        )
    table.notes += [
        "invocations (records): handler calls in the window and the records their events carried "
        "(an HTTP request or a direct invoke counts as one record).",
        *scoring_notes,
        f"the scoring job ran over {result['members']} members made by signed purchases, "
        "plus the 2 of the purchase steps.",
    ]
    table.data = result
    return [table]
