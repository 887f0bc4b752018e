"""The engine end to end on a fixture template (tests/fixtures/templates/flow.yaml).

A function writes an order and its outbox item -> the table's stream -> the publisher puts the
event on the bus -> a rule sends it to a queue -> the consumer starts a follow-up state machine
that waits three days -> the reminder; meanwhile a daily schedule (09:00 Asia/Shanghai) writes a
digest. Everything runs in this process on the virtual clock, in a few seconds of real time.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from infra.localcloud.cloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 4, 6, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: today's digest has run


def _items(cloud: LocalCloud) -> dict[str, dict[str, object]]:
    table = cloud.physical_id("OrdersTable")
    items = cloud.client("dynamodb").scan(TableName=table)["Items"]
    return {item["pk"]["S"]: {k: next(iter(v.values())) for k, v in item.items()} for item in items}


def test_order_to_reminder_and_digests() -> None:
    with LocalCloud.start(ROOT, template="tests/fixtures/templates/flow.yaml", start=START) as cloud:
        booted = time.perf_counter()
        cpu_booted = time.process_time()
        written = cloud.invoke("WriterFunction", {"order_id": "o-1", "correlation_id": "corr-flow-1"})
        assert written.ok, written.error
        cloud.settle()

        # stream -> publisher -> bus -> rule -> queue -> consumer -> StartExecution
        [event] = cloud.events
        assert (event["source"], event["detail-type"], event["bus"]) == (
            "fixture.orders",
            "OrderPlaced",
            "flow-dev",
        )
        assert event["detail"]["metadata"]["correlation_id"] == "corr-flow-1"
        assert event["rules"] == [cloud.physical_id("OrderPlacedRule")]
        [execution] = cloud.executions("FollowUpStateMachine")
        assert execution["status"] == "RUNNING"
        assert json.loads(execution["input"])["order_id"] == "o-1"
        assert "REMINDER#o-1" not in _items(cloud)
        chain = [(r.logical_id, r.trigger, r.correlation_id) for r in cloud.invocations]
        assert chain == [
            ("WriterFunction", "direct", "corr-flow-1"),
            ("PublisherFunction", "stream", "corr-flow-1"),
            ("ConsumerFunction", "sqs", "corr-flow-1"),
        ]

        # Three days later: the wait is over; the digest ran every morning at 09:00 Shanghai time.
        cloud.advance(3 * 86400 - 60)
        assert "REMINDER#o-1" not in _items(cloud)
        cloud.advance(60)
        [execution] = cloud.executions("FollowUpStateMachine")
        assert execution["status"] == "SUCCEEDED"
        assert json.loads(execution["output"]) == {"reminded": "o-1", "at": "2026-04-09T02:00:00Z"}
        cloud.advance(86400)
        items = _items(cloud)
        assert items["REMINDER#o-1"]["at"] == "2026-04-09T02:00:00Z"
        digests = {pk: item["reminders"] for pk, item in items.items() if pk.startswith("DIGEST#")}
        assert digests == {
            "DIGEST#2026-04-07": "0",
            "DIGEST#2026-04-08": "0",
            "DIGEST#2026-04-09": "0",  # 09:00 Shanghai is 01:00 UTC, before the reminder at 02:00 UTC
            "DIGEST#2026-04-10": "1",
        }
        runs = [(r.logical_id, r.trigger, r.at) for r in cloud.invocations[3:]]
        assert runs == [
            ("DigestFunction", "schedule", datetime(2026, 4, 7, 1, 0, tzinfo=UTC)),
            ("DigestFunction", "schedule", datetime(2026, 4, 8, 1, 0, tzinfo=UTC)),
            ("DigestFunction", "schedule", datetime(2026, 4, 9, 1, 0, tzinfo=UTC)),
            ("ReminderFunction", "sfn", datetime(2026, 4, 9, 2, 0, tzinfo=UTC)),
            ("DigestFunction", "schedule", datetime(2026, 4, 10, 1, 0, tzinfo=UTC)),
        ]
        assert cloud.invocations[6].correlation_id == "corr-flow-1"
        assert all(r.outcome == "ok" for r in cloud.invocations)
        assert cloud.clock.now() == START + timedelta(days=4)
        cpu = time.process_time() - cpu_booted
        flow_seconds = time.perf_counter() - booted
    # Functional, not a benchmark (make bench reports the real figures): four virtual days must not
    # be slept in real time, whatever the load on the machine.
    assert flow_seconds < 120, f"the flow took {flow_seconds:.2f} s of real time after boot (cpu {cpu:.2f} s)"
