"""What a route answers, found by reading the code (generation and tests only): the errors it can
raise, with their codes, and its success statuses.

A route answers a 4xx of ours by raising a :class:`shared.errors.MallCrmError` somewhere below it: in
the route function, a logic module, a DAL method. :func:`route_errors` follows the calls from a route
function through the project's modules (``services/``, ``shared/``) and collects every such ``raise``
with its status and ``code``, so the OpenAPI document lists them without anyone writing them down
(docs/decisions.md, "error codes derived from the raises"). Nothing is imported or run.

What it reads:

* ``raise SomeError(...)`` / ``raise SomeError``: a class deriving from ``MallCrmError``; the status is
  its ``STATUS``, the code the first argument or ``code=`` when it is a string literal, else its
  ``CODE`` (``MallCrmError(status, code, …)`` itself: both from the arguments);
  ``raise TABLE[key]()``: any class of that module-level dict or tuple;
* ``raise factory(...)``: a project function that returns such an error (``return Conflict(code, …)``),
  with the code a literal there or the literal the call passes for the factory's parameter;
* an error answered without raising: ``json_response(401, error_body("invalid_signature", …))``;
* calls: ``f()``, ``module.f()``, ``Class()`` (its ``__init__``), ``self.m()``, and ``x.m()`` where
  ``x`` is a parameter or local of a known project class (its annotation, ``x = Class(…)``, a call
  annotated to return one): that class's ``m``, or for a ``Protocol`` the ``m`` of every project class
  that has all the protocol's methods. On a receiver of unknown type ``m`` may be any project class's
  method so named in the route's service or ``shared`` (an over-approximation: a route may be
  documented with an error a sibling class raises, rather than miss one it raises);
* callbacks: a nested function, a lambda, or a project function passed as an argument count as run;
* ``try``/``except``: an error caught by a handler that does not re-raise it is not raised further.
* recursion: a function read inside its own call chain is read again once its callees are known
  (:meth:`Project.settle`), until the answers stop growing.

Not followed: ``getattr``, methods of module-level objects (``logger.info``), and an override of
``self.m()`` in a subclass. A ``raise`` whose code is computed at run time is reported with
``code=None`` (:func:`unresolved_sites`); :data:`RUNTIME_CODES` lists the codes such sites can take,
and a test requires every such site to be listed.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeGuard

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("services", "shared")
BASE_ERROR = "shared.errors.MallCrmError"
ERROR_BODY = "shared.errors.error_body"
# The codes of the raises whose code is computed at run time (``site status`` → codes), so they are
# documented too; tests/unit/apidocs pins that this covers every such site and that each code is
# written in the service's source.
RUNTIME_CODES: dict[str, tuple[str, ...]] = {
    # Put/Delete(conflict=…) of members' writes: the write that failed names the code.
    "services.members.dal.members:DynamoMembersRepository.apply 409": (
        "member_changed",
        "car_plate_consent_required",
        "already_registered",
        "unionid_already_registered",
        "phone_already_registered",
        "card_already_linked",
        "plate_already_linked",
        "email_code_used",  # OneTimeCodePolicy.code_used
        "phone_code_used",
    ),
    # OneTimeCodePolicy.request_conflict: another code request won meanwhile.
    "services.members.dal.one_time_code:DynamoOneTimeCodes.save_request 409": (
        "email_verification_conflict",
        "phone_change_conflict",
    ),
    # OneTimeCodePolicy.not_pending: no code was asked for (this target).
    "services.members.logic.one_time_code:check_code 409": (
        "no_email_verification_pending",
        "no_phone_change_pending",
    ),
    # PushError.code of a push that cannot be read, answered by hand.
    "services.campaigns.handlers.routes.wechat_push:push 400": (
        "wechat_safe_mode_unsupported",
        "wechat_push_unreadable",
    ),
}


@dataclasses.dataclass(frozen=True, order=True)
class Raised:
    """One error a function can raise: its HTTP status, its code (None: not readable), its class,
    and where it is raised (``module:function``)."""

    status: int
    code: str | None
    error_class: str
    site: str


@dataclasses.dataclass
class _Function:
    module: str
    qualname: str
    node: ast.FunctionDef | ast.AsyncFunctionDef
    cls: str | None  # the qualified name of its class, for methods

    @property
    def key(self) -> str:
        return f"{self.module}:{self.qualname}"


@dataclasses.dataclass
class _Class:
    name: str  # module.Class
    module: str
    node: ast.ClassDef
    methods: dict[str, _Function]


class _Module:
    def __init__(self, name: str, tree: ast.Module) -> None:
        self.name = name
        self.tree = tree
        self.aliases = _imports(name, tree.body)
        self.functions: dict[str, _Function] = {}
        self.classes: dict[str, _Class] = {}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self.functions[node.name] = _Function(name, node.name, node, None)
                self.aliases[node.name] = f"{name}.{node.name}"
            elif isinstance(node, ast.ClassDef):
                qualified = f"{name}.{node.name}"
                methods = {
                    n.name: _Function(name, f"{node.name}.{n.name}", n, qualified)
                    for n in node.body
                    if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                }
                self.classes[node.name] = _Class(qualified, name, node, methods)
                self.aliases[node.name] = qualified
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.aliases.setdefault(target.id, f"{name}.{target.id}")


def _imports(module: str, body: Iterable[ast.stmt]) -> dict[str, str]:
    """Local name → qualified name for the imports among ``body`` (not nested in functions)."""
    aliases: dict[str, str] = {}
    package = module.rsplit(".", 1)[0]
    for node in body:
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for a in node.names:
                aliases[a.asname or a.name] = f"{base}.{a.name}"
        elif isinstance(node, ast.If | ast.Try):  # `if TYPE_CHECKING:` and guarded imports
            nested = [*node.body, *node.orelse]
            if isinstance(node, ast.Try):
                nested += [s for h in node.handlers for s in h.body]
            aliases.update(_imports(module, nested))
    return aliases


def _function_imports(module: str, node: ast.AST) -> dict[str, str]:
    """Imports anywhere inside a function (our routes import their logic when first called)."""
    stmts = [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
    return _imports(module, stmts)


class Project:
    """The project's modules, parsed on demand, and what each function can raise."""

    def __init__(self, root: Path = ROOT) -> None:
        self.root = root
        self._modules: dict[str, _Module | None] = {}
        self._raised: dict[str, frozenset[Raised]] = {}
        self._stack: list[str] = []  # the functions being read, outermost first
        self._functions: dict[str, _Function] = {}
        self._unsettled = False  # a recursion left partial answers (see settle)
        self._methods: dict[str, list[_Function]] | None = None
        self._service_methods: dict[str, dict[str, list[_Function]]] = {}

    # -- modules and names -------------------------------------------------------------------------

    def module(self, name: str) -> _Module | None:
        if name not in self._modules:
            self._modules[name] = None
            if name.split(".", 1)[0] in PACKAGES:
                base = self.root.joinpath(*name.split("."))
                for path in (base.with_suffix(".py"), base / "__init__.py"):
                    if path.is_file():
                        self._modules[name] = _Module(name, ast.parse(path.read_text(encoding="utf-8")))
                        break
        return self._modules[name]

    def _all_modules(self) -> Iterator[_Module]:
        for package in PACKAGES:
            for path in sorted((self.root / package).rglob("*.py")):
                parts = path.relative_to(self.root).with_suffix("").parts
                name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
                module = self.module(name)
                if module is not None:
                    yield module

    def lookup(self, qualified: str) -> _Function | _Class | None:
        """A function or class by qualified name, following re-exports."""
        for _ in range(8):  # re-export chains are short; a cycle ends here
            module_name, _, name = qualified.rpartition(".")
            module = self.module(module_name)
            if module is None:
                # `module.Class.method`?
                outer_name, _, cls_name = module_name.rpartition(".")
                outer = self.module(outer_name)
                if outer is not None and cls_name in outer.classes:
                    return outer.classes[cls_name].methods.get(name)
                return None
            if name in module.functions:
                return module.functions[name]
            if name in module.classes:
                return module.classes[name]
            target = module.aliases.get(name)
            if target is None or target == qualified:
                return None
            qualified = target
        return None

    def _class_chain(self, cls: _Class) -> list[_Class]:
        """``cls`` and its project bases, nearest first."""
        chain, todo, seen = [], [cls], set()
        while todo:
            current = todo.pop(0)
            if current.name in seen:
                continue
            seen.add(current.name)
            chain.append(current)
            module = self.module(current.module)
            for base in current.node.bases:
                found = self._resolve_expr(base, module.aliases if module else {})
                if isinstance(found, _Class):
                    todo.append(found)
        return chain

    def _qualified_bases(self, cls: _Class) -> set[str]:
        """The qualified names of ``cls``, its project bases and the bases they name."""
        names = set()
        for c in self._class_chain(cls):
            names.add(c.name)
            module = self.module(c.module)
            aliases = module.aliases if module else {}
            names.update(_qualify(d, aliases) for d in map(_dotted, c.node.bases) if d)
        return names

    def is_error(self, cls: _Class) -> bool:
        return BASE_ERROR in self._qualified_bases(cls)

    def _class_attr(self, cls: _Class, attr: str) -> Any:
        for c in self._class_chain(cls):
            for node in c.node.body:
                if attr in _assigned_names(node) and isinstance(node.value, ast.Constant):  # type: ignore[attr-defined]
                    return node.value.value  # type: ignore[attr-defined]
        return None

    def _init_literals(self, cls: _Class) -> tuple[Any, Any] | None:
        """``(status, code)`` an error class's own ``__init__`` passes to ``super().__init__``."""
        for c in self._class_chain(cls):
            init = c.methods.get("__init__")
            if init is None or c.name == BASE_ERROR:
                continue
            for node in ast.walk(init.node):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "__init__"
                    and len(node.args) >= 2
                ):
                    return _literal(node.args[0]), _literal(node.args[1])
            return None
        return None

    def _resolve_expr(self, expr: ast.expr, aliases: dict[str, str]) -> _Function | _Class | None:
        dotted = _dotted(expr)
        if dotted is None:
            return None
        return self.lookup(_qualify(dotted, aliases))

    def annotation_class(self, annotation: ast.expr | None, aliases: dict[str, str]) -> _Class | None:
        """The project class an annotation names (``Repo``, ``Repo | None``, ``"Repo"``)."""
        if annotation is None:
            return None
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            try:
                annotation = ast.parse(annotation.value, mode="eval").body
            except SyntaxError:
                return None
        if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
            sides = [s for s in (annotation.left, annotation.right) if not _is_none(s)]
            return self.annotation_class(sides[0], aliases) if len(sides) == 1 else None
        found = self._resolve_expr(annotation, aliases)
        return found if isinstance(found, _Class) else None

    def returned_class(self, fn: _Function) -> _Class | None:
        module = self.module(fn.module)
        aliases = {**(module.aliases if module else {}), **_function_imports(fn.module, fn.node)}
        return self.annotation_class(fn.node.returns, aliases)

    def methods_of(self, cls: _Class, name: str, service: str) -> list[_Function]:
        """``cls.name``: its own (or a base's); for a Protocol, that method of every project class
        that has all the protocol's methods (the implementations it may stand for)."""
        if self._is_protocol(cls):
            wanted = {m for m in cls.methods if not m.startswith("__")}
            out = []
            for fn in self._methods_named(service).get(name, []):
                impl = self.lookup(fn.cls or "")
                if isinstance(impl, _Class) and not self._is_protocol(impl):
                    have = {m for c in self._class_chain(impl) for m in c.methods}
                    if wanted <= have:
                        out.append(fn)
            return out
        for c in self._class_chain(cls):
            if name in c.methods:
                return [c.methods[name]]
        return []

    def _is_protocol(self, cls: _Class) -> bool:
        module = self.module(cls.module)
        aliases = module.aliases if module else {}
        return any(_qualify(_dotted(b) or "", aliases).endswith("Protocol") for b in cls.node.bases)

    def _methods_named(self, service: str) -> dict[str, list[_Function]]:
        """Method name → the project methods so named, in ``service`` and ``shared``."""
        if self._methods is None:
            self._methods = {}
            for module in self._all_modules():
                for cls in module.classes.values():
                    for name, fn in cls.methods.items():
                        self._methods.setdefault(name, []).append(fn)
        if service not in self._service_methods:
            self._service_methods[service] = {
                name: [f for f in fns if f.module.startswith((f"services.{service}.", "shared."))]
                for name, fns in self._methods.items()
            }
        return self._service_methods[service]

    def function_of(self, func: Any) -> _Function:
        """The parsed function of a live one: by name, or (nested, or outside ``services``/``shared``:
        a test's route) from its source, with its module's imports."""
        found = self.lookup(f"{func.__module__}.{func.__qualname__}")
        if isinstance(found, _Function):
            return found
        module = self.module(func.__module__)
        if module is None:
            path = Path(inspect.getsourcefile(func) or "")
            module = _Module(func.__module__, ast.parse(path.read_text(encoding="utf-8")))
            self._modules[func.__module__] = module
        node = ast.parse(textwrap.dedent(inspect.getsource(func))).body[0]
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            raise LookupError(f"{func.__qualname__}: not a function")
        return _Function(func.__module__, func.__qualname__, node, None)

    # -- what a function raises -------------------------------------------------------------------

    def function_errors(self, fn: _Function) -> frozenset[Raised]:
        """What ``fn`` can raise. Inside a recursion the answer may be partial until :meth:`settle`."""
        key = fn.key
        if key in self._raised:
            return self._raised[key]
        if key in self._stack:
            # Recursion: what was read since is incomplete without this function's own errors.
            self._unsettled = True
            return frozenset()
        self._stack.append(key)
        try:
            found = self._read(fn)
        finally:
            self._stack.pop()
        self._raised[key] = found
        self._functions[key] = fn
        return found

    def _read(self, fn: _Function) -> frozenset[Raised]:
        module = self.module(fn.module)
        aliases = {**(module.aliases if module else {}), **_function_imports(fn.module, fn.node)}
        return frozenset(_Scope(self, fn, aliases).statements(fn.node.body))

    def settle(self) -> None:
        """Read again every function read so far, with what its callees raise now, until nothing
        changes: a recursion's partial answers become complete (the sets only grow)."""
        while self._unsettled:
            self._unsettled = False
            changed = True
            while changed:
                changed = False
                for key, fn in list(self._functions.items()):
                    found = self._read(fn)
                    if found != self._raised[key]:
                        self._raised[key] = found
                        changed = True

    def error_from_call(
        self, call: ast.Call, target: _Function | _Class, aliases: dict[str, str], site: str
    ) -> Raised | None:
        """``ErrorClass(code, …)`` → the error it builds (None when ``target`` is not an error class)."""
        if not isinstance(target, _Class) or not self.is_error(target):
            return None
        status = self._class_attr(target, "STATUS")
        fixed = self._init_literals(target) if status is None and target.name != BASE_ERROR else None
        if fixed is not None:  # `def __init__(self): super().__init__(503, "email_unavailable", …)`
            status, code = fixed
        elif target.name == BASE_ERROR:
            status = _literal(call.args[0]) if call.args else _keyword(call, "status")
            code = _literal(call.args[1]) if len(call.args) > 1 else _keyword(call, "code")
        else:
            arg = call.args[0] if call.args else _keyword_node(call, "code")
            code = self._class_attr(target, "CODE") if arg is None or _is_none(arg) else _literal(arg)
        if not isinstance(status, int):
            return None
        return Raised(status, code if isinstance(code, str) else None, target.name, site)


