"""Settings every suite shares: fake credentials, one region, no real AWS reachable by accident."""

from __future__ import annotations

import os

# Set before any boto3 client exists. A test that reached real AWS would fail on these credentials.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        # botocore's account-id endpoints are unknown to moto (see docs/decisions.md).
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "MallCRM",
        "POWERTOOLS_DEV": "false",
        "MALLCRM_AWS_TARGET": "local",
    }
)
for proxy_var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
    os.environ.pop(proxy_var, None)
