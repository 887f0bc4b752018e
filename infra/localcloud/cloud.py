"""``LocalCloud``: the whole serverless system in one process, on in-process moto.

    with LocalCloud.start(Path(".")) as cloud:
        cloud.invoke("MembersApiFunction", event, trigger="http")
        cloud.settle()                 # drain queues, streams, rules, schedules, state machines
        cloud.advance(7 * 86400)       # a week later: waits, schedules, visibility timeouts fire
        cloud.events, cloud.invocations, cloud.outbox

Quiescence (what :meth:`LocalCloud.settle` waits for): no due schedule occurrence, no queued
asynchronous delivery, no visible message in a mapped queue, no unread record in a mapped stream
(outside a retry backoff), and every Step Functions interpreter thread either finished or parked
(waiting on the virtual clock with a deadline still ahead, or waiting for a branch, an iteration
or a task token). Work that waits on virtual time — failed messages' visibility timeouts, Wait
states, schedules — is what :meth:`LocalCloud.advance` moves through, in time order.

Memory stays bounded however far the clock goes (``python -m bench.localcloud_memory`` measures
it): the invocation log and recent events keep the newest 1,000, the outbox the newest
:data:`OUTBOX_HISTORY`; DynamoDB streams keep 24 h of records and Step Functions executions are
forgotten 90 days after they closed, as on AWS; moto no longer keeps every model instance it
creates (``moto_patches``: ``untracked-models``, ``stream-trim``). A TransactWriteItems keeps a
copy of the items it touches, not of whole tables (``transact-rollback``), so writes do not slow
down as the tables grow.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from infra.localcloud import moto_patches
from infra.localcloud.clients import Clients
from infra.localcloud.clock import VirtualClock
from infra.localcloud.pollers import SqsPoller, StreamPoller
from infra.localcloud.provision import EventSourceMapping, Provisioner, Resource
from infra.localcloud.routes import ApiInfo, ApiRoute, parse_apis
from infra.localcloud.runner import FunctionSpec, InvocationRecord, InvokeResult, Runner, RunnerError
from infra.localcloud.scheduler import Scheduler
from infra.localcloud.targets import Delivery, Dispatcher, render_rule_input
from infra.localcloud.template import TranslatedTemplate, load_template

__all__ = ["LocalCloud", "SettleError", "UserPoolInfo"]

LOG = logging.getLogger("infra.localcloud")

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "mallcrm-local"

_SFN_SETTLE_TIMEOUT = 60.0  # real seconds a state machine may stay busy before settle() gives up
_HISTORY = 1000  # invocations and bus events kept for /_local/invocations and /_local/events
# Messages the local fake channel adapters 'sent', kept for /_local/outbox (and the SES event
# simulator, which looks an e-mail up there): the newest 10,000, so a long `make dev` stays bounded.
OUTBOX_HISTORY = 10_000


class SettleError(RuntimeError):
    """The cloud did not become quiet (a loop between functions, or a state machine stuck busy)."""


@dataclass(frozen=True)
class UserPoolInfo:
    logical_id: str
    pool_id: str
    client_id: str | None
    client_logical_id: str | None
    issuer: str
    jwks_url: str
    groups: list[str]


Poller = SqsPoller | StreamPoller


OUTBOX_LOGGER = "mallcrm.local_outbox"


class _OutboxLogHandler(logging.Handler):
    """Records what local fake adapters 'sent' (a log record carrying ``outbox``) in the cloud's outbox."""

    def __init__(self, cloud: LocalCloud) -> None:
        super().__init__(level=logging.INFO)
        self.cloud = cloud

    def emit(self, record: logging.LogRecord) -> None:
        entry = getattr(record, "outbox", None)
        if isinstance(entry, dict):
            self.cloud.record_outbox(dict(entry))


