"""Self-test of infra/localcloud/moto_patches.py against the installed moto.

If moto is upgraded, this module says which patch no longer fits: an attribute that moved, a
signature that changed, or a workaround that stopped working.
"""

from __future__ import annotations

import inspect
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import moto
import pytest

from infra.localcloud import moto_patches
from infra.localcloud.cloud import LocalCloud
from tests.fixtures.handlers import echo, flaky
from tests.unit.localcloud.conftest import EPOCH, start_cloud

# -- the pinned surface --------------------------------------------------------------------------------


def test_moto_version_is_the_pinned_one() -> None:
    assert moto.__version__ == moto_patches.MOTO_VERSION


def test_version_guard_refuses_another_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto, "__version__", "9.9.9")
    with pytest.raises(RuntimeError, match=r"written for moto 5\.2\.5, but moto 9\.9\.9"):
        moto_patches.check_version()


@pytest.mark.parametrize("patch", moto_patches.PATCHES, ids=lambda p: p.name)
def test_patched_attribute_exists_with_the_expected_signature(patch: moto_patches.Patch) -> None:
    target = moto_patches.original(patch)
    assert target is not None
    if patch.signature is not None:
        assert moto_patches.parameters_of(target) == patch.signature


def test_sources_the_replacements_were_written_against() -> None:
    """The replacements copy a few lines of moto's logic; check those lines are still moto's."""
    by_name = {p.name: p for p in moto_patches.PATCHES}
    retrier = inspect.getsource(moto_patches._owner(by_name["sfn-retry-sleep"]).RetrierDecl._eval_body)
    assert "time.sleep(interval_seconds)" in retrier
    timestamp = inspect.getsource(moto_patches.original(by_name["sfn-wait-timestamp"]))
    assert "self.string.eval(env=env)" in timestamp and "datetime.datetime.now()" in timestamp
    wait = inspect.getsource(moto_patches.original(by_name["sfn-wait"]))
    assert "env.program_state_event.wait(wait_seconds)" in wait
    invoke = inspect.getsource(moto_patches.original(by_name["lambda-invoke-async"]))
    assert "self._invoke_lambda(event=body)" in invoke
    put_events = inspect.getsource(moto_patches.original(by_name["put-events"]))
    assert 'event.get("Time", unix_time())' in put_events and "rule.send_to_targets(event_msg)" in put_events
    send = inspect.getsource(moto_patches.original(by_name["rule-targets"]))
    assert "self.event_pattern.matches_event(original_event)" in send


def test_internals_the_engine_reads_are_still_there() -> None:
    from moto.core.base_backend import AccountSpecificBackend
    from moto.dynamodb.models.table import StreamShard
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend
    from moto.events.models import EventPattern, Rule
    from moto.scheduler.models import Schedule, ScheduleGroup
    from moto.sqs.models import Message, Queue
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.utils import TMP_THREADS

    assert isinstance(TMP_THREADS, list)
    assert callable(AccountSpecificBackend.get_session)
    assert isinstance(Message.visible, property) and "_messages" in inspect.getsource(Queue.__init__)
    shard_init = inspect.getsource(StreamShard.__init__)
    assert "self.items" in shard_init and "self.starting_sequence_number" in shard_init
    # stream-trim relies on records being numbered and read by offset from starting_sequence_number.
    assert "seq = len(self.items) + self.starting_sequence_number" in inspect.getsource(StreamShard.add)
    assert "start -= self.starting_sequence_number" in inspect.getsource(StreamShard.get)
    assert "self.deleted_messages" in inspect.getsource(Queue.__init__)
    assert "self.stop_date" in inspect.getsource(Execution.__init__)
    assert "shard_iterators" in inspect.getsource(DynamoDBStreamsBackend.__init__)
    assert "self.schedules" in inspect.getsource(ScheduleGroup.__init__)
    assert "self.schedule_expression_timezone" in inspect.getsource(Schedule.__init__)
    rule_init = inspect.getsource(Rule.__init__)
    for attribute in ("self.state", "self.scheduled_expression", "self.event_pattern", "self.targets"):
        assert attribute in rule_init
    assert callable(EventPattern.load) and callable(EventPattern.get_pattern)
    assert moto_patches.parameters_of(Execution.stop) == "self, stop_date, error, cause"
    assert hasattr(threading.Thread(), "_started")
    for name in moto_patches._SFN_DATE_MODULES:
        module = __import__(name, fromlist=["datetime"])
        assert module.datetime.__name__ == "datetime"


