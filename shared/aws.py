"""The one factory for boto3 clients: cached, configured, and pointed at the right cloud.

Why one factory:

* creating a boto3 client costs 50-115 ms, so each is created once per container and reused;
* the same code runs against real AWS, in-process moto (the local cloud) and LocalStack, chosen by
  ``MALLCRM_AWS_TARGET`` (``aws`` default, ``local``, ``localstack``) when the client is requested;
* timeouts and retries are set once, deliberately (botocore's defaults wait 60 s on a read, longer
  than API Gateway waits for the whole request);
* botocore's client-side parameter validation runs wherever our tests and the local cloud run
  (``local``, ``localstack``) and is off on AWS, where the service validates every request itself
  (a malformed request still fails, with a ``ValidationException``, and writes nothing). On the hot
  paths it was a third of the SDK's CPU per request. ``MALLCRM_SDK_PARAM_VALIDATION`` (``on`` /
  ``off``) overrides the default (docs/decisions.md, "Client-side parameter validation: on in tests,
  off on AWS");
* DynamoDB clients skip botocore's per-value walk of the service model on the data-plane calls,
  and SQS clients on the sends (:mod:`shared.aws_json`, exact and tested against botocore;
  ``MALLCRM_SDK_FAST_JSON=off`` turns it off): that walk was a third to a half of the SDK's CPU per
  request on the send and purchase paths;
* every client signs its plain SigV4 requests with :mod:`shared.aws_sign` (the same signature as
  botocore's, tested against it, in a fifth of the CPU; ``MALLCRM_SDK_FAST_SIGN=off`` turns it off).

The cache key holds the target, the region, the endpoint and the three SDK settings, so a
test that switches the environment gets a fresh client; :func:`reset_clients` empties it. boto3 is
imported inside the function: a handler module that imports this one does not pay for boto3 until
it needs a client.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Literal

from shared import aws_json
from shared.switches import switch

__all__ = [
    "LOCAL_S3_LINK_BASE",
    "TARGETS",
    "Target",
    "client",
    "local_link",
    "parameter_validation",
    "reset_clients",
    "target",
]

Target = Literal["aws", "local", "localstack"]
TARGETS: tuple[Target, ...] = ("aws", "local", "localstack")

_lock = threading.Lock()
_clients: dict[tuple[str, str, str | None, str | None, bool, bool, bool], Any] = {}
_session: Any = None  # one boto3 Session: its loader caches service models across clients

# Seconds. A Lambda behind API Gateway has ~29 s in all; a call that takes longer than this has
# failed and the standard retry mode will try again (3 attempts, with backoff and a retry quota).
CONNECT_TIMEOUT = 2
READ_TIMEOUT = 8
MAX_ATTEMPTS = 3


def target() -> Target:
    """The target named by ``MALLCRM_AWS_TARGET`` now (``aws`` when unset)."""
    value = os.environ.get("MALLCRM_AWS_TARGET", "aws").strip().lower() or "aws"
    if value not in TARGETS:
        raise ValueError(f"MALLCRM_AWS_TARGET must be one of {', '.join(TARGETS)}; got {value!r}")
    return value


LOCAL_S3_LINK_BASE = "MALLCRM_LOCAL_S3_LINK_BASE"
"""Set by the local dev server: where it serves the objects presigned S3 links name."""


def local_link(presigned_url: str, bucket: str, key: str) -> str:
    """A presigned S3 GET link as a person can open it: unchanged on AWS; on the local cloud (where
    S3 is in-process moto, reachable by no browser) the same query on the dev server's
    ``/_local/s3/<bucket>/<key>``, which serves the object while the link has not expired."""
    base = os.environ.get(LOCAL_S3_LINK_BASE)
    if not base or target() != "local":
        return presigned_url
    from urllib.parse import quote, urlsplit  # noqa: PLC0415 - only the local cloud needs it

    return f"{base}/{bucket}/{quote(key)}?{urlsplit(presigned_url).query}"


def _region(chosen: Target) -> str | None:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region is None and chosen != "aws":
        return "us-east-1"
    return region


def _endpoint(chosen: Target, service_name: str) -> str | None:
    if chosen == "localstack":
        return os.environ.get("LOCALSTACK_HOST", "localhost:4566")
    # botocore honours these itself; they are part of the key so a change yields a new client.
    service_var = "AWS_ENDPOINT_URL_" + service_name.upper().replace("-", "_")
    return os.environ.get(service_var) or os.environ.get("AWS_ENDPOINT_URL")


def parameter_validation(chosen: Target) -> bool:
    """Whether botocore validates requests client-side for ``chosen``: on unless on AWS, where the
    service validates; ``MALLCRM_SDK_PARAM_VALIDATION`` (``on``/``off``) decides when set."""
    setting = switch("MALLCRM_SDK_PARAM_VALIDATION")
    return chosen != "aws" if setting is None else setting


def fast_signing() -> bool:
    """Whether clients sign plain SigV4 requests with :mod:`shared.aws_sign`: yes unless
    ``MALLCRM_SDK_FAST_SIGN`` says off."""
    return switch("MALLCRM_SDK_FAST_SIGN") is not False


def _user_agent() -> str:
    """A fixed User-Agent naming us, botocore and Python. Without one botocore rebuilds its
    feature-tracking string on every call, sanitising it character by character (~0.03 ms per call
    on the purchase path, measured); CloudTrail's userAgent still says which SDK sent a request."""
    import platform  # noqa: PLC0415

    import botocore  # noqa: PLC0415

    return f"mallcrm/1 botocore/{botocore.__version__} Python/{platform.python_version()}"


