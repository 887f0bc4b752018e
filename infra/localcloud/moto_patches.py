"""Every workaround for moto, in one place, pinned to one moto version.

The local cloud runs on in-process moto. These patches make it behave like AWS where the local
cloud depends on it; each one is listed in :data:`PATCHES` with the attribute it replaces and that
attribute's expected signature, and ``tests/unit/localcloud/test_moto_patches.py`` checks both the
signatures and the behaviour. A moto upgrade therefore fails loudly here first.

Patches (installed by :func:`install`, removed by :func:`uninstall`):

* ``lambda-invoke`` - ``LambdaFunction._invoke_lambda`` runs the handler in-process through the
  local cloud's runner (the Invoke API and Step Functions Task states); errors come back as
  ``{"errorType", "errorMessage"}`` payloads, so Retry/Catch work.
* ``lambda-invoke-async`` - ``LambdaFunction.invoke`` with ``InvocationType=Event`` queues the
  invocation for the cloud (moto would run it synchronously).
* ``rule-targets`` - ``Rule.send_to_targets`` hands matching events to the cloud, which applies
  Input / InputPath / InputTransformer properly and delivers to Lambda, Step Functions, SQS and
  other buses; disabled rules and schedule-only rules no longer receive bus events.
* ``put-events`` - ``EventsBackend.put_events`` stamps events with the virtual time and records
  every accepted event for ``cloud.events``.
* ``sfn-wait`` / ``sfn-wait-timestamp`` / ``sfn-retry-sleep`` - Wait states (seconds and
  timestamps) and Retry backoff wait on the virtual clock instead of sleeping in real time.
* ``sfn-dates`` - execution start/stop dates, history timestamps and ``$$.State.EnteredTime``
  come from the virtual clock.
* ``sfn-clients`` - the interpreter's ``boto_client_for`` reuses clients instead of creating a
  new one for every Task.
* ``stream-record-time`` - DynamoDB stream records carry the virtual time.
* ``kms-lazy-key`` - KMS keys get their (unused for symmetric keys) RSA key pair on first use.
* ``cognito-token-time`` - Cognito tokens are issued (``iat``, ``exp``) on the virtual clock, so a
  token fetched after ``advance(days)`` is not already expired for the front door.
* ``untracked-models`` - ``BaseModel.__new__`` no longer appends every model instance moto creates
  to its class's ``instances_tracked`` list (kept for moto server's dashboard, which the local
  cloud does not run). moto deep-copies the results of every Query (and, without
  ``transact-rollback``, whole tables on every TransactWriteItems), and each copied ``Item`` was
  kept there forever: the local cloud grew by tens of MiB per virtual day (docs/performance.md,
  "memory over virtual time").
* ``stream-trim`` - ``StreamShard.add`` drops records older than
  :data:`STREAM_RETENTION_SECONDS` (24 h of virtual time, what DynamoDB Streams keeps) from the
  front of the shard, moving ``starting_sequence_number`` on, so sequence numbers stay what they
  were; moto never trims a stream.
* ``transact-rollback`` - ``DynamoDBBackend.transact_write_items`` snapshots only the items a
  transaction touches (a deep copy of each, or "absent") and the length of each touched table's
  stream, and on cancellation puts exactly those back; moto deep-copied every touched table once
  per item of every transaction, so the local cloud slowed down as its tables grew. The rest is
  moto's own loop, line for line (conditions, ``CancellationReasons``, ALL_OLD, the 100-item and
  one-operation-per-item rules); a stream's 24 h trim (``stream-trim``) waits until the
  transaction has committed. ``tests/unit/localcloud/test_transact_rollback.py`` pins moto's
  source and compares both on random transactions.

It also holds the few read-only looks into moto's internals the engine needs (visible message
counts, unread stream records, schedules, busy interpreter threads) and the few things it drops
from moto's state that AWS would not keep (used shard iterators, receipt handles the SQS poller
deleted with, Step Functions executions closed more than 90 days ago), so that they are pinned and
tested too, and imports the Step Functions interpreter with moto's cached boto3 session standing
in for the three it would build just to list EC2 regions (about 0.4 s of every cold boot).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _datetime_module
import importlib
import inspect
import json
import logging
import sys
import threading
import time as _time_module
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import moto

if TYPE_CHECKING:
    from infra.localcloud.clock import VirtualClock

__all__ = [
    "MOTO_VERSION",
    "PATCHES",
    "STORAGE_PATCHES",
    "Hooks",
    "Patch",
    "check_version",
    "install",
    "installed",
    "storage_patches",
    "uninstall",
]

LOG = logging.getLogger("infra.localcloud.moto")

MOTO_VERSION = "5.2.5"


def check_version() -> None:
    """Refuse to run on a moto these patches were not written for."""
    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(
            f"infra/localcloud/moto_patches.py is written for moto {MOTO_VERSION}, but moto "
            f"{moto.__version__} is installed. Re-check every patch against the new moto source "
            "(run tests/unit/localcloud/test_moto_patches.py), then update MOTO_VERSION."
        )


check_version()


@dataclass
class Hooks:
    """How the patches reach the running cloud."""

    clock: VirtualClock
    # (function name or ARN, event, trigger) -> (JSON payload text, errored)
    invoke: Callable[[str, Any, str], tuple[str, bool]]
    # (function ARN, event): an InvocationType=Event call
    invoke_async: Callable[[str, Any], None]
    # (rule, normalised event) -> the targets the cloud did not deliver (moto delivers those)
    rule_matched: Callable[[Any, dict[str, Any]], list[dict[str, Any]]]
    # (bus name, PutEvents entry, event id)
    event_put: Callable[[str, dict[str, Any], str], None]


@dataclass(frozen=True)
class Patch:
    """One replaced attribute: where it lives, what it is called, and its parameters in moto 5.2.5."""

    name: str
    module: str
    owner: str | None
    attribute: str
    signature: str | None


PATCHES: tuple[Patch, ...] = (
    Patch("lambda-invoke", "moto.awslambda.models", "LambdaFunction", "_invoke_lambda", "self, event=None"),
    Patch(
        "lambda-invoke-async",
        "moto.awslambda.models",
        "LambdaFunction",
        "invoke",
        "self, body, request_headers, response_headers",
    ),
    Patch(
        "rule-targets",
        "moto.events.models",
        "Rule",
        "send_to_targets",
        "self, original_event, transform_input=True",
    ),
    Patch("put-events", "moto.events.models", "EventsBackend", "put_events", "self, events"),
    Patch(
        "sfn-wait",
        "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function",
        "WaitFunction",
        "_wait_interval",
        "self, env, wait_seconds",
    ),
    Patch(
        "sfn-wait-timestamp",
        "moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp",
        "Timestamp",
        "_get_wait_seconds",
        "self, env",
    ),
    Patch(
        "sfn-retry-sleep",
        "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl",
        None,
        "time",
        None,
    ),
    Patch(
        "sfn-clients",
        "moto.stepfunctions.parser.asl.utils.boto_client",
        None,
        "boto_client_for",
        "region, service, state_credentials=None",
    ),
    Patch("cognito-token-time", "moto.cognitoidp.models", None, "time", None),
    Patch("kms-lazy-key", "moto.kms.models", None, "generate_private_key", "key_spec"),
    Patch(
        "stream-record-time",
        "moto.dynamodb.models.table",
        "StreamRecord",
        "__init__",
        "self, table, stream_type, event_name, old, new, seq",
    ),
    Patch("untracked-models", "moto.core.common_models", "BaseModel", "__new__", "cls, *args, **kwargs"),
    Patch("stream-trim", "moto.dynamodb.models.table", "StreamShard", "add", "self, old, new"),
    Patch(
        "transact-rollback",
        "moto.dynamodb.models",
        "DynamoDBBackend",
        "transact_write_items",
        "self, transact_items",
    ),
)

# What DynamoDB Streams keeps: a stream record is readable for 24 hours, then trimmed.
STREAM_RETENTION_SECONDS = 24 * 3600

_BY_NAME = {patch.name: patch for patch in PATCHES}

# Modules of the Step Functions interpreter whose ``datetime`` module is swapped for the virtual one.
_SFN_DATE_MODULES: tuple[str, ...] = (
    "moto.stepfunctions.parser.models",
    "moto.stepfunctions.parser.backend.execution",
    "moto.stepfunctions.parser.backend.state_machine",
    "moto.stepfunctions.parser.backend.activity",
    "moto.stepfunctions.parser.backend.alias",
    "moto.stepfunctions.parser.asl.eval.event.event_manager",
    "moto.stepfunctions.parser.asl.component.state.state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branches_decl",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.map_run_record",
)
_SFN_PARSER_DIR = "moto/stepfunctions/parser/"
_THREADING_FILE = threading.__file__
# Where a thread inside ``threading`` is actually blocked (innermost frame).
_BLOCKING_CALLS = frozenset({"wait", "join", "_wait_for_tstate_lock"})

_hooks: Hooks | None = None
_storage_only = False  # storage_patches() is applying STORAGE_PATCHES without a cloud
_originals: dict[tuple[str, str | None, str], Any] = {}
_install_lock = threading.Lock()


def _original(name: str) -> Any:
    patch = _BY_NAME[name]
    return _originals[(patch.module, patch.owner, patch.attribute)]


def installed() -> bool:
    return _hooks is not None


def _owner(patch: Patch) -> Any:
    module = importlib.import_module(patch.module)
    return getattr(module, patch.owner) if patch.owner else module


def _current(owner: Any, attribute: str) -> Any:
    """What ``owner`` has for ``attribute``; a class's static method as the ``staticmethod`` itself
    (``__new__``), so that putting it back restores it exactly."""
    raw = vars(owner).get(attribute) if isinstance(owner, type) else None
    return raw if isinstance(raw, staticmethod) else getattr(owner, attribute)


def _require_hooks() -> Hooks:
    hooks = _hooks
    if hooks is None:
        raise RuntimeError("the local cloud's moto patches are not installed")
    return hooks


# ----------------------------------------------------------------------------------------------
# Lambda
# ----------------------------------------------------------------------------------------------
def _in_interpreter_thread() -> bool:
    from moto.stepfunctions.parser.utils import TMP_THREADS

    return threading.current_thread() in TMP_THREADS


def _invoke_lambda(self: Any, event: str | None = None) -> tuple[str, bool, str]:
    hooks = _hooks
    if hooks is None:
        return _original("lambda-invoke")(self, event)  # type: ignore[no-any-return]
    trigger = "sfn" if _in_interpreter_thread() else "direct"
    payload, errored = hooks.invoke(self.function_arn, {} if event is None else event, trigger)
    return payload, errored, ""


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if str(key).lower() == name:
            return str(value)
    return None


def _lambda_invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> str | bytes:
    hooks = _hooks
    original = _original("lambda-invoke-async")
    if hooks is not None and _header(request_headers, "x-amz-invocation-type") == "Event":
        event = json.loads(body) if body else {}
        hooks.invoke_async(self.function_arn, event)
        return ""
    return original(self, body, request_headers, response_headers)  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------------------------
# EventBridge
# ----------------------------------------------------------------------------------------------
def iso_time(value: Any) -> str:
    """EventBridge's ``time`` field: ISO-8601 UTC, second precision."""
    if isinstance(value, (int, float)):
        moment = _datetime_module.datetime.fromtimestamp(float(value), tz=_datetime_module.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _send_to_targets(self: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
    hooks = _hooks
    original = _original("rule-targets")
    if hooks is None:
        original(self, original_event, transform_input)
        return
    if self.state != "ENABLED":
        return
    if self.scheduled_expression and not self.event_pattern.get_pattern():
        return  # a schedule-only rule never matches bus events
    if not self.event_pattern.matches_event(original_event):
        return
    event = copy.deepcopy(dict(original_event))
    event.pop("ingestion-time", None)
    event["time"] = iso_time(event.get("time"))
    leftover = hooks.rule_matched(self, event)
    if leftover:
        # Targets the cloud does not handle (log groups, archives, API destinations): moto's own code.
        clone = copy.copy(self)
        clone.targets = leftover
        clone.event_pattern = type(self.event_pattern)(None, {})
        original(clone, original_event, transform_input)


def _put_events(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    hooks = _hooks
    original = _original("put-events")
    if hooks is None:
        return original(self, events)  # type: ignore[no-any-return]
    stamp = hooks.clock.timestamp()
    stamped = [event if event.get("Time") is not None else {**event, "Time": stamp} for event in events]
    entries: list[dict[str, Any]] = original(self, stamped)
    for event, entry in zip(stamped, entries, strict=False):
        if "EventId" in entry:
            bus = self._normalize_event_bus_arn(event.get("EventBusName"))
            hooks.event_put(bus, event, entry["EventId"])
    return entries


# ----------------------------------------------------------------------------------------------
# Step Functions
# ----------------------------------------------------------------------------------------------
def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
    hooks = _hooks
    if hooks is None:
        _original("sfn-wait")(self, env, wait_seconds)
        return
    if wait_seconds <= 0:
        return
    clock = hooks.clock
    deadline = clock.now() + _datetime_module.timedelta(seconds=wait_seconds)
    clock.sleep_until(deadline, cancelled=lambda: not env.is_running(), label="sfn-wait")


def _get_wait_seconds(self: Any, env: Any) -> int:
    hooks = _hooks
    if hooks is None:
        return _original("sfn-wait-timestamp")(self, env)  # type: ignore[no-any-return]
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException

    self.string.eval(env=env)
    timestamp_str: str = env.stack.pop()
    timestamp = self._from_timestamp_string(timestamp=timestamp_str)
    if timestamp is None:
        raise FailureEventException(self._create_failure_event(env, timestamp_str))
    now_naive_utc = hooks.clock.now().replace(tzinfo=None)
    return int((timestamp - now_naive_utc).total_seconds())


class _VirtualTime(types.ModuleType):
    """Stands in for ``time`` in a moto module: ``sleep`` and ``time`` follow the virtual clock."""

    def __init__(self) -> None:
        super().__init__("time")
        self.__dict__.update(
            {
                k: v
                for k, v in vars(_time_module).items()
                if not k.startswith("__") and k not in ("sleep", "time")
            }
        )

    @staticmethod
    def time() -> float:
        hooks = _hooks
        return hooks.clock.timestamp() if hooks is not None else _time_module.time()

    @staticmethod
    def sleep(seconds: float) -> None:
        hooks = _hooks
        if hooks is None:
            _time_module.sleep(seconds)
            return
        hooks.clock.sleep(seconds, label="sfn-retry")


class _VirtualDatetimeMeta(type):
    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, _datetime_module.datetime)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, _datetime_module.datetime)


class _VirtualDatetime(_datetime_module.datetime, metaclass=_VirtualDatetimeMeta):
    """``datetime.datetime`` whose ``now()`` reads the virtual clock."""

    @classmethod
    def now(cls, tz: _datetime_module.tzinfo | None = None) -> _datetime_module.datetime:  # type: ignore[override]
        hooks = _hooks
        current = (
            hooks.clock.now() if hooks is not None else _datetime_module.datetime.now(_datetime_module.UTC)
        )
        if tz is None:
            return current.astimezone().replace(tzinfo=None)
        return current.astimezone(tz)


def _virtual_datetime_module() -> types.ModuleType:
    module = types.ModuleType("datetime")
    module.__dict__.update({k: v for k, v in vars(_datetime_module).items() if not k.startswith("__")})
    module.datetime = _VirtualDatetime  # type: ignore[attr-defined]
    return module


_VIRTUAL_DATETIME = _virtual_datetime_module()
_VIRTUAL_TIME = _VirtualTime()

_client_cache: dict[tuple[str, str], Any] = {}
_client_lock = threading.Lock()


def _boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    key = (region, service)
    cached = _client_cache.get(key)
    if cached is not None:
        return cached
    with _client_lock:
        cached = _client_cache.get(key)
        if cached is None:
            original = _original("sfn-clients")
            cached = original(region, service, state_credentials)
            _client_cache[key] = cached
        return cached


# ----------------------------------------------------------------------------------------------
# DynamoDB streams
# ----------------------------------------------------------------------------------------------
def _stream_record_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _original("stream-record-time")(self, *args, **kwargs)
    hooks = _hooks
    if hooks is not None:
        self.record["dynamodb"]["ApproximateCreationDateTime"] = hooks.clock.now().replace(tzinfo=None)


def _stream_shard_add(self: Any, old: Any, new: Any) -> None:
    _original("stream-trim")(self, old, new)
    deferred: dict[int, Any] | None = getattr(_applying, "deferred_trims", None)
    if deferred is not None:
        # A transaction is being applied on this thread: its rollback only truncates the shard
        # back to its length, so nothing may leave the front until it has committed.
        deferred[id(self)] = self
        return
    _trim_now(self)


def _trim_now(shard: Any) -> None:
    hooks = _hooks
    if hooks is not None:
        trim_stream_shard(
            shard, hooks.clock.now() - _datetime_module.timedelta(seconds=STREAM_RETENTION_SECONDS)
        )


def trim_stream_shard(shard: Any, older_than: _datetime_module.datetime) -> int:
    """Drop the records created before ``older_than`` (aware) from the front of a moto stream shard.

    Sequence numbers do not change: ``starting_sequence_number`` moves on by the records dropped
    (moto numbers a new record ``starting_sequence_number + len(items)`` and reads by offset from
    it). Returns how many records were dropped.
    """
    limit = older_than.astimezone(_datetime_module.UTC).replace(tzinfo=None)
    items = shard.items
    drop = 0
    while drop < len(items):
        created = items[drop].record["dynamodb"].get("ApproximateCreationDateTime")
        if not isinstance(created, _datetime_module.datetime) or created >= limit:
            break
        drop += 1
    if drop:
        del items[:drop]
        shard.starting_sequence_number += drop
    return drop


# ----------------------------------------------------------------------------------------------
# DynamoDB TransactWriteItems: roll back the touched items, not deep copies of whole tables
# ----------------------------------------------------------------------------------------------
# While a transaction is applied on a thread: the stream shards whose 24 h trim waits for it.
_applying = threading.local()


@dataclass
class _TouchedItem:
    """One item a transaction is about to change, as it was: ``item`` is a deep copy (moto's
    UpdateItem changes the stored ``Item`` in place) or None when it was absent; ``partition`` says
    whether the hash key had an entry in a hash-and-range table's ``items`` (moto's defaultdict
    adds an empty one on a mere lookup, and its whole-table copy would have dropped it again)."""

    table: Any
    hash_key: Any
    range_key: Any
    partition: bool
    item: Any


@dataclass
class _TouchedStream:
    """A touched table's stream before the transaction: its record list and where it ended."""

    shard: Any
    records: list[Any]
    length: int
    start: int


class _Rollback:
    """What a transaction changed, so that a cancelled one leaves no trace."""

    def __init__(self) -> None:
        self.items: list[_TouchedItem] = []
        self.streams: dict[int, _TouchedStream] = {}

    def touch(self, backend: Any, table_name: str, key: dict[str, Any], *, changes: bool) -> None:
        """Remember the item at ``key`` before the transaction reaches it (``changes``: deep-copy
        it; a condition check only reads it). Raises exactly what moto's ``get_item(table_name,
        key)`` would raise first (unknown table, incomplete key), and changes nothing."""
        table = backend.get_table(table_name)
        hash_key, range_key = backend.get_keys_value(table, key)
        if table.range_key_attr is not None:
            partition = table.items.get(hash_key)
            before = partition.get(range_key) if partition is not None else None
            present = partition is not None
        else:
            before = table.items.get(hash_key)
            present = before is not None
        kept = copy.deepcopy(before) if changes else before
        self.items.append(_TouchedItem(table, hash_key, range_key, present, kept))
        shard = table.stream_shard
        if shard is not None and id(table) not in self.streams:
            self.streams[id(table)] = _TouchedStream(
                shard, shard.items, len(shard.items), shard.starting_sequence_number
            )

    def restore(self) -> None:
        # Newest first: an item that created a partition is restored after the ones added to it.
        for touched in reversed(self.items):
            items = touched.table.items
            if touched.table.range_key_attr is None:
                if touched.item is None:
                    items.pop(touched.hash_key, None)
                else:
                    items[touched.hash_key] = touched.item
                continue
            if touched.item is not None:
                items[touched.hash_key][touched.range_key] = touched.item
                continue
            partition = items.get(touched.hash_key)
            if partition is not None:
                partition.pop(touched.range_key, None)
                if not partition and not touched.partition:
                    del items[touched.hash_key]
        # The records the partial application emitted. moto replaces the list after handing it to
        # its own (unused here) event source mappings; the old one still holds the records before.
        for stream in self.streams.values():
            del stream.records[stream.length :]
            stream.shard.items = stream.records
            stream.shard.starting_sequence_number = stream.start


def _transact_write_items(  # noqa: PLR0912, PLR0915 - moto's loop, kept line for line to compare
    self: Any, transact_items: list[dict[str, Any]]
) -> None:
    """moto 5.2.5's ``DynamoDBBackend.transact_write_items`` with :class:`_Rollback` in place of a
    deep copy of every touched table. Everything else is moto's loop, unchanged.

    Two deliberate differences, both cases where moto left a cancelled transaction's writes in
    place (DynamoDB writes nothing): a table named by its ARN is rolled back too (moto only copied
    tables it found by name), and so is an item with more than one operation, which moto rejects
    outside its rollback.
    """
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    rollback = _Rollback()
    outer: dict[int, Any] | None = getattr(_applying, "deferred_trims", None)
    deferred: dict[int, Any] = {}
    _applying.deferred_trims = deferred
    try:
        target_items: set[tuple[str, str]] = set()

        def check_unicity(table_name: str, key: dict[str, Any]) -> None:
            item = (str(table_name), str(dict(sorted(key.items()))))
            if item in target_items:
                raise MultipleTransactionsException()
            target_items.add(item)

        errors: list[tuple[str, str, dict[str, Any] | None] | tuple[None, None, None]] = []
        for item in transact_items:
            original_item: dict[str, Any] | None = None
            if len(list(item.keys())) > 1:
                rollback.restore()
                raise TransactWriteSingleOpException

            try:
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")

                table_name = op["TableName"]
                condition_expression = op.get("ConditionExpression")
                expression_attribute_names = op.get("ExpressionAttributeNames")
                expression_attribute_values = op.get("ExpressionAttributeValues")
                return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")

                if op_type == "Put":
                    attrs = op["Item"]
                    table = self.get_table(table_name)
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]

                check_unicity(table_name, key)
                rollback.touch(self, table_name, key, changes=op_type != "ConditionCheck")

                current = self.get_item(table_name, key)
                if condition_expression is not None:
                    condition_op = get_filter_expression(
                        condition_expression,
                        expression_attribute_names,
                        expression_attribute_values,
                    )
                    if not condition_op.expr(current):
                        if return_values_on_condition_check_failure == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)

                if op_type == "Put":
                    attrs = op["Item"]
                    self.put_item(
                        table_name,
                        attrs,
                        condition_expression=condition_expression,
                        expression_attribute_names=expression_attribute_names,
                        expression_attribute_values=expression_attribute_values,
                    )
                elif op_type == "Delete":
                    self.delete_item(
                        table_name,
                        key,
                        condition_expression=condition_expression,
                        expression_attribute_names=expression_attribute_names,
                        expression_attribute_values=expression_attribute_values,
                    )
                elif op_type == "Update":
                    update_expression = op["UpdateExpression"]
                    self.update_item(
                        table_name,
                        key,
                        update_expression=update_expression,
                        condition_expression=condition_expression,
                        expression_attribute_names=expression_attribute_names,
                        expression_attribute_values=expression_attribute_values,
                    )
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                rollback.restore()
                raise
            except ConditionalCheckFailed as e:
                errors.append(("ConditionalCheckFailed", str(e.message), original_item))
            except Exception as e:  # moto's own catch-all: any other failure cancels with its name
                errors.append((type(e).__name__, str(e), original_item))

        if any(code is not None for code, _, _ in errors):
            rollback.restore()
            raise TransactionCanceledException(errors)
    finally:
        _applying.deferred_trims = outer
    for shard in deferred.values():
        if outer is not None:
            outer[id(shard)] = shard
        else:
            _trim_now(shard)


