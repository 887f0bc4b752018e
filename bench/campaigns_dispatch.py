"""Dispatch at send time: what ``CampaignsDispatchFunction`` costs per marketing message, the AWS
calls it makes, and the cost per million messages.

    python -m bench.campaigns_dispatch              2 timed rounds of 10 SQS batches of 100 messages
                                                    due in one minute (2 warm-up rounds of one batch)
    python -m bench --only dispatch                 the same, as part of the bench tables

Method (one child interpreter, so nothing else warms it):

1. **The AWS layer is moto** (``mock_aws``), in-process: the store's reads depend on what earlier
   writes left (send record versions, cap holders, the due index), which a stateless stub cannot
   answer. Every call is a real botocore call through the ``shared.aws`` clients (parameters
   not validated client-side, as on AWS, unless ``--param-validation``; request signed and
   serialised, response parsed — DynamoDB's through ``shared.aws_json`` as deployed, unless
   ``--botocore-json``; signed by ``shared.aws_sign`` as deployed, unless ``--botocore-sign``);
   moto answers from ``before-send``. The time spent inside moto
   (``BotocoreStubber.__call__``, wall and CPU) stands for the network and the service and is
   subtracted, and so is the bench's own counting of the requests (``before-call``: calls,
   transaction items, keys, JSON values). moto runs with the local cloud's two storage patches
   (``moto_patches.storage_patches``: item-level transaction rollback instead of deep copies of
   whole tables, no tracking of every model instance), which answer as moto does but no longer
   flood the CPU caches between the handler's steps; ``--stock-moto`` measures without them. What
   moto still does between calls costs the handler some cold-cache time all the same (the SDK's
   per-call CPU here is 2-4x what the same call costs warm), about what the HTTP work moto's
   interception skips costs a deployed client (docs/performance.md, session 10). The
   garbage collector is run before each timed step and paused during it: moto's tables put millions
   of objects on the heap, and a full collection walking them would otherwise be charged to the
   handler (a Lambda's heap is small). The SDK's share is reported too: the CPU of each outermost
   botocore call, moto's answer and the counting removed, by step and by operation.
2. **The load**: each timed round is ``BATCHES_PER_ROUND`` (10) SQS batches of ``BATCH`` (100, the
   template's ``BatchSize``), all due in the same minute bucket (a minute holds ~180,000 at the
   issue's 3,000/s, so the due index's per-shard Queries and partial batches are still
   over-counted; ``--batches-per-minute 1`` is the earlier, more pessimistic model), of
   marketing ``SendRequest``s (``cmp#`` sends of one campaign, WeChat → SMS → inbox, no offer,
   every member granted WeChat marketing, caps empty, 10:00 in Shanghai) through the real
   ``handlers.dispatch.handler``, which processes the batch as a batch
   (``logic.dispatch.process_batch``: BatchGetItem reads, buffered writes committed in
   TransactWriteItems of up to 100 items): pass 1 holds the cap slots (decision window), the due
   index is released (``DueIndex.release`` for each of its 8 shards, what the minute's 8
   ``CampaignsDispatchDueFunction`` invocations do side by side; timed together), pass 2 sends
   (local outbox adapter for WeChat: the provider call is excluded — it is one call per message
   by nature and counted apart). Warm: the first rounds are not timed. ``--batch 10`` measures
   the old batch size. ``--profile FILE`` also runs cProfile over the timed steps, moto's own
   frames switched off (its overhead inflates the times of that run: profile and measure
   separately), and writes the stats to ``FILE`` (read with ``python -m pstats FILE``).
3. **The pure guardrail decision** (``logic/guardrails.py``): consent choice, quiet hours, day and
   week keys and the slot plan for one message, timed alone.
4. **Cost**: from the counted calls (BatchGetItem keys and TransactWriteItems items counted one by
   one), item sizes read back from the table, and us-east-1 list prices (see ``PRICES``); Lambda
   GB-s at the function's 512 MB (template ``Globals``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import PYTHON, ROOT, Table, child_env

TABLE = "mallcrm-bench-campaigns"
ACCOUNT = "123456789012"  # moto's default account
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai: outside quiet hours
BATCH = 100  # the event source mapping's BatchSize (template.yaml)
ROUNDS = 4  # 2,000 timed messages: about 65 s here on moto with the storage patches
QUICK_ROUNDS = 3  # make bench: 1,000 timed messages, ~35 s
WARM_ROUNDS = 2
# SQS batches per timed round, all due in the same minute bucket. At the 3,000 messages/s a
# minute bucket holds ~180,000 messages; 10 batches (1,000 messages) keeps the due index's per-shard
# Query and partial SQS batches still heavily over-counted, but no longer 8 Queries per 100 messages
# (what 100 per minute, 1.7 messages/s, costs). Warm-up rounds run one batch.
BATCHES_PER_ROUND = 10
# bench/campaigns_launch.py, 1 M members, 2026-11-24 04:39 UTC (load 1.0-1.1, the session-12 code):
# 23,894 messages per CPU second (docs/performance.md; 22,252 at 03:47 before the to_utc_iso memo,
# 20,220 before SQS's sends went through shared.aws_json; 16,732 at 2026-11-23 22:23, 9,442 first).
LAUNCH_CPU_MS = 1000 / 23894
CAMPAIGN = "01J3BENCHCAMPA1GN000000000"
MEMORY_MB = 512  # CampaignsDispatchFunction: the template's Globals MemorySize
# us-east-1 list prices, 2026-11 (on-demand; free tiers ignored).
PRICES = {
    "dynamodb_wru": 0.625 / 1e6,  # per write request unit (1 KB; transactional writes use 2)
    "dynamodb_rru": 0.125 / 1e6,  # per read request unit (4 KB strongly consistent)
    "sqs_request": 0.40 / 1e6,  # standard queue, per request (64 KB chunk)
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second_arm": 0.0000133334,
    "scheduler_invocation": 1.00 / 1e6,
}
LAMBDA_VCPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB; 512 MB gets ~29 % of one
ASSUMED_CALL_MS = 4.0  # estimated in-region DynamoDB round trip from Lambda (not measured here)

WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem"}
READ_OPS = {"GetItem", "Query"}  # BatchGetItem: counted per key read


def _bodies(round_no: int, batch_no: int) -> list[str]:
    from services.campaigns.models.dispatch import SendRequest

    bodies = []
    for i in range(BATCH):
        member = f"01J3BENCHMEMBER{round_no:04d}{batch_no:03d}{i:04d}"[:26]
        request = SendRequest.model_validate(
            {
                "send_id": f"cmp#{CAMPAIGN}#{member}",
                "kind": "marketing",
                "campaign_id": CAMPAIGN,
                "variant": "A",
                "journey": None,
                "member_id": member,
                "channels": ["wechat", "sms", "inbox"],
                "priority": 60,
                "content": {
                    "wechat": {"title": "Double points", "body": "{tier} member: double points this weekend"},
                    "sms": {"title": None, "body": "Double points this weekend for {tier} members"},
                    "inbox": {"title": "Double points", "body": "You have {points_balance} points"},
                },
                "personalisation": {"tier": "gold", "points_balance": "5200"},
                "offer": None,
                "not_after": NOW + timedelta(days=3),
                "requested_at": NOW - timedelta(minutes=1),
            }
        )
        bodies.append(request.model_dump_json())
    return bodies


def _event(bodies: list[str], tag: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"{tag}-{i}",
                "receiptHandle": f"rh-{tag}-{i}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:mallcrm-bench-campaigns-dispatch",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


class _Context:
    function_name = "mallcrm-bench-campaigns-dispatch"
    function_version = "$LATEST"
    memory_limit_in_mb = MEMORY_MB
    aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:mallcrm-bench-campaigns-dispatch"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


class Meter:
    """Counts calls by operation (``before-call``) and the units they would use; times moto."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.transact_items = 0
        self.condition_checks = 0
        self.batch_get_keys = 0
        self.request_values = 0  # JSON values in the request bodies: botocore's work per request
        self.moto_seconds = 0.0
        self.moto_cpu = 0.0
        self.call_cpu = 0.0  # CPU inside botocore's _make_api_call, moto's and the counting included
        self.sdk_by_operation: dict[str, float] = defaultdict(float)  # the same, moto's removed, timed rounds
        self.on = False
        self.profiling: list[Any] = []  # the active cProfile.Profile (--profile), paused while counting

    def before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if not self.on:
            return
        # The counting is the bench's, not the handler's: its time is removed with moto's.
        for profiler in self.profiling:
            profiler.disable()
        began, began_cpu = time.perf_counter(), time.process_time()
        try:
            self._count(model, params)
        finally:
            self.moto_seconds += time.perf_counter() - began
            self.moto_cpu += time.process_time() - began_cpu
            for profiler in self.profiling:
                profiler.enable()

    def _count(self, model: Any, params: dict[str, Any]) -> None:
        service = model.service_model.endpoint_prefix
        self.calls[f"{service}.{model.name}"] += 1
        try:
            body = json.loads(params["body"] or b"{}")
        except ValueError:  # not a JSON protocol request (a Lambda payload that is not JSON)
            body = {}
        self.request_values += _values(body)
        if model.name == "TransactWriteItems":  # ``params`` is the serialised request here
            self.transact_items += len(body["TransactItems"])
            self.condition_checks += sum("ConditionCheck" in item for item in body["TransactItems"])
        if model.name == "BatchGetItem":
            tables = body["RequestItems"].values()
            self.batch_get_keys += sum(len(t["Keys"]) for t in tables)


