"""Load ``template.yaml`` and transform it offline into plain CloudFormation.

What ``sam build`` would normally do to local paths is done here instead, before the transform:
``CodeUri`` / ``ContentUri`` folders are remembered and replaced by placeholder S3 URIs, and
``DefinitionUri`` files are remembered and replaced by a placeholder S3 location; after the
transform each state machine gets its definition back as ``DefinitionString`` (the file's text:
``DefinitionSubstitutions`` are applied to text, so a substitution may sit where JSON wants a
number). Nested applications with a local ``Location`` are loaded and translated recursively.

The transform needs an IAM managed-policy map: the one bundled with samtranslator is handed over
by :class:`BundledPolicyLoader`, which never creates an IAM client.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "BundledPolicyLoader",
    "FunctionSource",
    "LayerSource",
    "TemplateError",
    "TranslatedTemplate",
    "load_template",
]

LOG = logging.getLogger("infra.localcloud.template")

PLACEHOLDER_BUCKET = "localcloud-code"
DEFAULT_PARAMETERS: dict[str, str] = {"Stage": "dev"}


class TemplateError(RuntimeError):
    """The template cannot be loaded or translated."""


@dataclass(frozen=True)
class FunctionSource:
    """What the template says about one function, before intrinsics are resolved."""

    logical_id: str
    handler: str | None
    code_dir: Path | None
    runtime: str | None
    environment: dict[str, Any]
    timeout: Any
    memory: Any
    layers: list[Any]
    events: dict[str, Any]
    properties: dict[str, Any]


@dataclass(frozen=True)
class LayerSource:
    logical_id: str
    content_dir: Path | None


@dataclass
class TranslatedTemplate:
    """A translated (plain CloudFormation) template and what was set aside for the local cloud."""

    path: Path
    sam: dict[str, Any]
    cfn: dict[str, Any]
    parameters: dict[str, Any]
    functions: dict[str, FunctionSource] = field(default_factory=dict)
    layers: dict[str, LayerSource] = field(default_factory=dict)
    definitions: dict[str, str] = field(default_factory=dict)
    nested: dict[str, TranslatedTemplate] = field(default_factory=dict)
    nested_parameters: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.cfn.get("Resources", {})
        return resources


def _policy_loader_base() -> Any:
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader

    return ManagedPolicyLoader


class BundledPolicyLoader(_policy_loader_base()):  # type: ignore[misc]  # samtranslator is untyped
    """A ManagedPolicyLoader that returns samtranslator's bundled map and creates no IAM client."""

    def __init__(self, partition: str = "aws") -> None:
        self._partition = partition
        self._policy_map: dict[str, str] | None = None
        self.max_items = 0

    def load(self) -> dict[str, str]:
        if self._policy_map is None:
            from samtranslator.internal.managed_policies import get_bundled_managed_policy_map

            self._policy_map = dict(get_bundled_managed_policy_map(self._partition) or {})
        return self._policy_map


def _yaml_loader() -> Any:
    """A loader that keeps ``!Ref`` / ``!GetAtt`` / ... as samtranslator's ``yaml_parse`` does,
    on libyaml when available (about ten times faster than the pure-Python loader)."""
    from samtranslator.yaml_helper import intrinsics_multi_constructor

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader: Any = type("CloudFormationLoader", (base,), {})
    loader.add_multi_constructor("!", intrinsics_multi_constructor)
    return loader


_LOADER: Any = None


def _parse_yaml(path: Path) -> dict[str, Any]:
    global _LOADER  # noqa: PLW0603 - built once
    if _LOADER is None:
        _LOADER = _yaml_loader()
    try:
        parsed = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 - a safe loader
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from exc
    if not isinstance(parsed, dict) or "Resources" not in parsed:
        raise TemplateError(f"{path} is not a template (no Resources)")
    return parsed


def _is_local_path(value: Any) -> bool:
    return isinstance(value, str) and not value.startswith(("s3://", "http://", "https://"))


def _placeholder_uri(kind: str, logical_id: str) -> str:
    return f"s3://{PLACEHOLDER_BUCKET}/{kind}/{logical_id}.zip"


def _local_dir(base: Path, value: str, what: str) -> Path:
    resolved = (base / value).resolve()
    if not resolved.exists():
        raise TemplateError(f"{what}: {value!r} does not exist (resolved to {resolved})")
    return resolved