# ----------------------------------------------------------------------------------------------
# moto's instance tracking
# ----------------------------------------------------------------------------------------------
def _untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    """``BaseModel.__new__`` without ``cls.instances_tracked.append(instance)``."""
    from moto.core.common_models import BaseModel

    return super(BaseModel, cls).__new__(cls)  # type: ignore[misc]  # what moto's own __new__ calls


# ----------------------------------------------------------------------------------------------
# KMS
# ----------------------------------------------------------------------------------------------
class _LazyPrivateKey:
    """moto generates an RSA-2048 key pair for every KMS key, symmetric ones included (0.1-0.5 s
    each); this one is generated on first use (Sign, Verify, GetPublicKey), which symmetric keys
    never reach."""

    def __init__(self, key_spec: str) -> None:
        self._key_spec = key_spec
        self._key: Any = None
        self._lock = threading.Lock()

    def _real(self) -> Any:
        with self._lock:
            if self._key is None:
                self._key = _original("kms-lazy-key")(self._key_spec)
            return self._key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)


def _lazy_private_key(key_spec: str) -> Any:
    return _LazyPrivateKey(key_spec)


_REPLACEMENTS: dict[str, Any] = {
    "lambda-invoke": _invoke_lambda,
    "lambda-invoke-async": _lambda_invoke,
    "rule-targets": _send_to_targets,
    "put-events": _put_events,
    "sfn-wait": _wait_interval,
    "sfn-wait-timestamp": _get_wait_seconds,
    "sfn-retry-sleep": _VIRTUAL_TIME,
    "sfn-clients": _boto_client_for,
    "cognito-token-time": _VIRTUAL_TIME,
    "kms-lazy-key": _lazy_private_key,
    "stream-record-time": _stream_record_init,
    "untracked-models": staticmethod(_untracked_new),
    "stream-trim": _stream_shard_add,
    "transact-rollback": _transact_write_items,
}


