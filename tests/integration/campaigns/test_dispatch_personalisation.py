"""Dispatch on moto never sends a ``{field}``: a marketing message whose text names a known
personalisation field without a value is suppressed ``personalisation_missing:<field>`` (recorded,
MessageSuppressed, the slot given back); with the values it goes out rendered."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.campaigns.models.dispatch import SendRequest
from tests.integration.campaigns.test_dispatch import (
    MORNING,
    World,
    consent,
    events,
    record,
    world,  # noqa: F401 - the fixture
)


def tier_message(personalisation: dict[str, str], kind: str = "marketing", **extra: Any) -> SendRequest:
    send_id = "cmp#c1#m1" if kind == "marketing" else "ntf#n1"
    return SendRequest.model_validate(
        {
            "send_id": send_id,
            "kind": kind,
            "campaign_id": "c1" if kind == "marketing" else None,
            "member_id": "m1",
            "channels": ["sms"],
            "content": {"sms": {"body": "Dear {tier} member, you have {points_balance} pts"}},
            "personalisation": personalisation,
            "requested_at": MORNING,
            **extra,
        }
    )


def test_a_missing_value_suppresses_the_message_naming_the_field(world: World) -> None:  # noqa: F811
    consent("m1", "sms")
    assert world.run(tier_message({"points_balance": "0"}), MORNING) == "suppressed"
    assert world.sms.sent == []
    assert record("cmp#c1#m1")["reason"] == "personalisation_missing:tier"
    (suppressed,) = events("MessageSuppressed")
    assert (suppressed["outcome"], suppressed["reason"]) == ("suppressed", "personalisation_missing:tier")


def test_with_every_value_the_message_goes_out_rendered(world: World) -> None:  # noqa: F811
    consent("m1", "sms")
    request = tier_message({"points_balance": "0", "tier": "Gold Club"})
    world.run(request, MORNING)
    assert world.run(request, MORNING + timedelta(minutes=1)) == "sent"
    (message,) = world.sms.sent
    assert message.body == "Dear Gold Club member, you have 0 pts"


def test_a_transactional_text_is_the_senders_own_and_is_not_withheld(world: World) -> None:  # noqa: F811
    consent("m1", "sms")
    assert world.run(tier_message({}, kind="transactional"), MORNING) == "sent"
    (message,) = world.sms.sent
    assert message.body == "Dear {tier} member, you have {points_balance} pts"
