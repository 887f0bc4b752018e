"""CampaignsInboxApiFunction: the member's in-app inbox (MemberToken authorizer); the routes are in
handlers/routes/inbox.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.campaigns.handlers.routes import inbox
from shared.api import make_resolver
from shared.observability import get_logger, get_tracer

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "campaigns"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
app = make_resolver()
app.include_router(inbox.router)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
