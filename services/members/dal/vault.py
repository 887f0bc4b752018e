"""KMS side of the PII vault: per-member data keys under ``DataKey`` with encryption context
``{"member_id": <id>}`` (the IAM policy requires that context key, and KMS binds the wrapped key to
it: a wrapped key copied to another member does not unwrap)."""

from __future__ import annotations

from shared.aws import client


class KmsDataKeyStore:
    """:class:`services.members.logic.vault.DataKeyStore` on KMS."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id

    def generate(self, member_id: str) -> tuple[bytes, bytes]:
        response = client("kms").generate_data_key(
            KeyId=self.key_id, KeySpec="AES_256", EncryptionContext={"member_id": member_id}
        )
        return bytes(response["Plaintext"]), bytes(response["CiphertextBlob"])

    def unwrap(self, member_id: str, wrapped: bytes) -> bytes:
        response = client("kms").decrypt(
            KeyId=self.key_id, CiphertextBlob=wrapped, EncryptionContext={"member_id": member_id}
        )
        return bytes(response["Plaintext"])