class _Scope:
    """What the statements of one function raise."""

    def __init__(self, project: Project, fn: _Function, aliases: dict[str, str]) -> None:
        self.project = project
        self.fn = fn
        self.aliases = aliases
        self.service = fn.module.split(".")[1] if fn.module.startswith("services.") else ""
        self.types: dict[str, _Class] = {}
        self.types = self._local_types()
        self.nested = {
            n.name: _Function(fn.module, f"{fn.qualname}.<locals>.{n.name}", n, None)
            for n in ast.walk(fn.node)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n is not fn.node
        }

    def _local_types(self) -> dict[str, _Class]:
        """The project class of a parameter (its annotation) or a local (``x = Class(…)``, or a call
        of a function annotated to return one), so ``x.method()`` is that class's method."""
        seen: dict[str, list[_Class | None]] = {}
        args = self.fn.node.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            seen.setdefault(arg.arg, []).append(self.project.annotation_class(arg.annotation, self.aliases))
        for node in ast.walk(self.fn.node):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                seen.setdefault(node.target.id, []).append(
                    self.project.annotation_class(node.annotation, self.aliases)
                )
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        seen.setdefault(target.id, []).append(self._type_of(node.value))
        # One class for every binding, or the name is left to the method-name rule.
        return {
            name: classes[0]
            for name, classes in seen.items()
            if classes[0] is not None and all(c is classes[0] for c in classes)
        }

    def _type_of(self, expr: ast.expr) -> _Class | None:
        if not isinstance(expr, ast.Call):
            return None
        target = self.project._resolve_expr(expr.func, self.aliases)
        if isinstance(target, _Class):
            return target
        callees = [target] if isinstance(target, _Function) else []
        if not callees and isinstance(expr.func, ast.Attribute):
            callees = self._callees(expr.func)
        classes = {id(c): c for c in (self.project.returned_class(f) for f in callees)}
        if len(classes) == 1 and callees:
            return next(iter(classes.values()))
        return None

    def statements(self, body: Iterable[ast.stmt]) -> set[Raised]:
        found: set[Raised] = set()
        for stmt in body:
            found |= self.statement(stmt)
        return found

    def statement(self, stmt: ast.stmt) -> set[Raised]:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            # A nested function is a callback the function passes on: counted as if it ran here.
            return self.statements(stmt.body)
        if isinstance(stmt, ast.ClassDef):
            return set()
        if isinstance(stmt, ast.Try):
            return self._try(stmt)
        found: set[Raised] = set()
        if isinstance(stmt, ast.Raise) and stmt.exc is not None:
            found |= self._raise(stmt.exc)
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.stmt):
                found |= self.statement(child)
            elif isinstance(child, ast.expr):
                found |= self.expression(child)
        return found

    def _try(self, node: ast.Try) -> set[Raised]:
        body = self.statements(node.body)
        for handler in node.handlers:
            caught = self._caught(handler.type)
            if caught is None:  # catches something we cannot name: assume it lets ours through
                continue
            if not _reraises(handler):
                body = {r for r in body if not (caught & self._bases_of(r.error_class))}
        found = body | self.statements(node.orelse) | self.statements(node.finalbody)
        for handler in node.handlers:
            found |= self.statements(handler.body)
        return found

    def _caught(self, expr: ast.expr | None) -> set[str] | None:
        if expr is None:
            return {"builtins.BaseException"}
        names = expr.elts if isinstance(expr, ast.Tuple) else [expr]
        caught: set[str] = set()
        for name in names:
            dotted = _dotted(name)
            if dotted is None:
                return None
            qualified = _qualify(dotted, self.aliases)
            if "." not in qualified:
                qualified = f"builtins.{qualified}"
            target = self.project.lookup(qualified)
            if isinstance(target, _Class):
                qualified = target.name
            elif target is None and qualified.split(".")[0] in PACKAGES:
                # A tuple of classes (`except REFUSALS`): its members.
                module_name, _, attr = qualified.rpartition(".")
                module = self.project.module(module_name)
                values = _assigned_values(module, attr) if module else None
                if values is None:
                    return None
                for v in values:
                    t = self.project._resolve_expr(v, module.aliases if module else {})
                    if isinstance(t, _Class):
                        caught.add(t.name)
                continue
            caught.add(qualified)
        return caught

    def _bases_of(self, class_name: str) -> set[str]:
        cls = self.project.lookup(class_name)
        names = {"builtins.Exception", "builtins.BaseException"}
        if isinstance(cls, _Class):
            names |= self.project._qualified_bases(cls)
        return names

    def _raise(self, exc: ast.expr) -> set[Raised]:
        if not isinstance(exc, ast.Call):  # `raise NotThere`, or `raise exc` (a caught error, a library's)
            target = self.project._resolve_expr(exc, self.aliases)
            if isinstance(target, _Class) and self.project.is_error(target):
                bare = ast.Call(func=exc, args=[], keywords=[])
                raised = self.project.error_from_call(bare, target, {}, self.fn.key)
                return {raised} if raised else set()
            return set()
        if isinstance(exc.func, ast.Subscript):
            container = exc.func.value
            if isinstance(container, ast.Dict):  # `raise {"gone": NotThere, …}[reason]()`
                return self._raise_each([v for v in container.values if v is not None], self.aliases, exc)
            # `raise _FAILURES[reason]()`: any class of that module-level dict or tuple.
            return self._raise_any_of(container, exc)
        target = self.project._resolve_expr(exc.func, self.aliases)
        if isinstance(target, _Class):
            raised = self.project.error_from_call(exc, target, self.aliases, self.fn.key)
            return {raised} if raised else set()
        # A factory: `raise conflict("member_changed")`, one nested in this function, or a method
        # (`raise self.policy.nothing_pending()`).
        nested = self.nested.get(exc.func.id) if isinstance(exc.func, ast.Name) else None
        factories = (
            [target] if isinstance(target, _Function) else [nested] if nested else self._callees(exc.func)
        )
        return set().union(*(self._factory(exc, f) for f in factories))

    def _raise_any_of(self, container: ast.expr, call: ast.Call) -> set[Raised]:
        dotted = _dotted(container)
        qualified = _qualify(dotted, self.aliases) if dotted else ""
        if "." not in qualified:
            qualified = f"{self.fn.module}.{qualified}"
        module_name, _, name = qualified.rpartition(".")
        module = self.project.module(module_name)
        values = _assigned_values(module, name) if module else None
        return self._raise_each(values or [], module.aliases if module else {}, call)

    def _raise_each(self, classes: list[ast.expr], aliases: dict[str, str], call: ast.Call) -> set[Raised]:
        found: set[Raised] = set()
        for value in classes:
            target = self.project._resolve_expr(value, aliases)
            if isinstance(target, _Class):
                built = ast.Call(func=value, args=call.args, keywords=call.keywords)
                raised = self.project.error_from_call(built, target, {}, self.fn.key)
                if raised:
                    found.add(raised)
        return found

    def _factory(self, call: ast.Call, fn: _Function) -> set[Raised]:
        module = self.project.module(fn.module)
        aliases = {**(module.aliases if module else {}), **_function_imports(fn.module, fn.node)}
        params = [a.arg for a in fn.node.args.args]
        if fn.cls and params[:1] in (["self"], ["cls"]):
            params = params[1:]
        bound = dict(zip(params, call.args, strict=False))
        bound.update({k.arg: k.value for k in call.keywords if k.arg})

        def substitute(value: ast.expr) -> ast.expr:
            return bound.get(value.id, value) if isinstance(value, ast.Name) else value

        found: set[Raised] = set()
        for node in ast.walk(fn.node):
            if isinstance(node, ast.Return) and isinstance(node.value, ast.Call):
                target = self.project._resolve_expr(node.value.func, aliases)
                if not isinstance(target, _Class):
                    continue
                built = node.value
                args = [substitute(a) for a in built.args]
                keywords = [ast.keyword(arg=k.arg, value=substitute(k.value)) for k in built.keywords]
                raised = self.project.error_from_call(
                    ast.Call(func=built.func, args=args, keywords=keywords), target, aliases, self.fn.key
                )
                if raised:
                    found.add(raised)
        return found

    def expression(self, expr: ast.expr) -> set[Raised]:
        found: set[Raised] = set()
        for node in _walk_expr(expr):
            if isinstance(node, ast.Call):
                found |= self._error_answer(node)
                for callee in self._callees(node.func):
                    found |= self.project.function_errors(callee)
                # A project function passed as an argument (a callback) may run below.
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    if isinstance(arg, ast.Name | ast.Attribute):
                        target = self.project._resolve_expr(arg, self.aliases)
                        if isinstance(target, _Function):
                            found |= self.project.function_errors(target)
        return found

    def _error_answer(self, call: ast.Call) -> set[Raised]:
        """An error answered without raising: ``json_response(401, error_body("invalid_signature", …))``."""
        status = _literal(call.args[0]) if call.args else None
        if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status < 600:
            return set()
        found: set[Raised] = set()
        for arg in [*call.args[1:], *(k.value for k in call.keywords)]:
            if isinstance(arg, ast.Call) and _qualify(_dotted(arg.func) or "", self.aliases) == ERROR_BODY:
                code = _literal(arg.args[0]) if arg.args else _keyword(arg, "code")
                found.add(Raised(status, code if isinstance(code, str) else None, ERROR_BODY, self.fn.key))
        return found

    def _callees(self, func: ast.expr) -> list[_Function]:
        target = self.project._resolve_expr(func, self.aliases)
        if isinstance(target, _Function):
            return [target]
        if isinstance(target, _Class):  # a constructor
            return self.project.methods_of(target, "__init__", self.service)
        if not isinstance(func, ast.Attribute):
            return []
        cls = self._receiver_class(func.value)
        if cls is not None:
            return self.project.methods_of(cls, func.attr, self.service)
        dotted = _dotted(func.value)
        if dotted is not None and dotted.split(".", 1)[0] in self.aliases:
            # `module.attr.f()` of a library module (json, boto3…) or a module-level object: not ours.
            return []
        return list(self.project._methods_named(self.service).get(func.attr, []))

    def _receiver_class(self, receiver: ast.expr) -> _Class | None:
        if isinstance(receiver, ast.Name):
            if receiver.id in ("self", "cls") and self.fn.cls:
                found = self.project.lookup(self.fn.cls)
                return found if isinstance(found, _Class) else None
            return self.types.get(receiver.id)
        return self._type_of(receiver)


