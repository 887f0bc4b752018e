"""The error bodies of the API, as OpenAPI schemas and reusable responses (generation time only).

Two shapes reach a client:

* :class:`Error` — what every MallCRM function answers for a 4xx/5xx it produces
  (``shared.errors.error_body``, mapped in ``shared.api``): ``{"error": {"code", "message", "fields"}}``;
* :class:`GatewayError` — what API Gateway answers itself, before or after a function runs:
  ``401 {"message":"Unauthorized"}`` / ``403 {"message":"Forbidden"}`` from an authorizer,
  ``500 {"message":"Internal Server Error"}`` when a Lambda authorizer fails, and ``502`` when the
  function fails. An HTTP API cannot customise these bodies (docs/decisions.md, "The gateway's own
  401/403 keep API Gateway's body"); the local front door answers the same 401/403/500 bodies, and a
  failing function locally as ``502`` with :class:`Error` code ``bad_gateway``.

``tests/unit/apidocs`` checks that ``error_body`` output validates against :class:`Error`, so the
schema cannot drift from the code that builds the bodies.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_REF = "#/components/schemas/{model}"
RESPONSE_REF = "#/components/responses/{name}"
JSON = "application/json"


class FieldError(BaseModel):
    """One problem with one field of the request."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(
        description="Dotted path of the field: `items.0.sku` in the body, `query.limit`, `path.member_id`; "
        "`body` for the body as a whole.",
        examples=["items.0.sku"],
    )
    message: str = Field(description="What is wrong, for humans; never echoes the value sent.")


class ErrorDetail(BaseModel):
    """The error itself: a stable machine-readable code, a message for humans, the fields at fault."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        description="Machine-readable and stable (`validation_failed`, `malformed_json`, "
        "`reward_not_found`…): clients branch on the status and this code, never on the message.",
        examples=["validation_failed"],
    )
    message: str = Field(description="For humans; carries no personal data.")
    fields: list[FieldError] = Field(description="The fields at fault (422), else empty.")


class Error(BaseModel):
    """Every 4xx/5xx a MallCRM function answers (DESIGN §9)."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


class GatewayError(BaseModel):
    """What API Gateway answers by itself (an HTTP API cannot customise it): a refusal of its
    authorizer (401 `Unauthorized`, 403 `Forbidden`), a failing Lambda authorizer (500) or a failing
    function (502)."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(examples=["Unauthorized", "Forbidden", "Internal Server Error"])


ERROR_MODELS: tuple[type[BaseModel], ...] = (Error, ErrorDetail, FieldError, GatewayError)


def schemas() -> dict[str, dict[str, Any]]:
    """``components.schemas`` for the error models (``$ref``s into ``#/components/schemas``)."""
    out: dict[str, dict[str, Any]] = {}
    for model in ERROR_MODELS:
        schema = model.model_json_schema(ref_template=SCHEMA_REF)
        schema.pop("$defs", None)  # every nested model is one of ERROR_MODELS, listed itself
        out[model.__name__] = schema
    return out


def schema_ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": SCHEMA_REF.format(model=model.__name__)}


def response_ref(name: str) -> dict[str, str]:
    return {"$ref": RESPONSE_REF.format(name=name)}


def error_content(*models: type[BaseModel]) -> dict[str, Any]:
    """``content`` of an error response: one model, or ``oneOf`` several."""
    schema = schema_ref(models[0]) if len(models) == 1 else {"oneOf": [schema_ref(m) for m in models]}
    return {JSON: {"schema": schema}}


# Responses every operation of a kind shares, referenced as #/components/responses/<name>.
RESPONSES: dict[str, dict[str, Any]] = {
    "MalformedJson": {
        "description": "`malformed_json`: the body is not valid JSON.",
        "content": error_content(Error),
        "x-error-codes": ["malformed_json"],
    },
    "UnsupportedMediaType": {
        "description": "`unsupported_media_type`: the body is not sent as `application/json`.",
        "content": error_content(Error),
        "x-error-codes": ["unsupported_media_type"],
    },
    "ValidationFailed": {
        "description": "`validation_failed`: a parameter or the body did not pass validation; "
        "`error.fields` names each problem.",
        "content": error_content(Error),
        "x-error-codes": ["validation_failed"],
    },
    "AuthorizerFailed": {
        "description": "The members service's Lambda authorizer failed: API Gateway answers "
        '`{"message":"Internal Server Error"}`.',
        "content": error_content(GatewayError),
    },
    "FunctionFailed": {
        "description": "A failure of ours: the function failed and API Gateway answers its own "
        '`{"message": "Internal Server Error"}` (GatewayError; 500 when Lambda refused the invocation); '
        "the local front door answers the Error `bad_gateway`. Never a stack trace.",
        "content": error_content(GatewayError, Error),
    },
}
