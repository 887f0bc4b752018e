"""Campaigns' part of a member's data export through the local cloud, wired only from
template.yaml: a member registers with an SMS marketing consent (members → bus → campaigns' consent
projection), asks for her data export (members → MemberExportRequested → campaigns' rule → queue →
CampaignsOnMemberExportFunction → the export bucket), and members' export view lists the campaigns
part, which holds her consent in clear."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from infra.localcloud.cloud import LocalCloud
from shared.aws import LOCAL_S3_LINK_BASE
from tests.local import platform_scenario as flow

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def _call(cloud: LocalCloud, method: str, path: str, token: str) -> tuple[int, Any]:
    status, _, raw = cloud.http(method, path, {"authorization": f"Bearer {token}"}, b"")
    return status, json.loads(raw) if raw else None


@pytest.fixture(scope="module")
def exported() -> Iterator[dict[str, Any]]:
    cloud = LocalCloud.start(ROOT)
    # What the dev server sets (infra/localcloud/__main__.py): its own address for download links.
    cloud.runner.shared_env[LOCAL_S3_LINK_BASE] = "http://127.0.0.1:3000/_local/s3"
    try:
        consent = {"purpose": "marketing", "channel": "sms", "granted": True, "text_version": "mkt-2026-11"}
        status, registered = flow.register(cloud, "o-cmp-export", "13900007777", [consent])
        assert status == 201, registered
        member_id, token = registered["member"]["member_id"], registered["token"]
        cloud.settle()
        status, export = _call(cloud, "POST", "/v1/members/me/export", token)
        assert status == 200, export
        cloud.settle()
        export_id = export["export"]["export_id"]
        view = _call(cloud, "GET", f"/v1/members/me/exports/{export_id}", token)
        body = cloud.client("s3").get_object(
            Bucket=cloud.physical_id("MemberExportsBucket"), Key=f"exports/{export_id}/campaigns.json"
        )["Body"]
        link = urlsplit(view[1]["parts"]["campaigns"]["url"])
        downloaded = cloud.http("GET", f"{link.path}?{link.query}", {}, b"")
        unsigned = cloud.http("GET", link.path, {}, b"")
        yield {
            "member_id": member_id,
            "view": view,
            "part": json.loads(body.read()),
            "link": link,
            "downloaded": downloaded,
            "unsigned": unsigned,
        }
    finally:
        cloud.stop()


def test_members_export_view_lists_the_campaigns_part(exported: dict[str, Any]) -> None:
    status, view = exported["view"]
    assert status == 200, view
    assert "campaigns" in view["parts"] and "campaigns" not in view["missing"]


def test_the_campaigns_part_holds_her_consent_in_clear(exported: dict[str, Any]) -> None:
    part = exported["part"]
    assert (part["format"], part["service"], part["member_id"]) == (
        "mallcrm.member-export-part.v1",
        "campaigns",
        exported["member_id"],
    )
    assert [(c["purpose"], c["channel"], c["granted"]) for c in part["data"]["consents"]] == [
        ("marketing", "sms", True)
    ]


def test_the_download_link_opens_on_the_local_cloud(exported: dict[str, Any]) -> None:
    link, (status, _, raw) = exported["link"], exported["downloaded"]
    assert (link.scheme, link.netloc) == ("http", "127.0.0.1:3000")
    assert link.path.startswith("/_local/s3/") and "Expires=" in link.query
    assert status == 200 and json.loads(raw) == exported["part"]
    assert exported["unsigned"][0] == 403  # not a presigned link: S3 would refuse it too
