"""Evaluate design points: every workload x backend of a point as stored rows, in any process.

A sweep is cut into `Task`s (a few points each, or one reference backend); `evaluate_task` runs one in
whatever process it lands in -- the caller's, a pool worker, a Ray worker -- and returns its rows plus the
rate-cache entries it probed (a `RateCache` per dense cost model), which the driver merges into the sweep's
shared cache. Every row carries the same metrics for every backend (`metrics_of`), so reports and Pareto
fronts never care which backend made a number.

A point that breaks a budget (area, full-load power) is not simulated: its rows say `infeasible`. A point the
compiler or the arch spec refuses (a streaming buffer that no SPM size holds, a mesh the NoC cannot route)
has `invalid` rows naming the reason. Nothing else is caught: a bug is a bug.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from swallowtail.backends import get_backend
from swallowtail.dse.space import DesignPoint
from swallowtail.dse.spec import (
    BACKEND_MAPPING_KNOBS,
    MAPPED_BACKENDS,
    BackendAxis,
    Constraints,
    SweepSpec,
    WorkloadAxis,
)
from swallowtail.energy.tables import full_load_report, load_energy_table
from swallowtail.errors import SpecError
from swallowtail.result import Result
from swallowtail.sim.network import RateCache
from swallowtail.sim.network.cache import DEFAULT_DENSE_COST_MODEL, TABLES
from swallowtail.workload import Workload
from swallowtail.workload.lower import lower

#: backends that run on the swept machine (their factory takes the point's arch); any other backend is a
#: reference, run once per workload whatever the point
POINT_BACKENDS = ("dataflow-multilayer", "dataflow-single-layer", "roofline")
#: an option value that stands for the point's machine (`{name: sanger, options: {same_peak_as: "@point"}}`:
#: Sanger scaled to each point's peak); a backend with one runs on every point
POINT_ARCH = "@point"
#: row statuses
OK, INFEASIBLE, INVALID = "ok", "infeasible", "invalid"


# ---- what a row is about ------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkloadKey:
    model: str
    seq_len: int
    batch: int

    @property
    def key(self) -> str:
        return f"{self.model}@L{self.seq_len}xB{self.batch}"

    def lower(self) -> Workload:
        return lower(self.model, self.seq_len, self.batch)


@dataclass(frozen=True)
class BackendKey:
    name: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def key(self) -> str:
        if not self.options:
            return self.name
        return f"{self.name}[{','.join(f'{k}={v}' for k, v in self.options)}]"

    @property
    def on_point(self) -> bool:
        return self.name in POINT_BACKENDS or any(v == POINT_ARCH for _, v in self.options)

    def reference_id(self) -> str:
        """The point id of a reference backend's rows (a hash of the backend and its options)."""
        return "ref-" + hashlib.sha256(self.key.encode()).hexdigest()[:12]


def workload_keys(axes: Iterable[WorkloadAxis]) -> list[WorkloadKey]:
    return [WorkloadKey(w.model, s, b) for w in axes for s in w.seq_len for b in w.batch]


def backend_keys(axes: Iterable[BackendAxis]) -> list[BackendKey]:
    """Every backend configuration: a list-valued option is an axis (the product of all of them)."""
    out: list[BackendKey] = []
    for ax in axes:
        combos: list[list[tuple[str, Any]]] = [[]]
        for k, v in sorted(ax.options.items()):
            values = v if isinstance(v, list) else [v]
            combos = [[*c, (k, x)] for c in combos for x in values]
        out.extend(BackendKey(ax.name, tuple(c)) for c in combos)
    return out


# ---- one stored row -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One (point, workload, backend) outcome, as the store keeps it."""

    point_id: str
    workload: str
    backend: str
    status: str  # ok | infeasible | invalid
    params: dict[str, Any]
    metrics: dict[str, float | None]
    result: str | None = None  # Result.to_json() when status is ok
    reason: str | None = None  # why not ok


def metrics_of(result: Result, batch: int, area_mm2: float | None, power_w: float | None) -> dict[str, Any]:
    """The numbers every row has, whatever its backend."""
    return {
        "latency_s": result.latency_s,
        "energy_j": result.energy_j,
        "edp_js": result.latency_s * result.energy_j,
        "throughput_per_s": batch / result.latency_s if result.latency_s > 0 else None,
        "inferences_per_j": batch / result.energy_j if result.energy_j > 0 else None,
        "peak_ops_per_s": result.peak_ops_per_s,
        "utilization": result.utilization,
        "area_mm2": area_mm2,
        "power_w": power_w,
    }


def budget_of(point: DesignPoint) -> tuple[float, float]:
    """(modelled area in mm^2: PE FUs + RFs + SPM; on-chip full-load power in W: array + SPM with their
    leakage, as MLX reports a chip -- DRAM's power is off chip and follows the workload) of a machine."""
    area = load_energy_table(point.arch.energy_table).area_mm2(point.arch)
    flp = full_load_report(point.arch)
    return area["array_modelled_mm2"] + area["spm_mm2"], flp.array_w + flp.memory_w


def over_budget(area: float, power: float, c: Constraints) -> str | None:
    if c.max_area_mm2 is not None and area > c.max_area_mm2:
        return f"area {area:.3g} mm^2 > constraints.max_area_mm2 = {c.max_area_mm2:g}"
    if c.max_power_w is not None and power > c.max_power_w:
        return f"full-load power {power:.3g} W > constraints.max_power_w = {c.max_power_w:g}"
    return None


