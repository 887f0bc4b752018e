"""Builds WeChat Pay API v3 notifications as WeChat Pay does: an RSA platform key signs
``timestamp\\nnonce\\nbody\\n`` (SHA256withRSA, base64), the resource is AES-256-GCM under the APIv3
key. Used by the adapter's unit tests and the route's integration tests."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

APIV3_KEY = b"0123456789abcdef0123456789abcdef"
SERIAL = "PUB_KEY_ID_0114232134912410000000000001"


@dataclass
class FakePlatform:
    """WeChat Pay's side of a notification, for tests."""

    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    @property
    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def notice(
        self,
        event_type: str,
        resource: dict[str, Any],
        *,
        timestamp: int,
        notification_id: str = "EV-2018022511223320873",
        apiv3_key: bytes = APIV3_KEY,
        serial: str = SERIAL,
    ) -> tuple[dict[str, str], bytes]:
        nonce = base64.b64encode(os.urandom(9)).decode()
        gcm_nonce = base64.b64encode(os.urandom(9)).decode()[:12]
        aad = "mall"
        ciphertext = AESGCM(apiv3_key).encrypt(
            gcm_nonce.encode(), json.dumps(resource).encode(), aad.encode()
        )
        body = json.dumps(
            {
                "id": notification_id,
                "create_time": "2026-03-01T12:00:00+08:00",
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": "支付成功",
                "resource": {
                    "original_type": "transaction",
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": base64.b64encode(ciphertext).decode(),
                    "associated_data": aad,
                    "nonce": gcm_nonce,
                },
            },
            ensure_ascii=False,
        ).encode()
        message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
        signature = base64.b64encode(self.key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
        headers = {
            "Wechatpay-Timestamp": str(timestamp),
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": serial,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }
        return headers, body


def payment(
    transaction_id: str = "4200000001202603010000000001",
    openid: str = "oUpF8uMuAJ2pxb1Q9zNjWUHsd",
    amount: int = 25900,
) -> dict[str, Any]:
    return {
        "mchid": "1230000109",
        "merchant_name": "MallCRM Plaza",
        "shop_name": "Coffee",
        "shop_number": "store-0101",
        "appid": "wxd678efh567hg6787",
        "openid": openid,
        "amount": amount,
        "time_end": "2026-03-01T11:58:00+08:00",
        "transaction_id": transaction_id,
        "code": "478515832665",
        "auth_type": "REGISTERED_MODE",
    }


def refund(transaction_id: str = "4200000001202603010000000001", amount: int = 10000) -> dict[str, Any]:
    return {
        "mchid": "1230000109",
        "merchant_name": "MallCRM Plaza",
        "shop_name": "Coffee",
        "shop_number": "store-0101",
        "openid": "oUpF8uMuAJ2pxb1Q9zNjWUHsd",
        "appid": "wxd678efh567hg6787",
        "refund_time": "2026-03-01T11:59:00+08:00",
        "pay_amount": 25900,
        "refund_amount": amount,
        "transaction_id": transaction_id,
        "refund_id": "50300000012026030100000001",
    }
