"""DynamoDB's data-plane calls, and SQS's sends, without botocore's per-value walk of the service model.

DynamoDB speaks AWS's JSON 1.0 protocol, and so does SQS (query-compatible: one more header). For
the calls our hot paths make (item reads and writes, queries, batches, transactions; SQS's sends)
the request body botocore sends is exactly ``json.dumps`` of the parameters, and the answer it
returns is exactly ``json.loads`` of the body plus a ``ResponseMetadata`` — *except* where a value
is binary (``B``/``BS``, an SQS ``BinaryValue``: base64 on the wire, bytes in Python), which these
calls otherwise never carry. botocore still walks the model for every value both ways: on
campaigns' send path that walk was about a third of the SDK's CPU per message (docs/performance.md,
session 9).

:func:`install` puts two thin wrappers on one DynamoDB or SQS client:

* **requests** — for the operations in :data:`FAST_OPERATIONS` (DynamoDB) and
  :data:`FAST_SQS_OPERATIONS` (SQS: the sends, whose parameters and answers hold only strings,
  numbers and booleans unless a message attribute is binary), the body is the parameters encoded
  by orjson (the same JSON document as ``json.dumps``, written compactly and in UTF-8, ~14x
  faster); parameter validation still runs first when the client validates (tests, local cloud).
  Anything botocore would render its own way (bytes, datetimes, decimals) goes to botocore's own
  serializer, unchanged;
* **answers** — a successful answer to one of those operations whose body holds no binary value is
  the body decoded by orjson with the ``ResponseMetadata`` botocore adds. Errors (including
  transaction cancellations and their reasons), binary values and every other operation go to
  botocore's own parser, unchanged.

Equivalence with botocore is a test (``tests/unit/shared/test_aws_json.py``: generated requests and
answers, document for document and value for value). The hooks are two attributes of botocore's client and
endpoint that have not changed in years; when a botocore release renames them, :func:`install`
leaves the client as botocore made it (and the tests say so) rather than failing.
``MALLCRM_SDK_FAST_JSON=off`` turns the wrappers off (docs/decisions.md).
"""

from __future__ import annotations

import functools
from typing import Any

from shared.switches import switch

__all__ = ["FAST_OPERATIONS", "FAST_SQS_OPERATIONS", "SERVICES", "enabled", "install"]

FAST_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)
# Dispatch's wake-up and the launch enqueue through SendMessageBatch (0.1 call per message each).
FAST_SQS_OPERATIONS = frozenset({"SendMessage", "SendMessageBatch"})
_FAST_BY_SERVICE = {"dynamodb": FAST_OPERATIONS, "sqs": FAST_SQS_OPERATIONS}
SERVICES = frozenset(_FAST_BY_SERVICE)
_ARN_LIST_OPERATIONS = ("TransactWriteItems", "TransactGetItems")
# A binary attribute value's key, as it can only appear in a JSON body: quoted and followed by a
# colon (a quote inside a string value is escaped, so ``"B":`` cannot occur within one).
_BINARY_MARKERS = (b'"B":', b'"BS":')


@functools.cache
def _orjson() -> Any:
    """orjson, imported with the first DynamoDB client rather than at every handler's cold start."""
    import orjson  # noqa: PLC0415

    return orjson


def enabled() -> bool:
    """Whether clients get the wrappers: yes unless ``MALLCRM_SDK_FAST_JSON`` says off."""
    return switch("MALLCRM_SDK_FAST_JSON") is not False


class FastJSONSerializer:
    """botocore's ``serialize_to_request`` for the fast operations; the client's own otherwise."""

    def __init__(
        self,
        client_serializer: Any,
        standard: Any,
        validator: Any | None,
        operations: frozenset[str] = FAST_OPERATIONS,
    ) -> None:
        self._client_serializer = client_serializer  # validates first when the client does
        self._standard = standard
        self._validator = validator
        self._operations = operations
        self._headers: dict[str, dict[str, str]] = {}
        orjson = _orjson()
        self._dumps = orjson.dumps
        # Datetimes and dataclasses raise as with ``json`` (botocore decides what they become)
        # instead of orjson's own renderings.
        self._options = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

    def serialize_to_request(self, parameters: dict[str, Any], operation_model: Any) -> dict[str, Any]:
        name = operation_model.name
        if name not in self._operations:
            return self._client_serializer.serialize_to_request(parameters, operation_model)  # type: ignore[no-any-return]
        if self._validator is not None:
            from botocore.exceptions import ParamValidationError  # noqa: PLC0415 - loaded with the client

            report = self._validator.validate(parameters, operation_model.input_shape)
            if report.has_errors():
                raise ParamValidationError(report=report.generate_report())
        try:
            # orjson: ~14x faster than ``json`` on a 100-item transaction (docs/performance.md).
            # The same JSON document as botocore's; compact, and UTF-8 where ``json`` writes \u
            # escapes — the same request to DynamoDB, signed over the bytes actually sent.
            body = self._dumps(parameters, option=self._options)
        except TypeError:
            # bytes, datetimes, decimals, integers beyond 64 bits, lone surrogates: botocore knows
            # what each becomes on the wire (validated above already).
            return self._standard.serialize_to_request(parameters, operation_model)  # type: ignore[no-any-return]
        headers = self._headers.get(name)
        if headers is None:
            metadata = operation_model.metadata
            headers = self._headers[name] = {
                "X-Amz-Target": f"{metadata['targetPrefix']}.{name}",
                "Content-Type": f"application/x-amz-json-{metadata['jsonVersion']}",
            }
            if "awsQueryCompatible" in metadata:  # SQS: botocore's _handle_query_compatible_trait
                headers["x-amzn-query-mode"] = "true"
        return {
            "url_path": "/",
            "query_string": "",
            "method": operation_model.http.get("method", "POST"),
            "headers": dict(headers),  # botocore adds to the request's headers later
            "body": body,
        }


