"""Loyalty's part of a member's data export on moto (docs/contracts/export.md): MemberExportRequested
→ ``exports/<id>/loyalty.json`` with the member's balance, lots, movements, purchases, coupons,
receipts and redemptions in clear, nothing of another member, ``data: null`` once erased or when
loyalty never saw the member, nothing written for an expired request, and a redelivery overwrites
the same object."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from services.loyalty.dal.ledger import clear_calendar_cache
from services.loyalty.dal.loyalty_config import clear_config_cache
from services.loyalty.handlers import on_member_erased, on_member_export
from shared import clock
from shared.events.contracts import MemberErased, MemberExportRequested
from tests.integration.helpers import FakeContext, all_items, aws, contract_bus_event, sqs_event
from tests.integration.loyalty.conftest import NOW, TABLE
from tests.integration.loyalty.ledger_fixtures import add_gsi2
from tests.integration.loyalty.ledger_support import ALICE, BOB, configure, post_purchase, purchase
from tests.integration.loyalty.wallet_support import member, staff

BUCKET = "mallcrm-test-member-exports"
EXPORT_ID = "01HXA0000000000000000000EX"


@pytest.fixture
def exports(loyalty: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    add_gsi2(TABLE)
    clear_calendar_cache()
    clear_config_cache()
    aws("s3").create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("MEMBER_EXPORTS_BUCKET", BUCKET)
    configure()
    yield
    clear_config_cache()


def request(member_id: str = ALICE, export_id: str = EXPORT_ID, **overrides: Any) -> MemberExportRequested:
    fields: dict[str, Any] = {
        "export_id": export_id,
        "member_id": member_id,
        "requested_at": NOW,
        "object_prefix": f"exports/{export_id}/",
        "expires_at": NOW + timedelta(days=7),
        **overrides,
    }
    return MemberExportRequested(**fields)


def deliver(*requests: MemberExportRequested) -> dict[str, Any]:
    result: dict[str, Any] = on_member_export.handler(
        sqs_event([contract_bus_event(r) for r in requests]), FakeContext(function_name="loyalty-export")
    )
    return result


def part(export_id: str = EXPORT_ID) -> dict[str, Any]:
    body = aws("s3").get_object(Bucket=BUCKET, Key=f"exports/{export_id}/loyalty.json")["Body"].read()
    return dict(json.loads(body))


def keys() -> list[str]:
    return [o["Key"] for o in aws("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def given_alice_has_everything() -> dict[str, Any]:
    assert post_purchase(purchase("POS-1"))[0] == 201
    assert post_purchase(purchase("POS-B", member_id=BOB, amount_cents=999))[0] == 201
    staff(
        "POST",
        "/v1/admin/coupon-templates",
        {
            "template_id": "t10",
            "name": "10 off",
            "kind": "amount_off",
            "amount_off_cents": 1000,
            "valid_days": 5,
        },
    )
    status, coupon = staff(
        "POST", "/v1/admin/coupons", {"request_id": "issue-alice", "member_id": ALICE, "template_id": "t10"}
    )
    assert status == 201, coupon
    status, reward = staff(
        "POST",
        "/v1/admin/rewards",
        {"reward_id": "mug", "name": "Mall mug", "kind": "gift", "points_cost": 50, "stock": 10},
    )
    assert status == 201, reward
    status, redemption = member(
        "POST", "/v1/members/me/redemptions", ALICE, {"request_id": "redeem-mug-1", "reward_id": "mug"}
    )
    assert status == 201, redemption
    status, receipt = member(
        "POST",
        "/v1/members/me/receipts",
        ALICE,
        {
            "store_id": "store-1",
            "receipt_number": "R1",
            "machine_number": "M1",
            "purchased_at": clock.to_utc_iso(NOW),
            "amount_cents": 100,
            "image_key": "k/1.jpg",
        },
    )
    assert status == 201, receipt
    return {"coupon": coupon, "redemption": redemption, "receipt": receipt}


def test_the_part_holds_the_members_loyalty_data_in_clear(exports: None) -> None:
    given = given_alice_has_everything()
    assert deliver(request()) == {"batchItemFailures": []}

    document = part()
    assert keys() == [f"exports/{EXPORT_ID}/loyalty.json"]
    assert {k: document[k] for k in ("format", "service", "export_id", "member_id")} == {
        "format": "mallcrm.member-export-part.v1",
        "service": "loyalty",
        "export_id": EXPORT_ID,
        "member_id": ALICE,
    }
    data = document["data"]
    assert data["points"]["available"] == 259 - 50  # 1 point per yuan, then the mug
    assert data["points"]["lifetime_earned"] == 259
    assert [(m["kind"], m["points"]) for m in data["movements"]] == [("earn", 259), ("redeem", -50)]
    assert [lot["remaining"] for lot in data["lots"]] == [209]
    [bought] = data["purchases"]
    assert (bought["external_id"], bought["amount_cents"], bought["points_earned"]) == ("POS-1", 25900, 259)
    assert bought["items"] == [{"sku": "SKU-1", "category": "apparel", "quantity": 1, "amount_cents": 25900}]
    assert "fingerprint" not in bought
    assert {c["coupon_id"] for c in data["coupons"]} == {given["coupon"]["coupon_id"]}
    assert data["coupons"][0]["code"]  # the member's own code, in clear
    assert [r["reward_id"] for r in data["redemptions"]] == ["mug"]
    assert [(r["receipt_number"], r["status"]) for r in data["receipts"]] == [
        ("R1", given["receipt"]["status"])
    ]
    text = json.dumps(document)
    assert BOB not in text and "POS-B" not in text  # nothing of another member
    assert "ops-1" not in text  # staff identities stay out


def test_a_redelivery_overwrites_the_same_object(exports: None) -> None:
    assert post_purchase(purchase("POS-1"))[0] == 201
    assert deliver(request(), request()) == {"batchItemFailures": []}
    assert keys() == [f"exports/{EXPORT_ID}/loyalty.json"]
    assert part()["data"]["points"]["available"] == 259


def test_a_member_loyalty_never_saw_gets_a_complete_empty_part(exports: None) -> None:
    assert deliver(request(member_id=BOB)) == {"batchItemFailures": []}
    document = part()
    assert (document["data"], document["note"], document["member_id"]) == (None, "no data", BOB)


def test_an_erased_member_gets_no_data(exports: None) -> None:
    assert post_purchase(purchase("POS-1"))[0] == 201
    erased = contract_bus_event(MemberErased(member_id=ALICE, erased_at=NOW, requested_by="member"))
    assert on_member_erased.handler(sqs_event([erased]), FakeContext()) == {"batchItemFailures": []}
    assert deliver(request()) == {"batchItemFailures": []}
    document = part()
    assert (document["data"], document["note"]) == (None, "no data")
    assert "POS-1" not in json.dumps(document)


def test_an_expired_request_writes_nothing(exports: None) -> None:
    assert post_purchase(purchase("POS-1"))[0] == 201
    late = request(requested_at=NOW - timedelta(days=8), expires_at=NOW - timedelta(seconds=1))
    assert deliver(late) == {"batchItemFailures": []}
    assert keys() == []


def test_without_a_bucket_the_message_is_retried(exports: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMBER_EXPORTS_BUCKET")
    result = deliver(request())
    assert len(result["batchItemFailures"]) == 1
    assert keys() == []


def erase(member_id: str = ALICE) -> None:
    erased = contract_bus_event(MemberErased(member_id=member_id, erased_at=NOW, requested_by="member"))
    assert on_member_erased.handler(sqs_event([erased]), FakeContext()) == {"batchItemFailures": []}


def test_an_erasure_after_the_part_was_written_deletes_it(exports: None) -> None:
    """Members deletes the parts it finds when the member erases; a part written after that sweep
    is loyalty's to delete, through the pointer it kept in the member's wallet partition."""
    assert post_purchase(purchase("POS-1"))[0] == 201
    assert deliver(request()) == {"batchItemFailures": []}
    assert keys() == [f"exports/{EXPORT_ID}/loyalty.json"]
    erase()
    assert keys() == []
    assert not [i for i in all_items(TABLE) if i.get("entity") == "export_part_ref"]


def test_an_erasure_that_overtakes_the_write_deletes_the_part(
    exports: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The erasure runs completely between the export's read and its write (pointer and wallet
    already swept): the second look at the tombstone removes the object just written."""
    from services.loyalty.dal.exports import DynamoLoyaltyExportReader

    assert post_purchase(purchase("POS-1"))[0] == 201
    original = DynamoLoyaltyExportReader.holdings

    def read_then_erase(self: DynamoLoyaltyExportReader, member_id: str, ledger_id: str) -> Any:
        found = original(self, member_id, ledger_id)
        erase(member_id)
        return found

    monkeypatch.setattr(DynamoLoyaltyExportReader, "holdings", read_then_erase)
    assert deliver(request()) == {"batchItemFailures": []}
    assert keys() == []
    assert not [i for i in all_items(TABLE) if ALICE in str(i["pk"])]  # not even the pointer
