"""A small router for API Gateway HTTP API (payload 2.0) events: the request path of the API functions.

Why not Powertools' event handler: importing ``aws_lambda_powertools.event_handler`` runs its package
``__init__``, which imports every resolver it ships (AppSync with asyncio and ssl, Bedrock agents,
VPC Lattice, the event data classes…) and the OpenAPI parameter machinery: 70-110 ms of every cold
start of an API function, for the one resolver we use. This module keeps the subset of its surface
our routes use, so a route module changes import lines, not bodies (docs/decisions.md, 2026-11-23):

* :class:`Router` with ``get``/``post``/``put``/``patch``/``delete`` decorators (keyword arguments
  such as ``summary``, ``description``, ``tags``, ``responses``, ``operation_id`` are kept for the
  OpenAPI document only, and so is ``request_body``: the body a route reads itself, see
  :data:`RequestBodyDoc`) and ``current_event``; rules like ``/v1/members/<member_id>``;
* :class:`Resolver` (what ``shared.api.make_resolver`` returns): ``include_router``, ``resolve``,
  ``exception_handler``, ``current_event`` and a public route table, :attr:`Resolver.routes`;
* :class:`Response`, :data:`content_types`, :class:`CORSConfig`;
* the parameter markers :class:`Path`, :class:`Query`, :class:`Body`, taking the same keyword
  arguments as Powertools' (``ge``, ``le``, ``min_length``, ``max_length``, ``pattern``, ``alias``,
  ``description``…). ``infra/apidocs/generate.py`` translates them to Powertools' markers to build
  the OpenAPI document, so the document still comes from these declarations.

With ``validation`` on, a route's parameters are injected by signature as Powertools does: path
parameters, ``Annotated[T, Query(...)]``/``Path(...)``, scalars as query parameters, and one body
parameter annotated with a pydantic model (or ``Body(...)``); its return value is validated against
its return annotation and dumped in JSON mode by alias. Annotations are strings in our modules
(``from __future__ import annotations``): they are resolved, and the pydantic validators built, when
a route is first called, so none of it is paid at import. This module imports only the standard
library; pydantic is imported by the first route that validates something.

Validation errors carry the same ``loc`` as Powertools' ``RequestValidationError``
(``("query", "limit")``, ``("path", "member_id")``, ``("body", "items", 0, "sku")``,
``("body",)`` for a missing body) so ``shared.api`` maps them to the same 422 ``fields``.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import dataclasses
import decimal
import inspect
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import parse_qs

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pydantic import TypeAdapter

__all__ = [
    "Body",
    "CORSConfig",
    "HttpEvent",
    "Path",
    "Query",
    "RequestBodyDoc",
    "RequestValidationError",
    "Resolver",
    "Response",
    "Route",
    "RouteNotFound",
    "Router",
    "UnsupportedContentType",
    "content_types",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

RequestBodyDoc = type[Any] | types.UnionType | Mapping[str, Any]
"""What ``request_body=`` takes, for the OpenAPI document only (the route reads the body itself: a
signed integration request, an API without validation): a pydantic model (``RewardIn``), a model or
``None`` for an optional body (``ReceiptDecision | None``), or an OpenAPI Request Body Object for a
body that is not one of our models (a provider's push). It never changes how a request is handled."""
E = TypeVar("E", bound=BaseException)

APPLICATION_JSON = "application/json"


class _ContentTypes:
    APPLICATION_JSON = APPLICATION_JSON
    TEXT_PLAIN = "text/plain"
    TEXT_HTML = "text/html"


# Named like Powertools' module so ``content_types.APPLICATION_JSON`` reads the same in routes.
content_types = _ContentTypes()

# Powertools' path-parameter pattern (RFC 3986 safe characters plus those the gateway decodes).
_SAFE_URI = "-._~()'!*:@,;=+&$"
_UNSAFE_URI = r"%<> \[\]{}|^"
_PARAM = re.compile(r"<(\w+)>")
_PARAM_CHARS = rf"[{_SAFE_URI}{_UNSAFE_URI}\w]+"
UNSET: Any = object()  # "no default given" in a marker (None is a default)
_EMPTY = inspect.Parameter.empty

# Field constraints passed on to pydantic; the other keyword arguments only document.
_CONSTRAINTS = (
    "gt",
    "ge",
    "lt",
    "le",
    "multiple_of",
    "min_length",
    "max_length",
    "pattern",
    "strict",
    "allow_inf_nan",
    "max_digits",
    "decimal_places",
)


# --------------------------------------------------------------------------------------------------
# Parameter markers
# --------------------------------------------------------------------------------------------------


class Param:
    """A parameter marker: where the value comes from and its constraints (Powertools' keywords)."""

    location = ""

    def __init__(self, default: Any = UNSET, **kwargs: Any) -> None:
        self.default = default
        self.kwargs = kwargs

    @property
    def alias(self) -> str | None:
        alias = self.kwargs.get("alias")
        return str(alias) if alias else None

    def constraints(self) -> dict[str, Any]:
        return {k: v for k, v in self.kwargs.items() if k in _CONSTRAINTS and v is not None}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kwargs!r})"


