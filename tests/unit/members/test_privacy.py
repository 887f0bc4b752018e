"""Export document and erasure plan (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from services.members.logic.privacy import MAX_TRANSACTION_ITEMS, build_export, plan_erasure

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
MEMBER = "01JD0000000000000000000AAA"


def ref(kind: str, h: str) -> dict[str, Any]:
    return {"pk": f"MEMBER#{MEMBER}", "sk": f"IDENT#{kind}#{h}", "kind": kind, "created_at": "2026-01-01"}


def test_the_export_holds_clear_values_for_the_owner_and_no_hashes():
    doc = build_export(
        member_id=MEMBER,
        profile={"gender": "female", "registered_at": "2026-01-01", "status": "active"},
        opened={"name": "李娜", "phone": "+8613900001111", "plates": json.dumps(["沪B88888"])},
        identity_refs=[ref("openid", "feedface99"), ref("phone", "bb"), ref("plate", "cc")],
        consents=[{"purpose": "marketing", "channel": "sms", "granted": True}],
        consent_history=[{"purpose": "marketing", "granted": True}],
        stats={"purchase_count": 3, "spend_cents": 900, "score": {"segment": "loyal"}, "days": {}},
        generated_at=NOW,
    )
    assert doc["profile"]["name"] == "李娜" and doc["profile"]["plates"] == ["沪B88888"]
    assert {i["kind"]: i["value"] for i in doc["identities"]} == {
        "openid": None,
        "phone": "+8613900001111",
        "plate": "沪B88888",
    }
    assert doc["statistics"]["purchase_count"] == 3 and doc["score"] == {"segment": "loyal"}
    assert "feedface99" not in json.dumps(doc)  # lookup hashes are not the member's data


def test_the_erasure_plan_puts_key_lookups_and_consents_in_the_transaction():
    plan = plan_erasure(
        MEMBER,
        identity_refs=[ref("phone", "bb"), ref("openid", "aa")],
        consent_sks=["CONSENT#marketing#sms"],
        now=NOW,
        history_entries=4,
    )
    assert plan.in_transaction[0] == {"pk": f"MEMBER#{MEMBER}", "sk": "DATAKEY"}
    assert {"pk": "IDENT#phone#bb", "sk": "IDENT"} in plan.lookups_in_transaction
    assert {"pk": f"MEMBER#{MEMBER}", "sk": "CONSENT#marketing#sms"} in plan.in_transaction
    assert plan.afterwards == []
    assert plan.tombstone["status"] == "erased" and plan.tombstone["consent_history_deleted"] == 4
    assert not [k for k in plan.tombstone if k.endswith("_ct")]
    assert (plan.event.member_id, plan.event.requested_by) == (MEMBER, "member")


def test_what_does_not_fit_one_transaction_is_deleted_afterwards():
    refs = [ref("plate", f"{i:02d}") for i in range(60)]
    plan = plan_erasure(MEMBER, identity_refs=refs, consent_sks=[], now=NOW)
    # tombstone, MemberErased and MemberVehiclesChanged (every plate unlinked) take three items
    assert len(plan.in_transaction) + 3 == MAX_TRANSACTION_ITEMS
    assert plan.vehicles is not None and plan.vehicles.unlinked == [f"{i:02d}" for i in range(60)]
    assert len(plan.afterwards) == 1 + 2 * 60 - len(plan.in_transaction)