def _walk_expr(expr: ast.expr) -> Iterator[ast.AST]:
    """The nodes of an expression, lambdas included (a callback may run below)."""
    todo: list[ast.AST] = [expr]
    while todo:
        node = todo.pop()
        yield node
        todo.extend(ast.iter_child_nodes(node))


def _reraises(handler: ast.ExceptHandler) -> bool:
    for node in ast.walk(handler):
        if isinstance(node, ast.Raise):
            if node.exc is None:
                return True
            if handler.name and isinstance(node.exc, ast.Name) and node.exc.id == handler.name:
                return True
    return False


def _assigned_values(module: _Module, name: str) -> list[ast.expr] | None:
    """The values of a module-level ``NAME = {…: Class}`` or ``(Class, …)`` (annotated or not)."""
    for node in module.tree.body:
        if name in _assigned_names(node):
            value = node.value  # type: ignore[attr-defined]
            if isinstance(value, ast.Dict):
                return [v for v in value.values if v is not None]
            if isinstance(value, ast.Tuple | ast.List | ast.Set):
                return list(value.elts)
    return None


def _dotted(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        inner = _dotted(expr.value)
        return f"{inner}.{expr.attr}" if inner else None
    return None


def _qualify(dotted: str, aliases: dict[str, str]) -> str:
    head, _, rest = dotted.partition(".")
    base = aliases.get(head, head)
    return f"{base}.{rest}" if rest else base


def _assigned_names(node: ast.AST) -> set[str]:
    """The names a plain or annotated assignment binds (empty for anything else)."""
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
        return {node.target.id}
    return set()


def _keyword_node(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_none(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is None


def _literal(expr: ast.expr | None) -> Any:
    return expr.value if isinstance(expr, ast.Constant) else None


def _keyword(call: ast.Call, name: str) -> Any:
    return next((_literal(k.value) for k in call.keywords if k.arg == name), None)


# --------------------------------------------------------------------------------------------------


@functools.cache
def project(root: Path = ROOT) -> Project:
    return Project(root)


def route_errors(func: Any, root: Path = ROOT) -> frozenset[Raised]:
    """The errors the route function ``func`` can raise, 4xx and 5xx."""
    where = project(root)
    fn = where.function_of(func)
    where.function_errors(fn)
    where.settle()
    return where.function_errors(fn)


def codes_by_status(raised: Iterable[Raised]) -> dict[int, list[str]]:
    """``{status: [code, …]}`` sorted; a code computed at run time is taken from :data:`RUNTIME_CODES`
    (left out when the site is not there: the status stays)."""
    out: dict[int, set[str]] = {}
    for r in raised:
        codes = out.setdefault(r.status, set())
        if r.code:
            codes.add(r.code)
        else:
            codes.update(RUNTIME_CODES.get(f"{r.site} {r.status}", ()))
    return {status: sorted(out[status]) for status in sorted(out)}


def unresolved_sites(raised: Iterable[Raised]) -> set[str]:
    """Where an error is raised with a code that cannot be read (``module:function status``)."""
    return {f"{r.site} {r.status}" for r in raised if r.code is None}


def success_statuses(func: Any, root: Path = ROOT) -> set[int]:
    """The 2xx statuses the route function ``func`` answers, read from its body and the helpers of its
    module it calls: a literal status as the first argument or ``status_code=`` of a call
    (``json_response(201, …)``, ``Response(status_code=200 if replayed else 201, …)``, ``_text(200, …)``),
    else 200 (what the router answers for a returned value)."""
    where = project(root)
    return _literal_statuses(where, where.function_of(func), depth=2) or {200}


def _literal_statuses(where: Project, fn: _Function, depth: int) -> set[int]:
    module = where.module(fn.module)
    found: set[int] = set()
    for call in (n for n in ast.walk(fn.node) if isinstance(n, ast.Call)):
        candidates = [k.value for k in call.keywords if k.arg == "status_code"]
        if call.args and _takes_status_first(call.func, module):
            candidates.append(call.args[0])
        for candidate in candidates:
            values = [candidate.body, candidate.orelse] if isinstance(candidate, ast.IfExp) else [candidate]
            found |= {status for status in map(_literal, values) if _is_success(status)}
        if depth and module is not None and isinstance(call.func, ast.Name):
            helper = module.functions.get(call.func.id)
            if helper is not None and helper.node is not fn.node:
                found |= _literal_statuses(where, helper, depth - 1)
    return found


def _takes_status_first(func: ast.expr, module: _Module | None) -> bool:
    """A call whose first argument is a status: ``json_response(…)``, ``Response(…)``, or a helper of
    the module whose first parameter is ``status`` (``_text(status, body)``)."""
    dotted = _dotted(func) or ""
    if dotted.rsplit(".", 1)[-1].lower().endswith("response"):
        return True
    helper = module.functions.get(dotted) if module is not None else None
    params = helper.node.args.args if helper is not None else []
    return bool(params) and params[0].arg in ("status", "status_code")


def _is_success(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 200 <= value < 300
