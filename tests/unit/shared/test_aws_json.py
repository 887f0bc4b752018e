"""``shared.aws_json``: DynamoDB requests and answers exactly as botocore makes them, faster.

Every test compares with botocore's own serializer or parser on the same input: the wrappers are
only worth having while they are indistinguishable from what they replace.
"""

from __future__ import annotations

import base64
import functools
import json
from datetime import UTC, datetime
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.parsers import create_parser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import aws, aws_json

pytestmark = pytest.mark.usefixtures("fresh_clients")

TABLE = "mallcrm-test"


@functools.cache
def _botocore_client(*, validate: bool = False) -> Any:
    """A stock botocore client (none of our wrappers); cached: one costs ~50 ms to create."""
    from botocore.config import Config

    session = botocore.session.get_session()
    return session.create_client(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=validate),
    )


# --- generated DynamoDB values ------------------------------------------------------------------

_text = st.text(max_size=12)  # any Unicode, quotes and backslashes included
_number = st.integers(min_value=-(10**12), max_value=10**12).map(str)
_scalar = st.one_of(
    st.builds(lambda s: {"S": s}, _text),
    st.builds(lambda n: {"N": n}, _number),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.just({"NULL": True}),
    st.builds(lambda ss: {"SS": sorted(set(ss))}, st.lists(_text, min_size=1, max_size=3)),
    st.builds(lambda ns: {"NS": sorted(set(ns))}, st.lists(_number, min_size=1, max_size=3)),
)
attribute_values = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.builds(lambda items: {"L": items}, st.lists(inner, max_size=3)),
        st.builds(lambda m: {"M": m}, st.dictionaries(_text, inner, max_size=3)),
    ),
    max_leaves=8,
)
items = st.dictionaries(st.sampled_from(["pk", "sk", "a", "b", "#x", 'q"uote']), attribute_values, min_size=1)
keys = st.fixed_dictionaries(
    {"pk": st.builds(lambda s: {"S": s}, _text), "sk": st.builds(lambda s: {"S": s}, _text)}
)


