"""CloudFormation intrinsic functions, conditions and pseudo parameters, resolved locally.

:class:`Resolver` turns a translated template's property values into concrete values, asking its
owner for the ``Ref`` and ``Fn::GetAtt`` of resources that already exist. :func:`dependencies` and
:func:`creation_order` give the order in which resources must be created so that every reference
can be resolved.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

__all__ = [
    "NO_VALUE",
    "PSEUDO_PARAMETERS",
    "IntrinsicError",
    "Resolver",
    "creation_order",
    "dependencies",
]


class IntrinsicError(ValueError):
    """An intrinsic function cannot be resolved."""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()

PSEUDO_PARAMETERS: Final[frozenset[str]] = frozenset(
    {
        "AWS::Region",
        "AWS::AccountId",
        "AWS::Partition",
        "AWS::StackName",
        "AWS::StackId",
        "AWS::URLSuffix",
        "AWS::NoValue",
        "AWS::NotificationARNs",
    }
)

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_CONDITION_FUNCTIONS = ("Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not", "Condition")


def _sub_template_names(template: str) -> list[str]:
    return [m.group(1) for m in _SUB_VARIABLE.finditer(template) if not m.group(1).startswith("!")]


def _is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _ALL_FUNCTIONS


_ALL_FUNCTIONS = frozenset(
    {
        "Ref",
        "Fn::GetAtt",
        "Fn::Sub",
        "Fn::Join",
        "Fn::Select",
        "Fn::Split",
        "Fn::If",
        "Fn::FindInMap",
        "Fn::GetAZs",
        "Fn::Base64",
        "Fn::ToJsonString",
        "Fn::Length",
        "Fn::ImportValue",
        "Fn::Cidr",
        *_CONDITION_FUNCTIONS,
    }
)


def dependencies(value: Any, resources: Iterable[str]) -> set[str]:
    """The logical ids of resources that ``value`` references (Ref, GetAtt, Sub)."""
    known = set(resources)
    found: set[str] = set()

    def walk(node: Any, sub_locals: frozenset[str] = frozenset()) -> None:  # noqa: PLR0912 - one branch per function
        if isinstance(node, dict):
            if len(node) == 1:
                ((key, arg),) = node.items()
                if key == "Ref" and isinstance(arg, str):
                    if arg in known and arg not in sub_locals:
                        found.add(arg)
                    return
                if key == "Fn::GetAtt":
                    target = arg.split(".", 1)[0] if isinstance(arg, str) else (arg[0] if arg else None)
                    if isinstance(target, str) and target in known:
                        found.add(target)
                    if isinstance(arg, list) and len(arg) > 1:
                        walk(arg[1:])
                    return
                if key == "Fn::Sub":
                    template, variables = (
                        (arg, {}) if isinstance(arg, str) else (arg[0], arg[1] if len(arg) > 1 else {})
                    )
                    local = frozenset(variables) if isinstance(variables, dict) else frozenset()
                    if isinstance(template, str):
                        for name in _sub_template_names(template):
                            head = name.split(".", 1)[0]
                            if head in known and name not in local and head not in local:
                                found.add(head)
                    walk(variables)
                    return
            for item in node.values():
                walk(item, sub_locals)
        elif isinstance(node, list):
            for item in node:
                walk(item, sub_locals)

    walk(value)
    return found


def creation_order(resources: Mapping[str, Any]) -> list[str]:
    """Resource logical ids in an order where each comes after everything it references.

    Stable: among resources that are ready, the template's order is kept. Raises on a cycle.
    """
    names = list(resources)
    needs: dict[str, set[str]] = {}
    for name in names:
        resource = resources[name] or {}
        deps = dependencies(resource.get("Properties", {}), names)
        depends_on = resource.get("DependsOn", [])
        if isinstance(depends_on, str):
            depends_on = [depends_on]
        deps.update(d for d in depends_on if d in resources)
        deps.discard(name)
        needs[name] = deps
    order: list[str] = []
    done: set[str] = set()
    pending = list(names)
    while pending:
        ready = [n for n in pending if needs[n] <= done]
        if not ready:
            cycle = ", ".join(f"{n} -> {sorted(needs[n] - done)}" for n in pending[:6])
            raise IntrinsicError(f"circular references between resources: {cycle}")
        for name in ready:
            order.append(name)
            done.add(name)
        pending = [n for n in pending if n not in done]
    return order


class Resolver:
    """Resolve intrinsic functions against parameters, mappings, conditions and live resources."""

    def __init__(
        self,
        *,
        parameters: Mapping[str, Any],
        parameter_types: Mapping[str, str] | None = None,
        mappings: Mapping[str, Any] | None = None,
        conditions: Mapping[str, Any] | None = None,
        ref: Callable[[str], Any] | None = None,
        get_att: Callable[[str, str], Any] | None = None,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        partition: str = "aws",
        stack_name: str = "mallcrm-local",
        url_suffix: str = "amazonaws.com",
    ) -> None:
        self._parameters = dict(parameters)
        self._parameter_types = dict(parameter_types or {})
        self._mappings = mappings or {}
        self._conditions = conditions or {}
        self._ref = ref
        self._get_att = get_att
        self.region = region
        self._pseudo: dict[str, Any] = {
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::Partition": partition,
            "AWS::StackName": stack_name,
            "AWS::StackId": (
                f"arn:{partition}:cloudformation:{region}:{account_id}:stack/{stack_name}/"
                "00000000-0000-0000-0000-000000000000"
            ),
            "AWS::URLSuffix": url_suffix,
            "AWS::NotificationARNs": [],
        }
        self._condition_cache: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    # -- conditions ------------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        """The value of a named condition (cached)."""
        if name in self._condition_cache:
            return self._condition_cache[name]
        if name not in self._conditions:
            raise IntrinsicError(f"unknown condition {name!r}")
        if name in self._evaluating:
            raise IntrinsicError(f"condition {name!r} refers to itself")
        self._evaluating.add(name)
        try:
            value = self._truth(self._conditions[name])
        finally:
            self._evaluating.discard(name)
        self._condition_cache[name] = value
        return value

    def _truth(self, expression: Any) -> bool:  # noqa: PLR0911 - one exit per condition function
        if isinstance(expression, bool):
            return expression
        if isinstance(expression, str) and expression.lower() in ("true", "false"):
            return expression.lower() == "true"
        if not isinstance(expression, dict) or len(expression) != 1:
            raise IntrinsicError(f"not a condition: {expression!r}")
        ((key, arg),) = expression.items()
        if key == "Condition":
            return self.condition(str(arg))
        if key == "Fn::Equals":
            left, right = (self.resolve(a) for a in arg)
            return _scalar_text(left) == _scalar_text(right)
        if key == "Fn::And":
            return all(self._truth(a) for a in arg)
        if key == "Fn::Or":
            return any(self._truth(a) for a in arg)
        if key == "Fn::Not":
            return not self._truth(arg[0])
        raise IntrinsicError(f"{key} cannot be used in a condition")

    # -- values ------------------------------------------------------------------------------------
    def parameter(self, name: str) -> Any:
        if name in self._pseudo:
            return self._pseudo[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name not in self._parameters:
            raise IntrinsicError(f"unknown parameter {name!r}")
        value = self._parameters[name]
        kind = self._parameter_types.get(name, "String")
        if isinstance(value, str) and (kind == "CommaDelimitedList" or kind.startswith("List<")):
            return [part.strip() for part in value.split(",")] if value else []
        return value

    def resolve(self, value: Any) -> Any:
        """A copy of ``value`` with every intrinsic function replaced by its result."""
        if isinstance(value, dict):
            if _is_intrinsic(value):
                ((key, arg),) = value.items()
                return self._call(key, arg)
            out: dict[str, Any] = {}
            for k, v in value.items():
                resolved = self.resolve(v)
                if resolved is not NO_VALUE:
                    out[k] = resolved
            return out
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not NO_VALUE]
        return value

    def _call(self, key: str, arg: Any) -> Any:  # noqa: PLR0911, PLR0912 - one branch per function
        if key == "Ref":
            return self._do_ref(str(arg))
        if key == "Fn::GetAtt":
            if isinstance(arg, str):
                logical_id, _, attribute = arg.partition(".")
            else:
                logical_id, attribute = arg[0], self.resolve(arg[1])
            return self._do_get_att(logical_id, str(attribute))
        if key == "Fn::Sub":
            return self._sub(arg)
        if key == "Fn::Join":
            delimiter, items = arg[0], self.resolve(arg[1])
            if not isinstance(items, list):
                raise IntrinsicError(f"Fn::Join needs a list, got {items!r}")
            return str(delimiter).join(_scalar_text(i) for i in items)
        if key == "Fn::Select":
            index, items = int(self.resolve(arg[0])), self.resolve(arg[1])
            if not isinstance(items, list) or not 0 <= index < len(items):
                raise IntrinsicError(f"Fn::Select index {index} out of range for {items!r}")
            return items[index]
        if key == "Fn::Split":
            delimiter, text = arg[0], self.resolve(arg[1])
            return str(text).split(str(delimiter))
        if key == "Fn::If":
            name, when_true, when_false = arg
            return self.resolve(when_true if self.condition(str(name)) else when_false)
        if key == "Fn::FindInMap":
            return self._find_in_map(arg)
        if key == "Fn::GetAZs":
            region = self.resolve(arg) or self.region
            return [f"{region}{suffix}" for suffix in ("a", "b", "c")]
        if key == "Fn::Base64":
            return base64.b64encode(_scalar_text(self.resolve(arg)).encode()).decode()
        if key == "Fn::ToJsonString":
            return json.dumps(self.resolve(arg), separators=(",", ":"))
        if key == "Fn::Length":
            resolved = self.resolve(arg)
            return len(resolved) if isinstance(resolved, list) else 0
        if key in _CONDITION_FUNCTIONS:
            return self._truth({key: arg})
        raise IntrinsicError(f"{key} is not supported by the local cloud")

    def _do_ref(self, name: str) -> Any:
        if name in self._pseudo or name == "AWS::NoValue" or name in self._parameters:
            return self.parameter(name)
        if self._ref is None:
            raise IntrinsicError(f"Ref to unknown name {name!r}")
        return self._ref(name)

    def _do_get_att(self, logical_id: str, attribute: str) -> Any:
        if self._get_att is None:
            raise IntrinsicError(f"Fn::GetAtt {logical_id}.{attribute}: no resources")
        return self._get_att(logical_id, attribute)

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, str):
            template, variables = arg, {}
        else:
            template = arg[0]
            variables = {k: self.resolve(v) for k, v in (arg[1] if len(arg) > 1 else {}).items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _scalar_text(variables[name])
            if name in self._pseudo or name in self._parameters:
                return _scalar_text(self.parameter(name))
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return _scalar_text(self._do_get_att(logical_id, attribute))
            return _scalar_text(self._do_ref(name))

        return _SUB_VARIABLE.sub(replace, str(template))

    def _find_in_map(self, arg: list[Any]) -> Any:
        map_name, top, second = (self.resolve(a) for a in arg[:3])
        default = None
        if len(arg) > 3 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
            default = self.resolve(arg[3]["DefaultValue"])
        try:
            return self._mappings[map_name][top][second]
        except (KeyError, TypeError) as exc:
            if default is not None:
                return default
            raise IntrinsicError(f"Fn::FindInMap: no {map_name}/{top}/{second}") from exc


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        raise IntrinsicError(f"expected a scalar, got {value!r}")
    return str(value)
