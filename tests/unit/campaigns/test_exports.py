"""Campaigns' export part document (logic/exports.py): the contract's head, ``data: null`` for an
erased or unknown member, internal attributes left out, a pending send's message given."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from services.campaigns.logic.exports import Assignment, CampaignsHoldings, export_part, send_entry

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def test_nothing_held_or_erased_is_a_complete_empty_part() -> None:
    for holdings in (None, CampaignsHoldings()):
        part = export_part(export_id="e1", member_id="m1", holdings=holdings, now=NOW)
        assert part == {
            "format": "mallcrm.member-export-part.v1",
            "service": "campaigns",
            "export_id": "e1",
            "member_id": "m1",
            "generated_at": "2026-11-23T04:00:00.000000Z",
            "data": None,
            "note": "no data",
        }


def test_the_member_s_data_without_internal_keys() -> None:
    holdings = CampaignsHoldings(
        consents=[
            {"pk": "MEMBER#m1", "sk": "CONSENT#marketing#sms", "purpose": "marketing", "channel": "sms",
             "granted": True, "changed_at": "2026-11-01T00:00:00.000000Z", "event_id": "ev-1",
             "gsi2pk": "AUDIENCE#03"},
        ],
        attributes={"pk": "MEMBER#m1", "sk": "ATTRS", "tier": "gold", "points_balance": Decimal(900),
                    "tags": {"vip", "new"}, "gsi2sk": "m1#ATTRS"},
        sends=[{"send_id": "cmp#c1#m1", "status": "suppressed", "reason": "no_consent", "version": 3,
                "attempts": Decimal(0), "member_id": "m1"}],
        assignments=[Assignment("c1", "control", NOW, NOW)],
    )  # fmt: skip
    data = export_part(export_id="e1", member_id="m1", holdings=holdings, now=NOW)["data"]
    assert data["consents"] == [
        {
            "purpose": "marketing",
            "channel": "sms",
            "granted": True,
            "changed_at": "2026-11-01T00:00:00.000000Z",
        }
    ]
    assert data["attributes"] == {"tier": "gold", "points_balance": 900, "tags": ["new", "vip"]}
    assert data["sends"] == [
        {"send_id": "cmp#c1#m1", "status": "suppressed", "reason": "no_consent", "attempts": 0}
    ]
    assert data["campaign_assignments"][0]["arm"] == "control"
    text = json.dumps(data)
    assert "gsi2" not in text and "event_id" not in text and "version" not in text


def test_a_pending_send_carries_its_message_until_terminal() -> None:
    body = {"channels": ["sms"], "content": {"sms": {"body": "Hi {name}"}}, "personalisation": {"name": "Li"},
            "priority": 50, "member_id": "m1"}  # fmt: skip
    entry = send_entry({"send_id": "s1", "status": "pending", "request": json.dumps(body)})
    assert entry["pending_message"] == {
        "channels": ["sms"],
        "content": {"sms": {"body": "Hi {name}"}},
        "personalisation": {"name": "Li"},
    }
    assert "pending_message" not in send_entry({"send_id": "s1", "status": "sent"})