class FastJSONParser:
    """botocore's ``parse`` for successful answers to the fast operations without binary values."""

    def __init__(self, standard: Any, output_shapes: frozenset[str] | None = None) -> None:
        self._standard = standard
        self._output_shapes = output_shapes if output_shapes is not None else _output_shapes(None)
        orjson = _orjson()  # botocore asks for a parser per answer: imported once, not per answer
        self._loads = orjson.loads
        self._decode_error = orjson.JSONDecodeError

    def parse(self, response: dict[str, Any], shape: Any) -> Any:
        body = response["body"]
        if (
            response["status_code"] >= 300
            or shape is None
            or shape.name not in self._output_shapes
            or not isinstance(body, bytes)
            or any(marker in body for marker in _BINARY_MARKERS)
        ):
            return self._standard.parse(response, shape)
        try:
            parsed = self._loads(body) if body else {}
        except self._decode_error:
            return self._standard.parse(response, shape)
        headers = response["headers"]
        metadata: dict[str, Any] = {}
        request_id = headers.get("x-amzn-requestid")
        if request_id is not None:
            metadata["RequestId"] = request_id
        metadata["HTTPStatusCode"] = response["status_code"]
        metadata["HTTPHeaders"] = {str(k).lower(): v for k, v in headers.items()}
        algorithm = response.get("context", {}).get("checksum", {}).get("response_algorithm")
        if algorithm:
            metadata["ChecksumAlgorithm"] = algorithm
        parsed["ResponseMetadata"] = metadata
        return parsed

    def __getattr__(self, name: str) -> Any:
        # botocore also asks a parser for modeled error fields after an error answer.
        return getattr(self._standard, name)


class FastJSONParserFactory:
    """The endpoint's parser factory, handing out :class:`FastJSONParser` for the JSON protocol."""

    def __init__(self, standard: Any, output_shapes: frozenset[str] | None = None) -> None:
        self._standard = standard
        self._output_shapes = output_shapes if output_shapes is not None else _output_shapes(None)

    def create_parser(self, protocol_name: str) -> Any:
        parser = self._standard.create_parser(protocol_name)
        return FastJSONParser(parser, self._output_shapes) if protocol_name == "json" else parser

    def __getattr__(self, name: str) -> Any:
        return getattr(self._standard, name)


def _output_shapes(service_model: Any | None) -> frozenset[str]:
    """The output shape names of a service's fast operations (DynamoDB's without a model)."""
    if service_model is None:
        return frozenset(f"{name}Output" for name in FAST_OPERATIONS)
    operations = _FAST_BY_SERVICE.get(service_model.service_name, frozenset())
    return frozenset(service_model.operation_model(name).output_shape.name for name in operations)


def install(created: Any) -> bool:
    """Put the wrappers on ``created`` (a DynamoDB or SQS client); whether they are on."""
    service_model = created.meta.service_model
    if service_model.resolved_protocol != "json":
        return False
    operations = _FAST_BY_SERVICE.get(getattr(service_model, "service_name", "dynamodb"))
    if operations is None:
        return False
    serializer = getattr(created, "_serializer", None)
    endpoint: Any = getattr(created, "_endpoint", None)
    factory = getattr(endpoint, "_response_parser_factory", None)
    if serializer is None or factory is None or not hasattr(serializer, "serialize_to_request"):
        return False
    validator = getattr(serializer, "_param_validator", None)  # ParamValidationDecorator
    standard = getattr(serializer, "_serializer", serializer) if validator is not None else serializer
    created._serializer = FastJSONSerializer(serializer, standard, validator, operations)
    endpoint._response_parser_factory = FastJSONParserFactory(factory, _output_shapes(service_model))
    if operations is FAST_OPERATIONS:
        _skip_arn_lists(service_model)
    return True


def _skip_arn_lists(service_model: Any) -> None:
    """Stop botocore evaluating ``ResourceArnList`` for the transactions, on this client only.

    The endpoint rules read it to take the account id from table *ARNs*; we name tables by name
    (the template's ``!Ref``), for which the rules ignore it. botocore still computes it on every
    call with a JMESPath projection over every item of the transaction: 0.57 ms of CPU for a
    100-item ``TransactWriteItems`` here, more than serialising the request. The client's service
    model is its own (botocore builds one per client), so no other client is affected.
    """
    for name in _ARN_LIST_OPERATIONS:
        operation = service_model.operation_model(name)
        parameters = dict(getattr(operation, "operation_context_parameters", None) or {})
        if parameters.pop("ResourceArnList", None) is not None:
            # ``operation_context_parameters`` is a cached property: the instance's value wins.
            operation.__dict__["operation_context_parameters"] = parameters
