"""Run a sweep: choose its points, evaluate what the store lacks on a local pool or Ray, store every task.

    summary = run_sweep(load_sweep("sweep.yaml"), Store("sweep.db"), backend="local", workers=2)

- **Points.** grid: every combination; random: `samples` draws (seeded); nsga2 / tpe: Optuna's sampler asks
  `sampling.batch` trials per round, they are evaluated like any other points, and each trial is told the
  geometric mean of every objective over the sweep's workloads and point backends (seeded, and rounds of a
  fixed size, so the sequence of points does not depend on the number of workers or the backend).
- **Resume** is the default: a (point, workload, backend) already in the store is not run again, so a crash,
  a Ctrl-C or a SIGKILL loses at most the tasks in flight.
- **Executors.** `local`: a process pool over `workers` processes (in process when 1); `ray`: Ray tasks on a
  local Ray instance of `workers` CPUs, or an existing cluster (`address`). Both run the same `Task`s
  through `swallowtail.dse.evaluate.evaluate_task`, a few points per task so a 10 ms point does not pay a
  task's overhead, and both start every worker from the store's rate cache; the entries a task probes come
  back with its rows and join the cache the next tasks (and the next sweep) start from.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from swallowtail.backends import backend_entry, get_backend
from swallowtail.dse.evaluate import (
    INVALID,
    POINT_ARCH,
    POINT_BACKENDS,
    Row,
    Task,
    TaskOut,
    backend_keys,
    evaluate_task,
    install_caches,
    make_tasks,
    workload_keys,
)
from swallowtail.dse.space import (
    DesignPoint,
    axes,
    check_points,
    grid_params,
    load_base,
    make_point,
    random_params,
)
from swallowtail.dse.spec import ParamRange, SweepSpec
from swallowtail.dse.store import Store
from swallowtail.errors import SpecError, check_choice, check_positive_int
from swallowtail.procs import die_with_parent
from swallowtail.sim.network import RateCache

#: executors of `run_sweep`
EXECUTORS = ("local", "ray")
#: most points in one task (more: a slow task holds the others back at the end of a sweep)
MAX_POINTS_PER_TASK = 8
#: tasks per worker the points are cut into (fewer, larger tasks pay less overhead; more balance better)
TASKS_PER_WORKER = 4
#: Optuna trials asked per round when the spec does not say
DEFAULT_OPTUNA_BATCH = 8
#: seconds between two saves of the shared rate cache while a sweep runs
CACHE_SAVE_INTERVAL_S = 30.0

#: progress(done, total) in rows
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class SweepSummary:
    name: str
    points: int
    rows_total: int
    rows_added: int
    rows_skipped: int  # already in the store (resume)
    elapsed_s: float
    executor: str
    workers: int
    cache_entries: int
    rows_invalid: int = 0  # of the rows added: a machine or workload the backend refused
    rows_infeasible: int = 0  # of the rows added: over a budget or constraint
    first_invalid_reason: str | None = None

    @property
    def rows_per_s(self) -> float:
        return self.rows_added / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "rows_per_s": self.rows_per_s}


# ---- checking before any work ---------------------------------------------------------------------------
def check_sweep(spec: SweepSpec) -> None:
    """Everything a sweep needs, checked before any work: base arch, param values, workloads, backends."""
    if not isinstance(spec, SweepSpec):
        raise SpecError("spec", type(spec).__name__, "a SweepSpec (swallowtail.dse.resolve_sweep(name))")
    base = load_base(spec)
    check_points(spec, base)
    keys = workload_keys(spec.workloads)
    workloads = []
    for i, w in enumerate(keys):
        try:
            workloads.append(w.lower())
        except (SpecError, ValueError) as exc:
            raise SpecError(f"workloads[{i}]", w.key, str(exc)) from None
    for b in backend_keys(spec.backend_axes):
        backend_entry(b.name)  # an unknown name is a SpecError listing the registered ones
        opts = {k: base if v == POINT_ARCH else v for k, v in b.options}
        if b.name in POINT_BACKENDS:
            opts["arch"] = base
        backend = get_backend(b.name, **opts)  # refuses unknown options and bad values, at the base machine
        check = getattr(backend, "check", None)  # what no machine of the sweep could map (every row invalid)
        if check is None:
            continue
        for i, (w, key) in enumerate(zip(workloads, keys, strict=True)):
            try:
                check(w)
            except SpecError as exc:
                raise SpecError(f"workloads[{i}]", key.key, f"a workload {b.name} can map ({exc})") from None


# ---- executors -------------------------------------------------------------------------------------------
def _pool_init(caches: dict[str, RateCache]) -> None:
    die_with_parent()
    install_caches(caches)


class LocalExecutor:
    """A process pool of `workers` (in process for 1): tasks in, (task, TaskOut) out as they finish."""

    def __init__(self, workers: int, caches: dict[str, RateCache]) -> None:
        self.workers = workers
        self.caches = caches
        self.pool: ProcessPoolExecutor | None = None
        if workers == 1:
            install_caches(caches)
        else:
            self.pool = ProcessPoolExecutor(workers, initializer=_pool_init, initargs=(caches,))

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, TaskOut]]:
        if self.pool is None:
            for t in tasks:
                yield t, evaluate_task(t)
            return
        pending = {self.pool.submit(evaluate_task, t): t for t in tasks}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in sorted(done, key=lambda f: id(pending[f])):
                yield pending.pop(f), f.result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


class RayExecutor:
    """Ray tasks: a local Ray instance of `workers` CPUs, or the cluster at `address`."""

    def __init__(self, workers: int, caches: dict[str, RateCache], address: str | None = None) -> None:
        import ray  # deferred: a heavy import only this executor needs

        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            opts: dict[str, Any] = {"address": address} if address else {"num_cpus": workers}
            ray.init(**opts, include_dashboard=False, log_to_driver=False, configure_logging=False)
        self.caches = caches
        self.caches_ref = ray.put(caches)
        self.remote = ray.remote(_ray_task)
        self.workers = workers

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, TaskOut]]:
        pending = {self.remote.remote(t, self.caches_ref): t for t in tasks}
        while pending:
            done, _ = self.ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield pending.pop(ref), self.ray.get(ref)

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def _ray_task(task: Task, caches: dict[str, RateCache]) -> TaskOut:
    install_caches(caches)
    return evaluate_task(task)


def check_executor(executor: str, workers: int, address: str | None = None) -> None:
    """SpecError unless `executor` (one of EXECUTORS), `workers` and `address` make an executor: a caller
    checks them before it creates a store."""
    check_choice("--backend", executor, EXECUTORS)
    check_positive_int("--workers", workers)
    if address is not None and executor != "ray":
        raise SpecError("--address", address, "only with --backend ray")


def make_executor(
    executor: str, workers: int, caches: dict[str, RateCache], address: str | None = None
) -> LocalExecutor | RayExecutor:
    check_executor(executor, workers, address)
    if executor == "ray":
        return RayExecutor(workers, caches, address)
    return LocalExecutor(workers, caches)


# ---- the sweep -----------------------------------------------------------------------------------------
class _Driver:
    """Runs tasks through an executor into the store, merging rate-cache entries and counting rows."""

    def __init__(
        self, spec: SweepSpec, store: Store, ex: LocalExecutor | RayExecutor, progress: ProgressFn | None
    ):
        self.spec, self.store, self.ex, self.progress = spec, store, ex, progress
        self.caches = ex.caches
        self.added = self.skipped = self.kept = self.total = self.done = 0
        self.by_status: dict[str, int] = {}
        self.first_invalid_reason: str | None = None
        self.last_save = time.monotonic()
        # the row keys every point has (workload x point backend), and the references' ids
        self.point_keys = [
            (w.key, b.key) for w in workload_keys(spec.workloads) for b in _point_backends(spec)
        ]
        self.refs_ids = [b.reference_id() for b in backend_keys(spec.backend_axes) if not b.on_point]

    def run(self, points: list[DesignPoint], bad: list[Row], refs: bool = True) -> None:
        """Evaluate and store the points (and references) the store lacks, and the rows of `bad`."""
        have = self.store.done()
        refs_ids = self.refs_ids
        self.store.add_members(self.spec.name, [p.point_id for p in points] + (refs_ids if refs else []))
        todo = [p for p in points if not self._stored(p, have)]
        tasks = make_tasks(self.spec, todo, self._per_task(len(todo)), include_references=refs)
        stored_refs = [t for t in tasks if not t.points and self._ref_stored(t, have)]
        tasks = [t for t in tasks if t not in stored_refs]
        per_point = len(self.point_keys)
        self.total += sum(len(t.workloads) * len(t.backends) * t.size for t in tasks)
        self.skipped += (len(points) - len(todo)) * per_point + sum(len(t.workloads) for t in stored_refs)
        self.added += self.store.write(bad, [], self.spec.name)  # refused machines: stored once, as invalid
        self._count(bad)
        for task, result in self.ex.run(tasks):
            added = self.store.write(result.rows, task.points, self.spec.name)
            self.added += added
            self.kept += len(result.rows) - added  # a partly stored point, run again: its stored rows kept
            self._count(result.rows)
            for model, delta in result.cache_delta.items():
                self.caches.setdefault(model, RateCache(dense_cost_model=model)).merge(delta)
            self.done += len(result.rows)
            if self.progress:
                self.progress(self.done, self.total)
            if time.monotonic() - self.last_save > CACHE_SAVE_INTERVAL_S:
                self.save()

    def _count(self, rows: list[Row]) -> None:
        for r in rows:
            self.by_status[r.status] = self.by_status.get(r.status, 0) + 1
            if r.status == "invalid" and self.first_invalid_reason is None:
                self.first_invalid_reason = f"{r.workload} on {r.backend}: {r.reason}"

    def save(self) -> None:
        self.store.save_caches(self.caches)
        self.last_save = time.monotonic()

    def _per_task(self, n: int) -> int:
        return max(1, min(MAX_POINTS_PER_TASK, math.ceil(n / (self.ex.workers * TASKS_PER_WORKER))))

    def _stored(self, p: DesignPoint, have: set) -> bool:
        return all((p.point_id, w, b) in have for w, b in self.point_keys)

    def _ref_stored(self, t: Task, have: set) -> bool:
        b = t.backends[0]
        return all((b.reference_id(), w.key, b.key) in have for w in t.workloads)


def _point_backends(spec: SweepSpec) -> list:
    return [b for b in backend_keys(spec.backend_axes) if b.on_point]


def sample_points(spec: SweepSpec) -> tuple[list[DesignPoint], list[Row]]:
    """grid / random: the points (in order, duplicates merged) and the rows of param sets the arch refuses."""
    base = load_base(spec)
    s = spec.sampling
    params = list(grid_params(spec)) if s.method == "grid" else random_params(spec, s.samples or 0, s.seed)
    return _resolve(spec, base, params)


def _resolve(spec: SweepSpec, base: Any, params: list[dict[str, Any]]) -> tuple[list[DesignPoint], list[Row]]:
    points: dict[str, DesignPoint] = {}
    bad: list[Row] = []
    for p in params:
        try:
            pt = make_point(spec, base, p)
        except SpecError as exc:
            bad.extend(invalid_rows(spec, p, str(exc)))
            continue
        points.setdefault(pt.point_id, pt)
    return list(points.values()), bad


def invalid_rows(spec: SweepSpec, params: dict[str, Any], reason: str) -> list[Row]:
    """Rows of a param set whose machine the arch spec refuses (its id: a hash of the params)."""
    pid = "bad-" + hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return [
        Row(pid, w.key, b.key, INVALID, params, {}, reason=reason)
        for w in workload_keys(spec.workloads)
        for b in _point_backends(spec)
    ]


def run_sweep(
    spec: SweepSpec,
    store: Store,
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    progress: ProgressFn | None = None,
) -> SweepSummary:
    """Run `spec` into `store` (resuming what it holds) and return what was done."""
    if not isinstance(store, Store):
        raise SpecError("store", type(store).__name__, "a Store (swallowtail.dse.store.Store(path))")
    check_sweep(spec)
    t0 = time.monotonic()
    caches = store.load_caches()
    ex = make_executor(executor, workers, caches, address)
    store.begin_sweep(spec)
    drv = _Driver(spec, store, ex, progress)
    try:
        if spec.sampling.method in ("grid", "random"):
            points, bad = sample_points(spec)
            drv.run(points, bad)
            n_points = len(points) + len({r.point_id for r in bad})
        else:
            n_points = _optuna(spec, drv)
    finally:
        drv.save()
        ex.close()
    return SweepSummary(
        spec.name,
        n_points,
        drv.total + drv.skipped,
        drv.added,
        drv.skipped + drv.kept,
        time.monotonic() - t0,
        executor,
        workers,
        sum(len(c) for c in drv.caches.values()),
        rows_invalid=drv.by_status.get("invalid", 0),
        rows_infeasible=drv.by_status.get("infeasible", 0),
        first_invalid_reason=drv.first_invalid_reason,
    )


# ---- Optuna ----------------------------------------------------------------------------------------------
def _optuna(spec: SweepSpec, drv: _Driver) -> int:
    """Ask / evaluate / tell in rounds of `sampling.batch` trials; returns the points evaluated."""
    import optuna  # deferred: only the search methods need it

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = spec.sampling
    if s.method == "nsga2":
        sampler: Any = optuna.samplers.NSGAIISampler(seed=s.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=s.seed)
    study = optuna.create_study(directions=["minimize"] * len(spec.objectives), sampler=sampler)
    ax = axes(spec)
    dists = {path: _distribution(optuna, dom) for path, dom in ax.items()}
    base = load_base(spec)
    seen: set[str] = set()
    asked, batch = 0, s.batch or DEFAULT_OPTUNA_BATCH
    while asked < (s.samples or 0):
        trials = [study.ask(dists) for _ in range(min(batch, (s.samples or 0) - asked))]
        asked += len(trials)
        params = [{k: _from_trial(ax[k], t.params[k]) for k in ax} for t in trials]
        resolved = [_resolve(spec, base, [p]) for p in params]
        points = [pts[0] for pts, _ in resolved if pts]
        drv.run(
            list({p.point_id: p for p in points}.values()),
            [r for _, bad in resolved for r in bad],
            refs=not seen,
        )
        seen.update(p.point_id for p in points)
        by_point = _objectives(spec, drv.store, [p.point_id for p in points])
        for t, (pts, _) in zip(trials, resolved, strict=True):
            values = by_point.get(pts[0].point_id) if pts else None
            if values is None:
                study.tell(t, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(t, values)
    return len(seen)


def _distribution(optuna: Any, dom: Any) -> Any:
    if isinstance(dom, ParamRange):
        if dom.integer:
            return optuna.distributions.IntDistribution(dom.low, dom.high, log=dom.log)
        return optuna.distributions.FloatDistribution(dom.low, dom.high, log=dom.log)
    return optuna.distributions.CategoricalDistribution(list(range(len(dom))))  # by index: lists are values


def _from_trial(dom: Any, v: Any) -> Any:
    return v if isinstance(dom, ParamRange) else dom[v]


def _objectives(spec: SweepSpec, store: Store, ids: list[str]) -> dict[str, list[float]]:
    """point id -> geometric mean of each objective over its ok rows (absent: a point with a row not ok)."""
    out: dict[str, list[float]] = {}
    rows = store.rows_of(ids)
    for pid in ids:
        mine = [r.row for r in rows if r.row.point_id == pid]
        if not mine or any(r.status != "ok" for r in mine):
            continue
        out[pid] = [
            math.exp(sum(math.log(max(r.metrics[o] or 0.0, 1e-300)) for r in mine) / len(mine))
            for o in spec.objectives
        ]
    return out
