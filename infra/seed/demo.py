"""The demo mall, created through the system's own doors.

One function per kind of data, each idempotent enough to run on a fresh local cloud:

* :func:`seed_staff` — a Cognito staff user per role (admin_create_user, a permanent password,
  membership of the role's group): the same calls an operator makes;
* :func:`seed_integration_keys` — a random HMAC key per demo integration source, merged into
  ``IntegrationKeysSecret`` (the secret's JSON map, as an operator adds a source), and written to
  ``.localcloud/integration-keys.json`` so ``python -m infra.seed.sign`` can sign requests;
* :func:`seed_members` — the demo shoppers (:data:`DEMO_MEMBERS`), each logging in with the local
  cloud's WeChat code ``local:<openid>`` and registering through ``POST /v1/members`` with their
  consents, as the mini-program does;
* :func:`seed_coupon_templates` — the coupon templates campaigns' built-in journeys issue
  (``birthday``, ``win-back``: :data:`DEMO_COUPON_TEMPLATES`), created by the demo loyalty operator
  through ``POST /v1/auth/staff`` and ``POST /v1/admin/coupon-templates``;
* :func:`seed_stores` — the mall's store directory (``data/mall.json``'s stores, named after their
  tenants), put by the demo loyalty operator through ``PUT /v1/admin/stores/{store_id}``, before
  any purchase: once the directory holds stores, loyalty refuses purchases at any other store;
* :func:`seed_purchases` — purchases at the data file's stores, each a signed
  ``POST /v1/integrations/purchases`` through the front door, exactly as a POS would send them;
  two in three carry a demo member's id (:func:`assign_members`), the rest are anonymous;
* the programme (:mod:`infra.seed.programme`: tiers, earning rules, rewards, ticket agents, the
  knowledge base, segments, the tier-up congratulation, an audience snapshot), each part by the
  demo staff user whose role owns it, and the demo purchase (``.localcloud/demo-purchase.json``: a
  newcomer's first, normal → silver, congratulated).

Seeding again writes nothing new (see each function): the integration key is kept, members log
in, stores/tiers/agents are put only when different, 409 means "exists", and what the services
mint an id for (earning rules, segments, campaigns) is found by name. The virtual clock is moved
to 10:00 mall time when the demo would otherwise start in or near the quiet hours.

Tenants live in ``data/mall.json`` only (no API owns them); stores are in loyalty's directory.
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from infra.seed import programme
from shared.auth import HEADER_NONCE, HEADER_SIGNATURE, HEADER_SOURCE, HEADER_TIMESTAMP, sign_request
from shared.clock import zone

log = logging.getLogger("mallcrm.seed")

DATA_FILE = Path(__file__).with_name("data") / "mall.json"
ROOT = Path(__file__).resolve().parents[2]
KEYS_FILE = ROOT / ".localcloud" / "integration-keys.json"
DEMO_PURCHASE_FILE = ROOT / ".localcloud" / "demo-purchase.json"
PURCHASES_PATH = "/v1/integrations/purchases"
DEMO_PASSWORD_ENV = "MALLCRM_DEMO_PASSWORD"  # noqa: S105 - the variable's name
# Local cloud only (in-process moto): meets the staff pool's policy (12+, upper, lower, digit).
DEFAULT_DEMO_PASSWORD = "MallCRM-Demo-2026"  # noqa: S105 - a documented demo password, never deployed

Http = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


class _Clock(Protocol):
    def now(self) -> datetime: ...


class SeedTarget(Protocol):
    """What the seed needs from the local cloud (`settle()` is used when it has one)."""

    @property
    def clock(self) -> _Clock: ...

    def physical_id(self, logical_id: str) -> str: ...


@dataclass
class SeedReport:
    """What was created, for the banner and the tests."""

    password: str = ""
    staff: list[dict[str, str]] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    keys_file: Path | None = None
    purchases_posted: int = 0
    purchase_failures: list[str] = field(default_factory=list)
    members: dict[str, str] = field(default_factory=dict)  # openid -> member_id
    member_failures: list[str] = field(default_factory=list)
    coupon_templates: list[str] = field(default_factory=list)  # created or already there
    coupon_template_failures: list[str] = field(default_factory=list)
    stores: list[str] = field(default_factory=list)  # store ids in the directory
    store_failures: list[str] = field(default_factory=list)
    # The programme (infra/seed/programme.py): kind -> ids or names in place, and what failed.
    programme: dict[str, list[str]] = field(default_factory=dict)
    programme_failures: list[str] = field(default_factory=list)
    snapshot_requested: bool = False
    clock_moved_to: str | None = None  # the virtual time the demo day starts at, when moved
    demo_member: str | None = None  # the member the demo purchase is for
    demo_purchase_file: Path | None = None


def load_data(path: Path = DATA_FILE) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def demo_password() -> str:
    return os.environ.get(DEMO_PASSWORD_ENV) or DEFAULT_DEMO_PASSWORD


# -- staff ------------------------------------------------------------------------------------------


def seed_staff(
    cognito: Any, pool_id: str, staff: list[Mapping[str, str]], password: str
) -> list[dict[str, str]]:
    """One Cognito user per entry, with a permanent password, in the group named by its role."""
    created = []
    for person in staff:
        username = person["username"]
        try:
            cognito.admin_create_user(
                UserPoolId=pool_id,
                Username=username,
                UserAttributes=[
                    {"Name": "email", "Value": person["email"]},
                    {"Name": "email_verified", "Value": "true"},
                    {"Name": "name", "Value": person["name"]},
                ],
                MessageAction="SUPPRESS",
            )
        except cognito.exceptions.UsernameExistsException:
            log.info("staff user exists", extra={"username": username})
        cognito.admin_set_user_password(
            UserPoolId=pool_id, Username=username, Password=password, Permanent=True
        )
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=person["role"])
        user = cognito.admin_get_user(UserPoolId=pool_id, Username=username)
        subject = next((a["Value"] for a in user.get("UserAttributes", []) if a["Name"] == "sub"), "")
        created.append({"username": username, "role": person["role"], "subject": subject})
    return created


# -- integration keys -------------------------------------------------------------------------------


def seed_integration_keys(secrets_manager: Any, secret_id: str, sources: list[str]) -> dict[str, str]:
    """A random key per source the secret's `{source: key}` map lacks, merged in (others kept).

    A source that has a key keeps it: seeding again must not rotate a key that loyalty caches per
    container (60 s), or every purchase of the second run would be refused `signature_invalid`."""
    current = json.loads(secrets_manager.get_secret_value(SecretId=secret_id)["SecretString"] or "{}")
    if not isinstance(current, dict):
        raise ValueError("IntegrationKeysSecret must hold a JSON object of source -> key")
    keys = {source: str(current.get(source) or secrets.token_urlsafe(32)) for source in sources}
    if any(current.get(source) != key for source, key in keys.items()):
        secrets_manager.put_secret_value(SecretId=secret_id, SecretString=json.dumps({**current, **keys}))
    return keys


def write_keys_file(keys: Mapping[str, str], base_url: str | None, path: Path = KEYS_FILE) -> Path:
    """The demo keys for `python -m infra.seed.sign`, readable by the developer only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"base_url": base_url, "sources": dict(keys)}, indent=2) + "\n", encoding="utf-8"
    )
    path.chmod(0o600)
    return path


