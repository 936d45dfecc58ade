"""swallowtail.backends: every way to run a workload, found by name in one registry.

A backend is an object with a `name` and `run(workload) -> Result` (the one result type of
`swallowtail.result`). It is made by a factory: `factory(arch=None, **options) -> backend`, registered with
`register_backend(name, factory, description)`. The factory may also be given as a `"module:callable"`
string, imported on first use, so a backend can be registered without importing its (heavy) module.

    get_backend("roofline", arch="df-4x4-simd8").run(workload)

Built in: `roofline` (`swallowtail.backends.roofline`), the floor every simulator is tested against.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from swallowtail.errors import SpecError
from swallowtail.result import Result
from swallowtail.workload import Workload


@runtime_checkable
class Backend(Protocol):
    """What every backend is: a name and `run(workload) -> Result`."""

    name: str

    def run(self, workload: Workload) -> Result: ...


Factory = Callable[..., Backend]


@dataclass(frozen=True)
class BackendEntry:
    name: str
    factory: Factory | str  # a callable, or "module:callable" imported on first use
    description: str

    def resolve(self) -> Factory:
        if callable(self.factory):
            return self.factory
        module, _, attr = self.factory.partition(":")
        if not module or not attr:
            raise SpecError(f"backend {self.name}.factory", self.factory, "a callable or 'module:callable'")
        fn = getattr(importlib.import_module(module), attr)
        if not callable(fn):
            raise SpecError(f"backend {self.name}.factory", self.factory, "the path of a callable")
        return fn


_REGISTRY: dict[str, BackendEntry] = {}


def register_backend(name: str, factory: Factory | str, description: str, *, replace: bool = False) -> None:
    """Make `factory` available as `get_backend(name, **options)`. Re-registering a name needs `replace`."""
    if not name or not isinstance(name, str):
        raise SpecError("backend name", name, "a non-empty string")
    if name in _REGISTRY and not replace and _REGISTRY[name].factory is not factory:
        raise SpecError("backend name", name, f"a name not yet registered (taken: {list_backends()})")
    _REGISTRY[name] = BackendEntry(name, factory, description)


def unregister_backend(name: str) -> None:
    """Remove a registered backend (for tests and plugins that replace one)."""
    if name not in _REGISTRY:
        raise SpecError("backend", name, f"one of {list_backends()}")
    del _REGISTRY[name]


def list_backends() -> list[str]:
    """Names of the registered backends, sorted."""
    return sorted(_REGISTRY)


def describe_backends() -> dict[str, str]:
    """name -> one-line description."""
    return {n: _REGISTRY[n].description for n in list_backends()}


def backend_entry(name: str) -> BackendEntry:
    """The registry entry of `name` (its factory and description), e.g. to re-register it in a worker."""
    entry = _REGISTRY.get(name)
    if entry is None:
        raise SpecError("backend", name, f"one of {list_backends()}")
    return entry


def get_backend(name: str, /, **options: Any) -> Backend:
    """A backend instance by name; `options` (e.g. `arch="df-4x4-simd8"`) go to its factory."""
    return backend_entry(name).resolve()(**options)


# ---- built-in backends ----------------------------------------------------------------------------------
register_backend(
    "roofline",
    "swallowtail.backends.roofline:make_roofline",
    "Roofline floor: max(FLOPs / peak, compulsory DRAM bytes / bandwidth); energy a lower bound",
)

# ---- baselines (swallowtail.baselines): registered lazily, "module:callable" strings -------------------
from swallowtail.baselines import BACKENDS as _BASELINE_BACKENDS  # noqa: E402

for _name, (_factory, _description) in _BASELINE_BACKENDS.items():
    register_backend(_name, _factory, _description)

__all__ = [
    "Backend",
    "BackendEntry",
    "backend_entry",
    "describe_backends",
    "get_backend",
    "list_backends",
    "register_backend",
    "unregister_backend",
]

# ---- the simulated dataflow array (swallowtail.backends.dataflow) ---------------------------------------
register_backend(
    "dataflow-multilayer",
    "swallowtail.backends.dataflow:make_multilayer",
    "Dataflow array, multilayer dataflow: folded butterfly stages, on-chip streaming (block-level simulator)",
)
register_backend(
    "dataflow-single-layer",
    "swallowtail.backends.dataflow:make_single_layer",
    "Dataflow array, single-layer dataflow: one stage per SPM round trip, every op's output to DRAM",
)
