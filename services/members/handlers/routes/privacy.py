"""Export and erasure routes of MembersApiFunction (included by services/members/handlers/api.py).

* ``POST /v1/members/me/export`` — the member's own data as JSON (services/members/logic/privacy.py).
* ``DELETE /v1/members/me`` — erasure: 204. Repeating it on an erased member is 204 too (it
  finishes any clean-up a crash left behind); an unknown member is 404.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from services.members.dal.consents import DynamoConsentRepository
from services.members.dal.privacy import DynamoPrivacyRepository
from services.members.handlers.routes.common import Deps, caller, correlation_id, open_member
from services.members.handlers.routes.consents import consents_out
from services.members.logic.privacy import build_export, plan_erasure
from services.members.models.settings import MembersSettings
from shared import clock
from shared.auth import require_member
from shared.errors import NotFound
from shared.observability import get_logger
from shared.settings import load

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves it untyped
logger = get_logger("members")
PRODUCER = "members.api"
_HISTORY_PAGE = 100


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
    member_id = require_member(caller(router.current_event.raw_event))
    deps = Deps.load()
    vault = deps.vault()
    try:
        profile, opened = open_member(deps, member_id, vault)
    finally:
        vault.forget()
    consents = DynamoConsentRepository(deps.settings.table_name)
    document = build_export(
        member_id=member_id,
        profile=profile,
        opened=opened,
        identity_refs=deps.repo.identity_refs(member_id),
        consents=[c.model_dump() for c in consents_out(consents.current(member_id))],
        consent_history=_full_history(consents, member_id),
        stats=deps.repo.stats(member_id),
        generated_at=clock.now(),
    )
    logger.info("member data exported", extra={"member_id": member_id})
    return document


@router.delete(
    "/v1/members/me",
    summary="Erase the member (PIPL Art. 47)",
    description="Crypto-shredding of the member's data key, lookup keys and consents removed, profile "
    "replaced by a tombstone, MemberErased published (loyalty and campaigns pseudonymise what they "
    "hold). 204; again 204 when repeated; 404 for an unknown member.",
    tags=["members", "privacy"],
    responses={204: {"description": "Erased"}, 404: {"description": "No such member"}},
)
def erase_me() -> Response[str]:
    event = router.current_event.raw_event
    member_id = require_member(caller(event))
    repo = DynamoPrivacyRepository(load(MembersSettings).table_name)
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
        )
        if repo.erase(plan, correlation_id=correlation_id(event), producer=PRODUCER):
            logger.info("member erased", extra={"member_id": member_id})
    cleaned = repo.finish(member_id)
    logger.info("erasure clean-up", extra={"member_id": member_id, "deleted": cleaned})
    return Response(status_code=204, content_type="application/json", body="")
