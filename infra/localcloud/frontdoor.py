"""The local API Gateway: an HTTP request in, a payload-format-2.0 Lambda invoke, an HTTP response out.

`FrontDoor(cloud).handle(method, path, headers, body, query=..., source_ip=...)` does for the local
cloud what an API Gateway HTTP API with Lambda proxy integrations does on AWS:

* matches the request against the API's routes (from the translated template's
  `AWS::ApiGatewayV2::Api` Body), most specific first, as API Gateway does: a route without a greedy
  variable beats one with `{proxy+}`; segment by segment a literal beats a `{param}`; a longer greedy
  prefix beats a shorter one; the exact method beats `ANY`; `$default` comes last;
* runs the route's JWT authorizer: RS256 signature against the issuer's JWKS (fetched once with
  `requests`, which in-process moto intercepts), `iss`, `aud` or `client_id`, `exp` on the virtual
  clock, `nbf`/`iat` (against the later of the virtual and the wall clock: moto stamps tokens with
  the wall clock), and the route's scopes. Failures answer exactly as API Gateway does:
  401 `{"message":"Unauthorized"}` for a missing or invalid token, 403 `{"message":"Forbidden"}`
  when the token lacks every scope the route asks for. Verified claims reach the function as API
  Gateway renders them: every value a string, arrays as `"[a b]"` (so `cognito:groups` arrives as
  `"[admin marketer]"`), and `scopes` is the token's `scope` (or `scp`) split on spaces, or null;
* or runs a Lambda REQUEST authorizer (payload 2.0, simple or IAM-policy responses, no result
  cache): a missing identity source is a 401 without a call, a refusal a 403, a failing authorizer
  a 500 `{"message":"Internal Server Error"}`; its `context` becomes `requestContext.authorizer.lambda`;
* builds the 2.0 event (lower-cased headers with repeats comma-joined, cookies split out of the
  `cookie` header, query parameters comma-joined, decoded path parameters, requestContext with the
  virtual clock's time, body base64-encoded unless it is text);
* maps the function's answer by the 2.0 rules (a dict with `statusCode` is a full response with
  headers, cookies and `isBase64Encoded`; anything else is a 200 JSON body), answers a failing
  function with 502 and the project's error shape (never a stack trace), an unknown route with 404,
  and a CORS preflight from the API's CorsConfiguration;
* adds `apigw-requestid` and `x-correlation-id` (the function's own, else the caller's, else the
  request id, which is what Powertools uses as the correlation id of an HTTP API event).

It also answers the local-only routes under `/_local/` (health, the virtual clock, the channel
outbox, recent bus events and invocations, `POST /_local/ses-events`: what SES would publish
for a recorded e-mail, and `GET /_local/s3/<bucket>/<key>?<presigned query>`: the object a
presigned S3 link names, while the link has not expired — the signature is not checked) before any
API route.

Responses are `(status, headers, body)`; header names are lower case. Several `set-cookie` values
are joined with a newline (a character no header value may contain) and the HTTP server writes one
header line for each.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

from shared.clock import to_utc_iso
from shared.errors import error_body

log = logging.getLogger("mallcrm.localcloud.frontdoor")

Response = tuple[int, dict[str, str], bytes]

LOCAL_S3_PREFIX = "/_local/s3"
"""Where the local cloud serves the objects presigned S3 links name (shared.aws.local_link)."""

LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_API_ID = "localapi"
MAX_ADVANCE_SECONDS = 400 * 86400
DEFAULT_EVENTS_LIMIT = 100
JWKS_REFRESH_SECONDS = 30.0

_JSON = "application/json"
_UNAUTHORIZED = (401, {"content-type": _JSON}, b'{"message":"Unauthorized"}')
_FORBIDDEN = (403, {"content-type": _JSON}, b'{"message":"Forbidden"}')
_AUTHORIZER_FAILED = (500, {"content-type": _JSON}, b'{"message":"Internal Server Error"}')
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TEXT_TYPES = ("application/json", "application/xml", "application/javascript", "application/yaml")


# --------------------------------------------------------------------------------------------------
# What the front door needs from the cloud
# --------------------------------------------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> datetime: ...


class Cloud(Protocol):
    """The part of `infra.localcloud.cloud.LocalCloud` the front door uses.

    Read with getattr, so fakes may leave them out: `apis` (needed unless `FrontDoor(api=...)`),
    `account_id`, `region`, `outbox`, `events`, `invocations`, `functions`.
    """

    @property
    def clock(self) -> Clock: ...

    def invoke(self, logical_id: str, event: dict[str, Any], *, trigger: str = ...) -> Any: ...

    def advance(self, seconds: float) -> Any: ...


# --------------------------------------------------------------------------------------------------
# The API definition: routes, authorizers, CORS
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JwtAuthorizer:
    """An HTTP API JWT authorizer (`x-amazon-apigateway-authorizer` of type jwt)."""

    name: str
    issuer: str
    audience: tuple[str, ...]
    identity_source: str = "$request.header.Authorization"


@dataclass(frozen=True, slots=True)
class LambdaAuthorizer:
    """An HTTP API Lambda REQUEST authorizer (payload format 2.0), run on every request (no cache)."""

    name: str
    function: str
    identity_sources: tuple[str, ...] = ("$request.header.Authorization",)
    simple_responses: bool = False


Authorizer = JwtAuthorizer | LambdaAuthorizer


@dataclass(frozen=True, slots=True)
class Cors:
    """An HTTP API CorsConfiguration (`x-amazon-apigateway-cors`)."""

    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    @classmethod
    def from_openapi(cls, doc: Mapping[str, Any]) -> Cors:
        """From `x-amazon-apigateway-cors` (camelCase) or a CorsConfiguration (PascalCase)."""
        doc = {k[:1].lower() + k[1:]: v for k, v in doc.items()}

        def strings(key: str) -> tuple[str, ...]:
            return tuple(str(v) for v in doc.get(key) or ())

        max_age = doc.get("maxAge")
        return cls(
            allow_origins=strings("allowOrigins"),
            allow_methods=tuple(m.upper() for m in strings("allowMethods")),
            allow_headers=tuple(h.lower() for h in strings("allowHeaders")),
            expose_headers=tuple(h.lower() for h in strings("exposeHeaders")),
            max_age=int(max_age) if max_age is not None else None,
            allow_credentials=bool(doc.get("allowCredentials", False)),
        )

    def allowed_origin(self, origin: str) -> str | None:
        if origin in self.allow_origins:
            return origin
        if "*" in self.allow_origins:
            return origin if self.allow_credentials else "*"
        return None


_PARAM = re.compile(r"^\{([A-Za-z0-9_.-]+)(\+?)\}$")


@dataclass(frozen=True, slots=True)
class Route:
    """One route: `method` is upper case or `ANY`; `path` is the template (`/v1/x/{id}`, `/{proxy+}`,
    or `$default`); `function` is the integration's logical id."""

    method: str
    path: str
    function: str
    authorizer: Authorizer | None = None
    scopes: tuple[str, ...] = ()
    key: str = field(init=False)
    _regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _params: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _rank: tuple[Any, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        method = self.method.upper()
        object.__setattr__(self, "method", method)
        if self.path == "$default":
            object.__setattr__(self, "key", "$default")
            object.__setattr__(self, "_regex", None)
            object.__setattr__(self, "_params", ())
            object.__setattr__(self, "_rank", (2, 0, (), 1))
            return
        object.__setattr__(self, "key", f"{method} {self.path}")
        pattern, params, segment_ranks, greedy = [], [], [], False
        for segment in self.path.strip("/").split("/") if self.path != "/" else []:
            m = _PARAM.match(segment)
            if m is None:
                pattern.append(re.escape(segment))
                segment_ranks.append(0)
            elif m.group(2):
                pattern.append(r"(.+)")
                params.append(m.group(1))
                greedy = True
                break  # a greedy variable is always the last segment
            else:
                pattern.append(r"([^/]+)")
                params.append(m.group(1))
                segment_ranks.append(1)
        regex = "^/" + "/".join(pattern) + "$"
        object.__setattr__(self, "_regex", re.compile(regex))
        object.__setattr__(self, "_params", tuple(params))
        # Sort key, smallest first: no greedy variable; longer greedy prefixes first; literals
        # before parameters segment by segment; the exact method before ANY.
        prefix = -len(segment_ranks) if greedy else 0
        rank = (1 if greedy else 0, prefix, tuple(segment_ranks), 1 if method == "ANY" else 0)
        object.__setattr__(self, "_rank", rank)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The decoded path parameters if this route serves the request, else None."""
        if self.method not in (method, "ANY"):
            return None
        if self._regex is None:
            return {}
        m = self._regex.match(path)
        if m is None:
            return None
        return {name: unquote(value) for name, value in zip(self._params, m.groups(), strict=True)}


@dataclass(frozen=True, slots=True)
class ApiDefinition:
    routes: tuple[Route, ...]
    cors: Cors | None = None
    api_id: str = LOCAL_API_ID


class RouteTable:
    """Routes in API Gateway's precedence order; exact paths in a dict for the common case."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._ordered = tuple(sorted(routes, key=lambda r: r._rank))
        self._exact: dict[tuple[str, str], Route] = {}
        for route in self._ordered:
            if route._regex is not None and not route._params and route.method != "ANY":
                self._exact.setdefault((route.method, route.path), route)

    @property
    def routes(self) -> tuple[Route, ...]:
        return self._ordered

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        route = self._exact.get((method, path))
        if route is not None:
            return route, {}
        for route in self._ordered:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None


def api_from_template(
    template: Mapping[str, Any],
    resolve: Callable[[Any], Any] | None = None,
    *,
    api_logical_id: str | None = None,
    function_of: Callable[[str], str] | None = None,
) -> ApiDefinition:
    """Derive routes, authorizers and CORS from a translated template's `AWS::ApiGatewayV2::Api` Body.

    `resolve` turns an intrinsic (`{"Ref": ...}`, `{"Fn::Sub": ...}`) into its value (the engine's
    resolver); without one, values are taken as they are. See `api_from_body` for `function_of`.
    """
    resources: Mapping[str, Any] = template.get("Resources", {})
    apis = [
        (lid, res)
        for lid, res in resources.items()
        if res.get("Type") == "AWS::ApiGatewayV2::Api"
        and "Body" in res.get("Properties", {})
        and (api_logical_id is None or lid == api_logical_id)
    ]
    if len(apis) != 1:
        raise ValueError(f"expected one AWS::ApiGatewayV2::Api with a Body, found {[lid for lid, _ in apis]}")
    api_lid, api = apis[0]
    return api_from_body(api["Properties"]["Body"], api_id=api_lid, resolve=resolve, function_of=function_of)


def api_from_body(
    body: Mapping[str, Any],
    *,
    api_id: str = LOCAL_API_ID,
    resolve: Callable[[Any], Any] | None = None,
    function_of: Callable[[str], str] | None = None,
) -> ApiDefinition:
    """Routes, JWT authorizers and CORS from an HTTP API's OpenAPI Body (SAM's output).

    The Body may be as translated (intrinsics in place) or already resolved. An integration's
    function is read from its uri: `${Fn.Arn}` in an Fn::Sub or an Fn::GetAtt give the logical id
    directly; a resolved uri gives a function ARN, which `function_of` maps to the logical id.
    """
    resolve = resolve or (lambda value: value)
    schemes = body.get("components", {}).get("securitySchemes", {})
    authorizers: dict[str, Authorizer] = {}
    for name, scheme in schemes.items():
        config = scheme.get("x-amazon-apigateway-authorizer")
        if config is None:
            continue
        jwt_config = config.get("jwtConfiguration", {})
        audience = resolve(jwt_config.get("audience", []))
        uri = config.get("authorizerUri")
        authorizers[name] = _authorizer(
            name=name,
            kind=str(config.get("type", "jwt")),
            identity_source=config.get("identitySource"),
            issuer=resolve(jwt_config.get("issuer", "")),
            audience=[resolve(a) for a in audience],
            function=_function_of({"uri": uri}, function_of) if uri is not None else None,
            simple_responses=bool(config.get("enableSimpleResponses", False)),
        )
    default_security = body.get("security")
    routes = []
    for path, item in body.get("paths", {}).items():
        for op_name, op in item.items():
            integration = op.get("x-amazon-apigateway-integration") if isinstance(op, Mapping) else None
            if integration is None:
                continue
            method = "ANY" if op_name == "x-amazon-apigateway-any-method" else op_name.upper()
            route_path = "$default" if path in ("$default", "/$default") else path
            authorizer, scopes = None, ()
            security = op.get("security", default_security) or []
            for requirement in security:
                for scheme_name, requirement_scopes in requirement.items():
                    if scheme_name == "NONE":  # SAM's `Authorizer: NONE` under a DefaultAuthorizer
                        continue
                    if scheme_name not in authorizers:
                        raise ValueError(f"{method} {path}: unknown authorizer {scheme_name}")
                    authorizer = authorizers[scheme_name]
                    scopes = tuple(requirement_scopes or ())
            function = _function_of(integration, function_of)
            routes.append(Route(method, route_path, function, authorizer, scopes))
    cors_doc = body.get("x-amazon-apigateway-cors")
    return ApiDefinition(
        routes=tuple(routes),
        cors=Cors.from_openapi(cors_doc) if cors_doc else None,
        api_id=api_id,
    )


def routes_from_specs(specs: Iterable[Any]) -> tuple[Route, ...]:
    """Routes from the engine's `cloud.api_routes` (`infra.localcloud.routes.ApiRoute`), or mappings
    with the same fields: `method`, `path`, `function`, `authorizer` (None, or with `type` jwt /
    request, `name`, `issuer`, `audience`, `identity_source`, `function`, `enable_simple_responses`)
    and `scopes`. `Route` objects are taken as they are."""
    routes = []
    for spec in specs:
        if isinstance(spec, Route):
            routes.append(spec)
            continue
        auth = _field(spec, "authorizer")
        authorizer: Authorizer | None = None
        if isinstance(auth, JwtAuthorizer | LambdaAuthorizer):
            authorizer = auth
        elif auth is not None:
            authorizer = _authorizer(
                name=str(_field(auth, "name", "authorizer")),
                kind=str(_field(auth, "type", "jwt")),
                identity_source=_field(auth, "identity_source"),
                issuer=_field(auth, "issuer"),
                audience=_field(auth, "audience"),
                function=_field(auth, "function"),
                simple_responses=bool(_field(auth, "enable_simple_responses", False)),
            )
        routes.append(
            Route(
                method=str(_field(spec, "method")),
                path=str(_field(spec, "path")),
                function=str(_field(spec, "function") or ""),
                authorizer=authorizer,
                scopes=tuple(_field(spec, "scopes") or ()),
            )
        )
    return tuple(routes)


def _field(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _authorizer(
    *,
    name: str,
    kind: str,
    identity_source: Any,
    issuer: Any = None,
    audience: Any = None,
    function: Any = None,
    simple_responses: bool = False,
) -> Authorizer:
    if isinstance(identity_source, str):
        sources = tuple(s.strip() for s in identity_source.split(",") if s.strip())
    else:
        sources = tuple(str(s) for s in identity_source or ())
    if kind.lower() == "jwt":
        audiences = [audience] if isinstance(audience, str) else list(audience or ())
        return JwtAuthorizer(
            name=name,
            issuer=str(issuer or ""),
            audience=tuple(str(a) for a in audiences),
            identity_source=sources[0] if sources else "$request.header.Authorization",
        )
    if kind.lower() == "request" and function:
        return LambdaAuthorizer(
            name=name,
            function=str(function),
            identity_sources=sources,
            simple_responses=simple_responses,
        )
    raise ValueError(f"authorizer {name}: a {kind} authorizer the local cloud cannot run")


_ARN_IN_SUB = re.compile(r"\$\{([A-Za-z0-9]+)\.Arn\}")
_ARN_IN_URI = re.compile(r"/functions/(arn:[^/]+)/invocations")


def _function_of(integration: Mapping[str, Any], function_of: Callable[[str], str] | None) -> str:
    uri = integration.get("uri")
    if isinstance(uri, Mapping):
        if "Fn::Sub" in uri:
            sub = uri["Fn::Sub"]
            text = sub[0] if isinstance(sub, list) else sub
            m = _ARN_IN_SUB.search(str(text))
            if m:
                return m.group(1)
            if isinstance(sub, list) and len(sub) == 2 and isinstance(sub[1], Mapping):
                # SAM's Lambda-authorizer uri: ["...${__FunctionArn__}...", {"__FunctionArn__": GetAtt}]
                for value in sub[1].values():
                    if isinstance(value, Mapping) and "Fn::GetAtt" in value:
                        return _function_of({"uri": value}, function_of)
        if "Fn::GetAtt" in uri:
            att = uri["Fn::GetAtt"]
            return str(att[0] if isinstance(att, list) else str(att).split(".")[0])
    elif isinstance(uri, str) and function_of is not None:
        m = _ARN_IN_URI.search(uri)
        return function_of(m.group(1) if m else uri)
    raise ValueError(f"cannot tell the function of integration uri {uri!r}")


# --------------------------------------------------------------------------------------------------
# Authorizers
# --------------------------------------------------------------------------------------------------


class AuthError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class JwtVerifier:
    """Verifies tokens as API Gateway's JWT authorizer does; JWKS cached per issuer."""

    def __init__(self, fetch_jwks: Callable[[str], Mapping[str, Any]] | None = None) -> None:
        self._fetch = fetch_jwks or _fetch_jwks
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def _key(self, issuer: str, kid: str) -> Any:
        keys = self._keys.get(issuer)
        if keys is not None and kid in keys:
            return keys[kid]
        with self._lock:
            last = self._fetched_at.get(issuer)
            if keys is None or last is None or time.monotonic() - last > JWKS_REFRESH_SECONDS:
                import jwt

                jwks = self._fetch(issuer)
                fresh: dict[str, Any] = {}
                for jwk in jwks.get("keys", []):
                    try:
                        fresh[str(jwk.get("kid"))] = jwt.PyJWK(dict(jwk)).key
                    except jwt.PyJWTError:
                        log.warning("unusable JWK skipped", extra={"issuer": issuer})
                self._keys[issuer] = fresh
                self._fetched_at[issuer] = time.monotonic()
            return self._keys[issuer].get(kid)

    def verify(
        self, token: str, authorizer: JwtAuthorizer, now: datetime, scopes: Sequence[str] = ()
    ) -> dict[str, Any]:
        """The `requestContext.authorizer` of a valid token; AuthError(401/403) otherwise."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "RS256":
                raise AuthError(401, "alg")
            key = self._key(authorizer.issuer, str(header.get("kid")))
            if key is None:
                raise AuthError(401, "kid")
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except AuthError:
            raise
        except Exception as exc:  # any malformed or tampered token, or a JWKS that cannot be had
            raise AuthError(401, type(exc).__name__) from None
        if claims.get("iss") != authorizer.issuer:
            raise AuthError(401, "iss")
        audience = claims.get("aud")
        if audience is None:
            audience = claims.get("client_id")
        audiences = audience if isinstance(audience, list) else [audience]
        if not any(a in authorizer.audience for a in audiences):
            raise AuthError(401, "aud")
        # exp on the virtual clock, so advancing time expires tokens. moto issues tokens on the wall
        # clock, so "not yet valid" is judged against the later of the two clocks.
        now_ts = now.timestamp()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= now_ts:
            raise AuthError(401, "exp")
        latest = max(now_ts, time.time())
        for claim in ("nbf", "iat"):
            value = claims.get(claim)
            if value is not None and (not isinstance(value, int | float) or value > latest):
                raise AuthError(401, claim)
        raw_scopes = claims.get("scp", claims.get("scope"))
        token_scopes = (
            raw_scopes.split() if isinstance(raw_scopes, str) else list(raw_scopes) if raw_scopes else None
        )
        if scopes and not (token_scopes and any(s in token_scopes for s in scopes)):
            raise AuthError(403, "scope")
        return {"jwt": {"claims": {k: _claim_text(v) for k, v in claims.items()}, "scopes": token_scopes}}


def _claim_text(value: Any) -> str:
    """A claim as API Gateway's JWT authorizer renders it: a string; arrays as `[a b c]`."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + " ".join(_claim_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _fetch_jwks(issuer: str) -> Mapping[str, Any]:
    import requests  # in-process moto intercepts requests, not urllib

    response = requests.get(issuer.rstrip("/") + "/.well-known/jwks.json", timeout=5)
    response.raise_for_status()
    result: Mapping[str, Any] = response.json()
    return result


# --------------------------------------------------------------------------------------------------
# The front door
# --------------------------------------------------------------------------------------------------


class InvalidLambdaResponse(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    source_ip: str
    request_id: str


class FrontDoor:
    """API Gateway (HTTP API, payload 2.0) and the local-only routes, for one LocalCloud."""

    def __init__(
        self,
        cloud: Cloud,
        *,
        api: ApiDefinition | None = None,
        verifier: JwtVerifier | None = None,
        region: str | None = None,
    ) -> None:
        self.cloud = cloud
        if api is None:
            api = _api_of(cloud)
        self.api = api
        self.table = RouteTable(api.routes)
        self.verifier = verifier or JwtVerifier()
        self.region = region or str(
            getattr(cloud, "region", None) or os.environ.get("AWS_REGION") or "us-east-1"
        )
        self.account_id = str(getattr(cloud, "account_id", None) or LOCAL_ACCOUNT_ID)
        self.api_id = api.api_id
        self.domain_name = f"{self.api_id}.execute-api.{self.region}.amazonaws.com"
        self._local: dict[tuple[str, str], Callable[[str, bytes], Response]] = {
            ("GET", "/_local/health"): self._health,
            ("GET", "/_local/clock"): self._clock,
            ("POST", "/_local/clock/advance"): self._advance,
            ("GET", "/_local/outbox"): self._outbox,
            ("GET", "/_local/events"): self._events,
            ("GET", "/_local/invocations"): self._invocations,
            ("POST", "/_local/ses-events"): self._ses_event,
        }

    # -- entry point ------------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str | Sequence[str]] | None = None,
        body: bytes | str | Any = b"",
        *,
        query: str = "",
        source_ip: str = "127.0.0.1",
    ) -> Response:
        """One request. `path` may carry the query; `body` may be bytes, text, or (for tests and
        tools) any JSON-able value, sent as application/json."""
        if "?" in path and not query:
            path, _, query = path.partition("?")
        hdrs = _lower_headers(headers or {})
        if not isinstance(body, bytes):
            if body is None:
                body = b""
            elif isinstance(body, str):
                body = body.encode("utf-8")
            else:
                body = json.dumps(body).encode("utf-8")
                hdrs.setdefault("content-type", _JSON)
        req = Request(method.upper(), path, query, hdrs, body, source_ip, _request_id())
        if path.startswith("/_local/"):
            status, out_headers, out_body = self._local_route(req)
        else:
            status, out_headers, out_body = self._api_route(req)
        out_headers.setdefault("x-correlation-id", hdrs.get("x-correlation-id") or req.request_id)
        out_headers["apigw-requestid"] = req.request_id
        return status, out_headers, out_body

    # -- API routes -------------------------------------------------------------------------------

    def _api_route(self, req: Request) -> Response:
        cors = self.api.cors
        if cors is not None and req.method == "OPTIONS" and "access-control-request-method" in req.headers:
            return self._preflight(cors, req.headers)
        found = self.table.match(req.method, req.path)
        if found is None:
            return _error(404, "not_found", f"No route for {req.method} {req.path}")
        route, path_params = found
        now = self.cloud.clock.now()
        authorizer_context = None
        try:
            if isinstance(route.authorizer, JwtAuthorizer):
                token = _identity(route.authorizer.identity_source, req.headers, req.query)
                if not token:
                    raise AuthError(401, "no token")
                authorizer_context = self.verifier.verify(token, route.authorizer, now, route.scopes)
            elif isinstance(route.authorizer, LambdaAuthorizer):
                authorizer_context = self._lambda_authorize(route.authorizer, req, route, path_params, now)
        except AuthError as err:
            log.info("authorizer refused the request", extra={"route": route.key, "reason": err.reason})
            if err.status == 500:
                return _copy(_AUTHORIZER_FAILED)
            return _copy(_FORBIDDEN if err.status == 403 else _UNAUTHORIZED)
        event = self.build_event(req, route, path_params, now=now, authorizer=authorizer_context)
        try:
            result = self.cloud.invoke(route.function, event, trigger="http")
            response = _lambda_response(result)
        except Exception:
            # The function's failure stays in the server log; the client gets no detail of it.
            log.exception("integration failed", extra={"route": route.key, "function": route.function})
            return _error(502, "bad_gateway", "The function behind this route failed.")
        if cors is not None:
            _add_cors(cors, req.headers.get("origin"), response[1])
        return response

    def build_event(
        self,
        req: Request,
        route: Route,
        path_params: Mapping[str, str],
        *,
        now: datetime,
        authorizer: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The payload-format-2.0 event API Gateway would send for this request."""
        headers = dict(req.headers)
        cookie_header = headers.pop("cookie", None)
        context: dict[str, Any] = {
            "accountId": self.account_id,
            "apiId": self.api_id,
            "domainName": self.domain_name,
            "domainPrefix": self.api_id,
            "http": {
                "method": req.method,
                "path": req.path,
                "protocol": "HTTP/1.1",
                "sourceIp": req.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": req.request_id,
            "routeKey": route.key,
            "stage": "$default",
            "time": _clf_time(now),
            "timeEpoch": int(now.timestamp() * 1000),
        }
        if authorizer is not None:
            context["authorizer"] = authorizer
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": req.path,
            "rawQueryString": req.query,
        }
        if cookie_header:
            event["cookies"] = [c.strip() for c in cookie_header.replace(",", ";").split(";") if c.strip()]
        event["headers"] = headers
        if req.query:
            params: dict[str, str] = {}
            for name, value in parse_qsl(req.query, keep_blank_values=True):
                params[name] = f"{params[name]},{value}" if name in params else value
            event["queryStringParameters"] = params
        event["requestContext"] = context
        if path_params:
            event["pathParameters"] = dict(path_params)
        event["isBase64Encoded"] = False
        if req.body:
            text = _text_of(req.body, headers.get("content-type", ""))
            if text is None:
                event["body"] = base64.b64encode(req.body).decode("ascii")
                event["isBase64Encoded"] = True
            else:
                event["body"] = text
        return event

    def _lambda_authorize(
        self,
        authorizer: LambdaAuthorizer,
        req: Request,
        route: Route,
        path_params: Mapping[str, str],
        now: datetime,
    ) -> dict[str, Any]:
        """Run a REQUEST authorizer (payload 2.0) as API Gateway does, without its result cache.

        A missing identity source is a 401 without a call; `isAuthorized` false (simple responses)
        or a policy without an Allow is a 403; a failing authorizer is a 500.
        """
        identity = [
            _identity(source, req.headers, req.query, strip_bearer=False)
            for source in authorizer.identity_sources
        ]
        if not all(identity):
            raise AuthError(401, "identity source missing")
        event = self.build_event(req, route, path_params, now=now)
        event.pop("body", None)
        event.pop("isBase64Encoded", None)
        event.update(
            type="REQUEST",
            routeArn=f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api_id}/$default/"
            f"{req.method}{req.path}",
            identitySource=identity,
        )
        try:
            result = self.cloud.invoke(authorizer.function, event, trigger="http")
            if hasattr(result, "payload") and hasattr(result, "error"):
                if result.error is not None:
                    raise InvalidLambdaResponse(str(result.error.get("errorType")))
                result = result.payload
        except Exception:
            log.exception("authorizer failed", extra={"authorizer": authorizer.name})
            raise AuthError(500, "authorizer failed") from None
        if not isinstance(result, Mapping):
            raise AuthError(500, "authorizer answered no object")
        if authorizer.simple_responses:
            allowed = result.get("isAuthorized") is True
        else:
            statements = (result.get("policyDocument") or {}).get("Statement") or []
            effects = {str(st.get("Effect", "")).lower() for st in statements if isinstance(st, Mapping)}
            allowed = "allow" in effects and "deny" not in effects
        if not allowed:
            raise AuthError(403, "authorizer denied")
        context = result.get("context")
        return {"lambda": dict(context) if isinstance(context, Mapping) else {}}

    def _preflight(self, cors: Cors, headers: dict[str, str]) -> Response:
        out: dict[str, str] = {}
        origin = headers.get("origin")
        allowed = cors.allowed_origin(origin) if origin else None
        if allowed is not None:
            out["access-control-allow-origin"] = allowed
            if cors.allow_methods:
                out["access-control-allow-methods"] = (
                    headers["access-control-request-method"].upper()
                    if "*" in cors.allow_methods
                    else ",".join(cors.allow_methods)
                )
            requested = headers.get("access-control-request-headers")
            if "*" in cors.allow_headers and requested:
                out["access-control-allow-headers"] = requested.lower()
            elif cors.allow_headers:
                out["access-control-allow-headers"] = ",".join(cors.allow_headers)
            if cors.max_age is not None:
                out["access-control-max-age"] = str(cors.max_age)
            if cors.allow_credentials:
                out["access-control-allow-credentials"] = "true"
            if cors.expose_headers:
                out["access-control-expose-headers"] = ",".join(cors.expose_headers)
        return 204, out, b""

    # -- local-only routes ------------------------------------------------------------------------

    def _local_route(self, req: Request) -> Response:
        if req.method == "GET" and req.path.startswith(LOCAL_S3_PREFIX + "/"):
            return self._s3_object(req.path[len(LOCAL_S3_PREFIX) + 1 :], req.query)
        path = req.path.rstrip("/")
        handler = self._local.get((req.method, path))
        if handler is None:
            if any(p == path for _, p in self._local):
                return _error(405, "method_not_allowed", f"{req.method} is not allowed on {req.path}")
            return _error(404, "not_found", f"No route for {req.method} {req.path}")
        try:
            return handler(req.query, req.body)
        except Exception:
            log.exception("local route failed", extra={"path": req.path})
            return _error(500, "internal_error", "The local cloud failed to answer this request.")

    def _s3_object(self, bucket_and_key: str, query: str) -> Response:
        """The object of a presigned GET link, as S3 would answer it: 403 once the link has expired
        (``X-Amz-Date`` + ``X-Amz-Expires``; on the real clock, the one botocore signs with, not the
        virtual one), 404 for a missing object."""
        bucket, _, key = bucket_and_key.partition("/")
        params = dict(parse_qsl(query))
        try:
            if "Expires" in params:  # SigV2 query string: an epoch second
                expires_at = datetime.fromtimestamp(int(params["Expires"]), UTC)
            else:  # SigV4: signed at, valid for
                signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                expires_at = signed_at + timedelta(seconds=int(params["X-Amz-Expires"]))
        except (KeyError, ValueError, OverflowError):
            return _error(
                403, "access_denied", "Not a presigned link (Expires, or X-Amz-Date and X-Amz-Expires)."
            )
        if datetime.now(UTC) > expires_at:
            return _error(403, "access_denied", "Request has expired.")
        cloud: Any = self.cloud
        try:
            answer = cloud.client("s3").get_object(Bucket=bucket, Key=unquote(key))
        except Exception as exc:  # botocore's ClientError: the codes S3 would send
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "NoSuchBucket", "404"):
                return _error(404, "not_found", "No such object.")
            raise
        content_type = str(answer.get("ContentType") or "application/octet-stream")
        return 200, {"content-type": content_type}, answer["Body"].read()

    def _health(self, query: str, body: bytes) -> Response:
        functions = getattr(self.cloud, "functions", None)
        count = len(functions) if functions is not None else len({r.function for r in self.api.routes})
        return _json(200, {"status": "ok", "clock": to_utc_iso(self.cloud.clock.now()), "functions": count})

    def _clock(self, query: str, body: bytes) -> Response:
        now = self.cloud.clock.now()
        return _json(200, {"now": to_utc_iso(now), "epoch": now.timestamp()})

    def _advance(self, query: str, body: bytes) -> Response:
        try:
            doc = json.loads(body or b"null")
        except ValueError:
            return _error(400, "bad_request", "The body is not JSON.")
        seconds = doc.get("seconds") if isinstance(doc, dict) else None
        valid = (
            isinstance(seconds, int | float)
            and not isinstance(seconds, bool)
            and math.isfinite(seconds)
            and 0 < seconds <= MAX_ADVANCE_SECONDS
        )
        if not valid:
            return _error(
                422,
                "validation_failed",
                "seconds must be a positive number of at most 400 days.",
                [{"field": "seconds", "message": f"a number in (0, {MAX_ADVANCE_SECONDS}]"}],
            )
        before = self.cloud.clock.now()
        self.cloud.advance(float(seconds))  # type: ignore[arg-type]  # checked above
        return _json(
            200, {"from": to_utc_iso(before), "now": to_utc_iso(self.cloud.clock.now()), "advanced": seconds}
        )

    def _outbox(self, query: str, body: bytes) -> Response:
        return _json(200, {"messages": list(getattr(self.cloud, "outbox", None) or [])})

    def _events(self, query: str, body: bytes) -> Response:
        limit = _limit(query)
        if limit is None:
            return _bad_limit()
        events = list(getattr(self.cloud, "events", None) or [])
        return _json(200, {"events": events[-limit:]})

    def _ses_event(self, query: str, body: bytes) -> Response:
        """What SES would publish next for an e-mail the local fake recorded: ``{"send_id",
        "kind": delivered|clicked|bounced|complained}`` → the SES-shaped event on the default bus
        (services/campaigns/dal/local_ses.py; moto's SES publishes none), then the cloud settles."""
        # Campaigns' stand-in for SES, imported only when asked for.
        from services.campaigns.dal.local_ses import DETAIL_TYPES, LocalSesEventSimulator

        try:
            doc = json.loads(body or b"null")
        except ValueError:
            return _error(400, "bad_request", "The body is not JSON.")
        doc = doc if isinstance(doc, dict) else {}
        kind = next((k for k in DETAIL_TYPES if k == doc.get("kind")), None)
        send_id = doc.get("send_id")
        problems = []
        if kind is None:
            problems.append({"field": "kind", "message": f"one of {', '.join(sorted(DETAIL_TYPES))}"})
        if not isinstance(send_id, str) or not send_id:
            problems.append({"field": "send_id", "message": "the send id of an e-mail in the outbox"})
        if kind is None or not isinstance(send_id, str) or problems:
            return _error(422, "validation_failed", "The SES event cannot be simulated.", problems)
        cloud: Any = self.cloud  # the whole LocalCloud (its bus client, resources, settle)
        sent = [
            m
            for m in getattr(cloud, "outbox", None) or []
            if m.get("channel") == "email" and m.get("send_id") == send_id
        ]
        if not sent:
            return _error(404, "not_found", "No e-mail with this send id in the local outbox.")
        message = sent[-1]
        now = cloud.clock.now()
        simulator = LocalSesEventSimulator(
            cloud.client("events"), cloud.physical_id("CampaignsEmailConfigurationSet")
        )
        simulator.post(
            kind,
            send_id=send_id,
            message_id=str(message.get("provider_message_id") or message.get("id")),
            sent_at=datetime.fromisoformat(str(message["at"])) if message.get("at") else now,
            at=now,
        )
        cloud.settle()
        return _json(202, {"posted": DETAIL_TYPES[kind], "send_id": send_id, "at": to_utc_iso(now)})

    def _invocations(self, query: str, body: bytes) -> Response:
        limit = _limit(query)
        if limit is None:
            return _bad_limit()
        records = list(getattr(self.cloud, "invocations", None) or [])[-limit:]
        lines = [r.line() if hasattr(r, "line") else str(r) for r in records]
        return _json(200, {"invocations": lines})


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _api_of(cloud: Any) -> ApiDefinition:
    """The API the engine parsed (`cloud.apis`, `infra.localcloud.routes.ApiInfo`).

    All APIs share the one local port; the first API's id and CORS configuration apply."""
    apis = getattr(cloud, "apis", None)
    if apis is None:
        raise TypeError("the cloud has no `apis`: pass FrontDoor(cloud, api=...)")
    if len(apis) > 1:
        log.warning("several HTTP APIs share the local port; routes are merged", extra={"apis": len(apis)})
    first = apis[0] if apis else None
    cors_doc = getattr(first, "cors", None)
    return ApiDefinition(
        routes=routes_from_specs(route for api in apis for route in api.routes),
        cors=Cors.from_openapi(cors_doc) if isinstance(cors_doc, Mapping) and cors_doc else None,
        api_id=str(getattr(first, "api_id", LOCAL_API_ID)),
    )


def _lower_headers(headers: Mapping[str, str | Sequence[str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        text = value if isinstance(value, str) else ",".join(value)
        key = name.lower()
        out[key] = f"{out[key]},{text}" if key in out else text
    return out


def _identity(source: str, headers: dict[str, str], query: str, *, strip_bearer: bool = True) -> str | None:
    if source.startswith("$request.header."):
        value = headers.get(source[len("$request.header.") :].lower())
    elif source.startswith("$request.querystring."):
        name = source[len("$request.querystring.") :]
        value = next((v for k, v in parse_qsl(query) if k == name), None)
    else:
        value = None
    if not value:
        return None
    if strip_bearer and value[:7].lower() == "bearer ":
        value = value[7:]
    return value.strip() or None


def _text_of(body: bytes, content_type: str) -> str | None:
    """The body as text when API Gateway would pass it as text (a text media type, valid UTF-8)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if not (media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml"))):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _lambda_response(result: Any) -> Response:
    """A Lambda result mapped by the payload-2.0 response rules.

    `result` is the function's payload, or the runner's result object (`payload`, `error`).
    """
    if hasattr(result, "payload") and hasattr(result, "error"):
        if result.error is not None:
            raise InvalidLambdaResponse(str(result.error.get("errorType", "Error")))
        result = result.payload
    if isinstance(result, Mapping) and "errorMessage" in result and "statusCode" not in result:
        raise InvalidLambdaResponse(str(result.get("errorType", "Error")))
    if not (isinstance(result, Mapping) and "statusCode" in result):
        return 200, {"content-type": _JSON}, json.dumps(result).encode()
    status = result["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise InvalidLambdaResponse(f"statusCode {status!r}")
    headers = {str(k).lower(): _header_text(v) for k, v in (result.get("headers") or {}).items()}
    cookies = result.get("cookies")
    if cookies:
        headers["set-cookie"] = "\n".join(str(c) for c in cookies)
    raw = result.get("body")
    if raw is None:
        body = b""
    elif result.get("isBase64Encoded"):
        try:
            body = base64.b64decode(str(raw), validate=True)
        except binascii.Error as exc:
            raise InvalidLambdaResponse("body is not base64") from exc
    else:
        body = (raw if isinstance(raw, str) else json.dumps(raw)).encode()
    if body:
        headers.setdefault("content-type", _JSON)
    return status, headers, body


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _add_cors(cors: Cors, origin: str | None, headers: dict[str, str]) -> None:
    """API Gateway replaces the integration's CORS headers with its own configuration's."""
    for name in [h for h in headers if h.startswith("access-control-")]:
        del headers[name]
    allowed = cors.allowed_origin(origin) if origin else None
    if allowed is None:
        return
    headers["access-control-allow-origin"] = allowed
    if cors.allow_credentials:
        headers["access-control-allow-credentials"] = "true"
    if cors.expose_headers:
        headers["access-control-expose-headers"] = ",".join(cors.expose_headers)


def _request_id() -> str:
    return base64.b64encode(os.urandom(10)).decode("ascii")


def _clf_time(now: datetime) -> str:
    t = now.astimezone(UTC)
    return f"{t.day:02d}/{_MONTHS[t.month - 1]}/{t.year}:{t.hour:02d}:{t.minute:02d}:{t.second:02d} +0000"


def _limit(query: str) -> int | None:
    raw = next((v for k, v in parse_qsl(query) if k == "limit"), None)
    if raw is None:
        return DEFAULT_EVENTS_LIMIT
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


def _bad_limit() -> Response:
    return _error(
        422, "validation_failed", "limit must be a positive integer.", [{"field": "limit", "message": ">= 1"}]
    )


def _json(status: int, doc: Any) -> Response:
    return status, {"content-type": _JSON}, json.dumps(doc, default=_default).encode()


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_utc_iso(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    return str(value)


def _error(status: int, code: str, message: str, fields: list[dict[str, str]] | None = None) -> Response:
    return _json(status, error_body(code, message, fields))


def _copy(response: Response) -> Response:
    return response[0], dict(response[1]), response[2]


__all__ = [
    "ApiDefinition",
    "AuthError",
    "Cors",
    "FrontDoor",
    "JwtAuthorizer",
    "JwtVerifier",
    "LambdaAuthorizer",
    "Route",
    "RouteTable",
    "api_from_body",
    "api_from_template",
    "routes_from_specs",
]