def install(hooks: Hooks) -> None:
    """Apply every patch and route them to ``hooks``. Only one cloud may be installed at a time.

    All or nothing: if one patch cannot be applied, the ones applied so far are undone.
    """
    global _hooks  # noqa: PLW0603 - the patches are process-wide by nature
    check_version()
    with _install_lock:
        if _hooks is not None:
            raise RuntimeError("another LocalCloud is running in this process; stop it first")
        if _storage_only:
            raise RuntimeError("moto's storage patches are applied on their own; leave that block first")
        try:
            for patch in PATCHES:
                owner = _owner(patch)
                key = (patch.module, patch.owner, patch.attribute)
                _originals.setdefault(key, _current(owner, patch.attribute))
                setattr(owner, patch.attribute, _REPLACEMENTS[patch.name])
            _swap_boto_client_for(_boto_client_for)
            for name in _SFN_DATE_MODULES:
                module = importlib.import_module(name)
                _originals.setdefault((name, None, "datetime"), module.datetime)
                module.__dict__["datetime"] = _VIRTUAL_DATETIME
        except BaseException:
            _restore_originals()
            raise
        _client_cache.clear()
        _hooks = hooks


# The patches that change only how moto keeps its tables, not what any call answers, and need no
# running cloud: what a benchmark on plain moto wants (bench/campaigns_dispatch.py).
STORAGE_PATCHES = ("transact-rollback", "untracked-models")


