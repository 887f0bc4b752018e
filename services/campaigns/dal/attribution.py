"""Attribution on CampaignsTable: a buyer's assignments (recent launches' buckets, triggered
campaigns' per-member items), and the counters each credit adds — one transaction with the event's
marker (and the member's first-conversion marker)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from services.campaigns.dal.planning import LAUNCHES_PK, bucket_pk
from services.campaigns.dal.recent_erasures import launches_holding_buckets
from services.campaigns.logic.attribution import AssignmentRow
from services.campaigns.logic.experiments import assignment_bucket
from shared import clock
from shared.aws import client
from shared.dynamo import (
    ConditionalCheckFailed,
    idempotency_put,
    is_conditional_check_failed,
    put_op,
    query_all,
    to_item,
    transact_write,
)

MAX_WINDOW = timedelta(days=30)  # the longest attribution window a campaign may have
_MARKER, _STATS, _CONVERTED = 0, 1, 2


class DynamoAttributionRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def _recent_launches(self, at: datetime, campaign_id: str | None) -> list[dict[str, Any]]:
        items = query_all(
            {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
                "ExpressionAttributeValues": to_item(
                    {
                        ":pk": LAUNCHES_PK,
                        ":low": clock.to_utc_iso(at - MAX_WINDOW),
                        ":high": clock.to_utc_iso(at) + "#~",
                    }
                ),
            }
        )
        return [i for i in items if campaign_id is None or i["campaign_id"] == campaign_id]

    def _launched(self, member_id: str, at: datetime, campaign_id: str | None) -> list[AssignmentRow]:
        """The member's arm in each launch whose window is open: the buckets of all of them in
        BatchGetItem calls of up to 100 keys (one call for a month of launches)."""
        launches = {
            launch["campaign_id"]: launch
            for launch in self._recent_launches(at, campaign_id)
            if clock.parse_iso(launch["attribution_until"]) >= at
        }
        keys = [
            {
                "pk": {"S": bucket_pk(cid, assignment_bucket(member_id, int(launch["buckets"])))},
                "sk": {"S": "ASSIGN"},
            }
            for cid, launch in launches.items()
        ]
        rows = []
        for item in self._batch_get(keys):
            cid = item["campaign_id"]["S"]
            for arm, ids in item.get("arms", {}).get("M", {}).items():
                if member_id in ids["S"].split(","):
                    launch = launches[cid]
                    rows.append(
                        AssignmentRow(
                            cid,
                            arm,
                            clock.parse_iso(launch["launched_at"]),
                            clock.parse_iso(launch["attribution_until"]),
                        )
                    )
                    break
        return rows

    def _batch_get(self, keys: list[dict[str, Any]], attempts: int = 6) -> list[dict[str, Any]]:
        ddb = client("dynamodb")
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            pending: dict[str, Any] = {
                self.table_name: {
                    "Keys": keys[start : start + 100],
                    "ProjectionExpression": "campaign_id, arms",
                }
            }
            for attempt in range(attempts):
                response = ddb.batch_get_item(RequestItems=pending)
                found += response.get("Responses", {}).get(self.table_name, [])
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise RuntimeError("assignment buckets still unprocessed after retries")
        return found

    def _triggered(self, member_id: str, campaign_id: str | None) -> list[AssignmentRow]:
        prefix = "ASSIGN#" + (campaign_id or "")
        items = query_all(
            {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": to_item({":pk": f"MEMBER#{member_id}", ":prefix": prefix}),
            }
        )
        return [
            AssignmentRow(
                i["campaign_id"],
                i["arm"],
                clock.parse_iso(i["assigned_at"]),
                clock.parse_iso(i["attribution_until"]),
            )
            for i in items
        ]

    def assignments(
        self, member_id: str, at: datetime, campaign_id: str | None = None
    ) -> list[AssignmentRow]:
        rows: dict[str, AssignmentRow] = {}
        for row in self._launched(member_id, at, campaign_id) + self._triggered(member_id, campaign_id):
            if row.assigned_at <= at <= row.attribution_until:
                rows.setdefault(row.campaign_id, row)  # one credit per campaign and event
        return list(rows.values())

    def held_assignments(self, member_id: str, at: datetime) -> list[AssignmentRow]:
        """Every assignment still stored for the member (data export): launches whose window is
        open at ``at`` (older buckets expire) and all triggered campaigns' items."""
        return self._launched(member_id, at, None) + self._triggered(member_id, None)

    def _stats_update(self, row: AssignmentRow, adds: dict[str, int], event_id: str) -> dict[str, Any]:
        # A shard per event: at a festival peak one campaign's buyers convert hundreds of times a
        # second, more than one counter item takes (dal/campaign_stats.py).
        from services.campaigns.dal.campaign_stats import stats_update_op  # noqa: PLC0415

        return stats_update_op(self.table_name, row.campaign_id, row.arm, adds, shard_key=event_id)

    def credit_purchase(
        self, event_id: str, member_id: str, row: AssignmentRow, amount_cents: int, at: datetime
    ) -> bool:
        """``member_id`` here is the member's reference for the conversion marker: the consumer
        passes campaigns' pseudonym (HMAC) so no marker names a member after an erasure."""
        marker = idempotency_put(self.table_name, event_id, f"attribution#{row.campaign_id}")
        counts = {"purchases": 1, "sales_cents": amount_cents}
        first = put_op(
            self.table_name,
            {
                "pk": f"CONVERTED#{row.campaign_id}#{member_id}",
                "sk": "CONVERTED",
                "entity": "campaign_conversion",
                "converted_at": clock.to_utc_iso(at),
                "ttl": clock.epoch_seconds(row.attribution_until + timedelta(days=400)),
            },
            condition="attribute_not_exists(pk)",
        )
        for items in (
            [marker, self._stats_update(row, {**counts, "converted": 1}, event_id), first],
            [marker, self._stats_update(row, counts, event_id)],
        ):
            try:
                transact_write(items)
                return True
            except ConditionalCheckFailed as failed:
                if _MARKER in failed.failed_indexes:
                    return False  # this event was counted already
                # the member converted before: count the purchase only
        return False

    def credit_redemption(self, event_id: str, row: AssignmentRow, discount_cents: int) -> bool:
        try:
            transact_write(
                [
                    idempotency_put(self.table_name, event_id, f"redemption#{row.campaign_id}"),
                    self._stats_update(row, {"redemptions": 1, "discount_cents": discount_cents}, event_id),
                ]
            )
        except ConditionalCheckFailed:
            return False
        return True

    def forget_member(self, member_id: str, at: datetime, attempts: int = 5) -> int:
        """Erasure: take the member's id out of the assignment buckets of every launch still in
        its window (buckets of older launches have expired) and of every launch registered as
        holding buckets — one still running is not in ``LAUNCHES`` yet (dal/recent_erasures.py).
        Returns how many buckets changed; idempotent."""
        launches = {
            str(launch["campaign_id"]): int(launch["buckets"])
            for launch in self._recent_launches(at + timedelta(days=3), None)
        }
        for campaign_id, buckets in launches_holding_buckets(self.table_name):
            launches.setdefault(campaign_id, buckets)
        return sum(
            self.forget_in_launch(campaign_id, buckets, member_id, attempts)
            for campaign_id, buckets in sorted(launches.items())
        )

    def forget_in_launch(self, campaign_id: str, buckets: int, member_id: str, attempts: int = 5) -> bool:
        """The member's id out of their bucket of one launch. Optimistic: the arm's list is
        replaced only if unchanged since read (a launch or another erasure may edit the same
        bucket). True if the bucket changed."""
        ddb = client("dynamodb")
        key = {
            "pk": {"S": bucket_pk(campaign_id, assignment_bucket(member_id, buckets))},
            "sk": {"S": "ASSIGN"},
        }
        for _ in range(attempts):
            item = ddb.get_item(TableName=self.table_name, Key=key, ConsistentRead=True).get("Item")
            arms = (item or {}).get("arms", {}).get("M", {})
            arm = next((a for a, ids in arms.items() if member_id in ids["S"].split(",")), None)
            if arm is None:
                return False
            old = arms[arm]["S"]
            kept = ",".join(m for m in old.split(",") if m != member_id)
            try:
                ddb.update_item(
                    TableName=self.table_name,
                    Key=key,
                    UpdateExpression="SET arms.#arm = :kept",
                    ConditionExpression="arms.#arm = :old",
                    ExpressionAttributeNames={"#arm": arm},
                    ExpressionAttributeValues={":kept": {"S": kept}, ":old": {"S": old}},
                )
                return True
            except Exception as exc:
                if not is_conditional_check_failed(exc):
                    raise
        raise RuntimeError(f"assignment bucket of {campaign_id} kept changing: the erasure is retried")

    def stats(self, campaign_id: str) -> dict[str, dict[str, Any]]:
        items = query_all(
            {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": to_item({":pk": f"CAMPAIGN#{campaign_id}", ":prefix": "STATS#"}),
                "ConsistentRead": True,
            }
        )
        from services.campaigns.dal.campaign_stats import stats_by_variant  # noqa: PLC0415

        return stats_by_variant(items)
