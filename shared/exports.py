"""Each service's part of a member's data export (PIPL Art. 45; docs/contracts/export.md).

Members publishes ``MemberExportRequested``; every service writes one JSON object
``<object_prefix><service>.json`` to the members' export bucket. :class:`ExportPartWriter` writes
and deletes that object; :func:`write_part_guarded` writes it so that an erasure overtaking the
export cannot leave the member's data behind.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from shared.aws import client


class ExportPartWriter:
    """One service's part of a member export: ``<prefix><service>.json`` in the members' export
    bucket (SSE-KMS by the bucket's default; overwriting the same request's part is idempotent)."""

    def __init__(self, bucket: str, service: str) -> None:
        self.bucket = bucket
        self.service = service

    def key_of(self, prefix: str) -> str:
        return f"{prefix}{self.service}.json"

    def delete(self, key: str) -> None:
        client("s3").delete_object(Bucket=self.bucket, Key=key)

    def write(self, prefix: str, part: Mapping[str, Any]) -> str:
        key = self.key_of(prefix)
        client("s3").put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(part, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8"),
            ContentType="application/json; charset=utf-8",
        )
        return key


class ExportPointers(Protocol):
    """Where a service notes, in the member's own partition, the export objects it wrote (its
    MemberErased consumer deletes the objects those pointers name)."""

    def remember(self, member_id: str, export_id: str, object_key: str) -> None: ...

    def forget(self, member_id: str, export_id: str) -> None: ...


def write_part_guarded(
    *,
    member_id: str,
    export_id: str,
    object_prefix: str,
    part: Mapping[str, Any],
    holds_data: bool,
    writer: ExportPartWriter,
    pointers: ExportPointers,
    erased: Callable[[], bool],
) -> str | None:
    """Write the part so that an erasure racing the export leaves nothing behind.

    Members deletes the parts it finds when the member is erased, but this consumer may run
    later. So: pointer first, then the object, then the erasure tombstone again — an erasure that
    started before the object was written is seen here (the object and pointer are deleted), one
    that starts after finds the pointer (the service's erasure consumer deletes the object). A part
    that holds no data of the member (``"data": null``) needs no pointer. ``None`` when deleted.
    """
    if not holds_data:
        return writer.write(object_prefix, part)
    object_key = writer.key_of(object_prefix)
    pointers.remember(member_id, export_id, object_key)
    writer.write(object_prefix, part)
    if erased():
        writer.delete(object_key)
        pointers.forget(member_id, export_id)  # no member id left behind the erasure
        return None
    return object_key
