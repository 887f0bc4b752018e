"""Coupons: templates (loyalty operations), staff issue and till redemption, the member's wallet.

| route | who |
|---|---|
| ``POST/GET /v1/admin/coupon-templates`` | admin, loyalty_ops (list: marketer too) |
| ``GET/PATCH/DELETE /v1/admin/coupon-templates/{id}`` | admin, loyalty_ops (read: marketer too) |
| ``POST /v1/admin/coupons`` (issue by hand, audited) | admin, loyalty_ops, service_agent |
| ``POST /v1/admin/coupons/redeem`` | admin, loyalty_ops, store_staff |
| ``GET /v1/members/me/coupons`` | member |
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import (
    Field,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from services.loyalty.handlers.routes.query import (
    MAX_PAGE,
    PageQuery,
    one_of,
    parse_query,
)
from services.loyalty.handlers.routes.wallet_deps import WalletDeps, correlation_id, parse_body
from services.loyalty.models.coupons import (
    Coupon,
    CouponTemplate,
    CouponTemplateIn,
    CouponTemplatePatch,
    RedeemRequest,
    StaffIssueRequest,
)
from shared import clock
from shared.api import json_response
from shared.auth import principal_from_event, require_member, require_roles
from shared.ids import new_ulid
from shared.observability import get_logger, get_metrics
from shared.web import Router

router = Router()
logger = get_logger("loyalty")
metrics = get_metrics("loyalty")

WRITE_ROLES = ("admin", "loyalty_ops")
READ_ROLES = ("admin", "loyalty_ops", "marketer")
ISSUE_ROLES = ("admin", "loyalty_ops", "service_agent")
REDEEM_ROLES = ("admin", "loyalty_ops", "store_staff")
WalletStatus = Literal["issued", "redeemed", "expired", "revoked"]
_STATUSES: tuple[str, ...] = get_args(WalletStatus)
DEFAULT_PAGE = 50


class WalletQuery(PageQuery):
    """The query of ``GET /v1/members/me/coupons``: ``wallet`` validates it with this model
    (``parse_query``) and the OpenAPI document describes it (``query=``). Other parameters are
    ignored; an empty value counts as absent."""

    status: WalletStatus | None = Field(
        None, description="Only coupons in this status (the page may then hold fewer than `limit`)."
    )
    limit: int = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="Coupons read for this page.")

    @field_validator("status", mode="wrap")
    @classmethod
    def _status(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return one_of(value, handler, _STATUSES)


def _iso(value: Any) -> str | None:
    return clock.to_utc_iso(value) if value is not None else None


def template_view(
    t: CouponTemplate, remaining: tuple[int | None, int | None] | None = None
) -> dict[str, Any]:
    data = t.model_dump(mode="json", exclude={"valid_from", "valid_until", "created_at", "budget_shards"})
    data.update(valid_from=_iso(t.valid_from), valid_until=_iso(t.valid_until), created_at=_iso(t.created_at))
    if remaining is not None:
        data["remaining_count"], data["remaining_budget_cents"] = remaining
    return data


def coupon_view(c: Coupon, now: Any) -> dict[str, Any]:
    from services.loyalty.logic import coupons as logic  # noqa: PLC0415 - cold start

    return {
        "coupon_id": c.coupon_id,
        "code": c.code,
        "template_id": c.template_id,
        "name": c.name,
        "kind": c.kind,
        "amount_off_cents": c.amount_off_cents,
        "percent_off": c.percent_off,
        "max_discount_cents": c.max_discount_cents,
        "face_value_cents": c.face_value_cents,
        "parking_minutes": c.parking_minutes,
        "min_spend_cents": c.min_spend_cents,
        "store_ids": list(c.store_ids),
        "tenant_ids": list(c.tenant_ids),
        "valid_from": _iso(c.valid_from),
        "valid_until": _iso(c.valid_until),
        "status": logic.effective_status(c, now),
        "issued_at": _iso(c.issued_at),
        "redeemed_at": _iso(c.redeemed_at),
        "discount_cents": c.discount_cents,
    }


def _staff(*roles: str) -> str:
    principal = require_roles(principal_from_event(router.current_event.raw_event), *roles)
    return f"staff:{principal.subject}"


@router.post(
    "/v1/admin/coupon-templates",
    request_body=CouponTemplateIn,
    summary="Create a coupon template",
    description="CouponTemplateIn (services/loyalty/models/coupons.py). 409 coupon_template_exists.",
    tags=["admin-coupons"],
)
def create_template() -> Any:
    from services.loyalty.logic import coupons as logic  # noqa: PLC0415 - cold start

    actor = _staff(*WRITE_ROLES)
    request = parse_body(CouponTemplateIn, router.current_event.raw_event)
    deps = WalletDeps.load()
    template = logic.create_template(
        request, deps.coupons(), actor=actor, now=clock.now(), shards=deps.settings.coupon_budget_shards
    )
    return json_response(201, template_view(template))


@router.get("/v1/admin/coupon-templates", summary="List coupon templates", tags=["admin-coupons"])
def list_templates() -> Any:
    _staff(*READ_ROLES)
    templates = WalletDeps.load().coupons().list_templates()
    return json_response(200, {"templates": [template_view(t) for t in templates]})


@router.get(
    "/v1/admin/coupon-templates/<template_id>",
    summary="A coupon template with its remaining budget and count",
    tags=["admin-coupons"],
)
def get_template(template_id: str) -> Any:
    from services.loyalty.logic.wallet_errors import TemplateNotFound  # noqa: PLC0415 - cold start

    _staff(*READ_ROLES)
    repo = WalletDeps.load().coupons()
    template = repo.get_template(template_id)
    if template is None:
        raise TemplateNotFound()
    return json_response(200, template_view(template, repo.remaining(template)))


@router.patch(
    "/v1/admin/coupon-templates/<template_id>",
    request_body=CouponTemplatePatch,
    summary="Change a coupon template (name, status, end, per-member limit; raise budget or limit)",
    tags=["admin-coupons"],
)
def patch_template(template_id: str) -> Any:
    from services.loyalty.logic import coupons as logic  # noqa: PLC0415 - cold start

    actor = _staff(*WRITE_ROLES)
    patch = parse_body(CouponTemplatePatch, router.current_event.raw_event)
    repo = WalletDeps.load().coupons()
    template = logic.update_template(template_id, patch, repo, actor=actor)
    return json_response(200, template_view(template, repo.remaining(template)))


@router.delete(
    "/v1/admin/coupon-templates/<template_id>",
    summary="Retire a coupon template (issued coupons stay valid; no new issues)",
    tags=["admin-coupons"],
)
def retire_template(template_id: str) -> Any:
    from services.loyalty.logic import coupons as logic  # noqa: PLC0415 - cold start

    actor = _staff(*WRITE_ROLES)
    template = logic.retire_template(template_id, WalletDeps.load().coupons(), actor=actor)
    return json_response(200, template_view(template))


@router.post(
    "/v1/admin/coupons",
    request_body=StaffIssueRequest,
    summary="Issue a coupon to a member by hand (reason manual; audited)",
    description="StaffIssueRequest; idempotent on request_id. 404 unknown template; 409 "
    "coupon_template_not_issuable, coupon_limit_reached, coupon_budget_exhausted, member_erased.",
    tags=["admin-coupons"],
)
def staff_issue() -> Any:
    from services.loyalty.logic import coupons as logic  # noqa: PLC0415 - cold start
    from services.loyalty.logic.wallet_errors import (  # noqa: PLC0415 - cold start
        CouponBudgetExhausted,
        CouponLimitReached,
        MemberErasedError,
        TemplateNotFound,
        TemplateNotIssuable,
    )

    actor = _staff(*ISSUE_ROLES)
    request = parse_body(StaffIssueRequest, router.current_event.raw_event)
    deps = WalletDeps.load()
    repo = deps.coupons()
    if repo.get_template(request.template_id) is None:
        raise TemplateNotFound()
    answer = logic.issue_coupon(
        member_id=request.member_id,
        template_id=request.template_id,
        reason="manual",
        campaign_id=None,
        context=logic.IssueContext(
            request_id=f"staff:{request.request_id}",
            correlation_id=correlation_id(router.current_event.raw_event),
            producer="loyalty.api",
            actor=actor,
        ),
        repo=repo,
        now=clock.now(),
        tz=deps.tz,
        new_id=new_ulid,
        pseudonymise=deps.pseudonymise,
    )
    if not answer.issued:
        raise {
            "unknown_template": TemplateNotIssuable,
            "budget_exhausted": CouponBudgetExhausted,
            "limit_reached": CouponLimitReached,
            "member_erased": MemberErasedError,
        }[str(answer.reason)]()
    return json_response(200 if answer.replayed else 201, answer.as_contract())


@router.post(
    "/v1/admin/coupons/redeem",
    request_body=RedeemRequest,
    summary="Redeem a member's coupon at the till (once, in its stores and dates)",
    description="RedeemRequest: the code, the member verified at the till (member code), store, "
    "tenant and purchase amount. 404 coupon_not_found; 403 coupon_not_yours; 409 "
    "coupon_already_redeemed, coupon_expired, coupon_not_yet_valid; 422 coupon_not_valid_here, "
    "coupon_minimum_spend_not_met, unknown_store, store_inactive, store_tenant_mismatch (the mall's "
    "store directory; a till that sends no tenant_id redeems under its store's tenant).",
    tags=["admin-coupons"],
)
def redeem() -> Any:
    from services.loyalty.handlers.ledger_deps import store_check  # noqa: PLC0415 - cold start
    from services.loyalty.logic import coupons as logic  # noqa: PLC0415 - cold start
    from shared.events.contracts import CouponRedeemed  # noqa: PLC0415 - cold start

    actor = _staff(*REDEEM_ROLES)
    request = parse_body(RedeemRequest, router.current_event.raw_event)
    deps = WalletDeps.load()
    now = clock.now()

    def event(coupon: Coupon, discount: int) -> CouponRedeemed:
        return CouponRedeemed(
            coupon_id=coupon.coupon_id,
            template_id=coupon.template_id,
            member_id=coupon.member_id,
            campaign_id=coupon.campaign_id,
            store_id=request.store_id,
            redeemed_at=now,
            discount_cents=discount,
        )

    done = logic.redeem_coupon(
        request,
        deps.coupons(),
        now=now,
        actor=actor,
        correlation_id=correlation_id(router.current_event.raw_event),
        make_event=event,
        stores=store_check(deps.settings),
    )
    logger.info(
        "coupon redeemed",
        extra={"coupon_id": done.coupon.coupon_id, "store_id": request.store_id, "replayed": done.replayed},
    )
    if not done.replayed:
        metrics.add_metric(name="CouponRedeemed", unit="Count", value=1)
    return json_response(
        200,
        {
            "coupon_id": done.coupon.coupon_id,
            "template_id": done.coupon.template_id,
            "member_id": done.coupon.member_id,
            "store_id": done.coupon.redeemed_store_id or request.store_id,
            "discount_cents": done.discount_cents,
            "redeemed_at": clock.to_utc_iso(done.redeemed_at),
            "funded_by": done.coupon.funded_by,
            "funder_tenant_id": done.coupon.funder_tenant_id,
            "replayed": done.replayed,
        },
    )


@router.get(
    "/v1/members/me/coupons",
    summary="The member's coupon wallet, newest first (?status, limit, cursor)",
    description=f"Paginated: limit 1-{MAX_PAGE} (default {DEFAULT_PAGE}), cursor = next_cursor of the "
    "previous page (null on the last page). With status, a page holds the matching coupons of the "
    "page read, so it may be shorter than limit while next_cursor is not null.",
    tags=["member-coupons"],
    query=WalletQuery,
)
def wallet() -> Any:
    member_id = require_member(principal_from_event(router.current_event.raw_event))
    query = parse_query(WalletQuery, router.current_event.raw_event)
    now = clock.now()
    page, next_cursor = (
        WalletDeps.load().coupons().wallet_page(member_id, limit=query.limit, after=query.cursor)
    )
    coupons = [coupon_view(c, now) for c in page]
    if query.status is not None:
        coupons = [c for c in coupons if c["status"] == query.status]
    return json_response(200, {"coupons": coupons, "next_cursor": next_cursor})
