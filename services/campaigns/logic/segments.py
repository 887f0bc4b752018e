"""Segment rules: a tree of AND / OR / NOT over member attributes, validated when it is stored.

The language (JSON)::

    {"and": [rule, ...]} | {"or": [rule, ...]} | {"not": rule} | condition

    condition = {"field": F, "op": OP, ...}
      tier | rfm_segment | lifecycle_stage | churn_risk | value_level
            "in"            values: [str, ...]
      tags | categories | stores | consents
            "has_any" | "has_all"   values: [str, ...]   (consents: "marketing:sms", "personalisation", ...)
      points_balance
            "gte" | "lte"   value: int      "between"   values: [low, high]   (inclusive;
                            a member without any points movement counts as 0)
      last_purchase_at | registered_at
            "within_days"   days: int   — on or after the day ``days`` days before today (UTC days)
            "older_than_days" days: int — before that day (members without a value do not match)
      any field
            "exists"        — the member has a value (a non-empty set)

Every problem is reported with the path of the field that has it (``rule.and.1.values``), and an
invalid rule is refused (422) before anything is written. The same rule is evaluated on one row
(:func:`matches`, triggered campaigns) and on a shard's bitmap index (logic/audience_index.py,
previews and launches); a property test holds the two to the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.campaigns.models.audience import MemberAttributes

SINGLE_FIELDS = ("tier", "rfm_segment", "lifecycle_stage", "churn_risk", "value_level")
SET_FIELDS = ("tags", "categories", "stores", "consents")
NUMBER_FIELDS = ("points_balance",)
DATE_FIELDS = ("last_purchase_at", "registered_at")
FIELDS = SINGLE_FIELDS + SET_FIELDS + NUMBER_FIELDS + DATE_FIELDS
OPS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(SINGLE_FIELDS, ("in", "exists")),
    **dict.fromkeys(SET_FIELDS, ("has_any", "has_all", "exists")),
    **dict.fromkeys(NUMBER_FIELDS, ("gte", "lte", "between", "exists")),
    **dict.fromkeys(DATE_FIELDS, ("within_days", "older_than_days", "exists")),
}
MAX_DEPTH = 8
MAX_CONDITIONS = 64
MAX_VALUES = 200
MAX_DAYS = 3660
SECONDS_PER_DAY = 86_400


class InvalidRule(ValueError):
    """The rule is not in the language; ``fields`` lists ``{"field", "message"}`` for the 422."""

    def __init__(self, fields: list[dict[str, str]]) -> None:
        self.fields = fields
        super().__init__("; ".join(f"{f['field']}: {f['message']}" for f in fields))


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    values: tuple[str, ...] = ()
    low: int | None = None
    high: int | None = None
    days: int | None = None


@dataclass(frozen=True)
class Node:
    kind: Literal["and", "or", "not"]
    children: tuple[Rule, ...]


Rule = Node | Condition


def day_number(at: datetime) -> int:
    """UTC day number (days since 1970-01-01): segments compare dates by day, rows and bitmaps alike."""
    return int(at.timestamp()) // SECONDS_PER_DAY


class _Parser:
    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []
        self.conditions = 0

    def fail(self, path: str, message: str) -> None:
        self.errors.append({"field": path, "message": message})

    def rule(self, raw: Any, path: str, depth: int) -> Rule | None:
        if not isinstance(raw, Mapping):
            self.fail(path, "a rule is an object")
            return None
        if depth > MAX_DEPTH:
            self.fail(path, f"rules nest at most {MAX_DEPTH} deep")
            return None
        logical = [k for k in ("and", "or", "not") if k in raw]
        if logical:
            return self.node(raw, logical, path, depth)
        if "field" in raw or "op" in raw:
            return self.condition(raw, path)
        self.fail(path, "expected 'and', 'or', 'not' or a condition with 'field' and 'op'")
        return None

    def node(self, raw: Mapping[str, Any], logical: list[str], path: str, depth: int) -> Rule | None:
        if len(raw) != 1:
            self.fail(path, f"'{logical[0]}' stands alone in its object")
            return None
        kind = logical[0]
        value = raw[kind]
        if kind == "not":
            child = self.rule(value, f"{path}.not", depth + 1)
            return Node("not", (child,)) if child is not None else None
        if not isinstance(value, list) or not value:
            self.fail(f"{path}.{kind}", "a non-empty list of rules")
            return None
        children = [self.rule(c, f"{path}.{kind}.{i}", depth + 1) for i, c in enumerate(value)]
        if any(c is None for c in children):
            return None
        return Node(kind, tuple(c for c in children if c is not None))  # type: ignore[arg-type]

    def strings(self, raw: Mapping[str, Any], path: str) -> tuple[str, ...] | None:
        values = raw.get("values")
        if (
            not isinstance(values, list)
            or not values
            or len(values) > MAX_VALUES
            or not all(isinstance(v, str) and 0 < len(v) <= 128 for v in values)
        ):
            self.fail(f"{path}.values", f"1 to {MAX_VALUES} non-empty strings")
            return None
        return tuple(values)

    def integer(self, value: Any, path: str, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(path, f"an integer from {low} to {high}")
            return None
        return value

    def condition(self, raw: Mapping[str, Any], path: str) -> Condition | None:  # noqa: PLR0911, PLR0912
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            self.fail(path, f"a rule has at most {MAX_CONDITIONS} conditions")
            return None
        field, op = raw.get("field"), raw.get("op")
        if field not in OPS:
            self.fail(f"{path}.field", f"unknown field; one of {', '.join(FIELDS)}")
            return None
        if op not in OPS[field]:
            self.fail(f"{path}.op", f"{field} takes one of {', '.join(OPS[field])}")
            return None
        allowed = {"field", "op"} | {
            "in": {"values"},
            "has_any": {"values"},
            "has_all": {"values"},
            "between": {"values"},
            "gte": {"value"},
            "lte": {"value"},
            "within_days": {"days"},
            "older_than_days": {"days"},
            "exists": set(),
        }[op]
        extra = sorted(set(raw) - allowed)
        if extra:
            self.fail(f"{path}.{extra[0]}", f"not allowed with op {op}")
            return None
        if op in {"in", "has_any", "has_all"}:
            values = self.strings(raw, path)
            if values is None:
                return None
            if field == "consents":
                bad = [v for v in values if not _consent_value(v)]
                if bad:
                    self.fail(f"{path}.values", f"unknown consent {bad[0]!r} (e.g. 'marketing:sms')")
                    return None
            return Condition(field, op, values=values)
        if op in {"gte", "lte"}:
            number = self.integer(raw.get("value"), f"{path}.value", -(10**9), 10**9)
            if number is None:
                return None
            return Condition(
                field, op, low=number if op == "gte" else None, high=number if op == "lte" else None
            )
        if op == "between":
            pair = raw.get("values")
            if not isinstance(pair, list) or len(pair) != 2:
                self.fail(f"{path}.values", "[low, high]")
                return None
            low = self.integer(pair[0], f"{path}.values.0", -(10**9), 10**9)
            high = self.integer(pair[1], f"{path}.values.1", -(10**9), 10**9)
            if low is None or high is None:
                return None
            if low > high:
                self.fail(f"{path}.values", "low must not be above high")
                return None
            return Condition(field, op, low=low, high=high)
        if op in {"within_days", "older_than_days"}:
            days = self.integer(raw.get("days"), f"{path}.days", 0, MAX_DAYS)
            return Condition(field, op, days=days) if days is not None else None
        return Condition(field, op)


_CONSENT_PURPOSES = ("personalisation", "share_with_tenants", "share_with_parking_operator", "car_plates")
_CHANNELS = ("sms", "email", "wechat", "inbox")


def _consent_value(value: str) -> bool:
    if value.startswith("marketing:"):
        return value.split(":", 1)[1] in _CHANNELS
    return value in _CONSENT_PURPOSES


def parse_rule(raw: Any, path: str = "rule") -> Rule:
    """The rule tree, or :class:`InvalidRule` with every problem found and its path."""
    parser = _Parser()
    rule = parser.rule(raw, path, 1)
    if parser.errors or rule is None:
        raise InvalidRule(parser.errors or [{"field": path, "message": "invalid rule"}])
    return rule


def rule_fields(rule: Rule) -> set[str]:
    if isinstance(rule, Condition):
        return {rule.field}
    return set().union(*(rule_fields(c) for c in rule.children))


# --- evaluation on one row -----------------------------------------------------------------------


def _row_value(row: MemberAttributes, field: str) -> Any:
    return getattr(row, field)


def _match_condition(c: Condition, row: MemberAttributes, today: int) -> bool:  # noqa: PLR0911
    value = _row_value(row, c.field)
    if c.op == "exists":
        return bool(value) if c.field in SET_FIELDS else value is not None
    if value is None and c.field in NUMBER_FIELDS:
        value = 0  # no ledger movement yet: the member has 0 points, and "fewer than 100" includes her
    elif value is None:
        return False
    if c.op == "in":
        return value in c.values
    if c.op == "has_any":
        return bool(value & set(c.values))
    if c.op == "has_all":
        return bool(set(c.values) <= value)
    if c.field in DATE_FIELDS:
        assert c.days is not None
        since = today - c.days
        return day_number(value) >= since if c.op == "within_days" else day_number(value) < since
    if c.low is not None and value < c.low:
        return False
    return not (c.high is not None and value > c.high)


def matches(rule: Rule, row: MemberAttributes, now: datetime) -> bool:
    """Does one member match? (Triggered campaigns check their segment this way.)"""
    today = day_number(now)

    def walk(node: Rule) -> bool:
        if isinstance(node, Condition):
            return _match_condition(node, row, today)
        if node.kind == "and":
            return all(walk(c) for c in node.children)
        if node.kind == "or":
            return any(walk(c) for c in node.children)
        return not walk(node.children[0])

    return walk(rule)