def _values(node: Any) -> int:
    """How many JSON values (objects, arrays, scalars) a request body holds."""
    if isinstance(node, dict):
        return 1 + sum(_values(v) for v in node.values())
    if isinstance(node, list):
        return 1 + sum(_values(v) for v in node)
    return 1


def child(rounds: int) -> dict[str, Any]:  # noqa: PLR0912, PLR0915 - one scripted run, read top down
    from moto import mock_aws
    from moto.core.botocore_stubber import BotocoreStubber

    meter = Meter()
    original = BotocoreStubber.__call__

    profiling = meter.profiling  # the active cProfile.Profile (--profile): moto is left out of it

    def timed(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        for profiler in profiling:
            profiler.disable()
        began, began_cpu = time.perf_counter(), time.process_time()
        try:
            return original(self, event_name, request, **kwargs)
        finally:
            meter.moto_seconds += time.perf_counter() - began
            meter.moto_cpu += time.process_time() - began_cpu
            for profiler in profiling:
                profiler.enable()

    BotocoreStubber.__call__ = timed  # type: ignore[method-assign]

    from botocore.client import BaseClient

    make_api_call = BaseClient._make_api_call
    depth = [0]

    def timed_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        """The SDK's share: the CPU of each outermost client call (moto's and counting's removed later)."""
        depth[0] += 1
        began_cpu, moto_before = time.process_time(), meter.moto_cpu
        try:
            return make_api_call(self, operation_name, api_params)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                spent = time.process_time() - began_cpu
                meter.call_cpu += spent
                if meter.on:
                    key = f"{self.meta.service_model.endpoint_prefix}.{operation_name}"
                    meter.sdk_by_operation[key] += spent - (meter.moto_cpu - moto_before)

    BaseClient._make_api_call = timed_call

    storage: Any = contextlib.nullcontext()
    if os.environ.get("BENCH_STOCK_MOTO") != "1":
        from infra.localcloud.moto_patches import storage_patches

        storage = storage_patches()
    with mock_aws(), storage:
        import boto3
        from moto.sqs.models import sqs_backends

        from services.campaigns.dal.dispatch import DUE_SHARDS, DueIndex, bucket_of
        from services.campaigns.dal.privacy import consent_summary_key, summary_decisions
        from services.campaigns.handlers import dispatch
        from shared import aws, clock
        from shared.dynamo import to_item

        setup_ddb = boto3.client("dynamodb", region_name="us-east-1")
        queue_url = boto3.client("sqs", region_name="us-east-1").create_queue(
            QueueName="mallcrm-bench-campaigns-dispatch"
        )["QueueUrl"]
        os.environ["DISPATCH_QUEUE_URL"] = queue_url
        aws.reset_clients()
        for service in ("dynamodb", "sqs", "scheduler", "lambda"):
            aws.client(service).meta.events.register("before-call", meter.before_call)
        clock.set_clock(lambda: current[0])
        current = [NOW]
        context = _Context()
        outcomes: Counter[str] = Counter()
        timing = {"pass1": [0.0, 0.0], "due": [0.0, 0.0], "pass2": [0.0, 0.0]}
        moto_by_step = {"pass1": [0.0, 0.0], "due": [0.0, 0.0], "pass2": [0.0, 0.0]}
        sdk_by_step = {"pass1": 0.0, "due": 0.0, "pass2": 0.0}  # CPU in botocore's calls, moto's removed
        messages = 0
        profile_path = os.environ.get("BENCH_PROFILE")
        profiler = None
        if profile_path:
            import cProfile

            profiler = cProfile.Profile()
        table = ""  # this round's (read back after the last)
        for round_no in range(rounds):
            timed_round = round_no >= WARM_ROUNDS
            batches = [_bodies(round_no, b) for b in range(BATCHES_PER_ROUND if timed_round else 1)]
            # A fresh table per round: stock moto deep-copies every touched table on each item of a
            # TransactWriteItems (for its rollback), so a growing table would make moto's time, not
            # ours, grow.
            table = _fresh_table(setup_ddb, round_no)
            os.environ["TABLE_NAME"] = table
            due = DueIndex(table, queue_url)
            # The consent projection (members' events), not timed: the item and the member's summary
            # as dal/privacy.py writes them (its rebuild, run per member, would slow the setup).
            for bodies in batches:
                for body in bodies:
                    member = json.loads(body)["member_id"]
                    consent = {
                        "pk": f"MEMBER#{member}",
                        "sk": "CONSENT#marketing#wechat",
                        "entity": "consent_projection",
                        "purpose": "marketing",
                        "channel": "wechat",
                        "granted": True,
                    }
                    summary = {
                        **consent_summary_key(member),
                        "entity": "consent_summary",
                        "consents": summary_decisions([consent]),
                        "version": 1,
                    }
                    for item in (consent, summary):
                        setup_ddb.put_item(TableName=table, Item=to_item(item))
            meter.on = timed_round

            def step(name: str, work: Any) -> Any:
                m0, c0, s0 = meter.moto_seconds, meter.moto_cpu, meter.call_cpu
                # moto's tables (deep-copied on every transaction) fill the heap with millions of
                # objects; a full collection walking them would be charged to the handler. Collect
                # before the step and not during it: a Lambda's heap is a few MB.
                gc.collect()
                gc.disable()
                began, began_cpu = time.perf_counter(), time.process_time()
                if profiler is not None and timed_round:  # noqa: B023 - same iteration
                    profiling.append(profiler)
                    profiler.enable()
                try:
                    result = work()
                finally:
                    if profiling:
                        profiler.disable()  # type: ignore[union-attr]
                        profiling.clear()
                    gc.enable()
                if timed_round:  # noqa: B023 - called within the same iteration
                    timing[name][0] += time.perf_counter() - began
                    timing[name][1] += time.process_time() - began_cpu
                    moto_by_step[name][0] += meter.moto_seconds - m0
                    moto_by_step[name][1] += meter.moto_cpu - c0
                    sdk_by_step[name] += (meter.call_cpu - s0) - (meter.moto_cpu - c0)
                return result

            current[0] = NOW
            for b, bodies in enumerate(batches):
                result = step(
                    "pass1", lambda bodies=bodies, b=b: dispatch.handler(_event(bodies, f"p1-{b}"), context)
                )
                assert not result["batchItemFailures"], result
            bucket = bucket_of(NOW + timedelta(minutes=1))
            # One wake-up per due shard (parallel invocations when deployed), timed together.
            released = step(
                "due",
                lambda bucket=bucket, due=due: sum(
                    due.release(bucket, shard=shard)[0] for shard in range(DUE_SHARDS)
                ),
            )
            assert released == BATCH * len(batches), released
            meter.on = False
            # The queue's side (receive) is Lambda's event source mapping: not counted. The bodies are
            # taken from moto's queue directly: moto's ReceiveMessage walks the whole queue on every
            # call (a deferred receive of 1,000 messages, 10 at a time, cost more than the step).
            queue = sqs_backends[ACCOUNT]["us-east-1"].get_queue(queue_url.rsplit("/", 1)[1])
            woken = [message.body for message in queue._messages]
            queue._messages.clear()
            meter.on = timed_round
            current[0] = NOW + timedelta(minutes=1)
            for b in range(0, len(woken), BATCH):
                result = step(
                    "pass2",
                    lambda b=b, woken=woken: dispatch.handler(
                        _event(woken[b : b + BATCH], f"p2-{b}"), context
                    ),
                )
                assert not result["batchItemFailures"], result
            if timed_round:
                messages += BATCH * len(batches)
        meter.on = False
        # Outcomes and item sizes, read back (not timed).
        items = []
        kwargs: dict[str, Any] = {"TableName": table}
        while True:
            page = setup_ddb.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        sizes: dict[str, list[int]] = {}
        for item in items:
            kind = item["pk"]["S"].split("#", 1)[0] + "/" + item["sk"]["S"].split("#", 1)[0][:12]
            if item["pk"]["S"].startswith("SEND#"):
                outcomes[item.get("status", {}).get("S", "?")] += 1
            sizes.setdefault(kind, []).append(_item_size(item))
    BotocoreStubber.__call__ = original  # type: ignore[method-assign]
    BaseClient._make_api_call = make_api_call
    if profiler is not None and profile_path:
        profiler.dump_stats(profile_path)
    return {
        "rounds": rounds,
        "messages": messages,
        "timing": timing,
        "moto": moto_by_step,
        "sdk": sdk_by_step,
        "sdk_by_operation": dict(meter.sdk_by_operation),
        "calls": dict(meter.calls),
        "transact_items": meter.transact_items,
        "condition_checks": meter.condition_checks,
        "request_values": meter.request_values,
        "batch_get_keys": meter.batch_get_keys,
        "batch": BATCH,
        "outcomes": dict(outcomes),
        "item_sizes": {k: max(v) for k, v in sorted(sizes.items())},
        "guardrail_us": _guardrail_micros(),
        "load": [round(v, 2) for v in os.getloadavg()],
    }


def _fresh_table(ddb: Any, round_no: int) -> str:
    """A new CampaignsTable for the round (the previous one deleted), with the minute's wake-up
    marker already written: in steady state one message per minute creates the schedule, the
    others find the marker (a GetItem)."""
    from services.campaigns.dal.dispatch import bucket_of, schedule_name
    from shared.dynamo import to_item

    if round_no:
        ddb.delete_table(TableName=f"{TABLE}-{round_no - 1}")
    name = f"{TABLE}-{round_no}"
    ddb.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    marker = schedule_name(bucket_of(NOW + timedelta(minutes=1)))
    ddb.put_item(TableName=name, Item=to_item({"pk": f"WAKE#{marker}", "sk": "WAKE", "bucket": "-"}))
    return name


def _item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (UTF-8), close enough for unit counts."""
    total = 0
    for name, value in item.items():
        total += len(name.encode()) + len(json.dumps(value).encode())
    return total


def _guardrail_micros(n: int = 20_000) -> float:
    """The pure decision for one message: consent → quiet hours → period keys → slot plan."""
    from services.campaigns.logic.guardrails import (
        Consents,
        Holder,
        Limits,
        QuietHours,
        choose_channel,
        day_key,
        plan_hold,
        week_key,
    )
    from services.campaigns.models.dispatch import SendRequest
    from shared import clock

    request = SendRequest.parse(_bodies(0, 0)[0])
    consents = Consents(frozenset({"wechat"}))
    zone = clock.zone("Asia/Shanghai")
    quiet, limits = QuietHours(21, 9), Limits(per_day=1, per_week=3)
    week = {"cmp#x#y": Holder("cmp#x#y", 50, "sent", "2026-11-21T02:00:00+00:00")}
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(n):
            choice = choose_channel(request, consents)
            assert choice.channel == "wechat"
            if quiet.end_if_quiet(NOW, zone) is not None:
                raise AssertionError("10:00 is not quiet")
            day_key(NOW, zone), week_key(NOW, zone)
            plan = plan_hold({}, week, limits, request.send_id, request.priority)
            assert plan.ok
        best = min(best, (time.perf_counter() - began) / n)
    return best * 1e6


def _units(result: dict[str, Any]) -> dict[str, float]:
    """Request units per message from the counted calls: every item is under 1 KB (checked)."""
    calls, n = result["calls"], result["messages"]
    assert max(result["item_sizes"].values()) <= 1024, result["item_sizes"]
    reads = sum(v for k, v in calls.items() if k.split(".")[1] in READ_OPS) + result["batch_get_keys"]
    writes = sum(v for k, v in calls.items() if k.split(".")[1] in WRITE_OPS)
    # The due index: each message's due item is deleted once (BatchWriteItem, 1 unit per item < 1 KB)
    # and its body sent back in a full SendMessageBatch of 10 at steady state. The measured calls
    # are higher (0.35-0.4 per message) because a round's 20 bodies spread over 8 shards give
    # partial batches; a real minute bucket holds thousands (rate 6,000/min per campaign).
    return {
        "rru": reads / n,  # every item read is < 4 KB → 1 unit (consistent), in a batch or alone
        "wru": (writes + n + 2 * result["transact_items"]) / n,
        "sqs": 1 / 10,  # the due release's SendMessageBatch holds 10 bodies
        "scheduler": calls.get("scheduler.CreateSchedule", 0) / n,
    }


def _set_batch(size: int, per_round: int = BATCHES_PER_ROUND) -> None:
    global BATCH, BATCHES_PER_ROUND  # noqa: PLW0603 - one setting for the whole run, parent and child
    BATCH = size
    BATCHES_PER_ROUND = per_round


def run(rounds: int = ROUNDS, batch: int = BATCH, per_minute: int = BATCHES_PER_ROUND) -> list[Table]:
    import subprocess

    _set_batch(batch, per_minute)
    proc = subprocess.run(
        [
            PYTHON,
            "-m",
            "bench.campaigns_dispatch",
            "--child",
            "--rounds",
            str(rounds),
            "--batch",
            str(batch),
            "--batches-per-minute",
            str(per_minute),
        ],
        cwd=ROOT,
        env=child_env(
            {
                "MALLCRM_AWS_TARGET": "aws",
                "POWERTOOLS_TRACE_DISABLED": "1",
                "POWERTOOLS_METRICS_NAMESPACE": "MallCRM",
                "LOG_LEVEL": "WARNING",
                "STAGE": "bench",
                "SERVICE_NAME": "campaigns",
                "POWERTOOLS_SERVICE_NAME": "campaigns",
                "EVENT_BUS_NAME": "mallcrm-bench",
                "MALL_TIMEZONE": "Asia/Shanghai",
                "TABLE_NAME": TABLE,
                "DUE_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:mallcrm-bench-due",
                "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/due",
                "CHANNEL_MODE": "local",
                # As on AWS (off) unless --param-validation asks for botocore's client-side check.
                "MALLCRM_SDK_PARAM_VALIDATION": os.environ.get("MALLCRM_SDK_PARAM_VALIDATION", ""),
                # shared.aws_json's wrappers on (as deployed) unless --botocore-json turns them off.
                "MALLCRM_SDK_FAST_JSON": os.environ.get("MALLCRM_SDK_FAST_JSON", ""),
                # shared.aws_sign's signer on (as deployed) unless --botocore-sign turns it off.
                "MALLCRM_SDK_FAST_SIGN": os.environ.get("MALLCRM_SDK_FAST_SIGN", ""),
                "BENCH_PROFILE": os.environ.get("BENCH_PROFILE", ""),
                "BENCH_STOCK_MOTO": os.environ.get("BENCH_STOCK_MOTO", ""),
            }
        ),
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dispatch bench failed:\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    n = int(result["messages"])
    table = Table(
        title=f"Dispatch at send time: {n:,} marketing messages, batches of {BATCH} (moto; its time removed)"
        + (" — botocore validation on" if os.environ.get("MALLCRM_SDK_PARAM_VALIDATION") == "on" else "")
        + (" — botocore's own JSON walk" if os.environ.get("MALLCRM_SDK_FAST_JSON") == "off" else "")
        + (" — botocore's own signer" if os.environ.get("MALLCRM_SDK_FAST_SIGN") == "off" else "")
        + (" — stock moto" if os.environ.get("BENCH_STOCK_MOTO") == "1" else ""),
        headers=["step", "wall ms/msg", "CPU ms/msg", "per CPU second", "moto CPU removed s"],
    )
    cpu_total = 0.0
    labels = {
        "pass1": "pass 1: arrival, guardrails, hold the slot (handler)",
        "due": "wake-up: due index → queue (DueIndex.release)",
        "pass2": "pass 2: end of window, re-check, send, record (handler)",
    }
    for key, label in labels.items():
        wall, cpu = result["timing"][key]
        moto_wall, moto_cpu = result["moto"][key]
        wall, cpu = wall - moto_wall, cpu - moto_cpu
        cpu_total += cpu
        table.add(
            label, f"{wall / n * 1000:.2f}", f"{cpu / n * 1000:.2f}", f"{n / cpu:,.0f}", f"{moto_cpu:.1f}"
        )
    table.add("dispatch total per message", "", f"{cpu_total / n * 1000:.2f}", f"{n / cpu_total:,.0f}", "")
    guard = float(result["guardrail_us"])
    table.add(
        "pure guardrail decision (logic/guardrails.py)", "", f"{guard / 1000:.4f}", f"{1e6 / guard:,.0f}", ""
    )
    calls = result["calls"]
    per_message = {k: v / n for k, v in sorted(calls.items())}
    total_calls = sum(calls.values()) / n
    units = _units(result)
    cpu_ms = cpu_total / n * 1000
    dynamo_calls = sum(v for k, v in per_message.items() if k.startswith("dynamodb."))
    # Lambda duration per message (estimated): the CPU measured here, slowed to 512 MB's CPU share,
    # plus a round trip per synchronous call (the calls run one after another).
    lambda_ms_cpu = cpu_ms * LAMBDA_VCPU_MB / MEMORY_MB
    lambda_ms = lambda_ms_cpu + dynamo_calls * ASSUMED_CALL_MS
    gb_s = lambda_ms / 1000 * MEMORY_MB / 1024
    # SQS per message: pass 1 and pass 2 are each received and deleted in batches of 10 by the event
    # source mapping (2 x 2 / 10), plus the due release's SendMessageBatch (counted).
    sqs_requests = units["sqs"] + 4 / 10  # a ReceiveMessage returns at most 10
    invocations = 2 / BATCH  # one invocation per batch per pass (the due function: per minute, ~0)
    cost = {
        "DynamoDB writes": units["wru"] * PRICES["dynamodb_wru"] * 1e6,
        "DynamoDB reads": units["rru"] * PRICES["dynamodb_rru"] * 1e6,
        "SQS": sqs_requests * PRICES["sqs_request"] * 1e6,
        "Lambda requests": invocations * PRICES["lambda_request"] * 1e6,
        "Lambda GB-s": gb_s * PRICES["lambda_gb_second_arm"] * 1e6,
        "Scheduler": units["scheduler"] * PRICES["scheduler_invocation"] * 1e6,
    }
    sdk_ms = sum(result["sdk"].values()) / n * 1000
    table.notes += [
        f"of which the AWS SDK (botocore's client calls, moto's answer and the counting removed): "
        f"{sdk_ms:.2f} ms per message ({sdk_ms / cpu_ms:.0%}), "
        + ", ".join(f"{k} {v / n * 1000:.2f}" for k, v in result["sdk"].items())
        + "; by operation, ms per call: "
        + ", ".join(
            f"{k} {v / calls[k] * 1000:.2f}"
            for k, v in sorted(result["sdk_by_operation"].items(), key=lambda kv: -kv[1])
            if calls.get(k)
        ),
        f"outcomes of the send records: {result['outcomes']} (every message held in pass 1, sent in pass 2)",
        f"AWS calls per message ({total_calls:.2f}): "
        + ", ".join(f"{k} {v:.3f}" for k, v in per_message.items()),
        f"TransactWriteItems items per message {result['transact_items'] / n:.1f} (of which "
        f"ConditionCheck {result['condition_checks'] / n:.1f}, counted as writes); JSON values in the "
        f"request bodies per message {result['request_values'] / n:.0f}; largest item by kind "
        f"(bytes): {result['item_sizes']}",
        f"request units per message: {units['wru']:.1f} WRU (transactional x 2), "
        f"{units['rru']:.1f} RRU; "
        f"SQS requests {sqs_requests:.2f} (steady state: due batch 0.1 + ESM receive/delete 0.4, estimated)",
        f"Lambda duration per message, estimated: {lambda_ms_cpu:.1f} ms CPU at {MEMORY_MB} MB "
        f"(x{LAMBDA_VCPU_MB / MEMORY_MB:.2f}) + {dynamo_calls:.1f} calls x {ASSUMED_CALL_MS:.0f} ms = "
        f"{lambda_ms:.1f} ms → {gb_s:.4f} GB-s",
        "cost per million messages (us-east-1 list, provider excluded): "
        + ", ".join(f"{k} ${v:.2f}" for k, v in cost.items())
        + f"; total ${sum(cost.values()):.2f}",
        f"not in the total (estimated): the provider call and the contact-directory invoke, ~50 ms of "
        f"waiting per message at {MEMORY_MB} MB = {0.05 * MEMORY_MB / 1024:.3f} GB-s = "
        f"${0.05 * MEMORY_MB / 1024 * PRICES['lambda_gb_second_arm'] * 1e6:.2f} per million",
        f"pipeline on this machine: launch {LAUNCH_CPU_MS:.3f} ms CPU per message (measured apart, 1 M "
        f"members) + dispatch {cpu_ms:.3f} ms = {LAUNCH_CPU_MS + cpu_ms:.3f} ms → "
        f"{2000 / (LAUNCH_CPU_MS + cpu_ms):,.0f} messages/s on 2 cores, provider calls excluded",
        f"rounds {result['rounds']} ({WARM_ROUNDS} warm-up of 1 batch, not timed; then "
        f"{BATCHES_PER_ROUND} batches due in one minute each) x {BATCH} messages; "
        f"load average after {result['load']} on {os.cpu_count()} cores",
    ]
    table.data = {"prices": PRICES, "cost_per_million": cost, "units": units, **result}
    return [table]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.campaigns_dispatch", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--batch", type=int, default=BATCH, help="messages per SQS batch (BatchSize)")
    parser.add_argument(
        "--batches-per-minute",
        type=int,
        default=BATCHES_PER_ROUND,
        help="SQS batches per timed round, all due in one minute bucket (1 = the earlier model)",
    )
    parser.add_argument(
        "--param-validation",
        action="store_true",
        help="botocore's client-side parameter validation on (off on AWS, as deployed)",
    )
    parser.add_argument(
        "--botocore-json",
        action="store_true",
        help="DynamoDB requests and answers through botocore's own serializer and parser "
        "(shared.aws_json off), to compare",
    )
    parser.add_argument(
        "--botocore-sign",
        action="store_true",
        help="requests signed by botocore's own SigV4 code (shared.aws_sign off), to compare",
    )
    parser.add_argument(
        "--stock-moto",
        action="store_true",
        help="moto without the local cloud's storage patches (whole-table deep copies per transaction "
        "item, which leave the measured code's CPU caches cold), to compare",
    )
    parser.add_argument("--profile", metavar="FILE", help="also write cProfile stats of the timed steps")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    _set_batch(args.batch, args.batches_per_minute)
    if args.param_validation:
        os.environ["MALLCRM_SDK_PARAM_VALIDATION"] = "on"  # passed to the child by run()
    if args.botocore_json:
        os.environ["MALLCRM_SDK_FAST_JSON"] = "off"  # passed to the child by run()
    if args.botocore_sign:
        os.environ["MALLCRM_SDK_FAST_SIGN"] = "off"  # passed to the child by run()
    if args.stock_moto:
        os.environ["BENCH_STOCK_MOTO"] = "1"  # passed to the child by run()
    if args.profile:
        os.environ["BENCH_PROFILE"] = os.path.abspath(args.profile)
    if args.rounds <= WARM_ROUNDS:
        parser.error(f"--rounds must be more than {WARM_ROUNDS}")
    if args.child:
        print(json.dumps(child(args.rounds)))
        return 0
    for table in run(args.rounds, args.batch, args.batches_per_minute):
        print(table.render(), end="\n\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
