"""The ``transact-rollback`` moto patch: a cancelled TransactWriteItems leaves no trace, and the
patched backend behaves as moto's own one (which deep-copies every touched table).

Most tests drive two moto backends side by side, moto's method on one and the patch on the other,
or the patch inside ``mock_aws`` through boto3; the last one checks the stream trim on a running
local cloud.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import StreamShard, Table

from infra.localcloud import moto_patches
from infra.localcloud.cloud import LocalCloud

ACCOUNT = "123456789012"
REGION = "us-east-1"
PATCH = next(p for p in moto_patches.PATCHES if p.name == "transact-rollback")
MOTO_TRANSACT: Callable[[Any, list[dict[str, Any]]], None] = moto_patches.original(PATCH)
PATCHED_TRANSACT = moto_patches._transact_write_items

# The moto 5.2.5 code the patch copies (transact_write_items) or relies on to touch nothing but the
# item it is given (the writes, the lookups, the stream). A change to any of them fails here first:
# re-read the new source against _transact_write_items and _Rollback, then update the digest.
PINNED_SOURCES: dict[str, tuple[Any, str]] = {
    "DynamoDBBackend.transact_write_items": (MOTO_TRANSACT, "81db2cb7d94e39c9"),
    "DynamoDBBackend.get_item": (DynamoDBBackend.get_item, "290b95c46b38bc5a"),
    "DynamoDBBackend.get_keys_value": (DynamoDBBackend.get_keys_value, "1f948797496ddc2c"),
    "DynamoDBBackend.get_table": (DynamoDBBackend.get_table, "a738146035fc206b"),
    "DynamoDBBackend.put_item": (DynamoDBBackend.put_item, "f5d9a5042c77b89e"),
    "DynamoDBBackend.update_item": (DynamoDBBackend.update_item, "218984588dd689a5"),
    "DynamoDBBackend.delete_item": (DynamoDBBackend.delete_item, "083a4bb1af18f6fd"),
    "Table.put_item": (Table.put_item, "de23933013ef8426"),
    "Table.get_item": (Table.get_item, "b08e98fe37b7e583"),
    "Table.delete_item": (Table.delete_item, "1594f7b07616c8cb"),
    "StreamShard.add": (moto_patches.original(moto_patches._BY_NAME["stream-trim"]), "357dc6da267e5dd7"),
}


@pytest.mark.parametrize("name", sorted(PINNED_SOURCES))
def test_moto_source_the_patch_was_written_against(name: str) -> None:
    function, digest = PINNED_SOURCES[name]
    source = inspect.getsource(function)
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == digest, (
        f"moto's {name} changed: re-check moto_patches' transact-rollback against it"
    )


def test_table_storage_the_rollback_restores() -> None:
    """Items live only in ``Table.items`` (indexes are computed from it at query time) and a
    stream's records in ``StreamShard.items``, numbered from ``starting_sequence_number``."""
    table_init = inspect.getsource(Table.__init__)
    assert "self.items = defaultdict(dict)" in table_init
    assert "index" not in inspect.getsource(Table.put_item).lower().replace("index_", "")
    assert "for item in self.all_items()" in inspect.getsource(Table.query)
    assert "self.has_idx_items(index_name)" in inspect.getsource(Table.scan)
    assert "seq = len(self.items) + self.starting_sequence_number" in inspect.getsource(StreamShard.add)


# -- two backends side by side -------------------------------------------------------------------------

ITEMS = "things"  # hash key only, stream NEW_AND_OLD_IMAGES
PAIRS = "pairs"  # hash and range key, a GSI and an LSI, stream NEW_AND_OLD_IMAGES