def _requests() -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    update_parts = {
        "TableName": st.just(TABLE),
        "Key": keys,
        "UpdateExpression": st.just("SET #a = :a ADD #n :one"),
        "ExpressionAttributeNames": st.just({"#a": "a", "#n": "n"}),
        "ExpressionAttributeValues": st.fixed_dictionaries(
            {":a": attribute_values, ":one": st.just({"N": "1"})}
        ),
    }
    update = st.fixed_dictionaries(
        update_parts,
        optional={
            "ConditionExpression": st.just("attribute_exists(pk)"),
            "ReturnValues": st.sampled_from(["NONE", "ALL_NEW", "UPDATED_NEW"]),
        },
    )
    transact_update = st.fixed_dictionaries(
        update_parts,
        optional={
            "ConditionExpression": st.just("attribute_exists(pk)"),
            "ReturnValuesOnConditionCheckFailure": st.just("ALL_OLD"),
        },
    )
    transact_item = st.one_of(
        st.builds(lambda i: {"Put": {"TableName": TABLE, "Item": i}}, items),
        st.builds(lambda u: {"Update": u}, transact_update),
        st.builds(lambda k: {"Delete": {"TableName": TABLE, "Key": k}}, keys),
        st.builds(
            lambda k: {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": k,
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            keys,
        ),
    )
    return st.one_of(
        st.tuples(
            st.just("GetItem"),
            st.fixed_dictionaries(
                {"TableName": st.just(TABLE), "Key": keys}, optional={"ConsistentRead": st.booleans()}
            ),
        ),
        st.tuples(st.just("PutItem"), st.fixed_dictionaries({"TableName": st.just(TABLE), "Item": items})),
        st.tuples(st.just("UpdateItem"), update),
        st.tuples(
            st.just("Query"),
            st.fixed_dictionaries(
                {
                    "TableName": st.just(TABLE),
                    "KeyConditionExpression": st.just("pk = :pk"),
                    "ExpressionAttributeValues": st.fixed_dictionaries({":pk": attribute_values}),
                },
                optional={
                    "Limit": st.integers(1, 1000),
                    "ExclusiveStartKey": keys,
                    "IndexName": st.just("gsi1"),
                },
            ),
        ),
        st.tuples(
            st.just("BatchGetItem"),
            st.builds(
                lambda ks, consistent: {"RequestItems": {TABLE: {"Keys": ks, "ConsistentRead": consistent}}},
                st.lists(keys, min_size=1, max_size=4),
                st.booleans(),
            ),
        ),
        st.tuples(
            st.just("BatchWriteItem"),
            st.builds(
                lambda puts: {"RequestItems": {TABLE: [{"PutRequest": {"Item": i}} for i in puts]}},
                st.lists(items, min_size=1, max_size=3),
            ),
        ),
        st.tuples(
            st.just("TransactWriteItems"),
            st.builds(lambda t: {"TransactItems": t}, st.lists(transact_item, min_size=1, max_size=4)),
        ),
    )


# --- requests -----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=_requests())
def test_a_request_is_serialised_byte_for_byte_as_botocore_does(request: tuple[str, dict[str, Any]]) -> None:
    _assert_serialised_as_botocore(_botocore_client(), *request, aws_json.FAST_OPERATIONS)


def _assert_serialised_as_botocore(
    client: Any, name: str, params: dict[str, Any], operations: frozenset[str]
) -> dict[str, Any]:
    """Our request for ``params`` is botocore's; botocore's headers, returned."""
    operation = client.meta.service_model.operation_model(name)
    standard = client._serializer
    fast = aws_json.FastJSONSerializer(standard, standard, None, operations)

    ours = fast.serialize_to_request(params, operation)
    theirs = standard.serialize_to_request(params, operation)

    assert json.loads(ours.pop("body")) == json.loads(theirs.pop("body"))  # the same document
    assert ours == theirs  # method, path, query, headers
    return dict(theirs["headers"])


def test_a_binary_value_goes_through_botocore_which_base64_encodes_it() -> None:
    client = _botocore_client()
    operation = client.meta.service_model.operation_model("PutItem")
    params = {"TableName": TABLE, "Item": {"pk": {"S": "a"}, "blob": {"B": b"\x00\xff"}}}
    fast = aws_json.FastJSONSerializer(client._serializer, client._serializer, None)

    body = json.loads(fast.serialize_to_request(params, operation)["body"])

    assert body["Item"]["blob"] == {"B": base64.b64encode(b"\x00\xff").decode()}


@pytest.mark.parametrize(
    "odd",
    [
        {"Limit": 2**70},  # beyond orjson's 64-bit integers
        {"ExpressionAttributeValues": {":v": {"S": "\ud800"}}},  # a lone surrogate: not UTF-8
        {"ExpressionAttributeValues": {":v": {"S": datetime(2026, 1, 1, tzinfo=UTC)}}},
    ],
)
def test_what_orjson_would_render_its_own_way_goes_through_botocore(odd: dict[str, Any]) -> None:
    client = _botocore_client()
    operation = client.meta.service_model.operation_model("Query")
    params = {"TableName": TABLE, "KeyConditionExpression": "pk = :v"} | odd
    standard = client._serializer
    fast = aws_json.FastJSONSerializer(standard, standard, None)

    try:
        expected = standard.serialize_to_request(params, operation)
    except TypeError:  # botocore cannot send it either: neither may we, silently
        with pytest.raises(TypeError):
            fast.serialize_to_request(params, operation)
        return
    assert fast.serialize_to_request(params, operation) == expected  # byte for byte: botocore's


def test_other_operations_keep_botocores_serializer_and_its_validation() -> None:
    client = aws.client("dynamodb")  # local target: validating
    assert isinstance(client._serializer, aws_json.FastJSONSerializer)
    with pytest.raises(ParamValidationError, match="Unknown parameter"):
        client.describe_table(TableName=TABLE, Colour="blue")


def test_a_validating_client_still_validates_the_fast_operations() -> None:
    client = aws.client("dynamodb")
    with pytest.raises(ParamValidationError, match="TransactItems"):
        client.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": "not a map"}}])
    with pytest.raises(ParamValidationError, match="Unknown parameter"):
        client.get_item(TableName=TABLE, Key={"pk": {"S": "a"}}, Colour="blue")


def test_a_client_that_does_not_validate_is_not_made_to(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLCRM_AWS_TARGET", "aws")
    serializer = aws.client("dynamodb")._serializer
    assert isinstance(serializer, aws_json.FastJSONSerializer)
    assert serializer._validator is None


# --- answers ------------------------------------------------------------------------------------

_capacity = st.fixed_dictionaries(
    {"TableName": st.just(TABLE), "CapacityUnits": st.sampled_from([0.5, 1.0, 2.0, 13.5])},
    optional={"WriteCapacityUnits": st.sampled_from([1.0, 26.0]), "ReadCapacityUnits": st.just(0.5)},
)


def _answers() -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    return st.one_of(
        st.tuples(
            st.just("GetItem"),
            st.fixed_dictionaries({}, optional={"Item": items, "ConsumedCapacity": _capacity}),
        ),
        st.tuples(st.just("UpdateItem"), st.fixed_dictionaries({}, optional={"Attributes": items})),
        st.tuples(
            st.just("Query"),
            st.builds(
                lambda found, last: {"Items": found, "Count": len(found), "ScannedCount": len(found), **last},
                st.lists(items, max_size=3),
                st.one_of(st.just({}), st.builds(lambda k: {"LastEvaluatedKey": k}, keys)),
            ),
        ),
        st.tuples(
            st.just("BatchGetItem"),
            st.builds(
                lambda found, left: {"Responses": {TABLE: found}, "UnprocessedKeys": left},
                st.lists(items, max_size=3),
                st.one_of(
                    st.just({}),
                    st.builds(lambda ks: {TABLE: {"Keys": ks}}, st.lists(keys, min_size=1, max_size=2)),
                ),
            ),
        ),
        st.tuples(
            st.just("TransactWriteItems"),
            st.fixed_dictionaries({}, optional={"ConsumedCapacity": st.lists(_capacity, max_size=2)}),
        ),
        st.tuples(st.just("PutItem"), st.just({})),
    )


def _response(body: bytes, status: int = 200) -> dict[str, Any]:
    return {
        "status_code": status,
        "headers": {
            "x-amzn-RequestId": "R3QU3ST",
            "Content-Type": "application/x-amz-json-1.0",
            "x-amz-crc32": "1",
        },
        "body": body,
        "context": {},
    }


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=_answers())
def test_an_answer_is_parsed_value_for_value_as_botocore_does(answer: tuple[str, dict[str, Any]]) -> None:
    name, body = answer
    shape = _botocore_client().meta.service_model.operation_model(name).output_shape
    raw = json.dumps(body).encode()
    fast = aws_json.FastJSONParserFactory(_StandardFactory()).create_parser("json")

    assert fast.parse(_response(raw), shape) == create_parser("json").parse(_response(raw), shape)


class _StandardFactory:
    def create_parser(self, protocol_name: str) -> Any:
        return create_parser(protocol_name)


def test_an_answer_with_a_binary_value_is_decoded_by_botocore() -> None:
    shape = _botocore_client().meta.service_model.operation_model("GetItem").output_shape
    raw = json.dumps({"Item": {"pk": {"S": "a"}, "blob": {"B": base64.b64encode(b"\x01").decode()}}}).encode()
    fast = aws_json.FastJSONParser(create_parser("json"))

    assert fast.parse(_response(raw), shape)["Item"]["blob"] == {"B": b"\x01"}


def test_a_cancelled_transaction_is_parsed_by_botocore_with_its_reasons() -> None:
    client = _botocore_client()
    shape = client.meta.service_model.operation_model("TransactWriteItems").output_shape
    raw = json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": (
                "Transaction cancelled, please refer cancellation reasons for specific reasons"
                " [None, ConditionalCheckFailed]"
            ),
            "CancellationReasons": [
                {"Code": "None"},
                {"Code": "ConditionalCheckFailed", "Message": "failed"},
            ],
        }
    ).encode()
    fast = aws_json.FastJSONParser(create_parser("json"))

    parsed = fast.parse(_response(raw, 400), shape)

    assert parsed == create_parser("json").parse(_response(raw, 400), shape)
    assert parsed["Error"]["Code"] == "TransactionCanceledException"