@contextlib.contextmanager
def storage_patches() -> Iterator[None]:
    """:data:`STORAGE_PATCHES` applied for the duration of the block, without a local cloud.

    Stock moto deep-copies every touched table once per item of every TransactWriteItems and keeps
    every model instance it creates; in a process that also runs the code being measured, those
    copies evict that code's data and instructions from the CPU caches, and it runs up to 4x slower
    (docs/performance.md, session 10). Refused while a cloud has the full set installed.
    """
    global _storage_only  # noqa: PLW0603 - the patches are process-wide by nature
    check_version()
    with _install_lock:
        if _hooks is not None or _storage_only:
            raise RuntimeError("the moto patches are installed already; stop that cloud or block first")
        saved: list[tuple[Any, str, Any]] = []
        try:
            for name in STORAGE_PATCHES:
                patch = _BY_NAME[name]
                owner = _owner(patch)
                saved.append((owner, patch.attribute, _current(owner, patch.attribute)))
                setattr(owner, patch.attribute, _REPLACEMENTS[name])
        except BaseException:
            for owner, attribute, value in reversed(saved):
                setattr(owner, attribute, value)
            raise
        _storage_only = True
    try:
        yield
    finally:
        with _install_lock:
            for owner, attribute, value in reversed(saved):
                setattr(owner, attribute, value)
            _storage_only = False


