from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from moto import mock_aws

from shared import aws, dynamo

TABLE = "mallcrm-test-loyalty"
NOW = datetime(2024, 5, 1, 4, 0, tzinfo=UTC)


@pytest.fixture
def table():
    with mock_aws():
        aws.client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield aws.client("dynamodb")


def test_to_item_and_back_keeps_ints_as_ints():
    plain = {
        "pk": "M#1",
        "sk": "BAL",
        "points": 1259,
        "tags": ["a", "b"],
        "nested": {"cents": 100},
        "none": None,
    }
    item = dynamo.to_item(plain)
    assert item["points"] == {"N": "1259"}
    assert "none" not in item
    back = dynamo.from_item(item)
    assert back == {k: v for k, v in plain.items() if v is not None}
    assert isinstance(back["points"], int)
    assert dynamo.from_item(dynamo.to_item({"rate": Decimal("0.5")}))["rate"] == Decimal("0.5")


def test_floats_are_refused_with_the_path():
    with pytest.raises(TypeError, match=r"nested\.amount"):
        dynamo.to_item({"nested": {"amount": 12.5}})


def test_idempotency_marker():
    marker = dynamo.idempotency_marker("01HX", "members-on-purchase", NOW)
    assert marker["pk"] == "EVENT#01HX"
    assert marker["sk"] == "CONSUMER#members-on-purchase"
    assert marker["ttl"] == int(NOW.timestamp()) + 30 * 86400


def test_given_the_same_event_twice_then_the_business_change_happens_once(table):
    def apply(event_id: str, points: int) -> bool:
        try:
            dynamo.transact_write(
                [
                    dynamo.idempotency_put(TABLE, event_id, "loyalty-earn", NOW),
                    {
                        "Update": {
                            "TableName": TABLE,
                            "Key": dynamo.to_item({"pk": "MEMBER#1", "sk": "BALANCE"}),
                            "UpdateExpression": "ADD points :p",
                            "ExpressionAttributeValues": dynamo.to_item({":p": points}),
                        }
                    },
                ]
            )
        except dynamo.ConditionalCheckFailed as exc:
            assert exc.failed_indexes == (0,)
            return False
        return True

    assert apply("01HXEVENT", 100) is True
    assert apply("01HXEVENT", 100) is False
    item = table.get_item(TableName=TABLE, Key=dynamo.to_item({"pk": "MEMBER#1", "sk": "BALANCE"}))["Item"]
    assert dynamo.from_item(item)["points"] == 100


def test_a_single_conditional_put_failure_is_detected(table):
    put = dynamo.put_op(TABLE, {"pk": "A", "sk": "B"}, condition="attribute_not_exists(pk)")["Put"]
    table.put_item(**put)
    with pytest.raises(Exception) as caught:
        table.put_item(**put)
    assert dynamo.is_conditional_check_failed(caught.value)


def test_cancellation_reasons_from_message_only():
    class FakeClientError(Exception):
        response = {
            "Error": {
                "Code": "TransactionCanceledException",
                "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
                "[None, ConditionalCheckFailed]",
            }
        }

    assert dynamo.cancellation_reasons(FakeClientError()) == ["None", "ConditionalCheckFailed"]
    assert dynamo.is_conditional_check_failed(FakeClientError())
    assert not dynamo.is_conditional_check_failed(ValueError("x"))


def test_other_transaction_errors_propagate(table):
    with pytest.raises(Exception) as caught:
        dynamo.transact_write([dynamo.put_op("no-such-table", {"pk": "a", "sk": "b"})])
    assert not isinstance(caught.value, dynamo.ConditionalCheckFailed)


def test_transactions_are_limited_to_100_items():
    with pytest.raises(ValueError, match="100"):
        dynamo.transact_write([{"Put": {}}] * 101, client=object())


def test_query_all_reads_every_page_and_deserialises(table):
    ddb = table
    for n in range(5):
        ddb.put_item(TableName=TABLE, Item=dynamo.to_item({"pk": "MEMBER#1", "sk": f"ITEM#{n}", "n": n}))
    ddb.put_item(TableName=TABLE, Item=dynamo.to_item({"pk": "MEMBER#2", "sk": "ITEM#0", "n": 9}))
    request = {
        "TableName": TABLE,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": dynamo.to_item({":pk": "MEMBER#1"}),
        "Limit": 2,  # three pages
    }
    items = list(dynamo.query_all(request))
    assert [item["n"] for item in items] == [0, 1, 2, 3, 4]
    assert "ExclusiveStartKey" not in request


class _BatchGetClient:
    """Answers BatchGetItem from ``answers`` in turn and records every request."""

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.answers = answers
        self.requests: list[dict[str, Any]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(RequestItems)
        return self.answers.pop(0)


class TestBatchGetAll:
    def test_no_keys_make_no_call(self) -> None:
        fake = _BatchGetClient([])
        assert dynamo.batch_get_all("T", [], client=fake) == []
        assert fake.requests == []

    def test_unprocessed_keys_are_asked_again_and_items_deserialised(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("shared.dynamo.time.sleep", lambda _s: None)
        second = {"Keys": [{"pk": {"S": "B"}}]}
        fake = _BatchGetClient(
            [
                {"Responses": {"T": [{"pk": {"S": "A"}, "n": {"N": "1"}}]}, "UnprocessedKeys": {"T": second}},
                {"Responses": {"T": [{"pk": {"S": "B"}, "n": {"N": "2"}}]}},
            ]
        )
        found = dynamo.batch_get_all("T", [{"pk": "A"}, {"pk": "B"}], projection="pk, n", client=fake)
        assert sorted((item["pk"], item["n"]) for item in found) == [("A", 1), ("B", 2)]
        assert fake.requests[0]["T"]["ProjectionExpression"] == "pk, n"
        assert fake.requests[1] == {"T": second}

    def test_keys_still_unprocessed_after_the_attempts_raise(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("shared.dynamo.time.sleep", lambda _s: None)
        stuck = {"Responses": {}, "UnprocessedKeys": {"T": {"Keys": [{"pk": {"S": "A"}}]}}}
        fake = _BatchGetClient([stuck, stuck])
        with pytest.raises(RuntimeError):
            dynamo.batch_get_all("T", [{"pk": "A"}], attempts=2, client=fake)

    def test_consistent_reads_are_asked_for_when_wanted(self) -> None:
        fake = _BatchGetClient([{"Responses": {"T": []}}, {"Responses": {"T": []}}])
        dynamo.batch_get_all("T", [{"pk": "A"}], consistent=True, client=fake)
        dynamo.batch_get_all("T", [{"pk": "A"}], client=fake)
        assert fake.requests[0]["T"]["ConsistentRead"] is True
        assert "ConsistentRead" not in fake.requests[1]["T"]
