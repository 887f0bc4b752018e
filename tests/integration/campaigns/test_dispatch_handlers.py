"""Delivery handlers on moto: the dispatch consumer (batch failures), the due index and its
one-time schedules, the events that become messages (birthday, points expiring, notifications),
the inbox API and the campaigns stream publisher."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.campaigns.dal.dispatch import (
    DUE_SHARDS,
    DynamoDispatchStore,
    SchedulerWaker,
    due_shard,
    schedule_name,
)
from services.campaigns.handlers import (
    dispatch,
    dispatch_due,
    inbox_api,
    on_delivery_events,
    stream_publisher,
)
from services.campaigns.models.dispatch import SendRequest
from shared import clock
from shared.dynamo import to_item
from shared.events.contracts import MemberBirthdayToday, NotificationRequested, PointsExpiring
from shared.ids import new_ulid
from tests.integration.helpers import (
    ACCOUNT,
    REGION,
    FakeContext,
    all_items,
    aws,
    bus_event,
    create_table,
    fixed_clock,
    http_event,
    sqs_event,
    stream_event,
)

TABLE = "mallcrm-test-campaigns"
MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"
DUE_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:mallcrm-test-campaigns-dispatch-due"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/due"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
def env(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    create_table(TABLE)
    url: str = aws("sqs").create_queue(QueueName="mallcrm-test-campaigns-dispatch")["QueueUrl"]
    for name, value in {
        "SERVICE_NAME": "campaigns",
        "POWERTOOLS_SERVICE_NAME": "campaigns",
        "TABLE_NAME": TABLE,
        "DISPATCH_QUEUE_URL": url,
        "DUE_FUNCTION_ARN": DUE_ARN,
        "SCHEDULER_ROLE_ARN": ROLE_ARN,
        "CHANNEL_MODE": "local",
        "BIRTHDAY_COUPON_TEMPLATE_ID": "birthday",
    }.items():
        monkeypatch.setenv(name, value)
    clock.set_clock(lambda: NOW)
    return url


def grant(channel: str) -> None:
    aws("dynamodb").put_item(
        TableName=TABLE,
        Item=to_item(
            {
                "pk": f"MEMBER#{MEMBER}",
                "sk": f"CONSENT#marketing#{channel}",
                "purpose": "marketing",
                "channel": channel,
                "granted": True,
            }
        ),
    )


def body(send_id: str = f"cmp#c1#{MEMBER}", **extra: Any) -> str:
    return json.dumps(
        {
            "send_id": send_id,
            "kind": "marketing",
            "campaign_id": "c1",
            "member_id": MEMBER,
            "channels": ["sms"],
            "content": {"sms": {"body": "hello"}},
            "requested_at": clock.to_utc_iso(NOW),
            **extra,
        }
    )


def queued(url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        messages = aws("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return out
        for m in messages:
            out.append(json.loads(m["Body"]))
            aws("sqs").delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_an_unreadable_body_fails_only_its_record(env: str) -> None:
    grant("sms")
    event = sqs_event([body(), "{not json", json.dumps({"send_id": "cmp#x#y"})])
    answer = dispatch.handler(event, FakeContext())
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    assert failed == {event["Records"][1]["messageId"], event["Records"][2]["messageId"]}
    record = DynamoDispatchStore(TABLE).get(f"cmp#c1#{MEMBER}")
    assert record is not None and record.status == "held"


def test_a_deferral_arms_one_schedule_per_minute_and_the_due_function_releases_it(
    env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAP_PER_DAY", "2")
    grant("sms")
    dispatch.handler(sqs_event([body()]), FakeContext())
    dispatch.handler(sqs_event([body(f"cmp#c2#{MEMBER}", campaign_id="c2")]), FakeContext())
    # both hold a slot until 10:01: that minute's schedules, one per due-index shard
    bucket = "2026-11-23T02:01:00.000000Z"
    names = sorted(s["Name"] for s in aws("scheduler").list_schedules()["Schedules"])
    assert names == sorted(f"{schedule_name(bucket)}-s{n}" for n in range(DUE_SHARDS))
    inputs = []
    for name in names:
        described = aws("scheduler").get_schedule(Name=name)
        assert described["ScheduleExpression"] == "at(2026-11-23T02:01:00)"
        assert described["Target"]["Arn"] == DUE_ARN
        inputs.append(json.loads(described["Target"]["Input"]))
    assert sorted(i["shard"] for i in inputs) == list(range(DUE_SHARDS))
    assert {i["bucket"] for i in inputs} == {bucket}

    # Each invocation releases its own shard only (they run in parallel on AWS).
    answers = {i["shard"]: dispatch_due.handler(i, FakeContext()) for i in inputs}
    mine = {due_shard(f"cmp#c1#{MEMBER}"), due_shard(f"cmp#c2#{MEMBER}")}
    assert {n for n, a in answers.items() if a["released"]} == mine
    assert sum(a["released"] for a in answers.values()) == 2
    assert all(a["finished"] and a["bucket"] == bucket for a in answers.values())
    assert sorted(r["send_id"] for r in queued(env)) == [f"cmp#c1#{MEMBER}", f"cmp#c2#{MEMBER}"]
    assert not [i for i in all_items(TABLE) if i["pk"].startswith("DUE#")]
    assert (
        dispatch_due.handler({"bucket": "2026-11-23T02:01:00Z", "shard": 0}, FakeContext())["released"] == 0
    )


def test_a_wake_up_without_a_shard_releases_every_shard(env: str) -> None:
    # A schedule created before the shards had their own: the whole bucket, shard after shard.
    store = DynamoDispatchStore(TABLE)
    for n in range(12):
        request = SendRequest.parse(body(f"cmp#c{n}#{MEMBER}", campaign_id=f"c{n}"))
        store.defer(
            store.create(request, NOW),
            request,
            until=NOW + timedelta(minutes=1),
            reason="quiet_hours",
            channel="sms",
            now=NOW,
        )
    assert len({due_shard(f"cmp#c{n}#{MEMBER}") for n in range(12)}) > 1
    answer = dispatch_due.handler({"bucket": "2026-11-23T02:01:00Z"}, FakeContext())
    assert (answer["released"], answer["finished"], answer["shard"]) == (12, True, None)
    assert len(queued(env)) == 12


@pytest.mark.parametrize("shard", [-1, DUE_SHARDS, "3", True])
def test_a_wake_up_with_a_bad_shard_is_refused(env: str, shard: Any) -> None:
    with pytest.raises(ValueError, match="shard"):
        dispatch_due.handler({"bucket": "2026-11-23T02:01:00Z", "shard": shard}, FakeContext())


def test_a_wake_up_whose_schedule_vanished_is_not_recreated_but_a_new_minute_is(env: str) -> None:
    waker = SchedulerWaker(DUE_ARN, ROLE_ARN, table_name=TABLE)
    waker.ensure(NOW + timedelta(seconds=30))
    waker.ensure(NOW + timedelta(seconds=50))  # same minute: the marker answers, no call
    waker.ensure(NOW + timedelta(minutes=5))
    assert len(aws("scheduler").list_schedules()["Schedules"]) == 2 * DUE_SHARDS
    # Another invocation (a new waker) finds the minute's marker: nothing created again.
    SchedulerWaker(DUE_ARN, ROLE_ARN, table_name=TABLE).ensure(NOW + timedelta(seconds=40))
    assert len(aws("scheduler").list_schedules()["Schedules"]) == 2 * DUE_SHARDS


def test_a_shard_too_big_for_one_run_continues_under_a_follow_up(env: str) -> None:
    store = DynamoDispatchStore(TABLE)
    send_ids = [s for s in (f"cmp#c{n}#{MEMBER}" for n in range(400)) if due_shard(s) == 3][:25]
    for send_id in send_ids:
        request = SendRequest.parse(body(send_id, campaign_id=send_id.split("#")[1]))
        record = store.create(request, NOW)
        store.defer(
            record, request, until=NOW + timedelta(minutes=1), reason="quiet_hours", channel="sms", now=NOW
        )
    bucket = "2026-11-23T02:01:00.000000Z"
    context = FakeContext(remaining_ms=10_000)  # below the reserve: stop after the first 10
    answer = dispatch_due.handler({"bucket": bucket, "shard": 3}, context)
    assert (answer["released"], answer["finished"]) == (10, False)
    [follow_up] = aws("scheduler").list_schedules()["Schedules"]  # for shard 3 only
    described = aws("scheduler").get_schedule(Name=follow_up["Name"])
    assert json.loads(described["Target"]["Input"]) == {"bucket": bucket, "shard": 3}
    rest = dispatch_due.handler(json.loads(described["Target"]["Input"]), FakeContext())
    assert (rest["released"], rest["finished"]) == (15, True)
    assert len(queued(env)) == 25


def _bus(model: Any, data: dict[str, Any]) -> dict[str, Any]:
    event = model.model_validate(data)
    metadata = event.new_metadata(correlation_id="t", producer="test")
    return bus_event(event.SOURCE, event.detail_type(), json.loads(event.detail_json(metadata)))


def test_birthdays_points_and_notifications_become_send_requests(env: str) -> None:
    lot_points = {**PointsExpiring.EXAMPLE, "member_id": MEMBER, "lot_id": "lot-7"}
    events = [
        _bus(MemberBirthdayToday, {"member_id": MEMBER, "birthday_on": "2026-11-23", "mode": "day"}),
        _bus(PointsExpiring, {k: v for k, v in lot_points.items() if k != "lot_id"}),
        _bus(NotificationRequested, {**NotificationRequested.EXAMPLE, "member_id": MEMBER}),
    ]
    # PointsExpiring with loyalty's newer optional lot_id (read raw, not through the model)
    raw = _bus(PointsExpiring, {k: v for k, v in lot_points.items() if k != "lot_id"})
    raw["detail"]["data"]["lot_id"] = "lot-7"
    events.append(raw)
    answer = on_delivery_events.handler(sqs_event(events), FakeContext())
    assert answer["batchItemFailures"] == []
    requests = {r["send_id"]: r for r in queued(env)}
    birthday = requests[f"jrn#birthday#{MEMBER}#2026"]
    assert birthday["offer"] == {"type": "coupon", "template_id": "birthday"}
    assert birthday["not_after"] == "2026-11-23T15:59:59.000000Z"  # end of the day in Shanghai
    assert birthday["priority"] > 50
    assert birthday["personalisation"] == {"birthday_on": "2026-11-23"}  # for the journey's occurrence
    assert requests[f"jrn#points_expiring#{MEMBER}#lot-7"]["personalisation"]["lot_id"] == "lot-7"
    expiring = requests[f"jrn#points_expiring#{MEMBER}#2024-06-30T15:59:59.000000Z"]
    assert expiring["personalisation"] == {"points": "300", "expires_on": "2024-06-30"}
    note = requests["ntf#01HZ4444444444444444444444"]
    assert (note["kind"], note["channels"], note["link"]) == (
        "transactional",
        ["wechat", "inbox"],
        NotificationRequested.EXAMPLE["link"],
    )


def test_an_operators_points_expiring_campaign_replaces_the_built_in_reminder(env: str) -> None:
    expiring = _bus(PointsExpiring, {**PointsExpiring.EXAMPLE, "member_id": MEMBER, "lot_id": "lot-8"})
    aws("dynamodb").put_item(
        TableName=TABLE,
        Item=to_item({"pk": "TRIGGER#PointsExpiring", "sk": "CAMPAIGN#c-1", "entity": "campaign_trigger"}),
    )
    answer = on_delivery_events.handler(sqs_event([expiring]), FakeContext())
    assert answer["batchItemFailures"] == []
    assert queued(env) == []
    aws("dynamodb").delete_item(
        TableName=TABLE, Key=to_item({"pk": "TRIGGER#PointsExpiring", "sk": "CAMPAIGN#c-1"})
    )
    on_delivery_events.handler(sqs_event([expiring]), FakeContext())
    assert [r["send_id"] for r in queued(env)] == [f"jrn#points_expiring#{MEMBER}#lot-8"]


def test_birthday_month_mode_may_send_until_the_end_of_the_month() -> None:
    from services.campaigns.logic.journey_messages import birthday_request

    request = birthday_request(
        MEMBER, date(2026, 2, 14), "month", template_id=None, zone=clock.zone("Asia/Shanghai"), now=NOW
    )
    assert request.not_after == datetime(2026, 2, 28, 15, 59, 59, tzinfo=UTC)
    assert request.offer is None


def member_http(method: str, path: str, member_id: str = MEMBER, **kwargs: Any) -> dict[str, Any]:
    event = http_event(method, path, **kwargs)
    event["requestContext"]["authorizer"] = {
        "lambda": {"subject": "wx-1", "kind": "member", "member_id": member_id}
    }
    return event


def test_inbox_lists_newest_first_and_counts_a_click_once(env: str) -> None:
    for n in range(3):
        clock.set_clock(fixed_clock(NOW + timedelta(minutes=n)))
        request = SendRequest.parse(
            body(
                f"ntf#n{n}",
                kind="transactional",
                campaign_id=None,
                channels=["inbox"],
                content={"inbox": {"title": f"t{n}", "body": "b"}},
            )
        )
        dispatch.handler(sqs_event([request.model_dump_json()]), FakeContext())
    page = inbox_api.handler(member_http("GET", "/v1/members/me/inbox", query={"limit": "2"}), FakeContext())
    assert page["statusCode"] == 200, page
    first = json.loads(page["body"])
    assert [i["title"] for i in first["items"]] == ["t2", "t1"]
    second = json.loads(
        inbox_api.handler(
            member_http("GET", "/v1/members/me/inbox", query={"next_token": first["next_token"]}),
            FakeContext(),
        )["body"]
    )
    assert [i["title"] for i in second["items"]] == ["t0"]
    # another member cannot page through this inbox with the token
    stolen = inbox_api.handler(
        member_http(
            "GET",
            "/v1/members/me/inbox",
            member_id="01HX9ZK3M5N7P9Q1R3S5T7V9ZZ",
            query={"next_token": first["next_token"]},
        ),
        FakeContext(),
    )
    assert stolen["statusCode"] == 400
    message_id = first["items"][0]["message_id"]
    path = f"/v1/members/me/inbox/{message_id}/click"
    for _ in range(2):
        clicked = inbox_api.handler(
            member_http(
                "POST",
                path,
                path_parameters={"message_id": message_id},
                route_key="POST /v1/members/me/inbox/{message_id}/click",
            ),
            FakeContext(),
        )
        assert clicked["statusCode"] == 200, clicked
    clicks = [i for i in all_items(TABLE) if i.get("detail_type") == "MessageClicked"]
    assert len(clicks) == 1
    missing = inbox_api.handler(
        member_http(
            "POST",
            f"/v1/members/me/inbox/{new_ulid()}/click",
            route_key="POST /v1/members/me/inbox/{message_id}/click",
        ),
        FakeContext(),
    )
    assert missing["statusCode"] == 404
    anonymous = inbox_api.handler(http_event("GET", "/v1/members/me/inbox"), FakeContext())
    assert anonymous["statusCode"] == 401


def test_the_stream_publisher_puts_campaigns_events_on_the_bus(
    env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = aws("events").create_event_bus(Name="mallcrm-test")["EventBusArn"]
    assert bus
    grant("sms")
    dispatch.handler(sqs_event([body()]), FakeContext())
    clock.set_clock(lambda: NOW + timedelta(minutes=1))
    dispatch.handler(sqs_event([body()]), FakeContext())
    items = [i for i in all_items(TABLE) if i.get("entity") == "outbox"]
    assert [i["detail_type"] for i in items] == ["MessageSent"]
    images = [to_item(i) for i in items]
    answer = stream_publisher.handler(stream_event(images), FakeContext())
    assert answer["batchItemFailures"] == []


def test_erasure_removes_the_members_send_records_caps_due_entries_inbox_and_events(env: str) -> None:
    from services.campaigns.dal.privacy import DynamoErasureRepository

    grant("sms")
    dispatch.handler(sqs_event([body()]), FakeContext())  # holds a cap slot, due in a minute
    note = body(
        "ntf#n1", kind="transactional", campaign_id=None, channels=["inbox"], content={"inbox": {"body": "b"}}
    )
    dispatch.handler(sqs_event([note]), FakeContext())  # sent to the inbox
    assert [i for i in all_items(TABLE) if MEMBER in json.dumps(i)]

    DynamoErasureRepository(TABLE).erase_member(MEMBER, "anon_x", event_id="e1", erased_at=NOW)
    assert [i for i in all_items(TABLE) if MEMBER in json.dumps(i)] == []  # outbox items too
    # the campaign's aggregate counters stay
    assert [i for i in all_items(TABLE) if i["pk"] == "CAMPAIGN#c1"] == []  # nothing sent for c1 yet
    # a second erasure finds nothing to do
    DynamoErasureRepository(TABLE).erase_member(MEMBER, "anon_x", event_id="e1", erased_at=NOW)


def test_a_shard_is_released_in_sends_of_ten_and_deletes_of_twenty_five(env: str) -> None:
    from collections import Counter

    from services.campaigns.dal.dispatch import DueIndex
    from shared import aws as shared_aws

    store = DynamoDispatchStore(TABLE)
    # 60: deletes of 25 only, mid-bucket (the old loop also deleted each partial tail of 5: 4 calls)
    send_ids = [s for s in (f"cmp#c{n}#{MEMBER}" for n in range(1200)) if due_shard(s) == 5][:60]
    for send_id in send_ids:
        request = SendRequest.parse(body(send_id, campaign_id=send_id.split("#")[1]))
        store.defer(
            store.create(request, NOW),
            request,
            until=NOW + timedelta(minutes=1),
            reason="quiet_hours",
            channel="sms",
            now=NOW,
        )
    calls: Counter[str] = Counter()
    for service in ("dynamodb", "sqs"):
        shared_aws.client(service).meta.events.register(
            f"before-call.{service}", lambda model, **_: calls.update([model.name])
        )
    released = DueIndex(TABLE, env).release("2026-11-23T02:01:00.000000Z", shard=5)
    assert released == (60, True)
    assert (calls["SendMessageBatch"], calls["BatchWriteItem"], calls["Query"]) == (6, 3, 1)
    assert sorted(r["send_id"] for r in queued(env)) == sorted(send_ids)
    assert not [i for i in all_items(TABLE) if i["pk"].startswith("DUE#")]