# -- the workarounds at work ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    cloud = start_cloud("machines.yaml", start=EPOCH)
    try:
        yield cloud
    finally:
        cloud.stop()


def test_installed_while_a_cloud_runs(cloud: LocalCloud) -> None:
    assert moto_patches.installed()
    from moto.awslambda.models import LambdaFunction

    assert LambdaFunction._invoke_lambda is moto_patches._invoke_lambda
    with pytest.raises(RuntimeError, match="another LocalCloud"):
        LocalCloud.start(".", template="tests/fixtures/templates/machines.yaml")


def test_lambda_invoke_runs_in_process(cloud: LocalCloud) -> None:
    echo.CALLS.clear()
    client = cloud.client("lambda")
    response = client.invoke(FunctionName=cloud.physical_id("EchoFunction"), Payload=b'{"ping": 1}')
    assert json.loads(response["Payload"].read())["event"] == {"ping": 1}
    failed = client.invoke(FunctionName=cloud.physical_id("EchoFunction"), Payload=b'{"fail": "x"}')
    assert failed["FunctionError"]
    assert json.loads(failed["Payload"].read())["errorType"] == "EchoError"


def test_async_invoke_is_queued_until_the_cloud_settles(cloud: LocalCloud) -> None:
    echo.CALLS.clear()
    response = cloud.client("lambda").invoke(
        FunctionName=cloud.physical_id("EchoFunction"), InvocationType="Event", Payload=b'{"later": true}'
    )
    assert response["StatusCode"] == 202
    assert echo.CALLS == []
    cloud.settle()
    assert [c["event"] for c in echo.CALLS] == [{"later": True}]
    assert cloud.invocations[-1].trigger == "async"


