"""DELETE /v1/admin/members/{id}?reason= on moto: admin only, reason required, the same erasure
as the member's own DELETE (tombstone, data key gone, lookups gone, MemberErased with
requested_by staff), and the audit entry written in the erasure's transaction."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.members.identity_support import (
    Clock,
    call,
    identity_env,  # noqa: F401 - fixture
    items,
    member_event,
    outbox,
    register,
    staff_event,
)

pytestmark = pytest.mark.usefixtures("identity_env")
REASON = "written request 2026-11-23 #4711"


def erase(member_id: str, role: str = "admin", reason: str | None = REASON) -> tuple[int, dict[str, Any]]:
    query = {"reason": reason} if reason is not None else None
    return call(
        staff_event(
            "DELETE",
            f"/v1/admin/members/{member_id}",
            role,
            query=query,
            path_parameters={"member_id": member_id},
        )
    )


def audit() -> list[dict[str, Any]]:
    return [i for i in items() if i.get("entity") == "audit"]


def test_admin_erases_with_a_reason_and_it_is_audited(identity_env: Clock) -> None:  # noqa: F811
    member_id, context = register("o-se-1", "13812345001")
    other_id, _ = register("o-se-2", "13812345002")
    status, body = erase(member_id)
    assert status == 204, body
    (profile,) = [i for i in items() if i["pk"] == f"MEMBER#{member_id}" and i["sk"] == "PROFILE"]
    assert (profile["status"], profile["erased_by"]) == ("erased", "staff")
    assert not any(i["pk"] == f"MEMBER#{member_id}" and i["sk"] == "DATAKEY" for i in items())
    assert not any(i.get("member_id") == member_id and i.get("entity") == "identity" for i in items())
    (event,) = outbox("MemberErased")
    assert event["data"] == {
        "member_id": member_id,
        "erased_at": event["data"]["erased_at"],
        "requested_by": "staff",
    }
    (entry,) = audit()
    assert (entry["action"], entry["reason"], entry["actor_sub"]) == ("erase", REASON, "staff-admin")
    assert entry["pk"] == f"AUDIT#{member_id}"
    # her token is dead on every route; the other member is untouched
    assert call(member_event("GET", "/v1/members/me", context))[0] == 404
    assert any(i["pk"] == f"MEMBER#{other_id}" and i["sk"] == "DATAKEY" for i in items())
    # again: 204, no second event, no second audit entry
    assert erase(member_id)[0] == 204
    assert len(outbox("MemberErased")) == 1
    assert len(audit()) == 1


@pytest.mark.parametrize("role", ["service_agent", "store_staff", "marketer", "loyalty_ops"])
def test_only_admin_may_erase(role: str) -> None:
    member_id, _ = register("o-se-3", "13812345003")
    status, body = erase(member_id, role=role)
    assert status == 403, body
    assert outbox("MemberErased") == [] and audit() == []


def test_a_reason_is_required_and_a_member_token_is_refused() -> None:
    member_id, context = register("o-se-4", "13812345004")
    assert erase(member_id, reason=None)[0] == 422
    assert erase(member_id, reason="no")[0] == 422
    event = member_event("DELETE", f"/v1/admin/members/{member_id}", context, query={"reason": REASON})
    event["pathParameters"] = {"member_id": member_id}
    assert call(event)[0] == 403
    assert outbox("MemberErased") == [] and audit() == []


def test_unknown_member_is_404_and_a_bad_id_422() -> None:
    assert erase("01JD0000000000000000000ZZZ")[0] == 404
    assert erase("not-a-member-id-at-all-xxx")[0] == 422
    assert audit() == []
