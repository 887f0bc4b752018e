"""Export and erasure routes of MembersApiFunction (included by services/members/handlers/api.py).

* ``POST /v1/members/me/export`` — the member's own data as JSON (services/members/logic/privacy.py),
  and a request to the other services for theirs (``MemberExportRequested``; logic/exports.py);
* ``GET /v1/members/me/exports/{export_id}`` — that export's status and download links.
* ``DELETE /v1/members/me`` — erasure: 204. Repeating it on an erased member is 204 too (it
  finishes any clean-up a crash left behind); an unknown member is 404.
* ``DELETE /v1/admin/members/{member_id}?reason=`` — the same erasure requested at the service desk:
  admin only, audited (the entry is in the erasure's transaction).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from services.members.handlers.routes.common import Deps, caller, correlation_id, open_member
from services.members.handlers.routes.consents import consents_out
from services.members.logic.audit import audit_entry
from services.members.models.settings import MembersSettings
from shared import clock
from shared.auth import require_member, require_roles
from shared.errors import NotFound, Unprocessable
from shared.ids import is_ulid, new_ulid
from shared.observability import get_logger
from shared.settings import load
from shared.web import Path, Query, Response, Router

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.members.dal.consents import DynamoConsentRepository

router = Router()
# Export and erasure modules are imported by their routes (cold start: rare requests).
logger = get_logger("members")
PRODUCER = "members.api"
_HISTORY_PAGE = 100
OTHER_SERVICES_REQUESTED = (
    "Loyalty (purchases, points, coupons), tickets and campaigns add their parts within minutes: "
    "follow export.status_url for their download links."
)
ERASE_ROLES = ("admin",)


def _full_history(repo: DynamoConsentRepository, member_id: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page, token = repo.history(member_id, limit=_HISTORY_PAGE, next_token=token)
        entries += [
            {
                k: e.get(k)
                for k in (
                    "purpose",
                    "channel",
                    "granted",
                    "previous_granted",
                    "text_version",
                    "changed_at",
                    "source",
                )
            }
            for e in page
        ]
        if token is None:
            return entries


@router.post(
    "/v1/members/me/export",
    summary="Export the member's own data (PIPL Art. 45)",
    description="Profile in clear (the owner's), identities, consents with history, statistics and "
    "the last score. Other services add theirs later (see other_services in the document).",
    tags=["members", "privacy"],
)
def export_me() -> dict[str, Any]:
    from services.members.dal.exports import ExportStore  # noqa: PLC0415
    from services.members.logic.exports import plan_export_request  # noqa: PLC0415

    event = router.current_event.raw_event
    member_id = require_member(caller(event))
    deps = Deps.load()
    document = _members_part(deps, member_id)
    bucket = deps.settings.member_exports_bucket
    if bucket:
        export_id = new_ulid()
        request = plan_export_request(
            member_id, export_id, now=clock.now(), expected_parts=deps.settings.member_export_parts
        )
        ExportStore(deps.settings.table_name, bucket).record(
            request, correlation_id=correlation_id(event), producer=PRODUCER
        )
        document["export"] = {
            "export_id": export_id,
            "status_url": f"/v1/members/me/exports/{export_id}",
            "expected_parts": list(deps.settings.member_export_parts),
            "expires_at": request.item["expires_at"],
        }
        document["other_services"] = OTHER_SERVICES_REQUESTED
    logger.info("member data exported", extra={"member_id": member_id})
    return document


def _members_part(deps: Deps, member_id: str) -> dict[str, Any]:
    from services.members.dal.consents import DynamoConsentRepository  # noqa: PLC0415
    from services.members.logic.privacy import build_export  # noqa: PLC0415

    vault = deps.vault()
    try:
        profile, opened = open_member(deps, member_id, vault)
    finally:
        vault.forget()
    consents = DynamoConsentRepository(deps.settings.table_name)
    return build_export(
        member_id=member_id,
        profile=profile,
        opened=opened,
        identity_refs=deps.repo.identity_refs(member_id),
        consents=[c.model_dump() for c in consents_out(consents.current(member_id))],
        consent_history=_full_history(consents, member_id),
        stats=deps.repo.stats(member_id),
        generated_at=clock.now(),
    )


@router.get(
    "/v1/members/me/exports/<export_id>",
    summary="An export's status and download links (members' part inline)",
    description="The other services' parts as short-lived (15 min) download links, as they arrive; "
    "status partial until every expected part is there. Members' own part is rebuilt on each call.",
    tags=["members", "privacy"],
    responses={404: {"description": "No such export of this member (or expired)"}},
)
def get_export(export_id: Annotated[str, Path(min_length=26, max_length=26)]) -> dict[str, Any]:
    from services.members.dal.exports import LINK_SECONDS, ExportStore  # noqa: PLC0415
    from services.members.logic.exports import export_status  # noqa: PLC0415

    member_id = require_member(caller(router.current_event.raw_event))
    deps = Deps.load()
    bucket = deps.settings.member_exports_bucket
    if not bucket or not is_ulid(export_id):
        raise NotFound("export_not_found", "No such export.")
    store = ExportStore(deps.settings.table_name, bucket)
    request = store.request(member_id, export_id)
    if request is None or clock.parse_iso(str(request["expires_at"])) < clock.now():
        raise NotFound("export_not_found", "No such export.")
    present = store.parts(export_id)
    expected = [str(p) for p in request.get("expected_parts") or []]
    status, missing = export_status(expected, present)
    return {
        "export_id": export_id,
        "requested_at": request["requested_at"],
        "expires_at": request["expires_at"],
        "status": status,
        "missing": missing,
        "parts": {
            name: {"url": store.link(key), "expires_in": LINK_SECONDS} for name, key in present.items()
        },
        "members": _members_part(deps, member_id),
    }


@router.delete(
    "/v1/members/me",
    summary="Erase the member (PIPL Art. 47)",
    description="Crypto-shredding of the member's data key, lookup keys and consents removed, profile "
    "replaced by a tombstone, MemberErased published (loyalty and campaigns pseudonymise what they "
    "hold). 204; 404 for an unknown member. The erasure voids every token of the member: the same "
    "token again is refused (403) by the authorizer; staff's DELETE /v1/admin/members/{id} repeats it.",
    tags=["members", "privacy"],
    responses={204: {"description": "Erased"}, 404: {"description": "No such member"}},
)
def erase_me() -> Response[str]:
    event = router.current_event.raw_event
    member_id = require_member(caller(event))
    erase_member(member_id, requested_by="member", correlation_id=correlation_id(event))
    return Response(status_code=204, content_type="application/json", body="")


def erase_member(
    member_id: str,
    *,
    requested_by: Literal["member", "staff"],
    correlation_id: str,
    audit: dict[str, Any] | None = None,
) -> None:
    """The one erasure path (the member's own DELETE and staff's): the transaction when the member
    is active, then the idempotent clean-up; 404 for an unknown member."""
    from services.members.dal.exports import ExportStore  # noqa: PLC0415
    from services.members.dal.privacy import DynamoPrivacyRepository  # noqa: PLC0415
    from services.members.logic.exports import EXPORT_PREFIX  # noqa: PLC0415
    from services.members.logic.privacy import plan_erasure  # noqa: PLC0415

    settings = load(MembersSettings)
    repo = DynamoPrivacyRepository(settings.table_name)
    status = repo.profile_status(member_id)
    if status is None:
        raise NotFound("member_not_found", "No such member.")
    if status == "active":
        items = repo.partition(member_id)
        plan = plan_erasure(
            member_id,
            identity_refs=[i for i in items if str(i["sk"]).startswith("IDENT#")],
            consent_sks=[str(i["sk"]) for i in items if str(i["sk"]).startswith("CONSENT#")],
            history_entries=sum(1 for i in items if str(i["sk"]).startswith("CONSENTLOG#")),
            now=clock.now(),
            requested_by=requested_by,
            audit=audit,
        )
        if repo.erase(plan, correlation_id=correlation_id, producer=PRODUCER):
            logger.info("member erased", extra={"member_id": member_id, "requested_by": requested_by})
    if settings.member_exports_bucket:
        # The export parts first: finish() deletes the requests that name them.
        store = ExportStore(settings.table_name, settings.member_exports_bucket)
        for item in repo.partition(member_id):
            if str(item["sk"]).startswith(EXPORT_PREFIX):
                store.delete_parts(str(item["sk"]).removeprefix(EXPORT_PREFIX))
    cleaned = repo.finish(member_id)
    logger.info("erasure clean-up", extra={"member_id": member_id, "deleted": cleaned})


@router.delete(
    "/v1/admin/members/<member_id>",
    summary="Erase a member on their request, by staff (PIPL Art. 47)",
    description="For requests made at the service desk or in writing. admin only; reason (5-200 "
    "characters) required and written to the audit log in the erasure's own transaction. The same "
    "erasure as DELETE /v1/members/me (MemberErased with requested_by staff). 204; again 204.",
    tags=["admin-members", "privacy"],
    responses={204: {"description": "Erased"}, 404: {"description": "No such member"}},
)
def erase_by_staff(
    member_id: Annotated[str, Path(min_length=26, max_length=26)],
    reason: Annotated[str, Query(min_length=5, max_length=200)],
) -> Response[str]:
    event = router.current_event.raw_event
    staff = require_roles(caller(event), *ERASE_ROLES)
    if not is_ulid(member_id):
        raise Unprocessable(fields=[{"field": "member_id", "message": "Not a member id."}])
    audit = audit_entry(
        member_id=member_id,
        actor=staff,
        action="erase",
        fields=(),
        reason=reason,
        now=clock.now(),
        entry_id=new_ulid(),
    )
    erase_member(member_id, requested_by="staff", correlation_id=correlation_id(event), audit=audit)
    return Response(status_code=204, content_type="application/json", body="")
