"""Clouds booted on their own: nested stacks, misplaced handlers, failed boots."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.localcloud.cloud import LocalCloud
from infra.localcloud.provision import ProvisionError
from tests.unit.localcloud.conftest import ROOT, start_cloud


def test_nested_stack_is_provisioned_with_its_outputs() -> None:
    cloud = start_cloud("parent.yaml")
    try:
        queue_arn = cloud.attribute("Child", "Outputs.QueueArn")
        assert queue_arn == "arn:aws:sqs:us-east-1:123456789012:nested-dev-child"
        assert cloud.physical_id("Child.ChildQueue").endswith("/nested-dev-child")
        parameter = cloud.client("ssm").get_parameter(Name="/nested/dev/child-queue")["Parameter"]
        assert parameter["Value"] == queue_arn
        spec = cloud.functions["Child.ChildFunction"]
        assert spec.environment["PARENT_BUS"] == "nested-dev"
        assert cloud.invoke("Child.ChildFunction", {}).ok
    finally:
        cloud.stop()


def test_a_handler_outside_its_code_uri_fails_loudly() -> None:
    cloud = start_cloud("bad_handler.yaml")
    try:
        result = cloud.invoke("Misplaced", {})
        assert result.error is not None
        assert result.error["errorType"] == "Runtime.HandlerNotFound"
        assert "not under its CodeUri" in result.error["errorMessage"]
    finally:
        cloud.stop()


def test_a_failing_resource_stops_the_boot_and_cleans_up(tmp_path: Path) -> None:
    template = tmp_path / "broken.yaml"
    template.write_text(
        "Resources:\n  Machine:\n    Type: AWS::StepFunctions::StateMachine\n"
        '    Properties:\n      DefinitionString: \'{"StartAt": "Nowhere", "States": {}}\'\n'
    )
    with pytest.raises(ProvisionError, match="Machine"):
        LocalCloud.start(ROOT, template=template)
    # The failed boot released moto and the patches: another cloud can start.
    start_cloud("machines.yaml").stop()


def test_patches_install_and_uninstall_cleanly() -> None:
    from infra.localcloud import moto_patches
    from infra.localcloud.clock import VirtualClock

    originals = {p.name: moto_patches.original(p) for p in moto_patches.PATCHES}
    hooks = moto_patches.Hooks(
        clock=VirtualClock(),
        invoke=lambda *_: ("{}", False),
        invoke_async=lambda *_: None,
        rule_matched=lambda *_: [],
        event_put=lambda *_: None,
    )
    moto_patches.install(hooks)
    try:
        for patch in moto_patches.PATCHES:
            assert getattr(moto_patches._owner(patch), patch.attribute) is not originals[patch.name]
    finally:
        moto_patches.uninstall()
    for patch in moto_patches.PATCHES:
        assert getattr(moto_patches._owner(patch), patch.attribute) is originals[patch.name]
    moto_patches.uninstall()  # a second uninstall is a no-op
