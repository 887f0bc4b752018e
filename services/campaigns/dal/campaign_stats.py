"""The per-campaign counters: one writer shape for every producer — dispatch (sent, deferred,
suppressed…), inbox clicks, channel delivery receipts — and one reader for the report, so the key
layout lives in one place.

| item                                    | pk                         | sk                           |
|-----------------------------------------|----------------------------|------------------------------|
| counters, one shard                     | ``CAMPAIGN#<campaign_id>`` | ``STATS#<variant or ->#<n>`` |
| unsharded: from before; ``assigned``…   | ``CAMPAIGN#<campaign_id>`` | ``STATS#<variant or ->``     |

(The unsharded item is also where a launch adds its arms' ``assigned``: once per launch. Attribution's
purchases, conversions and redemptions are sharded by their event id.)

**Sharded** (``STATS_SHARDS`` items per variant): every dispatch transaction of a campaign adds its
counters, so one item per variant made parallel dispatchers' transactions meet on it
(``TransactionConflict``) at a few thousand messages per second. A writer's shard comes from a
hash of ``shard_key`` (dispatch: the first send id of the transaction; a click or a receipt: its
send id) or, without one, at random. :func:`stats_by_variant` sums a variant's shards and its
unsharded item, so the report reads one ``Query`` of ``CAMPAIGN#<id>`` / ``STATS#`` as before and
items written before the sharding still count. Variant names never hold ``#`` (``VariantName``:
``[A-Za-z0-9_]``, or ``-``, ``holdout``, ``control``), so the last ``#<digits>`` is the shard.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterable
from typing import Any

STATS_PREFIX = "STATS#"
STATS_SHARDS = 8
_COUNTERS_EXCLUDED = frozenset({"pk", "sk", "entity"})


def stats_shard(shard_key: str | None) -> int:
    """The shard for ``shard_key`` (stable: CRC-32, not for security), or a random one."""
    if shard_key is None:
        return random.randrange(STATS_SHARDS)  # noqa: S311 - load spreading, not security
    return zlib.crc32(shard_key.encode()) % STATS_SHARDS


def stats_key(campaign_id: str, variant: str, shard: int) -> dict[str, str]:
    return {"pk": f"CAMPAIGN#{campaign_id}", "sk": f"{STATS_PREFIX}{variant}#{shard}"}


def stats_update_op(
    table_name: str,
    campaign_id: str,
    variant: str,
    counters: dict[str, int],
    *,
    shard_key: str | None = None,
) -> dict[str, Any]:
    """A ``TransactWriteItems`` ``Update`` adding ``counters`` (integers) to one shard of the
    variant's counters (``shard_key``: see the module doc)."""
    names = {f"#c{i}": name for i, name in enumerate(counters)}
    values: dict[str, Any] = {f":c{i}": {"N": str(int(n))} for i, n in enumerate(counters.values())}
    values[":entity"] = {"S": "campaign_stats"}
    key = stats_key(campaign_id, variant, stats_shard(shard_key))
    return {
        "Update": {
            "TableName": table_name,
            "Key": {"pk": {"S": key["pk"]}, "sk": {"S": key["sk"]}},
            "UpdateExpression": "SET entity = :entity ADD "
            + ", ".join(f"#c{i} :c{i}" for i in range(len(counters))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def variant_of(sk: str) -> str:
    """``STATS#<variant>#<shard>`` or ``STATS#<variant>`` → the variant."""
    rest = sk.removeprefix(STATS_PREFIX)
    variant, sep, shard = rest.rpartition("#")
    return variant if sep and shard.isdigit() else rest


def stats_by_variant(items: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The ``STATS#`` items of one campaign (plain, already deserialised) → variant → counters,
    the shards and any unsharded item of a variant summed."""
    totals: dict[str, dict[str, Any]] = {}
    for item in items:
        counters = totals.setdefault(variant_of(str(item["sk"])), {})
        for name, value in item.items():
            if name in _COUNTERS_EXCLUDED or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            counters[name] = counters.get(name, 0) + value
    return totals
