"""Every implementation of a declared interface, test fakes included, has each of its members with the
same parameters (names, kinds, which have defaults) and the same sync/async nature, so that a caller
written against the interface works with any of them."""
import inspect

import pytest

from inference.catalog import BaseModel
from inference.engine.interface import EngineInterface
from inference.engine.process import EngineProcess
from inference.engine.serving.engine import Engine
from inference.model_interface import ModelInterface
from inference.models import TunedModel
from inference.runtime import DisabledRuntime, EmbeddedRuntime
from inference.runtime_interface import RuntimeInterface
from inference.serve.runtime import RayRuntime
from tests.fakes import FakeEngine, FakeRuntime

IMPLEMENTATIONS = [
    (EngineInterface, Engine),
    (EngineInterface, EngineProcess),
    (EngineInterface, FakeEngine),
    (RuntimeInterface, EmbeddedRuntime),
    (RuntimeInterface, DisabledRuntime),
    (RuntimeInterface, RayRuntime),
    (RuntimeInterface, FakeRuntime),
    (ModelInterface, BaseModel),
    (ModelInterface, TunedModel),
]


def members(protocol) -> dict[str, object]:
    """The protocol's public members: its methods and properties, and its annotated attributes."""
    found = {name: value for name, value in vars(protocol).items() if not name.startswith("_")}
    found.update({name: None for name in getattr(protocol, "__annotations__", {}) if not name.startswith("_")})
    return found


def parameters(function) -> list[tuple[str, inspect._ParameterKind, bool]]:
    """(name, kind, has a default) of each parameter after self."""
    return [(p.name, p.kind, p.default is not p.empty) for p in list(inspect.signature(function).parameters.values())[1:]]


def drift(protocol, implementation) -> list[str]:
    """How `implementation` differs from `protocol`: one line per missing or mismatched member."""
    problems = []
    for name, declared in members(protocol).items():
        if not (hasattr(implementation, name) or name in getattr(implementation, "__dataclass_fields__", {})):
            problems.append(f"lacks {name}")
            continue
        if declared is None:  # an attribute: any value will do
            continue
        actual = inspect.getattr_static(implementation, name)
        if isinstance(declared, property):
            if not isinstance(actual, property):
                problems.append(f"{name} should be a property")
            continue
        if not callable(actual):
            problems.append(f"{name} should be a method")
        elif inspect.iscoroutinefunction(actual) != inspect.iscoroutinefunction(declared):
            problems.append(f"{name} is async in one and not in the other")
        elif parameters(actual) != parameters(declared):
            problems.append(f"{name} takes {parameters(actual)}, not {parameters(declared)}")
    return problems


@pytest.mark.parametrize("protocol, implementation", IMPLEMENTATIONS,
                         ids=[f"{impl.__name__}-{proto.__name__}" for proto, impl in IMPLEMENTATIONS])
def test_each_implementation_has_every_member_of_its_interface_with_the_same_parameters(protocol, implementation):
    assert drift(protocol, implementation) == []


def test_the_check_reports_a_missing_method_a_renamed_parameter_and_a_lost_async():
    class Drifted:
        name = "drifted"

        async def start_generation(self, req):
            raise NotImplementedError

        def train(self, request):
            raise NotImplementedError

    problems = drift(RuntimeInterface, Drifted)
    assert any(p.startswith("start_generation takes") for p in problems)
    assert "train is async in one and not in the other" in problems
    assert {"lacks create_adapter", "lacks status", "lacks shutdown"} <= set(problems)
