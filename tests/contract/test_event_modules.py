"""The lazy contracts facade: every event is reachable, from the module that defines it, and alone.

``shared.events.contracts`` re-exports each event from its producing service's module on first use
(PEP 562), so a consumer of one loyalty event does not build the other services' models at cold
start. These tests keep the facade's name map true to the modules.
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

from shared.events import base, contracts


def _models_defined_in(module_name: str) -> set[str]:
    module = importlib.import_module(module_name)
    return {
        name
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, base.ContractModel)
        and value.__module__ == module_name
    }


def test_the_facade_maps_every_model_to_the_module_that_defines_it() -> None:
    expected = {
        name: module_name.rsplit(".", 1)[1]
        for module_name in base.SOURCE_MODULES
        for name in _models_defined_in(module_name)
    }
    assert expected == contracts._EVENT_MODULES


@pytest.mark.parametrize("name", sorted(contracts._EVENT_MODULES))
def test_each_name_resolves_through_the_facade_and_is_exported(name: str) -> None:
    model = getattr(contracts, name)
    assert model.__name__ == name
    assert name in contracts.__all__


def test_every_event_is_registered_under_its_own_source_module() -> None:
    for detail_type, model in contracts.ALL_EVENTS.items():
        assert contracts._EVENT_MODULES[detail_type] == model.__module__.rsplit(".", 1)[1]
        assert f"mallcrm.{contracts._EVENT_MODULES[detail_type]}" == model.SOURCE


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        contracts.NoSuchEvent  # noqa: B018


def test_using_one_event_loads_only_its_service_models() -> None:
    code = (
        "import sys\n"
        "from shared.events.contracts import PurchaseRecorded\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('shared.events.'))\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out.split(",") == [
        "shared.events.base",
        "shared.events.contracts",
        "shared.events.envelope",
        "shared.events.loyalty",
    ]
