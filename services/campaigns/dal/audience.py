"""The member-attribute projection on CampaignsTable (the only boto3 user for it).

* attributes row: ``MEMBER#<member_id>`` / ``ATTRS``; gsi2 ``AUDIENCE#<nn>`` / ``<member_id>#ATTRS``;
* consent (dal/privacy.py writes it): ``MEMBER#<id>`` / ``CONSENT#...``; gsi2 ``AUDIENCE#<nn>`` /
  ``<member_id>#CONSENT#...``.

``gsi2`` is sparse (only these two kinds carry ``gsi2pk``) and sharded 16 ways: the
materialisation reads one shard with one paginated Query, never a Scan of the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from services.campaigns.dal.audience_keys import AUDIENCE_INDEX, audience_keys, shard_key
from services.campaigns.logic.audience import AttributeUpdate
from services.campaigns.models.audience import MemberAttributes
from shared import clock
from shared.aws import client
from shared.dynamo import (
    ConditionalCheckFailed,
    is_conditional_check_failed,
    query_all,
    to_item,
    transact_write,
)


class DynamoAttributeRepository:
    """:class:`~services.campaigns.logic.audience.AttributeRepository` on DynamoDB."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def _update(
        self, update: AttributeUpdate, expression: str, condition: str | None, values: dict[str, Any]
    ) -> bool:
        """``expression`` is ``SET a = :a[, ...][ ADD ...]`` or ``ADD ...``; the row's identity and
        index keys are set by every write, so whichever fact comes first creates a whole row."""
        base = {
            ":entity": "member_attrs",
            ":member": update.member_id,
            **{f":{k}": v for k, v in audience_keys(update.member_id, "ATTRS").items()},
        }
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": to_item({"pk": f"MEMBER#{update.member_id}", "sk": "ATTRS"}),
            "UpdateExpression": "SET entity = :entity, member_id = :member, gsi2pk = :gsi2pk, "
            "gsi2sk = :gsi2sk"
            + (", " + expression[4:] if expression.startswith("SET ") else " " + expression),
            "ExpressionAttributeValues": to_item({**base, **values}),
        }
        if condition:
            request["ConditionExpression"] = condition
        try:
            if update.erased_marker is None:
                client("dynamodb").update_item(**request)
            else:
                check = {
                    "TableName": self.table_name,
                    "Key": to_item({"pk": f"ERASED#{update.erased_marker}", "sk": "ERASED"}),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
                transact_write([{"ConditionCheck": check}, {"Update": request}])
        except ConditionalCheckFailed:
            return False
        except Exception as exc:
            if is_conditional_check_failed(exc):
                return False
            raise
        return True

    def apply(self, update: AttributeUpdate) -> bool:
        if update.profile is not None:
            p = update.profile
            return self._update(
                update,
                "SET rfm_segment = :rfm, lifecycle_stage = :life, churn_risk = :churn, "
                "value_level = :value, tags = :tags, profile_at = :at",
                "attribute_not_exists(profile_at) OR profile_at < :at",
                {
                    ":rfm": p.rfm_segment,
                    ":life": p.lifecycle_stage,
                    ":churn": p.churn_risk,
                    ":value": p.value_level,
                    ":tags": sorted(p.tags),
                    ":at": clock.to_utc_iso(p.scored_at),
                },
            )
        if update.tier is not None:
            t = update.tier
            # The display name goes with the tier it names: an event without one (an older
            # producer) removes the previous tier's name rather than leave it beside a new id.
            name = ", tier_name = :name" if t.name else " REMOVE tier_name"
            return self._update(
                update,
                "SET tier = :tier, tier_at = :at" + name,
                "attribute_not_exists(tier_at) OR tier_at < :at",
                {":tier": t.tier, ":at": clock.to_utc_iso(t.changed_at)}
                | ({":name": t.name} if t.name else {}),
            )
        if update.points is not None:
            return self._points(update)
        if update.purchase is not None:
            return self._purchase(update)
        if update.registered is not None:
            return self._update(
                update,
                "SET registered_at = :at",
                "attribute_not_exists(registered_at)",
                {":at": clock.to_utc_iso(update.registered.registered_at)},
            )
        return False

    def _points(self, update: AttributeUpdate) -> bool:
        """The balance a movement left, if it is the member's newest movement seen.

        Ordered by the ledger's ``balance_version`` (strictly increasing per member, written in the
        movement's own transaction): a movement posted after an optimistic-concurrency retry, or by
        a Lambda whose clock lags, carries an earlier time than the movement before it, but never a
        smaller version. Time then movement id is only the fallback for events without a version
        (older producers); such an event never overwrites a versioned balance, and a versioned one
        replaces an unversioned balance unless that is strictly newer in time."""
        pts = update.points
        assert pts is not None
        values: dict[str, Any] = {
            ":balance": pts.balance,
            ":at": clock.to_utc_iso(pts.at),
            ":movement": pts.movement_id,
        }
        if pts.version is not None:
            values[":version"] = pts.version
            return self._update(
                update,
                "SET points_balance = :balance, points_at = :at, points_movement = :movement, "
                "points_version = :version",
                "attribute_not_exists(points_at) OR points_version < :version "
                "OR (attribute_not_exists(points_version) AND points_at <= :at)",
                values,
            )
        return self._update(
            update,
            "SET points_balance = :balance, points_at = :at, points_movement = :movement",
            "attribute_not_exists(points_at) OR (attribute_not_exists(points_version) AND (points_at < :at "
            "OR (points_at = :at AND points_movement < :movement)))",
            values,
        )

    def _purchase(self, update: AttributeUpdate) -> bool:
        purchase = update.purchase
        assert purchase is not None
        sets = " ADD stores :stores" + (", categories :cats" if purchase.categories else "")
        values: dict[str, Any] = {":stores": {purchase.store_id}}
        if purchase.categories:
            values[":cats"] = set(purchase.categories)
        moved = self._update(
            update,
            "SET last_purchase_at = :at" + sets,
            "attribute_not_exists(last_purchase_at) OR last_purchase_at < :at",
            {**values, ":at": clock.to_utc_iso(purchase.occurred_at)},
        )
        if moved:
            return True
        # An older purchase (or a redelivery) still adds its store and categories (set ADD is
        # idempotent); the tombstone check applies again.
        self._update(update, sets.strip(), None, values)
        return False

    def get(self, member_id: str) -> MemberAttributes | None:
        """The member's row with their consents (two reads of one partition: one Query)."""
        items = list(
            query_all(
                {
                    "TableName": self.table_name,
                    "KeyConditionExpression": "pk = :pk",
                    "ExpressionAttributeValues": to_item({":pk": f"MEMBER#{member_id}"}),
                }
            )
        )
        rows = list(rows_from_items(items))
        return rows[0] if rows else None

    def shard_items(self, shard: int) -> Iterator[dict[str, Any]]:
        """Every attributes row and consent of one shard, ordered by member (gsi2, Query)."""
        return query_all(
            {
                "TableName": self.table_name,
                "IndexName": AUDIENCE_INDEX,
                "KeyConditionExpression": "gsi2pk = :pk",
                "ExpressionAttributeValues": to_item({":pk": shard_key(shard)}),
            }
        )


def _row(member_id: str, attrs: dict[str, Any] | None, consents: set[str]) -> MemberAttributes:
    a = attrs or {}

    def when(name: str) -> Any:
        return clock.parse_iso(a[name]) if a.get(name) else None

    return MemberAttributes(
        member_id=member_id,
        registered_at=when("registered_at"),
        rfm_segment=a.get("rfm_segment"),
        lifecycle_stage=a.get("lifecycle_stage"),
        churn_risk=a.get("churn_risk"),
        value_level=a.get("value_level"),
        tags=frozenset(a.get("tags") or ()),
        tier=a.get("tier"),
        tier_name=a.get("tier_name"),
        points_balance=int(a["points_balance"]) if a.get("points_balance") is not None else None,
        last_purchase_at=when("last_purchase_at"),
        categories=frozenset(a.get("categories") or ()),
        stores=frozenset(a.get("stores") or ()),
        consents=frozenset(consents),
    )


def rows_from_items(items: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> Iterator[MemberAttributes]:
    """Group items ordered by member (a shard's Query, or one member's partition) into rows."""
    current: str | None = None
    attrs: dict[str, Any] | None = None
    consents: set[str] = set()
    for item in items:
        member_id = str(item.get("member_id") or "")
        entity = item.get("entity")
        if entity not in {"member_attrs", "consent_projection"} or not member_id:
            continue
        if member_id != current:
            if current is not None:
                yield _row(current, attrs, consents)
            current, attrs, consents = member_id, None, set()
        if entity == "member_attrs":
            attrs = item
        elif item.get("granted") is True:
            purpose, channel = str(item["purpose"]), item.get("channel")
            consents.add(f"{purpose}:{channel}" if channel else purpose)
    if current is not None:
        yield _row(current, attrs, consents)
