"""Benchmark: the purchase → points path (loyalty ledger).

L1. AWS calls per purchase. A fresh local cloud on the real template, with one earning rule,
    three tiers and the purchases' store in the store directory (so the directory is enforced)
    configured and the calls of every ``shared.aws`` client counted by function and
    API (:class:`bench.fixtures.CallCounter`, as benchmark 4). Windows: the first purchase of the
    container (secrets and configuration load), a warm purchase of a new member, a warm purchase
    of a member who has a balance, a replay (same purchase, new nonce) and a refund. Target: one
    TransactWriteItems plus idempotency (its conditions) and no read beyond the member's balance
    item.

L2. Warm handler time without I/O. ``LoyaltyApiFunction``'s handler called directly with API
    Gateway 2.0 events; every boto3 client that ``shared.aws`` creates answers from a
    ``before-call`` responder (serialisation runs, nothing is signed or sent): secrets, the cached
    configuration (Query, only on the first call), the balance (GetItem: a member with history,
    month buckets and a tier; each member's answer is built once, as a server's would not be
    built by the client), the due calendar (UpdateItem, first call of the day only) and the
    transaction. HMAC check, validation, earning rules, tier logic, item building, Powertools
    logging and metrics all run; the Tracer is disabled. Target: p50 <= 1 ms. A second row
    subtracts the time spent inside the SDK's client calls (botocore's validation, serialisation,
    endpoint rules and hooks, timed around ``BaseClient._make_api_call``): the handler's own time.
    Also timed, in the same run: a purchase without a member (the path before the ledger, for
    comparison on the same machine load) and ``plan_purchase_points`` alone (the pure earning +
    ledger + tier step).

L3. Sustained ingestion through the local cloud: P signed purchases over M members through
    ``cloud.http`` (the front door, authoriser-free signed route, runner, moto), then one
    ``settle`` (stream → publisher → bus → consumers). Real time, so this is the emulator's rate
    on this machine — it shows the path holds under a stream of purchases (no conflicts lost, the
    balance equals the sum of lots for every member), not what AWS would do.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import ROOT, Table, child_env, ms, percentile, run_child, template_functions, verdict

FUNCTION = "LoyaltyApiFunction"
TARGET_MS = 1.0


def _configure_through_dal() -> None:
    from services.loyalty.dal.loyalty_config import DynamoLoyaltyConfig, clear_config_cache
    from services.loyalty.models.earning import EarningRule, Tier, TierBenefits, TierProgram
    from services.loyalty.models.stores import Store

    table = os.environ["TABLE_NAME"]
    config = DynamoLoyaltyConfig(table)
    # The store of bench.fixtures.purchase_body: an enforced directory is part of the measured path.
    config.put_store(
        Store(store_id="store-0101", tenant_id="tenant-uniqlo", name="Uniqlo 1F-01"), expected_version=None
    )
    config.put_rule(
        EarningRule(rule_id="01HX0000000000000000000001", kind="base", name="b", points=1, per_cents=100),
        expected_version=None,
    )
    for tier in (
        Tier(tier_id="normal", name="Normal", rank=0, qualify=0),
        Tier(
            tier_id="silver",
            name="Silver",
            rank=1,
            qualify=1000,
            benefits=TierBenefits(points_multiplier_pct=120),
        ),
        Tier(
            tier_id="gold",
            name="Gold",
            rank=2,
            qualify=5000,
            benefits=TierBenefits(points_multiplier_pct=150),
        ),
    ):
        config.put_tier(tier)
    config.put_program(TierProgram())
    clear_config_cache()


def calls_child(out: str, sustained: int, members: int) -> None:  # noqa: PLR0915 - one linear script
    from bench.fixtures import (
        KEY,
        PURCHASES_PATH,
        SOURCE,
        CallCounter,
        member_id,
        purchase_body,
        signed_headers,
    )
    from infra.localcloud.cloud import LocalCloud

    cloud = LocalCloud.start(ROOT)
    try:
        counter = CallCounter(lambda name: str(cloud.runner.find(name).logical_id) if name else name)
        counter.install()
        cloud.client("secretsmanager").put_secret_value(
            SecretId=cloud.physical_id("IntegrationKeysSecret"), SecretString=json.dumps({SOURCE: KEY})
        )
        os.environ["TABLE_NAME"] = cloud.physical_id("LoyaltyTable")
        _configure_through_dal()
        counter.take()
        windows: list[dict[str, Any]] = []

        def post(path: str, body: bytes) -> int:
            status, _h, text = cloud.http("POST", path, signed_headers(body, cloud.clock.now(), path), body)
            if status not in (200, 201):
                raise RuntimeError(f"{path} answered {status}: {text[:300]!r}")
            return int(status)

        def window(label: str, path: str, body: bytes) -> None:
            counter.take()
            post(path, body)
            counts = counter.take()
            windows.append(
                {"operation": label, "calls": {api: n for (fn, api), n in counts.items() if fn == FUNCTION}}
            )

        now = cloud.clock.now()
        window(
            "purchase, first request of the container",
            PURCHASES_PATH,
            purchase_body("B-1", member_id(1), now),
        )
        window("purchase, warm, new member", PURCHASES_PATH, purchase_body("B-2", member_id(2), now))
        window(
            "purchase, warm, member with a balance", PURCHASES_PATH, purchase_body("B-3", member_id(2), now)
        )
        window(
            "purchase, replay (same purchase, new nonce)",
            PURCHASES_PATH,
            purchase_body("B-3", member_id(2), now),
        )
        refund = json.dumps(
            {
                "external_id": "R-1",
                "source_system": SOURCE,
                "purchase_external_id": "B-3",
                "store_id": "store-0101",
                "amount_cents": 10000,
                "currency": "CNY",
                "occurred_at": now.isoformat(),
            }
        ).encode()
        window("refund (partial) of that purchase", "/v1/integrations/refunds", refund)
        cloud.settle()

        # L3: sustained ingestion.
        started = time.perf_counter()
        for i in range(sustained):
            post(PURCHASES_PATH, purchase_body(f"S-{i}", member_id(1000 + i % members), cloud.clock.now()))
        posting = time.perf_counter() - started
        started = time.perf_counter()
        cloud.settle()
        settling = time.perf_counter() - started
        counts = counter.take()
        from services.loyalty.dal.ledger import DynamoLedgerRepository
        from services.loyalty.dal.privacy import pseudonym_key
        from services.loyalty.logic.ledger import check_invariants
        from services.loyalty.logic.privacy import pseudonym

        repo = DynamoLedgerRepository(os.environ["TABLE_NAME"])
        key = pseudonym_key(cloud.physical_id("LoyaltyPseudonymKeySecret"))
        problems, total = [], 0
        for m in range(members):
            ledger_id = pseudonym(key, member_id(1000 + m))
            balance = repo.get_balance(ledger_id)
            lots = repo.open_lots(ledger_id)
            if balance is None:
                problems.append(f"member {m}: no balance")
                continue
            total += balance.available + balance.pending
            problems += check_invariants(balance, lots)
        Path(out).write_text(
            json.dumps(
                {
                    "windows": windows,
                    "sustained": {
                        "purchases": sustained,
                        "members": members,
                        "post_seconds": posting,
                        "settle_seconds": settling,
                        "transactions": counts.get((FUNCTION, "dynamodb.TransactWriteItems"), 0),
                        "points_total": total,
                        "problems": problems[:5],
                    },
                }
            ),
            encoding="utf-8",
        )
    finally:
        cloud.stop()


def stubbed_child(out: str, n: int, with_member: int = 1, warmup: int = 50) -> None:  # noqa: PLR0915 - one linear script
    import importlib

    from botocore.awsrequest import AWSResponse

    from bench.fixtures import KEY, SOURCE, FakeContext, http_event, member_id, purchase_body, signed_headers
    from services.loyalty.dal.ledger import balance_item
    from services.loyalty.logic.ledger import Balance
    from shared import aws, clock
    from shared.dynamo import to_item

    fn = next(f for f in template_functions() if f.logical_id == FUNCTION)
    os.environ.update(fn.environment)
    os.environ.update(
        {
            "MALLCRM_AWS_TARGET": "aws",
            "LOG_LEVEL": "INFO",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_LAMBDA_FUNCTION_NAME": f"bench-{fn.logical_id}",
            "TABLE_NAME": "bench-loyalty",
        }
    )
    module_name, _, attribute = fn.handler.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)
    now0 = datetime.now(UTC)
    month = now0.astimezone(clock.zone("Asia/Shanghai")).strftime("%Y-%m")
    config_items = [
        to_item(
            {
                "pk": "CONFIG#EARNING",
                "sk": "RULE#01HX0000000000000000000001",
                "rule_id": "01HX0000000000000000000001",
                "version": 1,
                "rule": json.dumps({"kind": "base", "name": "b", "points": 1, "per_cents": 100}),
            }
        ),
        to_item(
            {
                "pk": "CONFIG#TIERS",
                "sk": "TIER#normal",
                "tier": json.dumps({"tier_id": "normal", "name": "N", "rank": 0, "qualify": 0}),
            }
        ),
        to_item(
            {
                "pk": "CONFIG#TIERS",
                "sk": "TIER#gold",
                "tier": json.dumps(
                    {
                        "tier_id": "gold",
                        "name": "G",
                        "rank": 2,
                        "qualify": 5000,
                        "benefits": {"points_multiplier_pct": 150},
                    }
                ),
            }
        ),
        to_item(
            {
                "pk": "CONFIG#STORES",
                "sk": "STORE#store-0101",
                "store": json.dumps({"store_id": "store-0101", "tenant_id": "tenant-uniqlo", "name": "U"}),
            }
        ),
    ]
    state: dict[str, Any] = {"calls": {}}
    ok = AWSResponse(None, 200, {}, None)
    # The fake service answers a balance read from a table built once per request (per member):
    # building the answer each time (reading the request, a Balance, its item, boto3's serialiser)
    # took ~0.07 ms per purchase, inside the timed call, yet it is the server's work, not the
    # handler's. (botocore does not parse a before-call answer: response parsing, like signing and
    # sending, is outside what L2 measures.)
    balance_items: dict[bytes, dict[str, Any]] = {}

    def balance_answer(request_body: bytes) -> dict[str, Any]:
        item = balance_items.get(request_body)
        if item is None:
            ledger_id = json.loads(request_body)["Key"]["pk"]["S"].removeprefix("LEDGER#")
            balance = Balance(
                ledger_id=ledger_id,
                member_id=member_id(1),
                available=1200,
                version=7,
                lifetime_earned=4800,
                earned_by_month={month: 1200},
                spend_by_month={month: 120000},
                tier="normal",
            )
            item = balance_items[request_body] = to_item(balance_item(balance))
        return item

    def respond(model: Any, params: Any, **_: Any) -> tuple[Any, dict[str, Any]]:
        op = model.name
        state["calls"][op] = state["calls"].get(op, 0) + 1
        meta = {"ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": "bench"}}
        if op == "GetSecretValue":
            secret_id = json.loads(params["body"])["SecretId"]
            keys = secret_id == os.environ.get("INTEGRATION_KEYS_SECRET_ARN")
            value = json.dumps({SOURCE: KEY}) if keys else "bench-pseudonym-key-" + "x" * 40
            return ok, {"ARN": "arn", "Name": "bench", "VersionId": "v", "SecretString": value, **meta}
        if op == "Query":
            pk = json.loads(params["body"])["ExpressionAttributeValues"][":pk"]["S"]
            return ok, {"Items": [i for i in config_items if i["pk"]["S"] == pk], "Count": 1, **meta}
        if op == "GetItem":
            return ok, {"Item": balance_answer(params["body"]), **meta}
        if op in ("TransactWriteItems", "UpdateItem", "PutItem"):
            return ok, meta
        raise RuntimeError(f"the stub has no answer for {op}")

    for service in ("dynamodb", "secretsmanager"):
        aws.client(service).meta.events.register("before-call", respond)

    # Time spent inside the SDK's client calls (botocore: validation, serialisation, endpoint
    # rules, hooks, parsing), so the table can also show the handler's own time beside the total.
    import botocore.client

    inside_sdk = [0.0]
    make_api_call = botocore.client.BaseClient._make_api_call

    def timed_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
        started = time.perf_counter()
        try:
            return make_api_call(self, operation_name, api_params)
        finally:
            inside_sdk[0] += time.perf_counter() - started

    botocore.client.BaseClient._make_api_call = timed_api_call
    context = FakeContext(f"bench-{fn.logical_id}")
    samples: list[float] = []
    own: list[float] = []
    for i in range(warmup + n):
        now = datetime.now(UTC)
        body = purchase_body(f"BENCH-L-{i}", member_id(i % 97) if with_member else None, now)
        event = http_event("POST", "/v1/integrations/purchases", signed_headers(body, now), body, now)
        if i == warmup:
            state["calls"] = {}
        inside_sdk[0] = 0.0
        started = time.perf_counter()
        response = handler(event, context)
        elapsed = (time.perf_counter() - started) * 1000
        if response.get("statusCode") != 201:
            raise RuntimeError(f"expected 201, got {response}")
        if i >= warmup:
            samples.append(elapsed)
            own.append(elapsed - inside_sdk[0] * 1000)

    # the pure step alone
    from services.loyalty.handlers.ledger_deps import loyalty_config
    from services.loyalty.logic.purchase_points import plan_purchase_points
    from services.loyalty.models.entities import Purchase, PurchaseLine
    from services.loyalty.models.settings import LoyaltyApiSettings
    from shared.settings import load

    config = loyalty_config(load(LoyaltyApiSettings))
    purchase = Purchase(
        purchase_id="01HXA3Z6P0Q8W5D9K2M4N7R1TB",
        external_id="x",
        source_system=SOURCE,
        store_id="store-0101",
        tenant_id="tenant-uniqlo",
        member_id=member_id(1),
        amount_cents=25900,
        currency="CNY",
        channel="pos",
        items=(PurchaseLine(sku="a", category="apparel", quantity=1, amount_cents=25900),),
        occurred_at=now0,
        recorded_at=now0,
        fingerprint="f",
    )
    balance = Balance(
        ledger_id="anon_x", member_id=member_id(1), version=3, earned_by_month={month: 900}, tier="normal"
    )
    pure: list[float] = []
    for _ in range(2000):
        started = time.perf_counter()
        plan_purchase_points(purchase, balance, config, movement_id="01HXA3Z7AAAAAAAAAAAAAAAAAA", now=now0)
        pure.append((time.perf_counter() - started) * 1000)
    sys.stdout.flush()
    Path(out).write_text(
        json.dumps(
            {
                "samples": samples,
                "own": own,
                "calls": {k: v / n for k, v in state["calls"].items()},
                "pure": pure[200:],
            }
        ),
        encoding="utf-8",
    )


def _child(function: str, *args: int) -> Any:
    with tempfile.TemporaryDirectory(prefix="mallcrm-bench-") as tmp:
        out = Path(tmp) / "result.json"
        call = ", ".join([repr(str(out)), *(repr(a) for a in args)])
        run_child(
            f"from bench.loyalty_purchase import {function}; {function}({call})", child_env(), timeout=900
        )
        return json.loads(out.read_text(encoding="utf-8"))


def run(stub_n: int = 500, sustained: int = 300, members: int = 40) -> list[Table]:
    calls = _child("calls_child", sustained, members)
    t1 = Table(
        "L1. Loyalty purchase path: AWS calls per request (LoyaltyApiFunction)",
        ["operation", "calls by API", "total"],
    )
    for w in calls["windows"]:
        t1.add(
            w["operation"],
            ", ".join(f"{api} {n}" for api, n in sorted(w["calls"].items())) or "none",
            sum(w["calls"].values()),
        )
    t1.notes.append(
        "warm purchase target: 1 TransactWriteItems (purchase, nonce, outbox, balance, lot, movement, "
        "events, each conditional) + GetItem of the balance item only; secrets and configuration are "
        "cached per container. The due calendar UpdateItem counted here on every purchase is the local "
        "cloud's (its tables can be recreated inside one process, so it never remembers a day); on AWS "
        "it happens once per container per new due day (services/loyalty/dal/ledger.py DueCalendar), "
        "as L2 (target aws) shows"
    )

    stub = _child("stubbed_child", stub_n, 1)
    baseline = _child("stubbed_child", stub_n, 0)
    t2 = Table(
        f"L2. Warm purchase handler time without I/O (ms; target p50 <= {TARGET_MS:g} ms)",
        ["path", "n", "p50", "p95", "p99", "calls per request", "target"],
    )
    p50 = percentile(stub["samples"], 50)
    t2.add(
        "signed purchase of a member -> points",
        len(stub["samples"]),
        ms(p50, 3),
        ms(percentile(stub["samples"], 95), 3),
        ms(percentile(stub["samples"], 99), 3),
        ", ".join(f"{k} {v:.2f}" for k, v in sorted(stub["calls"].items())),
        verdict(p50, TARGET_MS),
    )
    t2.add(
        "  the same, time inside the AWS SDK's client calls subtracted",
        len(stub["own"]),
        ms(percentile(stub["own"], 50), 3),
        ms(percentile(stub["own"], 95), 3),
        ms(percentile(stub["own"], 99), 3),
        "-",
        "-",
    )
    t2.add(
        "signed purchase without a member (no ledger)",
        len(baseline["samples"]),
        ms(percentile(baseline["samples"], 50), 3),
        ms(percentile(baseline["samples"], 95), 3),
        ms(percentile(baseline["samples"], 99), 3),
        ", ".join(f"{k} {v:.2f}" for k, v in sorted(baseline["calls"].items())),
        "-",
    )
    t2.add(
        "plan_purchase_points alone (rules, lot, tier)",
        len(stub["pure"]),
        ms(percentile(stub["pure"], 50), 4),
        ms(percentile(stub["pure"], 95), 4),
        ms(percentile(stub["pure"], 99), 4),
        "none",
        "-",
    )

    s = calls["sustained"]
    t3 = Table(
        "L3. Sustained ingestion through the local cloud (real time, emulator on this machine)",
        ["purchases", "members", "post s", "purchases/s", "settle s", "transactions", "invariant problems"],
    )
    t3.add(
        s["purchases"],
        s["members"],
        f"{s['post_seconds']:.1f}",
        f"{s['purchases'] / s['post_seconds']:.1f}",
        f"{s['settle_seconds']:.1f}",
        s["transactions"],
        len(s["problems"]),
    )
    t3.notes.append(
        "transactions > purchases would mean version conflicts retried (members share balance items); "
        "the check re-reads every member's balance and lots: balance = sum of lots"
    )
    return [t1, t2, t3]


if __name__ == "__main__":
    for table in run(stub_n=int(sys.argv[1]) if len(sys.argv) > 1 else 500):
        print(table.render(), end="\n\n")
