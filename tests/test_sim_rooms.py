"""The simulator's rooms (issue 15): swallowtail.sim.timing as a package, the stats in swallowtail.sim.stats,
the public import paths kept, no import cycle, no oversized function, the compiled engine's cause indices in
step with the stats' names."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import swallowtail.sim.stats as stats
import swallowtail.sim.timing as timing
from swallowtail.sim import engine

ROOT = Path(__file__).resolve().parent.parent
SIM = ROOT / "src" / "swallowtail" / "sim"
#: the longest function allowed in the timing package, the compiled engine, the replay, the events and the
#: stats
MAX_FUNCTION_LINES = 150


def _import_cycles():
    spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "tools" / "import_cycles.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_public_import_paths() -> None:
    from swallowtail.sim import Stats, TimingStats, simulate_timing
    from swallowtail.sim.replay import EventGraph, OrderInfeasible, replay
    from swallowtail.sim.timing import CAUSES, DRAIN, NEVER, PIPE_OPS, PRUNE_EVERY, event_graph

    assert simulate_timing is timing.simulate_timing
    assert TimingStats is timing.TimingStats is stats.TimingStats
    assert Stats is stats.Stats
    assert CAUSES is stats.CAUSES and DRAIN == stats.DRAIN
    assert NEVER < 0 and PRUNE_EVERY > 0 and len(PIPE_OPS) == 4
    assert callable(event_graph) and callable(replay)
    assert EventGraph is stats.EventGraph and issubclass(OrderInfeasible, Exception)


def test_engine_cause_indices_match_stats() -> None:
    """engine.py keeps its own copies (numba freezes globals into its cached code)."""
    names = ("OPERAND", "NOC", "SPM", "DMA", "TAG", "RFPORT")
    assert [getattr(engine, f"_C_{n}") for n in names] == [getattr(stats, f"C_{n}") for n in names]
    assert [getattr(stats, f"C_{n}") for n in names] == list(range(len(stats.CAUSES)))


def test_no_import_cycle_in_sim() -> None:
    """No cycle among swallowtail.sim's modules (function-level imports included), and no import-time cycle
    through them at all; the timing package imports the replay, the replay only the events and the stats."""
    ic = _import_cycles()
    graph = ic.edges(ic.modules())
    sim = {m: {k: v for k, v in d.items() if k.startswith("swallowtail.sim")} for m, d in graph.items()}
    sim = {m: d for m, d in sim.items() if m.startswith("swallowtail.sim")}
    assert ic.cycles(sim) == []
    assert [
        c for c in ic.cycles(graph, module_level_only=True) if any(m.startswith("swallowtail.sim") for m in c)
    ] == []
    assert set(sim["swallowtail.sim.replay"]) == {"swallowtail.sim.events", "swallowtail.sim.stats"}
    assert set(sim["swallowtail.sim.stats"]) == {"swallowtail.sim.events"}
    assert not [m for m in graph["swallowtail.sim.events"] if m.startswith("swallowtail")]


@pytest.mark.parametrize(
    "first", ["swallowtail.sim.replay", "swallowtail.sim.stats", "swallowtail.sim.timing.dma"]
)
def test_any_module_imports_first(first: str) -> None:
    """Each room imports on its own in a fresh interpreter (no order-dependent partial import)."""
    res = subprocess.run([sys.executable, "-c", f"import {first}"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_no_oversized_function() -> None:
    files = [
        *(SIM / "timing").glob("*.py"),
        SIM / "engine.py",
        SIM / "replay.py",
        SIM / "events.py",
        SIM / "stats.py",
        SIM / "trace.py",
    ]
    long = []
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                long.append(f"{f.name}:{node.name}")
    assert long == []
