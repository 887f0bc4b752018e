"""What the local cloud keeps about its own past is bounded, so a long ``make dev`` stays small.

The bounds of moto's own state (stream records older than 24 h, model instance tracking) are
pinned in test_moto_patches.py; the SQS poller's forgetting of deleted receipt handles is pinned
here on a running cloud. bench/localcloud_memory.py measures the whole over virtual months.
"""

from __future__ import annotations

import json
from datetime import UTC, timedelta

import pytest

from infra.localcloud import cloud as cloud_module
from infra.localcloud import moto_patches
from infra.localcloud.cloud import LocalCloud
from infra.localcloud.scheduler import Scheduler
from tests.fixtures.handlers import batch
from tests.unit.localcloud.conftest import EPOCH, ROOT


def test_the_invocation_log_and_recent_events_keep_the_newest_thousand() -> None:
    cloud = LocalCloud(ROOT, start=EPOCH)  # not started: only its bookkeeping is looked at
    assert cloud.runner._history.maxlen == 1000
    assert cloud._events.maxlen == 1000


def test_the_outbox_keeps_the_newest_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cloud_module.OUTBOX_HISTORY == 10_000
    monkeypatch.setattr(cloud_module, "OUTBOX_HISTORY", 3)
    cloud = LocalCloud(ROOT, start=EPOCH)
    for n in range(5):
        cloud.clock.advance(60)
        cloud.record_outbox({"channel": "sms", "text": f"m{n}"})
    assert [m["text"] for m in cloud.outbox] == ["m2", "m3", "m4"]
    assert cloud.outbox[-1]["at"] == (EPOCH + timedelta(minutes=5)).isoformat()


def test_the_scheduler_remembers_a_bounded_number_of_firings() -> None:
    cloud = LocalCloud(ROOT, start=EPOCH)
    scheduler: Scheduler = cloud.scheduler
    assert scheduler.fired.maxlen == 10_000


def test_sqs_poller_leaves_no_receipt_handles_behind(basic_cloud: LocalCloud) -> None:
    """moto keeps the receipt handle of every deleted message; the poller drops the ones it deleted
    with, so a queue's bookkeeping does not grow with every message it ever carried."""
    cloud = basic_cloud
    batch.SEEN.clear()
    queue = moto_patches.sqs_queue(
        cloud.account_id, cloud.region, cloud.physical_id("WorkQueue").rsplit("/", 1)[1]
    )
    before = set(queue.deleted_messages)
    sqs = cloud.client("sqs")
    for n in range(12):
        sqs.send_message(QueueUrl=cloud.physical_id("WorkQueue"), MessageBody=json.dumps({"n": n}))
    cloud.settle()
    assert sorted(s["body"]["n"] for s in batch.SEEN) == list(range(12))
    assert set(queue.deleted_messages) == before
    assert moto_patches.sqs_visible_count(cloud.account_id, cloud.region, queue.name) == 0


def test_a_one_shot_schedule_that_fired_is_forgotten(basic_cloud: LocalCloud) -> None:
    """A run-time at() schedule with ActionAfterCompletion DELETE (tickets' SLA timers, campaigns'
    deferred sends) is deleted after it fired, and the scheduler's own entry goes with it."""
    cloud = basic_cloud
    at = (cloud.clock.now() + timedelta(hours=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    cloud.client("scheduler").create_schedule(
        Name="once-and-gone",
        ScheduleExpression=f"at({at})",
        ActionAfterCompletion="DELETE",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": cloud.attribute("EchoFunction", "Arn"), "RoleArn": "arn:aws:iam::123456789012:role/x"},
    )
    cloud.settle()
    assert "schedule:default/once-and-gone" in cloud.scheduler._tracked
    cloud.advance(2 * 3600)
    assert "schedule:once-and-gone" in {name for _, name in cloud.scheduler.fired}
    assert "schedule:default/once-and-gone" not in cloud.scheduler._tracked
    names = [s["Name"] for s in cloud.client("scheduler").list_schedules()["Schedules"]]
    assert "once-and-gone" not in names
