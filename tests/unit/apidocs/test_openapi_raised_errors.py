"""Every error a route's code can raise is documented on its operation, with its code
(infra/apidocs/raises.py reads the raises; docs/decisions.md, session 8).

The document is generated from the raises, so forgetting one is not possible while the reader sees
it: these tests pin what it sees (a small project of its own) and where it cannot read a code.
"""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from infra.apidocs import generate, raises
from infra.apidocs.generate import CODES

DOC: dict[str, Any] = json.loads(generate.OUTPUT.read_text(encoding="utf-8"))
API_MODULES = [
    "services.members.handlers.api",
    "services.loyalty.handlers.api",
    "services.campaigns.handlers.api",
    "services.tickets.handlers.api",
]


def _routes() -> list[tuple[str, str, Any]]:
    out = []
    for module in API_MODULES:
        for route in importlib.import_module(module).app.routes:
            out.append((route.method.lower(), generate.openapi_path(route.rule), route.func))
    return out


def _response(op: dict[str, Any], status: int) -> dict[str, Any] | None:
    response = op["responses"].get(str(status))
    if response is not None and "$ref" in response:
        name = response["$ref"].rsplit("/", 1)[-1]
        resolved: dict[str, Any] = DOC["components"]["responses"][name]
        return resolved
    return response


def test_every_error_a_route_raises_is_documented_with_its_code() -> None:
    missing = []
    checked = 0
    for method, path, func in _routes():
        op = DOC["paths"][path][method]
        for status, codes in raises.codes_by_status(raises.route_errors(func)).items():
            response = _response(op, status)
            if response is None:
                missing.append(f"{method.upper()} {path} {status}")
                continue
            for code in codes:
                checked += 1
                if code not in response.get(CODES, []) or f"`{code}`" not in response["description"]:
                    missing.append(f"{method.upper()} {path} {status} {code}")
    assert checked > 400  # the reader does find the raises
    assert missing == [], "run `make openapi`"


def test_codes_raised_below_the_route_and_named_nowhere_are_documented() -> None:
    # Raised in logic (rewards.update_reward), named in no summary or description: absent before.
    patch = DOC["paths"]["/v1/admin/rewards/{reward_id}"]["patch"]["responses"]
    assert "reward_stock_unlimited" in patch["409"][CODES]
    assert "`reward_stock_unlimited`" in patch["409"]["description"]
    export = DOC["paths"]["/v1/members/me/exports/{export_id}"]["get"]["responses"]
    assert "export_not_found" in export["404"][CODES]
    # A 500 of the function's own behind the members' authorizer: Error joins GatewayError.
    me = DOC["paths"]["/v1/members/me"]["get"]["responses"]["500"]
    assert "vault_error" in me[CODES]
    assert {o["$ref"] for o in me["content"]["application/json"]["schema"]["oneOf"]} == {
        "#/components/schemas/GatewayError",
        "#/components/schemas/Error",
    }


def test_every_code_computed_at_run_time_is_listed() -> None:
    # A new raise with a computed code fails here: make its code a literal, or list its codes in
    # raises.RUNTIME_CODES.
    sites: set[str] = set()
    for _, _, func in _routes():
        sites |= raises.unresolved_sites(raises.route_errors(func))
    assert sites == set(raises.RUNTIME_CODES)
    for site, codes in raises.RUNTIME_CODES.items():
        service = Path(raises.ROOT, *site.split(":")[0].split(".")[:2])
        source = "".join(p.read_text(encoding="utf-8") for p in service.rglob("*.py"))
        for code in codes:
            assert f'"{code}"' in source, (site, code)  # a code the service really writes


# -- the reader, on a small project of its own -----------------------------------------------------

_LOGIC = """
from shared.errors import Conflict, MallCrmError, NotFound, Unprocessable


class ThingNotFound(NotFound):
    CODE = "thing_not_found"


class ThingBusy(Conflict):
    CODE = "thing_busy"


_FAILURES = {"gone": ThingNotFound, "busy": ThingBusy}


def invalid(message: str) -> Unprocessable:
    return Unprocessable("thing_invalid", message)


def refused(code: str) -> Conflict:
    return Conflict(code, "refused")


def get_thing(repo, thing_id):
    thing = repo.load(thing_id)
    if thing is None:
        raise ThingNotFound()
    if thing == "teapot":
        raise MallCrmError(418, "teapot", "I am a teapot.")
    return thing


def check(name):
    if not name:
        raise invalid("Empty.")
    if name == "taken":
        raise refused("thing_taken")


def swallowed():
    try:
        raise ThingBusy()
    except Conflict:
        return None


def reraised():
    try:
        raise ThingBusy("thing_locked")
    except ThingBusy:
        raise


def by_table(reason):
    raise _FAILURES[reason]()


def with_callback(run):
    def compute():
        raise Conflict()

    return run(compute)


def dynamic(code):
    raise Conflict(code)
"""

