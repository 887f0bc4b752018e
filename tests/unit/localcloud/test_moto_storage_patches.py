"""``moto_patches.storage_patches``: the two storage patches without a local cloud (what
``bench/campaigns_dispatch.py`` runs on). Its own module: the module-scoped clouds of the other
modules must not be running."""

from __future__ import annotations

import boto3
import moto
import pytest

from infra.localcloud import moto_patches


def test_storage_patches_apply_for_the_block_only_and_answer_as_moto_does() -> None:
    """Without a cloud: the two patches that change how moto keeps tables, and nothing else; a
    cancelled transaction still leaves no trace, and everything is put back afterwards."""
    from moto.core.common_models import BaseModel
    from moto.dynamodb.models import DynamoDBBackend

    stock_transact, stock_new = DynamoDBBackend.transact_write_items, vars(BaseModel)["__new__"]
    with moto.mock_aws(), moto_patches.storage_patches():
        assert DynamoDBBackend.transact_write_items is moto_patches._transact_write_items
        assert not moto_patches.installed()  # no cloud: Lambda, events and clocks are moto's own
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="storage-only",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.put_item(TableName="storage-only", Item={"pk": {"S": "kept"}, "n": {"N": "1"}})
        with pytest.raises(ddb.exceptions.TransactionCanceledException):
            ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "storage-only", "Item": {"pk": {"S": "new"}}}},
                    {
                        "Update": {
                            "TableName": "storage-only",
                            "Key": {"pk": {"S": "kept"}},
                            "UpdateExpression": "SET n = :two",
                            "ConditionExpression": "n = :zero",
                            "ExpressionAttributeValues": {":two": {"N": "2"}, ":zero": {"N": "0"}},
                        }
                    },
                ]
            )
        assert "Item" not in ddb.get_item(TableName="storage-only", Key={"pk": {"S": "new"}})
        assert ddb.get_item(TableName="storage-only", Key={"pk": {"S": "kept"}})["Item"]["n"] == {"N": "1"}
        with pytest.raises(RuntimeError, match="installed already"), moto_patches.storage_patches():
            pass
    assert DynamoDBBackend.transact_write_items is stock_transact
    assert vars(BaseModel)["__new__"] is stock_new
