"""TicketsApiFunction: the tickets HTTP API, one Router per area (handlers/routes/).

Member routes sit behind the ``MemberToken`` Lambda authorizer, staff routes behind ``StaffJwt``;
roles are enforced in the routes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.tickets.handlers.routes import admin, config, member
from shared.api import make_resolver
from shared.observability import get_logger, get_tracer

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "tickets"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
app = make_resolver()
app.include_router(member.router)
app.include_router(admin.router)
app.include_router(config.router)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