def _backend() -> Any:
    backend = DynamoDBBackend(REGION, ACCOUNT)
    stream = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    backend.create_table(
        ITEMS,
        schema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        throughput=None,
        attr=[{"AttributeName": "pk", "AttributeType": "S"}],
        global_indexes=None,
        indexes=None,
        streams=stream,
        billing_mode="PAY_PER_REQUEST",
        sse_specification=None,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    backend.create_table(
        PAIRS,
        schema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        throughput=None,
        attr=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
            {"AttributeName": "n", "AttributeType": "N"},
        ],
        global_indexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        indexes=[
            {
                "IndexName": "by-n",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "n", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        streams=stream,
        billing_mode="PAY_PER_REQUEST",
        sse_specification=None,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    return backend


_WALL_CLOCK = {"ApproximateCreationDateTime", "SizeBytes"}


def _key_text(value: Any) -> str:
    return json.dumps(value.to_json(), sort_keys=True)


def _state(backend: Any) -> dict[str, Any]:
    """Everything a transaction can change: each table's stored items (empty partitions included)
    and its stream (records without their random id, their wall-clock time and the size moto
    derives from that time's text, and where it starts)."""
    state: dict[str, Any] = {}
    for name, table in backend.tables.items():
        if table.range_key_attr is None:
            items: Any = {_key_text(h): item.to_json() for h, item in table.items.items()}
        else:
            items = {
                _key_text(h): {_key_text(r): item.to_json() for r, item in part.items()}
                for h, part in table.items.items()
            }
        shard = table.stream_shard
        records = []
        for record in shard.items:
            body = {k: v for k, v in record.record.items() if k != "eventID"}
            body["dynamodb"] = {k: v for k, v in body["dynamodb"].items() if k not in _WALL_CLOCK}
            records.append(body)
        state[name] = {"items": items, "stream": records, "start": shard.starting_sequence_number}
    return state


def _outcome(
    transact: Callable[[Any, list[dict[str, Any]]], None], backend: Any, ops: list[dict[str, Any]]
) -> Any:
    try:
        transact(backend, json.loads(json.dumps(ops)))  # each backend gets its own request
    except Exception as exc:  # what moto raises is the outcome under comparison
        return (type(exc).__name__, str(exc), getattr(exc, "description", None))
    return "committed"


def _query_g(backend: Any, g: str) -> list[Any]:
    table = backend.tables[PAIRS]
    return [item.to_json() for item in table.has_idx_items("by-g") if item.attrs["g"].value == g]


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _seed(backend: Any) -> None:
    for pk in ("a", "b"):
        backend.put_item(ITEMS, {"pk": _s(pk), "n": _n(1)})
    for pk, sk, g in (("a", "1", "red"), ("a", "2", "blue"), ("b", "1", "red")):
        backend.put_item(PAIRS, {"pk": _s(pk), "sk": _s(sk), "g": _s(g), "n": _n(int(sk))})


def _cancelled_transaction() -> list[dict[str, Any]]:
    """Put over an existing item, a new item, an update that creates a second item next to it (a
    partition that did not exist), an update, an update that creates, a delete, a check that
    passes, then a check that fails (with ALL_OLD)."""
    return [
        {"Put": {"TableName": PAIRS, "Item": {"pk": _s("a"), "sk": _s("1"), "g": _s("green"), "n": _n(9)}}},
        {"Put": {"TableName": PAIRS, "Item": {"pk": _s("c"), "sk": _s("1"), "g": _s("red"), "n": _n(3)}}},
        {
            "Update": {
                "TableName": PAIRS,
                "Key": {"pk": _s("c"), "sk": _s("2")},
                "UpdateExpression": "SET g = :g",
                "ExpressionAttributeValues": {":g": _s("green")},
            }
        },
        {
            "Update": {
                "TableName": PAIRS,
                "Key": {"pk": _s("a"), "sk": _s("2")},
                "UpdateExpression": "SET g = :g ADD n :one",
                "ExpressionAttributeValues": {":g": _s("red"), ":one": _n(1)},
            }
        },
        {
            "Update": {
                "TableName": ITEMS,
                "Key": {"pk": _s("new")},
                "UpdateExpression": "SET n = :one",
                "ExpressionAttributeValues": {":one": _n(1)},
            }
        },
        {"Delete": {"TableName": ITEMS, "Key": {"pk": _s("a")}}},
        {
            "ConditionCheck": {
                "TableName": PAIRS,
                "Key": {"pk": _s("b"), "sk": _s("1")},
                "ConditionExpression": "attribute_exists(pk)",
            }
        },
        {
            "ConditionCheck": {
                "TableName": ITEMS,
                "Key": {"pk": _s("b")},
                "ConditionExpression": "n > :n",
                "ExpressionAttributeValues": {":n": _n(5)},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
    ]


def test_a_cancelled_transaction_leaves_every_touched_item_as_it_was() -> None:
    backend = _backend()
    _seed(backend)
    before = _state(backend)
    red_before = _query_g(backend, "red")
    with pytest.raises(Exception, match="Transaction cancelled") as raised:
        PATCHED_TRANSACT(backend, _cancelled_transaction())
    reasons = json.loads(raised.value.description)["CancellationReasons"]  # type: ignore[attr-defined]
    assert reasons == [{"Code": "None"}] * 7 + [
        {
            "Code": "ConditionalCheckFailed",
            "Message": "The conditional request failed",
            "Item": {"pk": {"S": "b"}, "n": {"N": "1"}},
        }
    ]
    assert _state(backend) == before  # no record in either stream, no new partition "c"
    assert "c" not in {h.value for h in backend.tables[PAIRS].items}
    assert _query_g(backend, "red") == red_before
    assert _query_g(backend, "green") == []


def test_a_cancelled_transaction_matches_moto_and_a_committed_one_emits_the_same_records() -> None:
    ours, theirs = _backend(), _backend()
    _seed(ours)
    _seed(theirs)
    cancelled = _cancelled_transaction()
    assert _outcome(PATCHED_TRANSACT, ours, cancelled) == _outcome(MOTO_TRANSACT, theirs, cancelled)
    assert _state(ours) == _state(theirs)
    committed = cancelled[:-1]
    assert (
        _outcome(PATCHED_TRANSACT, ours, committed)
        == _outcome(MOTO_TRANSACT, theirs, committed)
        == "committed"
    )
    assert _state(ours) == _state(theirs)
    # The seed's 3, then MODIFY, INSERT, INSERT twice (moto's UpdateItem creating an item), MODIFY.
    assert len(ours.tables[PAIRS].stream_shard.items) == 3 + 5
    assert _query_g(ours, "red") == _query_g(theirs, "red")


def test_a_validation_error_after_writes_restores_them_and_is_raised() -> None:
    """A duplicate key, or an update moto rejects as invalid midway, raises ValidationException
    (not a cancellation), after putting back what the items before it wrote."""
    for expected, failing in (
        ("MultipleTransactionsException", {"Delete": {"TableName": ITEMS, "Key": {"pk": _s("a")}}}),
        (
            "AttributeDoesNotExist",
            {
                "Update": {
                    "TableName": ITEMS,
                    "Key": {"pk": _s("zz")},
                    "UpdateExpression": "SET n = m + :one",  # m: an attribute "zz" lacks
                    "ExpressionAttributeValues": {":one": _n(1)},
                }
            },
        ),
    ):
        ours, theirs = _backend(), _backend()
        _seed(ours)
        _seed(theirs)
        before = _state(ours)
        ops = [
            {"Put": {"TableName": ITEMS, "Item": {"pk": _s("a"), "n": _n(7)}}},
            {"Put": {"TableName": PAIRS, "Item": {"pk": _s("d"), "sk": _s("1"), "n": _n(1)}}},
            failing,
        ]
        outcome = _outcome(PATCHED_TRANSACT, ours, ops)
        assert outcome[0] == expected  # both are moto's ValidationException
        assert outcome == _outcome(MOTO_TRANSACT, theirs, ops)
        assert _state(ours) == _state(theirs) == before


def test_more_than_a_hundred_items_are_refused_before_anything_is_written() -> None:
    backend = _backend()
    ops = [{"Put": {"TableName": ITEMS, "Item": {"pk": _s(f"k{n}")}}} for n in range(101)]
    assert _outcome(PATCHED_TRANSACT, backend, ops)[0] == "TooManyTransactionsException"
    assert backend.tables[ITEMS].items == {}


def test_cases_moto_left_half_written_are_rolled_back() -> None:
    """Deliberately unlike moto 5.2.5, as DynamoDB: a table named by its ARN is rolled back too,
    and so are the items before one that has two operations."""
    backend = _backend()
    _seed(backend)
    before = _state(backend)
    arn = backend.tables[ITEMS].table_arn
    by_arn = [
        {"Put": {"TableName": arn, "Item": {"pk": _s("a"), "n": _n(5)}}},
        {
            "ConditionCheck": {
                "TableName": arn,
                "Key": {"pk": _s("b")},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ]
    assert _outcome(PATCHED_TRANSACT, backend, by_arn)[0] == "TransactionCanceledException"
    assert _state(backend) == before
    two_ops = [
        {"Put": {"TableName": ITEMS, "Item": {"pk": _s("a"), "n": _n(5)}}},
        {
            "Put": {"TableName": ITEMS, "Item": {"pk": _s("x")}},
            "Delete": {"TableName": ITEMS, "Key": {"pk": _s("b")}},
        },
    ]
    assert _outcome(PATCHED_TRANSACT, backend, two_ops)[0] == "TransactWriteSingleOpException"
    assert _state(backend) == before


# -- random transactions, with and without the patch ----------------------------------------------------

_PKS = st.sampled_from(["a", "b", "c", "d"])  # the seed has "a" and "b"
_SKS = st.sampled_from(["1", "2"])
_CONDITIONS = st.sampled_from(
    [
        None,
        ("attribute_not_exists(pk)", {}),
        ("attribute_exists(pk)", {}),
        ("n < :lim", {":lim": _n(3)}),
        ("attribute_not_exists(n) OR n < :lim", {":lim": _n(2)}),
    ]
)
_UPDATES = st.sampled_from(
    [
        ("SET n = if_not_exists(n, :one) + :one", {":one": _n(1)}),
        ("ADD n :one", {":one": _n(1)}),
        ("SET g = :g", {":g": _s("red")}),
        ("REMOVE g", {}),
        ("SET n = n + :one", {":one": _n(1)}),  # invalid where n is missing: a ValidationException
    ]
)


@st.composite
def _operation(draw: st.DrawFn) -> dict[str, Any]:
    table = draw(st.sampled_from([ITEMS, PAIRS, ITEMS, PAIRS, "missing-table"]))
    key = {"pk": _s(draw(_PKS))}
    if table == PAIRS:
        key["sk"] = _s(draw(_SKS))
    kind = draw(st.sampled_from(["Put", "Update", "Delete", "ConditionCheck"]))
    op: dict[str, Any] = {"TableName": table}
    condition = draw(_CONDITIONS)
    values: dict[str, Any] = {}
    if kind == "Put":
        item = dict(key, n=_n(draw(st.integers(0, 4))))
        if draw(st.booleans()):
            item["g"] = _s(draw(st.sampled_from(["red", "blue"])))
        op["Item"] = item
    else:
        op["Key"] = key
    if kind == "Update":
        expression, update_values = draw(_UPDATES)
        op["UpdateExpression"] = expression
        values.update(update_values)
    if kind == "ConditionCheck" and condition is None:
        condition = ("attribute_exists(pk)", {})
    if condition is not None:
        op["ConditionExpression"] = condition[0]
        values.update(condition[1])
        if draw(st.booleans()):
            op["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    if values:
        op["ExpressionAttributeValues"] = values
    return {kind: op}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_operation(), min_size=1, max_size=6), min_size=1, max_size=8))
def test_random_transactions_leave_the_same_tables_and_streams_as_moto(
    transactions: list[list[dict[str, Any]]],
) -> None:
    ours, theirs = _backend(), _backend()
    _seed(ours)
    _seed(theirs)
    for ops in transactions:
        assert _outcome(PATCHED_TRANSACT, ours, ops) == _outcome(MOTO_TRANSACT, theirs, ops), ops
        assert _state(ours) == _state(theirs), ops


# -- through the API, inside mock_aws --------------------------------------------------------------------


@pytest.fixture
def patched_dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mock_aws():
        monkeypatch.setattr(DynamoDBBackend, "transact_write_items", PATCHED_TRANSACT)
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName=PAIRS,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "g", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-g",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        yield client


def _records(client: Any) -> list[dict[str, Any]]:
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    arn = client.describe_table(TableName=PAIRS)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return list(streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"])


def test_through_the_api_a_cancelled_transaction_changes_nothing_and_emits_no_record(
    patched_dynamodb: Any,
) -> None:
    client = patched_dynamodb
    client.put_item(TableName=PAIRS, Item={"pk": _s("m1"), "sk": _s("profile"), "g": _s("gold"), "v": _n(1)})
    client.put_item(TableName=PAIRS, Item={"pk": _s("m1"), "sk": _s("lot#1"), "v": _n(10)})
    records_before = _records(client)
    gold_before = client.query(
        TableName=PAIRS,
        IndexName="by-g",
        KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": _s("gold")},
    )["Items"]
    with pytest.raises(ClientError) as raised:
        client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": PAIRS,
                        "Item": {"pk": _s("m1"), "sk": _s("profile"), "g": _s("silver")},
                    }
                },
                {"Delete": {"TableName": PAIRS, "Key": {"pk": _s("m1"), "sk": _s("lot#1")}}},
                {"Put": {"TableName": PAIRS, "Item": {"pk": _s("m2"), "sk": _s("profile"), "g": _s("gold")}}},
                {
                    "Update": {
                        "TableName": PAIRS,
                        "Key": {"pk": _s("m1"), "sk": _s("balance")},
                        "UpdateExpression": "SET v = :v",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeValues": {":v": _n(5)},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ]
        )
    error = raised.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in error["CancellationReasons"]] == [
        "None",
        "None",
        "None",
        "ConditionalCheckFailed",
    ]
    assert "Item" not in error["CancellationReasons"][3]  # ALL_OLD of an absent item: nothing
    assert client.get_item(TableName=PAIRS, Key={"pk": _s("m1"), "sk": _s("profile")})["Item"]["g"] == _s(
        "gold"
    )
    assert "Item" in client.get_item(TableName=PAIRS, Key={"pk": _s("m1"), "sk": _s("lot#1")})
    assert "Item" not in client.get_item(TableName=PAIRS, Key={"pk": _s("m2"), "sk": _s("profile")})
    assert "Item" not in client.get_item(TableName=PAIRS, Key={"pk": _s("m1"), "sk": _s("balance")})
    gold_after = client.query(
        TableName=PAIRS,
        IndexName="by-g",
        KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": _s("gold")},
    )["Items"]
    assert gold_after == gold_before
    assert _records(client) == records_before

    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": PAIRS, "Item": {"pk": _s("m1"), "sk": _s("profile"), "g": _s("silver")}}},
            {"Delete": {"TableName": PAIRS, "Key": {"pk": _s("m1"), "sk": _s("lot#1")}}},
        ]
    )
    added = _records(client)[len(records_before) :]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["sk"]["S"]) for r in added] == [
        ("MODIFY", "profile"),
        ("REMOVE", "lot#1"),
    ]
    assert added[0]["dynamodb"]["OldImage"]["g"] == _s("gold")


