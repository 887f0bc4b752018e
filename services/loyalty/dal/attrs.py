"""DynamoDB attribute maps for loyalty's hot path (a purchase's transaction: nonce, purchase,
outbox, balance, lots, movement; and the balance item it reads), built and read directly.

``shared.dynamo.to_item`` walks every value twice (a float check, then boto3's TypeSerializer,
which tests each value against a dozen types and goes through ``decimal`` for every number): about
a third of a millisecond per purchase, a tenth of the warm handler. These items hold only
``str``, ``int``, ``bool``, ``None``, dicts and lists, for which the mapping is direct; anything
else (``Decimal``, sets, bytes, huge ints, floats — refused) goes through ``to_item``, so the result
is always what ``to_item`` gives (tests/unit/loyalty/test_attrs.py checks the two agree).
:func:`plain_item` is the same for reading: what ``shared.dynamo.from_item`` gives, without
boto3's TypeDeserializer and its ``Decimal`` round trip for every number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.dynamo import from_item, to_item

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
    # Most attributes are strings and numbers: mapped here without a call per attribute.
    result: dict[str, Any] = {}
    for key, value in data.items():
        kind = type(value)
        if kind is str:
            result[key] = {"S": value}
        elif kind is int and -_MAX_EXACT < value < _MAX_EXACT:
            result[key] = {"N": str(value)}
        elif value is not None:
            result[key] = attr(value)
    return result


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


def _plain(value: Mapping[str, Any]) -> Any:  # noqa: PLR0911 - one return per DynamoDB type
    if len(value) == 1:
        kind, raw = next(iter(value.items()))
        if kind == "S":
            return raw
        if kind == "N" and raw.isascii() and raw.lstrip("-").isdigit() and len(raw) <= 39:
            return int(raw)
        if kind == "BOOL":
            return raw
        if kind == "NULL":
            return None
        if kind == "M":
            return {key: _plain(sub) for key, sub in raw.items()}
        if kind == "L":
            return [_plain(sub) for sub in raw]
    return from_item({"v": value})["v"]  # sets, binary, fractions, exponents: as shared.dynamo


def plain_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """As ``shared.dynamo.from_item``: an attribute map → plain values, integral numbers as ``int``."""
    return {key: _plain(value) for key, value in item.items()}
