"""Personalisation never sends a ``{field}``: every field a campaign may name gets a value, a
sensible default (``{points_balance}`` = 0 for a member without a ledger row), or the message is
suppressed with the field named (dispatch); tier fields read the tier's display name."""

from __future__ import annotations

import json
import struct
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.campaigns.logic.audience_index import ShardIndex, build_shard
from services.campaigns.logic.campaigns import (
    COMMON_FIELDS,
    OFFER_FIELDS,
    TRIGGER_FIELDS,
    TemplateInfo,
    create_segment,
    request_launch,
)
from services.campaigns.logic.dispatch import OfferResult, personalise
from services.campaigns.logic.journey_messages import (
    birthday_request,
    points_expiring_request,
    win_back_request,
)
from services.campaigns.logic.launch import Target, _Requests, eligible_targets, personalisation
from services.campaigns.logic.snapshots import Audience, Manifest
from services.campaigns.logic.triggers import occasion_for, on_trigger
from services.campaigns.models.audience import MemberAttributes
from services.campaigns.models.campaigns import Campaign, SegmentCreate
from services.campaigns.models.dispatch import (
    PERSONALISATION_FIELDS,
    SendRequest,
    missing_personalisation,
    placeholders,
    render,
)
from shared import clock
from shared.events.contracts import (
    CouponExpiring,
    MemberRegistered,
    PointsExpiring,
    TierChanged,
)
from tests.unit.campaigns.planning_fakes import FakeDispatch, FakeLaunchQueue, audience_of
from tests.unit.campaigns.test_planning import GOLD, SALT, TZ, FakeTriggerRepo, World, body, launched

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
ZONE = clock.zone(TZ)
FULL = MemberAttributes(
    member_id="01HX0000000000000000000001",
    tier="gold",  # the "SEG" segment's tier
    tier_name="Gold Club",
    points_balance=250,
    consents=frozenset({"marketing:sms"}),
)
BARE = "01HX0000000000000000000002"  # a member campaigns has no row for (no ledger movement, no tier)
# The fields a member may lack, for which dispatch suppresses rather than guess a value.
SUPPRESSIBLE = {"tier", "previous_tier"}
OFFERS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "coupon": {"type": "coupon", "template_id": "tpl-10off"},
    "points": {"type": "points", "points": 100},
}


@pytest.fixture
def world() -> World:
    w = World()
    seg = create_segment(SegmentCreate(name="gold", rule=GOLD), w.segments, "staff-1", NOW)
    w.segments.items["SEG"] = seg.model_copy(update={"segment_id": "SEG"})
    w.offers.templates["tpl-10off"] = TemplateInfo(True, "discount", 14, "active")
    return w


def every_field(fields: frozenset[str]) -> str:
    return " ".join(f"{{{f}}}" for f in sorted(fields))


def sent_text(request: SendRequest) -> tuple[list[str], str]:
    """What dispatch does at send time: (the fields it would suppress for, the rendered body)."""
    offer = None
    if request.offer is not None and request.offer.type == "coupon":
        offer = OfferResult(issued=True, coupon_id="cpn-1", valid_until=NOW + timedelta(days=14))
    elif request.offer is not None:
        offer = OfferResult(issued=True)
    fields = personalise(request, offer, ZONE)
    content = request.content["sms"]
    return missing_personalisation(content, fields), render(content.body, fields)


def test_every_field_campaigns_and_journeys_use_is_a_known_personalisation_field() -> None:
    allowed = set(COMMON_FIELDS).union(*TRIGGER_FIELDS.values(), *OFFER_FIELDS.values())
    assert allowed <= PERSONALISATION_FIELDS
    journeys = [
        birthday_request(BARE, NOW.date(), "day", template_id="birthday", zone=ZONE, now=NOW),
        points_expiring_request(
            {"member_id": BARE, "points": 5, "expires_at": clock.to_utc_iso(NOW + timedelta(days=3))},
            zone=ZONE,
            now=NOW,
        ),
        win_back_request(BARE, "E1", template_id="win-back", not_after=NOW + timedelta(days=7), now=NOW),
    ]
    for request in journeys:
        for content in request.content.values():
            assert placeholders(content.body) <= PERSONALISATION_FIELDS
            assert sent_text(request)[0] == []


def trigger_facts(member_id: str) -> dict[str, list[Any]]:
    return {
        "member_registered": [MemberRegistered(member_id=member_id, registered_at=NOW, channel="store")],
        "tier_changed": [
            TierChanged(
                member_id=member_id, previous_tier="t_silver", new_tier="t_gold", direction="up",
                reason="qualifying_spend", changed_at=NOW, new_tier_label="Gold",
                previous_tier_label="Silver",
            ),
            TierChanged(
                member_id=member_id, previous_tier=None, new_tier="t_platinum", direction="up",
                reason="manual", changed_at=NOW, new_tier_label="Platinum",
            ),
        ],
        "points_expiring": [
            PointsExpiring(
                member_id=member_id, points=300, expires_at=NOW + timedelta(days=2), days_left=2,
                noticed_at=NOW, lot_id="L1",
            )
        ],
        "coupon_expiring": [
            CouponExpiring(
                coupon_id="C1", template_id="tpl-x", member_id=member_id,
                valid_until=NOW + timedelta(days=2), days_left=2,
            )
        ],
    }  # fmt: skip