# -- purchases --------------------------------------------------------------------------------------


def signed_headers(
    source: str, key: str, *, method: str, path: str, body: bytes, now: datetime
) -> dict[str, str]:
    """The four signature headers of an integration request (shared.auth's scheme)."""
    timestamp = int(now.timestamp())
    nonce = secrets.token_urlsafe(18)
    return {
        HEADER_SOURCE: source,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: sign_request(key.encode("utf-8"), method, path, timestamp, nonce, body),
    }


def demo_purchases(data: Mapping[str, Any], source: str, channel: str, now: datetime) -> list[dict[str, Any]]:
    """Deterministic purchases (the data file's seed) spread over the last `days`, in opening hours."""
    spec = data["purchases"]
    rng = random.Random(spec["random_seed"])  # noqa: S311 - demo data, not security
    tenants = {t["id"]: t for t in data["tenants"]}
    stores = data["stores"]
    tz = zone(data["mall"]["timezone"])
    local_now = now.astimezone(tz)
    purchases = []
    for n in range(spec["count"]):
        store = stores[n % len(stores)]
        category = tenants[store["tenant_id"]]["category"]
        lines = []
        for product in rng.sample(
            data["catalogue"][category], k=rng.randint(1, len(data["catalogue"][category]))
        ):
            quantity = rng.randint(1, 3)
            lines.append(
                {
                    "sku": product["sku"],
                    "category": category,
                    "quantity": quantity,
                    "amount_cents": product["price_cents"] * quantity,
                }
            )
        day = local_now - timedelta(days=rng.randint(1, spec["days"]))
        occurred = day.replace(
            hour=rng.randint(spec["opening_hour"], spec["closing_hour"] - 1),
            minute=rng.randint(0, 59),
            second=rng.randint(0, 59),
            microsecond=0,
        )
        purchases.append(
            {
                "external_id": f"{source}-{n + 1:05d}",
                "source_system": source,
                "store_id": store["id"],
                "tenant_id": store["tenant_id"],
                "amount_cents": sum(line["amount_cents"] for line in lines),
                "currency": data["mall"]["currency"],
                "channel": channel,
                "items": lines,
                "occurred_at": occurred.isoformat(),
            }
        )
    return purchases