def _set_aside_code(sam: dict[str, Any], base: Path) -> tuple[dict[str, Path | None], dict[str, Path | None]]:
    """Replace local CodeUri/ContentUri with placeholders; return the real folders."""
    globals_function = (
        sam.get("Globals", {}).get("Function", {}) if isinstance(sam.get("Globals"), dict) else {}
    )
    global_code = globals_function.get("CodeUri") if isinstance(globals_function, dict) else None
    global_dir: Path | None = None
    if _is_local_path(global_code):
        global_dir = _local_dir(base, str(global_code), "Globals.Function.CodeUri")
        globals_function["CodeUri"] = _placeholder_uri("code", "Globals")
    function_dirs: dict[str, Path | None] = {}
    layer_dirs: dict[str, Path | None] = {}
    for logical_id, resource in sam.get("Resources", {}).items():
        if not isinstance(resource, dict):
            continue
        props = resource.setdefault("Properties", {}) if resource.get("Type", "").startswith("AWS::") else {}
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function":
            code = props.get("CodeUri")
            if _is_local_path(code):
                function_dirs[logical_id] = _local_dir(base, str(code), f"{logical_id}.CodeUri")
                props["CodeUri"] = _placeholder_uri("code", logical_id)
            elif code is None and "InlineCode" not in props:
                function_dirs[logical_id] = global_dir
            else:
                function_dirs[logical_id] = None
        elif kind == "AWS::Serverless::LayerVersion":
            content = props.get("ContentUri")
            if _is_local_path(content):
                layer_dirs[logical_id] = _local_dir(base, str(content), f"{logical_id}.ContentUri")
                props["ContentUri"] = _placeholder_uri("layer", logical_id)
            else:
                layer_dirs[logical_id] = None
        elif kind == "AWS::Lambda::LayerVersion":
            content = props.get("Content")
            layer_dirs[logical_id] = None
            if _is_local_path(content):
                layer_dirs[logical_id] = _local_dir(base, str(content), f"{logical_id}.Content")
                props["Content"] = {"S3Bucket": PLACEHOLDER_BUCKET, "S3Key": f"layer/{logical_id}.zip"}
    return function_dirs, layer_dirs


def _set_aside_definitions(sam: dict[str, Any], base: Path) -> dict[str, str]:
    definitions: dict[str, str] = {}
    for logical_id, resource in sam.get("Resources", {}).items():
        if not isinstance(resource, dict):
            continue
        props = resource.get("Properties") or {}
        kind = resource.get("Type")
        if kind == "AWS::Serverless::StateMachine" and _is_local_path(props.get("DefinitionUri")):
            path = _local_dir(base, str(props["DefinitionUri"]), f"{logical_id}.DefinitionUri")
            definitions[logical_id] = _definition_text(path)
            props["DefinitionUri"] = {"Bucket": PLACEHOLDER_BUCKET, "Key": f"asl/{logical_id}.json"}
        elif kind == "AWS::StepFunctions::StateMachine" and _is_local_path(props.get("DefinitionS3Location")):
            path = _local_dir(base, str(props["DefinitionS3Location"]), f"{logical_id}.DefinitionS3Location")
            definitions[logical_id] = _definition_text(path)
            props.pop("DefinitionS3Location")
    return definitions


