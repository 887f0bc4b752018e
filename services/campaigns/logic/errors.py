"""Campaigns' domain errors."""

from __future__ import annotations

from shared.errors import BadRequest, NotFound


class JourneyNotFound(NotFound):
    CODE = "journey_not_found"
    MESSAGE = "No journey has this name."


class InvalidNextToken(BadRequest):
    CODE = "invalid_next_token"
    MESSAGE = "next_token is not a token this API returned."


class EpisodeNotFound(LookupError):
    """A state-machine task named an episode that does not exist (fails the task)."""


class EpisodeAlreadyClosed(RuntimeError):
    """An episode already has a different outcome (fails the task)."""


class InboxMessageNotFound(NotFound):
    CODE = "message_not_found"
    MESSAGE = "No message with this id in your inbox."
