"""Receipt-photo claims: members submit, staff review.

``POST/GET /v1/members/me/receipts`` (member). ``GET /v1/admin/receipts`` (the review queue, oldest
first), ``POST /v1/admin/receipts/{id}/approve`` (optional corrected ``amount_cents``),
``POST /v1/admin/receipts/{id}/reject`` (``reason``), ``GET/PUT /v1/admin/receipt-settings``:
admin, loyalty_ops, service_agent review; admin, loyalty_ops change the settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.loyalty.handlers.routes.wallet_deps import WalletDeps, correlation_id, parse_body
from services.loyalty.models.receipts import (
    ReceiptClaim,
    ReceiptClaimIn,
    ReceiptDecision,
    ReceiptRejection,
    ReceiptSettings,
)
from shared import clock
from shared.api import json_response
from shared.auth import principal_from_event, require_member, require_roles
from shared.ids import new_ulid
from shared.observability import get_logger, get_metrics
from shared.web import Router

if TYPE_CHECKING:  # pragma: no cover - typing only; imported by the routes that use them
    from services.loyalty.dal.receipts import DynamoReceiptRepository

router = Router()
logger = get_logger("loyalty")
metrics = get_metrics("loyalty")
REVIEW_ROLES = ("admin", "loyalty_ops", "service_agent")
SETTINGS_ROLES = ("admin", "loyalty_ops")


def view(c: ReceiptClaim, *, staff: bool = False) -> dict[str, Any]:
    data = c.model_dump(mode="json", exclude={"purchased_at", "submitted_at", "decided_at"})
    for name in ("purchased_at", "submitted_at", "decided_at"):
        value = getattr(c, name)
        data[name] = clock.to_utc_iso(value) if value else None
    if not staff:
        data.pop("decided_by", None)  # staff identities are not shown to members
    return data


def _repo(deps: WalletDeps) -> DynamoReceiptRepository:
    from services.loyalty.dal.receipts import DynamoReceiptRepository  # noqa: PLC0415 - cold start

    return DynamoReceiptRepository(deps.settings.table_name, deps.points())


def _staff(*roles: str) -> str:
    return "staff:" + require_roles(principal_from_event(router.current_event.raw_event), *roles).subject


@router.post(
    "/v1/members/me/receipts",
    request_body=ReceiptClaimIn,
    summary="Claim points for a till receipt photo",
    description="ReceiptClaimIn. 201 approved at once (known store, below the threshold) or pending "
    "review; 409 receipt_duplicate (store + machine + receipt number claimed before); 422 "
    "receipt_too_old, unknown_store (not in the mall's store directory) or validation_failed.",
    tags=["member-receipts"],
)
def submit() -> Any:
    from services.loyalty.logic import receipts as logic  # noqa: PLC0415 - cold start

    member_id = require_member(principal_from_event(router.current_event.raw_event))
    request = parse_body(ReceiptClaimIn, router.current_event.raw_event)
    deps = WalletDeps.load()
    claim = logic.submit_receipt(
        request,
        member_id,
        _repo(deps),
        now=clock.now(),
        new_id=new_ulid,
        points_for=deps.earning_for(member_id),
        correlation_id=correlation_id(router.current_event.raw_event),
        stores=deps.store_check(),
    )
    metrics.add_metric(
        name="ReceiptAutoApproved" if claim.auto_approved else "ReceiptQueued", unit="Count", value=1
    )
    return json_response(201, view(claim))


@router.get("/v1/members/me/receipts", summary="The member's receipt claims", tags=["member-receipts"])
def mine() -> Any:
    member_id = require_member(principal_from_event(router.current_event.raw_event))
    return json_response(200, {"receipts": [view(c) for c in _repo(WalletDeps.load()).of_member(member_id)]})


@router.get(
    "/v1/admin/receipts", summary="Receipt claims waiting for review, oldest first", tags=["admin-receipts"]
)
def queue() -> Any:
    _staff(*REVIEW_ROLES)
    return json_response(
        200, {"receipts": [view(c, staff=True) for c in _repo(WalletDeps.load()).pending(100)]}
    )


@router.get("/v1/admin/receipts/<receipt_id>", summary="One receipt claim", tags=["admin-receipts"])
def get_claim(receipt_id: str) -> Any:
    from services.loyalty.logic.wallet_errors import ReceiptNotFound  # noqa: PLC0415 - cold start

    _staff(*REVIEW_ROLES)
    found = _repo(WalletDeps.load()).get(receipt_id)
    if found is None:
        raise ReceiptNotFound()
    return json_response(200, view(found, staff=True))


@router.post(
    "/v1/admin/receipts/<receipt_id>/approve",
    request_body=ReceiptDecision | None,
    summary="Approve a receipt claim: its points are credited (audited)",
    tags=["admin-receipts"],
)
def approve(receipt_id: str) -> Any:
    from services.loyalty.logic import receipts as logic  # noqa: PLC0415 - cold start
    from services.loyalty.logic.wallet_errors import ReceiptNotFound  # noqa: PLC0415 - cold start

    actor = _staff(*REVIEW_ROLES)
    raw = router.current_event.raw_event
    decision = parse_body(ReceiptDecision, raw) if raw.get("body") else ReceiptDecision()
    deps = WalletDeps.load()
    repo = _repo(deps)
    claim = repo.get(receipt_id)
    if claim is None:
        raise ReceiptNotFound()
    done = logic.approve_receipt(
        receipt_id,
        repo,
        amount_cents=decision.amount_cents,
        actor=actor,
        now=clock.now(),
        points_for=deps.earning_for(claim.member_id),
        correlation_id=correlation_id(raw),
    )
    metrics.add_metric(name="ReceiptApproved", unit="Count", value=1)
    return json_response(200, view(done, staff=True))


@router.post(
    "/v1/admin/receipts/<receipt_id>/reject",
    request_body=ReceiptRejection,
    summary="Reject a receipt claim with a reason (audited)",
    tags=["admin-receipts"],
)
def reject(receipt_id: str) -> Any:
    from services.loyalty.logic import receipts as logic  # noqa: PLC0415 - cold start

    actor = _staff(*REVIEW_ROLES)
    body = parse_body(ReceiptRejection, router.current_event.raw_event)
    done = logic.reject_receipt(
        receipt_id, _repo(WalletDeps.load()), reason=body.reason, actor=actor, now=clock.now()
    )
    metrics.add_metric(name="ReceiptRejected", unit="Count", value=1)
    return json_response(200, view(done, staff=True))


@router.get("/v1/admin/receipt-settings", summary="Receipt auto-approval settings", tags=["admin-receipts"])
def get_settings() -> Any:
    _staff(*REVIEW_ROLES)
    return json_response(200, _repo(WalletDeps.load()).settings().model_dump())


@router.put(
    "/v1/admin/receipt-settings",
    request_body=ReceiptSettings,
    summary="Change receipt auto-approval settings",
    tags=["admin-receipts"],
)
def put_settings() -> Any:
    actor = _staff(*SETTINGS_ROLES)
    settings = parse_body(ReceiptSettings, router.current_event.raw_event)
    _repo(WalletDeps.load()).put_settings(settings, actor)
    return json_response(200, settings.model_dump())
