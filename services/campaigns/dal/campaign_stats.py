"""The per-campaign counters (``CAMPAIGN#<campaign_id>`` / ``STATS#<variant or ->``): one writer
shape for every producer — dispatch (sent, deferred, suppressed…), inbox clicks, channel delivery
receipts — and one reader for the report, so the key layout lives in one place."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.dynamo import to_item

STATS_PREFIX = "STATS#"


def stats_key(campaign_id: str, variant: str) -> dict[str, str]:
    return {"pk": f"CAMPAIGN#{campaign_id}", "sk": f"{STATS_PREFIX}{variant}"}


def stats_update_op(
    table_name: str, campaign_id: str, variant: str, counters: dict[str, int]
) -> dict[str, Any]:
    """A ``TransactWriteItems`` ``Update`` adding ``counters`` to the variant's counters."""
    names = {f"#c{i}": name for i, name in enumerate(counters)}
    values: dict[str, Any] = {f":c{i}": n for i, n in enumerate(counters.values())}
    return {
        "Update": {
            "TableName": table_name,
            "Key": to_item(stats_key(campaign_id, variant)),
            "UpdateExpression": "SET entity = :entity ADD "
            + ", ".join(f"#c{i} :c{i}" for i in range(len(counters))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item(values | {":entity": "campaign_stats"}),
        }
    }


def stats_by_variant(items: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The ``STATS#`` items of one campaign (plain, already deserialised) → variant → counters."""
    return {
        item["sk"].removeprefix(STATS_PREFIX): {k: v for k, v in item.items() if k not in {"pk", "sk"}}
        for item in items
    }
