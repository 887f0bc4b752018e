"""``/v1/admin/tags`` on MembersApiFunction's resolver (in process, moto): CRUD for admin and
marketer, the language's refusals as 422 with nothing written, optimistic versions, other roles
refused. (The gateway routes for these paths are not in template.yaml yet: see the README.)"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.members.identity_support import (
    call,
    identity_env,  # noqa: F401 - fixture
    items,
    staff_event,
)

pytestmark = pytest.mark.usefixtures("identity_env")

FAMILY = {
    "tag_id": "family",
    "name": "Family",
    "description": "Long weekend parking and children's categories",
    "rule": {
        "all": [
            {"field": "parking_weekend_avg_minutes", "op": ">=", "value": 150},
            {"field": "category_share.kids", "op": ">=", "value": 0.1},
        ]
    },
}


def tag_items() -> list[dict[str, Any]]:
    return [i for i in items() if i.get("entity") == "tag_rule"]


def test_create_list_read_update_delete() -> None:
    status, created = call(staff_event("POST", "/v1/admin/tags", "marketer", body=FAMILY))
    assert status == 201, created
    assert (created["version"], created["updated_by"], created["rule"]) == (
        1,
        "staff-marketer",
        FAMILY["rule"],
    )

    status, listed = call(staff_event("GET", "/v1/admin/tags", "admin"))
    assert status == 200 and [t["tag_id"] for t in listed["items"]] == ["family"]
    assert "parking_weekend_avg_minutes" in listed["fields"]

    status, again = call(staff_event("POST", "/v1/admin/tags", "admin", body=FAMILY))
    assert (status, again["error"]["code"]) == (409, "tag_exists")

    change = {k: v for k, v in FAMILY.items() if k != "tag_id"} | {"version": 1, "enabled": False}
    path = "/v1/admin/tags/family"
    status, updated = call(
        staff_event("PUT", path, "admin", body=change, path_parameters={"tag_id": "family"})
    )
    assert status == 200, updated
    assert (updated["version"], updated["enabled"]) == (2, False)
    status, stale = call(staff_event("PUT", path, "admin", body=change, path_parameters={"tag_id": "family"}))
    assert (status, stale["error"]["code"]) == (409, "tag_changed")

    status, read = call(staff_event("GET", path, "marketer", path_parameters={"tag_id": "family"}))
    assert (status, read["version"]) == (200, 2)
    assert call(staff_event("DELETE", path, "admin", path_parameters={"tag_id": "family"}))[0] == 204
    assert call(staff_event("GET", path, "admin", path_parameters={"tag_id": "family"}))[0] == 404
    assert tag_items() == []


@pytest.mark.parametrize(
    "rule",
    [
        {"field": "__import__('os')", "op": ">", "value": 1},
        {"field": "recency_days", "op": "like", "value": 1},
        {"all": []},
        {"field": "recency_days", "op": ">", "value": "1; DROP TABLE"},
    ],
)
def test_a_rule_outside_the_language_is_422_and_nothing_is_written(rule: dict[str, Any]) -> None:
    status, body = call(staff_event("POST", "/v1/admin/tags", "admin", body=FAMILY | {"rule": rule}))
    assert (status, body["error"]["code"]) == (422, "invalid_tag_rule")
    assert tag_items() == []


def test_bad_ids_and_oversize_fields_are_refused() -> None:
    for body in (FAMILY | {"tag_id": "Family!"}, FAMILY | {"name": "x" * 81}, FAMILY | {"extra": 1}):
        status, _ = call(staff_event("POST", "/v1/admin/tags", "admin", body=body))
        assert status == 422
    assert tag_items() == []


def test_other_roles_are_refused() -> None:
    for role in ("store_staff", "service_agent", "loyalty_ops"):
        status, _ = call(staff_event("POST", "/v1/admin/tags", role, body=FAMILY))
        assert status == 403
    assert tag_items() == []


def test_unknown_tag_is_404() -> None:
    change = {k: v for k, v in FAMILY.items() if k != "tag_id"} | {"version": 1}
    status, _ = call(
        staff_event("PUT", "/v1/admin/tags/nope", "admin", body=change, path_parameters={"tag_id": "nope"})
    )
    assert status == 404
    assert (
        call(staff_event("DELETE", "/v1/admin/tags/nope", "admin", path_parameters={"tag_id": "nope"}))[0]
        == 404
    )