def test_other_operations_are_parsed_by_botocore() -> None:
    shape = _botocore_client().meta.service_model.operation_model("DescribeTable").output_shape
    raw = json.dumps({"Table": {"TableName": TABLE, "CreationDateTime": 1700000000.5}}).encode()
    fast = aws_json.FastJSONParser(create_parser("json"))

    parsed = fast.parse(_response(raw), shape)

    assert parsed["Table"]["CreationDateTime"].year == 2023  # a datetime, as botocore makes it


# --- SQS sends -----------------------------------------------------------------------------------


@functools.cache
def _botocore_sqs() -> Any:
    session = botocore.session.get_session()
    return session.create_client(
        "sqs", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


_attribute = st.one_of(
    st.builds(lambda v: {"DataType": "String", "StringValue": v}, _text),
    st.builds(lambda v: {"DataType": "Number", "StringValue": v}, _number),
)
_entry_fields = {"MessageBody": _text}
_entry_optional = {
    "DelaySeconds": st.integers(min_value=0, max_value=900),
    "MessageAttributes": st.dictionaries(st.sampled_from(["kind", "a.b", "é"]), _attribute, max_size=2),
    "MessageGroupId": _text,
    "MessageDeduplicationId": _text,
}
_QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/mallcrm-test"


def _sqs_requests() -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    entry = st.fixed_dictionaries(_entry_fields, optional=_entry_optional)
    return st.one_of(
        st.tuples(st.just("SendMessage"), entry.map(lambda e: {"QueueUrl": _QUEUE, **e})),
        st.tuples(
            st.just("SendMessageBatch"),
            st.lists(entry, min_size=1, max_size=10).map(
                lambda es: {"QueueUrl": _QUEUE, "Entries": [{"Id": str(n), **e} for n, e in enumerate(es)]}
            ),
        ),
    )


def _sqs_answers() -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    ok = st.fixed_dictionaries(
        {"Id": _text, "MessageId": _text, "MD5OfMessageBody": _text},
        optional={"MD5OfMessageAttributes": _text, "SequenceNumber": _number},
    )
    failed = st.fixed_dictionaries(
        {"Id": _text, "SenderFault": st.booleans(), "Code": _text}, optional={"Message": _text}
    )
    return st.one_of(
        st.tuples(st.just("SendMessage"), ok.map(lambda e: {k: v for k, v in e.items() if k != "Id"})),
        st.tuples(
            st.just("SendMessageBatch"),
            st.builds(
                lambda s, f: {"Successful": s, "Failed": f},
                st.lists(ok, max_size=3),
                st.lists(failed, max_size=2),
            ),
        ),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=_sqs_requests())
def test_an_sqs_send_is_serialised_as_botocore_does(request: tuple[str, dict[str, Any]]) -> None:
    headers = _assert_serialised_as_botocore(_botocore_sqs(), *request, aws_json.FAST_SQS_OPERATIONS)
    assert headers["x-amzn-query-mode"] == "true"  # SQS's query-compatible header, ours too


def test_a_binary_message_attribute_goes_through_botocore() -> None:
    client = _botocore_sqs()
    operation = client.meta.service_model.operation_model("SendMessage")
    attribute = {"DataType": "Binary", "BinaryValue": b"\x00\xff"}
    params = {"QueueUrl": _QUEUE, "MessageBody": "b", "MessageAttributes": {"raw": attribute}}
    standard = client._serializer
    fast = aws_json.FastJSONSerializer(standard, standard, None, aws_json.FAST_SQS_OPERATIONS)

    body = json.loads(fast.serialize_to_request(params, operation)["body"])

    assert body["MessageAttributes"]["raw"]["BinaryValue"] == base64.b64encode(b"\x00\xff").decode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=_sqs_answers())
