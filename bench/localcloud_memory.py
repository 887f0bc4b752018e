"""The local cloud's memory over virtual time: does ``make dev`` stay small after a year of days?

    python -m bench.localcloud_memory                       30 virtual days (about a minute)
    python -m bench.localcloud_memory --days 365 --every 30  a year, a line every 30 days
    python -m bench.localcloud_memory --days 60 --tracemalloc 15   + top allocation sites
    python -m bench.localcloud_memory --json out.json       also write every checkpoint as JSON

Method (one interpreter, the way ``make dev`` runs it, minus the socket): ``LocalCloud.start`` on
the real ``template.yaml``, the demo seed (``infra.seed.demo.seed_all``: staff, integration keys,
demo members, coupon templates, the demo purchases) through the front door, then day after day:
a few signed purchases from the demo members (``--purchases`` a day) through the front door, a
WeChat login of one member, every ``--campaign-every`` days (7) the demo marketer's one-off WeChat
campaign to the consenting members (staff login, audience snapshot, segment, create, launch),
and ``POST /_local/clock/advance {"seconds": 86400}`` through the front door: exactly what an
operator does with curl. Nightly scoring, birthdays, journeys (Step
Functions with Waits), expiry and the tier review run because the template schedules them.

The clock is frozen between advances (as in the tests), not running as in ``make dev``'s
background mode: the same code path (``LocalCloud.advance``), but reproducible.

At each checkpoint it prints the process's resident memory (``VmRSS`` from /proc/self/status;
``ru_maxrss`` as the peak), the real time taken, and a census of the structures that can grow:
the invocation log, the outbox, recent events, scheduler bookkeeping, DynamoDB stream records
held by moto, SQS messages and deleted-receipt handles held by moto, Step Functions executions
and moto's shard iterators. ``--tracemalloc N`` also prints the N largest allocation sites (file
and line) that grew since the previous checkpoint (tracemalloc slows everything about 2-3x).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bench.common import ROOT

DAY = 86_400
START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def rss_mib() -> float:
    """The resident set size now (VmRSS), in MiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def census(cloud: Any) -> dict[str, int]:
    """How many of each growable thing the cloud and moto hold right now (a read-only look)."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodbstreams.models import dynamodbstreams_backends
    from moto.events.models import events_backends
    from moto.scheduler.models import scheduler_backends
    from moto.sqs.models import sqs_backends
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    account, region = cloud.account_id, cloud.region
    tables = dynamodb_backends[account][region].tables.values()
    queues = sqs_backends[account][region].queues.values()
    machines = stepfunctions_parser_backends[account][region].state_machines
    events = events_backends[account][region]
    schedules = scheduler_backends[account][region]
    return {
        "invocations": len(cloud.runner.invocations),
        "outbox": len(cloud.outbox),
        "events": len(cloud.events),
        "matched": len(cloud._matched),
        "fired": len(cloud.scheduler.fired),
        "tracked": len(cloud.scheduler._tracked),
        "schedules": sum(len(g.schedules) for g in schedules.schedule_groups.values()),
        "items": sum(len(t) for t in tables),
        "stream_records": sum(len(t.stream_shard.items) for t in tables if t.stream_shard is not None),
        "sqs_messages": sum(len(q._messages) for q in queues),
        "sqs_deleted": sum(len(q.deleted_messages) for q in queues),
        "sfn_executions": sum(len(m.executions) for m in machines),
        "shard_iterators": len(dynamodbstreams_backends[account][region].shard_iterators),
        "archived_events": sum(len(getattr(a, "events", ())) for a in events.archives.values()),
    }


@dataclass
class Driver:
    """The demo mall on a local cloud, and one day of an operator's traffic at a time."""

    purchases_per_day: int = 5
    campaign_every: int = 7
    password: str = ""
    segment_id: str | None = None
    campaigns: int = 0
    days: int = 0
    cloud: Any = None
    http: Callable[..., tuple[int, dict[str, str], bytes]] | None = None
    members: list[str] = field(default_factory=list)
    openids: list[str] = field(default_factory=list)
    source: str = ""
    key: str = ""
    sequence: int = 0
    failures: list[str] = field(default_factory=list)

    def boot(self) -> None:
        from infra.localcloud.cloud import LocalCloud
        from infra.localcloud.frontdoor import FrontDoor
        from infra.seed.demo import seed_all

        self.cloud = LocalCloud.start(ROOT, start=START)
        door = FrontDoor(self.cloud)
        self.http = door.handle
        report = seed_all(self.cloud, door.handle, client=self.cloud.client, keys_file=None)
        self.members = list(report.members.values())
        self.openids = list(report.members)
        self.source = next(iter(report.sources))
        self.key = report.sources[self.source]
        self.password = report.password
        self.failures += report.member_failures + report.purchase_failures

    def _call(
        self, method: str, path: str, body: Any, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        assert self.http is not None
        raw = json.dumps(body, separators=(",", ":")).encode()
        status, _, answer = self.http(
            method, path, {"content-type": "application/json", **(headers or {})}, raw
        )
        if status >= 400:
            self.failures.append(f"{method} {path}: {status} {answer[:160].decode('utf-8', 'replace')}")
        try:
            return int(status), json.loads(answer or b"null")
        except ValueError:
            return int(status), None

    def campaign(self) -> None:
        """The demo marketer signs in and launches a one-off WeChat campaign to consenting members."""
        status, login = self._call(
            "POST", "/v1/auth/staff", {"username": "demo.marketer", "password": self.password}
        )
        if status != 200:
            return
        staff = {"authorization": f"Bearer {login['id_token']}"}
        self._call("POST", "/v1/admin/audience/snapshots", {}, staff)
        self._call("POST", "/_local/clock/advance", {"seconds": 60})  # the snapshot is built
        if self.segment_id is None:
            rule = {"field": "consents", "op": "has_any", "values": ["marketing:sms", "marketing:wechat"]}
            status, segment = self._call(
                "POST", "/v1/admin/segments", {"name": "consenting", "rule": rule}, staff
            )
            if status != 201:
                return
            self.segment_id = str(segment["segment_id"])
        self.campaigns += 1
        body = {
            "name": f"Weekly news {self.campaigns}",
            "kind": "one_off",
            "segment_id": self.segment_id,
            "channels": ["wechat"],  # what the demo members consented to
            "content": {
                "wechat": {"title": "This week at the mall", "body": "{points_balance} points to spend"}
            },
        }
        status, created = self._call("POST", "/v1/admin/campaigns", body, staff)
        if status == 201:
            self._call("POST", f"/v1/admin/campaigns/{created['campaign_id']}/launch", {}, staff)

    def day(self) -> None:
        """A few purchases and a login, then the clock moves one day (as `curl .../advance`)."""
        from infra.seed.demo import PURCHASES_PATH, signed_headers

        now = self.cloud.clock.now()
        for _ in range(self.purchases_per_day):
            self.sequence += 1
            n = self.sequence
            quantity = 1 + n % 3
            purchase: dict[str, Any] = {
                "external_id": f"mem-{n:07d}",
                "source_system": self.source,
                "store_id": "S-L1-08",
                "tenant_id": "T-STARBUCKS",
                "amount_cents": 3600 * quantity,
                "currency": "CNY",
                "channel": "pos",
                "items": [
                    {
                        "sku": "SB-LATTE-G",
                        "category": "food_beverage",
                        "quantity": quantity,
                        "amount_cents": 3600 * quantity,
                    }
                ],
                "occurred_at": now.isoformat(),
            }
            if self.members and n % 3:
                purchase["member_id"] = self.members[n % len(self.members)]
            body = json.dumps(purchase, separators=(",", ":")).encode()
            headers = signed_headers(
                self.source, self.key, method="POST", path=PURCHASES_PATH, body=body, now=now
            )
            assert self.http is not None
            status, _, answer = self.http(
                "POST", PURCHASES_PATH, {"content-type": "application/json", **headers}, body
            )
            if status >= 400:
                self.failures.append(f"purchase {n}: {status} {answer[:160].decode('utf-8', 'replace')}")
        if self.openids:
            openid = self.openids[self.sequence % len(self.openids)]
            self._call("POST", "/v1/auth/wechat", {"code": f"local:{openid}"})
        self.days += 1
        if self.campaign_every and self.days % self.campaign_every == 0:
            self.campaign()
        self._call("POST", "/_local/clock/advance", {"seconds": DAY})


def _top(before: tracemalloc.Snapshot | None, after: tracemalloc.Snapshot, n: int) -> list[str]:
    if before is None:
        stats = after.statistics("lineno")[:n]
        return [f"{s.size / 1024 / 1024:8.1f} MiB {s.count:>9} {s.traceback[0]}" for s in stats]
    diff = after.compare_to(before, "lineno")[:n]
    return [f"{d.size_diff / 1024 / 1024:+8.1f} MiB {d.count_diff:>+9} {d.traceback[0]}" for d in diff]


def run(
    days: int = 30, every: int = 10, purchases: int = 5, top: int = 0, campaign_every: int = 7
) -> dict[str, Any]:
    """Boot, seed, advance ``days`` one at a time; a checkpoint every ``every`` days."""
    # The handlers log (and emit metrics) to stdout: keep this report readable.
    out = sys.stdout
    with open(os.devnull, "w", encoding="utf-8") as quiet, contextlib.redirect_stdout(quiet):
        return _run(out, days=days, every=every, purchases=purchases, top=top, campaign_every=campaign_every)


def _run(
    out: TextIO, *, days: int, every: int, purchases: int, top: int, campaign_every: int
) -> dict[str, Any]:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if top:
        tracemalloc.start(1)
    began = time.perf_counter()
    driver = Driver(purchases_per_day=purchases, campaign_every=campaign_every)
    driver.boot()
    gc.collect()
    rows: list[dict[str, Any]] = []
    snapshot = tracemalloc.take_snapshot() if top else None

    def checkpoint(day: int) -> None:
        nonlocal snapshot
        gc.collect()
        row = {
            "day": day,
            "virtual": driver.cloud.clock.now().strftime("%Y-%m-%d"),
            "rss_mib": round(rss_mib(), 1),
            "peak_mib": round(peak_rss_mib(), 1),
            "seconds": round(time.perf_counter() - began, 1),
            **census(driver.cloud),
        }
        rows.append(row)
        print(" ".join(f"{k}={v}" for k, v in row.items()), file=out, flush=True)
        if top:
            current = tracemalloc.take_snapshot().filter_traces(
                (tracemalloc.Filter(False, tracemalloc.__file__),)
            )
            for line in _top(snapshot, current, top):
                print("   ", line, file=out, flush=True)
            snapshot = current

    checkpoint(0)
    for day in range(1, days + 1):
        driver.day()
        if day % every == 0 or day == days:
            checkpoint(day)
    failures = driver.failures
    if failures:
        print(f"{len(failures)} request(s) failed; first: {failures[:3]}", file=out, flush=True)
    driver.cloud.stop()
    first, last = rows[0], rows[-1]
    slope = (last["rss_mib"] - first["rss_mib"]) / max(1, last["day"])
    print(
        f"RSS {first['rss_mib']} MiB after the seed -> {last['rss_mib']} MiB after {last['day']} "
        f"virtual days ({slope:+.2f} MiB/day); {last['seconds']} s real",
        file=out,
        flush=True,
    )
    return {"rows": rows, "slope_mib_per_day": slope, "failures": len(failures)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.localcloud_memory", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--days", type=int, default=30, help="virtual days to advance (default 30)")
    parser.add_argument("--every", type=int, default=10, help="a checkpoint every N days (default 10)")
    parser.add_argument("--purchases", type=int, default=5, help="purchases posted per day (default 5)")
    parser.add_argument(
        "--campaign-every", type=int, default=7, help="a one-off WeChat campaign every N days (0: none)"
    )
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="N", help="top N growing sites")
    parser.add_argument("--json", type=Path, help="also write the checkpoints here")
    args = parser.parse_args(argv)
    result = run(
        days=args.days,
        every=args.every,
        purchases=args.purchases,
        top=args.tracemalloc,
        campaign_every=args.campaign_every,
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