# -- on the local cloud: installed, and the stream's 24 h trim ---------------------------------------------


def test_installed_with_the_cloud_and_trims_the_stream_only_once_committed(basic_cloud: LocalCloud) -> None:
    assert DynamoDBBackend.transact_write_items is PATCHED_TRANSACT
    ddb = basic_cloud.client("dynamodb")
    ddb.create_table(
        TableName="txn-trim",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )

    def stream() -> tuple[int, int]:
        return (
            moto_patches.dynamodb_stream_start(ACCOUNT, REGION, "txn-trim"),
            moto_patches.dynamodb_stream_length(ACCOUNT, REGION, "txn-trim"),
        )

    def keys() -> list[str]:
        from moto.dynamodb.models import dynamodb_backends

        shard = dynamodb_backends[ACCOUNT][REGION].get_table("txn-trim").stream_shard
        assert shard is not None
        return [record.record["dynamodb"]["Keys"]["pk"]["S"] for record in shard.items]

    ddb.put_item(TableName="txn-trim", Item={"pk": _s("old")})
    start, _ = stream()
    basic_cloud.clock.advance(moto_patches.STREAM_RETENTION_SECONDS + 60)
    with pytest.raises(ClientError, match="TransactionCanceledException"):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "txn-trim", "Item": {"pk": _s("new")}}},
                {
                    "ConditionCheck": {
                        "TableName": "txn-trim",
                        "Key": {"pk": _s("old")},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert (stream(), keys()) == ((start, 1), ["old"])  # as before: the old record still there
    # A transaction applied inside another one on the same thread (a stream handed on to a
    # function synchronously) leaves the trim to the outer one.
    outer: dict[int, Any] = {}
    moto_patches._applying.deferred_trims = outer
    try:
        ddb.transact_write_items(
            TransactItems=[{"Put": {"TableName": "txn-trim", "Item": {"pk": _s("inner")}}}]
        )
    finally:
        moto_patches._applying.deferred_trims = None
    assert (stream(), keys()) == ((start, 2), ["old", "inner"])
    assert [shard.table.name for shard in outer.values()] == ["txn-trim"]
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "txn-trim", "Item": {"pk": _s("new")}}},
            {"Put": {"TableName": "txn-trim", "Item": {"pk": _s("newer")}}},
        ]
    )
    # Committed: the day-old record trimmed, sequence numbers unchanged.
    assert (stream(), keys()) == ((start + 1, 3), ["inner", "new", "newer"])