def test_an_sqs_send_answer_is_parsed_as_botocore_does(answer: tuple[str, dict[str, Any]]) -> None:
    name, body = answer
    model = _botocore_sqs().meta.service_model
    shape = model.operation_model(name).output_shape
    raw = json.dumps(body).encode()
    fast = aws_json.FastJSONParserFactory(_StandardFactory(), aws_json._output_shapes(model))

    assert fast.create_parser("json").parse(_response(raw), shape) == create_parser("json").parse(
        _response(raw), shape
    )


def test_other_sqs_answers_are_parsed_by_botocore() -> None:
    model = _botocore_sqs().meta.service_model
    shape = model.operation_model("ReceiveMessage").output_shape
    parser = aws_json.FastJSONParser(create_parser("json"), aws_json._output_shapes(model))
    raw = json.dumps({"Messages": [{"MessageId": "m", "Body": "b", "ReceiptHandle": "r"}]}).encode()
    parser._loads = None  # would fail if used: botocore's parser answers
    assert parser.parse(_response(raw), shape)["Messages"][0]["Body"] == "b"


def test_sqs_sends_round_trip_through_the_local_cloud() -> None:
    from moto import mock_aws

    with mock_aws():
        sqs = aws.client("sqs")
        url = sqs.create_queue(QueueName="mallcrm-test")["QueueUrl"]
        answer = sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": "a", "MessageBody": '{"é": "\\"}'}, {"Id": "b", "MessageBody": "x"}]
        )
        assert sorted(e["Id"] for e in answer["Successful"]) == ["a", "b"]
        sqs.send_message(QueueUrl=url, MessageBody="y", DelaySeconds=0)
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        bodies = sorted(m["Body"] for m in received)
        assert bodies == sorted(['{"é": "\\"}', "x", "y"])