_DAL = """
from shared.errors import Conflict


class Repo:
    def load(self, thing_id):
        return self._read(thing_id)

    def _read(self, thing_id):
        raise Conflict("repo_busy")
"""

_ROUTES = """
from services.demo import logic as L


def get_route(thing_id, repo):
    from services.demo.logic import check  # imported when first called, as our routes do

    check(thing_id)
    return L.get_thing(repo, thing_id)


def quiet_route():
    return L.swallowed()


def loud_route():
    L.reraised()
    L.by_table("gone")
    return L.with_callback(lambda f: f())


def dynamic_route(code):
    L.dynamic(code)
"""


@pytest.fixture
def demo(tmp_path: Path) -> raises.Project:
    (tmp_path / "shared").mkdir()
    shutil.copy(Path(raises.ROOT, "shared", "errors.py"), tmp_path / "shared" / "errors.py")
    package = tmp_path / "services" / "demo"
    package.mkdir(parents=True)
    for name, text in (("logic", _LOGIC), ("dal", _DAL), ("routes", _ROUTES)):
        (package / f"{name}.py").write_text(text, encoding="utf-8")
    return raises.Project(tmp_path)


def _codes(project: raises.Project, function: str) -> dict[int, list[str]]:
    found = project.lookup(f"services.demo.routes.{function}")
    assert isinstance(found, raises._Function)
    return raises.codes_by_status(project.function_errors(found))


def test_the_reader_follows_calls_factories_and_methods(demo: raises.Project) -> None:
    assert _codes(demo, "get_route") == {
        404: ["thing_not_found"],  # the class's CODE
        409: ["repo_busy", "thing_taken"],  # a method of an object it cannot type; a factory's argument
        418: ["teapot"],  # MallCrmError(status, code, …)
        422: ["thing_invalid"],  # a factory's literal
    }


def test_the_reader_drops_what_a_handler_swallows_and_keeps_what_it_reraises(demo: raises.Project) -> None:
    assert _codes(demo, "quiet_route") == {}
    assert _codes(demo, "loud_route") == {
        404: ["thing_not_found"],  # raise _FAILURES[reason]()
        409: ["conflict", "thing_busy", "thing_locked"],  # re-raised; a nested callback; the table
    }


def test_a_code_computed_at_run_time_is_reported(demo: raises.Project) -> None:
    found = demo.lookup("services.demo.routes.dynamic_route")
    assert isinstance(found, raises._Function)
    raised = demo.function_errors(found)
    assert raises.codes_by_status(raised) == {409: []}
    assert raises.unresolved_sites(raised) == {"services.demo.logic:dynamic 409"}


# -- success responses ------------------------------------------------------------------------------


def test_every_operation_documents_the_success_statuses_its_code_answers() -> None:
    for method, path, func in _routes():
        responses = DOC["paths"][path][method]["responses"]
        documented = {int(s) for s in responses if s.startswith("2")}
        assert documented == raises.success_statuses(func), (method, path)
        for status in documented - {204}:
            assert "schema" in responses[str(status)]["content"]["application/json"], (method, path, status)
        assert "content" not in responses.get("204", {}), (method, path)


def test_operations_that_declared_only_errors_have_their_success_response() -> None:
    # `responses=` with errors only used to leave these without any 2xx.
    for method, path, model in [
        ("post", "/v1/auth/wechat", "MemberTokenResponse"),
        ("post", "/v1/auth/staff", "StaffLoginResponse"),
        ("patch", "/v1/members/me", "MemberOut"),
        ("post", "/v1/members/me/email/confirmation", "MemberOut"),
        ("post", "/v1/members/me/phone", "MemberOut"),
        ("post", "/v1/admin/members/verify-code", "MaskedMember"),
        ("put", "/v1/members/me/preferences", "PreferencesView"),
        ("patch", "/v1/admin/campaigns/{campaign_id}", "Campaign"),
    ]:
        schema = DOC["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{model}"}, (method, path)
    export = DOC["paths"]["/v1/members/me/exports/{export_id}"]["get"]["responses"]["200"]
    assert export["content"]["application/json"]["schema"]["type"] == "object"
    # The loyalty API's creations answer 201 (and 200 for a replay), not Powertools' default 200.
    assert set(DOC["paths"]["/v1/admin/rewards"]["post"]["responses"]) & {"200", "201"} == {"201"}
    redemptions = DOC["paths"]["/v1/members/me/redemptions"]["post"]["responses"]
    assert {"200", "201"} <= set(redemptions)