def uninstall() -> None:
    """Put moto back as it was."""
    global _hooks  # noqa: PLW0603
    with _install_lock:
        if _hooks is None:
            return
        _hooks = None
        _restore_originals()
        _client_cache.clear()


def _restore_originals() -> None:
    for patch in PATCHES:
        key = (patch.module, patch.owner, patch.attribute)
        if key in _originals:
            setattr(_owner(patch), patch.attribute, _originals[key])
    if (_BY_NAME["sfn-clients"].module, None, "boto_client_for") in _originals:
        _swap_boto_client_for(_original("sfn-clients"))
    for name in _SFN_DATE_MODULES:
        if (name, None, "datetime") in _originals:
            importlib.import_module(name).__dict__["datetime"] = _originals[name, None, "datetime"]


def _swap_boto_client_for(replacement: Any) -> None:
    """Modules that imported ``boto_client_for`` by name hold their own reference: swap those too."""
    _import_sfn_interpreter()
    original = _original("sfn-clients")
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and module is not None:
            current = module.__dict__.get("boto_client_for")
            if current is original or current is _boto_client_for:
                module.__dict__["boto_client_for"] = replacement


def _import_sfn_interpreter() -> None:
    """Import every Task service module now, so the by-name references can be swapped.

    The interpreter imports ``moto.batch`` and with it ``moto.ec2``, whose class bodies build three
    fresh boto3 sessions just to list regions (about 0.4 s). While importing, those sessions are
    served by moto's cached one: same answers, one load of the endpoint data.
    """
    if "moto.ec2.models.availability_zones_and_regions" not in sys.modules:
        import boto3.session

        shared = moto_session()
        original = boto3.session.Session.get_available_regions

        def cached_regions(
            self: Any, service_name: str, partition_name: str = "aws", allow_non_regional: bool = False
        ) -> Any:
            return original(shared, service_name, partition_name, allow_non_regional)

        boto3.session.Session.get_available_regions = cached_regions
        try:
            importlib.import_module("moto.ec2.models.availability_zones_and_regions")
        finally:
            boto3.session.Session.get_available_regions = original
    importlib.import_module("moto.stepfunctions.parser.models")
    importlib.import_module(
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_factory"
    )
    importlib.import_module("moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils")
    importlib.import_module(
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3"
    )
    importlib.import_module(
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3"
    )