def assign_members(purchases: Sequence[Mapping[str, Any]], member_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The purchases with a member id on two in three of them (members in turn), the third one
    anonymous, as at a real till; deterministic, and unchanged without members."""
    out = []
    for n, purchase in enumerate(purchases):
        linked = dict(purchase)
        if member_ids and n % 3 != 2:
            linked["member_id"] = member_ids[(n - n // 3) % len(member_ids)]
        out.append(linked)
    return out


def seed_purchases(  # noqa: PLR0917 - the till's parts
    http: Http,
    purchases: Sequence[Mapping[str, Any]],
    source: str,
    key: str,
    now: Callable[[], datetime],
    between: Callable[[], None] | None = None,
) -> tuple[int, list[str]]:
    """POST each purchase, signed, through the front door; (accepted, failures). ``between`` runs
    between two purchases (the seed lets a second of virtual time pass, as between two real sales)."""
    accepted, failures = 0, list[str]()
    for purchase in purchases:
        if between is not None and accepted + len(failures):
            between()
        body = json.dumps(purchase, separators=(",", ":")).encode()
        headers = {
            "content-type": "application/json",
            "x-correlation-id": f"seed-{purchase['external_id']}",
            **signed_headers(source, key, method="POST", path=PURCHASES_PATH, body=body, now=now()),
        }
        status, _, answer = http("POST", PURCHASES_PATH, headers, body)
        if status in (200, 201):
            accepted += 1
        else:
            failures.append(f"{purchase['external_id']}: {status} {answer[:200].decode('utf-8', 'replace')}")
    return accepted, failures


# -- members ----------------------------------------------------------------------------------------

DEMO_MEMBERS: tuple[dict[str, Any], ...] = (
    {
        "openid": "demo-openid-0001",
        "phone": "13800000001",
        "name": "王芳",
        "gender": "female",
        "birthday": "1991-03-08",
    },
    {
        "openid": "demo-openid-0002",
        "phone": "13800000002",
        "name": "李伟",
        "gender": "male",
        "birthday": "1985-11-23",
        "plates": ["沪B12345"],
        "consents": [
            {"purpose": "marketing", "channel": "wechat", "granted": True, "text_version": "demo-consent-v1"},
            {"purpose": "car_plates", "granted": True, "text_version": "demo-consent-v1"},
        ],
    },
    {
        "openid": "demo-openid-0003",
        "phone": "13800000003",
        "name": "张敏",
        "gender": "female",
        "birthday": "1999-07-15",
    },
    {
        "openid": "demo-openid-0004",
        "phone": "13800000004",
        "name": "陈静",
        "gender": "female",
        "birthday": "1994-05-20",
    },
    {
        "openid": "demo-openid-0005",
        "phone": "13800000005",
        "name": "Emily Zhou",
        "gender": "female",
        "birthday": "1996-09-02",
    },
)
"""Fictitious shoppers (13800000000-range numbers) registered through the members API; the second
links a car plate (with the car-plate consent). The last two (:data:`NEW_MEMBERS`) just joined: no
purchases yet, so the demo purchase (``.localcloud/demo-purchase.json``) is one's first."""

NEW_MEMBERS: tuple[str, ...] = ("demo-openid-0004", "demo-openid-0005")
"""Openids of the members without past purchases; the demo purchase goes to the first of them
outside campaigns' global control group (who get no marketing, so no congratulation)."""


def seed_members(
    http: Http, members: Sequence[Mapping[str, Any]] = DEMO_MEMBERS
) -> tuple[dict[str, str], list[str]]:
    """Each member logs in with the local cloud's WeChat code ``local:<openid>`` and registers
    (``POST /v1/auth/wechat`` then ``POST /v1/members``), as the mini-program does.
    Returns ``({openid: member_id}, failures)``; a member already registered logs in as itself."""
    registered: dict[str, str] = {}
    failures: list[str] = []
    for member in members:
        openid = str(member["openid"])
        login_body = json.dumps({"code": f"local:{openid}"}).encode()
        status, _, answer = http("POST", "/v1/auth/wechat", {"content-type": "application/json"}, login_body)
        if status != 200:
            failures.append(f"{openid}: login {status}")
            continue
        login = json.loads(answer)
        if login.get("member_id"):
            registered[openid] = str(login["member_id"])
            continue
        body = {k: v for k, v in member.items() if k != "openid"}
        body.setdefault(
            "consents",
            [
                {
                    "purpose": "marketing",
                    "channel": "wechat",
                    "granted": True,
                    "text_version": "demo-consent-v1",
                }
            ],
        )
        headers = {"content-type": "application/json", "authorization": f"Bearer {login['token']}"}
        status, _, answer = http("POST", "/v1/members", headers, json.dumps(body).encode())
        if status == 201:
            registered[openid] = str(json.loads(answer)["member"]["member_id"])
        else:
            failures.append(f"{openid}: register {status} {answer[:200].decode('utf-8', 'replace')}")
    return registered, failures


# -- coupon templates -------------------------------------------------------------------------------

DEMO_COUPON_TEMPLATES = programme.DEMO_COUPON_TEMPLATES
"""The journeys' ``birthday`` and ``win-back``; the rewards' are
``programme.REWARD_COUPON_TEMPLATES``."""


def seed_coupon_templates(
    http: Http,
    username: str,
    password: str,
    templates: Sequence[Mapping[str, Any]] = DEMO_COUPON_TEMPLATES,
) -> tuple[list[str], list[str]]:
    """A loyalty operator signs in (``POST /v1/auth/staff``) and creates each template
    (``POST /v1/admin/coupon-templates``); one that exists already (409) is kept as it is.
    Returns ``(template ids in place, failures)``."""
    json_headers = {"content-type": "application/json"}
    credentials = json.dumps({"username": username, "password": password}).encode()
    status, _, answer = http("POST", "/v1/auth/staff", json_headers, credentials)
    if status != 200:
        return [], [f"staff login {username}: {status} {answer[:200].decode('utf-8', 'replace')}"]
    headers = {**json_headers, "authorization": f"Bearer {json.loads(answer)['id_token']}"}
    done: list[str] = []
    failures: list[str] = []
    for template in templates:
        status, _, answer = http("POST", "/v1/admin/coupon-templates", headers, json.dumps(template).encode())
        if status in (201, 409):
            done.append(str(template["template_id"]))
        else:
            failures.append(f"{template['template_id']}: {status} {answer[:200].decode('utf-8', 'replace')}")
    return done, failures


# -- the store directory ----------------------------------------------------------------------------


def demo_stores(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The data file's stores as loyalty's directory holds them (``StoreIn`` plus the id)."""
    tenants = {t["id"]: t for t in data["tenants"]}
    return [
        {
            "store_id": store["id"],
            "tenant_id": store["tenant_id"],
            "name": f"{tenants[store['tenant_id']]['name']} {store['unit']}",
            "floor": store["floor"],
            "unit": store["unit"],
            "active": True,
        }
        for store in data["stores"]
    ]


def seed_stores(
    http: Http, username: str, password: str, stores: Sequence[Mapping[str, Any]]
) -> tuple[list[str], list[str]]:
    """A loyalty operator signs in and puts each store (``PUT /v1/admin/stores/{store_id}``:
    create or replace) the directory does not hold as it is already (``GET /v1/admin/stores``), so
    seeding again writes nothing. Returns ``(store ids in place, failures)``."""
    json_headers = {"content-type": "application/json"}
    credentials = json.dumps({"username": username, "password": password}).encode()
    status, _, answer = http("POST", "/v1/auth/staff", json_headers, credentials)
    if status != 200:
        return [], [f"staff login {username}: {status} {answer[:200].decode('utf-8', 'replace')}"]
    headers = {**json_headers, "authorization": f"Bearer {json.loads(answer)['id_token']}"}
    done: list[str] = []
    failures: list[str] = []
    status, _, answer = http("GET", "/v1/admin/stores", headers, b"")
    held = {s["store_id"]: s for s in json.loads(answer).get("stores", [])} if status == 200 else {}
    for store in stores:
        if programme.same(held.get(str(store["store_id"])), store):
            done.append(str(store["store_id"]))
            continue
        body = json.dumps({k: v for k, v in store.items() if k != "store_id"}).encode()
        status, _, answer = http("PUT", f"/v1/admin/stores/{store['store_id']}", headers, body)
        if status in (200, 201):
            done.append(str(store["store_id"]))
        else:
            failures.append(f"{store['store_id']}: {status} {answer[:200].decode('utf-8', 'replace')}")
    return done, failures


def _staff_with_role(staff: Sequence[Mapping[str, str]], role: str) -> str:
    return next(person["username"] for person in staff if person["role"] == role)


# -- all of it --------------------------------------------------------------------------------------


def seed_all(
    cloud: SeedTarget,
    http: Http,
    *,
    client: Callable[[str], Any],
    base_url: str | None = None,
    data: Mapping[str, Any] | None = None,
    keys_file: Path | None = KEYS_FILE,
    demo_purchase_file: Path | None = None,
) -> SeedReport:
    """Seed the demo mall into a running local cloud; `client(service)` gives boto3 clients on it.

    Order matters: the clock first (the demo runs in the mall's day), the programme before the
    purchases (they earn under its rules and tiers), the congratulation campaign and the audience
    snapshot after them (settled), the demo purchase file last: ``demo_purchase_file``, by default
    beside the keys file (``.localcloud/demo-purchase.json`` for `make dev`; none without a keys
    file, so tools and tests never overwrite a running demo's)."""
    data = data or load_data()
    report = SeedReport(password=demo_password())
    report.staff = seed_staff(
        client("cognito-idp"), cloud.physical_id("StaffUserPool"), data["staff"], report.password
    )
    sources = data["integration_sources"]
    report.sources = seed_integration_keys(
        client("secretsmanager"), cloud.physical_id("IntegrationKeysSecret"), [s["source"] for s in sources]
    )
    if keys_file is not None:
        report.keys_file = write_keys_file(report.sources, base_url, keys_file)
    tz = zone(data["mall"]["timezone"])
    shift = programme.demo_day_shift(cloud.clock.now(), tz)
    if shift:
        status, answer = programme.Api(http).call("POST", "/_local/clock/advance", {"seconds": shift})
        if status == 200:
            report.clock_moved_to = cloud.clock.now().astimezone(tz).isoformat(timespec="minutes")
        else:
            report.programme_failures.append(f"demo day: clock advance {status} {str(answer)[:200]}")
    report.members, report.member_failures = seed_members(http)
    loyalty_ops = _staff_with_role(data["staff"], "loyalty_ops")
    report.coupon_templates, report.coupon_template_failures = seed_coupon_templates(
        http, loyalty_ops, report.password, DEMO_COUPON_TEMPLATES + programme.REWARD_COUPON_TEMPLATES
    )
    report.stores, report.store_failures = seed_stores(http, loyalty_ops, report.password, demo_stores(data))
    outcome = programme.Outcome()
    seed_programme_before_purchases(http, data, report, outcome)

    pos = sources[0]
    regulars = [member_id for openid, member_id in report.members.items() if openid not in NEW_MEMBERS]
    history = demo_purchases(data, pos["source"], pos["channel"], cloud.clock.now())
    # In the order they happened, a virtual second apart: loyalty stamps a tier change with the
    # time it records it, and campaigns keeps the newest stamp (two at one instant would tie).
    purchases = sorted(assign_members(history, regulars), key=lambda p: p["occurred_at"])
    report.purchases_posted, report.purchase_failures = seed_purchases(
        http,
        purchases,
        pos["source"],
        report.sources[pos["source"]],
        cloud.clock.now,
        between=lambda: _advance(http, 1),
    )
    # The past purchases' tier changes are history: they are processed before the congratulation
    # is activated (else the demo shoppers would be congratulated, and the day's message cap taken).
    _settle(cloud)
    seed_programme_after_purchases(http, data, report, outcome)
    _settle(cloud)
    report.programme, report.programme_failures = outcome.done, report.programme_failures + outcome.failures

    newcomers = [report.members[openid] for openid in NEW_MEMBERS if openid in report.members]
    report.demo_member = programme.pick_demo_member(newcomers, _in_global_control)
    if demo_purchase_file is None and keys_file is not None:
        demo_purchase_file = keys_file.with_name(DEMO_PURCHASE_FILE.name)
    if report.demo_member and demo_purchase_file is not None:
        report.demo_purchase_file = write_demo_purchase(
            programme.demo_purchase(report.demo_member, cloud.clock.now(), tz), demo_purchase_file
        )
    return report


def _advance(http: Http, seconds: float) -> None:
    programme.Api(http).call("POST", "/_local/clock/advance", {"seconds": seconds})


def _settle(cloud: SeedTarget) -> None:
    settle = getattr(cloud, "settle", None)
    if callable(settle):
        settle()


def _in_global_control(member_id: str) -> bool:
    """Campaigns' global control group as the local cloud runs it (the settings' defaults: the
    template sets neither GLOBAL_CONTROL_SALT nor GLOBAL_CONTROL_BASIS_POINTS)."""
    from services.campaigns.logic.experiments import in_global_control  # noqa: PLC0415 - seed only
    from services.campaigns.models.planning import TriggerSettings  # noqa: PLC0415 - seed only

    fields = TriggerSettings.model_fields
    salt = str(fields["global_control_salt"].default)
    return in_global_control(member_id, salt, int(fields["global_control_basis_points"].default))


def seed_programme_before_purchases(
    http: Http, data: Mapping[str, Any], report: SeedReport, outcome: programme.Outcome
) -> None:
    """Tiers, earning rules and rewards (the purchases earn under them); agents, routing rules and
    the knowledge base."""
    password = report.password
    loyalty, failure = programme.staff_api(http, _staff_with_role(data["staff"], "loyalty_ops"), password)
    if loyalty is None:
        outcome.failures.append(failure)
    else:
        programme.seed_loyalty(loyalty, outcome)
    admin, failure = programme.staff_api(http, _staff_with_role(data["staff"], "admin"), report.password)
    agent, failure_agent = programme.staff_api(
        http, _staff_with_role(data["staff"], "service_agent"), report.password
    )
    if admin is None or agent is None:
        outcome.failures.extend(f for f in (failure, failure_agent) if f)
    else:
        subjects = {person["username"]: person.get("subject", "") for person in report.staff}
        programme.seed_tickets(admin, agent, subjects, outcome)


def seed_programme_after_purchases(
    http: Http, data: Mapping[str, Any], report: SeedReport, outcome: programme.Outcome
) -> None:
    """Segments, campaigns (the congratulation activated) and an audience snapshot, as the marketer."""
    password = report.password
    marketer, failure = programme.staff_api(http, _staff_with_role(data["staff"], "marketer"), password)
    if marketer is None:
        outcome.failures.append(failure)
        return
    segments = programme.seed_segments(marketer, outcome)
    programme.seed_campaigns(marketer, segments, outcome)
    report.snapshot_requested = programme.request_snapshot(marketer, outcome)


def write_demo_purchase(purchase: Mapping[str, Any], path: Path = DEMO_PURCHASE_FILE) -> Path:
    """The demo purchase for `python -m infra.seed.sign --body-file ...` (README "Trying it")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(purchase, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
