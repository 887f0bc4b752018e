"""The mall's store directory (loyalty operations).

Writes: admin, loyalty_ops; reads: also marketer, service_agent.

* ``GET /v1/admin/stores`` — every store (one partition, a mall has hundreds)
* ``GET /v1/admin/stores/{store_id}``
* ``PUT /v1/admin/stores/{store_id}`` — create or replace (``StoreIn``); a closed store is set
  ``active: false`` (there is no DELETE: stores stay, their purchases refer to them). Each change
  is audited (``AUDIT#STORE#<id>``).

Signed purchases (and WeChat Pay payments) are checked against the directory from the
configuration cached per container (logic/stores.py): changes apply within
``LOYALTY_CONFIG_CACHE_SECONDS``; a store just added is found sooner (a request naming a store the
cache lacks re-reads it, at most every few seconds per container).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from services.loyalty.handlers.routes.ledger_common import ADMIN_READ_ROLES, ADMIN_WRITE_ROLES, parse_json
from services.loyalty.models.settings import LoyaltyApiSettings
from services.loyalty.models.stores import Store, StoreIn
from shared import clock
from shared.api import json_response
from shared.auth import principal_from_event, require_roles
from shared.errors import Conflict, NotFound
from shared.observability import get_logger
from shared.settings import load
from shared.web import Router

if TYPE_CHECKING:  # pragma: no cover - typing only; imported by the routes that use them
    from services.loyalty.dal.loyalty_config import DynamoLoyaltyConfig

router = Router()
logger = get_logger("loyalty")
STORE_ID = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")  # models.api.KEY_SAFE_PATTERN, at most 64


def _staff(*roles: str) -> str:
    return require_roles(principal_from_event(router.current_event.raw_event), *roles).subject


def _config() -> DynamoLoyaltyConfig:
    from services.loyalty.dal.loyalty_config import DynamoLoyaltyConfig  # noqa: PLC0415 - cold start

    return DynamoLoyaltyConfig(load(LoyaltyApiSettings).table_name)


def _store_id(store_id: str) -> str:
    if not STORE_ID.match(store_id):
        raise NotFound("store_not_found", "No such store.")
    return store_id


def _view(store: Store) -> dict[str, Any]:
    data = store.model_dump(mode="json", exclude={"updated_at"})
    data["updated_at"] = clock.to_utc_iso(store.updated_at) if store.updated_at else None
    return data


@router.get("/v1/admin/stores", summary="The mall's store directory", tags=["admin-stores"])
def list_stores() -> Any:
    _staff(*ADMIN_READ_ROLES)
    return json_response(200, {"stores": [_view(s) for s in _config().list_stores()]})


@router.get("/v1/admin/stores/<store_id>", summary="One store of the directory", tags=["admin-stores"])
def get_store(store_id: str) -> Any:
    _staff(*ADMIN_READ_ROLES)
    store = _config().get_store(_store_id(store_id))
    if store is None:
        raise NotFound("store_not_found", "No such store.")
    return json_response(200, _view(store))


@router.put(
    "/v1/admin/stores/<store_id>",
    request_body=StoreIn,
    summary="Create or replace a store of the directory (audited; active: false closes it)",
    description="StoreIn: tenant_id, name, floor?, unit?, active (default true). Once the directory "
    "holds a store, signed purchases and WeChat Pay payments are checked against it (see POST "
    "/v1/integrations/purchases). 201 created, 200 replaced, 409 store_changed when it changed "
    "meanwhile.",
    tags=["admin-stores"],
)
def put_store(store_id: str) -> Any:
    from services.loyalty.dal.loyalty_config import clear_config_cache  # noqa: PLC0415 - cold start

    staff = _staff(*ADMIN_WRITE_ROLES)
    _store_id(store_id)
    body = parse_json(StoreIn, router.current_event.raw_event)
    config = _config()
    current = config.get_store(store_id)
    store = Store(
        **body.model_dump(),
        store_id=store_id,
        version=current.version + 1 if current else 1,
        updated_at=clock.now(),
        updated_by=f"staff:{staff}",
    )
    if not config.put_store(store, expected_version=current.version if current else None):
        raise Conflict("store_changed", "The store changed meanwhile; read it again.")
    clear_config_cache()
    logger.info(
        "store created" if current is None else "store replaced",
        extra={"store_id": store_id, "active": store.active, "staff": staff},
    )
    return json_response(201 if current is None else 200, _view(store))
