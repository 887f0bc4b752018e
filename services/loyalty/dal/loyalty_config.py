"""Earning rules, tiers and the tier program in LoyaltyTable, cached per container.

* earning rule — ``CONFIG#EARNING`` / ``RULE#<rule_id>`` (``rule``: the rule as JSON, ``version``)
* tier — ``CONFIG#TIERS`` / ``TIER#<tier_id>``; tier program — ``CONFIG#TIERS`` / ``PROGRAM``
* store (the mall's store directory) — ``CONFIG#STORES`` / ``STORE#<store_id>`` (``store``: the
  store as JSON); each change also appends ``AUDIT#STORE#<store_id>`` / ``<at>#<entry_id>``

The purchase path reads them through :func:`cached_config` (one Query per partition per container
and ``max_age``): operators' changes apply within a minute, and a festival's purchases do not
read the same three partitions 2,000 times a second. A purchase at a store the cached directory
lacks may re-read the configuration (:func:`refreshed_config`, at most once per
``STORE_RELOAD_SECONDS`` per container), so a store added a moment ago is not refused for a
minute; known stores never cause a read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.loyalty.models.earning import EarningRule, Tier, TierProgram
from services.loyalty.models.stores import Store
from shared import clock
from shared.aws import client
from shared.dynamo import (
    ConditionalCheckFailed,
    is_conditional_check_failed,
    put_op,
    query_all,
    to_item,
    transact_write,
)
from shared.ids import new_ulid

RULES_PK = "CONFIG#EARNING"
TIERS_PK = "CONFIG#TIERS"
STORES_PK = "CONFIG#STORES"
STORE_RELOAD_SECONDS = 5.0
"""How often (at most) a container re-reads the configuration because a request named a store
its cached directory does not have."""


@dataclass(frozen=True)
class ConfigSnapshot:
    rules: tuple[EarningRule, ...]
    tiers: tuple[Tier, ...]
    program: TierProgram
    stores: Mapping[str, Store] = field(default_factory=dict)
    """The store directory by store id."""


class DynamoLoyaltyConfig:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def _query(self, pk: str) -> list[dict[str, Any]]:
        return list(
            query_all(
                {
                    "TableName": self.table_name,
                    "KeyConditionExpression": "pk = :pk",
                    "ExpressionAttributeValues": to_item({":pk": pk}),
                    "ConsistentRead": True,
                }
            )
        )

    # earning rules

    def list_rules(self) -> list[EarningRule]:
        return [
            EarningRule.model_validate(
                {**json.loads(i["rule"]), "rule_id": i["rule_id"], "version": i["version"]}
            )
            for i in self._query(RULES_PK)
            if i["sk"].startswith("RULE#")
        ]

    def get_rule(self, rule_id: str) -> EarningRule | None:
        return next((r for r in self.list_rules() if r.rule_id == rule_id), None)

    def put_rule(self, rule: EarningRule, *, expected_version: int | None) -> bool:
        """Create (``expected_version`` None: must not exist) or replace the version read."""
        body = rule.model_dump(mode="json", exclude={"rule_id", "version"})
        item = {
            "pk": RULES_PK,
            "sk": f"RULE#{rule.rule_id}",
            "entity": "earning_rule",
            "rule_id": rule.rule_id,
            "version": rule.version,
            "rule": json.dumps(body, sort_keys=True),
        }
        if expected_version is None:
            op = put_op(self.table_name, item, condition="attribute_not_exists(pk)")
        else:
            op = put_op(self.table_name, item, condition="version = :v", values={":v": expected_version})
        try:
            transact_write([op])
        except ConditionalCheckFailed:
            return False
        return True

    def delete_rule(self, rule_id: str) -> bool:
        try:
            client("dynamodb").delete_item(
                TableName=self.table_name,
                Key=to_item({"pk": RULES_PK, "sk": f"RULE#{rule_id}"}),
                ConditionExpression="attribute_exists(pk)",
            )
        except Exception as exc:
            if is_conditional_check_failed(exc):
                return False
            raise
        return True

    # tiers

    def list_tiers(self) -> tuple[list[Tier], TierProgram]:
        tiers: list[Tier] = []
        program = TierProgram()
        for item in self._query(TIERS_PK):
            if item["sk"] == "PROGRAM":
                program = TierProgram.model_validate_json(item["program"])
            elif item["sk"].startswith("TIER#"):
                tiers.append(Tier.model_validate_json(item["tier"]))
        return sorted(tiers, key=lambda t: t.rank), program

    def put_tier(self, tier: Tier) -> None:
        client("dynamodb").put_item(
            TableName=self.table_name,
            Item=to_item(
                {
                    "pk": TIERS_PK,
                    "sk": f"TIER#{tier.tier_id}",
                    "entity": "tier",
                    "tier": tier.model_dump_json(),
                }
            ),
        )

    def delete_tier(self, tier_id: str) -> bool:
        response = client("dynamodb").delete_item(
            TableName=self.table_name,
            Key=to_item({"pk": TIERS_PK, "sk": f"TIER#{tier_id}"}),
            ReturnValues="ALL_OLD",
        )
        return "Attributes" in response

    def put_program(self, program: TierProgram) -> None:
        client("dynamodb").put_item(
            TableName=self.table_name,
            Item=to_item(
                {
                    "pk": TIERS_PK,
                    "sk": "PROGRAM",
                    "entity": "tier_program",
                    "program": program.model_dump_json(),
                }
            ),
        )

    # the store directory

    def list_stores(self) -> list[Store]:
        return sorted(
            (
                Store.model_validate_json(i["store"])
                for i in self._query(STORES_PK)
                if i["sk"].startswith("STORE#")
            ),
            key=lambda s: s.store_id,
        )

    def get_store(self, store_id: str) -> Store | None:
        item = client("dynamodb").get_item(
            TableName=self.table_name,
            Key=to_item({"pk": STORES_PK, "sk": f"STORE#{store_id}"}),
            ConsistentRead=True,
        )
        raw = item.get("Item")
        return Store.model_validate_json(raw["store"]["S"]) if raw else None

    def put_store(self, store: Store, *, expected_version: int | None) -> bool:
        """Create (``expected_version`` None: must not exist) or replace the version read, with
        an audit entry (``AUDIT#STORE#<id>``: who, when, the store as written) in the same
        transaction; False when the condition failed (created or changed meanwhile)."""
        at = store.updated_at or clock.now()
        stamp = clock.to_utc_iso(at)
        body = store.model_dump_json()
        item = {
            "pk": STORES_PK,
            "sk": f"STORE#{store.store_id}",
            "entity": "store",
            "store_id": store.store_id,
            "version": store.version,
            "store": body,
        }
        if expected_version is None:
            op = put_op(self.table_name, item, condition="attribute_not_exists(pk)")
        else:
            op = put_op(self.table_name, item, condition="version = :v", values={":v": expected_version})
        audit = put_op(
            self.table_name,
            {
                "pk": f"AUDIT#STORE#{store.store_id}",
                "sk": f"{stamp}#{new_ulid(at)}",
                "entity": "audit",
                "subject": f"STORE#{store.store_id}",
                "action": "store_created" if expected_version is None else "store_changed",
                "actor": store.updated_by or "system",
                "at": stamp,
                "store": body,
            },
            condition="attribute_not_exists(pk)",
        )
        try:
            transact_write([op, audit])
        except ConditionalCheckFailed:
            return False
        return True

    def snapshot(self) -> ConfigSnapshot:
        tiers, program = self.list_tiers()
        return ConfigSnapshot(
            rules=tuple(self.list_rules()),
            tiers=tuple(tiers),
            program=program,
            stores={s.store_id: s for s in self.list_stores()},
        )


# table name -> (valid until, loaded at, snapshot); monotonic seconds
_cache: dict[str, tuple[float, float, ConfigSnapshot]] = {}


def cached_config(table_name: str, max_age_seconds: float) -> ConfigSnapshot:
    """The configuration, read at most once per ``max_age_seconds`` per container."""
    now = time.monotonic()
    hit = _cache.get(table_name)
    if hit is not None and hit[0] > now:
        return hit[2]
    return _load(table_name, max_age_seconds, now)


def refreshed_config(
    table_name: str, max_age_seconds: float, *, min_age_seconds: float = STORE_RELOAD_SECONDS
) -> ConfigSnapshot:
    """The configuration re-read now unless the cached one is younger than ``min_age_seconds``
    (so a stream of requests naming an unknown store costs one read per ``min_age_seconds``)."""
    now = time.monotonic()
    hit = _cache.get(table_name)
    if hit is not None and hit[0] > now and now - hit[1] < min_age_seconds:
        return hit[2]
    return _load(table_name, max_age_seconds, now)


def _load(table_name: str, max_age_seconds: float, now: float) -> ConfigSnapshot:
    snapshot = DynamoLoyaltyConfig(table_name).snapshot()
    _cache[table_name] = (now + max_age_seconds, now, snapshot)
    return snapshot


def clear_config_cache() -> None:
    """After an operator's change in this container, and in tests."""
    _cache.clear()