def parameters_of(function: Any) -> str:
    """A signature without annotations: ``"self, event=None"``."""
    parts = []
    for parameter in inspect.signature(function).parameters.values():
        text = parameter.name
        if parameter.kind is parameter.VAR_POSITIONAL:
            text = f"*{text}"
        elif parameter.kind is parameter.VAR_KEYWORD:
            text = f"**{text}"
        if parameter.default is not parameter.empty:
            text = f"{text}={parameter.default!r}"
        parts.append(text)
    return ", ".join(parts)


def original(patch: Patch) -> Any:
    """What moto has for a patched attribute (the original while the patches are installed)."""
    found = _originals.get((patch.module, patch.owner, patch.attribute)) or _current(
        _owner(patch), patch.attribute
    )
    return found.__func__ if isinstance(found, staticmethod) else found


# ----------------------------------------------------------------------------------------------
# Read-only looks into moto's state (pinned with the patches)
# ----------------------------------------------------------------------------------------------
def moto_session() -> Any:
    """The boto3 session moto uses to list regions (its loader caches every service model)."""
    from moto.core.base_backend import AccountSpecificBackend

    return AccountSpecificBackend.get_session()


def sqs_queue(account_id: str, region: str, queue_name: str) -> Any:
    from moto.sqs.models import sqs_backends

    return sqs_backends[account_id][region].get_queue(queue_name)


