"""Staff side of MembersApiFunction on moto: exact-key search, the 360° view (masked / revealed and
audited), member codes at the till, roles per route."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.integration.members.identity_support import (
    Clock,
    call,
    identity_env,  # noqa: F401 - fixture
    items,
    member_event,
    register,
    staff_event,
)

pytestmark = pytest.mark.usefixtures("identity_env")


def audit_entries() -> list[dict[str, Any]]:
    return [i for i in items() if i.get("entity") == "audit"]


class TestSearch:
    def test_search_by_phone_is_masked(self) -> None:
        member_id, _ = register("o-alice")
        status, body = call(
            staff_event("GET", "/v1/admin/members", "store_staff", query={"phone": "138 1234 1234"})
        )
        assert status == 200
        (found,) = body["members"]
        assert found["member_id"] == member_id
        assert (found["phone"], found["name"], found["birthday"]) == ("138****1234", "张**", "****-05-01")
        assert "13812341234" not in json.dumps(body)

    def test_search_by_plate_and_card(self) -> None:
        member_id, _ = register("o-alice", plates=["沪A12345"], card_number="VIP1234567")
        for query in ({"plate": "沪a12345"}, {"card": "vip-1234567"}):
            status, body = call(staff_event("GET", "/v1/admin/members", "service_agent", query=query))
            assert status == 200 and [m["member_id"] for m in body["members"]] == [member_id]
            assert body["members"][0]["plates"] == ["沪A****5"]

    def test_unknown_key_finds_nobody(self) -> None:
        status, body = call(staff_event("GET", "/v1/admin/members", "admin", query={"phone": "13900001111"}))
        assert (status, body) == (200, {"members": []})

    def test_searches_are_audited_without_values(self) -> None:
        member_id, _ = register("o-alice")
        call(staff_event("GET", "/v1/admin/members", "store_staff", query={"phone": "13812341234"}))
        (entry,) = audit_entries()
        assert (
            entry["pk"] == f"AUDIT#{member_id}"
            and entry["action"] == "search"
            and entry["fields"] == ["phone"]
        )
        assert entry["actor_sub"] == "staff-store_staff" and entry["actor_roles"] == ["store_staff"]
        assert "1234" not in json.dumps(entry)

    @pytest.mark.parametrize("query", [{}, {"phone": "13812341234", "plate": "沪A12345"}])
    def test_exactly_one_key(self, query: dict[str, str]) -> None:
        status, body = call(staff_event("GET", "/v1/admin/members", "admin", query=query))
        assert (status, body["error"]["code"]) == (400, "one_search_key")

    def test_roles(self) -> None:
        status, _ = call(staff_event("GET", "/v1/admin/members", "marketer", query={"phone": "13812341234"}))
        assert status == 403
        _, context = register("o-alice")
        status, _ = call(member_event("GET", "/v1/admin/members", context, query={"phone": "13812341234"}))
        assert status == 403


def view(member_id: str, role: str, **query: str) -> tuple[int, dict[str, Any]]:
    return call(
        staff_event(
            "GET",
            f"/v1/admin/members/{member_id}",
            role,
            query=query or None,
            path_parameters={"member_id": member_id},
        )
    )


class TestMember360:
    def test_masked_view_with_identities_consents_stats_and_links(self) -> None:
        member_id, _ = register("o-alice", plates=["沪A12345"])
        status, body = view(member_id, "service_agent")
        assert status == 200 and body["revealed"] is False
        assert body["member"]["phone"] == "138****1234"
        identities = {i["kind"]: i["value"] for i in body["identities"]}
        assert identities == {"openid": None, "phone": "138****1234", "plate": "沪A****5"}
        assert {(c["purpose"], c["channel"], c["granted"]) for c in body["consents"]} == {
            ("marketing", "sms", True),
            ("car_plates", None, True),
        }
        assert body["stats"] is None and body["score"] is None
        assert body["links"]["points_adjustments"] == f"/v1/admin/members/{member_id}/points-adjustments"
        for link, journey in (
            ("churn_warning_episodes", "churn_warning"),
            ("birthday_occurrences", "birthday"),
            ("points_expiring_reminders", "points_expiring"),
        ):
            assert body["links"][link] == f"/v1/admin/journeys/{journey}/executions?member_id={member_id}"
        assert "13812341234" not in json.dumps(body) and "沪A12345" not in json.dumps(
            body, ensure_ascii=False
        )
        assert audit_entries() == []

    def test_stats_and_score_come_from_the_statistics_item(self) -> None:
        from tests.integration.helpers import put_plain

        member_id, _ = register("o-alice")
        put_plain(
            "mallcrm-test-members",
            {
                "pk": f"MEMBER#{member_id}",
                "sk": "STATS",
                "entity": "member_stats",
                "purchase_count": 3,
                "spend_cents": 25900,
                "days": {"2026-11-01": {"count": 1, "spend_cents": 100}},
                "score": {"segment": "loyal", "churn_risk": "low"},
            },
        )
        _, body = view(member_id, "loyalty_ops")
        assert body["stats"] == {"purchase_count": 3, "spend_cents": 25900}  # the per-day buckets stay out
        assert body["score"]["segment"] == "loyal"

    def test_reveal_shows_clear_values_and_writes_an_audit_entry(self) -> None:
        member_id, _ = register("o-alice")
        status, body = view(member_id, "service_agent", reveal="true", reason="caller verified on phone")
        assert status == 200 and body["revealed"] is True
        assert body["member"]["phone"] == "+8613812341234"
        assert {i["kind"]: i["value"] for i in body["identities"]}["phone"] == "+8613812341234"
        (entry,) = audit_entries()
        assert entry["action"] == "reveal" and entry["reason"] == "caller verified on phone"
        assert entry["fields"] == ["birthday", "name", "phone"]
        assert "13812341234" not in json.dumps(entry)

    def test_reveal_needs_a_reason_and_a_role(self) -> None:
        member_id, _ = register("o-alice")
        status, body = view(member_id, "service_agent", reveal="true")
        assert (status, body["error"]["code"]) == (422, "reason_required")
        status, _ = view(member_id, "loyalty_ops", reveal="true", reason="just curious")
        assert status == 403
        status, _ = view(member_id, "store_staff")
        assert status == 403
        assert audit_entries() == []

    def test_unknown_member_is_404(self) -> None:
        status, body = view("01JD0000000000000000000ZZZ", "admin")
        assert (status, body["error"]["code"]) == (404, "member_not_found")


class TestMemberCode:
    def _code(self, context: dict[str, Any]) -> str:
        status, body = call(member_event("GET", "/v1/members/me/code", context))
        assert status == 200 and body["expires_in"] == 60
        return str(body["code"])

    def _verify(self, code: str, role: str = "store_staff") -> tuple[int, dict[str, Any]]:
        return call(staff_event("POST", "/v1/admin/members/verify-code", role, body={"code": code}))

    def test_store_staff_resolve_a_fresh_code_to_the_masked_member(self) -> None:
        member_id, context = register("o-alice")
        status, body = self._verify(self._code(context))
        assert status == 200 and body["member_id"] == member_id and body["phone"] == "138****1234"
        assert [e["action"] for e in audit_entries()] == ["verify_code"]

    def test_an_expired_code_is_rejected(self, identity_env: Clock) -> None:  # noqa: F811
        _, context = register("o-alice")
        code = self._code(context)
        identity_env.now += timedelta(seconds=70)
        status, body = self._verify(code)
        assert (status, body["error"]["code"]) == (422, "code_expired")

    def test_a_tampered_code_is_rejected(self) -> None:
        _, context = register("o-alice")
        code = self._code(context)
        tampered = code[:-3] + ("AAA" if code[-3:] != "AAA" else "BBB")
        status, body = self._verify(tampered)
        assert (status, body["error"]["code"]) == (422, "code_invalid")

    def test_marketers_and_members_cannot_verify(self) -> None:
        _, context = register("o-alice")
        code = self._code(context)
        assert self._verify(code, "marketer")[0] == 403
        status, _ = call(member_event("POST", "/v1/admin/members/verify-code", context, {"code": code}))
        assert status == 403

    def test_an_unregistered_member_has_no_code(self) -> None:
        from tests.integration.members.identity_support import login

        status, body = call(member_event("GET", "/v1/members/me/code", login("o-new")))
        assert (status, body["error"]["code"]) == (403, "member_not_registered")
