"""Dispatch guardrails on a moto CampaignsTable: the pure flow (logic/dispatch.py) with the real
DynamoDB store, fake channels, offers and wake-ups (the due index and schedules have their own
tests in test_dispatch_handlers.py)."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.campaigns.dal.campaign_stats import stats_by_variant
from services.campaigns.dal.dispatch import DynamoDispatchStore, bucket_of
from services.campaigns.logic.dispatch import (
    Delivery,
    Dependencies,
    OfferResult,
    OutgoingMessage,
    Policy,
    ProviderError,
    process,
)
from services.campaigns.logic.guardrails import Limits, QuietHours
from services.campaigns.models.dispatch import SendRequest
from shared import clock
from shared.dynamo import to_item
from tests.integration.helpers import all_items, aws, create_table

TABLE = "mallcrm-test-campaigns"
ZONE = clock.zone("Asia/Shanghai")
# 2026-11-23 is a Monday; 10:00 in Shanghai is 02:00 UTC.
MORNING = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@dataclass
class FakeChannel:
    sent: list[OutgoingMessage] = field(default_factory=list)
    failures: list[ProviderError] = field(default_factory=list)
    delivered: bool = False

    def send(self, message: OutgoingMessage) -> Delivery:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return Delivery(provider_message_id=f"p-{len(self.sent)}", delivered=self.delivered)


@dataclass
class FakeOffers:
    answer: OfferResult = field(
        default_factory=lambda: OfferResult(
            issued=True, coupon_id="cpn-1", valid_until=datetime(2026, 11, 30, 15, 59, tzinfo=UTC)
        )
    )
    calls: list[str] = field(default_factory=list)

    def issue(self, request: SendRequest) -> OfferResult:
        self.calls.append(request.send_id)
        return self.answer


@dataclass
class FakeWaker:
    times: list[datetime] = field(default_factory=list)

    def ensure(self, at: datetime) -> None:
        self.times.append(at)


@dataclass
class World:
    deps: Dependencies
    sms: FakeChannel
    inbox: FakeChannel
    offers: FakeOffers
    waker: FakeWaker
    policy: Policy

    def run(self, request: SendRequest, at: datetime) -> str:
        return process(request, self.deps, self.policy, at)


@pytest.fixture
def world(moto_aws: None) -> World:
    create_table(TABLE)
    sms, inbox, offers, waker = FakeChannel(), FakeChannel(delivered=True), FakeOffers(), FakeWaker()
    deps = Dependencies(
        store=DynamoDispatchStore(TABLE),
        channels={"sms": sms, "inbox": inbox},
        offers=offers,
        waker=waker,
    )
    policy = Policy(
        zone=ZONE,
        limits=Limits(per_day=1, per_week=3),
        quiet=QuietHours(21, 9),
        decision_window=timedelta(seconds=60),
        rate_per_minute=1000,
        max_attempts=3,
    )
    return World(deps, sms, inbox, offers, waker, policy)


_consent_changes = itertools.count()


def consent(member_id: str, channel: str, granted: bool = True, purpose: str = "marketing") -> None:
    """A consent decision as the projection stores it (the item and the member's summary), each
    call newer than the last."""
    from services.campaigns.dal.privacy import DynamoConsentProjection
    from services.campaigns.logic.privacy import ConsentFact

    n = next(_consent_changes)
    fact = ConsentFact(
        member_id=member_id,
        purpose=purpose,
        channel=channel if purpose == "marketing" else None,
        granted=granted,
        changed_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n),
        text_version="v1",
        event_id=f"evt-{n:08d}",
    )
    DynamoConsentProjection(TABLE).store_if_newer(fact, erased_marker=f"anon_{member_id}")


def consent_item_only(member_id: str, channel: str, granted: bool = True, purpose: str = "marketing") -> None:
    """A consent item written before the summary existed (no ``CONSENTS`` item for the member)."""
    sk = f"CONSENT#{purpose}" + (f"#{channel}" if purpose == "marketing" else "")
    aws("dynamodb").put_item(
        TableName=TABLE,
        Item=to_item(
            {
                "pk": f"MEMBER#{member_id}",
                "sk": sk,
                "purpose": purpose,
                "channel": channel if purpose == "marketing" else None,
                "granted": granted,
            }
        ),
    )


def request(
    send_id: str = "cmp#c1#m1",
    *,
    member_id: str = "m1",
    priority: int = 50,
    campaign_id: str | None = "c1",
    kind: str = "marketing",
    channels: tuple[str, ...] = ("sms",),
    not_after: datetime | None = None,
    offer: dict[str, Any] | None = None,
) -> SendRequest:
    return SendRequest.model_validate(
        {
            "send_id": send_id,
            "kind": kind,
            "campaign_id": campaign_id,
            "variant": "A" if campaign_id else None,
            "member_id": member_id,
            "channels": list(channels),
            "priority": priority,
            # {coupon_valid_until} only with a coupon: without one, dispatch would suppress the
            # message (personalisation_missing) rather than send the placeholder.
            "content": {
                c: {
                    "title": "Hi",
                    "body": "Hello {name}, until {coupon_valid_until}" if offer else "Hello {name}, {x y}",
                }
                for c in channels
            },
            "personalisation": {"name": "Li"},
            "offer": offer,
            "not_after": not_after,
            "requested_at": MORNING,
        }
    )


def record(send_id: str) -> dict[str, Any]:
    return next(i for i in all_items(TABLE) if i["pk"] == f"SEND#{send_id}")


def events(kind: str) -> list[dict[str, Any]]:
    out = []
    for item in all_items(TABLE):
        if item.get("entity") == "outbox" and item["detail_type"] == kind:
            out.append(json.loads(item["detail"])["data"])
    return out


def stats(campaign_id: str = "c1", variant: str = "A") -> dict[str, Any]:
    """The variant's counters as the report reads them (its shards summed)."""
    items = [
        i for i in all_items(TABLE) if i["pk"] == f"CAMPAIGN#{campaign_id}" and i["sk"].startswith("STATS#")
    ]
    return stats_by_variant(items).get(variant, {})


def test_no_consent_suppresses_with_the_reason(world: World) -> None:
    consent("m1", "sms", granted=False)
    assert world.run(request(), MORNING) == "suppressed"
    assert record("cmp#c1#m1")["status"] == "suppressed"
    assert "request" not in record("cmp#c1#m1")  # names and texts are not kept once terminal
    [event] = events("MessageSuppressed")
    assert (event["outcome"], event["reason"]) == ("suppressed", "no_consent")
    assert stats()["suppressed_no_consent"] == 1
    assert world.sms.sent == []


def test_a_member_whose_consents_have_not_arrived_yet_is_waited_for_then_sent(world: World) -> None:
    # Regression: a MemberRegistered-triggered welcome raced the MemberConsentChanged events (another
    # queue) and was suppressed as "no consent" although the member had granted SMS.
    assert world.run(request(), MORNING) == "deferred"
    assert record("cmp#c1#m1")["status"] == "pending"
    assert world.waker.times == [MORNING + timedelta(minutes=1)]
    consent("m1", "sms")  # the projection arrives
    assert world.run(request(), MORNING + timedelta(minutes=1)) == "held"
    assert world.run(request(), MORNING + timedelta(minutes=2)) == "sent"
    assert len(world.sms.sent) == 1


def test_a_member_campaigns_never_hears_of_is_suppressed_after_the_grace(world: World) -> None:
    assert world.run(request(), MORNING) == "deferred"
    assert world.run(request(), MORNING + timedelta(minutes=5)) == "suppressed"
    outcomes = [(e["outcome"], e["reason"]) for e in events("MessageSuppressed")]
    assert outcomes[-1] == ("suppressed", "no_consent"), outcomes
    assert world.sms.sent == []


def test_a_message_holds_its_slot_for_the_decision_window_then_is_sent_once(world: World) -> None:
    consent("m1", "sms")
    assert world.run(request(), MORNING) == "held"
    assert world.waker.times == [MORNING + timedelta(minutes=1)]
    assert world.run(request(), MORNING + timedelta(seconds=30)) == "not_due"  # a redelivery
    assert world.run(request(), MORNING + timedelta(minutes=1)) == "sent"
    assert world.run(request(), MORNING + timedelta(minutes=2)) == "duplicate"
    [message] = world.sms.sent
    assert message.body == "Hello Li, {x y}"  # text that is no field is left as written
    [sent] = events("MessageSent")
    assert (sent["channel"], sent["attempts"], sent["kind"]) == ("sms", 1, "marketing")
    assert stats()["sent"] == 1
    contact = next(i for i in all_items(TABLE) if i["sk"] == "LAST_CONTACT")
    assert contact["pk"] == "MEMBER#m1"


def test_a_higher_priority_takes_a_held_slot_and_the_lower_one_is_deferred_not_lost(world: World) -> None:
    consent("m1", "sms")
    low = request("cmp#low#m1", priority=30, campaign_id="low")
    high = request("cmp#high#m1", priority=80, campaign_id="high")
    assert world.run(low, MORNING) == "held"
    assert world.run(high, MORNING + timedelta(seconds=20)) == "held"  # takes the low one's slot
    assert world.run(low, MORNING + timedelta(minutes=1)) == "deferred"  # its window ends first
    assert world.run(high, MORNING + timedelta(minutes=2)) == "sent"
    [deferral] = events("MessageSuppressed")
    next_morning = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 09:00 Shanghai: the cap resets at midnight,
    assert deferral["reason"] == "bumped"  # quiet hours last until 09:00
    assert clock.parse_iso(deferral["deferred_until"]) == next_morning
    assert stats("low")["deferred"] == 1
    # The next morning the deferred message goes out.
    assert world.run(low, next_morning) == "held"
    assert world.run(low, next_morning + timedelta(minutes=1)) == "sent"
    assert [m.send_id for m in world.sms.sent] == ["cmp#high#m1", "cmp#low#m1"]


def test_a_sent_slot_is_never_taken_back(world: World) -> None:
    consent("m1", "sms")
    world.run(request("cmp#a#m1", priority=10, campaign_id="a"), MORNING)
    world.run(request("cmp#a#m1", priority=10, campaign_id="a"), MORNING + timedelta(minutes=1))
    urgent = request("cmp#b#m1", priority=100, campaign_id="b")
    assert world.run(urgent, MORNING + timedelta(minutes=5)) == "deferred"
    [event] = events("MessageSuppressed")
    assert event["reason"] == "frequency_cap_day"


def test_the_weekly_cap_defers_to_next_monday_morning(world: World) -> None:
    consent("m1", "sms")
    for day in range(3):  # Mon, Tue, Wed: one a day, three a week
        at = MORNING + timedelta(days=day)
        send = request(f"cmp#w{day}#m1", campaign_id=f"w{day}")
        assert world.run(send, at) == "held"
        assert world.run(send, at + timedelta(minutes=1)) == "sent"
    thursday = MORNING + timedelta(days=3)
    assert world.run(request("cmp#w3#m1", campaign_id="w3"), thursday) == "deferred"
    [event] = events("MessageSuppressed")
    assert event["reason"] == "frequency_cap_week"
    assert clock.parse_iso(event["deferred_until"]) == datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


def test_quiet_hours_defer_to_the_morning(world: World) -> None:
    consent("m1", "sms")
    evening = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    assert world.run(request(), evening) == "deferred"
    [event] = events("MessageSuppressed")
    assert event["reason"] == "quiet_hours"
    assert clock.parse_iso(event["deferred_until"]) == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    assert world.waker.times == [datetime(2026, 11, 24, 1, 0, tzinfo=UTC)]
    due = [i for i in all_items(TABLE) if i["pk"].startswith("DUE#")]
    assert [i["bucket"] for i in due] == [bucket_of(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))]
    assert world.run(request(), evening + timedelta(hours=1)) == "not_due"


