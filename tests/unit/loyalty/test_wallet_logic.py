"""Pure wallet rules: coupon validity windows, budget shards, discounts, redeemability, codes; the
parking tariff, free hours and offsets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.loyalty.logic.coupons import (
    budget_allotments,
    check_redeemable,
    discount_for,
    new_code,
    normalise_code,
    shard_count,
    validity,
)
from services.loyalty.logic.parking import Tariff, charge, points_for_cents
from services.loyalty.logic.wallet_errors import (
    CouponAlreadyRedeemed,
    CouponExpired,
    CouponNotValidHere,
    CouponNotYetValid,
    CouponNotYours,
    MinimumSpendNotMet,
)
from services.loyalty.models.coupons import Coupon, CouponTemplate, CouponTemplateIn, RedeemRequest
from shared import clock

NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
TZ = clock.zone("Asia/Shanghai")
ALICE = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"


def template(**overrides: Any) -> CouponTemplate:
    data = {
        "template_id": "t",
        "name": "T",
        "kind": "amount_off",
        "amount_off_cents": 2000,
        "valid_days": 1,
        "created_at": NOW,
        "created_by": "staff:x",
        **overrides,
    }
    return CouponTemplate.model_validate(data)


def coupon(**overrides: Any) -> Coupon:
    data = {
        "coupon_id": "c",
        "code": "ABCDEFGHJKMNPQRS",
        "template_id": "t",
        "member_id": ALICE,
        "reason": "manual",
        "kind": "amount_off",
        "name": "T",
        "amount_off_cents": 2000,
        "min_spend_cents": 10000,
        "valid_from": NOW,
        "valid_until": NOW + timedelta(days=1),
        "issued_at": NOW,
        **overrides,
    }
    return Coupon.model_validate(data)


def redeem_request(**overrides: Any) -> RedeemRequest:
    return RedeemRequest.model_validate(
        {
            "code": "ABCDEFGHJKMNPQRS",
            "member_id": ALICE,
            "store_id": "s1",
            "purchase_amount_cents": 15000,
            **overrides,
        }
    )


def test_one_valid_day_ends_at_local_midnight_and_the_template_end_caps_it() -> None:
    assert validity(template(), NOW, TZ) == (NOW, datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC))
    capped = template(valid_days=30, valid_until=NOW + timedelta(hours=2))
    assert validity(capped, NOW, TZ) == (NOW, NOW + timedelta(hours=2))
    later = template(valid_from=NOW + timedelta(days=2), valid_days=2)
    assert validity(later, NOW, TZ) == (NOW + timedelta(days=2), datetime(2026, 3, 4, 15, 59, 59, tzinfo=UTC))
    assert validity(template(valid_days=None, valid_until=NOW - timedelta(seconds=1)), NOW, TZ) is None


@pytest.mark.parametrize(
    ("budget", "unit", "shards", "expected"),
    [
        (25_000, 5_000, 4, [10_000, 5_000, 5_000, 5_000]),
        (25_001, 5_000, 4, [10_001, 5_000, 5_000, 5_000]),
        (None, 5_000, 3, [None, None, None]),
        (7, 0, 2, [4, 3]),
    ],
)
def test_budgets_split_in_whole_coupons(
    budget: int | None, unit: int, shards: int, expected: list[int | None]
) -> None:
    allotted = budget_allotments(budget, unit, shards)

    assert allotted == expected
    if budget is not None and unit:
        assert sum(a // unit for a in allotted if a is not None) == budget // unit


def test_shard_count_never_exceeds_what_can_be_issued() -> None:
    base = {"template_id": "t", "name": "T", "kind": "amount_off", "amount_off_cents": 1000, "valid_days": 1}
    assert shard_count(CouponTemplateIn.model_validate(base), 16) == 0
    assert shard_count(CouponTemplateIn.model_validate({**base, "total_limit": 3}), 16) == 3
    assert shard_count(CouponTemplateIn.model_validate({**base, "budget_cents": 1_000_000}), 16) == 16
    assert shard_count(CouponTemplateIn.model_validate({**base, "budget_cents": 2500}), 16) == 2


def test_discounts_in_integer_cents() -> None:
    assert discount_for(coupon(), 1500) == 1500  # never more than the purchase
    assert discount_for(coupon(kind="percent_off", amount_off_cents=None, percent_off=15), 9999) == 1499
    capped = coupon(kind="percent_off", amount_off_cents=None, percent_off=50, max_discount_cents=3000)
    assert discount_for(capped, 100_000) == 3000
    assert discount_for(coupon(kind="gift", amount_off_cents=None, face_value_cents=800), 0) == 800


@pytest.mark.parametrize(
    ("the_coupon", "request_overrides", "at", "error"),
    [
        (coupon(), {"member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WY"}, NOW, CouponNotYours),
        (coupon(status="redeemed"), {}, NOW, CouponAlreadyRedeemed),
        (coupon(), {}, NOW + timedelta(days=2), CouponExpired),
        (coupon(valid_from=NOW + timedelta(hours=1)), {}, NOW, CouponNotYetValid),
        (coupon(store_ids=("s2",)), {}, NOW, CouponNotValidHere),
        (coupon(tenant_ids=("t9",)), {"tenant_id": "t1"}, NOW, CouponNotValidHere),
        (coupon(), {"purchase_amount_cents": 9999}, NOW, MinimumSpendNotMet),
    ],
)
def test_why_a_coupon_cannot_be_redeemed(
    the_coupon: Coupon, request_overrides: dict[str, Any], at: datetime, error: type[Exception]
) -> None:
    with pytest.raises(error):
        check_redeemable(the_coupon, redeem_request(**request_overrides), at)


def test_a_valid_coupon_redeems_for_its_discount() -> None:
    assert check_redeemable(coupon(store_ids=("s1",)), redeem_request(), NOW) == 2000


def test_codes_are_random_crockford_and_typing_mistakes_are_forgiven() -> None:
    codes = {new_code() for _ in range(1000)}
    assert len(codes) == 1000 and all(len(c) == 16 and not set(c) & set("ILOU") for c in codes)
    assert normalise_code("abcd-efgh-ijkl-mnop") == "ABCDEFGH1JK1MN0P"


def test_an_inconsistent_template_is_refused() -> None:
    with pytest.raises(ValidationError):
        CouponTemplateIn.model_validate({"template_id": "t", "name": "T", "kind": "gift", "valid_days": 1})


def test_the_tariff_charges_started_hours_up_to_a_daily_cap() -> None:
    tariff = Tariff(rate_cents_per_hour=1000, daily_cap_cents=6000)

    assert [tariff.fee(m) for m in (0, 1, 60, 61, 600, 24 * 60, 24 * 60 + 1)] == [
        0,
        1000,
        1000,
        2000,
        6000,
        6000,
        7000,
    ]
    # Free hours are worth the last hours of the stay: 190 minutes, 120 free → 4000 - 2000.
    assert tariff.value_of_last(190, 120) == 2000


def test_free_hours_and_offsets_never_make_the_gate_pay_less_than_zero() -> None:
    tariff = Tariff(1000, 6000)

    bill = charge(fee_cents=4000, minutes=190, free_minutes=120, offset_cents=2000, tariff=tariff)
    assert (bill.free_cents, bill.due_cents) == (2000, 0)
    short = charge(fee_cents=500, minutes=30, free_minutes=120, offset_cents=0, tariff=tariff)
    assert (short.free_cents, short.due_cents, short.free_minutes) == (500, 0, 30)
    assert points_for_cents(2001, 10) == 201


@given(
    budget=st.integers(min_value=0, max_value=10**9),
    unit=st.integers(min_value=1, max_value=10**6),
    shards=st.integers(min_value=1, max_value=64),
)
def test_budget_shards_hold_exactly_the_budget_and_its_whole_coupons(
    budget: int, unit: int, shards: int
) -> None:
    allotted = [a or 0 for a in budget_allotments(budget, unit, shards)]

    assert sum(allotted) == budget
    assert sum(a // unit for a in allotted) == budget // unit
    assert all(a >= 0 for a in allotted)


@given(
    minutes=st.integers(min_value=0, max_value=10 * 24 * 60),
    free=st.integers(min_value=0, max_value=24 * 60),
    offset=st.integers(min_value=0, max_value=100_000),
)
def test_the_gate_never_charges_more_than_the_fee_nor_less_than_zero(
    minutes: int, free: int, offset: int
) -> None:
    tariff = Tariff(1000, 6000)
    fee = tariff.fee(minutes)

    bill = charge(fee_cents=fee, minutes=minutes, free_minutes=free, offset_cents=offset, tariff=tariff)

    assert 0 <= bill.due_cents <= fee
    assert bill.free_cents <= fee and bill.due_cents == max(0, fee - bill.free_cents - offset)
