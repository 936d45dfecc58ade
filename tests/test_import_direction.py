"""Imports point one way (docs/architecture.md): no module import cycle anywhere in swallowtail, counting
function-level imports too, and the lower rooms never import the ones above them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: package -> packages it must never import (directly, at any level)
FORBIDDEN = {
    "swallowtail.sim": ("swallowtail.backends", "swallowtail.baselines", "swallowtail.experiments"),
    "swallowtail.compiler": ("swallowtail.sim", "swallowtail.backends", "swallowtail.experiments"),
    "swallowtail.baselines": ("swallowtail.backends", "swallowtail.sim", "swallowtail.experiments"),
    "swallowtail.workload": (
        "swallowtail.arch",
        "swallowtail.compiler",
        "swallowtail.sim",
        "swallowtail.importer",
    ),
    "swallowtail.nn": ("swallowtail.importer",),
    "swallowtail.importer": (
        "swallowtail.arch",
        "swallowtail.compiler",
        "swallowtail.sim",
        "swallowtail.backends",
        "swallowtail.baselines",
        "swallowtail.experiments",
        "swallowtail.cli",
    ),
    "swallowtail.arch": ("swallowtail.compiler", "swallowtail.sim", "swallowtail.baselines"),
}


def _tool():
    spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "tools" / "import_cycles.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_no_import_cycle_anywhere() -> None:
    ic = _tool()
    assert ic.cycles(ic.edges(ic.modules())) == []


def test_lower_rooms_never_import_upper_ones() -> None:
    ic = _tool()
    graph = ic.edges(ic.modules())
    bad = [
        (m, t)
        for m, targets in graph.items()
        for room, banned in FORBIDDEN.items()
        if m == room or m.startswith(room + ".")
        for t in targets
        if any(t == b or t.startswith(b + ".") for b in banned)
    ]
    assert bad == []