class Path(Param):
    """``Annotated[str, Path(pattern=...)]``: a path parameter (the name matches ``<name>``)."""

    location = "path"


class Query(Param):
    """``Annotated[int, Query(ge=1, le=100)] = 20``: a query-string parameter."""

    location = "query"


class Body(Param):
    """``Annotated[Model, Body(...)]``: the JSON request body (also implied by a model annotation)."""

    location = "body"


# --------------------------------------------------------------------------------------------------
# Errors raised by the router (mapped to responses by shared.api's exception handlers)
# --------------------------------------------------------------------------------------------------


class RequestValidationError(Exception):
    """Path, query, body (or the route's own return value) failed validation."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("request validation failed")
        self._errors = errors

    def errors(self) -> list[dict[str, Any]]:
        return self._errors


class UnsupportedContentType(Exception):
    """A route with a body received a body that is not declared as JSON."""

    def __init__(self, content_type: str) -> None:
        super().__init__("unsupported content type")
        self.content_type = content_type


class RouteNotFound(Exception):
    """No route for the method and path; ``allowed`` lists the methods the path has, if any."""

    def __init__(self, method: str, path: str, allowed: list[str]) -> None:
        super().__init__(f"no route for {method} {path}")
        self.method = method
        self.path = path
        self.allowed = allowed


# --------------------------------------------------------------------------------------------------
# Request and response
# --------------------------------------------------------------------------------------------------


class Headers(Mapping[str, str]):
    """Request headers, looked up case-insensitively (the gateway sends them lower-cased)."""

    __slots__ = ("_items",)

    def __init__(self, raw: Mapping[str, str] | None) -> None:
        self._items = {str(k).lower(): v for k, v in (raw or {}).items()}

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key.lower(), default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class RequestContext:
    """``requestContext`` of a payload 2.0 event (the parts routes read)."""

    __slots__ = ("raw",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw

    @property
    def request_id(self) -> str:
        return str(self.raw.get("requestId") or "")

    @property
    def stage(self) -> str:
        return str(self.raw.get("stage") or "$default")

    @property
    def http_method(self) -> str:
        return str((self.raw.get("http") or {}).get("method") or "")

    @property
    def authorizer(self) -> Mapping[str, Any]:
        return self.raw.get("authorizer") or {}


class HttpEvent:
    """An API Gateway HTTP API (payload 2.0) event, with Powertools' property names."""

    def __init__(self, raw_event: Mapping[str, Any]) -> None:
        self.raw_event: dict[str, Any] = typing.cast("dict[str, Any]", raw_event)

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw_event.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.raw_event[key]

    @cached_property
    def request_context(self) -> RequestContext:
        return RequestContext(self.raw_event.get("requestContext") or {})

    @property
    def http_method(self) -> str:
        return self.request_context.http_method

    @cached_property
    def path(self) -> str:
        """``rawPath`` without the stage prefix (``$default`` has none)."""
        raw_path = str(self.raw_event.get("rawPath") or "/")
        stage = self.request_context.stage
        return raw_path[len(stage) + 1 :] if stage != "$default" else raw_path

    @property
    def raw_path(self) -> str:
        return str(self.raw_event.get("rawPath") or "/")

    @cached_property
    def headers(self) -> Headers:
        return Headers(self.raw_event.get("headers"))

    @property
    def query_string_parameters(self) -> dict[str, str]:
        return self.raw_event.get("queryStringParameters") or {}

    @property
    def path_parameters(self) -> dict[str, str]:
        return self.raw_event.get("pathParameters") or {}

    @property
    def cookies(self) -> list[str]:
        return self.raw_event.get("cookies") or []

    @property
    def is_base64_encoded(self) -> bool:
        return bool(self.raw_event.get("isBase64Encoded"))

    @property
    def body(self) -> str | None:
        """The body as sent (base64 text when ``isBase64Encoded``)."""
        return self.raw_event.get("body")

    @cached_property
    def decoded_body(self) -> str | None:
        """The body as text, decoded from base64 when the gateway encoded it."""
        body = self.body
        if self.is_base64_encoded and body:
            try:
                return base64.b64decode(body.encode(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError) as exc:
                # Not text: for a JSON API that is a body that is not JSON.
                raise json.JSONDecodeError("body is not UTF-8 text", "", 0) from exc
        return body

    @cached_property
    def json_body(self) -> Any:
        """The body parsed as JSON, ``None`` when empty; :class:`json.JSONDecodeError` when not JSON."""
        text = self.decoded_body
        return json.loads(text) if text else None


class Response(Generic[T]):
    """A response with an explicit status; a ``str`` body is sent as is, other JSON bodies are dumped."""

    def __init__(
        self,
        status_code: int,
        content_type: str | None = None,
        body: T | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        cookies: list[str] | None = None,
    ) -> None:
        self.status_code = status_code
        self.body: Any = body
        self.headers: dict[str, str] = dict(headers) if headers else {}
        self.cookies = list(cookies or [])
        if content_type:
            self.headers.setdefault("Content-Type", content_type)

    def is_json(self) -> bool:
        return self.headers.get("Content-Type", "").startswith(APPLICATION_JSON)


class CORSConfig:
    """The CORS headers added to every response of a request that has an ``Origin`` (as Powertools)."""

    _REQUIRED_HEADERS = ("Authorization", "Content-Type", "X-Amz-Date", "X-Api-Key", "X-Amz-Security-Token")

    def __init__(
        self,
        allow_origin: str = "*",
        *,
        extra_origins: list[str] | None = None,
        allow_headers: list[str] | None = None,
        expose_headers: list[str] | None = None,
        max_age: int | None = None,
        allow_credentials: bool = False,
    ) -> None:
        self.allowed_origins = [allow_origin, *(extra_origins or [])]
        self.allow_headers = ",".join(sorted({*self._REQUIRED_HEADERS, *(allow_headers or [])}))
        self.expose_headers = list(expose_headers or [])
        self.max_age = max_age
        self.allow_credentials = allow_credentials

    def allowed_origin(self, origin: str | None) -> str | None:
        if origin is None:
            return None
        if origin in self.allowed_origins:
            return origin
        return "*" if "*" in self.allowed_origins else None

    def headers_for(self, origin: str | None) -> dict[str, str]:
        allowed = self.allowed_origin(origin)
        if not allowed:
            return {}
        headers = {"Access-Control-Allow-Origin": allowed, "Access-Control-Allow-Headers": self.allow_headers}
        if self.expose_headers:
            headers["Access-Control-Expose-Headers"] = ",".join(self.expose_headers)
        if self.max_age is not None:
            headers["Access-Control-Max-Age"] = str(self.max_age)
        if allowed != "*" and self.allow_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers


class _Encoder(json.JSONEncoder):
    """Decimals, pydantic models and dataclasses in a response body (what Powertools' encoder does)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, decimal.Decimal):
            return math.nan if o.is_nan() else str(o)
        if hasattr(o, "model_dump") and hasattr(type(o), "model_fields"):
            return o.model_dump(mode="json")
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        return super().default(o)


def _dump_json(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), cls=_Encoder)


# --------------------------------------------------------------------------------------------------
# Routes and their compiled plans
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Field:
    name: str
    location: str  # path | query | body
    key: str  # the name looked up in the request (alias or name)
    required: bool
    default: Any
    adapter: TypeAdapter[Any]
    is_sequence: bool = False


@dataclasses.dataclass
class _Plan:
    fields: list[_Field]
    body: _Field | None
    returns: TypeAdapter[Any] | None  # the return annotation (Response[T] → T), if any


@dataclasses.dataclass
class Route:
    """One registered route: method, rule (``/v1/members/<member_id>``), function, documentation."""

    method: str
    rule: str
    func: Callable[..., Any]
    doc: dict[str, Any]
    # The body the route reads itself, for the OpenAPI document only (never used to handle a request).
    request_body: RequestBodyDoc | None = None
    pattern: re.Pattern[str] | None = None  # None for a static rule
    _plan: _Plan | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        if "<" in self.rule:
            self.pattern = re.compile(
                "^" + _PARAM.sub(lambda m: f"(?P<{m.group(1)}>{_PARAM_CHARS})", self.rule) + "$"
            )

    @property
    def path_params(self) -> list[str]:
        return _PARAM.findall(self.rule)

    def matches(self, path: str) -> dict[str, str] | None:
        if self.pattern is None:
            return {} if path == self.rule else None
        found = self.pattern.match(path)
        return found.groupdict() if found else None


def _split_annotated(annotation: Any) -> tuple[Any, Param | None]:
    if typing.get_origin(annotation) is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        markers = [m for m in extras if isinstance(m, Param)]
        others = [m for m in extras if not isinstance(m, Param)]
        if others:
            base = typing.Annotated[(base, *others)]
        return base, (markers[-1] if markers else None)
    return annotation, None


def _non_none(annotation: Any) -> list[Any]:
    args = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    return [a for a in args if a is not type(None)]


def _is_union(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    return origin is typing.Union or origin is types.UnionType


def _is_sequence(annotation: Any) -> bool:
    return any(typing.get_origin(a) in (list, tuple, set, frozenset) for a in _non_none(annotation))


def _is_body_type(annotation: Any) -> bool:
    """A model, a mapping or a list of them is a body; a scalar (str, int, Literal…) is a query."""
    from pydantic import BaseModel  # noqa: PLC0415 - only when a route is compiled

    for arg in _non_none(annotation):
        origin = typing.get_origin(arg) or arg
        if isinstance(origin, type) and issubclass(origin, (BaseModel, dict)):
            return True
        if origin in (list, tuple, set, frozenset) and any(_is_body_type(a) for a in typing.get_args(arg)):
            return True
    return False


def _response_type(annotation: Any) -> Any:
    """``Response[T]`` → ``T`` (Powertools validates the body against the inner type)."""
    origin = typing.get_origin(annotation)
    if origin is Response:
        (inner,) = typing.get_args(annotation)
        return inner
    if annotation is Response:
        return _EMPTY
    return annotation


def _compile(route: Route) -> _Plan:
    from pydantic import Field, TypeAdapter  # noqa: PLC0415 - only when a route is first called

    hints = typing.get_type_hints(route.func, include_extras=True)
    signature = inspect.signature(route.func)
    path_names = set(route.path_params)
    fields: list[_Field] = []
    body: _Field | None = None
    for name, parameter in signature.parameters.items():
        base, marker = _split_annotated(hints.get(name, Any))
        if marker is not None:
            location = marker.location
        elif name in path_names:
            location = "path"
        elif _is_body_type(base):
            location = "body"
        else:
            location = "query"
        default = parameter.default
        if marker is not None and marker.default is not UNSET:
            default = marker.default
        constraints = marker.constraints() if marker is not None else {}
        annotation = typing.Annotated[base, Field(**constraints)] if constraints else base
        field = _Field(
            name=name,
            location=location,
            key=(marker.alias if marker is not None else None) or name,
            required=default is _EMPTY,
            default=None if default is _EMPTY else default,
            adapter=TypeAdapter(annotation),
            is_sequence=_is_sequence(base),
        )
        if location == "body":
            if body is not None:
                raise TypeError(f"{route.func.__qualname__}: one body parameter per route")
            body = field
        else:
            fields.append(field)
    order = {"path": 0, "query": 1}
    fields.sort(key=lambda f: order.get(f.location, 2))  # Powertools reports path errors first
    returned = _response_type(hints.get("return", _EMPTY))
    returns = None if returned is _EMPTY else TypeAdapter(returned)
    return _Plan(fields=fields, body=body, returns=returns)


def _missing(loc: tuple[Any, ...]) -> dict[str, Any]:
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": None}


def _validate(
    adapter: TypeAdapter[Any], value: Any, loc: tuple[Any, ...], errors: list[dict[str, Any]]
) -> Any:
    from pydantic import ValidationError  # noqa: PLC0415 - loaded by TypeAdapter already

    try:
        return adapter.validate_python(value, from_attributes=True)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            errors.append({**err, "loc": (*loc, *err.get("loc", ()))})
        return None


# --------------------------------------------------------------------------------------------------
# Router and resolver
# --------------------------------------------------------------------------------------------------


# The request being resolved, per thread (context variables): Lambda runs one invocation at a
# time per process, but the local cloud resolves requests on its server thread while its background
# thread runs other functions, and one request must never see another's event.
_CURRENT_EVENT: contextvars.ContextVar[HttpEvent | None] = contextvars.ContextVar("web_event", default=None)
_CURRENT_CONTEXT: contextvars.ContextVar[Any] = contextvars.ContextVar("web_context", default=None)


class Router:
    """Routes of one area of an API; ``Resolver.include_router`` adds them to the function's resolver."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    @property
    def routes(self) -> tuple[Route, ...]:
        """The route table, in registration order."""
        return tuple(self._routes)

    @property
    def current_event(self) -> HttpEvent:
        event = _CURRENT_EVENT.get()
        if event is None:
            raise RuntimeError("current_event is only available while a request is being resolved")
        return event

    @property
    def lambda_context(self) -> Any:
        return _CURRENT_CONTEXT.get()

    def route(
        self, rule: str, method: str, *, request_body: RequestBodyDoc | None = None, **doc: Any
    ) -> Callable[[F], F]:
        """Register ``func`` for ``method rule``. ``doc`` and ``request_body`` only document it."""

        def register(func: F) -> F:
            self._add(Route(method=method.upper(), rule=rule, func=func, doc=doc, request_body=request_body))
            return func

        return register

    def _add(self, route: Route) -> None:
        self._routes.append(route)

    def get(self, rule: str, **doc: Any) -> Callable[[F], F]:
        return self.route(rule, "GET", **doc)

    def post(self, rule: str, *, request_body: RequestBodyDoc | None = None, **doc: Any) -> Callable[[F], F]:
        return self.route(rule, "POST", request_body=request_body, **doc)

    def put(self, rule: str, *, request_body: RequestBodyDoc | None = None, **doc: Any) -> Callable[[F], F]:
        return self.route(rule, "PUT", request_body=request_body, **doc)

    def patch(self, rule: str, *, request_body: RequestBodyDoc | None = None, **doc: Any) -> Callable[[F], F]:
        return self.route(rule, "PATCH", request_body=request_body, **doc)

    def delete(
        self, rule: str, *, request_body: RequestBodyDoc | None = None, **doc: Any
    ) -> Callable[[F], F]:
        return self.route(rule, "DELETE", request_body=request_body, **doc)


Handler = Callable[[Any], Response[Any]]


class Resolver(Router):
    """Routes one HTTP API function's events: ``resolve(event, context) -> dict`` (payload 2.0 answer).

    Lookup: static rules by dictionary, then rules with parameters in registration order (the order
    Powertools uses). An ``OPTIONS`` request without a route is a CORS preflight (204). Failures go to
    the handler registered for the exception's nearest class (``exception_handler``); an exception
    without one propagates.
    """

    def __init__(
        self,
        *,
        cors: CORSConfig | None = None,
        validation: bool = True,
        strip_prefixes: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.cors = cors
        self.validation = validation
        self.strip_prefixes = list(strip_prefixes or [])
        self._static: dict[tuple[str, str], Route] = {}
        self._dynamic: list[Route] = []
        self._handlers: dict[type[BaseException], Handler] = {}

    def _add(self, route: Route) -> None:
        super()._add(route)
        if route.pattern is None:
            self._static.setdefault((route.method, route.rule), route)
        else:
            self._dynamic.append(route)

    def include_router(self, router: Router) -> None:
        for route in router.routes:
            self._add(route)

    def exception_handler(
        self, exc_class: type[E]
    ) -> Callable[[Callable[[E], Response[Any]]], Callable[[E], Response[Any]]]:
        def register(func: Callable[[E], Response[Any]]) -> Callable[[E], Response[Any]]:
            self._handlers[exc_class] = func
            return func

        return register

    @property
    def cors_methods(self) -> str:
        return ",".join(sorted({"OPTIONS", *(r.method for r in self._routes)}))

    # -- resolving ---------------------------------------------------------------------------------

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        request = HttpEvent(event)
        # Restored afterwards: a route may resolve another function's request in-process (the local
        # cloud runs every function in one process) and still read its own event afterwards.
        event_token = _CURRENT_EVENT.set(request)
        context_token = _CURRENT_CONTEXT.set(context)
        try:
            response = self._respond(request)
            return self._build(response, request)
        finally:
            _CURRENT_EVENT.reset(event_token)
            _CURRENT_CONTEXT.reset(context_token)

    def _path(self, request: HttpEvent) -> str:
        path = request.path
        for prefix in self.strip_prefixes:
            if path == prefix:
                return "/"
            if prefix and path.startswith(prefix + "/"):
                return path[len(prefix) :]
        return path

    def _find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        route = self._static.get((method, path))
        if route is not None:
            return route, {}
        for candidate in self._dynamic:
            if candidate.method == method:
                params = candidate.matches(path)
                if params is not None:
                    return candidate, params
        return None

    def _respond(self, request: HttpEvent) -> Response[Any]:
        method = request.http_method.upper()
        path = self._path(request)
        try:
            found = self._find(method, path)
            if found is None:
                if method == "OPTIONS" and self.cors is not None:
                    return Response(204, None, "", {"Access-Control-Allow-Methods": self.cors_methods})
                allowed = sorted(
                    {r.method for r in self._routes if r.method != method and r.matches(path) is not None}
                )
                raise RouteNotFound(method, path, allowed)
            route, params = found
            return self._call(route, params, request)
        except Exception as exc:
            handler = self._handler_for(type(exc))
            if handler is None:
                if isinstance(exc, RouteNotFound):
                    return Response(404, APPLICATION_JSON, {"statusCode": 404, "message": "Not found"})
                raise
            return handler(exc)

    def _handler_for(self, exc_type: type[BaseException]) -> Handler | None:
        for cls in exc_type.__mro__:
            if cls in self._handlers:
                return self._handlers[cls]
        return None

    def _call(self, route: Route, params: dict[str, str], request: HttpEvent) -> Response[Any]:
        if not self.validation:
            return self._to_response(route.func(**params))
        plan = route._plan
        if plan is None:
            plan = route._plan = _compile(route)
        kwargs = self._arguments(plan, params, request)
        result = self._to_response(route.func(**kwargs))
        if plan.returns is None:
            # Every route of ours is annotated; one that is not is encoded as without validation.
            return result
        # As Powertools' response validation: the body is validated against the return annotation
        # and dumped in JSON mode by alias (a model's extra attributes never leak).
        errors: list[dict[str, Any]] = []
        value = _validate(plan.returns, result.body, ("response",), errors)
        if errors:
            raise RequestValidationError(errors)
        if result.is_json():  # a non-JSON body (bytes, HTML) is sent as validated, not turned into text
            result.body = plan.returns.dump_python(value, mode="json", by_alias=True)
        return result

    def _arguments(self, plan: _Plan, params: dict[str, str], request: HttpEvent) -> dict[str, Any]:
        values: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        query: Mapping[str, Any] | None = None
        for field in plan.fields:
            if field.location == "path":
                raw: Any = params.get(field.key)
            else:
                if query is None:
                    query = self._query(request)
                raw = query.get(field.key)
                if field.is_sequence and isinstance(raw, str):
                    raw = raw.split(",")  # list[str] = Query(): the gateway joined repeated values
            if raw is None:
                if field.required:
                    errors.append(_missing((field.location, field.key)))
                else:
                    values[field.name] = field.default
                continue
            values[field.name] = _validate(field.adapter, raw, (field.location, field.key), errors)
        if plan.body is not None:
            self._body_argument(plan.body, request, values, errors)
        if errors:
            raise RequestValidationError(errors)
        return values

    @staticmethod
    def _body_argument(
        body: _Field, request: HttpEvent, values: dict[str, Any], errors: list[dict[str, Any]]
    ) -> None:
        content_type = request.headers.get("content-type", "").strip()
        if content_type and not content_type.startswith(APPLICATION_JSON):
            raise UnsupportedContentType(content_type)
        document = request.json_body  # JSONDecodeError → 400 malformed_json (shared.api)
        if document is None:
            if body.required:
                errors.append(_missing(("body",)))
            else:
                values[body.name] = body.default
        else:
            values[body.name] = _validate(body.adapter, document, ("body",), errors)

    @staticmethod
    def _query(request: HttpEvent) -> dict[str, Any]:
        """Query values as Powertools gives them: a name repeated in the URL stays a list (and fails a
        scalar parameter), a single value is the gateway's string, commas included."""
        query: dict[str, Any] = dict(request.query_string_parameters)
        raw = request.raw_event.get("rawQueryString")
        if raw and "&" in raw:
            for name, values in parse_qs(raw, keep_blank_values=True).items():
                if len(values) > 1 and name in query:
                    query[name] = values
        return query

    @staticmethod
    def _to_response(result: Any) -> Response[Any]:
        if isinstance(result, Response):
            return result
        if isinstance(result, tuple) and len(result) == 2:
            body, status = result
            return Response(status, APPLICATION_JSON, body)
        return Response(200, APPLICATION_JSON, result)

    def _build(self, response: Response[Any], request: HttpEvent) -> dict[str, Any]:
        body = response.body
        if response.is_json() and not isinstance(body, str):
            body = _dump_json(body)
        if self.cors is not None:
            origin = request.headers.get("origin")
            if origin is not None and "," in origin:
                origin = origin.split(",")[0]
            response.headers.update(self.cors.headers_for(origin))
        encoded = isinstance(body, bytes)
        if encoded:
            body = base64.b64encode(body).decode()
        return {
            "statusCode": response.status_code,
            "body": body,
            "isBase64Encoded": encoded,
            "headers": {k: v for k, v in response.headers.items() if v is not None},
            "cookies": [str(c) for c in response.cookies],
        }
