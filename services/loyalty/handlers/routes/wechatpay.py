"""WeChat Pay smart-business-district notifications, and the member's WeChat Pay link.

``POST /v1/integrations/wechatpay/notifications`` — no gateway authorizer: WeChat Pay signs it
(services/loyalty/logic/wechatpay.py). A payment becomes a purchase of source ``wechatpay`` (L1's
``record_purchase``: points, PurchaseRecorded), a refund a refund (L1's ``record_refund``); both
idempotent on WeChat's ids, so WeChat's 24 h of retries are one purchase / one refund.

``POST /v1/members/me/wechatpay/link`` (member) — after the member authorised the business
district's points service in the mini-program: links the token's WeChat identity (members' keyed
openid hash) to the member, so their WeChat Pay purchases earn points.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from services.loyalty.handlers.routes.wallet_deps import correlation_id
from services.loyalty.models.wallet_settings import WeChatPaySettings
from shared import clock
from shared.api import json_response
from shared.auth import event_body_bytes, principal_from_event, require_member
from shared.aws import target as aws_target
from shared.ids import new_ulid
from shared.observability import get_logger, get_metrics
from shared.secrets import secret_bytes, secret_string
from shared.settings import load
from shared.web import Router

if TYPE_CHECKING:  # pragma: no cover - typing only; imported by the routes that use them
    from services.loyalty.logic import wechatpay as logic

router = Router()
logger = get_logger("loyalty")
metrics = get_metrics("loyalty")
NOTIFICATIONS_PATH = "/v1/integrations/wechatpay/notifications"
LOCAL_TARGETS = ("local", "localstack")


def opener(settings: WeChatPaySettings) -> logic.NotificationOpener:
    from services.loyalty.logic import wechatpay as logic  # noqa: PLC0415 - cold start

    target = aws_target()
    choice = settings.wechatpay_adapter
    if choice == "auto":
        choice = "fake" if target in LOCAL_TARGETS else "wechatpay"
    if choice == "fake":
        if target not in LOCAL_TARGETS:
            # Never on AWS: the fake accepts unsigned notices.
            raise RuntimeError("the fake WeChat Pay notifications are for the local cloud only")
        return logic.LocalFakeWeChatPayNotifications()
    if not settings.wechatpay_secret_arn:
        raise RuntimeError("WECHATPAY_SECRET_ARN is not set")
    import json  # noqa: PLC0415

    config = json.loads(secret_string(settings.wechatpay_secret_arn, settings.secret_cache_seconds))
    return logic.WeChatPayV3Notifications(dict(config["platform_keys"]), str(config["apiv3_key"]).encode())


def openid_hash(pepper: bytes, openid: str) -> str:
    """Members' keyed lookup hash of an openid (``lookup_hash(pepper, "openid", openid)``)."""
    import hashlib  # noqa: PLC0415
    import hmac  # noqa: PLC0415

    return hmac.new(pepper, f"openid:{openid}".encode(), hashlib.sha256).hexdigest()