# ---- tasks ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """Points to evaluate on the point backends, or (no points) one reference backend; every workload."""

    workloads: tuple[WorkloadKey, ...]
    backends: tuple[BackendKey, ...]
    points: tuple[DesignPoint, ...] = ()
    constraints: Constraints = Constraints()

    @property
    def size(self) -> int:
        return max(1, len(self.points))


@dataclass
class TaskOut:
    rows: list[Row]
    cache_delta: dict[str, RateCache] = field(default_factory=dict)  # by dense cost model: new entries


#: the rate caches of this process, by dense cost model (shared by every task the process runs)
_CACHES: dict[str, RateCache] = {}
#: lowered workloads of this process
_WORKLOADS: dict[WorkloadKey, Workload] = {}


def install_caches(caches: Mapping[str, RateCache]) -> None:
    """Start this process's rate caches from the sweep's shared ones (a pool initializer, a Ray worker)."""
    for model, c in caches.items():
        _cache(model).merge(c)


def _cache(model: str) -> RateCache:
    if model not in _CACHES:
        _CACHES[model] = RateCache(dense_cost_model=model)
    return _CACHES[model]


def _workload(k: WorkloadKey) -> Workload:
    if k not in _WORKLOADS:
        _WORKLOADS[k] = k.lower()
    return _WORKLOADS[k]


def evaluate_task(task: Task) -> TaskOut:
    """The rows of `task`, and the rate-cache entries this process probed for it."""
    before = {m: c.keys() for m, c in _CACHES.items()}
    if task.points:
        rows = [r for p in task.points for r in _point_rows(p, task)]
    else:
        rows = _reference_rows(task.backends[0], task.workloads)
    delta = {m: c.entries_since(before.get(m)) for m, c in _CACHES.items()}
    return TaskOut(rows, {m: d for m, d in delta.items() if len(d)})


def _point_rows(p: DesignPoint, task: Task) -> list[Row]:
    area, power = budget_of(p)
    why = over_budget(area, power, task.constraints)
    rows = []
    for w in task.workloads:
        for b in task.backends:
            base = Row(p.point_id, w.key, b.key, INFEASIBLE, p.params, {"area_mm2": area, "power_w": power})
            if why is not None:
                rows.append(_with(base, reason=why))
                continue
            opts: dict[str, Any] = {k: p.arch if v == POINT_ARCH else v for k, v in b.options}
            if b.name in POINT_BACKENDS:
                opts["arch"] = p.arch
            if b.name in MAPPED_BACKENDS:
                cache = _cache(p.mapping.get("dense_cost_model", DEFAULT_DENSE_COST_MODEL))
                opts.update(cache=cache, **{k: v for k, v in p.mapping.items() if k in BACKEND_MAPPING_KNOBS})
            try:
                res = get_backend(b.name, **opts).run(_workload(w))
            except SpecError as exc:
                rows.append(_with(base, status=INVALID, reason=str(exc)))
                continue
            rows.append(
                _with(base, status=OK, metrics=metrics_of(res, w.batch, area, power), result=res.to_json())
            )
    return rows


def _reference_rows(b: BackendKey, workloads: Iterable[WorkloadKey]) -> list[Row]:
    backend = get_backend(b.name, **dict(b.options))
    out = []
    for w in workloads:
        params = {"backend": b.name, **dict(b.options)}
        try:
            res = backend.run(_workload(w))
        except SpecError as exc:
            out.append(Row(b.reference_id(), w.key, b.key, INVALID, params, {}, reason=str(exc)))
            continue
        m = metrics_of(res, w.batch, None, None)
        out.append(Row(b.reference_id(), w.key, b.key, OK, params, m, result=res.to_json()))
    return out


def _with(row: Row, **changes: Any) -> Row:
    return Row(**{**row.__dict__, **changes})


def make_tasks(
    spec: SweepSpec, points: list[DesignPoint], per_task: int, include_references: bool = True
) -> list[Task]:
    """`points` in tasks of `per_task` (in order), then one task per reference backend."""
    workloads = tuple(workload_keys(spec.workloads))
    bks = backend_keys(spec.backend_axes)
    on_point = tuple(b for b in bks if b.on_point)
    tasks = []
    if on_point:
        for i in range(0, len(points), per_task):
            tasks.append(Task(workloads, on_point, tuple(points[i : i + per_task]), spec.constraints))
    if include_references:
        tasks.extend(Task(workloads, (b,)) for b in bks if not b.on_point)
    return tasks


def expected_rows(task: Task) -> int:
    return len(task.workloads) * len(task.backends) * task.size


def row_key(row: Row) -> tuple[str, str, str]:
    return row.point_id, row.workload, row.backend


__all__ = [
    "INFEASIBLE",
    "INVALID",
    "OK",
    "POINT_BACKENDS",
    "TABLES",
    "BackendKey",
    "Row",
    "Task",
    "TaskOut",
    "WorkloadKey",
    "backend_keys",
    "budget_of",
    "evaluate_task",
    "expected_rows",
    "install_caches",
    "make_tasks",
    "metrics_of",
    "workload_keys",
]