def test_a_deferral_past_not_after_is_an_expiry(world: World) -> None:
    consent("m1", "sms")
    evening = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
    late = request(not_after=evening + timedelta(hours=2))
    assert world.run(late, evening) == "suppressed"
    [event] = events("MessageSuppressed")
    assert (event["outcome"], event["reason"]) == ("suppressed", "expired")
    assert stats()["suppressed_expired"] == 1


def test_consent_withdrawn_during_the_window_stops_the_send(world: World) -> None:
    consent("m1", "sms")
    assert world.run(request(), MORNING) == "held"
    consent("m1", "sms", granted=False)
    assert world.run(request(), MORNING + timedelta(minutes=1)) == "suppressed"
    assert world.sms.sent == []
    # the slot was given back: another message may use it today
    consent("m1", "sms")
    assert world.run(request("cmp#c2#m1", campaign_id="c2"), MORNING + timedelta(minutes=2)) == "held"


def test_withdrawn_personalisation_suppresses_segment_campaigns_only(world: World) -> None:
    consent("m1", "sms")
    consent("m1", "", granted=False, purpose="personalisation")
    assert world.run(request(), MORNING) == "suppressed"
    assert events("MessageSuppressed")[0]["reason"] == "personalisation_withdrawn"
    journey = request("jrn#birthday#m1#2026", campaign_id=None)
    assert world.run(journey, MORNING) == "held"