def test_rule_targets_and_put_events(cloud: LocalCloud) -> None:
    sqs, events = cloud.client("sqs"), cloud.client("events")
    url = sqs.create_queue(QueueName=f"patch-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="patch-rule", EventPattern=json.dumps({"source": ["patch.test"]}))
    transformer = {"InputPathsMap": {"v": "$.detail.v"}, "InputTemplate": '{"value": <v>, "text": "v=<v>"}'}
    events.put_targets(
        Rule="patch-rule",
        Targets=[
            {"Id": "q", "Arn": queue_arn, "InputTransformer": transformer},
            {"Id": "fn", "Arn": cloud.attribute("EchoFunction", "Arn"), "InputPath": "$.detail"},
            {"Id": "sm", "Arn": cloud.physical_id("WeekMachine"), "Input": '{"from": "rule"}'},
        ],
    )
    events.put_rule(
        Name="patch-disabled", EventPattern=json.dumps({"source": ["patch.test"]}), State="DISABLED"
    )
    events.put_targets(Rule="patch-disabled", Targets=[{"Id": "q", "Arn": queue_arn, "Input": '"disabled"'}])
    events.put_rule(Name="patch-scheduled", ScheduleExpression="rate(1 day)")
    events.put_targets(
        Rule="patch-scheduled", Targets=[{"Id": "q", "Arn": queue_arn, "Input": '"scheduled"'}]
    )
    echo.CALLS.clear()
    executions_before = len(cloud.executions("WeekMachine"))
    events.put_events(
        Entries=[{"Source": "patch.test", "DetailType": "T", "Detail": json.dumps({"v": 'a"b'})}]
    )
    bodies = [
        json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    ]
    assert bodies == [{"value": 'a"b', "text": 'v=a"b'}]
    cloud.settle()
    assert [c["event"] for c in echo.CALLS] == [{"v": 'a"b'}]
    assert len(cloud.executions("WeekMachine")) == executions_before + 1
    [recorded] = [e for e in cloud.events if e["source"] == "patch.test"]
    assert recorded["time"] == cloud.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    assert recorded["rules"] == ["patch-rule"]


def test_step_functions_waits_retries_and_dates_use_the_virtual_clock(cloud: LocalCloud) -> None:
    sfn = cloud.client("stepfunctions")
    definition = {
        "StartAt": "Hour",
        "States": {
            "Hour": {"Type": "Wait", "Seconds": 3600, "Next": "Until"},
            "Until": {"Type": "Wait", "TimestampPath": "$.until", "Next": "Flaky"},
            "Flaky": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": cloud.attribute("FlakyFunction", "Arn"), "Payload.$": "$"},
                "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1800, "MaxAttempts": 1}],
                "End": True,
            },
        },
    }
    machine = sfn.create_state_machine(
        name="patch-machine", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/x"
    )["stateMachineArn"]
    start = cloud.clock.now()
    until = (start + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    key = uuid.uuid4().hex
    began = time.perf_counter()
    execution = sfn.start_execution(
        stateMachineArn=machine, input=json.dumps({"until": until, "key": key, "fail_times": 1})
    )["executionArn"]
    cloud.advance(5 * 3600)  # both waits are over; the first attempt fails
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    assert len(flaky.ATTEMPTS[key]) == 1
    cloud.advance(1800)  # the retry's backoff, on the virtual clock
    described = sfn.describe_execution(executionArn=execution)
    assert described["status"] == "SUCCEEDED"
    # Functional, not a benchmark: 5.5 virtual hours must not be slept in real time.
    assert time.perf_counter() - began < 60
    assert described["stopDate"] - described["startDate"] == timedelta(hours=5, minutes=30)
    assert abs(described["startDate"] - start) < timedelta(seconds=1)


def test_interpreter_clients_are_reused(cloud: LocalCloud) -> None:
    first = moto_patches._boto_client_for("us-east-1", "lambda")
    assert moto_patches._boto_client_for("us-east-1", "lambda") is first
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    # moto's module imports boto_client_for without re-exporting it; the patch swaps it there on purpose
    assert lambda_eval_utils.boto_client_for is moto_patches._boto_client_for  # type: ignore[attr-defined]


def test_stream_records_carry_the_virtual_time(cloud: LocalCloud) -> None:
    ddb = cloud.client("dynamodb")
    description = ddb.create_table(
        TableName="patch-stream",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]
    ddb.put_item(TableName="patch-stream", Item={"pk": {"S": "x"}})
    streams = cloud.client("dynamodbstreams")
    stream = streams.describe_stream(StreamArn=description["LatestStreamArn"])["StreamDescription"]
    iterator = streams.get_shard_iterator(
        StreamArn=description["LatestStreamArn"],
        ShardId=stream["Shards"][0]["ShardId"],
        ShardIteratorType="TRIM_HORIZON",
    )["ShardIterator"]
    [record] = streams.get_records(ShardIterator=iterator)["Records"]
    created = record["dynamodb"]["ApproximateCreationDateTime"]
    assert abs(created - cloud.clock.now()) < timedelta(seconds=1)
    assert moto_patches.dynamodb_stream_length("123456789012", "us-east-1", "patch-stream") == 1


def test_filter_matcher_is_the_eventbridge_one() -> None:
    match = moto_patches.event_pattern_matcher(
        {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"n": {"N": [{"numeric": [">", 5]}]}}}}
    )
    assert match({"eventName": "INSERT", "dynamodb": {"NewImage": {"n": {"N": 7}}}})
    assert not match({"eventName": "INSERT", "dynamodb": {"NewImage": {"n": {"N": 3}}}})
    assert not match({"eventName": "MODIFY", "dynamodb": {"NewImage": {"n": {"N": 7}}}})


def test_cognito_tokens_are_issued_on_the_virtual_clock(cloud: LocalCloud) -> None:
    import jwt

    cognito = cloud.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName="patch-pool")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool,
        ClientName="c",
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    cognito.admin_create_user(UserPoolId=pool, Username="staff@example.com", MessageAction="SUPPRESS")
    cognito.admin_set_user_password(
        UserPoolId=pool, Username="staff@example.com", Password="Passw0rd!Passw0rd", Permanent=True
    )
    cloud.advance(30 * 86400)
    tokens = cognito.admin_initiate_auth(
        UserPoolId=pool,
        ClientId=client,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "staff@example.com", "PASSWORD": "Passw0rd!Passw0rd"},
    )["AuthenticationResult"]
    claims = jwt.decode(tokens["IdToken"], options={"verify_signature": False})
    assert claims["iat"] == int(cloud.clock.timestamp())
    assert claims["exp"] == claims["iat"] + 3600


