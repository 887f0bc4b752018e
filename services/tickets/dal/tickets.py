"""TicketsTable: tickets, messages, counters, agents, routing rules, the member-value projection.

The only boto3 user of the service's ticket side (keys and indexes: services/tickets/README.md).
Every change of a ticket is one TransactWriteItems: the ticket (condition on the version read),
its new messages, the queue counters, agents' workloads, service statistics and the outbox events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from services.tickets.dal.table import TableRepository
from services.tickets.models.entities import Agent, Message, RoutingRule, Ticket
from shared import clock
from shared.dynamo import (
    ConditionalCheckFailed,
    batch_get_all,
    from_item,
    idempotency_put,
    is_conditional_check_failed,
    put_op,
    query_all,
    to_item,
    transact_write,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.tickets.logic.tickets import Change

__all__ = [
    "DynamoTicketsRepository",
    "MemberErasedRefused",
    "erased_member_key",
    "queue_sort_key",
    "ticket_item",
]

PRODUCER = "tickets"


def _iso(value: datetime) -> str:
    return clock.to_utc_iso(value)


def queue_sort_key(ticket: Ticket) -> str:
    """Priority first (urgent = 0), then the next SLA due time, then the id: a queue reads in
    the order an agent should work it."""
    from services.tickets.logic.policy import priority_rank  # noqa: PLC0415 - avoids an import cycle

    due = ticket.first_response_due_at if ticket.first_responded_at is None else ticket.resolution_due_at
    return f"{priority_rank(ticket.priority)}#{_iso(due)}#{ticket.ticket_id}"


def ticket_item(ticket: Ticket) -> dict[str, Any]:
    item = ticket.model_dump(mode="json")
    for name in (
        "opened_at",
        "updated_at",
        "first_response_due_at",
        "resolution_due_at",
        "first_responded_at",
        "resolved_at",
        "closed_at",
    ):
        value = getattr(ticket, name)
        item[name] = _iso(value) if value is not None else None
    item |= {
        "pk": f"TICKET#{ticket.ticket_id}",
        "sk": "TICKET",
        "entity": "ticket",
        "gsi1pk": f"QUEUE#{ticket.queue}#{ticket.status}",
        "gsi1sk": queue_sort_key(ticket),
    }
    return item


def member_pointer(ticket: Ticket) -> dict[str, Any]:
    """``MEMBER#<id>`` / ``TICKET#<opened_at>#<ticket_id>``: a member's tickets, newest last."""
    return {
        "pk": f"MEMBER#{ticket.member_id}",
        "sk": f"TICKET#{_iso(ticket.opened_at)}#{ticket.ticket_id}",
        "entity": "member_ticket",
        "ticket_id": ticket.ticket_id,
    }


def erased_member_key(member_id: str) -> dict[str, str]:
    """``ERASED#<alias>`` / ``ERASED``: tickets' erasure tombstone, written by the MemberErased
    consumer before it sweeps the member's tickets; a new ticket for the member is refused while it
    exists. The alias is SHA-256 of the member id (domain-separated, 128 bits): the table keeps no
    erased member id, and the tombstone holds nothing else — from the alias one learns only that an
    id one already knows was erased (a member id has 80 random bits: the hash cannot be inverted by
    trying ids)."""
    alias = hashlib.sha256(f"mallcrm/tickets/erased/{member_id}".encode()).hexdigest()[:32]
    return {"pk": f"ERASED#{alias}", "sk": "ERASED"}


class MemberErasedRefused(ConditionalCheckFailed):
    """A new ticket named a member whose erasure tickets has recorded: nothing was written."""


def _message_item(message: Message) -> dict[str, Any]:
    item = message.model_dump(mode="json")
    item["created_at"] = _iso(message.created_at)
    return item | {
        "pk": f"TICKET#{message.ticket_id}",
        "sk": f"MSG#{item['created_at']}#{message.message_id}",
        "entity": "message",
    }


def _counter_key(queue: str, status: str) -> dict[str, Any]:
    return {"pk": {"S": "COUNTS"}, "sk": {"S": f"QUEUE#{queue}#{status}"}}


