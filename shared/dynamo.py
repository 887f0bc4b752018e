"""DynamoDB helpers every repository (``dal/``) uses: typed items, transactions, idempotency.

* :func:`to_item` / :func:`from_item` convert between plain Python and DynamoDB's typed JSON.
  Floats are refused — money is integer cents and a float in a ledger is a bug — and integral
  numbers come back as ``int``, not ``Decimal``.
* :class:`ConditionalCheckFailed` turns a failed condition (alone or inside a transaction) into an
  outcome the logic can branch on, with the indexes of the transaction items that failed.
* :func:`idempotency_marker` / :func:`idempotency_put`: a consumer writes the marker for
  ``(event_id, consumer)`` with ``attribute_not_exists(pk)`` in the *same* TransactWriteItems as
  its business change, so an event redelivered by SQS changes state exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from shared import aws, clock

__all__ = [
    "IDEMPOTENCY_TTL",
    "ConditionalCheckFailed",
    "cancellation_reasons",
    "from_item",
    "idempotency_marker",
    "idempotency_put",
    "is_conditional_check_failed",
    "put_op",
    "query_all",
    "to_item",
    "transact_write",
]

IDEMPOTENCY_TTL = timedelta(days=30)
MAX_TRANSACT_ITEMS = 100


class ConditionalCheckFailed(Exception):
    """A write's condition did not hold. ``failed_indexes``: which transaction items (if any)."""

    def __init__(self, message: str = "conditional check failed", failed_indexes: Sequence[int] = ()) -> None:
        self.failed_indexes = tuple(failed_indexes)
        super().__init__(message)


def _refuse_floats(value: Any, path: str) -> None:
    if isinstance(value, float):
        raise TypeError(f"float at {path or 'item'}: use int (cents) or Decimal, never float")
    if isinstance(value, Mapping):
        for key, sub in value.items():
            _refuse_floats(sub, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple | set | frozenset):
        for index, sub in enumerate(value):
            _refuse_floats(sub, f"{path}[{index}]")