def sqs_visible_count(account_id: str, region: str, queue_name: str) -> int:
    """How many messages a ReceiveMessage could return now (moto's visibility, real time)."""
    queue = sqs_queue(account_id, region, queue_name)
    return sum(1 for message in queue._messages if message.visible)


def forget_deleted_receipts(account_id: str, region: str, queue_name: str, *handles: str) -> None:
    """moto keeps the receipt handle of every deleted message forever (so that deleting one again
    succeeds); drop the ones the poller has just deleted with, which nothing uses again."""
    deleted = sqs_queue(account_id, region, queue_name).deleted_messages
    deleted.discard(None)  # moto adds a message's handles as a list that starts with its current one
    for handle in handles:
        deleted.discard(handle)


def dynamodb_stream_length(account_id: str, region: str, table_name: str) -> int:
    """How many records the table's stream holds (the last 24 h: see ``stream-trim``)."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[account_id][region].get_table(table_name)
    shard = table.stream_shard
    return len(shard.items) if shard is not None else 0


def dynamodb_stream_start(account_id: str, region: str, table_name: str) -> int:
    """The sequence number of the oldest record the stream still holds (moves on as it is trimmed)."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[account_id][region].get_table(table_name)
    shard = table.stream_shard
    return int(shard.starting_sequence_number) if shard is not None else 0


def forget_shard_iterators(account_id: str, region: str, *iterators: str) -> None:
    """moto keeps every shard iterator forever; drop the ones the poller has used."""
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    stored = dynamodbstreams_backends[account_id][region].shard_iterators
    for iterator in iterators:
        stored.pop(iterator, None)


def scheduler_schedules(account_id: str, region: str) -> list[Any]:
    """Every EventBridge Scheduler schedule moto holds (from the template or created at run time)."""
    from moto.scheduler.models import scheduler_backends

    backend = scheduler_backends[account_id][region]
    return [s for group in backend.schedule_groups.values() for s in group.schedules.values()]


