"""What both repositories of the tickets table share: the table, its client, one-item reads and
reads of a partition."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shared import aws
from shared.dynamo import from_item, query_all, to_item

__all__ = ["TableRepository"]


class TableRepository:
    """A repository over the one tickets table (``client`` is injected by tests; otherwise the
    process's shared DynamoDB client, created on first use)."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table = table_name
        self._client = client

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else aws.client("dynamodb")

    def _get_item(self, pk: str, sk: str, *, consistent: bool = False) -> dict[str, Any] | None:
        """The item at ``(pk, sk)`` in plain values, None when there is none. ``consistent`` for a
        read that must see the latest write (a version compared or a decision taken on it)."""
        request: dict[str, Any] = {"TableName": self.table, "Key": to_item({"pk": pk, "sk": sk})}
        if consistent:
            request["ConsistentRead"] = True
        raw = self.client.get_item(**request).get("Item")
        return from_item(raw) if raw else None

    def _query_partition(
        self, pk: str, sk_prefix: str | None = None, *, consistent: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Every item of partition ``pk`` (those whose sort key starts with ``sk_prefix``, when
        given), page after page, in plain values."""
        condition = "pk = :pk"
        values: dict[str, Any] = {":pk": pk}
        if sk_prefix is not None:
            condition += " AND begins_with(sk, :prefix)"
            values[":prefix"] = sk_prefix
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_item(values),
        }
        if consistent:
            request["ConsistentRead"] = True
        return query_all(request, client=self.client)
