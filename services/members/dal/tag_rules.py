"""Operators' tag rules in MembersTable (the only boto3 user for them), apart from the statistics
and scoring repositories so that the tag routes of the API do not import the scoring engine.

| item | pk | sk |
|---|---|---|
| tag rule | ``TAGRULES`` | ``TAG#<tag_id>`` (``rule_json``: the rule as JSON, floats exact) |
"""

from __future__ import annotations

import json
from typing import Any

from services.members.logic.tags import TagRule, parse
from shared.aws import client
from shared.dynamo import from_item, is_conditional_check_failed, query_all, to_item

TAG_RULES_PK = "TAGRULES"


def tag_rule_item(rule: TagRule) -> dict[str, Any]:
    return {
        "pk": TAG_RULES_PK,
        "sk": f"TAG#{rule.tag_id}",
        "entity": "tag_rule",
        "tag_id": rule.tag_id,
        "name": rule.name,
        "description": rule.description,
        "rule_json": json.dumps(rule.as_dict()["rule"], separators=(",", ":")),  # floats stay exact
        "enabled": rule.enabled,
        "version": rule.version,
        "updated_at": rule.updated_at,
        "updated_by": rule.updated_by,
    }


def tag_rule_from_item(item: dict[str, Any]) -> TagRule:
    return TagRule(
        tag_id=item["tag_id"],
        name=item["name"],
        description=item.get("description", ""),
        rule=parse(json.loads(item["rule_json"])),
        enabled=bool(item.get("enabled", True)),
        version=int(item.get("version", 1)),
        updated_at=item.get("updated_at", ""),
        updated_by=item.get("updated_by", ""),
    )


class DynamoTagRuleRepository:
    """Operators' tag rules: one partition (``TAGRULES``), read with Query — a few dozen items."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def list(self) -> list[TagRule]:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": TAG_RULES_PK}),
            "ConsistentRead": True,
        }
        return [tag_rule_from_item(item) for item in query_all(kwargs)]

    def get(self, tag_id: str) -> TagRule | None:
        response = client("dynamodb").get_item(
            TableName=self.table_name,
            Key=to_item({"pk": TAG_RULES_PK, "sk": f"TAG#{tag_id}"}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return tag_rule_from_item(from_item(item)) if item else None

    def put(self, rule: TagRule, *, expected_version: int | None) -> bool:
        """Create (``expected_version`` None: the tag must not exist) or replace the version read;
        False when the condition failed."""
        kwargs: dict[str, Any] = {"TableName": self.table_name, "Item": to_item(tag_rule_item(rule))}
        if expected_version is None:
            kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            kwargs["ConditionExpression"] = "#v = :expected"
            kwargs["ExpressionAttributeNames"] = {"#v": "version"}
            kwargs["ExpressionAttributeValues"] = to_item({":expected": expected_version})
        try:
            client("dynamodb").put_item(**kwargs)
        except Exception as exc:
            if is_conditional_check_failed(exc):
                return False
            raise
        return True

    def delete(self, tag_id: str) -> bool:
        try:
            client("dynamodb").delete_item(
                TableName=self.table_name,
                Key=to_item({"pk": TAG_RULES_PK, "sk": f"TAG#{tag_id}"}),
                ConditionExpression="attribute_exists(pk)",
            )
        except Exception as exc:
            if is_conditional_check_failed(exc):
                return False
            raise
        return True
