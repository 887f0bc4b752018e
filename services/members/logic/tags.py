"""Operator-defined tags: rules stored as data, in a small and safe language over the statistics.

A rule is JSON, one of::

    {"all": [<rule>, ...]}            every sub-rule holds (1-20 sub-rules)
    {"any": [<rule>, ...]}            at least one holds (1-20 sub-rules)
    {"not": <rule>}                   the sub-rule does not hold
    {"field": "<name>", "op": ">=", "value": 150}

``op`` is one of ``== != < <= > >=``; ``value`` is a number; ``field`` is one of
:data:`FEATURE_FIELDS` or ``category_share.<category>`` / ``category_spend_cents.<category>``.
A comparison with a missing value (e.g. ``last_csat`` of a member who never answered a survey) is
false, and ``not`` negates that (``not last_csat >= 4`` holds for a member without a survey).
Rules are parsed into a tree and interpreted — there
is no ``eval`` — and the same tree compiles to SQL for the columnar engine
(:func:`to_sql`; identifiers and literals are generated, never copied from the rule text).
Limits: depth 6, 60 nodes.

The example from the issue, "family" (long weekend parking and children's categories)::

    {"all": [{"field": "parking_weekend_avg_minutes", "op": ">=", "value": 150},
             {"any": [{"field": "category_share.kids", "op": ">=", "value": 0.1},
                      {"field": "category_share.toys", "op": ">=", "value": 0.1}]}]}
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

FEATURE_FIELDS: Mapping[str, str] = {
    "recency_days": "days since the last purchase",
    "member_for_days": "days since the first purchase",
    "frequency_30d": "purchases in the last 30 days",
    "frequency_90d": "purchases in the last 90 days",
    "frequency_365d": "purchases in the last 365 days",
    "monetary_90d_cents": "net spend in the last 90 days (cents)",
    "monetary_365d_cents": "net spend in the last 365 days (cents)",
    "purchase_count": "purchases ever",
    "spend_cents": "net spend ever (cents)",
    "cadence_days": "the member's usual gap between purchases (days)",
    "parking_visits_90d": "parking sessions in the last 90 days",
    "parking_visits_365d": "parking sessions in the last 365 days",
    "parking_sessions": "parking sessions ever",
    "parking_avg_minutes": "average parking duration (minutes); missing without parking",
    "parking_weekend_sessions": "parking sessions on Saturdays and Sundays",
    "parking_weekend_avg_minutes": "average weekend parking duration (minutes); missing without any",
    "parking_weekend_share": "share of parking sessions on weekends (0-1); missing without parking",
    "tickets_resolved": "service tickets resolved",
    "complaint_count": "complaints",
    "days_since_last_complaint": "days since the last complaint; missing without any",
    "last_csat": "the last satisfaction score (1-5); missing without any",
}
MAP_FIELDS = ("category_share", "category_spend_cents")
OPS: Mapping[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
SQL_OPS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
MAX_DEPTH = 6
MAX_NODES = 60
MAX_CHILDREN = 20
_KEY = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
TAG_ID = re.compile(r"^[a-z][a-z0-9_\-]{0,39}$")


class InvalidRule(ValueError):
    """The rule is not in the language (the message says where)."""


@dataclass(frozen=True)
class Compare:
    """``field op value``."""

    field: str
    op: str
    value: float | int


@dataclass(frozen=True)
class All:
    """Every sub-rule holds."""

    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Any_:
    """At least one sub-rule holds."""

    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Not:
    """The sub-rule does not hold."""

    rule: Rule


Rule = Compare | All | Any_ | Not


def _check_field(field: Any, where: str) -> str:
    if not isinstance(field, str):
        raise InvalidRule(f"{where}: field must be a string")
    if field in FEATURE_FIELDS:
        return field
    head, dot, key = field.partition(".")
    if dot and head in MAP_FIELDS and _KEY.match(key):
        return field
    raise InvalidRule(
        f"{where}: unknown field {field[:80]!r} (one of {sorted(FEATURE_FIELDS)} or "
        f"{'/'.join(MAP_FIELDS)}.<category>)"
    )


def parse(raw: Any) -> Rule:
    """The rule tree for JSON-like ``raw``; :class:`InvalidRule` if it is not in the language."""
    count = 0

    def walk(node: Any, depth: int, where: str) -> Rule:
        nonlocal count
        count += 1
        if count > MAX_NODES:
            raise InvalidRule(f"more than {MAX_NODES} nodes")
        if depth > MAX_DEPTH:
            raise InvalidRule(f"{where}: deeper than {MAX_DEPTH}")
        if not isinstance(node, dict) or not node:
            raise InvalidRule(f"{where}: expected an object")
        keys = set(node)
        if keys in ({"all"}, {"any"}):
            (kind,) = keys
            children = node[kind]
            if not isinstance(children, list) or not 1 <= len(children) <= MAX_CHILDREN:
                raise InvalidRule(f"{where}.{kind}: expected a list of 1-{MAX_CHILDREN} rules")
            parsed = tuple(walk(c, depth + 1, f"{where}.{kind}[{i}]") for i, c in enumerate(children))
            return All(parsed) if kind == "all" else Any_(parsed)
        if keys == {"not"}:
            return Not(walk(node["not"], depth + 1, f"{where}.not"))
        if keys == {"field", "op", "value"}:
            field = _check_field(node["field"], where)
            op = node["op"]
            if op not in OPS:
                raise InvalidRule(f"{where}: op must be one of {list(OPS)}")
            value = node["value"]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidRule(f"{where}: value must be a finite number")
            return Compare(field, op, value)
        raise InvalidRule(f"{where}: expected all / any / not / field+op+value, got keys {sorted(keys)[:6]}")

    return walk(raw, 1, "rule")


def to_json(rule: Rule) -> dict[str, Any]:
    """The stored (and displayed) form of a rule."""
    if isinstance(rule, Compare):
        return {"field": rule.field, "op": rule.op, "value": rule.value}
    if isinstance(rule, All):
        return {"all": [to_json(r) for r in rule.rules]}
    if isinstance(rule, Any_):
        return {"any": [to_json(r) for r in rule.rules]}
    return {"not": to_json(rule.rule)}


def describe(rule: Rule) -> str:
    """A one-line human reading of the rule, for the "why" of a tag."""
    if isinstance(rule, Compare):
        return f"{rule.field} {rule.op} {rule.value}"
    if isinstance(rule, All | Any_):
        joiner = " and " if isinstance(rule, All) else " or "
        return "(" + joiner.join(describe(r) for r in rule.rules) + ")"
    return f"not {describe(rule.rule)}"


def evaluate(rule: Rule, value_of: Callable[[str], float | int | None]) -> bool:
    """Does ``rule`` hold for the member whose statistics ``value_of(field)`` reads?"""
    if isinstance(rule, Compare):
        value = value_of(rule.field)
        return value is not None and OPS[rule.op](value, rule.value)
    if isinstance(rule, All):
        return all(evaluate(r, value_of) for r in rule.rules)
    if isinstance(rule, Any_):
        return any(evaluate(r, value_of) for r in rule.rules)
    return not evaluate(rule.rule, value_of)


def referenced_categories(rule: Rule) -> set[str]:
    if isinstance(rule, Compare):
        _, dot, key = rule.field.partition(".")
        return {key} if dot else set()
    if isinstance(rule, Not):
        return referenced_categories(rule.rule)
    return set().union(*(referenced_categories(r) for r in rule.rules))


def sql_column(field: str) -> str:
    """The column a field is read from in the columnar engine (category fields are pivoted into
    ``cs__<key>`` / ``cc__<key>`` columns; keys are checked against a strict pattern first)."""
    head, dot, key = field.partition(".")
    if not dot:
        if field not in FEATURE_FIELDS:
            raise InvalidRule(field)
        return field
    if head not in MAP_FIELDS or not _KEY.match(key):
        raise InvalidRule(field)
    prefix = "cs" if head == "category_share" else "cc"
    return '"' + f"{prefix}__{key}" + '"'


def _sql_number(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    return f"CAST('{value!r}' AS DOUBLE)"


def to_sql(rule: Rule) -> str:
    """A two-valued SQL boolean for ``rule`` (a comparison with NULL is false, as in :func:`evaluate`)."""
    if isinstance(rule, Compare):
        return f"coalesce({sql_column(rule.field)} {SQL_OPS[rule.op]} {_sql_number(rule.value)}, false)"
    if isinstance(rule, All | Any_):
        joiner = " AND " if isinstance(rule, All) else " OR "
        return "(" + joiner.join(to_sql(r) for r in rule.rules) + ")"
    return f"(NOT {to_sql(rule.rule)})"


@dataclass(frozen=True)
class TagRule:
    """An operator's tag: ``tag_id`` is what members carry (``family``), ``rule`` when they do."""

    tag_id: str
    name: str
    rule: Rule
    description: str = ""
    enabled: bool = True
    version: int = 1
    updated_at: str = ""
    updated_by: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "tag_id": self.tag_id,
            "name": self.name,
            "description": self.description,
            "rule": to_json(self.rule),
            "enabled": self.enabled,
            "version": self.version,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }


def check_tag_id(tag_id: str) -> str:
    if not TAG_ID.match(tag_id):
        raise InvalidRule(
            "tag_id: 1-40 characters, lower-case letters, digits, _ or -, starting with a letter"
        )
    return tag_id


def matching_tags(rules: list[TagRule], value_of: Callable[[str], float | int | None]) -> dict[str, str]:
    """tag id → the rule text, for every enabled tag rule that holds."""
    return {t.tag_id: describe(t.rule) for t in rules if t.enabled and evaluate(t.rule, value_of)}


def canonical(rule: Rule) -> str:
    """A stable text of the rule (for comparing stored versions)."""
    return json.dumps(to_json(rule), sort_keys=True, separators=(",", ":"))


Op = Literal["==", "!=", "<", "<=", ">", ">="]
