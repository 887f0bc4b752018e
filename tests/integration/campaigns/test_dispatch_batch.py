"""Dispatch of a whole SQS batch (``logic.dispatch.process_batch`` with the store's batch mode) on a
moto CampaignsTable: the same decisions as one message at a time, with the reads and writes
batched, a lost race retried for the losers only, and the sharded per-campaign rate counter."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from services.campaigns.dal.dispatch import (
    RATE_PER_SHARD,
    DynamoDispatchStore,
    rate_shard,
    rate_shards,
    shard_limit,
)
from services.campaigns.logic.dispatch import (
    Conflict,
    Dependencies,
    Policy,
    ProviderError,
    process_batch,
)
from services.campaigns.logic.guardrails import Limits, QuietHours
from services.campaigns.models.dispatch import SendRequest
from shared import aws as shared_aws
from tests.integration.campaigns.test_dispatch import (
    MORNING,
    TABLE,
    ZONE,
    FakeChannel,
    FakeOffers,
    FakeWaker,
    consent,
    consent_item_only,
    events,
    record,
    request,
    stats,
)
from tests.integration.helpers import all_items, create_table


class Calls:
    """Counts the DynamoDB operations the shared client makes."""

    def __init__(self) -> None:
        self.ops: Counter[str] = Counter()
        shared_aws.client("dynamodb").meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.ops[model.name] += 1


class Batch:
    def __init__(self, policy: Policy) -> None:
        self.sms, self.waker = FakeChannel(), FakeWaker()
        self.store = DynamoDispatchStore(TABLE)
        self.deps = Dependencies(
            store=self.store, channels={"sms": self.sms}, offers=FakeOffers(), waker=self.waker
        )
        self.policy = policy

    def run(self, requests: list[SendRequest], at: Any) -> list[str | Exception]:
        return process_batch(requests, self.deps, self.policy, at)


def policy(**overrides: Any) -> Policy:
    values: dict[str, Any] = {
        "zone": ZONE,
        "limits": Limits(per_day=1, per_week=3),
        "quiet": QuietHours(21, 9),
        "decision_window": timedelta(seconds=60),
        "rate_per_minute": 1000,
        "max_attempts": 3,
    }
    return Policy(**(values | overrides))


@pytest.fixture
def table(moto_aws: None) -> None:
    create_table(TABLE)


def members(n: int, campaign: str = "c1", **extra: Any) -> list[SendRequest]:
    return [
        request(f"cmp#{campaign}#m{i}", member_id=f"m{i}", campaign_id=campaign, **extra) for i in range(n)
    ]


def test_a_batch_is_held_then_sent_with_batched_reads_and_few_transactions(table: None) -> None:
    for i in range(10):
        # m3 withdrew their SMS consent (a member campaigns has never heard of is deferred instead)
        consent(f"m{i}", "sms", granted=i != 3)
    batch = Batch(policy())
    calls = Calls()
    first = batch.run(members(10), MORNING)
    assert first == ["held"] * 3 + ["suppressed"] + ["held"] * 6
    # one BatchGetItem for records + consents + cancelled marker, one for the cap counters; one
    # ADD for the rate tokens; one transaction for all ten (the wake-up is a fake here)
    assert calls.ops == Counter({"BatchGetItem": 2, "UpdateItem": 1, "TransactWriteItems": 1})
    assert batch.waker.times == [MORNING + timedelta(minutes=1)] * 9
    calls.ops.clear()
    later = Batch(policy())
    second = later.run(members(10), MORNING + timedelta(minutes=1))
    assert second == ["sent"] * 3 + ["duplicate"] + ["sent"] * 6
    # reads, the leases of the nine in one transaction, then the outcomes in one more
    assert calls.ops == Counter({"BatchGetItem": 2, "TransactWriteItems": 2})
    assert stats()["sent"] == 9 and stats()["suppressed_no_consent"] == 1
    assert len(events("MessageSent")) == 9
    assert len(later.sms.sent) == 9
    assert record("cmp#c1#m0")["status"] == "sent" and "request" not in record("cmp#c1#m0")


def test_a_member_with_a_consent_summary_costs_two_keys_and_one_without_a_round_of_its_own(
    table: None,
) -> None:
    keys: list[int] = []
    shared_aws.client("dynamodb").meta.events.register(
        "before-call.dynamodb.BatchGetItem",
        lambda params, **_: keys.append(
            sum(len(t["Keys"]) for t in json.loads(params["body"])["RequestItems"].values())
        ),
    )
    for i in range(4):
        consent(f"m{i}", "sms", granted=i != 3)  # through the projection: items and summary
    assert Batch(policy()).run(members(4), MORNING) == ["held"] * 3 + ["suppressed"]
    # the records and summaries (2 a message) and the cancelled marker; then the held three's caps
    assert keys == [4 * 2 + 1, 3 * 2]
    keys.clear()
    for i in range(4, 8):
        consent_item_only(f"m{i}", "sms", granted=i != 7)  # written before summaries existed
    later = Batch(policy())
    assert later.run(members(8)[4:], MORNING) == ["held"] * 3 + ["suppressed"]
    # no summary: their consent items each (SMS, e-mail, WeChat, personalisation), in a round
    # only they cost
    assert keys == [4 * 2 + 1, 4 * 4, 3 * 2]
    assert [e["reason"] for e in events("MessageSuppressed")] == ["no_consent"] * 2


def test_the_second_pass_reads_only_the_day_counter_of_a_held_message(table: None) -> None:
    keys: list[list[str]] = []
    shared_aws.client("dynamodb").meta.events.register(
        "before-call.dynamodb.BatchGetItem",
        lambda params, **_: keys.append(
            [k["sk"]["S"] for t in json.loads(params["body"])["RequestItems"].values() for k in t["Keys"]]
        ),
    )
    for i in range(3):
        consent(f"m{i}", "sms")
    assert Batch(policy()).run(members(3), MORNING) == ["held"] * 3
    keys.clear()
    later = Batch(policy())
    assert later.run(members(3), MORNING + timedelta(minutes=1)) == ["sent"] * 3
    # records, summaries and the cancelled marker; then one counter a message: its day's (the
    # week's holder is written and freed with it, so the lease neither reads nor writes it)
    [first, counters] = keys
    assert len(first) == 3 * 2 + 1
    assert [k.split("#")[0] for k in counters] == ["DAY"] * 3
    assert {i["holders"][f"cmp#c1#m{n}"]["s"] for n in range(3) for i in _counters(f"m{n}")} == {"held"}


def _counters(member: str) -> list[dict[str, Any]]:
    return [i for i in all_items(TABLE) if i["pk"] == f"CAP#{member}#sms"]


def test_a_consent_withdrawn_after_the_hold_is_seen_in_the_summary_at_send(table: None) -> None:
    consent("m1", "sms")
    assert Batch(policy()).run(members(2)[1:], MORNING) == ["held"]
    consent("m1", "sms", granted=False)
    later = Batch(policy())
    assert later.run(members(2)[1:], MORNING + timedelta(minutes=1)) == ["suppressed"]
    assert later.sms.sent == []


def test_two_campaigns_for_one_member_in_one_batch_compete_as_if_one_after_the_other(table: None) -> None:
    consent("m1", "sms")
    low = request("cmp#low#m1", priority=30, campaign_id="low")
    high = request("cmp#high#m1", priority=80, campaign_id="high")
    # the same message twice in one batch (SQS delivers at least once): the second finds it held
    assert Batch(policy()).run([low, high, low], MORNING) == ["held", "held", "not_due"]
    later = Batch(policy())
    assert later.run([low, high], MORNING + timedelta(minutes=1)) == ["deferred", "sent"]
    assert [e["reason"] for e in events("MessageSuppressed")] == ["bumped"]
    assert [m.send_id for m in later.sms.sent] == ["cmp#high#m1"]


def test_the_top_priority_is_held_and_sent_in_one_pass(table: None) -> None:
    consent("m1", "sms")
    consent("m2", "sms")
    urgent = request("cmp#now#m1", priority=100, campaign_id="now")
    normal = request("cmp#now#m2", member_id="m2", priority=99, campaign_id="now")
    batch = Batch(policy())
    assert batch.run([urgent, normal], MORNING) == ["sent", "held"]
    assert [m.send_id for m in batch.sms.sent] == ["cmp#now#m1"]
    day = next(i for i in all_items(TABLE) if i["pk"] == "CAP#m1#sms" and i["sk"].startswith("DAY#"))
    assert day["holders"]["cmp#now#m1"]["s"] == "sent"  # the slot can no longer be taken
    assert not [i for i in all_items(TABLE) if i.get("sk") == "cmp#now#m1"]  # no due entry


def test_a_lost_race_is_decided_again_for_the_loser_only(
    table: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):
        consent(f"m{i}", "sms")
    batch = Batch(policy())
    store = batch.store
    real_commit = store.commit
    raced: list[bool] = []
    commits: list[dict[str, Exception]] = []

    def commit_after_a_rival() -> dict[str, Exception]:
        if not raced:  # another delivery of m1's message holds its slot first
            raced.append(True)
            rival = DynamoDispatchStore(TABLE)
            rival_deps = Dependencies(
                store=rival, channels={"sms": FakeChannel()}, offers=FakeOffers(), waker=FakeWaker()
            )
            assert process_batch([members(3)[1]], rival_deps, batch.policy, MORNING) == ["held"]
        failed = real_commit()
        commits.append(failed)
        return failed

    monkeypatch.setattr(store, "commit", commit_after_a_rival)
    # m1 loses its transaction, is read again and found held (a redelivery); m0 and m2 commit
    assert batch.run(members(3), MORNING) == ["held", "not_due", "held"]
    assert [record(f"cmp#c1#m{i}")["status"] for i in range(3)] == ["held"] * 3
    assert record("cmp#c1#m1")["version"] == 1  # created and held once, by the rival
    # the first transaction was cancelled by m1's condition alone: m1 reported, m0 and m2 written
    assert list(commits[0]) == ["cmp#c1#m1"] and isinstance(commits[0]["cmp#c1#m1"], Conflict)


def test_a_message_that_keeps_losing_fails_alone(table: None, monkeypatch: pytest.MonkeyPatch) -> None:
    consent("m0", "sms")
    consent("m1", "sms")
    batch = Batch(policy())
    store = batch.store
    real_commit = store.commit

    def m1_always_loses() -> dict[str, Exception]:
        assert store._batch is not None
        lost = store._batch.pending.pop("cmp#c1#m1", None)
        failed = real_commit()
        if lost is not None:
            failed["cmp#c1#m1"] = Conflict("moved meanwhile")
        return failed

    monkeypatch.setattr(store, "commit", m1_always_loses)
    held, lost = batch.run(members(2), MORNING)
    assert held == "held"
    assert isinstance(lost, Conflict)  # its SQS record fails and is redelivered
    assert not [i for i in all_items(TABLE) if i["pk"] == "SEND#cmp#c1#m1"]


def test_the_rate_limit_holds_across_a_batch(table: None) -> None:
    for i in range(5):
        consent(f"m{i}", "sms")
    outcomes = Batch(policy(rate_per_minute=3, limits=Limits(5, 10))).run(members(5), MORNING)
    assert Counter(outcomes) == Counter({"held": 3, "deferred": 2})
    assert [e["reason"] for e in events("MessageSuppressed")] == ["rate_limit"] * 2


def test_the_rate_counter_is_sharded_for_a_fast_campaign() -> None:
    assert rate_shards(6_000) == 1
    assert rate_shards(RATE_PER_SHARD) == 1
    fast = 180_000  # 3,000 messages/s
    assert rate_shards(fast) == 6
    assert sum(shard_limit(fast + 5, 6, s) for s in range(6)) == fast + 5
    spread = Counter(rate_shard(f"cmp#c#m{i}", 6) for i in range(6000))
    assert set(spread) == set(range(6)) and min(spread.values()) > 800


def test_a_sharded_rate_grants_each_shard_its_share(table: None) -> None:
    for i in range(40):
        consent(f"m{i}", "sms")
    # 2 shards of RATE_PER_SHARD: the minute is nearly used up, 10 tokens left in each shard,
    # so 20 go out this minute and no more
    limit = 2 * RATE_PER_SHARD
    store = DynamoDispatchStore(TABLE)
    for shard in range(2):
        store._add_tokens("c1", MORNING, limit, shard, RATE_PER_SHARD - 10)
    outcomes = Batch(policy(rate_per_minute=limit, limits=Limits(5, 10))).run(members(40), MORNING)
    assert Counter(outcomes) == Counter({"held": 20, "deferred": 20})


def test_what_a_shard_cannot_grant_is_asked_of_the_next(table: None) -> None:
    for i in range(20):
        consent(f"m{i}", "sms")
    # shard 0 has 2 tokens left, shard 1 has 30: all 20 go out, whatever shard they hash to
    limit = 2 * RATE_PER_SHARD
    store = DynamoDispatchStore(TABLE)
    store._add_tokens("c1", MORNING, limit, 0, RATE_PER_SHARD - 2)
    store._add_tokens("c1", MORNING, limit, 1, RATE_PER_SHARD - 30)
    assert {rate_shard(f"cmp#c1#m{i}", 2) for i in range(20)} == {0, 1}  # the old rule would defer some
    outcomes = Batch(policy(rate_per_minute=limit, limits=Limits(5, 10))).run(members(20), MORNING)
    assert Counter(outcomes) == Counter({"held": 20})


def test_a_batch_takes_its_tokens_in_one_call_while_its_shard_has_room(table: None) -> None:
    from shared import aws as shared_aws

    for i in range(30):
        consent(f"m{i}", "sms")
    updates: list[str] = []
    shared_aws.client("dynamodb").meta.events.register(
        "before-call.dynamodb.UpdateItem", lambda params, **_: updates.append(params["body"].decode())
    )
    limit = 6 * RATE_PER_SHARD  # 6 shards: one ADD per shard touched took 6 calls a batch
    outcomes = Batch(policy(rate_per_minute=limit, limits=Limits(5, 10))).run(members(30), MORNING)
    assert Counter(outcomes) == Counter({"held": 30})
    assert len([u for u in updates if "RATE#" in u]) == 1


def test_dispatch_items_are_typed_as_to_item_types_them() -> None:
    from decimal import Decimal

    from services.campaigns.dal.dispatch import _fast_item
    from shared.dynamo import to_item

    item = {
        "pk": "CAP#m1#sms",
        "n": 3,
        "zero": 0,
        "flag": True,
        "off": False,
        "gone": None,
        "holders": {"cmp#a#m1": {"p": 50, "s": "held", "at": "2026-11-23T02:00:00Z", "x": None}},
        "list": ["a", 1, {"k": True}],
        "decimal": Decimal("1.5"),
        "tags": {"a", "b"},
    }
    assert _fast_item(item) == to_item(item)
    with pytest.raises(TypeError):
        _fast_item({"price": 1.5})


def test_dispatch_reads_items_back_as_from_item_does() -> None:
    from decimal import Decimal

    from services.campaigns.dal.dispatch import _plain_item
    from shared.dynamo import from_item, to_item

    item = to_item(
        {
            "pk": "CAP#m1#sms",
            "n": 3,
            "negative": -12,
            "zero": 0,
            "flag": True,
            "off": False,
            "holders": {"cmp#a#m1": {"p": 50, "s": "held", "at": "2026-11-23T02:00:00Z"}},
            "list": ["a", 1, {"k": True}],
            "decimal": Decimal("1.5"),
            "tags": {"a", "b"},
        }
    ) | {"nothing": {"NULL": True}, "big": {"N": "1E+3"}}
    plain = _plain_item(item)
    assert plain == from_item(item)
    assert type(plain["n"]) is int and type(plain["flag"]) is bool


def test_a_batch_falls_back_per_member_when_a_channel_has_no_address(table: None) -> None:
    for i in range(4):
        consent(f"m{i}", "sms")
        consent(f"m{i}", "wechat")
    sends = members(4, channels=("sms", "wechat"))
    assert Batch(policy()).run(sends, MORNING) == ["held"] * 4
    later = Batch(policy())
    later.deps.channels["wechat"] = wechat = FakeChannel()
    later.sms.failures = [ProviderError("no_address", retryable=False)]  # the first member only
    assert later.run(sends, MORNING + timedelta(minutes=1)) == ["deferred", "sent", "sent", "sent"]
    assert record("cmp#c1#m0")["tried"] == ["sms"]
    # The woken message is decided again, for WeChat, in a batch of its own.
    again = Batch(policy())
    again.deps.channels["wechat"] = wechat
    assert again.run(sends[:1], MORNING + timedelta(minutes=2)) == ["held"]
    assert again.run(sends, MORNING + timedelta(minutes=3)) == ["sent"] + ["duplicate"] * 3
    assert [m.send_id for m in later.sms.sent] == ["cmp#c1#m1", "cmp#c1#m2", "cmp#c1#m3"]
    assert [m.send_id for m in wechat.sent] == ["cmp#c1#m0"]
    sms_day = [i for i in all_items(TABLE) if i["pk"] == "CAP#m0#sms" and i["sk"].startswith("DAY#")]
    assert all("cmp#c1#m0" not in i.get("holders", {}) for i in sms_day)


def _day_counter(member_id: str = "m1", channel: str = "sms") -> dict[str, Any]:
    return next(
        i for i in all_items(TABLE) if i["pk"] == f"CAP#{member_id}#{channel}" and i["sk"].startswith("DAY#")
    )


def test_the_window_closes_by_the_clock_and_the_send_writes_no_counter(table: None) -> None:
    from shared import clock

    consent("m1", "sms")
    low = request("cmp#low#m1", priority=20, campaign_id="low")
    assert Batch(policy()).run([low], MORNING) == ["held"]
    window_end = MORNING + timedelta(minutes=1)
    held = _day_counter()
    assert held["holders"]["cmp#low#m1"]["u"] == clock.to_utc_iso(window_end - timedelta(seconds=5))
    # The second pass is late (a busy queue): a higher priority arriving after the window closed
    # finds the slot decided — first come, first served — and is deferred, not given the slot.
    high = request("cmp#high#m1", priority=90, campaign_id="high")
    assert Batch(policy()).run([high], window_end + timedelta(seconds=10)) == ["deferred"]
    assert [e["reason"] for e in events("MessageSuppressed")] == ["frequency_cap_day"]
    later = Batch(policy())
    assert later.run([low], window_end + timedelta(seconds=20)) == ["sent"]
    assert [m.send_id for m in later.sms.sent] == ["cmp#low#m1"]
    # Neither the deferral nor the lease and the send wrote the counter again.
    assert _day_counter() == held


def test_a_holder_without_a_window_end_is_still_marked_sent(table: None) -> None:
    consent("m1", "sms")
    low = request("cmp#low#m1", priority=20, campaign_id="low")
    assert Batch(policy()).run([low], MORNING) == ["held"]
    # As a counter written before holders carried ``u`` (taken while "held" whatever the time):
    ddb = shared_aws.client("dynamodb")
    for item in all_items(TABLE):
        if item["pk"] == "CAP#m1#sms":
            ddb.update_item(
                TableName=TABLE,
                Key={"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}},
                UpdateExpression="REMOVE holders.#sid.u",
                ExpressionAttributeNames={"#sid": "cmp#low#m1"},
            )
    assert Batch(policy()).run([low], MORNING + timedelta(minutes=1)) == ["sent"]
    counters = [i for i in all_items(TABLE) if i["pk"] == "CAP#m1#sms"]
    assert len(counters) == 2
    assert all(i["holders"]["cmp#low#m1"]["s"] == "sent" for i in counters)
    # so a higher priority arriving later cannot take the slot of a message already sent
    high = request("cmp#high#m1", priority=90, campaign_id="high")
    assert Batch(policy()).run([high], MORNING + timedelta(minutes=1, seconds=30)) == ["deferred"]


def _evict(victim: str, by: str, priority: int = 90) -> None:
    """What another dispatcher's eviction writes to the member's SMS counters (day and week)."""
    ddb = shared_aws.client("dynamodb")
    for item in all_items(TABLE):
        if item["pk"] == "CAP#m1#sms":
            ddb.update_item(
                TableName=TABLE,
                Key={"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}},
                UpdateExpression="REMOVE holders.#v SET holders.#b = :h, version = version + :one",
                ExpressionAttributeNames={"#v": victim, "#b": by},
                ExpressionAttributeValues={
                    ":h": {"M": {"p": {"N": str(priority)}, "s": {"S": "held"}, "at": {"S": "x"}}},
                    ":one": {"N": "1"},
                },
            )


def test_an_eviction_committed_before_the_lease_stops_the_send(table: None) -> None:
    consent("m1", "sms")
    low = request("cmp#low#m1", priority=20, campaign_id="low")
    assert Batch(policy()).run([low], MORNING) == ["held"]
    later = Batch(policy())
    evicted: list[bool] = []

    def late_eviction(**_: Any) -> None:
        # decided during the window by another dispatcher, committed just before this lease
        if not evicted:
            evicted.append(True)
            _evict("cmp#low#m1", "cmp#high#m1")

    ddb = shared_aws.client("dynamodb")
    ddb.meta.events.register("before-call.dynamodb.TransactWriteItems", late_eviction)
    try:
        assert later.run([low], MORNING + timedelta(minutes=1)) == ["deferred"]
    finally:
        ddb.meta.events.unregister("before-call.dynamodb.TransactWriteItems", late_eviction)
    assert later.sms.sent == []
    assert [e["reason"] for e in events("MessageSuppressed")] == ["bumped"]


def test_an_eviction_committing_after_the_lease_fails_on_the_victims_record(table: None) -> None:
    consent("m1", "sms")
    low = request("cmp#low#m1", priority=20, campaign_id="low")
    assert Batch(policy()).run([low], MORNING) == ["held"]
    # The victim's lease is written (its clock ran ahead), while the counters still show it held
    # within its window to an arrival: the eviction must not commit.
    shared_aws.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"pk": {"S": "SEND#cmp#low#m1"}, "sk": {"S": "SEND"}},
        UpdateExpression="SET #s = :sending",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":sending": {"S": "sending"}},
    )
    high = request("cmp#high#m1", priority=90, campaign_id="high")
    [outcome] = Batch(policy()).run([high], MORNING + timedelta(seconds=30))
    assert isinstance(outcome, Conflict)  # redelivered by SQS, decided again then
    assert set(_day_counter()["holders"]) == {"cmp#low#m1"}
    assert not [i for i in all_items(TABLE) if i["pk"] == "SEND#cmp#high#m1"]  # nothing of it written


def test_a_deferral_reason_is_removed_when_the_message_goes_out(table: None) -> None:
    # mark_sent removes ``reason`` only when the record has one: the record carried through the
    # hold and the lease must still know it (a deferral's reason never outlives the send)
    consent("m1", "sms")
    consent("m2", "sms")
    night = MORNING - timedelta(hours=2)  # 08:00 in Shanghai: quiet hours until 09:00
    normal = request("cmp#c1#m1", priority=50)
    urgent = request("cmp#c1#m2", member_id="m2", priority=100)
    assert Batch(policy()).run([normal, urgent], night) == ["deferred", "deferred"]
    assert record("cmp#c1#m1")["reason"] == "quiet_hours"
    assert Batch(policy()).run([normal, urgent], MORNING) == ["held", "sent"]  # 100: one pass
    assert Batch(policy()).run([normal], MORNING + timedelta(minutes=1)) == ["sent"]
    for send_id in ("cmp#c1#m1", "cmp#c1#m2"):
        assert record(send_id)["status"] == "sent"
        assert "reason" not in record(send_id)