@pytest.mark.parametrize("offer", sorted(OFFERS))
@pytest.mark.parametrize("trigger", sorted(TRIGGER_FIELDS))
def test_no_placeholder_survives_any_field_a_triggered_campaign_allows(
    world: World, trigger: str, offer: str
) -> None:
    extra = OFFER_FIELDS[OFFERS[offer]["type"]] if OFFERS[offer] else frozenset()  # type: ignore[index]
    fields = COMMON_FIELDS | TRIGGER_FIELDS[trigger] | extra
    created = world.create(
        body(
            kind="triggered", segment_id=None, trigger={"event": trigger}, channels=["sms"],
            content={"sms": {"body": every_field(fields)}}, offer=OFFERS[offer],
        )
    )  # fmt: skip
    campaign = request_launch(
        created.campaign_id, world.campaigns, FakeLaunchQueue(), NOW, launched("triggered")
    )
    for member_id, rows in ((FULL.member_id, {FULL.member_id: FULL}), (BARE, {})):
        for fact in trigger_facts(member_id)[trigger]:
            dispatch = FakeDispatch()
            on_trigger(
                fact, repo=FakeTriggerRepo([campaign], rows), dispatch=dispatch, now=NOW, timezone=TZ,
                control_salt=SALT, control_basis_points=0, deferral=timedelta(hours=72),
            )  # fmt: skip
            (request,) = dispatch.sent
            missing, text = sent_text(request)
            assert set(missing) <= SUPPRESSIBLE, (member_id, fact, missing)
            if not missing:
                assert "{" not in text, text
            first_tier = isinstance(fact, TierChanged) and fact.previous_tier is None
            if member_id == FULL.member_id and not first_tier:
                assert missing == [], fact  # a known member with every value: nothing withheld
            if first_tier:
                assert "previous_tier" in missing  # no previous tier: withheld, never "{previous_tier}"
            assert request.personalisation["points_balance"] == (
                "250" if member_id == FULL.member_id else "0"
            )


@pytest.mark.parametrize("offer", sorted(OFFERS))
def test_no_placeholder_survives_any_field_a_launch_allows(world: World, offer: str) -> None:
    extra = OFFER_FIELDS[OFFERS[offer]["type"]] if OFFERS[offer] else frozenset()  # type: ignore[index]
    campaign: Campaign = world.create(
        body(
            channels=["sms"],
            content={"sms": {"body": every_field(COMMON_FIELDS | extra)}},
            offer=OFFERS[offer],
        )
    )
    bare = MemberAttributes(member_id=BARE, tier="gold", consents=frozenset({"marketing:sms"}))  # no points
    audience = audience_of([FULL, bare], NOW, shards=1)
    targets = list(eligible_targets(campaign, audience, NOW))
    assert {t.member_id for t in targets} == {FULL.member_id, BARE}
    prepared = _Requests(campaign, NOW, None)
    for target in targets:
        request = SendRequest.model_validate_json(prepared.body_for(target, "-"))
        missing, text = sent_text(request)
        assert missing == [] and "{" not in text, text
        # every value, in the fields' sorted order: ... points_balance, tier
        assert text.endswith("0 Gold Club" if target.member_id == BARE else "250 Gold Club"), text


def test_points_balance_is_0_for_a_member_campaigns_has_no_balance_for() -> None:
    # The operator's "you have {points_balance} pts" must not go out literally.
    values = personalisation(Target(BARE, None, None))
    assert values == {"points_balance": "0"}
    assert render("you have {points_balance} pts", values) == "you have 0 pts"
    assert personalisation(Target(BARE, "t_gold", -40, "Gold")) == {"points_balance": "-40", "tier": "Gold"}


def test_tier_fields_render_the_display_name_not_the_id() -> None:
    fact = TierChanged(
        member_id=BARE, previous_tier="t_silver", new_tier="t_gold", direction="up",
        reason="qualifying_spend", changed_at=NOW, new_tier_label="Gold", previous_tier_label="Silver",
    )  # fmt: skip
    values = occasion_for(fact, TZ).values
    assert values == {"new_tier": "Gold", "previous_tier": "Silver", "tier": "Gold"}
    # an older producer's event (no names): the ids, never a literal placeholder
    legacy = fact.model_copy(update={"new_tier_label": None, "previous_tier_label": None})
    assert occasion_for(legacy, TZ).values == {
        "new_tier": "t_gold",
        "previous_tier": "t_silver",
        "tier": "t_gold",
    }


def test_the_snapshot_carries_tier_names_for_launches(world: World) -> None:
    shard = ShardIndex.loads(build_shard([FULL]).dumps())
    assert shard.tier_names == {"gold": "Gold Club"}
    # a snapshot written before tier names existed still loads (no names: the ids are used)
    raw = zlib.decompress(build_shard([FULL]).dumps())
    (length,) = struct.unpack(">I", raw[:4])
    header = json.loads(raw[4 : 4 + length])
    del header["tier_names"]
    head = json.dumps(header).encode()
    older = ShardIndex.loads(zlib.compress(struct.pack(">I", len(head)) + head + raw[4 + length :]))
    assert older.tier_names == {} and older.tiers == ["gold"]
    campaign = world.create(body(channels=["sms"], content={"sms": {"body": "{tier}"}}))
    (target,) = eligible_targets(campaign, Audience(Manifest("old", NOW, 1, 1), [older]), NOW)
    assert personalisation(target)["tier"] == "gold"


def test_a_missing_value_is_named_and_other_braces_are_left_alone() -> None:
    request = SendRequest.model_validate(
        {
            "send_id": "cmp#c1#m1", "kind": "marketing", "member_id": "m1", "channels": ["sms"],
            "content": {"sms": {"title": "{tier}", "body": "{points_balance} {x y} {unknown_thing}"}},
            "requested_at": NOW,
        }
    )  # fmt: skip
    assert missing_personalisation(request.content["sms"], {}) == ["points_balance", "tier"]
    assert missing_personalisation(request.content["sms"], {"tier": "Gold", "points_balance": "0"}) == []
