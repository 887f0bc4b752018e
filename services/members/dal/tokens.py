"""Member-token keys and revocation (the only boto3 user for them).

* Keys: ``MemberTokenKeySecret``'s ``AWSCURRENT`` version signs; ``AWSCURRENT`` and ``AWSPREVIOUS``
  verify (rotation: docs/decisions.md). Both are cached per container for ``max_age`` seconds,
  like :mod:`shared.secrets`; a secret without a previous version (never rotated) has one key.
* Revocation: ``tokens_valid_after`` (epoch seconds) and ``status`` on the member's ``PROFILE``
  item; the authorizer reads both in one GetItem (projection of those two attributes) on every
  cache miss — an erased member's profile is a tombstone (``status = erased``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from shared.aws import client
from shared.dynamo import ConditionalCheckFailed, from_item, put_op, to_item, transact_write
from shared.secrets import secret_bytes

_lock = threading.Lock()
_previous: dict[str, tuple[float, bytes | None]] = {}


def _previous_version(secret_id: str, max_age_seconds: float) -> bytes | None:
    now = time.monotonic()
    with _lock:
        hit = _previous.get(secret_id)
        if hit is not None and now - hit[0] < max_age_seconds:
            return hit[1]
    try:
        answer = client("secretsmanager").get_secret_value(SecretId=secret_id, VersionStage="AWSPREVIOUS")
        value: bytes | None = str(answer["SecretString"]).encode("utf-8") or None
    except Exception as exc:
        # Never rotated: no version carries AWSPREVIOUS (ResourceNotFoundException).
        if getattr(exc, "response", {}).get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        value = None
    with _lock:
        _previous[secret_id] = (now, value)
    return value


def token_masters(secret_id: str, max_age_seconds: float) -> list[bytes]:
    """The master secrets whose token keys verify: current first, then the previous one."""
    current = secret_bytes(secret_id, max_age_seconds)
    previous = _previous_version(secret_id, max_age_seconds)
    return [current] if previous is None or previous == current else [current, previous]


def clear_cache() -> None:
    with _lock:
        _previous.clear()


def token_state(table_name: str, member_id: str) -> tuple[str | None, int | None]:
    """The member's ``(status, tokens_valid_after)`` — ``(None, None)`` without a profile — in one
    consistent GetItem."""
    item = (
        client("dynamodb")
        .get_item(
            TableName=table_name,
            Key=to_item({"pk": f"MEMBER#{member_id}", "sk": "PROFILE"}),
            ProjectionExpression="#status, tokens_valid_after",
            ExpressionAttributeNames={"#status": "status"},
            ConsistentRead=True,
        )
        .get("Item")
    )
    if not item:
        return None, None
    plain = from_item(item)
    value = plain.get("tokens_valid_after")
    status = plain.get("status")
    return (str(status) if status is not None else None), (int(value) if value is not None else None)


def revoke_tokens(
    table_name: str, member_id: str, at_epoch: int, audit: dict[str, Any] | None = None
) -> bool:
    """Void every token issued up to ``at_epoch`` (never moves the time back); with staff's
    ``audit`` entry in the same transaction. False when the member is not active."""
    ops: list[dict[str, Any]] = [
        {
            "Update": {
                "TableName": table_name,
                "Key": to_item({"pk": f"MEMBER#{member_id}", "sk": "PROFILE"}),
                "UpdateExpression": "SET tokens_valid_after = :at",
                "ConditionExpression": "#status = :active AND "
                "(attribute_not_exists(tokens_valid_after) OR tokens_valid_after < :at)",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": to_item({":active": "active", ":at": at_epoch}),
            }
        }
    ]
    if audit is not None:
        ops.append(put_op(table_name, audit, condition="attribute_not_exists(pk)"))
    try:
        transact_write(ops)
    except ConditionalCheckFailed:
        current = (
            client("dynamodb")
            .get_item(
                TableName=table_name,
                Key=to_item({"pk": f"MEMBER#{member_id}", "sk": "PROFILE"}),
                ConsistentRead=True,
            )
            .get("Item")
        )
        plain = from_item(current) if current else {}
        # Already revoked at this second or later: the same outcome, not an error.
        return plain.get("status") == "active"
    return True