def test_success_statuses_are_read_from_the_route_and_its_helpers(tmp_path: Path) -> None:
    module = tmp_path / "services" / "demo" / "answers.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "def _no_content():\n"
        "    return Response(status_code=204, body='')\n\n"
        "def created(replayed):\n"
        "    return json_response(200 if replayed else 201, {})\n\n"
        "def gone():\n"
        "    return _no_content()\n\n"
        "def _text(status, body):\n"
        "    return Response(status_code=status, body=body)\n\n"
        "def text():\n"
        "    return _text(202, 'queued')\n\n"
        "def plain():\n"
        "    return {'items': take(250, [])}\n",
        encoding="utf-8",
    )
    demo = raises.Project(tmp_path)

    def statuses(name: str) -> set[int]:
        found = demo.lookup(f"services.demo.answers.{name}")
        assert isinstance(found, raises._Function)
        return raises._literal_statuses(demo, found, depth=2) or {200}

    assert statuses("created") == {200, 201}
    assert statuses("gone") == {204}
    assert statuses("text") == {202}  # a helper whose first parameter is the status
    assert statuses("plain") == {200}  # take(250, …): not a call that answers


_MORE = """
from shared.errors import Conflict, MallCrmError


class Unavailable(MallCrmError):
    def __init__(self):
        super().__init__(503, "thing_unavailable", "Try again later.")


class Policy:
    def refused(self, code):
        return Conflict(code, "refused")


def checked(name, policy: Policy):
    def invalid(message):
        return Conflict("thing_invalid", message)

    if not name:
        raise invalid("Empty.")
    if name == "x":
        raise {"gone": Unavailable, "busy": Conflict}[name]()
    raise policy.refused("thing_refused")
"""


def test_the_reader_reads_nested_factories_literal_tables_methods_and_own_inits(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    shutil.copy(Path(raises.ROOT, "shared", "errors.py"), tmp_path / "shared" / "errors.py")
    (tmp_path / "services" / "demo").mkdir(parents=True)
    (tmp_path / "services" / "demo" / "more.py").write_text(_MORE, encoding="utf-8")
    demo = raises.Project(tmp_path)
    found = demo.lookup("services.demo.more.checked")
    assert isinstance(found, raises._Function)
    assert raises.codes_by_status(demo.function_errors(found)) == {
        409: ["conflict", "thing_invalid", "thing_refused"],  # a dict's class, a nested and a method factory
        503: ["thing_unavailable"],  # the class's own __init__ passes status and code
    }


def test_a_function_read_inside_a_recursion_is_read_again_on_its_own(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    shutil.copy(Path(raises.ROOT, "shared", "errors.py"), tmp_path / "shared" / "errors.py")
    (tmp_path / "services" / "demo").mkdir(parents=True)
    (tmp_path / "services" / "demo" / "loop.py").write_text(
        "from shared.errors import Conflict, NotFound\n\n"
        "def outer(n):\n"
        "    if n:\n"
        "        inner(n - 1)\n"
        "    raise NotFound('outer_missing')\n\n"
        "def inner(n):\n"
        "    outer(n)\n"
        "    raise Conflict('inner_busy')\n",
        encoding="utf-8",
    )
    demo = raises.Project(tmp_path)
    outer, inner = (demo.lookup(f"services.demo.loop.{name}") for name in ("outer", "inner"))
    assert isinstance(outer, raises._Function) and isinstance(inner, raises._Function)
    both = {404: ["outer_missing"], 409: ["inner_busy"]}
    assert raises.codes_by_status(demo.function_errors(outer)) == both
    demo.settle()  # inner was read inside outer's recursion
    assert raises.codes_by_status(demo.function_errors(inner)) == both  # not the partial read


def test_every_code_a_description_names_is_one_the_code_raises() -> None:
    # The description parser takes snake_case words after a status for codes: a field name there
    # (`amount_cents`) or a code the route no longer raises would be published as an error code.
    router_codes = {"malformed_json", "validation_failed", "unsupported_media_type"}
    wrong = []
    for method, path, func in _routes():
        op = DOC["paths"][path][method]
        named = generate.documented_statuses(f"{op.get('summary', '')} {op.get('description', '')}")
        raised = raises.codes_by_status(raises.route_errors(func))
        for status, codes in named.items():
            wrong += [
                f"{method.upper()} {path} {status} {c}"
                for c in codes
                if c not in {*raised.get(status, []), *router_codes}
            ]
    assert wrong == []