# --- installing ---------------------------------------------------------------------------------


def test_dynamodb_and_sqs_clients_get_the_wrappers_and_other_clients_do_not() -> None:
    for service in ("dynamodb", "sqs"):
        created = aws.client(service)
        assert isinstance(created._serializer, aws_json.FastJSONSerializer), service
        assert isinstance(created._endpoint._response_parser_factory, aws_json.FastJSONParserFactory)
    assert not isinstance(aws.client("events")._serializer, aws_json.FastJSONSerializer)  # JSON 1.1 too
    sqs = aws.client("sqs")
    assert sqs.meta.service_model.operation_model("SendMessageBatch").name in sqs._serializer._operations
    assert "ReceiveMessage" not in sqs._serializer._operations


def test_the_wrappers_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    on = aws.client("dynamodb")
    monkeypatch.setenv("MALLCRM_SDK_FAST_JSON", "off")
    off = aws.client("dynamodb")
    assert off is not on
    assert not isinstance(off._serializer, aws_json.FastJSONSerializer)
    assert off.meta.service_model.operation_model("TransactWriteItems").operation_context_parameters


def test_an_unknown_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLCRM_SDK_FAST_JSON", "sometimes")
    with pytest.raises(ValueError, match="MALLCRM_SDK_FAST_JSON"):
        aws_json.enabled()


def test_a_client_without_the_expected_hooks_is_left_as_botocore_made_it() -> None:
    class Meta:
        class service_model:
            resolved_protocol = "json"

    class Renamed:
        meta = Meta()

    client = Renamed()
    assert aws_json.install(client) is False
    assert not hasattr(client, "_serializer")


def test_the_transactions_resolve_the_same_endpoint_without_the_arn_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MALLCRM_AWS_TARGET", "aws")
    ours = aws.client("dynamodb")
    stock = _botocore_client()
    operation_name = "TransactWriteItems"
    params = {"TransactItems": [{"Put": {"TableName": TABLE, "Item": {"pk": {"S": "a"}}}}]}
    context = {"client_region": "us-east-1", "client_config": stock.meta.config}

    ours_operation = ours.meta.service_model.operation_model(operation_name)
    stock_operation = stock.meta.service_model.operation_model(operation_name)
    assert "ResourceArnList" not in ours_operation.operation_context_parameters
    assert "ResourceArnList" in stock_operation.operation_context_parameters  # only ours changed
    ours_url = ours._resolve_endpoint_ruleset(ours_operation, params, dict(context))[0]
    stock_url = stock._resolve_endpoint_ruleset(stock_operation, params, dict(context))[0]
    assert ours_url == stock_url == "https://dynamodb.us-east-1.amazonaws.com"


def test_reads_and_writes_round_trip_through_the_local_cloud() -> None:
    from moto import mock_aws

    with mock_aws():
        client = aws.client("dynamodb")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {"pk": {"S": "a"}, "n": {"N": "1"}, "l": {"L": [{"S": 'é"\\'}]}},
                    }
                },
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "b"}, "blob": {"B": b"\x00"}}}},
            ]
        )
        answer = client.batch_get_item(
            RequestItems={TABLE: {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}]}}
        )
        found = {item["pk"]["S"]: item for item in answer["Responses"][TABLE]}
        assert found["a"]["l"] == {"L": [{"S": 'é"\\'}]}
        assert found["b"]["blob"] == {"B": b"\x00"}  # botocore's parser: bytes, as before
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
        with pytest.raises(client.exceptions.TransactionCanceledException) as cancelled:
            client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": TABLE,
                            "Key": {"pk": {"S": "zz"}},
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    }
                ]
            )
        assert cancelled.value.response["CancellationReasons"][0]["Code"] == "ConditionalCheckFailed"
