"""ChurnRiskEscalated, once per episode: the outbox item and the marker ``EPISODE#<id>`` /
``ESCALATED`` in one transaction (a retried task finds the marker and writes nothing)."""

from __future__ import annotations

from services.campaigns.dal.dispatch import outbox_ops
from services.campaigns.dal.episodes import episode_key
from shared import clock
from shared.dynamo import ConditionalCheckFailed, put_op, transact_write
from shared.events.contracts import ChurnRiskEscalated
from shared.outbox import outbox_item


class DynamoEscalations:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def escalate_once(self, episode_id: str, event: ChurnRiskEscalated) -> bool:
        marker = {
            "pk": episode_key(episode_id)["pk"],
            "sk": "ESCALATED",
            "entity": "journey_escalation",
            "escalated_at": clock.to_utc_iso(event.escalated_at),
        }
        item = outbox_item(
            event,
            correlation_id=f"churn_warning:{episode_id}",
            producer="campaigns.journeys",
            now=event.escalated_at,
        )
        try:
            transact_write(
                [
                    put_op(self.table_name, marker, condition="attribute_not_exists(pk)"),
                    *outbox_ops(self.table_name, item, event.member_id),
                ]
            )
        except ConditionalCheckFailed:
            return False
        return True