def test_transactional_bypasses_caps_and_quiet_hours_but_not_channel_consent(world: World) -> None:
    night = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    note = request("ntf#n1", kind="transactional", campaign_id=None, channels=("sms", "inbox"))
    assert world.run(note, night) == "sent"  # no sms consent: the inbox, always allowed
    assert world.sms.sent == []
    [message] = world.inbox.sent
    assert message.kind == "transactional"
    inbox = [i for i in all_items(TABLE) if i["sk"].startswith("INBOX#")]
    assert [(i["pk"], i["send_id"]) for i in inbox] == [("MEMBER#m1", "ntf#n1")]
    assert [e["channel"] for e in events("MessageDelivered")] == ["inbox"]
    consent("m1", "sms")
    sms_only = request("ntf#n2", kind="transactional", campaign_id=None, channels=("sms",))
    assert world.run(sms_only, night) == "sent"
    assert [m.send_id for m in world.sms.sent] == ["ntf#n2"]


def test_rate_limit_defers_to_the_next_minute(world: World) -> None:
    world.policy = Policy(
        zone=ZONE, limits=Limits(5, 10), quiet=QuietHours(21, 9), rate_per_minute=1, max_attempts=3
    )
    consent("m1", "sms")
    consent("m2", "sms")
    assert world.run(request("cmp#c1#m1"), MORNING) == "held"
    assert world.run(request("cmp#c1#m2", member_id="m2"), MORNING + timedelta(seconds=5)) == "deferred"
    [event] = events("MessageSuppressed")
    assert event["reason"] == "rate_limit"
    assert clock.parse_iso(event["deferred_until"]) == MORNING + timedelta(minutes=1)