@router.post(
    NOTIFICATIONS_PATH,
    request_body={
        "required": True,
        "description": "WeChat Pay's API v3 notification (the local fake takes resource.plaintext).",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["resource"],
                    "properties": {
                        "id": {"type": "string"},
                        "create_time": {"type": "string"},
                        "event_type": {"type": "string", "examples": ["MALL_TRANSACTION.SUCCESS"]},
                        "resource_type": {"type": "string"},
                        "summary": {"type": "string"},
                        "resource": {
                            "type": "object",
                            "required": ["algorithm", "ciphertext", "nonce"],
                            "properties": {
                                "algorithm": {"const": "AEAD_AES_256_GCM"},
                                "ciphertext": {"type": "string"},
                                "associated_data": {"type": "string"},
                                "nonce": {"type": "string"},
                                "original_type": {"type": "string"},
                            },
                        },
                    },
                }
            }
        },
    },
    summary="WeChat Pay smart-business-district payment and refund notices (signed by WeChat Pay)",
    description="WeChat Pay API v3 notification: Wechatpay-Timestamp/Nonce/Signature/Serial headers "
    "(RSA-SHA256 with the platform key), resource AEAD_AES_256_GCM under the APIv3 key. "
    "MALL_TRANSACTION.SUCCESS → a purchase (source wechatpay, external id = transaction_id); "
    "MALL_REFUND.SUCCESS → a refund (external id = refund_id). 200 {code: SUCCESS} when handled or "
    "repeated; 401 bad signature; 4xx/5xx make WeChat retry.",
    tags=["integrations"],
)
def notification() -> Any:
    from services.loyalty.dal.ledger import DynamoLedgerRepository  # noqa: PLC0415 - cold start
    from services.loyalty.dal.privacy import pseudonym_key  # noqa: PLC0415 - cold start
    from services.loyalty.dal.purchases import DynamoPurchaseRepository  # noqa: PLC0415 - cold start
    from services.loyalty.dal.refunds import DynamoRefundRepository  # noqa: PLC0415 - cold start
    from services.loyalty.dal.wechat_links import DynamoWeChatLinks  # noqa: PLC0415 - cold start
    from services.loyalty.handlers.ledger_deps import ledger_repo, loyalty_config, store_check  # noqa: PLC0415 - cold start
    from services.loyalty.logic import wechatpay as logic  # noqa: PLC0415 - cold start
    from services.loyalty.logic.errors import NonceReused  # noqa: PLC0415 - cold start
    from services.loyalty.logic.privacy import pseudonym  # noqa: PLC0415 - cold start
    from services.loyalty.logic.purchases import PurchasePoints, SignedBy, record_purchase  # noqa: PLC0415 - cold start
    from services.loyalty.logic.refunds import record_refund  # noqa: PLC0415 - cold start
    from services.loyalty.logic.stores import REFUSALS  # noqa: PLC0415 - cold start

    settings = load(WeChatPaySettings)
    event = router.current_event
    raw = event_body_bytes(event.raw_event)
    now = clock.now()
    notice = opener(settings).open(event.headers, raw, now)
    cid = correlation_id(event.raw_event) or notice.notification_id
    key = pseudonym_key(settings.pseudonym_key_secret_arn)
    # WeChat may resend a notice with its original headers: the signature, its 5-minute window and the
    # idempotency on WeChat's ids protect it, so each delivery gets its own nonce record.
    signed = SignedBy(source=logic.WECHATPAY_SOURCE, nonce=f"wx-{new_ulid(now)}")
    if notice.event_type == logic.PAYMENT:
        pepper = secret_bytes(settings.lookup_pepper_secret_arn, settings.secret_cache_seconds)
        openid = str(notice.resource.get("openid") or "")
        member_id = (
            DynamoWeChatLinks(settings.table_name).member_of(openid_hash(pepper, openid)) if openid else None
        )
        request = logic.purchase_request(notice, member_id)
        try:
            recorded = record_purchase(
                request,
                signed,
                DynamoPurchaseRepository(settings.table_name),
                now=now,
                new_id=new_ulid,
                correlation_id=cid,
                producer="loyalty.wechatpay",
                nonce_ttl=timedelta(seconds=2 * settings.signature_max_skew_seconds + 60),
                pseudonymise=lambda m: pseudonym(key, m),
                points=PurchasePoints(ledger=ledger_repo(settings), config=loyalty_config(settings)),
                stores=store_check(settings),
            )
        except NonceReused:  # pragma: no cover - nonces are fresh per delivery
            raise
        except REFUSALS as refused:
            # A shop number the store directory lacks: WeChat retries for 24 h; add the store.
            logger.warning(
                "wechatpay payment refused",
                extra={
                    "code": refused.code,
                    "store_id": request.store_id,
                    "transaction_id": request.external_id,
                },
            )
            metrics.add_metric(name="WeChatPayPaymentRefused", unit="Count", value=1)
            raise
        logger.info(
            "wechatpay payment",
            extra={
                "transaction_id": request.external_id,
                "replayed": recorded.replayed,
                "linked": bool(member_id),
            },
        )
        metrics.add_metric(
            name="WeChatPayPaymentReplayed" if recorded.replayed else "WeChatPayPayment",
            unit="Count",
            value=1,
        )
    elif notice.event_type == logic.REFUND:
        refund = logic.refund_request(notice)
        done = record_refund(
            refund,
            signed,
            DynamoRefundRepository(settings.table_name),
            DynamoLedgerRepository(settings.table_name),
            now=now,
            new_id=new_ulid,
            correlation_id=cid,
            producer="loyalty.wechatpay",
            nonce_expires_at=now + timedelta(seconds=2 * settings.signature_max_skew_seconds + 60),
            pseudonymise=lambda m: pseudonym(key, m),
            tz=clock.zone(settings.mall_timezone),
        )
        logger.info("wechatpay refund", extra={"refund_id": refund.external_id, "replayed": done.replayed})
        metrics.add_metric(
            name="WeChatPayRefundReplayed" if done.replayed else "WeChatPayRefund", unit="Count", value=1
        )
    else:
        logger.info("wechatpay notice acknowledged", extra={"event_type": notice.event_type})
    return json_response(200, {"code": "SUCCESS", "message": "OK"})


@router.post(
    "/v1/members/me/wechatpay/link",
    summary="Link the member's WeChat identity for WeChat Pay business-district points",
    tags=["member-wechatpay"],
)
def link() -> Any:
    from services.loyalty.dal.wechat_links import DynamoWeChatLinks  # noqa: PLC0415 - cold start

    principal = principal_from_event(router.current_event.raw_event)
    member_id = require_member(principal)
    settings = load(WeChatPaySettings)
    # The token's subject is members' keyed hash of the openid: the same value a notice's openid hashes to.
    DynamoWeChatLinks(settings.table_name).link(principal.subject, member_id, clock.now())
    return json_response(200, {"linked": True})
