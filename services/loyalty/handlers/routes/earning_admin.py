"""Earning rules, tiers and members' manual tier floors (loyalty operations).

Writes: admin, loyalty_ops; reads (and the dry run): also marketer, service_agent.

* ``POST/GET /v1/admin/earning-rules``, ``GET/PUT/DELETE /v1/admin/earning-rules/{id}``
* ``POST /v1/admin/earning-rules/dry-run`` — what a purchase would earn, and why
* ``GET /v1/admin/tiers`` (program + tiers), ``PUT /v1/admin/tiers`` (the program),
  ``PUT/DELETE /v1/admin/tiers/{id}``
* ``PUT /v1/admin/members/{id}/tier-floor`` — the manual floor (reason required, audited; writes
  only)

Changes apply to purchases within ``LOYALTY_CONFIG_CACHE_SECONDS`` (the configuration is cached
per container).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from services.loyalty.handlers.routes.ledger_common import (
    ADMIN_READ_ROLES,
    ADMIN_WRITE_ROLES,
    balance_view,
    parse_json,
)
from services.loyalty.models.earning import (
    DryRunRequest,
    EarningRule,
    EarningRuleIn,
    Tier,
    TierFloorRequest,
    TierIn,
    TierProgram,
)
from services.loyalty.models.settings import LoyaltyApiSettings
from shared import clock
from shared.api import json_response
from shared.auth import principal_from_event, require_roles
from shared.errors import Conflict, NotFound, Unprocessable
from shared.ids import is_ulid, new_ulid
from shared.observability import get_logger
from shared.settings import load
from shared.web import Router

if TYPE_CHECKING:  # pragma: no cover - typing only; imported by the routes that use them
    from services.loyalty.dal.loyalty_config import DynamoLoyaltyConfig
    from shared.events.contracts import EventData

router = Router()
# The bodies of the routes that answer one rule or one tier (`model_dump(mode="json")`), for the
# OpenAPI document.
_RULE = {"application/json": {"model": EarningRule}}
_TIER = {"application/json": {"model": Tier}}
logger = get_logger("loyalty")
TIER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def _staff(*roles: str) -> str:
    principal = require_roles(principal_from_event(router.current_event.raw_event), *roles)
    return principal.subject


def _config() -> DynamoLoyaltyConfig:
    from services.loyalty.dal.loyalty_config import DynamoLoyaltyConfig  # noqa: PLC0415 - cold start

    return DynamoLoyaltyConfig(load(LoyaltyApiSettings).table_name)


def _rule_id(rule_id: str) -> str:
    if not is_ulid(rule_id):
        raise NotFound("earning_rule_not_found", "No such earning rule.")
    return rule_id


@router.post(
    "/v1/admin/earning-rules",
    request_body=EarningRuleIn,
    summary="Create an earning rule",
    tags=["admin-earning"],
    responses={201: {"description": "The rule, with its id and version 1", "content": _RULE}},
)
def create_rule() -> Any:
    from services.loyalty.dal.loyalty_config import clear_config_cache  # noqa: PLC0415 - cold start

    staff = _staff(*ADMIN_WRITE_ROLES)
    body = parse_json(EarningRuleIn, router.current_event.raw_event)
    rule = EarningRule(**body.model_dump(), rule_id=new_ulid(), version=1)
    _config().put_rule(rule, expected_version=None)
    clear_config_cache()
    logger.info("earning rule created", extra={"rule_id": rule.rule_id, "kind": rule.kind, "staff": staff})
    return json_response(201, rule.model_dump(mode="json"))


@router.get("/v1/admin/earning-rules", summary="List earning rules", tags=["admin-earning"])
def list_rules() -> Any:
    _staff(*ADMIN_READ_ROLES)
    return json_response(200, {"rules": [r.model_dump(mode="json") for r in _config().list_rules()]})


@router.get(
    "/v1/admin/earning-rules/<rule_id>",
    summary="Read an earning rule",
    tags=["admin-earning"],
    responses={200: {"description": "The rule", "content": _RULE}},
)
def get_rule(rule_id: str) -> Any:
    _staff(*ADMIN_READ_ROLES)
    rule = _config().get_rule(_rule_id(rule_id))
    if rule is None:
        raise NotFound("earning_rule_not_found", "No such earning rule.")
    return json_response(200, rule.model_dump(mode="json"))


@router.put(
    "/v1/admin/earning-rules/<rule_id>",
    request_body=EarningRuleIn,
    summary="Replace an earning rule (409 when it changed concurrently)",
    tags=["admin-earning"],
    responses={200: {"description": "The rule, its version one more", "content": _RULE}},
)
def replace_rule(rule_id: str) -> Any:
    from services.loyalty.dal.loyalty_config import clear_config_cache  # noqa: PLC0415 - cold start

    staff = _staff(*ADMIN_WRITE_ROLES)
    body = parse_json(EarningRuleIn, router.current_event.raw_event)
    config = _config()
    current = config.get_rule(_rule_id(rule_id))
    if current is None:
        raise NotFound("earning_rule_not_found", "No such earning rule.")
    rule = EarningRule(**body.model_dump(), rule_id=rule_id, version=current.version + 1)
    if not config.put_rule(rule, expected_version=current.version):
        raise Conflict("earning_rule_changed", "The rule changed meanwhile; read it again.")
    clear_config_cache()
    logger.info("earning rule replaced", extra={"rule_id": rule_id, "staff": staff})
    return json_response(200, rule.model_dump(mode="json"))


@router.delete("/v1/admin/earning-rules/<rule_id>", summary="Delete an earning rule", tags=["admin-earning"])
def delete_rule(rule_id: str) -> Any:
    from services.loyalty.dal.loyalty_config import clear_config_cache  # noqa: PLC0415 - cold start

    staff = _staff(*ADMIN_WRITE_ROLES)
    if not _config().delete_rule(_rule_id(rule_id)):
        raise NotFound("earning_rule_not_found", "No such earning rule.")
    clear_config_cache()
    logger.info("earning rule deleted", extra={"rule_id": rule_id, "staff": staff})
    return json_response(204, None)


@router.post(
    "/v1/admin/earning-rules/dry-run",
    request_body=DryRunRequest,
    summary="What a purchase would earn under the current rules, and why",
    description="DryRunRequest; answers points, pending_days and the steps of the calculation. "
    "422 amount_exceeds_items when the amount is more than the items add up to (as at the till).",
    tags=["admin-earning"],
)
def dry_run() -> Any:
    from services.loyalty.logic.earning import PurchaseFacts, calculate  # noqa: PLC0415 - cold start
    from services.loyalty.logic.stores import check_amount_against_items  # noqa: PLC0415 - cold start
    from services.loyalty.logic.tiers import benefits_of  # noqa: PLC0415 - cold start

    _staff(*ADMIN_READ_ROLES)
    body = parse_json(DryRunRequest, router.current_event.raw_event)
    # The purchase path's rule: a purchase whose amount exceeds its lines is refused, not priced.
    check_amount_against_items(body.amount_cents, [line.amount_cents for line in body.items])
    settings = load(LoyaltyApiSettings)
    config = _config()
    tiers, _ = config.list_tiers()
    if body.tier is not None and body.tier not in {t.tier_id for t in tiers}:
        raise Unprocessable(fields=[{"field": "tier", "message": "No such tier."}])
    tier = next((t for t in tiers if t.tier_id == body.tier), None)
    multiplier = (
        tier.benefits.points_multiplier_pct if tier else benefits_of(None, tiers).points_multiplier_pct
    )
    calc = calculate(
        PurchaseFacts(
            store_id=body.store_id,
            tenant_id=body.tenant_id,
            channel=body.channel,
            amount_cents=body.amount_cents,
            lines=[(line.category, line.amount_cents) for line in body.items],
            occurred_at=body.occurred_at,
        ),
        config.list_rules(),
        tier=body.tier,
        tier_multiplier_pct=multiplier,
        earned_today=body.earned_today,
        tz=clock.zone(settings.mall_timezone),
    )
    return json_response(
        200,
        {
            "points": calc.points,
            "pending_days": calc.pending_days,
            "eligible_cents": calc.eligible_cents,
            "steps": calc.explain(),
        },
    )


@router.get("/v1/admin/tiers", summary="The tier program and its tiers", tags=["admin-tiers"])
def list_tiers() -> Any:
    _staff(*ADMIN_READ_ROLES)
    tiers, program = _config().list_tiers()
    return json_response(
        200, {"program": program.model_dump(), "tiers": [t.model_dump(mode="json") for t in tiers]}
    )


@router.put(
    "/v1/admin/tiers",
    request_body=TierProgram,
    summary="Set the tier program (qualification basis and rolling window)",
    tags=["admin-tiers"],
)
def put_program() -> Any:
    from services.loyalty.dal.loyalty_config import clear_config_cache  # noqa: PLC0415 - cold start

    staff = _staff(*ADMIN_WRITE_ROLES)
    program = parse_json(TierProgram, router.current_event.raw_event)
    _config().put_program(program)
    clear_config_cache()
    logger.info("tier program set", extra={"staff": staff, "basis": program.basis})
    return json_response(200, program.model_dump())


@router.put(
    "/v1/admin/tiers/<tier_id>",
    request_body=TierIn,
    summary="Create or replace a tier",
    tags=["admin-tiers"],
    responses={200: {"description": "The tier", "content": _TIER}},
)
def put_tier(tier_id: str) -> Any:
    from services.loyalty.dal.loyalty_config import clear_config_cache  # noqa: PLC0415 - cold start

    staff = _staff(*ADMIN_WRITE_ROLES)
    if not TIER_ID.match(tier_id):
        raise Unprocessable(fields=[{"field": "tier_id", "message": "Lowercase letters, digits, - and _."}])
    body = parse_json(TierIn, router.current_event.raw_event)
    config = _config()
    tiers, _ = config.list_tiers()
    clash = next((t for t in tiers if t.rank == body.rank and t.tier_id != tier_id), None)
    if clash is not None:
        raise Conflict("tier_rank_taken", f"Tier {clash.tier_id} already has rank {body.rank}.")
    tier = Tier(**body.model_dump(), tier_id=tier_id)
    config.put_tier(tier)
    clear_config_cache()
    logger.info("tier set", extra={"tier_id": tier_id, "staff": staff})
    return json_response(200, tier.model_dump(mode="json"))


@router.delete("/v1/admin/tiers/<tier_id>", summary="Delete a tier", tags=["admin-tiers"])
def delete_tier(tier_id: str) -> Any:
    from services.loyalty.dal.loyalty_config import clear_config_cache  # noqa: PLC0415 - cold start

    staff = _staff(*ADMIN_WRITE_ROLES)
    if not TIER_ID.match(tier_id) or not _config().delete_tier(tier_id):
        raise NotFound("tier_not_found", "No such tier.")
    clear_config_cache()
    logger.info("tier deleted", extra={"tier_id": tier_id, "staff": staff})
    return json_response(204, None)


@router.put(
    "/v1/admin/members/<member_id>/tier-floor",
    request_body=TierFloorRequest,
    summary="Set or clear a member's manual tier floor (reason required; audited)",
    description="TierFloorRequest. The floor is shown as such in the member's points; raising it "
    "above the current tier upgrades now (TierChanged, reason manual); clearing it never "
    "downgrades before the next review.",
    tags=["admin-tiers"],
)
def put_tier_floor(member_id: str) -> Any:
    from services.loyalty.dal.loyalty_config import cached_config  # noqa: PLC0415 - cold start
    from services.loyalty.handlers.ledger_deps import ledger_id_of, ledger_repo  # noqa: PLC0415 - cold start
    from services.loyalty.logic.ledger import EventsOut, LedgerBusy, new_balance  # noqa: PLC0415 - cold start
    from services.loyalty.logic.tiers import set_floor, tier_changed_event  # noqa: PLC0415 - cold start

    staff = _staff(*ADMIN_WRITE_ROLES)
    if not is_ulid(member_id):
        raise NotFound("member_not_found", "No such member.")
    body = parse_json(TierFloorRequest, router.current_event.raw_event)
    settings = load(LoyaltyApiSettings)
    config = cached_config(settings.table_name, settings.loyalty_config_cache_seconds)
    if body.tier_id is not None and body.tier_id not in {t.tier_id for t in config.tiers}:
        raise Unprocessable(fields=[{"field": "tier_id", "message": "No such tier."}])
    repo = ledger_repo(settings)
    ledger_id = ledger_id_of(settings.pseudonym_key_secret_arn, member_id)
    now = clock.now()
    for _ in range(5):
        balance = repo.get_balance(ledger_id) or new_balance(ledger_id, member_id)
        if balance.erased_at is not None:
            raise NotFound("member_not_found", "No such member.")
        after, move = set_floor(balance, config.tiers, body.tier_id, now)
        events: list[EventData] = []
        if move is not None:
            events.append(tier_changed_event(member_id, move, now))
        audit = {
            "pk": f"LEDGER#{ledger_id}",
            "sk": f"AUDIT#{new_ulid()}",
            "entity": "ledger_audit",
            "action": "tier_floor",
            "tier_floor": body.tier_id,
            "reason": body.reason,
            "staff": staff,
            "at": clock.to_utc_iso(now),
        }
        out = EventsOut(events=events, correlation_id=new_ulid(), producer="loyalty.api", at=now)
        if repo.post_balance(balance, after, out, audit=audit):
            logger.info("tier floor set", extra={"staff": staff, "tier_floor": body.tier_id})
            return json_response(200, balance_view(after, config.tiers))
    raise LedgerBusy()
