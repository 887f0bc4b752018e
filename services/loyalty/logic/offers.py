"""Contract A: coupons and points handed out by other services (campaigns, journeys, tickets).

One entry point, :func:`handle_offer`, takes the invoke payload and returns the contract's answer.
A malformed payload answers ``{"error": {"code": "validation_failed", ...}}`` rather than failing
the invocation: the caller (a Step Functions task, a dispatcher) can branch on it, and a retry of
the same bad payload could never succeed anyway. Refusals (``issued: false``) are answers too.
Idempotent on ``request_id``: the same id gives the same answer, with ``replayed: true``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Protocol

from pydantic import ValidationError

from services.loyalty.logic.coupons import CouponRepository, IssueContext, issue_coupon
from services.loyalty.models.offers import (
    AwardPointsAction,
    DescribeTemplateAction,
    IssueCouponAction,
    ListRewardsAction,
    OfferRequest,
)
from shared.api import validation_fields
from shared.errors import error_body


@dataclass(frozen=True)
class Award:
    movement_id: str
    balance_after: int
    replayed: bool


class PointsAwarder(Protocol):
    def award(self, action: AwardPointsAction, *, correlation_id: str) -> Award | None:
        """Credit ``action.points`` once per ``action.request_id`` (through the ledger); None when
        the member is erased."""


class RewardsLister(Protocol):
    def list_for_offers(self, now: datetime) -> list[dict[str, Any]]:
        """``[{"reward_id", "name", "points_cost", "in_stock"}]`` of rewards available now."""


@dataclass(frozen=True)
class OfferDeps:
    coupons: CouponRepository
    rewards: RewardsLister
    points: PointsAwarder
    now: datetime
    tz: tzinfo
    new_id: Callable[[], str]
    pseudonymise: Callable[[str], str] | None
    correlation_id: str


def handle_offer(payload: Mapping[str, Any], deps: OfferDeps) -> dict[str, Any]:  # noqa: PLR0911 - one per action and outcome
    try:
        action = OfferRequest.model_validate({"request": dict(payload)}).request
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        for e in errors:  # report "member_id", not "request.issue_coupon.member_id"
            e["loc"] = tuple(e.get("loc", ()))[2:] or ("action",)
        return error_body(
            "validation_failed", "The offer request did not pass validation.", validation_fields(errors)
        )
    if isinstance(action, IssueCouponAction):
        answer = issue_coupon(
            member_id=action.member_id,
            template_id=action.template_id,
            reason=action.reason,
            campaign_id=action.campaign_id,
            context=IssueContext(
                request_id=f"offer:{action.request_id}",
                correlation_id=deps.correlation_id,
                producer="loyalty.offers",
            ),
            repo=deps.coupons,
            now=deps.now,
            tz=deps.tz,
            new_id=deps.new_id,
            pseudonymise=deps.pseudonymise,
        )
        return answer.as_contract()
    if isinstance(action, AwardPointsAction):
        award = deps.points.award(action, correlation_id=deps.correlation_id)
        if award is None:
            return {"awarded": False, "reason": "member_erased"}
        return {
            "awarded": True,
            "movement_id": award.movement_id,
            "balance_after": award.balance_after,
            "replayed": award.replayed,
        }
    if isinstance(action, DescribeTemplateAction):
        template = deps.coupons.get_template(action.template_id)
        if template is None:
            return {"exists": False, "kind": None, "valid_days": None, "status": None}
        return {
            "exists": True,
            "kind": template.kind,
            "valid_days": template.valid_days,
            "status": template.status,
        }
    assert isinstance(action, ListRewardsAction)
    return {"rewards": deps.rewards.list_for_offers(deps.now)}
