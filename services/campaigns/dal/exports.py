"""Reading everything campaigns holds about one member for the data export, and writing the part
to the members' export bucket (the only boto3 user for both).

Reads, all by key (no Scan): the member's partition ``MEMBER#<member_id>`` (one Query, paginated,
consistent: consents, attribute row, last purchase and contact, inbox, ``SENDREF#`` and
``EPISODE#`` references, triggered-campaign assignments), the send records and episodes those
references name (GetItem each), and the member's arm in each recent launch (the launch index and
one bucket per launch, dal/attribution.py).

Each part written is remembered in the member's partition (``MEMBER#<member_id>`` /
``EXPORT#<export_id>``, ``object_key``, TTL 8 days — the objects live 7), so the erasure consumer
deletes the part when an erasure overtakes the export (dal/privacy.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.campaigns.logic.exports import SERVICE, Assignment, CampaignsHoldings
from shared import clock
from shared.aws import client
from shared.dynamo import from_item, query_all, to_item
from shared.exports import ExportPartWriter

POINTER_TTL_SECONDS = 8 * 86_400
EXPORT_REF = "export_part_ref"


def export_pointer_key(member_id: str, export_id: str) -> dict[str, str]:
    return {"pk": f"MEMBER#{member_id}", "sk": f"EXPORT#{export_id}"}


class DynamoCampaignsExportReader:
    def __init__(self, table_name: str) -> None:
        self.table = table_name

    def _get(self, key: Mapping[str, str]) -> dict[str, Any] | None:
        raw = client("dynamodb").get_item(TableName=self.table, Key=to_item(dict(key)), ConsistentRead=True)
        return from_item(raw["Item"]) if "Item" in raw else None

    def is_erased(self, pseudonym: str) -> bool:
        """Campaigns' erasure tombstone (written before the member's items are deleted)."""
        from services.campaigns.dal.privacy import tombstone_key  # noqa: PLC0415 - keeps imports small

        return self._get(tombstone_key(pseudonym)) is not None

    def remember(self, member_id: str, export_id: str, object_key: str) -> None:
        """The pointer to a part about to be written (before the object: see the module doc)."""
        client("dynamodb").put_item(
            TableName=self.table,
            Item=to_item(
                {
                    **export_pointer_key(member_id, export_id),
                    "entity": EXPORT_REF,
                    "object_key": object_key,
                    "ttl": int(clock.now().timestamp()) + POINTER_TTL_SECONDS,
                }
            ),
        )

    def forget(self, member_id: str, export_id: str) -> None:
        client("dynamodb").delete_item(
            TableName=self.table, Key=to_item(export_pointer_key(member_id, export_id))
        )

    def holdings(self, member_id: str, at: datetime) -> CampaignsHoldings:
        found = CampaignsHoldings()
        partition = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": f"MEMBER#{member_id}"}),
            "ConsistentRead": True,
        }
        consents, inbox, sends, episodes = [], [], [], []
        for item in query_all(partition):
            entity, sk = item.get("entity"), str(item["sk"])
            if entity == "consent_projection" or sk.startswith("CONSENT#"):
                consents.append(item)
            elif entity == "member_attrs" or sk == "ATTRS":
                found.attributes = item
            elif sk == "LAST_PURCHASE":
                found.last_purchase = item
            elif sk == "LAST_CONTACT":
                found.last_contact = item
            elif sk.startswith("INBOX#"):
                inbox.append(item)
            elif entity == "send_ref":
                record = self._get({"pk": f"SEND#{item['send_id']}", "sk": "SEND"})
                if record is not None and record.get("member_id") == member_id:
                    sends.append(record)
            elif entity == "member_episode_ref":
                episode = self._get({"pk": f"EPISODE#{item['episode_id']}", "sk": "EPISODE"})
                if episode is not None and episode.get("member_id") == member_id:
                    episodes.append(episode)
        found.consents, found.inbox, found.sends, found.episodes = consents, inbox, sends, episodes
        found.assignments = self._assignments(member_id, at)
        return found

    def _assignments(self, member_id: str, at: datetime) -> list[Assignment]:
        # Lazy: the attribution module pulls in the launch logic, which only this read needs.
        from services.campaigns.dal.attribution import DynamoAttributionRepository  # noqa: PLC0415

        rows = DynamoAttributionRepository(self.table).held_assignments(member_id, at)
        return [Assignment(r.campaign_id, r.arm, r.assigned_at, r.attribution_until) for r in rows]


class S3ExportWriter(ExportPartWriter):
    """Campaigns' part of a member export: ``<prefix>campaigns.json`` in the members' export bucket."""

    def __init__(self, bucket: str) -> None:
        super().__init__(bucket, SERVICE)