def to_item(data: Mapping[str, Any]) -> dict[str, Any]:
    """Plain dict → DynamoDB attribute map (``{"pk": {"S": ...}, ...}``); ``None`` values are dropped."""
    from boto3.dynamodb.types import TypeSerializer  # noqa: PLC0415

    _refuse_floats(data, "")
    serializer = TypeSerializer()
    return {key: serializer.serialize(value) for key, value in data.items() if value is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return {_plain(v) for v in value}
    return value


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute map → plain dict; integral numbers become ``int``."""
    from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415

    deserializer = TypeDeserializer()
    return {key: _plain(deserializer.deserialize(value)) for key, value in item.items()}


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, Mapping):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code else None


def cancellation_reasons(exc: BaseException) -> list[str]:
    """The per-item reason codes of a ``TransactionCanceledException`` (``"None"`` for items that passed).

    Taken from the response's ``CancellationReasons`` or, failing that, parsed from the message
    (``... [None, ConditionalCheckFailed]``), which is all some emulators return.
    """
    if _error_code(exc) != "TransactionCanceledException":
        return []
    response: Mapping[str, Any] = getattr(exc, "response", {})
    reasons = response.get("CancellationReasons")
    if reasons:
        return [str(r.get("Code", "None")) for r in reasons]
    message = str(response.get("Error", {}).get("Message", ""))
    if "[" in message and message.rstrip().endswith("]"):
        inside = message[message.rindex("[") + 1 : message.rstrip().rindex("]")]
        return [part.strip() for part in inside.split(",")]
    return []


def is_conditional_check_failed(exc: BaseException) -> bool:
    """True for a failed condition on a single write or on any item of a transaction."""
    if isinstance(exc, ConditionalCheckFailed):
        return True
    code = _error_code(exc)
    if code == "ConditionalCheckFailedException":
        return True
    return "ConditionalCheckFailed" in cancellation_reasons(exc)


def query_all(request: Mapping[str, Any], *, client: Any = None) -> Iterator[dict[str, Any]]:
    """Every item a Query returns, page after page, deserialised (``request`` is the Query's
    keyword arguments; it is not modified)."""
    ddb = client if client is not None else aws.client("dynamodb")
    kwargs = dict(request)
    while True:
        page = ddb.query(**kwargs)
        for raw in page.get("Items", []):
            yield from_item(raw)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def batch_get_all(
    table_name: str,
    keys: Sequence[Mapping[str, Any]],
    *,
    projection: str | None = None,
    names: Mapping[str, str] | None = None,
    consistent: bool = False,
    attempts: int = 6,
    client: Any = None,
) -> list[dict[str, Any]]:
    """Every item of ``keys`` (plain key dicts, at most 100) that exists, deserialised, in no
    particular order; unprocessed keys are asked again with backoff, and still unprocessed after
    ``attempts`` raise RuntimeError (the caller's request fails and is retried, nothing is lost:
    a partial answer would read as "missing"). ``consistent``: strongly consistent reads."""
    if not keys:
        return []
    ddb = client if client is not None else aws.client("dynamodb")
    request: dict[str, Any] = {"Keys": [to_item(dict(key)) for key in keys]}
    if consistent:
        request["ConsistentRead"] = True
    if projection:
        request["ProjectionExpression"] = projection
    if names:
        request["ExpressionAttributeNames"] = dict(names)
    found: list[dict[str, Any]] = []
    pending: dict[str, Any] = {table_name: request}
    for attempt in range(attempts):
        response = ddb.batch_get_item(RequestItems=pending)
        found += [from_item(item) for item in response.get("Responses", {}).get(table_name, [])]
        pending = response.get("UnprocessedKeys") or {}
        if not pending:
            return found
        time.sleep(min(0.05 * 2**attempt, 1.0))
    raise RuntimeError(f"{table_name}: keys still unprocessed after {attempts} BatchGetItem calls")


def transact_write(
    items: Sequence[Mapping[str, Any]], *, client: Any | None = None, token: str | None = None
) -> None:
    """TransactWriteItems; a failed condition raises :class:`ConditionalCheckFailed` with the failing
    item indexes. Other errors (throttling, conflicts with another transaction) propagate.

    ``token`` is the ClientRequestToken: pass the event or request id for 10-minute idempotency.
    """
    if not items:
        return
    if len(items) > MAX_TRANSACT_ITEMS:
        raise ValueError(f"a transaction holds at most {MAX_TRANSACT_ITEMS} items, got {len(items)}")
    if client is None:
        client = aws.client("dynamodb")
    kwargs: dict[str, Any] = {"TransactItems": [dict(i) for i in items]}
    if token:
        kwargs["ClientRequestToken"] = token
    try:
        client.transact_write_items(**kwargs)
    except Exception as exc:
        reasons = cancellation_reasons(exc)
        if "ConditionalCheckFailed" in reasons:
            failed = [i for i, reason in enumerate(reasons) if reason == "ConditionalCheckFailed"]
            raise ConditionalCheckFailed("transaction cancelled by a condition", failed) from exc
        raise


def put_op(
    table_name: str,
    item: Mapping[str, Any],
    *,
    condition: str | None = None,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``Put`` element for :func:`transact_write` from a plain item (``values`` are plain too)."""
    put: dict[str, Any] = {"TableName": table_name, "Item": to_item(item)}
    if condition:
        put["ConditionExpression"] = condition
    if names:
        put["ExpressionAttributeNames"] = dict(names)
    if values:
        put["ExpressionAttributeValues"] = to_item(values)
    return {"Put": put}


def idempotency_marker(event_id: str, consumer: str, now: datetime | None = None) -> dict[str, Any]:
    """The item that records "``consumer`` has applied ``event_id``" (kept 30 days)."""
    moment = now if now is not None else clock.now()
    return {
        "pk": f"EVENT#{event_id}",
        "sk": f"CONSUMER#{consumer}",
        "entity": "idempotency",
        "processed_at": clock.to_utc_iso(moment),
        "ttl": clock.epoch_seconds(moment + IDEMPOTENCY_TTL),
    }


def idempotency_put(
    table_name: str, event_id: str, consumer: str, now: datetime | None = None
) -> dict[str, Any]:
    """The marker as a conditional ``Put`` to add to the consumer's transaction.

    If the transaction fails with :class:`ConditionalCheckFailed` and this item's index is in
    ``failed_indexes``, the event was already applied: acknowledge it and do nothing.
    """
    return put_op(
        table_name,
        idempotency_marker(event_id, consumer, now),
        condition="attribute_not_exists(pk)",
    )
