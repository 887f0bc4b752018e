"""WeChat identity → member, for WeChat Pay notices (which name the payer by openid only).

| item | pk | sk |
|---|---|---|
| link | ``WXID#<openid lookup hash>`` | ``MEMBER`` (``member_id``) |
| the member's pointer (erasure) | ``WALLET#<member_id>`` | ``WXID#<hash>`` |

The hash is members' keyed lookup hash of the openid — the ``subject`` of the member's token — so
the link is written from an authenticated member request, never from what a notice claims.
"""

from __future__ import annotations

from datetime import datetime

from services.loyalty.dal.keys import iso, wallet_pk
from shared.aws import client
from shared.dynamo import from_item, put_op, to_item, transact_write


def link_key(openid_hash: str) -> dict[str, str]:
    return {"pk": f"WXID#{openid_hash}", "sk": "MEMBER"}


class DynamoWeChatLinks:
    def __init__(self, table_name: str) -> None:
        self.table = table_name

    def link(self, openid_hash: str, member_id: str, at: datetime) -> None:
        transact_write(
            [
                put_op(
                    self.table,
                    {
                        **link_key(openid_hash),
                        "entity": "wechat_link",
                        "member_id": member_id,
                        "linked_at": iso(at),
                    },
                ),
                put_op(
                    self.table,
                    {"pk": wallet_pk(member_id), "sk": f"WXID#{openid_hash}", "entity": "wechat_link_ref"},
                ),
            ]
        )

    def member_of(self, openid_hash: str) -> str | None:
        item = (
            client("dynamodb").get_item(TableName=self.table, Key=to_item(link_key(openid_hash))).get("Item")
        )
        member = from_item(item).get("member_id") if item else None
        return str(member) if member else None