def _definition_text(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        # A YAML definition becomes JSON text; substitutions stay as ${...} inside strings.
        return json.dumps(yaml.safe_load(text))
    return text


def _set_aside_nested(sam: dict[str, Any], base: Path) -> dict[str, Path]:
    nested: dict[str, Path] = {}
    for logical_id, resource in sam.get("Resources", {}).items():
        if not isinstance(resource, dict):
            continue
        props = resource.get("Properties") or {}
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Application" and _is_local_path(props.get("Location")):
            nested[logical_id] = _local_dir(base, str(props["Location"]), f"{logical_id}.Location")
            props["Location"] = f"https://{PLACEHOLDER_BUCKET}.s3.amazonaws.com/nested/{logical_id}.yaml"
        elif kind == "AWS::CloudFormation::Stack" and _is_local_path(props.get("TemplateURL")):
            nested[logical_id] = _local_dir(base, str(props["TemplateURL"]), f"{logical_id}.TemplateURL")
            props["TemplateURL"] = f"https://{PLACEHOLDER_BUCKET}.s3.amazonaws.com/nested/{logical_id}.yaml"
    return nested


def _function_sources(
    sam: dict[str, Any], cfn: dict[str, Any], function_dirs: dict[str, Path | None]
) -> dict[str, FunctionSource]:
    sources: dict[str, FunctionSource] = {}
    sam_resources = sam.get("Resources", {})
    for logical_id, resource in cfn.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        props = resource.get("Properties", {})
        sam_props = (sam_resources.get(logical_id) or {}).get("Properties") or {}
        code_dir = function_dirs.get(logical_id)
        code = props.get("Code") or {}
        if logical_id not in function_dirs and isinstance(code, dict):
            # A plain AWS::Lambda::Function: Code.S3Key/ZipFile is not a folder we can run.
            code_dir = None
        sources[logical_id] = FunctionSource(
            logical_id=logical_id,
            handler=props.get("Handler"),
            code_dir=code_dir,
            runtime=props.get("Runtime"),
            environment=copy.deepcopy((props.get("Environment") or {}).get("Variables") or {}),
            timeout=props.get("Timeout", 3),
            memory=props.get("MemorySize", 128),
            layers=list(props.get("Layers") or []),
            events=copy.deepcopy(sam_props.get("Events") or {}),
            properties=props,
        )
    return sources


def _restore_definitions(cfn: dict[str, Any], definitions: dict[str, str]) -> None:
    for logical_id, text in definitions.items():
        resource = cfn.get("Resources", {}).get(logical_id)
        if resource is None or resource.get("Type") != "AWS::StepFunctions::StateMachine":
            raise TemplateError(f"state machine {logical_id} vanished in the transform")
        props = resource.setdefault("Properties", {})
        props.pop("DefinitionS3Location", None)
        props["DefinitionString"] = text


_CACHE_FORMAT = "1"


def _transform(path: Path, sam: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    from samtranslator.translator.transform import transform

    # samtranslator logs a warning about unpublished metrics when its Metrics object is collected.
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
    try:
        return transform(sam, values, BundledPolicyLoader())  # type: ignore[no-any-return]
    except Exception as exc:  # samtranslator raises several unrelated exception types
        raise TemplateError(f"SAM transform of {path.name} failed: {exc}") from exc


def _cache_file(
    cache_dir: Path | None, sam: dict[str, Any], values: dict[str, Any], definitions: dict[str, str]
) -> Path | None:
    if cache_dir is None:
        return None
    from importlib.metadata import version

    digest = hashlib.sha256()
    for part in (
        _CACHE_FORMAT,
        version("aws-sam-translator"),
        json.dumps(sam, sort_keys=True, default=str),
        json.dumps(values, sort_keys=True, default=str),
        json.dumps(definitions, sort_keys=True),
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return cache_dir / f"translated-{digest.hexdigest()[:32]}.json"


def _read_cache(cache_file: Path | None) -> dict[str, Any] | None:
    if cache_file is None or not cache_file.is_file():
        return None
    try:
        cached = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return cached if isinstance(cached, dict) else None


def _write_cache(cache_file: Path | None, cfn: dict[str, Any]) -> None:
    if cache_file is None:
        return
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache_file.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(cfn), encoding="utf-8")
        temporary.replace(cache_file)
    except OSError as exc:
        LOG.debug("cannot cache the translation in %s: %s", cache_file, exc)


def load_template(
    template_path: Path,
    parameters: dict[str, Any] | None = None,
    *,
    region: str = "us-east-1",
    account_id: str = "123456789012",
    stack_name: str = "mallcrm-local",
    cache_dir: Path | None = None,
) -> TranslatedTemplate:
    """Parse, set aside local paths, transform offline, and put the definitions back.

    With ``cache_dir``, the translation is kept there, keyed by everything it depends on (the
    template, the definitions, the parameters, the translator's version): a warm boot skips
    importing samtranslator (~0.9 s) and the transform.
    """
    path = template_path.resolve()
    base = path.parent
    sam = _parse_yaml(path)
    original = copy.deepcopy(sam)
    function_dirs, layer_dirs = _set_aside_code(sam, base)
    definitions = _set_aside_definitions(sam, base)
    nested_paths = _set_aside_nested(sam, base)

    declared = sam.get("Parameters") or {}
    values: dict[str, Any] = {k: v for k, v in DEFAULT_PARAMETERS.items() if k in declared}
    values.update(parameters or {})
    for name, spec in declared.items():
        if name not in values and isinstance(spec, dict) and "Default" in spec:
            values[name] = spec["Default"]
    missing = [name for name in declared if name not in values]
    if missing:
        raise TemplateError(f"{path.name}: no value for parameter(s) {', '.join(missing)}")
    values = {k: (v if isinstance(v, list) else str(v)) for k, v in values.items()}

    pseudo = {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": "aws",
        "AWS::StackName": stack_name,
        "AWS::URLSuffix": "amazonaws.com",
    }
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    cache_file = _cache_file(cache_dir, sam, {**values, **pseudo}, definitions)
    cfn = _read_cache(cache_file)
    if cfn is None:
        cfn = _transform(path, sam, {**values, **pseudo}) if "Transform" in sam else sam
        _restore_definitions(cfn, definitions)
        _write_cache(cache_file, cfn)

    translated = TranslatedTemplate(
        path=path, sam=original, cfn=cfn, parameters=values, definitions=definitions
    )
    translated.functions = _function_sources(original, cfn, function_dirs)
    translated.layers = {k: LayerSource(k, v) for k, v in layer_dirs.items()}
    for logical_id, nested_path in nested_paths.items():
        props = cfn["Resources"][logical_id].get("Properties", {})
        translated.nested_parameters[logical_id] = props.get("Parameters") or {}
        # Parameters of a nested stack may hold intrinsics: the provisioner resolves them and
        # calls load_template again with concrete values; here only the file is checked.
        translated.nested[logical_id] = TranslatedTemplate(path=nested_path, sam={}, cfn={}, parameters={})
    LOG.debug("translated %s: %d resources", path.name, len(translated.resources))
    return translated
