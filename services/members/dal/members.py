"""Profiles, data keys, lookup keys, consents (read) and the audit log in MembersTable.

| item | pk | sk |
|---|---|---|
| profile | ``MEMBER#<id>`` | ``PROFILE`` (gsi2: ``BDAY#<MMDD>`` / ``<id>``, sparse) |
| data key | ``MEMBER#<id>`` | ``DATAKEY`` |
| lookup key | ``IDENT#<kind>#<hmac>`` | ``IDENT`` |
| back-reference | ``MEMBER#<id>`` | ``IDENT#<kind>#<hmac>`` |
| consent / history | ``MEMBER#<id>`` | ``CONSENT#<purpose>[#<channel>]`` / ``CONSENTLOG#<ts>#<n>`` |
| audit | ``AUDIT#<id>`` | ``<iso_ts>#<ulid>`` |
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from services.members.logic.identity import IdentityKind, ident_key
from shared.aws import client
from shared.dynamo import (
    ConditionalCheckFailed,
    batch_get_all,
    from_item,
    is_conditional_check_failed,
    put_op,
    query_all,
    to_item,
    transact_write,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.members.logic.consents import ConsentPlan, ConsentState
    from services.members.logic.members import Write

# The write plans (logic.members) and the consents slice are imported by the methods that write:
# every read route uses this repository, and need not load them (cold start).


def member_key(member_id: str, sk: str) -> dict[str, str]:
    return {"pk": f"MEMBER#{member_id}", "sk": sk}


class DynamoMembersRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    # -- reads ----------------------------------------------------------------------------------

    def lookup(self, kind: IdentityKind, hash_hex: str) -> str | None:
        response = client("dynamodb").get_item(
            TableName=self.table_name,
            Key=to_item({"pk": ident_key(kind, hash_hex), "sk": "IDENT"}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return str(from_item(item)["member_id"]) if item else None

    def profile_and_key(self, member_id: str) -> tuple[dict[str, Any] | None, bytes | None]:
        """The profile and the wrapped data key (one BatchGetItem, consistent)."""
        keys = [member_key(member_id, "PROFILE"), member_key(member_id, "DATAKEY")]
        profile: dict[str, Any] | None = None
        wrapped: bytes | None = None
        for item in batch_get_all(self.table_name, keys, consistent=True):
            if item["sk"] == "PROFILE":
                profile = item
            elif item["sk"] == "DATAKEY":
                wrapped = base64.b64decode(str(item["wrapped_key"]))
        return profile, wrapped

    def contact_facts(
        self, member_id: str, purpose: str, channel: str
    ) -> tuple[dict[str, Any] | None, bytes | None, bool]:
        """The contact directory's one read: profile, wrapped data key and whether the member's
        consent ``purpose`` on ``channel`` is granted now (never decided = not granted) — one consistent
        BatchGetItem of three keys, so checking the consent costs no extra round trip (and the
        directory's role needs no GetItem: it may only BatchGetItem ``MEMBER#*`` items,
        tests/infra/test_contact_directory_iam.py)."""
        consent_sk = f"CONSENT#{purpose}#{channel}"
        keys = [member_key(member_id, sk) for sk in ("PROFILE", "DATAKEY", consent_sk)]
        # A partial read could say "not consented" or "missing" wrongly: batch_get_all raises
        # instead, failing the invocation (dispatch retries it).
        found = {str(item["sk"]): item for item in batch_get_all(self.table_name, keys, consistent=True)}
        datakey = found.get("DATAKEY")
        wrapped = base64.b64decode(str(datakey["wrapped_key"])) if datakey else None
        return found.get("PROFILE"), wrapped, found.get(consent_sk, {}).get("granted") is True

    def _query(self, member_id: str, condition: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND " + condition,
            "ExpressionAttributeValues": to_item({":pk": f"MEMBER#{member_id}", **values}),
        }
        return list(query_all(kwargs))

    def consents(self, member_id: str) -> list[ConsentState]:
        """The current consents (not the history), through the consents slice's repository."""
        from services.members.dal.consents import DynamoConsentRepository  # noqa: PLC0415

        return list(DynamoConsentRepository(self.table_name).current(member_id).values())

    def identity_refs(self, member_id: str) -> list[dict[str, Any]]:
        return self._query(member_id, "begins_with(sk, :p)", {":p": "IDENT#"})

    def stats(self, member_id: str) -> dict[str, Any] | None:
        response = client("dynamodb").get_item(
            TableName=self.table_name, Key=to_item(member_key(member_id, "STATS"))
        )
        item = response.get("Item")
        return from_item(item) if item else None

    # -- writes ---------------------------------------------------------------------------------

    def _op(self, write: Write) -> dict[str, Any]:
        from services.members.logic.members import Delete, Put, RequireConsent, consent_sk  # noqa: PLC0415

        if isinstance(write, Put):
            return put_op(
                self.table_name,
                write.item,
                condition="attribute_not_exists(pk)" if write.must_be_new else None,
            )
        if isinstance(write, Delete):
            op: dict[str, Any] = {"TableName": self.table_name, "Key": to_item(write.key)}
            conditions: list[str] = []
            values: dict[str, Any] = {}
            if write.owned_by:
                conditions.append("member_id = :me")
                values[":me"] = write.owned_by
            for i, (name, value) in enumerate((write.expected or {}).items()):
                op.setdefault("ExpressionAttributeNames", {})[f"#e{i}"] = name
                conditions.append(f"#e{i} = :e{i}")
                values[f":e{i}"] = value
            if conditions:
                op["ConditionExpression"] = " AND ".join(conditions)
                op["ExpressionAttributeValues"] = to_item(values)
            return {"Delete": op}
        if isinstance(write, RequireConsent):
            return {
                "ConditionCheck": {
                    "TableName": self.table_name,
                    "Key": to_item(member_key(write.member_id, consent_sk(write.purpose, write.channel))),
                    "ConditionExpression": "granted = :yes",
                    "ExpressionAttributeValues": to_item({":yes": True}),
                }
            }
        names = {f"#s{i}": name for i, name in enumerate(write.set)}
        names.update({f"#r{i}": name for i, name in enumerate(write.remove)})
        names.update({"#version": "version", "#status": "status"})
        values = {f":s{i}": value for i, value in enumerate(write.set.values())}
        values.update({":expected": write.expected_version, ":active": "active"})
        expression = "SET " + ", ".join(f"#s{i} = :s{i}" for i in range(len(write.set)))
        if write.remove:
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(write.remove)))
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": to_item(member_key(write.member_id, "PROFILE")),
                "UpdateExpression": expression,
                "ConditionExpression": "#version = :expected AND #status = :active",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": to_item(values),
            }
        }

    def apply(
        self, writes: Sequence[Write], *, consents: ConsentPlan | None = None, correlation_id: str = ""
    ) -> None:
        from services.members.dal.consents import consent_write_ops  # noqa: PLC0415
        from services.members.logic.members import (  # noqa: PLC0415
            PRODUCER,
            Delete,
            Put,
            RequireConsent,
            conflict,
        )

        ops = [self._op(w) for w in writes]
        if consents is not None:
            # New member: the profile Put guards it, so no condition on the current consents.
            ops += consent_write_ops(
                self.table_name,
                consents,
                correlation_id=correlation_id,
                producer=PRODUCER,
                condition_on_current=False,
            )
        try:
            transact_write(ops)
        except ConditionalCheckFailed as failed:
            index = failed.failed_indexes[0] if failed.failed_indexes else None
            write = writes[index] if index is not None and index < len(writes) else None
            if isinstance(write, Put | Delete) and write.conflict:
                raise conflict(write.conflict) from None
            if isinstance(write, RequireConsent):
                raise conflict("car_plate_consent_required") from None
            raise conflict("member_changed") from None

    def store_sealed_openid(self, member_id: str, sealed: str) -> bool:
        """Keep the member's sealed openid (contact directory); False when already there or not active."""
        try:
            client("dynamodb").update_item(
                TableName=self.table_name,
                Key=to_item(member_key(member_id, "PROFILE")),
                UpdateExpression="SET #o = :o",
                ConditionExpression="#status = :active AND attribute_not_exists(#o)",
                ExpressionAttributeNames={"#o": "wechat_openid_ct", "#status": "status"},
                ExpressionAttributeValues=to_item({":o": sealed, ":active": "active"}),
            )
        except Exception as exc:
            if is_conditional_check_failed(exc):
                return False
            raise
        return True

    def put_audit(self, entry: dict[str, Any]) -> None:
        client("dynamodb").put_item(
            TableName=self.table_name, Item=to_item(entry), ConditionExpression="attribute_not_exists(pk)"
        )
