"""The inverse question: which array, against which GPU denominator, makes the abstract's figures true?

Today's reconstruction (`df-4x4-simd8`, 256 GOPS) is one machine. This module sweeps machines around it --
array size, SIMD lanes, clock and memory system (the memory balanced to the compute, times a DRAM factor:
`swallowtail.dse.space`) -- over the suite's hybrid workloads, and for every (Jetson board, software stack)
the baselines offer asks of every machine whether the abstract's five figures hold *together*:

- speedup over the GPU, geometric mean over the workloads (9.29x) and maximum (14.34x);
- energy efficiency over the GPU, geometric mean (11.14x);
- FLOP-efficiency ratio over Sanger and over SpAtten scaled to the machine's own peak (2.38x-4.7x), and
  their energy ratio (6.60x-15.37x): each of the two must fall in the range.

A figure *holds* at tolerance t when ours is within a factor t of it (inside the range, for a range); a
machine's distance is the largest such factor over the five (1 = every figure exactly met). For each
denominator the answer is the closest machine, the cheapest by modelled area and by full-load power of
those that hold at `TOLERANCE`, and how many hold at each of `TOLERANCES` (how sensitive the answer is).
"Beyond the paper": the fastest machine of the sweep at no more power (and, apart, no more area) than
the reconstruction, with its ratios against the same denominators.

The abstract's numbers are only compared with -- the sweep's grid is fixed in advance and no parameter is
fitted to them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swallowtail.dse.execute import run_sweep
from swallowtail.dse.space import load_base, make_point
from swallowtail.dse.spec import SweepSpec, parse_sweep
from swallowtail.dse.store import Store, StoredRow
from swallowtail.experiments.compare import GPU_BOARDS, GPU_STACKS
from swallowtail.experiments.paper import PAPER
from swallowtail.experiments.records import (
    TOLERANCE,
    TOLERANCES,
    BeyondPaper,
    ClaimCheck,
    DenominatorAnswer,
    InverseResult,
    Verdict,
    geomean,
)
from swallowtail.experiments.suite import ARRAY_ARCH, MULTILAYER_BACKEND, Suite

#: the attention accelerators of the abstract's "same peak performance" comparison
PEERS: tuple[str, ...] = ("sanger", "spatten")
#: the grids (coarse for --quick, finer for the full run); balance.dram multiplies the balanced DRAM
#: bandwidth (1: df-4x4-simd8's bytes per FLOP)
QUICK_GRID: dict[str, list[Any]] = {
    "array.rows": [4, 8],
    "pe.simd_lanes": [8, 32],
    "clock_hz": [1.0e9],
    "balance.dram": [1.0],
}
FULL_GRID: dict[str, list[Any]] = {
    "array.rows": [4, 8, 16],
    "pe.simd_lanes": [8, 16, 32],
    "clock_hz": [0.5e9, 1.0e9, 1.5e9],
    "balance.dram": [0.5, 1.0, 2.0],
}
#: the reconstruction's values of the grid's params (its point in every grid)
RECONSTRUCTION = {"array.rows": 4, "pe.simd_lanes": 8, "clock_hz": 1.0e9, "balance.dram": 1.0}


# ---- the sweep ------------------------------------------------------------------------------------------
def inverse_spec(suite: Suite, quick: bool) -> SweepSpec:
    """The built-in sweep: the grid around the reconstruction, the suite's hybrid workloads, the array with
    the multilayer dataflow and the same-peak attention accelerators at every point, every GPU reference."""
    by_model: dict[str, list[int]] = defaultdict(list)
    for w in suite.workloads:
        by_model[w.preset].append(w.seq_len)
    return parse_sweep(
        {
            "name": "inverse-quick" if quick else "inverse",
            "description": "the abstract's figures: which array and which GPU denominator make them hold",
            "base_arch": ARRAY_ARCH,
            "params": QUICK_GRID if quick else FULL_GRID,
            "tie": {"array.cols": "array.rows"},
            "workloads": [{"model": m, "seq_len": sorted(set(ls))} for m, ls in by_model.items()],
            "backends": [
                MULTILAYER_BACKEND,
                *({"name": p, "options": {"same_peak_as": "@point"}} for p in PEERS),
                {"name": "jetson", "options": {"arch": list(GPU_BOARDS), "stack": list(GPU_STACKS)}},
            ],
        }
    )


def run_inverse(
    suite: Suite,
    store_path: str | Path,
    quick: bool,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> InverseResult:
    """Run the inverse sweep into `store_path` (resuming what it holds) and answer the question."""
    spec = inverse_spec(suite, quick)
    with Store(store_path) as store:
        run_sweep(spec, store, workers=workers, progress=progress)
        return analyse(spec, store.rows(spec.name), Path(store_path).name)


# ---- the analysis ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Machine:
    point_id: str
    params: dict[str, Any]
    area_mm2: float
    power_w: float
    peak: float
    array: dict[str, dict[str, float]]  # workload -> metrics of the multilayer array
    peers: dict[str, dict[str, dict[str, float]]]  # peer -> workload -> metrics


def _machines(rows: Iterable[StoredRow], workloads: set[str]) -> list[_Machine]:
    by_point: dict[str, list[StoredRow]] = defaultdict(list)
    for s in rows:
        if not s.row.point_id.startswith("ref-"):
            by_point[s.row.point_id].append(s)
    out = []
    for pid, rs in sorted(by_point.items()):
        if any(s.row.status != "ok" for s in rs):
            continue
        array = {s.row.workload: s.row.metrics for s in rs if s.row.backend == MULTILAYER_BACKEND}
        peers = {
            p: {s.row.workload: s.row.metrics for s in rs if s.row.backend.startswith(p + "[")} for p in PEERS
        }
        if set(array) != workloads or any(set(v) != workloads for v in peers.values()):
            continue
        m = next(iter(array.values()))
        out.append(
            _Machine(pid, rs[0].row.params, m["area_mm2"], m["power_w"], m["peak_ops_per_s"], array, peers)
        )
    return out


def _gpus(rows: Iterable[StoredRow]) -> dict[tuple[str, str], dict[str, dict[str, float]]]:
    """(board, stack) -> workload -> metrics of the GPU references."""
    out: dict[tuple[str, str], dict[str, dict[str, float]]] = defaultdict(dict)
    for s in rows:
        if (
            s.row.point_id.startswith("ref-")
            and s.row.status == "ok"
            and s.row.params.get("backend") == "jetson"
        ):
            out[(s.row.params["arch"], s.row.params["stack"])][s.row.workload] = s.row.metrics
    return out


def _checks(m: _Machine, gpu: Mapping[str, Mapping[str, float]]) -> tuple[ClaimCheck, ...]:
    ws = sorted(m.array)
    speed = [gpu[w]["latency_s"] / m.array[w]["latency_s"] for w in ws]
    energy = [gpu[w]["energy_j"] / m.array[w]["energy_j"] for w in ws]
    out = [
        ClaimCheck("speedup, geomean", PAPER.speedup_vs_xavier_avg.text, PAPER.speedup_vs_xavier_avg.value,
                   PAPER.speedup_vs_xavier_avg.value, geomean(speed)),
        ClaimCheck("speedup, max", PAPER.speedup_vs_xavier_max.text, PAPER.speedup_vs_xavier_max.value,
                   PAPER.speedup_vs_xavier_max.value, max(speed)),
        ClaimCheck("energy efficiency, geomean", PAPER.energy_eff_vs_xavier.text,
                   PAPER.energy_eff_vs_xavier.value, PAPER.energy_eff_vs_xavier.value, geomean(energy)),
    ]  # fmt: skip
    eff, red = PAPER.efficiency_vs_same_peak, PAPER.energy_reduction_vs_same_peak
    for p in PEERS:
        pm = m.peers[p]
        # FLOP efficiency ratio of the same workload: (U / (peak_a L_a)) / (U / (peak_p L_p))
        e = geomean(
            pm[w]["latency_s"] * pm[w]["peak_ops_per_s"] / (m.array[w]["latency_s"] * m.peak) for w in ws
        )
        r = geomean(pm[w]["energy_j"] / m.array[w]["energy_j"] for w in ws)
        out.append(ClaimCheck(f"efficiency vs {p} (same peak)", eff.compact, eff.lo, eff.hi, e))
        out.append(ClaimCheck(f"energy reduction vs {p} (same peak)", red.compact, red.lo, red.hi, r))
    return tuple(out)


def _verdict(m: _Machine, gpu: Mapping[str, Mapping[str, float]]) -> Verdict:
    return Verdict(m.point_id, m.params, m.area_mm2, m.power_w, m.peak, _checks(m, gpu))


def _answer(board: str, stack: str, verdicts: list[Verdict], recon: Verdict) -> DenominatorAnswer:
    holding = [v for v in verdicts if v.holds()]
    return DenominatorAnswer(
        board,
        stack,
        len(verdicts),
        tuple((t, sum(v.holds(t) for v in verdicts)) for t in TOLERANCES),
        recon,
        min(verdicts, key=lambda v: (v.distance, v.power_w, v.point_id)),
        min(holding, key=lambda v: (v.area_mm2, v.point_id), default=None),
        min(holding, key=lambda v: (v.power_w, v.point_id), default=None),
        tuple((t, sum(v.gpu_distance <= t for v in verdicts)) for t in TOLERANCES),
        min(verdicts, key=lambda v: (v.gpu_distance, v.power_w, v.point_id)),
        tuple(sorted((v.peak_ops_per_s, v.checks[0].ours, v.checks[2].ours) for v in verdicts)),
    )


def _latency_geomean(m: _Machine) -> float:
    return geomean(x["latency_s"] for x in m.array.values())


def _beyond(
    machines: list[_Machine], recon: _Machine, gpus: Mapping[tuple[str, str], Any]
) -> list[BeyondPaper]:
    out = []
    for budget, limit in (("power", recon.power_w), ("area", recon.area_mm2)):
        within = [
            m for m in machines if (m.power_w if budget == "power" else m.area_mm2) <= limit * (1 + 1e-9)
        ]
        best = min(within, key=lambda m: (_latency_geomean(m), m.point_id))
        vs = tuple(
            (
                f"{b}/{s}",
                geomean(gpus[(b, s)][w]["latency_s"] / best.array[w]["latency_s"] for w in best.array),
            )
            for b, s in (("xavier-nx-15w", "tensorrt-fp16"), ("xavier-nx-15w", "pytorch-eager-fp32"))
            if (b, s) in gpus
        )
        out.append(
            BeyondPaper(
                budget, limit, best.point_id, best.params, best.area_mm2, best.power_w,
                _latency_geomean(best), _latency_geomean(recon) / _latency_geomean(best), vs,
            )
        )  # fmt: skip
    return out


def analyse(spec: SweepSpec, rows: list[StoredRow], store: str) -> InverseResult:
    """The answer from a store's rows of the inverse sweep `spec` (`store`: its name, for the report)."""
    workloads = {f"{w.model}@L{s}xB{b}" for w in spec.workloads for s in w.seq_len for b in w.batch}
    machines = _machines(rows, workloads)
    recon_id = make_point(spec, load_base(spec), RECONSTRUCTION).point_id
    recon = next((m for m in machines if m.point_id == recon_id), None)
    if recon is None:
        raise ValueError(
            f"the inverse sweep {spec.name!r} lacks the reconstruction {ARRAY_ARCH} ({recon_id})"
        )
    gpus = _gpus(rows)
    answers = []
    closest_peer = None
    for board in GPU_BOARDS:
        for stack in GPU_STACKS:
            gpu = gpus.get((board, stack), {})
            if set(gpu) != workloads:
                continue
            verdicts = [_verdict(m, gpu) for m in machines]
            if closest_peer is None:  # the same for every denominator
                closest_peer = min(verdicts, key=lambda v: (v.peer_distance, v.power_w, v.point_id))
            answers.append(_answer(board, stack, verdicts, _verdict(recon, gpu)))
    grid = {k: list(v) for k, v in spec.params.items() if isinstance(v, list)}
    return InverseResult(
        spec.name,
        grid,
        tuple(sorted(workloads)),
        TOLERANCE,
        tuple(answers),
        tuple(_beyond(machines, recon, gpus)),
        store,
        closest_peer,
    )


__all__ = [
    "FULL_GRID",
    "PEERS",
    "QUICK_GRID",
    "analyse",
    "inverse_spec",
    "run_inverse",
]