def test_a_failing_provider_is_retried_with_backoff_without_duplicates(world: World) -> None:
    consent("m1", "sms")
    world.sms.failures = [ProviderError("sns_ThrottledException"), ProviderError("sns_ThrottledException")]
    world.run(request(), MORNING)
    assert world.run(request(), MORNING + timedelta(minutes=1)) == "retry"
    assert world.waker.times[-1] == MORNING + timedelta(minutes=2)  # 1 minute after the 1st failure
    assert world.run(request(), MORNING + timedelta(minutes=2)) == "retry"
    assert world.waker.times[-1] == MORNING + timedelta(minutes=6)  # 4 minutes after the 2nd
    assert world.run(request(), MORNING + timedelta(minutes=3)) == "not_due"
    assert world.run(request(), MORNING + timedelta(minutes=6)) == "sent"
    assert len(world.sms.sent) == 1
    assert events("MessageSent")[0]["attempts"] == 3


def test_a_provider_that_keeps_failing_marks_the_message_failed_with_its_reason(world: World) -> None:
    consent("m1", "sms")
    world.sms.failures = [ProviderError("sns_InternalErrorException")] * 5
    world.run(request(), MORNING)
    at = MORNING + timedelta(minutes=1)
    outcomes = []
    for _ in range(3):
        outcomes.append(world.run(request(), at))
        at = at + timedelta(hours=1)
    assert outcomes == ["retry", "retry", "failed"]
    [event] = events("MessageSuppressed")
    assert (event["outcome"], event["reason"]) == ("failed", "sns_InternalErrorException")
    assert stats()["failed"] == 1
    assert world.run(request(), at) == "duplicate"


def test_a_final_provider_error_is_not_retried(world: World) -> None:
    consent("m1", "sms")
    world.sms.failures = [ProviderError("sns_InvalidParameter", retryable=False)]
    world.run(request(), MORNING)
    assert world.run(request(), MORNING + timedelta(minutes=1)) == "failed"
    assert [e["reason"] for e in events("MessageSuppressed")] == ["sns_InvalidParameter"]


def test_a_send_in_flight_whose_lease_expired_is_failed_not_resent(world: World) -> None:
    consent("m1", "sms")
    world.run(request(), MORNING)
    store = DynamoDispatchStore(TABLE)
    held = store.get("cmp#c1#m1")
    assert held is not None
    store.start_sending(held, request(), channel="sms", lease_until=MORNING + timedelta(minutes=6))
    assert world.run(request(), MORNING + timedelta(minutes=2)) == "not_due"
    assert world.run(request(), MORNING + timedelta(minutes=7)) == "failed"
    assert events("MessageSuppressed")[0]["reason"] == "outcome_unknown"
    assert world.sms.sent == []


