"""Create the translated template's resources in in-process moto, directly, with boto3.

moto's CloudFormation is too weak for a real SAM template (no Scheduler schedules, no Cognito,
``DefinitionSubstitutions`` ignored, API Gateway v2 fails), so each resource type has a small
function here that resolves the properties and calls the service API. Resources are created in
dependency order; each one's ``Ref`` value and ``Fn::GetAtt`` attributes are recorded for the
resources after it. Event source mappings are only recorded (the cloud's pollers run them), API
Gateway v2 resources are recorded for the front door, and types the local cloud does not emulate
are logged and recorded with placeholder ids.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import secrets
import string
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from infra.localcloud.clients import Clients, api_params
from infra.localcloud.intrinsics import IntrinsicError, Resolver, creation_order
from infra.localcloud.runner import FunctionSpec
from infra.localcloud.template import TranslatedTemplate, load_template

__all__ = [
    "EventSourceMapping",
    "ProvisionError",
    "Provisioner",
    "Resource",
]

LOG = logging.getLogger("infra.localcloud.provision")

_SUBSTITUTION = re.compile(r"\$\{[A-Za-z0-9_]+\}")


class ProvisionError(RuntimeError):
    """A resource could not be created."""


@dataclass
class Resource:
    """A resource as the local cloud holds it: its Ref value, attributes and resolved properties."""

    logical_id: str
    type: str
    physical_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    status: str = "created"  # created | recorded | skipped | unsupported


@dataclass
class EventSourceMapping:
    """An AWS::Lambda::EventSourceMapping, resolved, for the pollers."""

    logical_id: str
    uuid: str
    function: str  # logical id of the function
    source_arn: str
    kind: str  # sqs | dynamodb | other
    batch_size: int
    enabled: bool = True
    starting_position: str = "LATEST"
    filters: list[dict[str, Any]] = field(default_factory=list)
    report_batch_item_failures: bool = False
    maximum_retry_attempts: int = -1
    bisect_on_error: bool = False
    on_failure_arn: str | None = None
    maximum_record_age: int = -1
    properties: dict[str, Any] = field(default_factory=dict)


_DUMMY_ZIP: bytes | None = None


def dummy_zip() -> bytes:
    """A tiny valid zip: moto wants code for every function and layer."""
    global _DUMMY_ZIP  # noqa: PLW0603 - built once
    if _DUMMY_ZIP is None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("README.txt", "code runs in-process in the local cloud\n")
        _DUMMY_ZIP = buffer.getvalue()
    return _DUMMY_ZIP


def _bool(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def _int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    return int(value)


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]


def _generate_secret(spec: dict[str, Any]) -> str:
    length = _int(spec.get("PasswordLength"), 32)
    alphabet = ""
    if not _bool(spec.get("ExcludeLowercase")):
        alphabet += string.ascii_lowercase
    if not _bool(spec.get("ExcludeUppercase")):
        alphabet += string.ascii_uppercase
    if not _bool(spec.get("ExcludeNumbers")):
        alphabet += string.digits
    if not _bool(spec.get("ExcludePunctuation")):
        alphabet += "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    if _bool(spec.get("IncludeSpace")):
        alphabet += " "
    excluded = set(str(spec.get("ExcludeCharacters") or ""))
    alphabet = "".join(c for c in alphabet if c not in excluded) or string.ascii_letters
    password = "".join(secrets.choice(alphabet) for _ in range(length))
    template = spec.get("SecretStringTemplate")
    key = spec.get("GenerateStringKey")
    if template and key:
        document = json.loads(template)
        document[key] = password
        return json.dumps(document)
    return password


class Provisioner:
    """Creates one (possibly nested) translated template's resources."""

    def __init__(
        self,
        template: TranslatedTemplate,
        clients: Clients,
        *,
        region: str,
        account_id: str,
        stack_name: str,
        prefix: str = "",
        root: Path | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.template = template
        self.clients = clients
        self.region = region
        self.account_id = account_id
        self.stack_name = stack_name
        self.prefix = prefix
        self.root = root
        self.cache_dir = cache_dir
        self.resources: dict[str, Resource] = {}
        self.functions: dict[str, FunctionSpec] = {}
        self.mappings: list[EventSourceMapping] = []
        self.children: dict[str, Provisioner] = {}
        self.outputs: dict[str, Any] = {}
        self.unsupported: list[str] = []
        self._function_names: dict[str, str] = {}
        self._async_config: dict[str, dict[str, Any]] = {}
        cfn = template.cfn
        parameter_types = {
            k: str((v or {}).get("Type", "String")) for k, v in (cfn.get("Parameters") or {}).items()
        }
        self.resolver = Resolver(
            parameters=template.parameters,
            parameter_types=parameter_types,
            mappings=cfn.get("Mappings") or {},
            conditions=cfn.get("Conditions") or {},
            ref=self._ref,
            get_att=self._get_att,
            region=region,
            account_id=account_id,
            stack_name=stack_name,
        )
        self._handlers: dict[str, Callable[[str, dict[str, Any]], Resource]] = {
            "AWS::DynamoDB::Table": self._dynamodb_table,
            "AWS::DynamoDB::GlobalTable": self._dynamodb_table,
            "AWS::SQS::Queue": self._sqs_queue,
            "AWS::SNS::Topic": self._sns_topic,
            "AWS::SNS::Subscription": self._sns_subscription,
            "AWS::Events::EventBus": self._event_bus,
            "AWS::Events::Rule": self._event_rule,
            "AWS::Scheduler::ScheduleGroup": self._schedule_group,
            "AWS::Scheduler::Schedule": self._schedule,
            "AWS::StepFunctions::StateMachine": self._state_machine,
            "AWS::Lambda::Function": self._lambda_function,
            "AWS::Lambda::LayerVersion": self._lambda_layer,
            "AWS::Lambda::EventSourceMapping": self._event_source_mapping,
            "AWS::Lambda::EventInvokeConfig": self._event_invoke_config,
            "AWS::Lambda::Version": self._lambda_version,
            "AWS::Lambda::Alias": self._lambda_alias,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::KMS::Key": self._kms_key,
            "AWS::KMS::Alias": self._kms_alias,
            "AWS::Cognito::UserPool": self._user_pool,
            "AWS::Cognito::UserPoolClient": self._user_pool_client,
            "AWS::Cognito::UserPoolGroup": self._user_pool_group,
            "AWS::SecretsManager::Secret": self._secret,
            "AWS::IAM::Role": self._iam_role,
            "AWS::S3::Bucket": self._s3_bucket,
            "AWS::SSM::Parameter": self._ssm_parameter,
            "AWS::CloudFormation::Stack": self._nested_stack,
        }
        self._recorded = {
            "AWS::SQS::QueuePolicy",
            "AWS::SNS::TopicPolicy",
            "AWS::Lambda::Permission",
            "AWS::Lambda::Url",
            "AWS::Events::EventBusPolicy",
            "AWS::IAM::Policy",
            "AWS::IAM::ManagedPolicy",
            "AWS::S3::BucketPolicy",
            "AWS::Logs::SubscriptionFilter",
            "AWS::Logs::MetricFilter",
            "AWS::Cognito::UserPoolDomain",
            "AWS::Cognito::UserPoolResourceServer",
            "AWS::SecretsManager::SecretTargetAttachment",
            "AWS::SecretsManager::RotationSchedule",
            "AWS::KMS::ReplicaKey",
            # SES is not emulated (moto sends nothing, publishes no events): the configuration set
            # is recorded under its name, as Ref gives it; local e-mail events come from
            # services/campaigns/dal/local_ses.py.
            "AWS::SES::ConfigurationSet",
            "AWS::SES::ConfigurationSetEventDestination",
        }

    # -- Ref / GetAtt -------------------------------------------------------------------------------
    def _resource(self, logical_id: str) -> Resource:
        resource = self.resources.get(logical_id)
        if resource is None:
            if logical_id in self.template.resources:
                raise IntrinsicError(
                    f"{logical_id} is referenced before it exists (or its Condition is false)"
                )
            raise IntrinsicError(f"unknown resource {logical_id!r}")
        if resource.status == "skipped":
            raise IntrinsicError(f"{logical_id} is referenced but its Condition is false")
        return resource

    def _ref(self, logical_id: str) -> Any:
        return self._resource(logical_id).physical_id

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        resource = self._resource(logical_id)
        if attribute in resource.attributes:
            return resource.attributes[attribute]
        if resource.status == "unsupported":
            return f"{logical_id}.{attribute}"
        known = ", ".join(sorted(resource.attributes)) or "none"
        raise IntrinsicError(
            f"Fn::GetAtt {logical_id}.{attribute}: unknown attribute ({resource.type} has {known})"
        )

    # -- naming -------------------------------------------------------------------------------------
    def generated_name(self, logical_id: str, max_length: int = 64, suffix: str = "") -> str:
        """A stable physical name like CloudFormation's ``<stack>-<logical>-<hash>``."""
        base = f"{self.stack_name}-{logical_id}"
        tail = f"-{_short_hash(base)}{suffix}"
        return base[: max_length - len(tail)] + tail

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"

    # -- running ------------------------------------------------------------------------------------
    def run(self) -> None:
        """Create every resource, in dependency order."""
        resources = self.template.resources
        for logical_id in creation_order(resources):
            definition = resources[logical_id] or {}
            kind = str(definition.get("Type", ""))
            condition = definition.get("Condition")
            if condition is not None and not self.resolver.condition(str(condition)):
                self.resources[logical_id] = Resource(logical_id, kind, "", status="skipped")
                continue
            try:
                self.resources[logical_id] = self._create(logical_id, kind, definition)
            except (IntrinsicError, ProvisionError):
                raise
            except Exception as exc:
                raise ProvisionError(f"{self.prefix}{logical_id} ({kind}): {exc}") from exc
        self._finish_functions()
        for name, output in (self.template.cfn.get("Outputs") or {}).items():
            condition = (output or {}).get("Condition")
            if condition is not None and not self.resolver.condition(str(condition)):
                continue
            try:
                self.outputs[name] = self.resolver.resolve((output or {}).get("Value"))
            except IntrinsicError as exc:
                LOG.warning("output %s%s not resolved: %s", self.prefix, name, exc)

    def _create(self, logical_id: str, kind: str, definition: dict[str, Any]) -> Resource:
        handler = self._handlers.get(kind)
        if handler is not None:
            props = self.resolver.resolve(definition.get("Properties") or {})
            resource = handler(logical_id, props)
            resource.properties = props
            return resource
        if kind in self._recorded or kind.startswith("AWS::ApiGatewayV2::"):
            props = self.resolver.resolve(definition.get("Properties") or {})
            return self._record(logical_id, kind, props)
        LOG.warning(
            "localcloud: %s%s (%s) is not emulated; recorded with placeholder ids and otherwise ignored",
            self.prefix,
            logical_id,
            kind,
        )
        self.unsupported.append(f"{self.prefix}{logical_id} ({kind})")
        physical = self.generated_name(logical_id)
        return Resource(
            logical_id, kind, physical, {"Arn": self.arn("unknown", physical)}, status="unsupported"
        )

    def _record(self, logical_id: str, kind: str, props: dict[str, Any]) -> Resource:
        physical = f"{logical_id}-{_short_hash(self.stack_name + logical_id)}"
        attributes: dict[str, Any] = {}
        if kind == "AWS::ApiGatewayV2::Api":
            physical = hashlib.sha1(
                (self.stack_name + logical_id).encode(), usedforsecurity=False
            ).hexdigest()[:10]
            attributes = {
                "ApiId": physical,
                "ApiEndpoint": f"https://{physical}.execute-api.{self.region}.amazonaws.com",
            }
        elif kind == "AWS::ApiGatewayV2::Stage":
            physical = str(props.get("StageName", "$default"))
        elif kind in (
            "AWS::ApiGatewayV2::Authorizer",
            "AWS::ApiGatewayV2::Route",
            "AWS::ApiGatewayV2::Integration",
        ):
            attributes = {f"{kind.rsplit('::', 1)[1]}Id": physical}
        elif kind == "AWS::SES::ConfigurationSet" and props.get("Name"):
            physical = str(props["Name"])
        elif kind == "AWS::IAM::ManagedPolicy":
            physical = self.arn("iam", f"policy/{self.generated_name(logical_id)}").replace(
                f":{self.region}:", "::"
            )
        return Resource(logical_id, kind, physical, attributes, props, status="recorded")

    # -- DynamoDB -------------------------------------------------------------------------------------
    def _dynamodb_table(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("dynamodb")
        name = props.get("TableName") or self.generated_name(logical_id, 255)
        billing = props.get("BillingMode", "PROVISIONED")
        params: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": billing,
        }
        throughput = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        if billing == "PROVISIONED":
            params["ProvisionedThroughput"] = props.get("ProvisionedThroughput") or throughput
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(key):
                indexes = []
                for declared in props[key]:
                    index = {k: v for k, v in declared.items() if k != "ContributorInsightsSpecification"}
                    if billing == "PROVISIONED" and key == "GlobalSecondaryIndexes":
                        index.setdefault("ProvisionedThroughput", throughput)
                    elif billing != "PROVISIONED":
                        index.pop("ProvisionedThroughput", None)
                    indexes.append(index)
                params[key] = indexes
        stream = props.get("StreamSpecification")
        if stream and stream.get("StreamViewType"):
            params["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        sse = props.get("SSESpecification")
        if sse:
            params["SSESpecification"] = {
                k: v
                for k, v in {
                    "Enabled": _bool(sse.get("SSEEnabled")),
                    "SSEType": sse.get("SSEType"),
                    "KMSMasterKeyId": sse.get("KMSMasterKeyId"),
                }.items()
                if v is not None
            }
        if props.get("TableClass"):
            params["TableClass"] = props["TableClass"]
        if props.get("DeletionProtectionEnabled") is not None:
            params["DeletionProtectionEnabled"] = _bool(props["DeletionProtectionEnabled"])
        description = client.create_table(**api_params(client, "CreateTable", params))["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and _bool(ttl.get("Enabled")):
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        # PointInTimeRecoverySpecification, ContributorInsights, Tags: accepted, nothing to emulate.
        attributes = {"Arn": description["TableArn"]}
        if description.get("LatestStreamArn"):
            attributes["StreamArn"] = description["LatestStreamArn"]
        return Resource(logical_id, "AWS::DynamoDB::Table", name, attributes)

    # -- SQS / SNS ----------------------------------------------------------------------------------
    def _sqs_queue(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("sqs")
        fifo = _bool(props.get("FifoQueue"))
        name = props.get("QueueName") or self.generated_name(logical_id, 80, ".fifo" if fifo else "")
        attributes: dict[str, str] = {}
        for key, value in props.items():
            if key in ("QueueName", "Tags"):
                continue
            if isinstance(value, dict):
                attributes[key] = json.dumps(value)
            elif isinstance(value, bool):
                attributes[key] = "true" if value else "false"
            else:
                attributes[key] = str(value)
        if not fifo:
            for fifo_only in (
                "FifoQueue",
                "ContentBasedDeduplication",
                "DeduplicationScope",
                "FifoThroughputLimit",
            ):
                attributes.pop(fifo_only, None)
        url = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = self.arn("sqs", name)
        return Resource(logical_id, "AWS::SQS::Queue", url, {"Arn": arn, "QueueName": name, "QueueUrl": url})

    def _sns_topic(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("sns")
        fifo = _bool(props.get("FifoTopic"))
        name = props.get("TopicName") or self.generated_name(logical_id, 256, ".fifo" if fifo else "")
        attributes = {
            k: ("true" if v is True else "false" if v is False else str(v))
            for k, v in props.items()
            if k in ("DisplayName", "FifoTopic", "ContentBasedDeduplication", "KmsMasterKeyId")
        }
        arn = client.create_topic(Name=name, Attributes=attributes)["TopicArn"]
        for subscription in props.get("Subscription") or []:
            client.subscribe(
                TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"]
            )
        return Resource(logical_id, "AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name})

    def _sns_subscription(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("sns")
        attributes = {}
        for key in ("FilterPolicy", "RawMessageDelivery", "FilterPolicyScope", "RedrivePolicy"):
            if key in props:
                value = props[key]
                attributes[key] = json.dumps(value) if isinstance(value, dict) else str(value).lower()
        arn = client.subscribe(
            TopicArn=props["TopicArn"],
            Protocol=props["Protocol"],
            Endpoint=props["Endpoint"],
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        return Resource(logical_id, "AWS::SNS::Subscription", arn, {"Arn": arn})

    # -- EventBridge / Scheduler --------------------------------------------------------------------------
    def _event_bus(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("events")
        name = props.get("Name") or self.generated_name(logical_id, 256)
        arn = client.create_event_bus(Name=name)["EventBusArn"]
        return Resource(logical_id, "AWS::Events::EventBus", name, {"Arn": arn, "Name": name})

    def _event_rule(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("events")
        name = props.get("Name") or self.generated_name(logical_id, 64)
        bus = str(props.get("EventBusName") or "default")
        if bus.startswith("arn:"):
            bus = bus.split("/", 1)[1]
        params: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": props.get("State", "ENABLED")}
        if props.get("EventPattern") is not None:
            pattern = props["EventPattern"]
            params["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        if props.get("ScheduleExpression"):
            params["ScheduleExpression"] = props["ScheduleExpression"]
        for key in ("Description", "RoleArn"):
            if props.get(key):
                params[key] = props[key]
        arn = client.put_rule(**params)["RuleArn"]
        targets = props.get("Targets") or []
        if targets:
            conformed = api_params(
                client, "PutTargets", {"Rule": name, "EventBusName": bus, "Targets": targets}
            )
            for target in conformed["Targets"]:
                if isinstance(target.get("Input"), (dict, list)):
                    target["Input"] = json.dumps(target["Input"])
            client.put_targets(**conformed)
        return Resource(logical_id, "AWS::Events::Rule", name, {"Arn": arn})

    def _schedule_group(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("scheduler")
        name = props.get("Name") or self.generated_name(logical_id, 64)
        arn = client.create_schedule_group(Name=name)["ScheduleGroupArn"]
        return Resource(logical_id, "AWS::Scheduler::ScheduleGroup", name, {"Arn": arn})

    def _schedule(self, logical_id: str, props: dict[str, Any]) -> Resource:
        from infra.localcloud.scheduler import validate_expression

        client = self.clients("scheduler")
        name = props.get("Name") or self.generated_name(logical_id, 64)
        validate_expression(str(props["ScheduleExpression"]), props.get("ScheduleExpressionTimezone"))
        params = dict(props)
        params["Name"] = name
        for key in ("StartDate", "EndDate"):
            if isinstance(params.get(key), str):
                params[key] = datetime.fromisoformat(params[key].replace("Z", "+00:00"))
        target = params.get("Target") or {}
        if isinstance(target.get("Input"), (dict, list)):
            target["Input"] = json.dumps(target["Input"])
        arn = client.create_schedule(**api_params(client, "CreateSchedule", params))["ScheduleArn"]
        return Resource(logical_id, "AWS::Scheduler::Schedule", name, {"Arn": arn})

    # -- Step Functions -----------------------------------------------------------------------------------
    def _state_machine(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("stepfunctions")
        name = props.get("StateMachineName") or self.generated_name(logical_id, 80)
        if "DefinitionString" in props:
            definition = str(props["DefinitionString"])
        elif "Definition" in props:
            definition = json.dumps(props["Definition"])
        else:
            raise ProvisionError(f"{logical_id}: no definition (DefinitionS3Location cannot be read locally)")
        for key, value in (props.get("DefinitionSubstitutions") or {}).items():
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            definition = definition.replace("${" + key + "}", text)
        leftover = sorted(set(_SUBSTITUTION.findall(definition)))
        if leftover:
            LOG.warning(
                "localcloud: %s%s: the definition still holds %s after DefinitionSubstitutions; "
                "executions will fail where they are used",
                self.prefix,
                logical_id,
                ", ".join(leftover),
            )
        try:
            json.loads(definition)
        except ValueError as exc:
            raise ProvisionError(f"{logical_id}: definition is not JSON after substitutions: {exc}") from exc
        created = client.create_state_machine(
            name=name,
            definition=definition,
            roleArn=props.get("RoleArn") or self._default_role(),
            type=props.get("StateMachineType", "STANDARD"),
        )
        arn = created["stateMachineArn"]
        return Resource(logical_id, "AWS::StepFunctions::StateMachine", arn, {"Arn": arn, "Name": name})

    # -- Lambda ------------------------------------------------------------------------------------------
    def _default_role(self) -> str:
        existing = self.resources.get("__LocalCloudDefaultRole")
        if existing is not None:
            return str(existing.attributes["Arn"])
        client = self.clients("iam")
        name = self.generated_name("DefaultRole", 64)
        arn = client.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        self.resources["__LocalCloudDefaultRole"] = Resource(
            "__LocalCloudDefaultRole", "AWS::IAM::Role", name, {"Arn": arn}
        )
        return str(arn)

    def _lambda_function(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("lambda")
        name = props.get("FunctionName") or self.generated_name(logical_id, 64)
        params: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": props.get("Runtime", "python3.12"),
            "Role": props.get("Role") or self._default_role(),
            "Handler": props.get("Handler", "index.handler"),
            "Code": {"ZipFile": dummy_zip()},
            "Timeout": _int(props.get("Timeout"), 3),
            "MemorySize": _int(props.get("MemorySize"), 128),
        }
        for key in ("Environment", "Layers", "Architectures", "Description", "DeadLetterConfig"):
            if props.get(key):
                params[key] = props[key]
        arn = client.create_function(**api_params(client, "CreateFunction", params))["FunctionArn"]
        self._function_names[name] = logical_id
        self._function_names[arn] = logical_id
        source = self.template.functions.get(logical_id)
        if props.get("PackageType") == "Image" or source is None or source.handler is None:
            LOG.warning(
                "localcloud: %s%s has no local handler (image or inline code); it cannot run",
                self.prefix,
                logical_id,
            )
        else:
            environment = {
                k: ("true" if v is True else "false" if v is False else str(v))
                for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items()
            }
            self.functions[logical_id] = FunctionSpec(
                logical_id=f"{self.prefix}{logical_id}",
                name=name,
                arn=arn,
                handler=str(source.handler),
                code_dir=source.code_dir,
                environment=environment,
                timeout=params["Timeout"],
                memory=params["MemorySize"],
                runtime=params["Runtime"],
                layers=list(props.get("Layers") or []),
                events=source.events,
                dead_letter_arn=(props.get("DeadLetterConfig") or {}).get("TargetArn"),
            )
        return Resource(logical_id, "AWS::Lambda::Function", name, {"Arn": arn})

    def _lambda_layer(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("lambda")
        name = props.get("LayerName") or self.generated_name(logical_id, 64)
        params = {
            "LayerName": name,
            "Content": {"ZipFile": dummy_zip()},
            "CompatibleRuntimes": props.get("CompatibleRuntimes") or [],
        }
        if props.get("CompatibleArchitectures"):
            params["CompatibleArchitectures"] = props["CompatibleArchitectures"]
        arn = client.publish_layer_version(**params)["LayerVersionArn"]
        return Resource(logical_id, "AWS::Lambda::LayerVersion", arn, {"LayerVersionArn": arn})

    def _function_logical_id(self, name_or_arn: str) -> str:
        found = self._function_names.get(name_or_arn)
        if found is None and name_or_arn.startswith("arn:"):
            found = self._function_names.get(":".join(name_or_arn.split(":")[:7]))
        if found is None:
            raise ProvisionError(f"no function {name_or_arn!r} in the template")
        return found

    def _event_source_mapping(self, logical_id: str, props: dict[str, Any]) -> Resource:
        function = self._function_logical_id(str(props["FunctionName"]))
        source_arn = str(props.get("EventSourceArn", ""))
        kind = "sqs" if ":sqs:" in source_arn else "dynamodb" if ":dynamodb:" in source_arn else "other"
        identifier = hashlib.sha1((self.stack_name + logical_id).encode(), usedforsecurity=False).hexdigest()
        uuid = (
            f"{identifier[:8]}-{identifier[8:12]}-{identifier[12:16]}-{identifier[16:20]}-{identifier[20:32]}"
        )
        filters = []
        for entry in (props.get("FilterCriteria") or {}).get("Filters") or []:
            pattern = entry.get("Pattern")
            filters.append(json.loads(pattern) if isinstance(pattern, str) else pattern)
        mapping = EventSourceMapping(
            logical_id=f"{self.prefix}{logical_id}",
            uuid=uuid,
            function=f"{self.prefix}{function}",
            source_arn=source_arn,
            kind=kind,
            batch_size=_int(props.get("BatchSize"), 10 if kind == "sqs" else 100),
            enabled=_bool(props.get("Enabled"), default=True),
            starting_position=str(props.get("StartingPosition") or "LATEST"),
            filters=filters,
            report_batch_item_failures="ReportBatchItemFailures"
            in (props.get("FunctionResponseTypes") or []),
            maximum_retry_attempts=_int(props.get("MaximumRetryAttempts"), -1),
            bisect_on_error=_bool(props.get("BisectBatchOnFunctionError")),
            on_failure_arn=((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"),
            maximum_record_age=_int(props.get("MaximumRecordAgeInSeconds"), -1),
            properties=props,
        )
        if kind == "other":
            LOG.warning(
                "localcloud: %s%s maps %s, which the local cloud does not poll",
                self.prefix,
                logical_id,
                source_arn,
            )
        self.mappings.append(mapping)
        return Resource(logical_id, "AWS::Lambda::EventSourceMapping", uuid, {"Id": uuid}, status="recorded")

    def _event_invoke_config(self, logical_id: str, props: dict[str, Any]) -> Resource:
        function = self._function_logical_id(str(props["FunctionName"]))
        self._async_config[function] = props
        return Resource(
            logical_id, "AWS::Lambda::EventInvokeConfig", f"{function}-invoke-config", status="recorded"
        )

    def _lambda_version(self, logical_id: str, props: dict[str, Any]) -> Resource:
        function = self._function_logical_id(str(props["FunctionName"]))
        arn = f"{self._resource(function).attributes['Arn']}:1"
        return Resource(
            logical_id, "AWS::Lambda::Version", arn, {"Version": "1", "FunctionArn": arn}, status="recorded"
        )

    def _lambda_alias(self, logical_id: str, props: dict[str, Any]) -> Resource:
        function = self._function_logical_id(str(props["FunctionName"]))
        arn = f"{self._resource(function).attributes['Arn']}:{props.get('Name', 'live')}"
        self._function_names[arn] = function
        return Resource(logical_id, "AWS::Lambda::Alias", arn, {"AliasArn": arn}, status="recorded")

    def _finish_functions(self) -> None:
        for function, config in self._async_config.items():
            spec = self.functions.get(function)
            if spec is None:
                continue
            spec.async_max_retries = _int(config.get("MaximumRetryAttempts"), 2)
            on_failure = ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            spec.async_on_failure_arn = on_failure

    # -- Logs / KMS / Secrets / SSM / S3 -------------------------------------------------------------------
    def _log_group(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("logs")
        name = props.get("LogGroupName") or self.generated_name(logical_id, 512)
        client.create_log_group(logGroupName=name)
        arn = self.arn("logs", f"log-group:{name}:*")
        return Resource(logical_id, "AWS::Logs::LogGroup", name, {"Arn": arn})

    def _kms_key(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("kms")
        params: dict[str, Any] = {}
        for key in ("Description", "KeyUsage", "KeySpec", "MultiRegion"):
            if props.get(key) is not None:
                params[key] = props[key]
        if props.get("KeyPolicy"):
            policy = props["KeyPolicy"]
            params["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
        metadata = client.create_key(**api_params(client, "CreateKey", params))["KeyMetadata"]
        if (
            _bool(props.get("EnableKeyRotation"))
            and metadata.get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
        ):
            client.enable_key_rotation(KeyId=metadata["KeyId"])
        return Resource(
            logical_id,
            "AWS::KMS::Key",
            metadata["KeyId"],
            {"Arn": metadata["Arn"], "KeyId": metadata["KeyId"]},
        )

    def _kms_alias(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("kms")
        client.create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
        return Resource(logical_id, "AWS::KMS::Alias", str(props["AliasName"]))

    def _secret(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("secretsmanager")
        name = props.get("Name") or self.generated_name(logical_id, 256)
        params: dict[str, Any] = {"Name": name}
        if props.get("SecretString") is not None:
            params["SecretString"] = str(props["SecretString"])
        elif props.get("GenerateSecretString") is not None:
            params["SecretString"] = _generate_secret(props["GenerateSecretString"])
        for key in ("Description", "KmsKeyId"):
            if props.get(key):
                params[key] = props[key]
        arn = client.create_secret(**params)["ARN"]
        return Resource(logical_id, "AWS::SecretsManager::Secret", arn, {"Id": arn, "Arn": arn})

    def _ssm_parameter(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("ssm")
        name = props.get("Name") or self.generated_name(logical_id, 1011)
        client.put_parameter(
            Name=name, Value=str(props["Value"]), Type=props.get("Type", "String"), Overwrite=True
        )
        return Resource(
            logical_id,
            "AWS::SSM::Parameter",
            name,
            {"Type": props.get("Type", "String"), "Value": props["Value"]},
        )

    def _s3_bucket(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("s3")
        name = props.get("BucketName") or self.generated_name(logical_id, 63).lower()
        if self.region == "us-east-1":
            client.create_bucket(Bucket=name)
        else:
            client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region})
        attributes = {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com",
            "WebsiteURL": f"http://{name}.s3-website-{self.region}.amazonaws.com",
        }
        return Resource(logical_id, "AWS::S3::Bucket", name, attributes)

    def _iam_role(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("iam")
        name = props.get("RoleName") or self.generated_name(logical_id, 64)
        document = props.get("AssumeRolePolicyDocument") or {}
        role = client.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=document if isinstance(document, str) else json.dumps(document),
            Path=props.get("Path", "/"),
        )["Role"]
        # Policies are not evaluated locally: moto does not enforce IAM for in-process calls.
        return Resource(logical_id, "AWS::IAM::Role", name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})

    # -- Cognito ------------------------------------------------------------------------------------------
    def _user_pool(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("cognito-idp")
        params = dict(props)
        params["PoolName"] = params.pop("UserPoolName", None) or self.generated_name(logical_id, 128)
        tags = params.pop("UserPoolTags", None)
        if tags:
            params["UserPoolTags"] = tags
        pool = client.create_user_pool(**api_params(client, "CreateUserPool", params))["UserPool"]
        pool_id = pool["Id"]
        provider = f"cognito-idp.{self.region}.amazonaws.com/{pool_id}"
        attributes = {
            "Arn": pool["Arn"],
            "UserPoolId": pool_id,
            "ProviderName": provider,
            "ProviderURL": f"https://{provider}",
        }
        return Resource(logical_id, "AWS::Cognito::UserPool", pool_id, attributes)

    def _user_pool_client(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("cognito-idp")
        params = dict(props)
        params.setdefault("ClientName", self.generated_name(logical_id, 128))
        created = client.create_user_pool_client(**api_params(client, "CreateUserPoolClient", params))[
            "UserPoolClient"
        ]
        attributes = {"ClientId": created["ClientId"], "Name": created["ClientName"]}
        if created.get("ClientSecret"):
            attributes["ClientSecret"] = created["ClientSecret"]
        return Resource(logical_id, "AWS::Cognito::UserPoolClient", created["ClientId"], attributes)

    def _user_pool_group(self, logical_id: str, props: dict[str, Any]) -> Resource:
        client = self.clients("cognito-idp")
        name = props.get("GroupName") or self.generated_name(logical_id, 128)
        params = {**props, "GroupName": name}
        client.create_group(**api_params(client, "CreateGroup", params))
        return Resource(logical_id, "AWS::Cognito::UserPoolGroup", name)

    # -- nested stacks ------------------------------------------------------------------------------------
    def _nested_stack(self, logical_id: str, props: dict[str, Any]) -> Resource:
        nested = self.template.nested.get(logical_id)
        stack_id = self.arn(
            "cloudformation", f"stack/{self.stack_name}-{logical_id}/{_short_hash(logical_id)}"
        )
        if nested is None:
            LOG.warning(
                "localcloud: nested stack %s%s has no local template; ignored", self.prefix, logical_id
            )
            self.unsupported.append(f"{self.prefix}{logical_id} (AWS::CloudFormation::Stack)")
            return Resource(logical_id, "AWS::CloudFormation::Stack", stack_id, status="unsupported")
        parameters = {
            k: (",".join(map(str, v)) if isinstance(v, list) else v)
            for k, v in (props.get("Parameters") or {}).items()
        }
        translated = load_template(
            nested.path,
            parameters,
            region=self.region,
            account_id=self.account_id,
            stack_name=f"{self.stack_name}-{logical_id}",
            cache_dir=self.cache_dir,
        )
        child = Provisioner(
            translated,
            self.clients,
            region=self.region,
            account_id=self.account_id,
            stack_name=f"{self.stack_name}-{logical_id}"[:128],
            prefix=f"{self.prefix}{logical_id}.",
            root=self.root,
            cache_dir=self.cache_dir,
        )
        child.run()
        self.children[logical_id] = child
        attributes = {f"Outputs.{k}": v for k, v in child.outputs.items()}
        return Resource(logical_id, "AWS::CloudFormation::Stack", stack_id, attributes)

    # -- views over the whole tree -------------------------------------------------------------------------
    def all_functions(self) -> dict[str, FunctionSpec]:
        found = {spec.logical_id: spec for spec in self.functions.values()}
        for child in self.children.values():
            found.update(child.all_functions())
        return found

    def all_mappings(self) -> list[EventSourceMapping]:
        found = list(self.mappings)
        for child in self.children.values():
            found.extend(child.all_mappings())
        return found

    def all_resources(self) -> dict[str, Resource]:
        found = {f"{self.prefix}{k}": v for k, v in self.resources.items() if not k.startswith("__")}
        for child in self.children.values():
            found.update(child.all_resources())
        return found

    def all_unsupported(self) -> list[str]:
        found = list(self.unsupported)
        for child in self.children.values():
            found.extend(child.all_unsupported())
        return found
