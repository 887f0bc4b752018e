"""The rules that place a ticket: its priority, its queue and its SLA targets.

* **Priority** starts from the category (complaints, after-sales and points disputes ``medium``;
  inquiries and suggestions ``low``); negative sentiment on a complaint or after-sales request
  raises it to ``high``; an **angry complaint** is ``high``; a **high-value member** (members'
  nightly ``value_level``, projected from MemberProfileScored) raises any ticket but a suggestion
  one level, so an angry complaint of a high-value member is ``urgent``.
* **Queue**: the operators' rules (first enabled match by position) or else the defaults:
  points disputes → ``loyalty_desk``; the parking topic → ``parking``; a complaint or after-sales
  request about a tenant → ``tenant:<tenant_id>``; everything else → ``front_desk``. An SLA breach
  moves the ticket to ``supervisor``.
* **SLA**: first response and resolution targets per priority (:data:`SLA_TARGETS`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from services.tickets.models.entities import PRIORITIES, RoutingRule, TicketPriority

__all__ = [
    "DEFAULT_QUEUES",
    "SLA_TARGETS",
    "SUPERVISOR_QUEUE",
    "due_times",
    "escalate",
    "priority_for",
    "priority_rank",
    "route",
]

SUPERVISOR_QUEUE = "supervisor"
DEFAULT_QUEUES = ("front_desk", "loyalty_desk", "parking", SUPERVISOR_QUEUE)
ROUTING_MATCH_FIELDS = ("category", "topic", "store_id", "tenant_id", "channel")

# (first response, resolution). A mall's service desk answers an urgent complaint within a quarter
# of an hour while the member is still in the building; a suggestion within a working day.
SLA_TARGETS: Mapping[str, tuple[timedelta, timedelta]] = {
    "urgent": (timedelta(minutes=15), timedelta(hours=4)),
    "high": (timedelta(hours=1), timedelta(hours=8)),
    "medium": (timedelta(hours=4), timedelta(hours=24)),
    "low": (timedelta(hours=8), timedelta(hours=72)),
}

_BASE: Mapping[str, TicketPriority] = {
    "complaint": "medium",
    "after_sales": "medium",
    "points_dispute": "medium",
    "inquiry": "low",
    "suggestion": "low",
}


def _up(priority: TicketPriority, steps: int = 1) -> TicketPriority:
    return PRIORITIES[min(len(PRIORITIES) - 1, PRIORITIES.index(priority) + steps)]


def priority_rank(priority: str) -> int:
    """0 for urgent … 3 for low: the queue index sorts on it."""
    return len(PRIORITIES) - 1 - PRIORITIES.index(priority)


def priority_for(
    category: str, *, sentiment: str | None, angry: bool, value_level: str | None
) -> TicketPriority:
    priority = _BASE.get(category, "low")
    if category in ("complaint", "after_sales") and (angry or sentiment == "negative"):
        priority = "high"
    elif angry:
        priority = _up(priority)
    if value_level == "high" and category != "suggestion":
        priority = _up(priority)
    return priority


def escalate(priority: TicketPriority) -> TicketPriority:
    """One level up (an SLA breach), at most urgent."""
    return _up(priority)


def _matches(rule: RoutingRule, facts: Mapping[str, str | None]) -> bool:
    return all(facts.get(key) == value for key, value in rule.match.items())


def route(
    *,
    category: str,
    topic: str,
    store_id: str | None,
    tenant_id: str | None,
    channel: str,
    rules: Iterable[RoutingRule] = (),
) -> tuple[str, str]:
    """(queue, why): the first enabled operator rule that matches, else the defaults."""
    facts = {
        "category": category,
        "topic": topic,
        "store_id": store_id,
        "tenant_id": tenant_id,
        "channel": channel,
    }
    for rule in sorted(rules, key=lambda r: (r.position, r.rule_id)):
        if rule.enabled and rule.match and _matches(rule, facts):
            return rule.queue, f"rule:{rule.rule_id}"
    if category == "points_dispute":
        return "loyalty_desk", "default:points_dispute"
    if topic == "parking":
        return "parking", "default:parking"
    if tenant_id and category in ("complaint", "after_sales"):
        return f"tenant:{tenant_id}", "default:tenant"
    return "front_desk", "default"


def due_times(priority: str, opened_at: datetime) -> tuple[datetime, datetime]:
    first, resolution = SLA_TARGETS[priority]
    return opened_at + first, opened_at + resolution
