"""Schedules on the virtual clock: cron, rate and at, time zones and DST, every target kind."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from infra.localcloud.cloud import LocalCloud
from infra.localcloud.scheduler import ScheduleError, next_occurrence, validate_expression


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def occurrences(expression: str, after: datetime, count: int, timezone: str | None = None) -> list[datetime]:
    found: list[datetime] = []
    last = None
    for _ in range(count):
        nxt = next_occurrence(expression, after, timezone, last=last)
        assert nxt is not None
        found.append(nxt)
        after = last = nxt
    return found


def test_cron_in_utc_and_rate() -> None:
    assert occurrences("cron(0 3 * * ? *)", utc(2026, 1, 5, 3, 0), 2) == [
        utc(2026, 1, 6, 3),
        utc(2026, 1, 7, 3),
    ]
    assert occurrences("cron(0 9 ? * MON-FRI *)", utc(2026, 1, 9, 12), 2) == [
        utc(2026, 1, 12, 9),
        utc(2026, 1, 13, 9),
    ]
    assert occurrences("rate(5 minutes)", utc(2026, 1, 5), 2) == [
        utc(2026, 1, 5, 0, 5),
        utc(2026, 1, 5, 0, 10),
    ]
    assert next_occurrence("at(2026-02-01T10:00:00)", utc(2026, 1, 5), "Asia/Shanghai") == utc(2026, 2, 1, 2)
    assert next_occurrence("at(2026-02-01T10:00:00)", utc(2026, 3, 1)) is None


def test_time_zone_across_daylight_saving_start() -> None:
    # New York moves to EDT on 2026-03-08: 09:30 local is 14:30 UTC before and 13:30 UTC after.
    assert occurrences("cron(30 9 * * ? *)", utc(2026, 3, 6), 4, "America/New_York") == [
        utc(2026, 3, 6, 14, 30),
        utc(2026, 3, 7, 14, 30),
        utc(2026, 3, 8, 13, 30),
        utc(2026, 3, 9, 13, 30),
    ]
    # 02:30 does not exist on 2026-03-08 in New York: that day is skipped, as on AWS.
    assert occurrences("cron(30 2 * * ? *)", utc(2026, 3, 7), 2, "America/New_York") == [
        utc(2026, 3, 7, 7, 30),
        utc(2026, 3, 9, 6, 30),
    ]


def test_time_zone_across_daylight_saving_end_fires_once() -> None:
    # 01:30 happens twice on 2026-11-01 in New York; the schedule runs once, at the first.
    assert occurrences("cron(30 1 * * ? *)", utc(2026, 10, 31, 12), 2, "America/New_York") == [
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 2, 6, 30),
    ]


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 9 * * *)",
        "cron(0 25 * * ? *)",
        "rate(1 minutes)",
        "rate(2 minute)",
        "rate(0 hours)",
        "every day",
        "at(2026-13-01T00:00:00)",
    ],
)
def test_invalid_expressions_are_rejected(expression: str) -> None:
    with pytest.raises((ScheduleError, ValueError)):
        validate_expression(expression)
    with pytest.raises(ScheduleError):
        validate_expression("rate(1 day)", "Mars/Olympus")


def test_daily_schedules_fire_once_per_occurrence_in_order(basic_cloud: LocalCloud) -> None:
    cloud = basic_cloud
    cloud.settle()
    start = cloud.clock.now()
    since = len(cloud.invocations)
    first_fired = len(cloud.scheduler.fired)
    cloud.advance(3 * 86400)
    fired = list(cloud.scheduler.fired)[first_fired:]
    assert [name for _, name in fired].count("schedule:RuleTargetFunctionDaily") == 3
    assert sum(1 for _, name in fired if name.startswith("rule:")) == 3
    times = [when for when, _ in fired]
    assert times == sorted(times) and all(start < when <= start + timedelta(days=3) for when in times)
    daily = [when for when, name in fired if name == "schedule:RuleTargetFunctionDaily"]
    assert all((when.hour, when.minute) == (14, 30) for when in daily)  # 09:30 EST
    # Each firing ran the target at its own virtual time.
    runs = [
        r
        for r in cloud.invocations[since:]
        if r.logical_id == "RuleTargetFunction" and r.trigger == "schedule"
    ]
    assert [r.at for r in runs] == times


def test_runtime_schedules_and_every_target_kind(basic_cloud: LocalCloud) -> None:
    cloud = basic_cloud
    scheduler = cloud.client("scheduler")
    now = cloud.clock.now()
    at = (now + timedelta(hours=2)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    queue_arn = cloud.attribute("RuleQueue", "Arn")
    common = {"FlexibleTimeWindow": {"Mode": "OFF"}}
    scheduler.create_schedule(
        Name="once-to-queue",
        ScheduleExpression=f"at({at})",
        ActionAfterCompletion="DELETE",
        Target={
            "Arn": queue_arn,
            "RoleArn": "arn:aws:iam::123456789012:role/x",
            "Input": '{"at": "<aws.scheduler.scheduled-time>"}',
        },
        **common,
    )
    scheduler.create_schedule(
        Name="hourly-flow",
        ScheduleExpression="rate(1 hour)",
        Target={
            "Arn": cloud.physical_id("QuickFlow"),
            "RoleArn": "arn:aws:iam::123456789012:role/x",
            "Input": '{"from": "scheduler"}',
        },
        **common,
    )
    scheduler.create_schedule(
        Name="hourly-bus",
        ScheduleExpression="rate(1 hour)",
        Target={
            "Arn": cloud.attribute("EventBus", "Arn"),
            "RoleArn": "arn:aws:iam::123456789012:role/x",
            "Input": '{"tick": true}',
            "EventBridgeParameters": {"DetailType": "Tick", "Source": "fixture.scheduler"},
        },
        **common,
    )
    scheduler.create_schedule(
        Name="disabled",
        ScheduleExpression="rate(1 hour)",
        State="DISABLED",
        Target={
            "Arn": queue_arn,
            "RoleArn": "arn:aws:iam::123456789012:role/x",
            "Input": '{"disabled": true}',
        },
        **common,
    )
    flow_before = len(cloud.executions("QuickFlow"))
    cloud.advance(3 * 3600)
    sqs = cloud.client("sqs")
    url = cloud.physical_id("RuleQueue")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    bodies = [json.loads(m["Body"]) for m in messages]
    assert bodies == [{"at": f"{at}Z"}]  # once, at its time; the disabled one never
    names = [s["Name"] for s in scheduler.list_schedules()["Schedules"]]
    assert "once-to-queue" not in names and "hourly-flow" in names  # deleted after completion
    executions = cloud.executions("QuickFlow")
    assert len(executions) - flow_before == 3
    assert all(e["status"] == "SUCCEEDED" for e in executions)
    ticks = [e for e in cloud.events if e["detail-type"] == "Tick"]
    assert (
        len(ticks) == 3 and ticks[0]["source"] == "fixture.scheduler" and ticks[0]["detail"] == {"tick": True}
    )
    for name in ("hourly-flow", "hourly-bus", "disabled"):
        scheduler.delete_schedule(Name=name)
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_time_zone_schedule_across_dst_in_the_cloud(basic_cloud: LocalCloud) -> None:
    cloud = basic_cloud
    cloud.advance((utc(2026, 3, 6) - cloud.clock.now()).total_seconds())
    cloud.client("scheduler").create_schedule(
        Name="ny-morning",
        ScheduleExpression="cron(30 9 * * ? *)",
        ScheduleExpressionTimezone="America/New_York",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": cloud.attribute("EchoFunction", "Arn"), "RoleArn": "arn:aws:iam::123456789012:role/x"},
    )
    first = len(cloud.scheduler.fired)
    cloud.advance(4 * 86400)
    fired = [when for when, name in list(cloud.scheduler.fired)[first:] if name == "schedule:ny-morning"]
    assert fired == [
        utc(2026, 3, 6, 14, 30),
        utc(2026, 3, 7, 14, 30),
        utc(2026, 3, 8, 13, 30),
        utc(2026, 3, 9, 13, 30),
    ]
    cloud.client("scheduler").delete_schedule(Name="ny-morning")
