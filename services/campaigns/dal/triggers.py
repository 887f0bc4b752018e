"""The trigger consumer's reads and writes (trigger index, member row, arrivals, assignments).

Arrivals counter of a triggered campaign: ``ARRIVALS#<campaign_id>#<shard>`` / ``ARRIVALS``,
``ARRIVAL_SHARDS`` items per campaign (logic/experiments.py), the shard from a hash of the member id.
Each shard is its own partition key, like the rate counter's ``RATE#<campaign>#<shard>`` and
loyalty's ``COUPON_BUDGET#<template>#<n>``: sort-key shards under ``CAMPAIGN#<id>`` would share one
partition (~1,000 writes/s) until DynamoDB split it for heat. The unsharded
``CAMPAIGN#<id>`` / ``ARRIVALS`` of campaigns activated before is no longer read or written.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.campaigns.dal.audience import DynamoAttributeRepository
from services.campaigns.dal.campaign_stats import stats_update_op
from services.campaigns.dal.planning import DynamoCampaignRepository, assignment_sk
from services.campaigns.models.audience import MemberAttributes
from services.campaigns.models.campaigns import Campaign
from shared import clock
from shared.aws import client
from shared.dynamo import ConditionalCheckFailed, from_item, put_op, to_item, transact_write


def arrivals_key(campaign_id: str, shard: int) -> dict[str, str]:
    """One shard of a triggered campaign's arrivals counter (see the module doc)."""
    return {"pk": f"ARRIVALS#{campaign_id}#{shard}", "sk": "ARRIVALS"}


class DynamoTriggerRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self._campaigns = DynamoCampaignRepository(table_name)
        self._members = DynamoAttributeRepository(table_name)

    def active_for_trigger(self, event: str) -> list[Campaign]:
        return self._campaigns.active_for_trigger(event)

    def member(self, member_id: str) -> MemberAttributes | None:
        return self._members.get(member_id)

    def next_arrival(self, campaign_id: str, shard: int) -> int:
        """The shard's next position, 0-based: one ``ADD``, no condition, the new total returned."""
        response = client("dynamodb").update_item(
            TableName=self.table_name,
            Key=to_item(arrivals_key(campaign_id, shard)),
            UpdateExpression="SET entity = :entity ADD arrivals :one",
            ExpressionAttributeValues=to_item({":one": 1, ":entity": "campaign_arrivals"}),
            ReturnValues="UPDATED_NEW",
        )
        return int(from_item(response["Attributes"])["arrivals"]) - 1

    def assign_once(self, campaign: Campaign, member_id: str, key: str | None, arm: str, at: datetime) -> str:
        sk = assignment_sk(campaign.campaign_id, key)
        item = {
            "pk": f"MEMBER#{member_id}",
            "sk": sk,
            "entity": "campaign_assignment",
            "member_id": member_id,
            "campaign_id": campaign.campaign_id,
            "arm": arm,
            "assigned_at": clock.to_utc_iso(at),
            "attribution_until": clock.to_utc_iso(at + timedelta(days=campaign.attribution_days)),
        }
        count = stats_update_op(
            self.table_name, campaign.campaign_id, arm, {"assigned": 1}, shard_key=sk + member_id
        )
        try:
            transact_write([put_op(self.table_name, item, condition="attribute_not_exists(pk)"), count])
        except ConditionalCheckFailed:
            existing = client("dynamodb").get_item(
                TableName=self.table_name,
                Key=to_item({"pk": f"MEMBER#{member_id}", "sk": sk}),
                ConsistentRead=True,
            )["Item"]
            return str(from_item(existing)["arm"])
        return arm
