"""EventBridge and Scheduler targets: what they receive, and delivering it.

:func:`render_rule_input` applies a rule target's ``Input`` / ``InputPath`` / ``InputTransformer``
to an event the way EventBridge does. :class:`Dispatcher` delivers a rendered payload to a target
ARN: SQS and other buses at once (as EventBridge does, before PutEvents returns), Lambda functions
and state machines through a queue that the cloud drains when it settles (they are asynchronous
invocations on AWS). Lambda asynchronous semantics are kept: failed invocations are retried
(``MaximumRetryAttempts`` of the function's EventInvokeConfig, default 2), then sent to the
function's on-failure destination or dead-letter queue if it has one.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from infra.localcloud.clients import Clients
from infra.localcloud.runner import Runner, RunnerError

__all__ = [
    "Delivery",
    "Dispatcher",
    "json_path",
    "render_rule_input",
    "render_template",
]

LOG = logging.getLogger("infra.localcloud")

_MISSING: Any = object()
_PATH_TOKEN = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def json_path(document: Any, path: str) -> Any:
    """EventBridge's JSONPath subset: ``$``, ``$.a.b``, ``$.a[0]``, ``$['a-b']``. Missing -> sentinel."""
    path = path.strip()
    if not path.startswith("$"):
        raise ValueError(f"not a JSONPath: {path!r}")
    position = 1
    current = document
    while position < len(path):
        match = _PATH_TOKEN.match(path, position)
        if match is None:
            raise ValueError(f"unsupported JSONPath {path!r}")
        position = match.end()
        name, index, quoted, double_quoted = match.groups()
        key = name if name is not None else quoted if quoted is not None else double_quoted
        if index is not None:
            if not isinstance(current, list) or int(index) >= len(current):
                return _MISSING
            current = current[int(index)]
        elif isinstance(current, dict) and key in current:
            current = current[key]
        else:
            return _MISSING
    return current


def _inside_string_positions(template: str) -> list[bool]:
    """For each character, whether it sits inside a JSON string literal."""
    inside: list[bool] = []
    in_string = False
    escaped = False
    for char in template:
        if in_string:
            inside.append(True)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                inside[-1] = False
        else:
            inside.append(False)
            if char == '"':
                in_string = True
    return inside


def render_template(template: str, values: dict[str, Any]) -> str:
    """Fill ``<name>`` placeholders as EventBridge's InputTransformer does.

    In a JSON template a value inside quotes is inserted as text (escaped), outside quotes as JSON
    (a string gets its quotes). A template that is not JSON (does not start with ``{``, ``[`` or
    ``"``) is plain text: values are inserted as they are. Missing paths become ``null`` / empty.
    """
    stripped = template.lstrip()
    json_mode = stripped[:1] in ("{", "[", '"')
    inside = _inside_string_positions(template) if json_mode else []
    out: list[str] = []
    last = 0
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1)
        if name not in values:
            continue
        value = values[name]
        out.append(template[last : match.start()])
        last = match.end()
        if not json_mode:
            out.append("" if value is _MISSING else value if isinstance(value, str) else json.dumps(value))
        elif inside[match.start()]:
            if value is _MISSING:
                text = ""
            elif isinstance(value, str):
                text = json.dumps(value)[1:-1]
            else:
                text = json.dumps(json.dumps(value))[1:-1]
            out.append(text)
        else:
            out.append("null" if value is _MISSING else json.dumps(value))
    out.append(template[last:])
    return "".join(out)


def render_rule_input(target: dict[str, Any], event: dict[str, Any], rule_arn: str, rule_name: str) -> str:
    """The text a rule target receives for ``event`` (JSON, or plain text from a text template)."""
    if target.get("Input") is not None:
        constant = target["Input"]
        return constant if isinstance(constant, str) else json.dumps(constant)
    if target.get("InputPath"):
        value = json_path(event, str(target["InputPath"]))
        return json.dumps(None if value is _MISSING else value)
    transformer = target.get("InputTransformer")
    if transformer:
        values: dict[str, Any] = {
            name: json_path(event, str(path))
            for name, path in (transformer.get("InputPathsMap") or {}).items()
        }
        values.setdefault("aws.events.rule-arn", rule_arn)
        values.setdefault("aws.events.rule-name", rule_name)
        values.setdefault("aws.events.event", event)
        values.setdefault("aws.events.event.json", event)
        values.setdefault("aws.events.event.ingestion-time", event.get("time"))
        return render_template(str(transformer.get("InputTemplate", "")), values)
    return json.dumps(event)