class DynamoTicketsRepository(TableRepository):
    # --- tickets ----------------------------------------------------------------------------------
    def get(self, ticket_id: str) -> Ticket | None:
        item = self._get_item(f"TICKET#{ticket_id}", "TICKET", consistent=True)
        return Ticket.model_validate(item) if item else None

    def messages(self, ticket_id: str, *, include_internal: bool) -> list[Message]:
        found = self._query_partition(f"TICKET#{ticket_id}", "MSG#", consistent=True)
        messages = [Message.model_validate(item) for item in found]
        return [m for m in messages if include_internal or m.visibility == "public"]

    def _pointers(self, member_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :t)",
            "ExpressionAttributeValues": to_item({":pk": f"MEMBER#{member_id}", ":t": "TICKET#"}),
            "ScanIndexForward": False,
            # consistent: the erasure's sweep must see every pointer committed before its tombstone
            "ConsistentRead": True,
        }
        if limit is None:
            return list(query_all(request, client=self.client))
        page = self.client.query(**request, Limit=limit)
        return [from_item(i) for i in page.get("Items", [])]

    def member_tickets(self, member_id: str, limit: int | None) -> list[Ticket]:
        """The member's newest tickets (``limit`` None: all of them): their pointers (Query), then
        the tickets (BatchGetItem, 100 keys a call), newest first."""
        ids = [str(p["ticket_id"]) for p in self._pointers(member_id, limit)]
        found: dict[str, Ticket] = {}
        for start in range(0, len(ids), 100):
            keys = [{"pk": f"TICKET#{i}", "sk": "TICKET"} for i in ids[start : start + 100]]
            for item in batch_get_all(self.table, keys, client=self.client):
                ticket = Ticket.model_validate(item)
                found[ticket.ticket_id] = ticket
        return [found[i] for i in ids if i in found]

    def member_ticket_ids(self, member_id: str) -> list[str]:
        return [str(p["ticket_id"]) for p in self._pointers(member_id)]

    def forget_member_tickets(self, member_id: str) -> None:
        """Erasure: the member's ticket pointers go (the tickets stay, pseudonymised)."""
        for pointer in self._pointers(member_id):
            self.client.delete_item(
                TableName=self.table, Key=to_item({"pk": pointer["pk"], "sk": pointer["sk"]})
            )

    def queue_view(self, *, queue: str | None, statuses: Sequence[str], limit: int) -> list[Ticket]:
        """Tickets of one queue (or of every queue with tickets in those statuses, found from the
        counters) in the given statuses, in working order: one index Query per queue and status."""
        if queue:
            queues = [queue]
        else:
            counts = self.counts(None)
            queues = sorted(
                q for q, by_status in counts.items() if any(by_status.get(s, 0) > 0 for s in statuses)
            )
        rows: list[dict[str, Any]] = []
        for name in queues:
            for status in statuses:
                page = self.client.query(
                    TableName=self.table,
                    IndexName="gsi1",
                    KeyConditionExpression="gsi1pk = :pk",
                    ExpressionAttributeValues=to_item({":pk": f"QUEUE#{name}#{status}"}),
                    Limit=limit,
                )
                rows += [from_item(i) for i in page.get("Items", [])]
        rows.sort(key=lambda r: str(r["gsi1sk"]))
        return [Ticket.model_validate(r) for r in rows[:limit]]

    def counts(self, queue: str | None) -> dict[str, dict[str, int]]:
        """{queue: {status: n}} from the counters (no scan of tickets)."""
        prefix = f"QUEUE#{queue}#" if queue else "QUEUE#"
        found = self._query_partition("COUNTS", prefix)
        counts: dict[str, dict[str, int]] = {}
        for item in found:
            queue_name, status = str(item["sk"]).removeprefix("QUEUE#").rsplit("#", 1)
            counts.setdefault(queue_name, {})[status] = int(item.get("n", 0))
        return counts

    def stats(self) -> list[dict[str, Any]]:
        return list(self._query_partition("STATS"))

    def apply(self, change: Change) -> None:
        # The outbox imports the event catalogue: only a change that writes pays for it (cold start).
        from shared.outbox import outbox_item  # noqa: PLC0415

        items: list[dict[str, Any]] = []
        if change.idempotency is not None:
            event_id, consumer = change.idempotency
            items.append(idempotency_put(self.table, event_id, consumer))
        after, before = change.after, change.before
        erased_check: int | None = None
        if before is None:
            items.append(put_op(self.table, ticket_item(after), condition="attribute_not_exists(pk)"))
            if after.member_id:
                items.append(put_op(self.table, member_pointer(after)))
                # No new ticket for an erased member (a token still cached at the gateway, a late
                # journey event, staff typing an old id): the erasure's tombstone must not exist.
                erased_check = len(items)
                items.append(
                    {
                        "ConditionCheck": {
                            "TableName": self.table,
                            "Key": to_item(erased_member_key(after.member_id)),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                )
        else:
            items.append(
                put_op(
                    self.table,
                    ticket_item(after),
                    condition="version = :v",
                    values={":v": before.version},
                )
            )
        items += [
            put_op(self.table, _message_item(m), condition="attribute_not_exists(pk)")
            for m in change.messages
        ]
        items += [put_op(self.table, g, condition="attribute_not_exists(pk)") for g in change.guards]
        items += self._counter_updates(before, after)
        for agent_id, delta in sorted(change.agent_deltas.items()):
            if delta:
                items.append(
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": to_item({"pk": f"AGENT#{agent_id}", "sk": "AGENT"}),
                            "UpdateExpression": "ADD open_count :d",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": to_item({":d": delta}),
                        }
                    }
                )
        merged: dict[str, dict[str, int]] = {}
        for key, counters in change.stats:
            for name, value in counters.items():
                merged.setdefault(key, {})[name] = merged.get(key, {}).get(name, 0) + value
        for key, counters in sorted(merged.items()):
            names = sorted(counters)
            items.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": to_item({"pk": "STATS", "sk": key}),
                        "UpdateExpression": "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(names))),
                        "ExpressionAttributeNames": {f"#c{i}": n for i, n in enumerate(names)},
                        "ExpressionAttributeValues": to_item(
                            {f":c{i}": counters[n] for i, n in enumerate(names)}
                        ),
                    }
                }
            )
        for event in change.events:
            items.append(
                put_op(
                    self.table,
                    outbox_item(event, correlation_id=after.ticket_id, producer=PRODUCER),
                    condition="attribute_not_exists(pk)",
                )
            )
        try:
            transact_write(items, client=self.client)
        except ConditionalCheckFailed as failed:
            if erased_check is not None and erased_check in failed.failed_indexes:
                raise MemberErasedRefused("the member is erased", failed.failed_indexes) from failed
            raise

    def _counter_updates(self, before: Ticket | None, after: Ticket) -> list[dict[str, Any]]:
        old = (before.queue, before.status) if before is not None else None
        new = (after.queue, after.status)
        if old == new:
            return []
        updates = []
        for key, delta in ((old, -1), (new, 1)):
            if key is None:
                continue
            updates.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": _counter_key(*key),
                        "UpdateExpression": "ADD n :d",
                        "ExpressionAttributeValues": {":d": {"N": str(delta)}},
                    }
                }
            )
        return updates

    def save_pseudonymised(self, before: Ticket, after: Ticket, messages: Iterable[Message]) -> None:
        """Erasure: the scrubbed ticket (condition on the version read), then each message."""
        self.client.put_item(
            TableName=self.table,
            Item=to_item(ticket_item(after)),
            ConditionExpression="version = :v",
            ExpressionAttributeValues=to_item({":v": before.version}),
        )
        for message in messages:
            self.client.put_item(TableName=self.table, Item=to_item(_message_item(message)))

    # --- guards, projections ------------------------------------------------------------------------
    def value_level(self, member_id: str) -> str | None:
        item = self._get_item(f"MEMBER#{member_id}", "VALUE")
        return str(item.get("value_level")) if item else None

    def record_value_level(self, member_id: str, value_level: str, scored_at: datetime) -> None:
        """Keep the newest score's value level (an older event arriving late changes nothing)."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=to_item(
                    {
                        "pk": f"MEMBER#{member_id}",
                        "sk": "VALUE",
                        "entity": "member_value",
                        "value_level": value_level,
                        "scored_at": _iso(scored_at),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk) OR scored_at < :at",
                ExpressionAttributeValues=to_item({":at": _iso(scored_at)}),
            )
        except Exception as exc:
            if not is_conditional_check_failed(exc):
                raise

    def mark_member_erased(self, member_id: str) -> None:
        """The erasure's tombstone (idempotent: a re-run writes the same item)."""
        item = erased_member_key(member_id) | {"entity": "member_erased"}
        self.client.put_item(TableName=self.table, Item=to_item(item))

    def forget_member(self, member_id: str) -> None:
        self.client.delete_item(
            TableName=self.table, Key=to_item({"pk": f"MEMBER#{member_id}", "sk": "VALUE"})
        )

    # --- agents -------------------------------------------------------------------------------------
    def agent(self, agent_id: str) -> Agent | None:
        item = self._get_item(f"AGENT#{agent_id}", "AGENT", consistent=True)
        return Agent.model_validate(item) if item else None

    def agents_of_queue(self, queue: str) -> list[Agent]:
        return self._agents_listed(f"QUEUEAGENTS#{queue}")

    def all_agents(self) -> list[Agent]:
        """Every agent, through the ``AGENTS`` directory partition (no scan; tens of agents)."""
        return self._agents_listed("AGENTS")

    def _agents_listed(self, pk: str) -> list[Agent]:
        roster = self._query_partition(pk, "AGENT#")
        ids = [str(r["agent_id"]) for r in roster]
        agents: list[Agent] = []
        for start in range(0, len(ids), 100):
            keys = [{"pk": f"AGENT#{i}", "sk": "AGENT"} for i in ids[start : start + 100]]
            items = batch_get_all(self.table, keys, consistent=True, client=self.client)
            agents += [Agent.model_validate(item) for item in items]
        return sorted(agents, key=lambda a: a.agent_id)

    def put_agent(self, agent: Agent, previous: Agent | None) -> None:
        """The agent, its directory entry and its queue roster entries, in one transaction. An
        Update, not a Put: ``open_count`` is moved by ticket changes at the same time and must not
        be overwritten with the value read before."""
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": to_item({"pk": f"AGENT#{agent.agent_id}", "sk": "AGENT"}),
                    "UpdateExpression": (
                        "SET agent_id = :id, display_name = :n, queues = :q, active = :a, entity = :e, "
                        "open_count = if_not_exists(open_count, :zero)"
                    ),
                    "ExpressionAttributeValues": to_item(
                        {
                            ":id": agent.agent_id,
                            ":n": agent.display_name,
                            ":q": list(agent.queues),
                            ":a": agent.active,
                            ":e": "agent",
                            ":zero": 0,
                        }
                    ),
                }
            },
            put_op(self.table, {"pk": "AGENTS", "sk": f"AGENT#{agent.agent_id}", "agent_id": agent.agent_id}),
        ]
        old = set(previous.queues) if previous else set()
        for queue in sorted(set(agent.queues) - old):
            items.append(
                put_op(
                    self.table,
                    {
                        "pk": f"QUEUEAGENTS#{queue}",
                        "sk": f"AGENT#{agent.agent_id}",
                        "agent_id": agent.agent_id,
                    },
                )
            )
        for queue in sorted(old - set(agent.queues)):
            items.append(
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": to_item({"pk": f"QUEUEAGENTS#{queue}", "sk": f"AGENT#{agent.agent_id}"}),
                    }
                }
            )
        transact_write(items, client=self.client)

    # --- routing rules ------------------------------------------------------------------------------
    def routing_rules(self) -> list[RoutingRule]:
        found = self._query_partition("ROUTING", "RULE#", consistent=True)
        return [RoutingRule.model_validate(i) for i in found]

    def put_routing_rule(self, rule: RoutingRule) -> None:
        item = rule.model_dump(mode="json") | {
            "pk": "ROUTING",
            "sk": f"RULE#{rule.rule_id}",
            "entity": "routing_rule",
        }
        item["updated_at"] = _iso(rule.updated_at)
        self.client.put_item(TableName=self.table, Item=to_item(item))

    def delete_routing_rule(self, rule_id: str) -> bool:
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=to_item({"pk": "ROUTING", "sk": f"RULE#{rule_id}"}),
                ConditionExpression="attribute_exists(pk)",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True
