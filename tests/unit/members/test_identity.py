"""Identity normalisation, keyed lookup hashes and masks."""

from __future__ import annotations

from datetime import date

import pytest

from services.members.logic.identity import (
    ident_key,
    lookup_hash,
    mask_birthday,
    mask_card,
    mask_member_name,
    mask_member_phone,
    mask_plate,
    normalise_card,
    normalise_phone,
    normalise_plate,
)
from shared.errors import Unprocessable


@pytest.mark.parametrize(
    "raw",
    [
        "13812341234",
        "138 1234 1234",
        "138-1234-1234",
        "+86 138 1234 1234",
        "008613812341234",
        "+8613812341234",
    ],
)
def test_mainland_mobile_numbers_normalise_to_e164(raw: str) -> None:
    assert normalise_phone(raw) == "+8613812341234"


def test_foreign_numbers_keep_their_country() -> None:
    assert normalise_phone("+852 9123 4567") == "+85291234567"


@pytest.mark.parametrize("raw", ["12345", "1381234123", "abc", "", "+86 138 1234 12345", "1" * 40])
def test_invalid_phones_are_422(raw: str) -> None:
    with pytest.raises(Unprocessable) as err:
        normalise_phone(raw)
    assert err.value.code in ("phone_invalid", "phone_not_mobile")
    assert raw not in str(err.value.fields) or not raw


def test_landlines_are_not_member_phones() -> None:
    with pytest.raises(Unprocessable) as err:
        normalise_phone("021 6234 5678")
    assert err.value.code == "phone_not_mobile"


@pytest.mark.parametrize("raw", ["沪A12345", "沪a 12345", "沪A·12345", "沪A-12345", "粤BD12345"])
def test_plates_normalise(raw: str) -> None:
    assert normalise_plate(raw) in ("沪A12345", "粤BD12345")


@pytest.mark.parametrize("raw", ["A12345", "沪112345", "沪A1", "hello"])
def test_invalid_plates_are_422(raw: str) -> None:
    with pytest.raises(Unprocessable):
        normalise_plate(raw)


def test_cards_normalise_and_validate() -> None:
    assert normalise_card(" vip-0012 3456 ") == "VIP00123456"
    with pytest.raises(Unprocessable):
        normalise_card("12")


def test_lookup_hash_is_keyed_and_separated_by_kind() -> None:
    a = lookup_hash(b"pepper", "phone", "+8613812341234")
    assert a == lookup_hash(b"pepper", "phone", "+8613812341234")
    assert a != lookup_hash(b"other", "phone", "+8613812341234")
    assert a != lookup_hash(b"pepper", "card", "+8613812341234")
    assert "13812341234" not in ident_key("phone", a)
    assert ident_key("phone", a) == f"IDENT#phone#{a}"


def test_masks() -> None:
    assert mask_member_phone("+8613812341234") == "138****1234"
    assert mask_member_name("张三丰") == "张**"
    assert mask_plate("沪A12345") == "沪A****5"
    assert mask_card("VIP00123456") == "****3456"
    assert mask_birthday(date(1990, 5, 1)) == "****-05-01"
