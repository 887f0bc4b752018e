"""CampaignsWeChatPushFunction: WeChat's message push for the mini-program (no gateway authorizer;
WeChat's signature is checked by the routes in handlers/routes/wechat_push.py). Its own small
function: CampaignsApiFunction is the staff API (StaffJwt on every route, 1 GB for the audience
snapshots), and this public, signed route should neither share its permissions nor pay its cold
start."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.campaigns.handlers.routes import wechat_push
from shared.api import make_resolver
from shared.observability import get_logger, get_tracer

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "campaigns"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
app = make_resolver()
app.include_router(wechat_push.router)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