def test_the_offer_is_issued_with_the_message_and_personalises_it(world: World) -> None:
    consent("m1", "sms")
    send = request(offer={"type": "coupon", "template_id": "tpl-1"})
    world.run(send, MORNING)
    assert world.offers.calls == []  # nothing issued while only holding a slot
    assert world.run(send, MORNING + timedelta(minutes=1)) == "sent"
    assert world.offers.calls == ["cmp#c1#m1"]
    assert world.sms.sent[0].body == "Hello Li, until 2026-11-30"  # mall-local date
    assert events("MessageSent")[0]["coupon_id"] == "cpn-1"


def test_an_offer_loyalty_refuses_suppresses_the_message(world: World) -> None:
    consent("m1", "sms")
    world.offers.answer = OfferResult(issued=False, reason="budget_exhausted")
    send = request(offer={"type": "coupon", "template_id": "tpl-1"})
    world.run(send, MORNING)
    assert world.run(send, MORNING + timedelta(minutes=1)) == "suppressed"
    assert events("MessageSuppressed")[0]["reason"] == "offer_budget_exhausted"
    assert world.sms.sent == []


def test_without_a_decision_window_a_message_is_held_and_sent_in_one_pass(world: World) -> None:
    world.policy = Policy(
        zone=ZONE, limits=Limits(1, 3), quiet=QuietHours(21, 9), decision_window=timedelta(0)
    )
    consent("m1", "sms")
    assert world.run(request(), MORNING) == "sent"
    assert world.waker.times == []
    assert not [i for i in all_items(TABLE) if i["pk"].startswith("DUE#")]
    assert world.run(request("cmp#c2#m1", campaign_id="c2", priority=100), MORNING) == "deferred"


def test_a_campaign_may_carry_its_own_rate(world: World) -> None:
    consent("m1", "sms")
    consent("m2", "sms")
    slow = request("cmp#c1#m1").model_copy(update={"rate_per_minute": 1})
    assert world.run(slow, MORNING) == "held"
    second = request("cmp#c1#m2", member_id="m2").model_copy(update={"rate_per_minute": 1})
    assert world.run(second, MORNING) == "deferred"
    assert events("MessageSuppressed")[0]["reason"] == "rate_limit"


# --- channel fallback: no address for the chosen channel ------------------------------------------


def no_address() -> ProviderError:
    return ProviderError("no_address", retryable=False)


def cap_holders(member_id: str, channel: str) -> dict[str, Any]:
    holders: dict[str, Any] = {}
    for item in all_items(TABLE):
        if item["pk"] == f"CAP#{member_id}#{channel}":
            holders |= item.get("holders") or {}
    return holders


def test_no_address_for_the_first_channel_falls_back_to_the_next_consented_one(world: World) -> None:
    world.deps.channels["wechat"] = wechat = FakeChannel()
    consent("m1", "sms")
    consent("m1", "wechat")
    send = request(channels=("sms", "wechat"))
    world.sms.failures = [no_address()]
    assert world.run(send, MORNING) == "held"  # the SMS slot, for the decision window
    assert world.run(send, MORNING + timedelta(minutes=1)) == "deferred"  # SMS: no address
    kept = record("cmp#c1#m1")
    assert (kept["status"], kept["tried"], kept["reason"]) == ("pending", ["sms"], "no_address:sms")
    assert cap_holders("m1", "sms") == {}  # nothing was sent by SMS: its slot is given back
    [deferral] = events("MessageSuppressed")
    assert (deferral["outcome"], deferral["reason"], deferral["channel"]) == (
        "deferred",
        "no_address:sms",
        "wechat",
    )
    # Redeliveries of the same SQS message change nothing while it waits.
    assert world.run(send, MORNING + timedelta(minutes=1, seconds=10)) == "not_due"
    # Evaluated again like a first choice: WeChat holds its own slot for the window, then sends.
    assert world.run(send, MORNING + timedelta(minutes=2)) == "held"
    assert set(cap_holders("m1", "wechat")) == {"cmp#c1#m1"}
    assert world.run(send, MORNING + timedelta(minutes=3)) == "sent"
    assert world.run(send, MORNING + timedelta(minutes=4)) == "duplicate"
    assert world.sms.sent == [] and [m.channel for m in wechat.sent] == ["wechat"]
    [sent] = events("MessageSent")
    assert sent["channel"] == "wechat"
    assert stats()["sent"] == 1


