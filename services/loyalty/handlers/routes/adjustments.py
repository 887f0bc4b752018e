"""Points adjustments (four eyes): request with a reason, approve or reject by someone else.

Request (``POST /v1/admin/points-adjustments``, ``POST /v1/admin/members/{id}/points-adjustments``)
and read (``GET /v1/admin/points-adjustments`` — pending, oldest first — and ``.../{id}``): admin,
loyalty_ops, service_agent. Decide (``POST .../{id}/approve``, ``.../reject``): admin, loyalty_ops;
approving needs someone other than the requester.

A request with ``reverses`` (one of the member's movement ids) instead of ``points`` asks for that
movement's reversal (logic/reversals.py): 404 ``movement_not_found``, 409 ``movement_is_reversal``
/ ``movement_already_reversed``, 422 ``movement_not_reversible`` — checked when asked and again
when approved. Reversing a reward's redemption returns the reward too (stock, the member's count,
an unused coupon revoked); 409 ``reward_coupon_used`` when its coupon was used.

A request retried with its ``request_id`` answers the adjustment stored the first time (200), also
once it was decided; a reversal's ``request_id`` reused for another member or movement is 409
``request_id_reused``. An erased member's adjustments: 409 ``member_erased`` for a request, an
approval or a rejection (a pending one is closed, no event names the member).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.loyalty.handlers.routes.wallet_deps import WalletDeps, correlation_id, parse_body
from services.loyalty.models.adjustments import (
    Adjustment,
    AdjustmentRequest,
    MemberAdjustmentRequest,
    RejectRequest,
)
from shared import clock
from shared.api import json_response
from shared.auth import principal_from_event, require_roles
from shared.errors import Unprocessable
from shared.ids import is_ulid, new_ulid
from shared.observability import get_logger, get_metrics
from shared.web import Router

if TYPE_CHECKING:  # pragma: no cover - typing only; imported by the routes that use them
    from services.loyalty.dal.adjustments import DynamoAdjustmentRepository

router = Router()
logger = get_logger("loyalty")
metrics = get_metrics("loyalty")
REQUEST_ROLES = ("admin", "loyalty_ops", "service_agent")
DECIDE_ROLES = ("admin", "loyalty_ops")


def view(a: Adjustment) -> dict[str, Any]:
    data = a.model_dump(mode="json", exclude={"requested_at", "decided_at"})
    data["requested_at"] = clock.to_utc_iso(a.requested_at)
    data["decided_at"] = clock.to_utc_iso(a.decided_at) if a.decided_at else None
    return data


def _subject(*roles: str) -> str:
    return require_roles(principal_from_event(router.current_event.raw_event), *roles).subject


def _repo(deps: WalletDeps) -> DynamoAdjustmentRepository:
    from services.loyalty.dal.adjustments import DynamoAdjustmentRepository  # noqa: PLC0415 - cold start

    return DynamoAdjustmentRepository(deps.settings.table_name, deps.points())


def _create(member_id: str, request: MemberAdjustmentRequest | AdjustmentRequest) -> Any:
    from services.loyalty.logic import adjustments as logic  # noqa: PLC0415 - cold start

    requested_by = _subject(*REQUEST_ROLES)
    deps = WalletDeps.load()
    request_key = f"staff#{requested_by}#{request.request_id}" if request.request_id else None
    if request.reverses is not None:
        repo = _repo(deps)
        created = logic.request_reversal(
            member_id=member_id,
            movement_id=request.reverses,
            reason=request.reason,
            requested_by=requested_by,
            repo=repo,
            ledger=deps.points(),
            now=clock.now(),
            new_id=new_ulid,
            request_key=request_key,
            returns=repo.rewards(),
        )
    else:
        assert request.points is not None  # the model wants exactly one of the two
        created = logic.request_adjustment(
            member_id=member_id,
            points=request.points,
            reason=request.reason,
            requested_by=requested_by,
            repo=_repo(deps),
            now=clock.now(),
            new_id=new_ulid,
            request_key=request_key,
        )
    if not created.replayed:
        metrics.add_metric(name="PointsAdjustmentRequested", unit="Count", value=1)
    return json_response(200 if created.replayed else 201, view(created.adjustment))


@router.post(
    "/v1/admin/points-adjustments",
    request_body=AdjustmentRequest,
    summary="Request a points adjustment (applied only after a second person approves)",
    description=(
        "AdjustmentRequest {member_id, points (signed, not 0) | reverses (a movement id of the member's), "
        "reason, request_id?}. 200: a retry with the same request_id (the stored adjustment, even once "
        "decided); 409 member_erased. With reverses: 404 movement_not_found, 409 movement_is_reversal / "
        "movement_already_reversed / reward_coupon_used (a redemption whose coupon was used) / "
        "request_id_reused, 422 movement_not_reversible; a redemption's reversal also returns the reward "
        "(stock, per-member count, an unused coupon revoked)."
    ),
    tags=["admin-points"],
)
def create_adjustment() -> Any:
    request = parse_body(AdjustmentRequest, router.current_event.raw_event)
    return _create(request.member_id, request)


@router.post(
    "/v1/admin/members/<member_id>/points-adjustments",
    request_body=MemberAdjustmentRequest,
    summary="Request a points adjustment for this member",
    description=(
        "{points (signed, not 0) | reverses (a movement id of the member's), reason, request_id?}; "
        "the same answers as POST /v1/admin/points-adjustments."
    ),
    tags=["admin-points"],
)
def create_member_adjustment(member_id: str) -> Any:
    if not is_ulid(member_id):
        raise Unprocessable(fields=[{"field": "member_id", "message": "Not a member id."}])
    request = parse_body(MemberAdjustmentRequest, router.current_event.raw_event)
    return _create(member_id, request)


@router.get(
    "/v1/admin/points-adjustments", summary="Pending adjustments, oldest first", tags=["admin-points"]
)
def pending() -> Any:
    _subject(*REQUEST_ROLES)
    items = _repo(WalletDeps.load()).pending(limit=100)
    return json_response(200, {"adjustments": [view(a) for a in items]})


@router.get("/v1/admin/points-adjustments/<adjustment_id>", summary="One adjustment", tags=["admin-points"])
def get_adjustment(adjustment_id: str) -> Any:
    from services.loyalty.logic.wallet_errors import AdjustmentNotFound  # noqa: PLC0415 - cold start

    _subject(*REQUEST_ROLES)
    found = _repo(WalletDeps.load()).get(adjustment_id)
    if found is None:
        raise AdjustmentNotFound()
    return json_response(200, view(found))


@router.post(
    "/v1/admin/points-adjustments/<adjustment_id>/approve",
    summary="Approve (second person): the points move, PointsAdjusted is published",
    description=(
        "403 second_approver_required for the requester; 409 adjustment_not_pending (the approver's "
        "own retry answers the applied adjustment again); 409 member_erased (the member was erased: "
        "the adjustment is closed, nothing moves); a reversal: 409 movement_already_reversed, "
        "reward_coupon_used (nothing written, the adjustment stays pending)."
    ),
    tags=["admin-points"],
)
def approve(adjustment_id: str) -> Any:
    from services.loyalty.logic import adjustments as logic  # noqa: PLC0415 - cold start

    approver = _subject(*DECIDE_ROLES)
    applied = logic.approve_adjustment(
        adjustment_id,
        approver,
        _repo(WalletDeps.load()),
        now=clock.now(),
        correlation_id=correlation_id(router.current_event.raw_event),
    )
    logger.info("points adjustment applied", extra={"adjustment_id": adjustment_id, "points": applied.points})
    metrics.add_metric(name="PointsAdjusted", unit="Count", value=1)
    return json_response(200, view(applied))


@router.post(
    "/v1/admin/points-adjustments/<adjustment_id>/reject",
    request_body=RejectRequest,
    summary="Reject a pending adjustment (with a reason)",
    description="409 adjustment_not_pending; 409 member_erased (the member was erased: closed, no event).",
    tags=["admin-points"],
)
def reject(adjustment_id: str) -> Any:
    from services.loyalty.logic import adjustments as logic  # noqa: PLC0415 - cold start

    rejecter = _subject(*DECIDE_ROLES)
    body = parse_body(RejectRequest, router.current_event.raw_event)
    rejected = logic.reject_adjustment(
        adjustment_id,
        rejecter,
        body.reason,
        _repo(WalletDeps.load()),
        now=clock.now(),
        correlation_id=correlation_id(router.current_event.raw_event),
    )
    return json_response(200, view(rejected))