def event_rules(account_id: str, region: str) -> list[Any]:
    """Every EventBridge rule on every bus."""
    from moto.events.models import events_backends

    backend = events_backends[account_id][region]
    return [rule for bus in backend.event_buses.values() for rule in bus.rules.values()]


def event_pattern_matcher(pattern: dict[str, Any] | str) -> Callable[[dict[str, Any]], bool]:
    """moto's EventBridge pattern matcher, for Lambda FilterCriteria (same pattern language)."""
    from moto.events.models import EventPattern

    compiled = EventPattern.load(pattern if isinstance(pattern, str) else json.dumps(pattern))

    def matches(record: dict[str, Any]) -> bool:
        return bool(compiled.matches_event(record))  # type: ignore[arg-type]  # any JSON document

    return matches


def sfn_running_executions(account_id: str, region: str) -> list[Any]:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends[account_id][region]
    return [
        e for sm in backend.state_machines for e in sm.executions if getattr(e, "status", None) == "RUNNING"
    ]


# What Step Functions keeps: a closed execution (and its history) for 90 days after it stopped.
SFN_CLOSED_RETENTION_SECONDS = 90 * 86400


def sfn_forget_closed_executions(
    account_id: str, region: str, closed_before: _datetime_module.datetime
) -> int:
    """Drop executions that stopped before ``closed_before`` (aware): moto keeps every execution,
    with a copy of its state machine and its whole history, for ever. Returns how many were dropped."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    limit = closed_before.astimezone(_datetime_module.UTC)

    def closed_long_ago(execution: Any) -> bool:
        stopped = getattr(execution, "stop_date", None)
        if getattr(execution, "status", None) == "RUNNING" or not isinstance(
            stopped, _datetime_module.datetime
        ):
            return False
        if stopped.tzinfo is None:
            stopped = stopped.replace(tzinfo=_datetime_module.UTC)
        return stopped < limit

    dropped = 0
    for machine in stepfunctions_parser_backends[account_id][region].state_machines:
        kept = [e for e in machine.executions if not closed_long_ago(e)]
        dropped += len(machine.executions) - len(kept)
        machine.executions[:] = kept
    return dropped


def sfn_stop_all(account_id: str, region: str) -> int:
    """Abort every running execution (the cloud is stopping): their threads then exit."""
    stopped = 0
    for execution in sfn_running_executions(account_id, region):
        try:
            execution.stop(
                stop_date=_datetime_module.datetime.now(_datetime_module.UTC),
                error="LocalCloud.Stopped",
                cause="",
            )
            stopped += 1
        except Exception:  # an execution that is ending at this moment
            LOG.debug("could not stop %s", getattr(execution, "execution_arn", "?"), exc_info=True)
    return stopped


def sfn_busy_threads(clock: VirtualClock) -> list[str]:
    """Interpreter threads that are doing work (not parked in a wait on the clock or on each other).

    A thread is parked when it sleeps on the virtual clock with a deadline still ahead, or when it
    is blocked inside ``threading`` (an Event, a Condition, a join) called from the interpreter
    itself: waiting for a branch, a map iteration or a task token. Anything else is busy.
    """
    from moto.stepfunctions.parser.utils import TMP_THREADS

    now = clock.now()
    sleeping = {w.thread_id for w in clock.waiters() if w.deadline > now}
    frames = sys._current_frames()
    busy: list[str] = []
    for thread in list(TMP_THREADS):
        if thread.ident is None:
            busy.append(f"{thread.name} (starting)")
            continue
        if not thread.is_alive():
            if thread._started.is_set():
                with contextlib.suppress(ValueError):
                    TMP_THREADS.remove(thread)
            else:
                busy.append(f"{thread.name} (starting)")
            continue
        if thread.ident in sleeping:
            continue
        frame = frames.get(thread.ident)
        if frame is not None and _parked_in_interpreter(frame):
            continue
        busy.append(thread.name)
    return busy


def _parked_in_interpreter(frame: types.FrameType) -> bool:
    """True when the thread blocks inside ``threading`` on behalf of the interpreter, for good.

    A wait whose condition already holds (an Event that is set, a thread being joined that has
    ended, a latch at zero) is not parked: the thread is about to run again.
    """
    inner: types.FrameType | None = frame
    waits: list[types.FrameType] = []
    while inner is not None and inner.f_code.co_filename == _THREADING_FILE:
        waits.append(inner)
        inner = inner.f_back
    if not waits or inner is None or waits[0].f_code.co_name not in _BLOCKING_CALLS:
        return False  # not blocked: building an Event, setting one, starting a thread...
    if _SFN_PARSER_DIR not in inner.f_code.co_filename.replace("\\", "/"):
        return False
    for wait in waits:
        owner = wait.f_locals.get("self")
        try:
            if isinstance(owner, threading.Event) and owner.is_set():
                return False
            if isinstance(owner, threading.Thread) and not owner.is_alive():
                return False
        except AttributeError:  # caught half-built: certainly not parked for good
            return False
    latch = inner.f_locals.get("self")
    return not (type(latch).__name__ == "CountDownLatch" and getattr(latch, "_num", 1) <= 0)