def _as_event(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass
class Delivery:
    """A queued asynchronous invocation of a function or a state machine."""

    arn: str
    payload: str
    trigger: str
    origin: str
    attempt: int = 0
    dead_letter_arn: str | None = None


class Dispatcher:
    """Delivers payloads to target ARNs; queues the asynchronous ones until the cloud drains them."""

    def __init__(self, runner: Runner, clients: Clients, *, account_id: str, region: str) -> None:
        self.runner = runner
        self.clients = clients
        self.account_id = account_id
        self.region = region
        self._queue: deque[Delivery] = deque()
        self._lock = threading.Lock()

    # -- queue --------------------------------------------------------------------------------------------
    def pending(self) -> int:
        return len(self._queue)

    def enqueue(self, delivery: Delivery) -> None:
        with self._lock:
            self._queue.append(delivery)

    def drain(self) -> int:
        """Run the deliveries queued now; those they queue in turn wait for the next round."""
        with self._lock:
            batch = list(self._queue)
            self._queue.clear()
        for delivery in batch:
            self._run(delivery)
        return len(batch)

    # -- delivering ------------------------------------------------------------------------------------------
    def deliver(
        self,
        arn: str,
        payload: str,
        *,
        trigger: str,
        origin: str,
        dead_letter_arn: str | None = None,
        sqs_group_id: str | None = None,
        dedup_id: str | None = None,
        bus_parameters: dict[str, Any] | None = None,
    ) -> None:
        """Deliver ``payload`` to ``arn`` (SQS and buses now, functions and state machines queued)."""
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        try:
            if service in ("lambda", "states"):
                self.enqueue(Delivery(arn, payload, trigger, origin, dead_letter_arn=dead_letter_arn))
            elif service == "sqs":
                self.send_sqs(arn, payload, group_id=sqs_group_id, dedup_id=dedup_id)
            elif service == "events":
                self._put_on_bus(arn, payload, bus_parameters or {})
            elif service == "sns":
                self.clients("sns").publish(TopicArn=arn, Message=payload)
            else:
                raise RunnerError(f"target type {service or arn!r} is not delivered by the local cloud")
        except Exception as exc:
            self._failed_delivery(arn, payload, origin, dead_letter_arn, exc)

    def send_sqs(
        self, arn: str, body: str, *, group_id: str | None = None, dedup_id: str | None = None
    ) -> None:
        name = arn.rsplit(":", 1)[1]
        url = f"https://sqs.{self.region}.amazonaws.com/{arn.split(':')[4]}/{name}"
        params: dict[str, Any] = {"QueueUrl": url, "MessageBody": body}
        if name.endswith(".fifo"):
            params["MessageGroupId"] = group_id or "default"
            params["MessageDeduplicationId"] = dedup_id or uuid.uuid4().hex
        self.clients("sqs").send_message(**params)

    def _put_on_bus(self, arn: str, payload: str, parameters: dict[str, Any]) -> None:
        bus = arn.split("/", 1)[1] if "/" in arn else "default"
        document = _as_event(payload)
        if parameters.get("DetailType") or parameters.get("Source"):
            entry = {
                "EventBusName": bus,
                "Source": parameters.get("Source", "aws.scheduler"),
                "DetailType": parameters.get("DetailType", "Scheduled Event"),
                "Detail": payload if isinstance(document, dict) else json.dumps({"input": document}),
            }
        elif isinstance(document, dict) and "detail" in document:
            entry = {
                "EventBusName": bus,
                "Source": document.get("source", "aws.events"),
                "DetailType": document.get("detail-type", "Event"),
                "Detail": json.dumps(document.get("detail", {})),
                "Resources": document.get("resources", []),
            }
        else:
            raise RunnerError(f"cannot forward {payload[:80]!r} to bus {bus}: not an event")
        result = self.clients("events").put_events(Entries=[entry])
        if result.get("FailedEntryCount"):
            raise RunnerError(f"PutEvents to {bus} failed: {result['Entries']}")

    def _failed_delivery(
        self, arn: str, payload: str, origin: str, dead_letter_arn: str | None, exc: Exception
    ) -> None:
        LOG.warning("delivery from %s to %s failed: %s", origin, arn, exc)
        if dead_letter_arn:
            try:
                self.send_sqs(dead_letter_arn, payload)
                LOG.warning(
                    "delivery from %s to %s sent to dead-letter queue %s", origin, arn, dead_letter_arn
                )
            except Exception:
                LOG.exception("dead-letter queue %s failed too", dead_letter_arn)

    def _run(self, delivery: Delivery) -> None:
        service = delivery.arn.split(":")[2]
        if service == "states":
            try:
                name = f"{delivery.trigger}-{uuid.uuid4().hex[:24]}"
                body = (
                    delivery.payload
                    if isinstance(_as_event(delivery.payload), (dict, list))
                    else json.dumps(delivery.payload)
                )
                started = self.clients("stepfunctions").start_execution(
                    stateMachineArn=delivery.arn, name=name, input=body
                )
                LOG.debug(
                    "%s started %s", delivery.origin, started["executionArn"].rsplit(":", 2)[-2] + ":" + name
                )
            except Exception as exc:
                self._failed_delivery(
                    delivery.arn, delivery.payload, delivery.origin, delivery.dead_letter_arn, exc
                )
            return
        try:
            spec = self.runner.find(delivery.arn)
        except RunnerError as exc:
            self._failed_delivery(
                delivery.arn, delivery.payload, delivery.origin, delivery.dead_letter_arn, exc
            )
            return
        result = self.runner.invoke(spec.logical_id, _as_event(delivery.payload), trigger=delivery.trigger)
        if result.ok:
            return
        if delivery.attempt < spec.async_max_retries:
            delivery.attempt += 1
            self.enqueue(delivery)
            return
        destination = spec.async_on_failure_arn or spec.dead_letter_arn
        LOG.warning(
            "%s failed %d time(s) on an asynchronous event from %s%s",
            spec.logical_id,
            delivery.attempt + 1,
            delivery.origin,
            f"; event sent to {destination}"
            if destination
            else "; event dropped (no on-failure destination)",
        )
        if destination:
            record = {
                "version": "1.0",
                "requestContext": {
                    "requestId": result.record.request_id,
                    "functionArn": f"{spec.arn}:$LATEST",
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": delivery.attempt + 1,
                },
                "requestPayload": _as_event(delivery.payload),
                "responseContext": {
                    "statusCode": 200,
                    "executedVersion": "$LATEST",
                    "functionError": "Unhandled",
                },
                "responsePayload": result.error,
            }
            body = json.dumps(record) if spec.async_on_failure_arn else delivery.payload
            self.deliver(destination, body, trigger="async", origin=spec.logical_id)