class LocalCloud:
    """The local cloud. Create it with :meth:`start`; one per process at a time."""

    def __init__(
        self,
        root: Path | str = ".",
        *,
        template: str | Path = "template.yaml",
        parameters: Mapping[str, Any] | None = None,
        start: datetime | None = None,
        stack_name: str = STACK_NAME,
        cache_dir: Path | bool | None = True,
    ) -> None:
        self.root = Path(root).resolve()
        if cache_dir is True:
            self.cache_dir: Path | None = self.root / ".localcloud" / "cache"
        else:
            self.cache_dir = cache_dir or None
        path = Path(template)
        self.template_path = path if path.is_absolute() else self.root / path
        self.parameters = dict(parameters or {})
        self.region = REGION
        self.account_id = ACCOUNT_ID
        self.stack_name = stack_name
        self.clock = VirtualClock(start)
        self.clients = Clients(self.region)
        self.runner = Runner(self.root, self.clock, region=self.region, history=_HISTORY)
        self.dispatcher = Dispatcher(
            self.runner, self.clients, account_id=self.account_id, region=self.region
        )
        self.scheduler = Scheduler(
            self.clock, self.dispatcher, account_id=self.account_id, region=self.region
        )
        self.translated: TranslatedTemplate | None = None
        self.provisioner: Provisioner | None = None
        self.pollers: list[Poller] = []
        self.boot_phases: dict[str, float] = {}
        self.boot_seconds = 0.0
        self._mock: Any = None
        self._started = False
        self._settle_lock = threading.RLock()
        self._events: deque[dict[str, Any]] = deque(maxlen=_HISTORY)
        self._events_lock = threading.Lock()
        self._matched: dict[str, list[str]] = {}
        self._outbox: deque[dict[str, Any]] = deque(maxlen=OUTBOX_HISTORY)
        self._outbox_lock = threading.Lock()
        self._background: threading.Thread | None = None
        self._background_stop = threading.Event()
        self._front_door: Any = None
        self._apis: list[ApiInfo] | None = None
        self._shared_clock_installed = False

    # -- lifecycle ----------------------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        root: Path | str = ".",
        *,
        template: str | Path = "template.yaml",
        parameters: Mapping[str, Any] | None = None,
        start: datetime | None = None,
    ) -> LocalCloud:
        """Translate the template, boot moto, create the resources, and return the running cloud."""
        cloud = cls(root, template=template, parameters=parameters, start=start)
        cloud._boot()
        return cloud

    def _phase(self, name: str, began: float) -> float:
        now = time.perf_counter()
        self.boot_phases[name] = now - began
        return now

    def _boot(self) -> None:
        began = t = time.perf_counter()
        os.environ.setdefault("AWS_DEFAULT_REGION", self.region)
        os.environ["AWS_ACCOUNT_ID_ENDPOINT_MODE"] = "disabled"
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        self.translated = load_template(
            self.template_path,
            self.parameters,
            region=self.region,
            account_id=self.account_id,
            stack_name=self.stack_name,
            cache_dir=self.cache_dir,
        )
        t = self._phase("translate", t)
        from moto import mock_aws

        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        try:
            moto_patches.install(
                moto_patches.Hooks(
                    clock=self.clock,
                    invoke=self._hook_invoke,
                    invoke_async=self._hook_invoke_async,
                    rule_matched=self._hook_rule_matched,
                    event_put=self._hook_event_put,
                )
            )
            self._started = True
            t = self._phase("moto", t)
            self.provisioner = Provisioner(
                self.translated,
                self.clients,
                region=self.region,
                account_id=self.account_id,
                stack_name=self.stack_name,
                root=self.root,
                cache_dir=self.cache_dir,
            )
            self.provisioner.run()
            t = self._phase("provision", t)
            for spec in self.provisioner.all_functions().values():
                self.runner.register(spec)
            for mapping in self.provisioner.all_mappings():
                poller = self._poller(mapping)
                if poller is not None:
                    self.pollers.append(poller)
            self.scheduler.refresh()
            self._install_shared_clock()
            self._install_outbox_logger()
            self._phase("wire", t)
        except BaseException:
            self.stop()
            raise
        self.boot_seconds = time.perf_counter() - began
        LOG.info(
            "local cloud up in %.2f s: %d resources, %d functions, %d mappings (%s)",
            self.boot_seconds,
            len(self.provisioner.all_resources()),
            len(self.runner.functions),
            len(self.pollers),
            ", ".join(f"{k} {v:.2f}s" for k, v in self.boot_phases.items()),
        )

    def _poller(self, mapping: EventSourceMapping) -> Poller | None:
        if mapping.kind == "sqs":
            return SqsPoller(
                mapping, self.runner, self.clients, self.clock, account_id=self.account_id, region=self.region
            )
        if mapping.kind == "dynamodb":
            return StreamPoller(
                mapping,
                self.runner,
                self.clients,
                self.clock,
                self.dispatcher,
                account_id=self.account_id,
                region=self.region,
            )
        return None

    def _install_shared_clock(self) -> None:
        try:
            from shared import clock as shared_clock
        except ImportError:
            LOG.debug("shared.clock is not importable: handlers will see real time")
            return
        shared_clock.set_clock(self.clock.now)
        self._shared_clock_installed = True

    def _install_outbox_logger(self) -> None:
        """Local fake channel adapters log each message on ``mallcrm.local_outbox`` with
        ``extra={"outbox": {...}}`` (see docs/contracts/outbox.md); this turns those records into
        :attr:`outbox` entries. Functions run in this process, so a logging handler is all it takes."""
        handler = _OutboxLogHandler(self)
        outbox_logger = logging.getLogger(OUTBOX_LOGGER)
        outbox_logger.setLevel(logging.INFO)
        outbox_logger.addHandler(handler)
        self._outbox_handler: _OutboxLogHandler | None = handler

    def stop(self) -> None:
        """Stop background work, abort running executions, restore moto, and drop every resource."""
        self.stop_background()
        outbox_handler = getattr(self, "_outbox_handler", None)
        if outbox_handler is not None:
            logging.getLogger(OUTBOX_LOGGER).removeHandler(outbox_handler)
            self._outbox_handler = None
        if self._shared_clock_installed:
            from shared import clock as shared_clock

            shared_clock.set_clock(None)
            self._shared_clock_installed = False
        if self._started:
            moto_patches.sfn_stop_all(self.account_id, self.region)
            self.clock.advance(0)  # wakes sleepers so they see they were stopped
            moto_patches.uninstall()
            self._started = False
        if self._mock is not None:
            self._mock.stop()
            self._mock = None

    def __enter__(self) -> LocalCloud:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- hooks (called from moto) -------------------------------------------------------------------------
    def _hook_invoke(self, function: str, event: Any, trigger: str) -> tuple[str, bool]:
        try:
            spec = self.runner.find(function)
        except RunnerError as exc:
            return json.dumps({"errorType": "ResourceNotFoundException", "errorMessage": str(exc)}), True
        result = self.runner.invoke(spec.logical_id, event, trigger=trigger)
        if result.error is not None:
            return json.dumps(result.error), True
        try:
            return json.dumps(result.payload), False
        except (TypeError, ValueError) as exc:
            error = {
                "errorType": "Runtime.MarshalError",
                "errorMessage": f"Unable to marshal response: {exc}",
            }
            return json.dumps(error), True

    def _hook_invoke_async(self, function_arn: str, event: Any) -> None:
        self.dispatcher.enqueue(Delivery(function_arn, json.dumps(event), "async", "Invoke(Event)"))

    def _hook_rule_matched(self, rule: Any, event: dict[str, Any]) -> list[dict[str, Any]]:
        with self._events_lock:
            self._matched.setdefault(str(event.get("id")), []).append(rule.name)
        leftover: list[dict[str, Any]] = []
        for target in rule.targets:
            arn = str(target.get("Arn", ""))
            service = arn.split(":")[2] if arn.count(":") >= 5 else ""
            if service not in ("lambda", "states", "sqs", "events", "sns"):
                leftover.append(target)
                continue
            if service == "events" and ":event-bus/" not in arn:
                leftover.append(target)  # an archive
                continue
            payload = render_rule_input(target, event, rule.arn, rule.name)
            self.dispatcher.deliver(
                arn,
                payload,
                trigger="rule",
                origin=f"rule {rule.name}",
                dead_letter_arn=(target.get("DeadLetterConfig") or {}).get("Arn"),
                sqs_group_id=(target.get("SqsParameters") or {}).get("MessageGroupId"),
                dedup_id=str(event.get("id")),
            )
        return leftover

    def _hook_event_put(self, bus: str, entry: dict[str, Any], event_id: str) -> None:
        try:
            detail = json.loads(entry.get("Detail") or "{}")
        except ValueError:
            detail = entry.get("Detail")
        with self._events_lock:
            rules = self._matched.pop(event_id, [])
            self._events.append(
                {
                    "id": event_id,
                    "time": moto_patches.iso_time(entry.get("Time")),
                    "bus": bus,
                    "source": entry.get("Source"),
                    "detail-type": entry.get("DetailType"),
                    "detail": detail,
                    "resources": entry.get("Resources", []),
                    "rules": rules,
                }
            )

    # -- running functions ----------------------------------------------------------------------------
    def invoke(self, logical_id: str, event: Any, trigger: str = "direct") -> InvokeResult:
        """Run a function in-process with its own environment and a Lambda context."""
        self._require_started()
        # Lambda receives JSON: a round trip catches what could not be sent and isolates the caller's dict.
        return self.runner.invoke(logical_id, json.loads(json.dumps(event)), trigger=trigger)

    def http(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        """The front door without a socket: the same code the HTTP server runs."""
        self._require_started()
        if self._front_door is None:
            from infra.localcloud.frontdoor import FrontDoor  # owned by the front door, imported lazily

            self._front_door = FrontDoor(self)
        return self._front_door.handle(method, path, headers, body)

    # -- settling --------------------------------------------------------------------------------------
    def _synchronous_round(self) -> int:
        work = self.scheduler.fire_due()
        for poller in self.pollers:
            work += poller.release_due()
        work += self.dispatcher.drain()
        for poller in self.pollers:
            work += poller.poll()
        return work

    def settle(self, max_rounds: int = 10_000) -> int:
        """Run everything that can run now, until the cloud is quiet. Returns the units of work done.

        A round fires due schedules, releases messages whose virtual visibility timeout passed,
        runs queued deliveries and polls every mapping once. The cloud is quiet after two rounds
        in a row with no work while no state machine thread is busy. Raises :class:`SettleError`
        when work is still coming after ``max_rounds`` rounds (a loop), or when a state machine
        stays busy for a minute of real time.
        """
        self._require_started()
        with self._settle_lock:
            total = 0
            rounds = 0
            busy_since: float | None = None
            quiet_checks = 0
            while True:
                work = self._synchronous_round()
                if work:
                    total += work
                    rounds += 1
                    quiet_checks = 0
                    busy_since = None
                    if rounds >= max_rounds:
                        raise SettleError(
                            f"still busy after {max_rounds} rounds ({total} units of work): a loop?"
                        )
                    continue
                busy = moto_patches.sfn_busy_threads(self.clock)
                if busy:
                    quiet_checks = 0
                    busy_since = busy_since or time.perf_counter()
                    if time.perf_counter() - busy_since > _SFN_SETTLE_TIMEOUT:
                        raise SettleError(
                            f"state machine threads still busy after {_SFN_SETTLE_TIMEOUT:.0f} s: {busy}"
                        )
                    time.sleep(0.0005)
                    continue
                quiet_checks += 1
                if quiet_checks >= 2:
                    return total
                time.sleep(0.0002)

    def next_deadline(self) -> datetime | None:
        """The earliest moment something is waiting for: a schedule, a visibility timeout, a Wait."""
        candidates = [self.scheduler.next_due(), self.clock.next_deadline()]
        candidates.extend(p.next_deadline() for p in self.pollers)
        present = [c for c in candidates if c is not None]
        return min(present) if present else None

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by ``seconds``, stopping at each deadline on the way, settling each time."""
        self._require_started()
        if seconds < 0:
            raise ValueError("the virtual clock never goes backwards")
        with self._settle_lock:
            target = self.clock.now() + timedelta(seconds=seconds)
            self.settle()
            stuck = 0
            while True:
                deadline = self.next_deadline()
                if deadline is None or deadline > target:
                    break
                before = self.clock.now()
                self.clock.advance_to(deadline)
                self.settle()
                if deadline <= before:
                    stuck += 1
                    if stuck > 1000:
                        raise SettleError(f"deadline {deadline.isoformat()} keeps coming back")
                else:
                    stuck = 0
            self.clock.advance_to(target)
            self.settle()
            self._forget_the_distant_past()
            return self.clock.now()

    def _forget_the_distant_past(self) -> None:
        """Drop what AWS would no longer show after a long advance: Step Functions executions
        closed more than 90 days ago (stream records older than 24 h are trimmed as they are written:
        moto_patches' ``stream-trim``)."""
        closed_before = self.clock.now() - timedelta(seconds=moto_patches.SFN_CLOSED_RETENTION_SECONDS)
        moto_patches.sfn_forget_closed_executions(self.account_id, self.region, closed_before)

    # -- background mode (make dev) ------------------------------------------------------------------------
    def run_background(self, interval: float = 0.2) -> None:
        """Let virtual time run at real speed and settle every ``interval`` seconds in a thread."""
        self._require_started()
        if self._background is not None:
            return
        self.clock.set_running(True)
        self._background_stop.clear()

        def loop() -> None:
            while not self._background_stop.wait(interval):
                try:
                    self.settle()
                except Exception:
                    LOG.exception("background settle failed")

        self._background = threading.Thread(target=loop, name="localcloud-background", daemon=True)
        self._background.start()

    def stop_background(self) -> None:
        thread = self._background
        if thread is None:
            return
        self._background_stop.set()
        thread.join(timeout=10)
        self._background = None
        self.clock.set_running(False)

    # -- looking inside --------------------------------------------------------------------------------------
    def _require_started(self) -> None:
        if not self._started:
            raise RuntimeError("the local cloud is not running (use LocalCloud.start(...))")

    @property
    def resources(self) -> dict[str, Any]:
        """The translated CloudFormation template's Resources."""
        return self.translated.resources if self.translated is not None else {}

    @property
    def provisioned(self) -> dict[str, Resource]:
        """Every resource as created: physical id, attributes, resolved properties, status."""
        return self.provisioner.all_resources() if self.provisioner is not None else {}

    def _find_resource(self, logical_id: str) -> Resource:
        resource = self.provisioned.get(logical_id)
        if resource is None:
            raise KeyError(f"no resource {logical_id!r} in the template")
        return resource

    def physical_id(self, logical_id: str) -> str:
        """A resource's name / ARN / URL: what ``Ref`` returns for it."""
        return str(self._find_resource(logical_id).physical_id)

    def attribute(self, logical_id: str, name: str) -> Any:
        """A resource's ``Fn::GetAtt`` attribute."""
        resource = self._find_resource(logical_id)
        if name not in resource.attributes:
            raise KeyError(f"{logical_id} has no attribute {name!r} (has {sorted(resource.attributes)})")
        return resource.attributes[name]

    @property
    def outputs(self) -> dict[str, Any]:
        return dict(self.provisioner.outputs) if self.provisioner is not None else {}

    @property
    def functions(self) -> dict[str, FunctionSpec]:
        return dict(self.runner.functions)

    @property
    def unsupported(self) -> list[str]:
        """Resources the local cloud does not emulate (recorded with placeholder ids)."""
        return self.provisioner.all_unsupported() if self.provisioner is not None else []

    def _function_logical_id(self, name: str) -> str | None:
        try:
            return self.runner.find(name).logical_id
        except RunnerError:
            return None

    @property
    def apis(self) -> list[ApiInfo]:
        if self._apis is None:
            self._apis = parse_apis(self.provisioned, self._function_logical_id)
        return self._apis

    @property
    def api_routes(self) -> list[ApiRoute]:
        """Every route of every HTTP API: method, path, function logical id, authorizer."""
        return [route for api in self.apis for route in api.routes]

    @property
    def api_cors(self) -> dict[str, Any] | None:
        """The (first) HTTP API's CORS configuration (``x-amazon-apigateway-cors``)."""
        return next((api.cors for api in self.apis if api.cors), None)

    @property
    def api_id(self) -> str | None:
        """The (first) HTTP API's id."""
        return self.apis[0].api_id if self.apis else None

    @property
    def user_pools(self) -> dict[str, UserPoolInfo]:
        provisioned = self.provisioned
        found: dict[str, UserPoolInfo] = {}
        for logical_id, resource in provisioned.items():
            if resource.type != "AWS::Cognito::UserPool":
                continue
            pool_id = resource.physical_id
            clients = [
                (k, r)
                for k, r in provisioned.items()
                if r.type == "AWS::Cognito::UserPoolClient" and r.properties.get("UserPoolId") == pool_id
            ]
            groups = [
                r.physical_id
                for r in provisioned.values()
                if r.type == "AWS::Cognito::UserPoolGroup" and r.properties.get("UserPoolId") == pool_id
            ]
            issuer = f"https://cognito-idp.{self.region}.amazonaws.com/{pool_id}"
            found[logical_id] = UserPoolInfo(
                logical_id=logical_id,
                pool_id=pool_id,
                client_id=clients[0][1].physical_id if clients else None,
                client_logical_id=clients[0][0] if clients else None,
                issuer=issuer,
                jwks_url=f"{issuer}/.well-known/jwks.json",
                groups=groups,
            )
        return found

    @property
    def user_pool(self) -> UserPoolInfo | None:
        """The (first) Cognito user pool: pool id, client id, issuer."""
        pools = self.user_pools
        return next(iter(pools.values())) if pools else None

    @property
    def events(self) -> list[dict[str, Any]]:
        """Recent events put on any bus (newest last), with the rules each matched."""
        with self._events_lock:
            return list(self._events)

    @property
    def outbox(self) -> list[dict[str, Any]]:
        """Messages the local fake channel adapters 'sent' (SMS, push, e-mail, ...): the newest
        :data:`OUTBOX_HISTORY`, oldest first."""
        with self._outbox_lock:
            return list(self._outbox)

    def record_outbox(self, message: dict[str, Any]) -> None:
        """Called by the local channel adapters instead of sending."""
        entry = {"id": str(uuid.uuid4()), "at": self.clock.now().isoformat(), **message}
        with self._outbox_lock:
            self._outbox.append(entry)

    @property
    def invocations(self) -> list[InvocationRecord]:
        """Recent invocations (newest last)."""
        return self.runner.invocations

    def client(self, service: str) -> Any:
        """A cached boto3 client on the local cloud (for tests and tools)."""
        return self.clients(service)

    def executions(self, logical_id: str | None = None) -> list[dict[str, Any]]:
        """Step Functions executions (``describe_execution`` output), optionally of one state machine."""
        sfn = self.clients("stepfunctions")
        machines = [
            r.physical_id
            for k, r in self.provisioned.items()
            if r.type == "AWS::StepFunctions::StateMachine" and (logical_id is None or k == logical_id)
        ]
        found: list[dict[str, Any]] = []
        for arn in machines:
            for item in sfn.list_executions(stateMachineArn=arn).get("executions", []):
                found.append(sfn.describe_execution(executionArn=item["executionArn"]))
        return found
