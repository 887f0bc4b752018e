"""MembersContactDirectoryFunction: ``{member_id, channel, purpose}`` → the one address a channel
needs, for CampaignsDispatchFunction only (invoked synchronously; IAM lets no one else invoke it).

Nothing is cached: the data key is unwrapped for this invocation and dropped with it
(logic/contacts.py; README "Contact directory").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.members.dal.members import DynamoMembersRepository
from services.members.dal.vault import KmsDataKeyStore
from services.members.logic.contacts import ContactDeps, resolve_contact
from services.members.logic.vault import VaultSession
from services.members.models.contacts import ContactDirectorySettings
from shared import clock
from shared.ids import new_ulid
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "members"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(ContactDirectorySettings)
    deps = ContactDeps(
        store=DynamoMembersRepository(settings.table_name),
        vault=VaultSession(KmsDataKeyStore(settings.data_key_arn)),
        now=clock.now(),
        new_id=new_ulid,
    )
    answer = resolve_contact(event if isinstance(event, dict) else {}, deps)
    outcome = "error" if "error" in answer else "found" if answer.get("found") else str(answer.get("reason"))
    # Never the address in the log: the channel and the outcome only.
    logger.info(
        "contact lookup",
        extra={
            "channel": event.get("channel") if isinstance(event, dict) else None,
            "outcome": outcome,
            "purpose": event.get("purpose") if isinstance(event, dict) else None,
        },
    )
    metrics.add_metric(name=f"ContactLookup_{outcome}", unit="Count", value=1)
    return answer