def _config(chosen: Target) -> Any:
    from botocore.config import Config  # noqa: PLC0415

    options: dict[str, Any] = {
        "retries": {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        "connect_timeout": CONNECT_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
        "tcp_keepalive": True,
        "parameter_validation": parameter_validation(chosen),
        "user_agent": _user_agent(),
    }
    if chosen != "aws":
        # moto does not know botocore's account-id endpoints (DynamoDB, Streams).
        options["account_id_endpoint_mode"] = "disabled"
    return Config(**options)


def _create(chosen: Target, service_name: str, region: str | None, endpoint: str | None) -> Any:
    if chosen == "localstack":
        from localstack_client.session import Session  # noqa: PLC0415 - dev-only dependency, imported on demand

        session = Session(region_name=region or "us-east-1", localstack_host=endpoint)
        return session.client(service_name, config=_config(chosen))

    global _session  # noqa: PLW0603 - created lazily, under _lock, once per process
    if _session is None:
        import boto3  # noqa: PLC0415

        if chosen == "aws":
            from shared.observability import instrument_aws_sdk  # noqa: PLC0415

            instrument_aws_sdk()

        _session = boto3.session.Session()
    created = _session.client(service_name, region_name=region, config=_config(chosen))
    if service_name in aws_json.SERVICES and aws_json.enabled():
        aws_json.install(created)
    if fast_signing():
        from shared import aws_sign  # noqa: PLC0415 - imports botocore.auth: with the first client

        aws_sign.install(created)
    if chosen == "local":
        # In-process moto intercepts through a botocore hook that only clients created after moto
        # was imported carry; patch explicitly so import order cannot leak a call to real AWS.
        from moto.core.models import patch_client  # noqa: PLC0415

        patch_client(created)
    return created


def client(service_name: str) -> Any:
    """A cached boto3 client for ``service_name`` (``"dynamodb"``, ``"events"``, …) on the current target."""
    chosen = target()
    region = _region(chosen)
    endpoint = _endpoint(chosen, service_name)
    key = (
        service_name,
        chosen,
        region,
        endpoint,
        parameter_validation(chosen),
        aws_json.enabled(),
        fast_signing(),
    )
    cached = _clients.get(key)
    if cached is not None:
        return cached
    with _lock:
        cached = _clients.get(key)
        if cached is None:
            cached = _create(chosen, service_name, region, endpoint)
            _clients[key] = cached
        return cached


def reset_clients() -> None:
    """Forget every cached client (tests, and the local cloud after a reset)."""
    global _session  # noqa: PLW0603
    with _lock:
        _clients.clear()
        _session = None
