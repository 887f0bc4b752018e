"""The tickets part's pointers: which export objects tickets wrote for a member (the only boto3
user for them; the object itself is written by ``dal.adapters.S3ExportWriter``).

``MEMBER#<member_id>`` / ``EXPORT#<export_id>`` (``object_key``, TTL 8 days — the objects live 7)
is written *before* the part (``shared.exports.write_part_guarded``), so an erasure that reaches
tickets after the part was written finds the pointer and deletes the object
(``handlers/on_events.pseudonymise_member``). The pointer sits next to the member's ticket pointers
(``TICKET#…``) in the same partition; nothing else reads ``EXPORT#`` items.
"""

from __future__ import annotations

from services.tickets.dal.table import TableRepository
from shared import clock
from shared.dynamo import to_item

__all__ = ["EXPORT_REF", "POINTER_TTL_SECONDS", "DynamoTicketsExportPointers"]

POINTER_TTL_SECONDS = 8 * 86_400
EXPORT_REF = "export_part_ref"


def _key(member_id: str, export_id: str) -> dict[str, str]:
    return {"pk": f"MEMBER#{member_id}", "sk": f"EXPORT#{export_id}"}


class DynamoTicketsExportPointers(TableRepository):
    """:class:`shared.exports.ExportPointers` on TicketsTable, and the erasure's look at them."""

    def remember(self, member_id: str, export_id: str, object_key: str) -> None:
        self.client.put_item(
            TableName=self.table,
            Item=to_item(
                {
                    **_key(member_id, export_id),
                    "entity": EXPORT_REF,
                    "export_id": export_id,
                    "object_key": object_key,
                    "ttl": clock.epoch_seconds(clock.now()) + POINTER_TTL_SECONDS,
                }
            ),
        )

    def forget(self, member_id: str, export_id: str) -> None:
        self.client.delete_item(TableName=self.table, Key=to_item(_key(member_id, export_id)))

    def written(self, member_id: str) -> dict[str, str]:
        """export id → object key of every part still remembered for the member (one consistent
        Query: a pointer written just before must be seen by the erasure)."""
        found = self._query_partition(f"MEMBER#{member_id}", "EXPORT#", consistent=True)
        return {str(i["export_id"]): str(i["object_key"]) for i in found}
