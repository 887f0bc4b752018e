"""Loading and translating templates offline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from infra.localcloud.template import BundledPolicyLoader, TemplateError, TranslatedTemplate, load_template
from tests.unit.localcloud.conftest import ROOT, TEMPLATES

HANDLERS = ROOT / "tests" / "fixtures" / "handlers"


@pytest.fixture(scope="module")
def basic() -> TranslatedTemplate:
    return load_template(TEMPLATES / "basic.yaml")


def test_sam_resources_become_cloudformation(basic: TranslatedTemplate) -> None:
    types = {r["Type"] for r in basic.resources.values()}
    assert not any(t.startswith("AWS::Serverless::") for t in types)
    assert {"AWS::Lambda::Function", "AWS::Lambda::EventSourceMapping", "AWS::ApiGatewayV2::Api"} <= types
    assert basic.resources["RuleTargetFunctionDaily"]["Type"] == "AWS::Scheduler::Schedule"
    assert basic.parameters == {"Stage": "dev", "Retention": "7"}


def test_code_folders_are_set_aside_and_remembered(basic: TranslatedTemplate) -> None:
    echo = basic.functions["EchoFunction"]
    assert echo.handler == "tests.fixtures.handlers.echo.handler"
    assert echo.code_dir == HANDLERS  # from Globals.Function.CodeUri
    assert echo.timeout == 10 and echo.memory == 256
    assert echo.environment["ONLY_ECHO"] == "yes"
    assert echo.environment["TABLE_NAME"] == {"Ref": "ItemsTable"}
    assert set(echo.events) == {"GetItem", "Public"}
    assert echo.properties["Code"]["S3Bucket"] == "localcloud-code"
    assert basic.layers["SharedLayer"].content_dir == HANDLERS


def test_definition_files_come_back_as_definition_string(basic: TranslatedTemplate) -> None:
    props = basic.resources["Flow"]["Properties"]
    assert "DefinitionS3Location" not in props
    assert (
        "${WaitSeconds}" in props["DefinitionString"]
    )  # substituted at provisioning, as CloudFormation does
    assert props["DefinitionSubstitutions"]["WaitSeconds"] == 604800


def test_parameters_override_defaults_and_conditions_stay() -> None:
    prod = load_template(TEMPLATES / "basic.yaml", {"Stage": "prod"})
    assert prod.parameters["Stage"] == "prod"
    assert prod.cfn["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    assert prod.resources["ProdOnlyQueue"]["Condition"] == "IsProd"


def test_missing_parameter_and_missing_folder_fail_loudly(tmp_path: Path) -> None:
    template = tmp_path / "t.yaml"
    template.write_text("Parameters:\n  Needed: {Type: String}\nResources:\n  Q: {Type: AWS::SQS::Queue}\n")
    with pytest.raises(TemplateError, match="Needed"):
        load_template(template)
    template.write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {Runtime: python3.12, Handler: a.b, CodeUri: nowhere/}\n"
    )
    with pytest.raises(TemplateError, match="nowhere"):
        load_template(template)
    template.write_text("just: text\n")
    with pytest.raises(TemplateError, match="not a template"):
        load_template(template)


def test_policy_loader_needs_no_iam() -> None:
    policies = BundledPolicyLoader().load()
    assert policies["AWSLambdaBasicExecutionRole"].endswith(
        ":policy/service-role/AWSLambdaBasicExecutionRole"
    )


def test_translation_is_cached_by_content(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = load_template(TEMPLATES / "basic.yaml", cache_dir=cache)
    files = list(cache.glob("translated-*.json"))
    assert len(files) == 1
    # A warm load reads the file instead of transforming: prove it by breaking the transform.
    transform_module = sys.modules["samtranslator.translator.transform"]
    original = transform_module.transform
    transform_module.transform = None  # type: ignore[attr-defined]
    try:
        second = load_template(TEMPLATES / "basic.yaml", cache_dir=cache)
    finally:
        transform_module.transform = original  # type: ignore[attr-defined]
    assert second.cfn == first.cfn
    assert second.functions["EchoFunction"].code_dir == HANDLERS
    load_template(TEMPLATES / "basic.yaml", {"Stage": "prod"}, cache_dir=cache)
    assert len(list(cache.glob("translated-*.json"))) == 2
    json.loads(files[0].read_text())


def test_nested_application_with_local_location() -> None:
    parent = load_template(TEMPLATES / "parent.yaml")
    assert parent.resources["Child"]["Type"] == "AWS::CloudFormation::Stack"
    assert parent.nested["Child"].path == TEMPLATES / "nested" / "child.yaml"
    assert parent.nested_parameters["Child"] == {"Stage": {"Ref": "Stage"}, "ParentBus": {"Ref": "Bus"}}
