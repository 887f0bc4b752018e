"""The platform flow: one scenario that uses every local-cloud mechanism once, on the real template.

WeChat login (local adapter) → registration with consents (Lambda authorizer, MembersTable outbox
→ MemberConsentChanged → campaigns' consent projection) → signed API request → LoyaltyTable →
stream (filtered) → stream publisher → bus → rules → SQS → consumers (members statistics, campaigns
projection) → nightly Scheduler schedule in the mall's time zone → scoring writes + outbox →
stream → bus → rule with a content filter → SQS → consumer → Step Functions execution: CheckConsent,
then a 14-day Wait on the virtual clock → Lambda tasks → outcome → staff API behind the Cognito
JWT authorizer.

Three members register through the API and buy on day 0; two of them grant marketing (WeChat
message, SMS), the third declines it. None comes back, so after three of their cadences (90 days)
the nightly scoring rates all three at high churn risk and a churn-warning episode starts for each.
The one without marketing consent ends at once as skipped_no_consent (no wait, no contact). One of
the others buys again while the journey waits; when the wait ends that one is recorded as returned
and the other as dormant. The scenario is shared by tests/local/test_platform_flow.py (assertions)
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

# Three shoppers: their WeChat openids (local adapter: code "local:<openid>"), phones and the
# marketing consents they give at registration. Member ids are issued by registration.
DORMANT, RETURNING, NO_CONSENT = "dormant", "returning", "no_consent"
SHOPPERS: dict[str, tuple[str, str, list[dict[str, Any]]]] = {
    DORMANT: (
        "o-flow-dormant",
        "13800000001",
        [{"purpose": "marketing", "channel": "wechat", "granted": True, "text_version": "mkt-2026-11"}],
    ),
    RETURNING: (
        "o-flow-returning",
        "13800000002",
        [{"purpose": "marketing", "channel": "sms", "granted": True, "text_version": "mkt-2026-11"}],
    ),
    NO_CONSENT: (
        "o-flow-no-consent",
        "13800000003",
        [
            {"purpose": "marketing", "channel": "sms", "granted": False, "text_version": "mkt-2026-11"},
            {"purpose": "personalisation", "granted": True, "text_version": "p-2026-11"},
        ],
    ),
}

MARKETER = "flow.marketer"
STORE_STAFF = "flow.store"
PASSWORD = "Flow-Passw0rd!"


@dataclass
class FlowResult:
    """What happened, for the test to judge."""

    members: dict[str, str] = field(default_factory=dict)  # role -> member id
    tokens: dict[str, str] = field(default_factory=dict)  # role -> member token
    registrations: list[int] = field(default_factory=list)
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
                {
                    "sku": "SB-LATTE-G",
                    "category": "food_beverage",
                    "quantity": 1,
                    "amount_cents": amount_cents,
                }
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


def _json(
    cloud: LocalCloud, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    raw = json.dumps(body).encode() if body is not None else b""
    status, _, answer = cloud.http(method, path, headers, raw)
    return status, json.loads(answer) if answer else None


def wechat_login(cloud: LocalCloud, openid: str) -> tuple[int, dict[str, Any]]:
    """The mini-program's login (the local cloud's WeChat adapter accepts ``local:<openid>``)."""
    status, answer = _json(cloud, "POST", "/v1/auth/wechat", {"code": f"local:{openid}"})
    return status, answer


def register(
    cloud: LocalCloud, openid: str, phone: str, consents: list[dict[str, Any]], name: str = "测试会员"
) -> tuple[int, dict[str, Any]]:
    """WeChat login, then POST /v1/members with the consents; the answer carries the new token."""
    status, login = wechat_login(cloud, openid)
    assert status == 200, login
    body = {"phone": phone, "name": name, "consents": consents}
    return _json(cloud, "POST", "/v1/members", body, token=login["token"])


def run(cloud: LocalCloud) -> FlowResult:
    """Drive the flow; every step goes through the system's own doors."""
    result = FlowResult()
    started = cloud.clock.now()
    key = _install_integration_key(cloud)
    _create_staff_user(cloud, MARKETER, "marketer")
    _create_staff_user(cloud, STORE_STAFF, "store_staff")

    # Day 0: three shoppers register in the mini-program, with their consents.
    for role, (openid, phone, consents) in SHOPPERS.items():
        status, answer = register(cloud, openid, phone, consents)
        result.registrations.append(status)
        assert status == 201, answer
        result.members[role] = answer["member"]["member_id"]
        result.tokens[role] = answer["token"]
    cloud.settle()

    # Day 0: all three buy at the till.
    for number, role in enumerate((DORMANT, RETURNING, NO_CONSENT), start=1):
        body = _purchase_body(result.members[role], f"flow-000{number}", cloud.clock.now(), 6_500)
        result.first_purchases.append(post_signed_purchase(cloud, key, body))
    cloud.settle()

    # 92 days pass: the nightly scoring runs every night; by day 91 all three are at high churn
    # risk and each has a churn-warning episode: two wait, the one without consent ended at once.
    cloud.advance(92 * DAY)

    # One member comes back while the journey waits.
    body = _purchase_body(result.members[RETURNING], "flow-0004", cloud.clock.now(), 12_800)
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
