"""MembersApiFunction: the members HTTP API, one Router per area (handlers/routes/).

Member routes sit behind the ``MemberToken`` Lambda authorizer, staff routes behind ``StaffJwt``,
the two login routes behind none. Roles are enforced in the routes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.members.handlers.routes import (
    admin,
    auth,
    code,
    consents,
    phone,
    preferences,
    privacy,
    profile,
    tags,
    tokens,
)
from shared.api import make_resolver
from shared.observability import get_logger, get_tracer

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "members"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
app = make_resolver()
app.include_router(auth.router)
app.include_router(profile.router)
app.include_router(code.router)
app.include_router(admin.router)
app.include_router(consents.router)
app.include_router(preferences.router)
app.include_router(phone.router)
app.include_router(privacy.router)
app.include_router(tags.router)
app.include_router(tokens.router)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
