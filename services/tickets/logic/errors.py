"""The tickets service's errors (mapped to HTTP by shared.api)."""

from __future__ import annotations

from shared.errors import Conflict, NotFound, Unprocessable

__all__ = [
    "AgentNotFound",
    "ArticleNotFound",
    "InvalidTransition",
    "MemberNotFound",
    "NoAgentAvailable",
    "SurveyAlreadyAnswered",
    "TicketChanged",
    "TicketNotFound",
    "TicketNotResolved",
]


class TicketNotFound(NotFound):
    """Unknown ticket — also another member's ticket: a member cannot tell the two apart."""

    CODE = "ticket_not_found"
    MESSAGE = "No such ticket."


class MemberNotFound(NotFound):
    """A new ticket for a member tickets knows to be erased (nothing written) — as members answers."""

    CODE = "member_not_found"
    MESSAGE = "No such member."


class TicketChanged(Conflict):
    CODE = "ticket_changed"
    MESSAGE = "The ticket changed while this request was applied; try again."


class InvalidTransition(Conflict):
    CODE = "invalid_status"
    MESSAGE = "The ticket's status does not allow this."


class TicketNotResolved(Conflict):
    CODE = "ticket_not_resolved"
    MESSAGE = "A survey can be answered once the ticket is resolved."


class SurveyAlreadyAnswered(Conflict):
    CODE = "survey_already_answered"
    MESSAGE = "This ticket's survey was answered already."


class AgentNotFound(Unprocessable):
    CODE = "agent_not_found"
    MESSAGE = "No such active agent."


class NoAgentAvailable(Conflict):
    CODE = "no_agent_available"
    MESSAGE = "No active agent serves this queue; name one, or add agents to the queue."


class ArticleNotFound(NotFound):
    CODE = "article_not_found"
    MESSAGE = "No such article."
