"""Token revocation (logic/tokens.py, dal/tokens.py):

* ``POST /v1/members/me/tokens/revoke`` (member) — "log out everywhere": every token issued up to
  now is void, this one included → 204 (log in again).
* ``POST /v1/admin/members/{member_id}/revoke-tokens?reason=`` (admin, service_agent) — the same
  for a member whose phone or WeChat account was taken over; audited in the same transaction.

Effective at the gateway within the authorizer's cache time (60 s).
"""

from __future__ import annotations

from typing import Annotated

from services.members.dal.tokens import revoke_tokens
from services.members.handlers.routes.common import caller
from services.members.logic.audit import audit_entry
from services.members.models.settings import MembersSettings
from shared import clock
from shared.auth import require_member, require_roles
from shared.errors import NotFound, Unprocessable
from shared.ids import is_ulid, new_ulid
from shared.settings import load
from shared.web import Path, Query, Response, Router

router = Router()
REVOKE_ROLES = ("admin", "service_agent")


def _no_content() -> Response[str]:
    return Response(status_code=204, content_type="application/json", body="")


@router.post(
    "/v1/members/me/tokens/revoke",
    summary="Log out everywhere: void every member token issued so far",
    description="This token too; the gateway stops accepting them within 60 s. Log in again.",
    tags=["members"],
    responses={204: {"description": "Revoked"}, 404: {"description": "No such member"}},
)
def revoke_own_tokens() -> Response[str]:
    member_id = require_member(caller(router.current_event.raw_event))
    if not revoke_tokens(load(MembersSettings).table_name, member_id, int(clock.now().timestamp())):
        raise NotFound("member_not_found", "No such member.")
    return _no_content()


@router.post(
    "/v1/admin/members/<member_id>/revoke-tokens",
    summary="Void every member token of a member (account taken over)",
    description="admin, service_agent; reason required and audited.",
    tags=["admin-members"],
    responses={204: {"description": "Revoked"}, 404: {"description": "No such member"}},
)
def revoke_member_tokens(
    member_id: Annotated[str, Path(min_length=26, max_length=26)],
    reason: Annotated[str, Query(min_length=5, max_length=200)],
) -> Response[str]:
    staff = require_roles(caller(router.current_event.raw_event), *REVOKE_ROLES)
    if not is_ulid(member_id):
        raise Unprocessable(fields=[{"field": "member_id", "message": "Not a member id."}])
    now = clock.now()
    audit = audit_entry(
        member_id=member_id,
        actor=staff,
        action="revoke_tokens",
        fields=(),
        reason=reason,
        now=now,
        entry_id=new_ulid(),
    )
    if not revoke_tokens(load(MembersSettings).table_name, member_id, int(now.timestamp()), audit):
        raise NotFound("member_not_found", "No such member.")
    return _no_content()
