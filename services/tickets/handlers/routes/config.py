"""What operators manage (``StaffJwt``): agents and their queues, routing rules (admin), and the
knowledge base (service_agent and admin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from services.tickets.handlers.routes.common import STAFF_ROLES, Deps
from services.tickets.logic.errors import ArticleNotFound
from services.tickets.models.api import (
    QUEUE_FILTER_PATTERN,
    AgentBody,
    ArticleCreate,
    ArticleOut,
    ArticleUpdate,
    RoutingRuleBody,
)
from shared import clock
from shared.api import json_response
from shared.auth import principal_from_event, require_roles
from shared.errors import Conflict, NotFound
from shared.observability import get_logger
from shared.web import Path, Query, Response, Router

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.tickets.dal.kb import DynamoKbRepository
    from services.tickets.models.entities import KbArticle

router = Router()
AgentId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
RuleId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
ArticleId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,59}$")]


def _staff(*roles: str) -> str:
    return require_roles(principal_from_event(router.current_event.raw_event), *roles).subject


# --- agents ----------------------------------------------------------------------------------------


@router.put(
    "/v1/admin/ticket-agents/<agent_id>",
    summary="Add or change an agent and their queues",
    tags=["admin-tickets"],
)
def put_agent(agent_id: AgentId, body: AgentBody) -> dict[str, Any]:
    from services.tickets.models.entities import Agent  # noqa: PLC0415 - cold start

    _staff("admin")
    repo = Deps.load().repo
    previous = repo.agent(agent_id)
    agent = Agent(
        agent_id=agent_id, display_name=body.display_name, queues=list(body.queues), active=body.active
    )
    repo.put_agent(agent, previous)
    stored = repo.agent(agent_id)
    return stored.model_dump(mode="json") if stored else agent.model_dump(mode="json")


@router.get(
    "/v1/admin/ticket-agents",
    summary="The agents (optionally of one queue) with their open tickets; deactivate with PUT active=false",
    tags=["admin-tickets"],
)
def list_agents(
    queue: Annotated[str | None, Query(pattern=QUEUE_FILTER_PATTERN)] = None,
) -> dict[str, Any]:
    _staff(*STAFF_ROLES)
    repo = Deps.load().repo
    agents = repo.agents_of_queue(queue) if queue else repo.all_agents()
    return {"items": [a.model_dump(mode="json") for a in agents]}


# --- routing rules -----------------------------------------------------------------------------------


@router.get("/v1/admin/ticket-routing-rules", summary="The operators' routing rules", tags=["admin-tickets"])
def list_rules() -> dict[str, Any]:
    _staff("admin", "service_agent")
    rules = sorted(Deps.load().repo.routing_rules(), key=lambda r: (r.position, r.rule_id))
    return {"items": [r.model_dump(mode="json") for r in rules]}


@router.put(
    "/v1/admin/ticket-routing-rules/<rule_id>",
    summary="Create or replace a routing rule",
    tags=["admin-tickets"],
)
def put_rule(rule_id: RuleId, body: RoutingRuleBody) -> dict[str, Any]:
    from services.tickets.models.entities import RoutingRule  # noqa: PLC0415 - cold start

    actor = _staff("admin")
    rule = RoutingRule(
        rule_id=rule_id,
        position=body.position,
        match={str(k): v for k, v in body.match.items()},
        queue=body.queue,
        enabled=body.enabled,
        updated_at=clock.now(),
        updated_by=actor,
    )
    Deps.load().repo.put_routing_rule(rule)
    return rule.model_dump(mode="json")


@router.delete(
    "/v1/admin/ticket-routing-rules/<rule_id>", summary="Delete a routing rule", tags=["admin-tickets"]
)
def delete_rule(rule_id: RuleId) -> Response[str]:
    _staff("admin")
    if not Deps.load().repo.delete_routing_rule(rule_id):
        raise NotFound("routing_rule_not_found", f"No routing rule {rule_id}.")
    return Response(status_code=204, content_type="application/json", body="")


# --- knowledge base ---------------------------------------------------------------------------------


def _refresh_index(kb: DynamoKbRepository) -> None:
    """Store the search index at the knowledge base's new version, so cold functions load it instead
    of building it. Best effort: the article is written either way, and a search that finds no
    current index builds and stores one itself (services/tickets/dal/kb.py)."""
    try:
        kb.refresh()
    except Exception:
        get_logger().exception("knowledge-base index not refreshed; the next search builds it")


def _article_out(article: KbArticle) -> ArticleOut:
    return ArticleOut.model_validate(article.model_dump())


@router.get("/v1/admin/kb-articles", summary="Knowledge-base articles", tags=["knowledge-base"])
def list_articles() -> dict[str, Any]:
    _staff(*STAFF_ROLES)
    articles = sorted(Deps.load().kb.all(), key=lambda a: a.article_id)
    return {"items": [_article_out(a).model_dump(mode="json") for a in articles]}


@router.post(
    "/v1/admin/kb-articles",
    summary="Create an article",
    tags=["knowledge-base"],
    responses={201: {"description": "Created", "content": {"application/json": {"model": ArticleOut}}}},
)
def create_article(body: ArticleCreate) -> Response[str]:
    from services.tickets.models.entities import KbArticle  # noqa: PLC0415 - cold start

    actor = _staff(*STAFF_ROLES)
    article = KbArticle(
        article_id=body.article_id,
        title=body.title,
        body=body.body,
        tags=list(body.tags),
        intent=body.intent,
        status=body.status,
        version=1,
        updated_at=clock.now(),
        updated_by=actor,
    )
    kb = Deps.load().kb
    if not kb.put(article, expected_version=None):
        raise Conflict("article_exists", f"Article {body.article_id} exists; change it with PUT.")
    _refresh_index(kb)
    return json_response(201, _article_out(article).model_dump(mode="json"))


@router.get("/v1/admin/kb-articles/<article_id>", summary="One article", tags=["knowledge-base"])
def get_article(article_id: ArticleId) -> ArticleOut:
    _staff(*STAFF_ROLES)
    article = Deps.load().kb.get(article_id)
    if article is None:
        raise ArticleNotFound()
    return _article_out(article)


@router.put(
    "/v1/admin/kb-articles/<article_id>",
    summary="Replace an article (send the version read)",
    tags=["knowledge-base"],
)
def update_article(article_id: ArticleId, body: ArticleUpdate) -> ArticleOut:
    from services.tickets.models.entities import KbArticle  # noqa: PLC0415 - cold start

    actor = _staff(*STAFF_ROLES)
    kb = Deps.load().kb
    article = KbArticle(
        article_id=article_id,
        title=body.title,
        body=body.body,
        tags=list(body.tags),
        intent=body.intent,
        status=body.status,
        version=body.version + 1,
        updated_at=clock.now(),
        updated_by=actor,
    )
    if kb.put(article, expected_version=body.version):
        _refresh_index(kb)
        return _article_out(article)
    if kb.get(article_id) is None:
        raise ArticleNotFound()
    raise Conflict("article_changed", "The article was changed since you read it; read it again.")


@router.delete("/v1/admin/kb-articles/<article_id>", summary="Delete an article", tags=["knowledge-base"])
def delete_article(article_id: ArticleId) -> Response[str]:
    _staff(*STAFF_ROLES)
    kb = Deps.load().kb
    if not kb.delete(article_id):
        raise ArticleNotFound()
    _refresh_index(kb)
    return Response(status_code=204, content_type="application/json", body="")