def test_no_address_on_every_consented_channel_fails_naming_the_channels_tried(world: World) -> None:
    world.deps.channels["wechat"] = wechat = FakeChannel()
    consent("m1", "sms")
    consent("m1", "wechat")
    send = request(channels=("wechat", "email", "sms"))  # e-mail not consented: never tried
    wechat.failures = [no_address()]
    world.sms.failures = [no_address()]
    at = MORNING
    outcomes = []
    for _ in range(5):
        outcomes.append(world.run(send, at))
        at += timedelta(minutes=1)
    assert outcomes == ["held", "deferred", "held", "failed", "duplicate"]
    final = [e for e in events("MessageSuppressed") if e["outcome"] == "failed"]
    assert [(e["reason"], e["channel"]) for e in final] == [("no_address:wechat,sms", "sms")]
    assert record("cmp#c1#m1")["status"] == "failed"
    assert stats()["failed"] == 1
    assert wechat.sent == [] and world.sms.sent == []
    assert cap_holders("m1", "wechat") == {} and cap_holders("m1", "sms") == {}


def test_a_single_channel_without_an_address_fails_at_once(world: World) -> None:
    consent("m1", "sms")
    world.sms.failures = [no_address()]
    world.run(request(), MORNING)
    assert world.run(request(), MORNING + timedelta(minutes=1)) == "failed"
    [event] = events("MessageSuppressed")
    assert (event["outcome"], event["reason"]) == ("failed", "no_address:sms")


def test_the_fallback_channel_obeys_the_cap_as_a_first_choice_would(world: World) -> None:
    world.deps.channels["wechat"] = wechat = FakeChannel()
    consent("m1", "sms")
    consent("m1", "wechat")
    # Today's one WeChat slot (per_day=1) is taken by a message already sent.
    other = request("cmp#other#m1", campaign_id="other", channels=("wechat",))
    world.run(other, MORNING)
    assert world.run(other, MORNING + timedelta(minutes=1)) == "sent"
    send = request(channels=("sms", "wechat"))
    world.sms.failures = [no_address()]
    world.run(send, MORNING)
    assert world.run(send, MORNING + timedelta(minutes=1)) == "deferred"  # no SMS address
    assert world.run(send, MORNING + timedelta(minutes=2)) == "deferred"  # WeChat capped today
    reasons = [e["reason"] for e in events("MessageSuppressed") if e["send_id"] == "cmp#c1#m1"]
    assert reasons == ["no_address:sms", "frequency_cap_day"]
    next_morning = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # deferred, not lost, and not by SMS
    assert world.run(send, next_morning) == "held"
    assert world.run(send, next_morning + timedelta(minutes=1)) == "sent"
    assert [m.send_id for m in wechat.sent] == ["cmp#other#m1", "cmp#c1#m1"]
    assert world.sms.sent == []


def test_the_fallback_channel_waits_for_the_end_of_quiet_hours(world: World) -> None:
    world.deps.channels["wechat"] = wechat = FakeChannel()
    consent("m1", "sms")
    consent("m1", "wechat")
    send = request(channels=("sms", "wechat"))
    world.sms.failures = [no_address()]
    evening = datetime(2026, 11, 23, 12, 58, tzinfo=UTC)  # 20:58 in Shanghai, quiet from 21:00
    assert world.run(send, evening) == "held"
    assert world.run(send, evening + timedelta(minutes=1)) == "deferred"  # no SMS address
    assert world.run(send, evening + timedelta(minutes=2)) == "deferred"  # 21:00: quiet
    [_, quiet] = events("MessageSuppressed")
    assert (quiet["reason"], quiet["channel"]) == ("quiet_hours", "wechat")
    morning = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    assert clock.parse_iso(quiet["deferred_until"]) == morning
    assert world.run(send, morning) == "held"
    assert world.run(send, morning + timedelta(minutes=1)) == "sent"
    assert len(wechat.sent) == 1 and world.sms.sent == []


def test_a_transactional_message_falls_back_to_the_inbox(world: World) -> None:
    consent("m1", "sms")
    note = request("ntf#n1", kind="transactional", campaign_id=None, channels=("sms", "inbox"))
    world.sms.failures = [no_address()]
    assert world.run(note, MORNING) == "deferred"
    assert world.run(note, MORNING + timedelta(minutes=1)) == "sent"
    assert world.sms.sent == [] and [m.channel for m in world.inbox.sent] == ["inbox"]
    assert [e["reason"] for e in events("MessageSuppressed")] == ["no_address:sms"]
