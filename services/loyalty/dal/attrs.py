"""DynamoDB attribute maps for loyalty's hot write path (a purchase's transaction: nonce,
purchase, outbox, balance, lots, movement), built directly.

``shared.dynamo.to_item`` walks every value twice (a float check, then boto3's TypeSerializer,
which tests each value against a dozen types and goes through ``decimal`` for every number): about
a third of a millisecond per purchase, a tenth of the warm handler. These items hold only
``str``, ``int``, ``bool``, ``None``, dicts and lists, for which the mapping is direct; anything
else (``Decimal``, sets, bytes, huge ints, floats — refused) goes through ``to_item``, so the result
is always what ``to_item`` gives (tests/unit/loyalty/test_attrs.py checks the two agree).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.dynamo import to_item

_MAX_EXACT = 10**38  # DynamoDB numbers: 38 digits of precision; beyond that, to_item decides


def attr(value: Any) -> dict[str, Any]:  # noqa: PLR0911 - one return per DynamoDB type
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is bool:
        return {"BOOL": value}
    if kind is int and -_MAX_EXACT < value < _MAX_EXACT:
        return {"N": str(value)}
    if value is None:
        return {"NULL": True}
    if kind is dict:
        return {"M": {key: attr(sub) for key, sub in value.items()}}
    if kind is list or kind is tuple:
        return {"L": [attr(sub) for sub in value]}
    return dict(to_item({"v": value})["v"])


def item_attrs(data: Mapping[str, Any]) -> dict[str, Any]:
    """As ``shared.dynamo.to_item``: top-level ``None`` values are dropped."""
    return {key: attr(value) for key, value in data.items() if value is not None}


def put(
    table_name: str,
    item: Mapping[str, Any],
    *,
    condition: str | None = None,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """As ``shared.dynamo.put_op`` (a TransactWriteItems ``Put`` from a plain item)."""
    body: dict[str, Any] = {"TableName": table_name, "Item": item_attrs(item)}
    if condition:
        body["ConditionExpression"] = condition
    if names:
        body["ExpressionAttributeNames"] = dict(names)
    if values:
        body["ExpressionAttributeValues"] = item_attrs(values)
    return {"Put": body}
