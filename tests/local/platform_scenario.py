"""The platform flow: one scenario that uses every local-cloud mechanism once, on the real template.

signed API request → LoyaltyTable → stream (filtered) → stream publisher → bus → rules → SQS →
consumers (members statistics, campaigns projection) → nightly Scheduler schedule in the mall's
time zone → scoring writes + outbox → stream → bus → rule with a content filter → SQS → consumer →
Step Functions execution with a 14-day Wait on the virtual clock → Lambda tasks → outcome →
staff API behind the Cognito JWT authorizer.

Two members buy on day 0. Neither comes back, so after three of their cadences (90 days) the
nightly scoring rates both at high churn risk and a churn-warning episode starts for each. One of
them buys again while the journey waits; when the wait ends that one is recorded as returned and
the other as dormant. The scenario is shared by tests/local/test_platform_flow.py (assertions)
and bench (real time it takes).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from infra.localcloud.cloud import LocalCloud
from shared import clock
from shared.auth import sign_request

PURCHASES = "/v1/integrations/purchases"
EXECUTIONS = "/v1/admin/journeys/churn_warning/executions"
SOURCE = "pos-flow"
DAY = 86_400

# Two members (ULIDs, as the members service issues them).
DORMANT_MEMBER = "01JD0000000000000000000AAA"
RETURNING_MEMBER = "01JD0000000000000000000BBB"

MARKETER = "flow.marketer"
STORE_STAFF = "flow.store"
PASSWORD = "Flow-Passw0rd!"  # noqa: S105 - a throwaway user in an in-memory pool


@dataclass
class FlowResult:
    """What happened, for the test to judge."""

    first_purchases: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    return_purchase: tuple[int, dict[str, Any]] | None = None
    executions_page: tuple[int, dict[str, Any]] | None = None
    anonymous_status: int | None = None
    store_staff_status: int | None = None
    virtual_days: float = 0.0


def _purchase_body(member_id: str, external_id: str, at: datetime, amount_cents: int) -> bytes:
    return json.dumps(
        {
            "external_id": external_id,
            "source_system": SOURCE,
            "store_id": "S-L1-08",
            "tenant_id": "T-STARBUCKS",
            "member_id": member_id,
            "amount_cents": amount_cents,
            "currency": "CNY",
            "channel": "pos",
            "items": [
                {"sku": "SB-LATTE-G", "category": "food_beverage", "quantity": 1, "amount_cents": amount_cents}
            ],
            "occurred_at": clock.to_utc_iso(at),
        }
    ).encode()


def post_signed_purchase(cloud: LocalCloud, key: str, body: bytes) -> tuple[int, dict[str, Any]]:
    timestamp = int(cloud.clock.now().timestamp())
    nonce = secrets.token_urlsafe(16)
    headers = {
        "content-type": "application/json",
        "x-mallcrm-source": SOURCE,
        "x-mallcrm-timestamp": str(timestamp),
        "x-mallcrm-nonce": nonce,
        "x-mallcrm-signature": sign_request(key.encode(), "POST", PURCHASES, timestamp, nonce, body),
    }
    status, _, answer = cloud.http("POST", PURCHASES, headers, body)
    return status, json.loads(answer)


def _install_integration_key(cloud: LocalCloud) -> str:
    """The integrating POS's key, as an operator would put it into Secrets Manager."""
    key = secrets.token_hex(32)
    secret_id = cloud.physical_id("IntegrationKeysSecret")
    sm = cloud.client("secretsmanager")
    keys = json.loads(sm.get_secret_value(SecretId=secret_id)["SecretString"])
    keys[SOURCE] = key
    sm.put_secret_value(SecretId=secret_id, SecretString=json.dumps(keys))
    return key


def _create_staff_user(cloud: LocalCloud, username: str, group: str) -> None:
    pool = cloud.user_pool
    assert pool is not None, "the template declares the staff user pool"
    idp = cloud.client("cognito-idp")
    idp.admin_create_user(UserPoolId=pool.pool_id, Username=username, MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool.pool_id, Username=username, Password=PASSWORD, Permanent=True)
    idp.admin_add_user_to_group(UserPoolId=pool.pool_id, Username=username, GroupName=group)


def staff_token(cloud: LocalCloud, username: str) -> str:
    pool = cloud.user_pool
    assert pool is not None
    result = cloud.client("cognito-idp").initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
    )
    return str(result["AuthenticationResult"]["IdToken"])


def run(cloud: LocalCloud) -> FlowResult:
    """Drive the flow; every step goes through the system's own doors."""
    result = FlowResult()
    started = cloud.clock.now()
    key = _install_integration_key(cloud)
    _create_staff_user(cloud, MARKETER, "marketer")
    _create_staff_user(cloud, STORE_STAFF, "store_staff")

    # Day 0: both members buy at the till.
    for member, external_id in ((DORMANT_MEMBER, "flow-0001"), (RETURNING_MEMBER, "flow-0002")):
        body = _purchase_body(member, external_id, cloud.clock.now(), 6_500)
        result.first_purchases.append(post_signed_purchase(cloud, key, body))
    cloud.settle()

    # 92 days pass: the nightly scoring runs every night; by day 91 both are at high churn risk
    # and each has a churn-warning episode waiting.
    cloud.advance(92 * DAY)

    # One member comes back while the journey waits.
    body = _purchase_body(RETURNING_MEMBER, "flow-0003", cloud.clock.now(), 12_800)
    result.return_purchase = post_signed_purchase(cloud, key, body)
    cloud.settle()

    # The 14-day observation ends for both.
    cloud.advance(15 * DAY)

    token = staff_token(cloud, MARKETER)
    status, _, answer = cloud.http("GET", EXECUTIONS, {"authorization": f"Bearer {token}"}, b"")
    result.executions_page = (status, json.loads(answer))
    result.anonymous_status = cloud.http("GET", EXECUTIONS, {}, b"")[0]
    store_token = staff_token(cloud, STORE_STAFF)
    result.store_staff_status = cloud.http(
        "GET", EXECUTIONS, {"authorization": f"Bearer {store_token}"}, b""
    )[0]
    result.virtual_days = (cloud.clock.now() - started).total_seconds() / DAY
    return result
