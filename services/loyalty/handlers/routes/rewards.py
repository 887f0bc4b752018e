"""Rewards: the catalogue (loyalty operations), the member's view and redemptions.

| route | who |
|---|---|
| ``POST/GET /v1/admin/rewards``, ``PATCH/DELETE /v1/admin/rewards/{id}`` | admin, loyalty_ops |
| ``GET /v1/rewards`` | member |
| ``POST/GET /v1/members/me/redemptions`` | member |
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.loyalty.handlers.routes.wallet_deps import WalletDeps, correlation_id, parse_body
from services.loyalty.models.rewards import Redemption, RedemptionRequest, Reward, RewardIn, RewardPatch
from shared import clock
from shared.api import json_response
from shared.auth import principal_from_event, require_member, require_roles
from shared.observability import get_logger, get_metrics
from shared.web import Router

if TYPE_CHECKING:  # pragma: no cover - typing only; imported by the routes that use them
    from services.loyalty.dal.rewards import DynamoRewardRepository

router = Router()
logger = get_logger("loyalty")
metrics = get_metrics("loyalty")
WRITE_ROLES = ("admin", "loyalty_ops")


def _iso(value: Any) -> str | None:
    return clock.to_utc_iso(value) if value is not None else None


def reward_view(r: Reward) -> dict[str, Any]:
    data = r.model_dump(mode="json", exclude={"valid_from", "valid_until", "created_at"})
    data.update(valid_from=_iso(r.valid_from), valid_until=_iso(r.valid_until), created_at=_iso(r.created_at))
    return data


def redemption_view(r: Redemption, *, replayed: bool = False) -> dict[str, Any]:
    data = r.model_dump(mode="json", exclude={"redeemed_at", "returned_at"})
    data["redeemed_at"] = _iso(r.redeemed_at)
    data["returned_at"] = _iso(r.returned_at)
    data["replayed"] = replayed
    return data


def _catalogue_view(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**i, "valid_from": _iso(i["valid_from"]), "valid_until": _iso(i["valid_until"])} for i in items]


def _repo(deps: WalletDeps) -> DynamoRewardRepository:
    from services.loyalty.dal.rewards import DynamoRewardRepository  # noqa: PLC0415 - cold start

    return DynamoRewardRepository(deps.settings.table_name, deps.points(), deps.coupons())


def _staff() -> str:
    return (
        "staff:" + require_roles(principal_from_event(router.current_event.raw_event), *WRITE_ROLES).subject
    )


@router.post(
    "/v1/admin/rewards",
    request_body=RewardIn,
    summary="Add a reward to the catalogue",
    description="RewardIn; 409 reward_exists; 404 coupon_template_not_found for a coupon reward.",
    tags=["admin-rewards"],
)
def create_reward() -> Any:
    from services.loyalty.logic import rewards as logic  # noqa: PLC0415 - cold start

    actor = _staff()
    request = parse_body(RewardIn, router.current_event.raw_event)
    deps = WalletDeps.load()
    exists = request.template_id is not None and deps.coupons().get_template(request.template_id) is not None
    reward = logic.create_reward(request, _repo(deps), template_exists=exists, actor=actor, now=clock.now())
    return json_response(201, reward_view(reward))


@router.get("/v1/admin/rewards", summary="The whole catalogue with stock", tags=["admin-rewards"])
def list_rewards_admin() -> Any:
    from services.loyalty.logic import rewards as logic  # noqa: PLC0415 - cold start

    _staff()
    items = logic.catalogue(_repo(WalletDeps.load()), clock.now(), include_unavailable=True)
    return json_response(200, {"rewards": _catalogue_view(items)})


@router.patch(
    "/v1/admin/rewards/<reward_id>",
    request_body=RewardPatch,
    summary="Change a reward or add stock",
    tags=["admin-rewards"],
)
def patch_reward(reward_id: str) -> Any:
    from services.loyalty.logic import rewards as logic  # noqa: PLC0415 - cold start

    _staff()
    patch = parse_body(RewardPatch, router.current_event.raw_event)
    return json_response(200, reward_view(logic.update_reward(reward_id, patch, _repo(WalletDeps.load()))))


@router.delete("/v1/admin/rewards/<reward_id>", summary="Retire a reward", tags=["admin-rewards"])
def retire_reward(reward_id: str) -> Any:
    from services.loyalty.logic import rewards as logic  # noqa: PLC0415 - cold start

    _staff()
    return json_response(200, reward_view(logic.retire_reward(reward_id, _repo(WalletDeps.load()))))


@router.get("/v1/rewards", summary="Rewards a member can redeem now, with stock", tags=["member-rewards"])
def list_rewards() -> Any:
    from services.loyalty.logic import rewards as logic  # noqa: PLC0415 - cold start

    require_member(principal_from_event(router.current_event.raw_event))
    items = logic.catalogue(_repo(WalletDeps.load()), clock.now())
    return json_response(200, {"rewards": _catalogue_view(items)})


@router.post(
    "/v1/members/me/redemptions",
    request_body=RedemptionRequest,
    summary="Redeem a reward with points (stock and points in one transaction)",
    description="RedemptionRequest {request_id, reward_id}; a repeat of request_id answers 200 with the "
    "first redemption. 404 reward_not_found; 409 reward_unavailable, reward_out_of_stock, "
    "reward_limit_reached, insufficient_points, ledger_busy.",
    tags=["member-rewards"],
)
def redeem() -> Any:
    from services.loyalty.logic import rewards as logic  # noqa: PLC0415 - cold start

    member_id = require_member(principal_from_event(router.current_event.raw_event))
    request = parse_body(RedemptionRequest, router.current_event.raw_event)
    result = logic.redeem_reward(
        request,
        member_id,
        _repo(WalletDeps.load()),
        now=clock.now(),
        correlation_id=correlation_id(router.current_event.raw_event),
    )
    assert result.redemption is not None
    if not result.replayed:
        logger.info("reward redeemed", extra={"reward_id": request.reward_id})
        metrics.add_metric(name="RewardRedeemed", unit="Count", value=1)
    return json_response(
        200 if result.replayed else 201, redemption_view(result.redemption, replayed=result.replayed)
    )


@router.get("/v1/members/me/redemptions", summary="The member's redemptions", tags=["member-rewards"])
def my_redemptions() -> Any:
    member_id = require_member(principal_from_event(router.current_event.raw_event))
    items = _repo(WalletDeps.load()).redemptions(member_id)
    return json_response(200, {"redemptions": [redemption_view(r) for r in items]})
