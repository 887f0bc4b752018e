"""The HTTP APIs of the template, as the front door needs them.

Routes come from each translated ``AWS::ApiGatewayV2::Api``'s OpenAPI ``Body`` (what SAM emits for
``AWS::Serverless::HttpApi``), or from explicit ``AWS::ApiGatewayV2::Route`` / ``Integration``
resources. Each route names the function that serves it (by logical id) and its authorizer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ApiAuthorizer", "ApiInfo", "ApiRoute", "parse_apis"]

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "x-amazon-apigateway-any-method")


@dataclass(frozen=True)
class ApiAuthorizer:
    """An HTTP API authorizer: ``jwt`` (issuer + audience) or ``request`` (a Lambda authorizer)."""

    name: str
    type: str
    identity_source: list[str] = field(default_factory=list)
    issuer: str | None = None
    audience: list[str] = field(default_factory=list)
    function: str | None = None
    payload_format_version: str | None = None
    enable_simple_responses: bool = False


@dataclass(frozen=True)
class ApiRoute:
    """One route: ``method`` is upper case or ``ANY``; ``path`` uses ``{param}`` / ``{proxy+}``."""

    api: str
    method: str
    path: str
    function: str | None
    authorizer: ApiAuthorizer | None
    scopes: list[str] = field(default_factory=list)
    payload_format_version: str = "2.0"
    timeout_ms: int | None = None

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class ApiInfo:
    logical_id: str
    api_id: str
    stage: str
    routes: list[ApiRoute]
    cors: dict[str, Any] | None
    authorizers: dict[str, ApiAuthorizer]


def _function_from_uri(uri: Any, find_function: Callable[[str], str | None]) -> str | None:
    if isinstance(uri, dict):
        uri = uri.get("Fn::Sub") or uri.get("Ref")
    if not isinstance(uri, str):
        return None
    if "/functions/" in uri:
        uri = uri.split("/functions/", 1)[1].rsplit("/invocations", 1)[0]
    return find_function(uri)


def _authorizers(
    body: Mapping[str, Any], find_function: Callable[[str], str | None]
) -> dict[str, ApiAuthorizer]:
    found: dict[str, ApiAuthorizer] = {}
    schemes = ((body.get("components") or {}).get("securitySchemes")) or {}
    for name, scheme in schemes.items():
        config = (scheme or {}).get("x-amazon-apigateway-authorizer") or {}
        kind = str(config.get("type", "jwt")).lower()
        source = config.get("identitySource") or scheme.get("name") or []
        sources = [s.strip() for s in source.split(",")] if isinstance(source, str) else list(source)
        if kind == "jwt":
            jwt = config.get("jwtConfiguration") or {}
            audience = jwt.get("audience") or []
            found[name] = ApiAuthorizer(
                name=name,
                type="jwt",
                identity_source=sources,
                issuer=jwt.get("issuer"),
                audience=[str(a) for a in (audience if isinstance(audience, list) else [audience])],
            )
        else:
            found[name] = ApiAuthorizer(
                name=name,
                type="request",
                identity_source=sources,
                function=_function_from_uri(config.get("authorizerUri"), find_function),
                payload_format_version=config.get("authorizerPayloadFormatVersion"),
                enable_simple_responses=bool(config.get("enableSimpleResponses", False)),
            )
    return found


def _routes_from_body(
    logical_id: str, body: Mapping[str, Any], find_function: Callable[[str], str | None]
) -> tuple[list[ApiRoute], dict[str, ApiAuthorizer]]:
    authorizers = _authorizers(body, find_function)
    default_security = body.get("security") or []
    routes: list[ApiRoute] = []
    for path, item in (body.get("paths") or {}).items():
        for method, operation in (item or {}).items():
            if method.lower() not in _METHODS or not isinstance(operation, dict):
                continue
            integration = operation.get("x-amazon-apigateway-integration") or {}
            security = operation.get("security", default_security) or []
            authorizer: ApiAuthorizer | None = None
            scopes: list[str] = []
            for requirement in security:
                for name, requirement_scopes in (requirement or {}).items():
                    if name in authorizers:
                        authorizer = authorizers[name]
                        scopes = list(requirement_scopes or [])
            timeout = integration.get("timeoutInMillis")
            routes.append(
                ApiRoute(
                    api=logical_id,
                    method="ANY" if method.lower() == "x-amazon-apigateway-any-method" else method.upper(),
                    path=path,
                    function=_function_from_uri(integration.get("uri"), find_function),
                    authorizer=authorizer,
                    scopes=scopes,
                    payload_format_version=str(integration.get("payloadFormatVersion", "2.0")),
                    timeout_ms=int(timeout) if timeout else None,
                )
            )
    return routes, authorizers


def parse_apis(
    resources: Mapping[str, Any],
    find_function: Callable[[str], str | None],
) -> list[ApiInfo]:
    """Every HTTP API in the provisioned resources (``{logical id: Resource}``)."""
    apis: list[ApiInfo] = []
    by_type: dict[str, list[tuple[str, Any]]] = {}
    for logical_id, resource in resources.items():
        by_type.setdefault(resource.type, []).append((logical_id, resource))
    stages = {
        str(r.properties.get("ApiId")): str(r.physical_id)
        for _, r in by_type.get("AWS::ApiGatewayV2::Stage", [])
    }
    integrations = {r.physical_id: r.properties for _, r in by_type.get("AWS::ApiGatewayV2::Integration", [])}
    explicit_authorizers: dict[str, ApiAuthorizer] = {}
    for logical_id, resource in by_type.get("AWS::ApiGatewayV2::Authorizer", []):
        props = resource.properties
        jwt = props.get("JwtConfiguration") or {}
        explicit_authorizers[resource.physical_id] = ApiAuthorizer(
            name=str(props.get("Name", logical_id)),
            type=str(props.get("AuthorizerType", "JWT")).lower(),
            identity_source=list(props.get("IdentitySource") or []),
            issuer=jwt.get("Issuer"),
            audience=list(jwt.get("Audience") or []),
            function=_function_from_uri(props.get("AuthorizerUri"), find_function),
            payload_format_version=props.get("AuthorizerPayloadFormatVersion"),
            enable_simple_responses=bool(props.get("EnableSimpleResponses", False)),
        )
    for logical_id, resource in by_type.get("AWS::ApiGatewayV2::Api", []):
        props = resource.properties
        body = props.get("Body") or {}
        routes, authorizers = _routes_from_body(logical_id, body, find_function) if body else ([], {})
        for _, route_resource in by_type.get("AWS::ApiGatewayV2::Route", []):
            route_props = route_resource.properties
            if str(route_props.get("ApiId")) != resource.physical_id:
                continue
            key = str(route_props.get("RouteKey", "$default"))
            method, _, path = key.partition(" ") if key != "$default" else ("ANY", "", "$default")
            target = str(route_props.get("Target", ""))
            integration = integrations.get(target.split("/", 1)[1] if "/" in target else target) or {}
            authorizer = explicit_authorizers.get(str(route_props.get("AuthorizerId", "")))
            routes.append(
                ApiRoute(
                    api=logical_id,
                    method=method.upper(),
                    path=path or "$default",
                    function=_function_from_uri(integration.get("IntegrationUri"), find_function),
                    authorizer=authorizer if route_props.get("AuthorizationType", "NONE") != "NONE" else None,
                    scopes=list(route_props.get("AuthorizationScopes") or []),
                    payload_format_version=str(integration.get("PayloadFormatVersion", "2.0")),
                )
            )
        authorizers.update({a.name: a for a in explicit_authorizers.values()})
        apis.append(
            ApiInfo(
                logical_id=logical_id,
                api_id=resource.physical_id,
                stage=stages.get(resource.physical_id, "$default"),
                routes=routes,
                cors=body.get("x-amazon-apigateway-cors") or props.get("CorsConfiguration"),
                authorizers=authorizers,
            )
        )
    return apis
