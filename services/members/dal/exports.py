"""Export requests (MembersTable) and parts (the export bucket) — the only boto3 user for them.

| item / object | where |
|---|---|
| export request | ``MEMBER#<id>`` / ``EXPORT#<export_id>`` (``ttl`` = expiry) |
| a service's part | ``s3://<MemberExportsBucket>/exports/<export_id>/<service>.json`` (7-day lifecycle) |
"""

from __future__ import annotations

from typing import Any

from services.members.logic.exports import ExportRequest, object_prefix, part_name
from shared.aws import client, local_link
from shared.dynamo import from_item, put_op, to_item, transact_write
from shared.outbox import outbox_item

LINK_SECONDS = 900


class ExportStore:
    def __init__(self, table_name: str, bucket: str) -> None:
        self.table_name = table_name
        self.bucket = bucket

    def record(self, request: ExportRequest, *, correlation_id: str, producer: str) -> None:
        """The request item and MemberExportRequested in one transaction (the member is active)."""
        record = outbox_item(
            request.event, correlation_id=correlation_id, producer=producer, now=request.event.requested_at
        )
        transact_write(
            [
                {
                    "ConditionCheck": {
                        "TableName": self.table_name,
                        "Key": to_item({"pk": request.item["pk"], "sk": "PROFILE"}),
                        "ConditionExpression": "#status = :active",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": to_item({":active": "active"}),
                    }
                },
                put_op(self.table_name, request.item, condition="attribute_not_exists(pk)"),
                put_op(self.table_name, record, condition="attribute_not_exists(pk)"),
            ]
        )

    def request(self, member_id: str, export_id: str) -> dict[str, Any] | None:
        """The member's own export request (another member's id finds nothing: it is keyed by ours)."""
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.table_name,
                Key=to_item({"pk": f"MEMBER#{member_id}", "sk": f"EXPORT#{export_id}"}),
                ConsistentRead=True,
            )
            .get("Item")
        )
        return from_item(item) if item else None

    def parts(self, export_id: str) -> dict[str, str]:
        """Part name → object key, for the parts written so far (a few objects: one page)."""
        answer = client("s3").list_objects_v2(
            Bucket=self.bucket, Prefix=object_prefix(export_id), MaxKeys=100
        )
        found: dict[str, str] = {}
        for obj in answer.get("Contents", []):
            name = part_name(str(obj["Key"]), export_id)
            if name:
                found[name] = str(obj["Key"])
        return found

    def link(self, key: str) -> str:
        presigned = client("s3").generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=LINK_SECONDS
        )
        return local_link(str(presigned), self.bucket, key)

    def delete_parts(self, export_id: str) -> int:
        """Erasure: every object under the export's prefix."""
        answer = client("s3").list_objects_v2(
            Bucket=self.bucket, Prefix=object_prefix(export_id), MaxKeys=1000
        )
        keys = [{"Key": str(obj["Key"])} for obj in answer.get("Contents", [])]
        if keys:
            client("s3").delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
        return len(keys)
