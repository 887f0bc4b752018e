"""The shape of loyalty's export part (logic/exports.py): the contract's head, ``data: null`` with
a note when there is nothing or the member is erased, and no member id or staff id inside data."""

from __future__ import annotations

from datetime import UTC, datetime

from services.loyalty.logic.exports import FORMAT, LoyaltyHoldings, export_part
from services.loyalty.logic.ledger import Balance
from services.loyalty.models.adjustments import Adjustment

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"


def test_nothing_or_erased_gives_a_complete_part_without_data() -> None:
    for holdings in (None, LoyaltyHoldings()):
        part = export_part(export_id="e1", member_id=MEMBER, holdings=holdings, now=NOW)
        assert part == {
            "format": FORMAT,
            "service": "loyalty",
            "export_id": "e1",
            "member_id": MEMBER,
            "generated_at": "2026-11-23T04:00:00.000000Z",
            "data": None,
            "note": "no data",
        }


def test_data_holds_the_balance_and_leaves_out_staff_and_ids() -> None:
    holdings = LoyaltyHoldings(
        balance=Balance(ledger_id="anon_x", member_id=MEMBER, available=120, lifetime_earned=150),
        adjustments=[
            Adjustment(
                adjustment_id="a1",
                member_id=MEMBER,
                points=30,
                reason="goodwill",
                requested_by="agent-7",
                requested_at=NOW,
                status="applied",
                decided_by="ops-2",
                decided_at=NOW,
            )
        ],
    )
    part = export_part(export_id="e1", member_id=MEMBER, holdings=holdings, now=NOW)
    data = part["data"]
    assert data["points"]["available"] == 120 and data["points"]["lifetime_earned"] == 150
    assert data["adjustments"] == [
        {
            "adjustment_id": "a1",
            "points": 30,
            "reason": "goodwill",
            "ticket_id": None,
            "source": "staff",
            "requested_at": "2026-11-23T04:00:00Z",
            "status": "applied",
            "decided_at": "2026-11-23T04:00:00Z",
            "rejection_reason": None,
            "reverses": None,  # the movement a reversal adjustment undid
            "movement_id": None,
            "balance_after": None,
        }
    ]
    assert "agent-7" not in str(part) and "ops-2" not in str(part) and "anon_x" not in str(part)
