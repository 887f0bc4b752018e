"""Earning rules, tiers and the tier program in LoyaltyTable, cached per container.

* earning rule — ``CONFIG#EARNING`` / ``RULE#<rule_id>`` (``rule``: the rule as JSON, ``version``)
* tier — ``CONFIG#TIERS`` / ``TIER#<tier_id>``; tier program — ``CONFIG#TIERS`` / ``PROGRAM``

The purchase path reads them through :func:`cached_config` (one Query per partition per container
and ``max_age``): operators' changes apply within a minute, and a festival's purchases do not
read the same two partitions 2,000 times a second.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from services.loyalty.models.earning import EarningRule, Tier, TierProgram
from shared.aws import client
from shared.dynamo import (
    ConditionalCheckFailed,
    is_conditional_check_failed,
    put_op,
    query_all,
    to_item,
    transact_write,
)

RULES_PK = "CONFIG#EARNING"
TIERS_PK = "CONFIG#TIERS"


@dataclass(frozen=True)
class ConfigSnapshot:
    rules: tuple[EarningRule, ...]
    tiers: tuple[Tier, ...]
    program: TierProgram


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

    def snapshot(self) -> ConfigSnapshot:
        tiers, program = self.list_tiers()
        return ConfigSnapshot(rules=tuple(self.list_rules()), tiers=tuple(tiers), program=program)


_cache: dict[str, tuple[float, ConfigSnapshot]] = {}


def cached_config(table_name: str, max_age_seconds: float) -> ConfigSnapshot:
    """The configuration, read at most once per ``max_age_seconds`` per container."""
    now = time.monotonic()
    hit = _cache.get(table_name)
    if hit is not None and hit[0] > now:
        return hit[1]
    snapshot = DynamoLoyaltyConfig(table_name).snapshot()
    _cache[table_name] = (now + max_age_seconds, snapshot)
    return snapshot


def clear_config_cache() -> None:
    """After an operator's change in this container, and in tests."""
    _cache.clear()