def test_kms_keys_work_without_generating_rsa_up_front(cloud: LocalCloud) -> None:
    from moto.kms.models import kms_backends

    kms = cloud.client("kms")
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    assert (
        kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=symmetric, Plaintext=b"x")["CiphertextBlob"])[
            "Plaintext"
        ]
        == b"x"
    )
    key = kms_backends["123456789012"]["us-east-1"].keys[symmetric]
    assert isinstance(key.private_key, moto_patches._LazyPrivateKey) and key.private_key._key is None
    signing = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    signature = kms.sign(KeyId=signing, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    verified = kms.verify(
        KeyId=signing, Message=b"m", Signature=signature, SigningAlgorithm="RSASSA_PSS_SHA_256"
    )
    assert verified["SignatureValid"]


# -- bounded memory: what moto would keep forever ------------------------------------------------------


def test_moto_models_are_not_tracked_forever(cloud: LocalCloud) -> None:
    """Regression: moto appended every model instance to ``instances_tracked``, including the
    deep copies of whole tables TransactWriteItems makes and of every Query result: the local cloud
    grew by tens of MiB per virtual day."""
    from moto.core.common_models import BaseModel
    from moto.dynamodb.models.dynamo_type import Item

    assert isinstance(vars(BaseModel)["__new__"], staticmethod)
    ddb = cloud.client("dynamodb")
    ddb.create_table(
        TableName="patch-tracked",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    before = len(Item.instances_tracked)  # type: ignore[attr-defined]
    for n in range(5):
        ddb.transact_write_items(
            TransactItems=[{"Put": {"TableName": "patch-tracked", "Item": {"pk": {"S": f"k{n}"}}}}]
        )
        ddb.query(
            TableName="patch-tracked",
            KeyConditionExpression="pk = :k",
            ExpressionAttributeValues={":k": {"S": f"k{n}"}},
        )
    assert len(Item.instances_tracked) == before  # type: ignore[attr-defined]
    item = ddb.get_item(TableName="patch-tracked", Key={"pk": {"S": "k4"}})["Item"]
    assert item == {"pk": {"S": "k4"}}


def _stream_table(cloud: LocalCloud, name: str) -> str:
    ddb = cloud.client("dynamodb")
    return str(
        ddb.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )["TableDescription"]["LatestStreamArn"]
    )


def test_stream_records_older_than_a_day_are_trimmed(cloud: LocalCloud) -> None:
    arn = _stream_table(cloud, "patch-trim")
    ddb = cloud.client("dynamodb")
    ddb.put_item(TableName="patch-trim", Item={"pk": {"S": "old"}})
    start = moto_patches.dynamodb_stream_start("123456789012", "us-east-1", "patch-trim")
    cloud.clock.advance(moto_patches.STREAM_RETENTION_SECONDS - 60)
    ddb.put_item(TableName="patch-trim", Item={"pk": {"S": "younger"}})
    assert moto_patches.dynamodb_stream_length("123456789012", "us-east-1", "patch-trim") == 2
    cloud.clock.advance(120)  # "old" is now 24 h + 1 min old, "younger" 2 min
    ddb.put_item(TableName="patch-trim", Item={"pk": {"S": "new"}})

    assert moto_patches.dynamodb_stream_length("123456789012", "us-east-1", "patch-trim") == 2
    assert moto_patches.dynamodb_stream_start("123456789012", "us-east-1", "patch-trim") == start + 1
    streams = cloud.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    # Sequence numbers are the ones the records were written with: nothing is renumbered.
    assert [(r["dynamodb"]["Keys"]["pk"]["S"], int(r["dynamodb"]["SequenceNumber"])) for r in records] == [
        ("younger", start + 1),
        ("new", start + 2),
    ]


def test_trim_stream_shard_keeps_records_of_the_last_day() -> None:
    from datetime import UTC, datetime

    class _Record:
        def __init__(self, hour: int) -> None:
            self.record = {"dynamodb": {"ApproximateCreationDateTime": datetime(2026, 1, 5, hour)}}

    class _Shard:
        starting_sequence_number = 100
        items = [_Record(1), _Record(2), _Record(3), _Record(2)]

    shard = _Shard()
    assert moto_patches.trim_stream_shard(shard, datetime(2026, 1, 5, 2, tzinfo=UTC)) == 1
    assert shard.starting_sequence_number == 101 and len(shard.items) == 3
    # Only from the front: a record written later with an older stamp does not open a hole.
    assert moto_patches.trim_stream_shard(shard, datetime(2026, 1, 5, 3, tzinfo=UTC)) == 1
    assert shard.starting_sequence_number == 102
    assert [r.record["dynamodb"]["ApproximateCreationDateTime"].hour for r in shard.items] == [3, 2]


# -- the storage patches on their own (tests/unit/localcloud/test_moto_storage_patches.py) ---------


def test_storage_patches_are_refused_while_a_cloud_runs(cloud: LocalCloud) -> None:
    with pytest.raises(RuntimeError, match="installed already"), moto_patches.storage_patches():
        pass
    assert moto_patches.installed()
