"""Run a suite: every (workload, target) pair through the backend registry, in a fixed order.

1. **Resolve** the suite's targets against the backend registry: a target whose backend is not registered
   (the array simulator, in a build that lacks it) is replaced by its fallback -- the array's roofline
   floor -- and marked `substitute`; two targets that resolve to the same backend and options (both array
   dataflows falling back to the one floor) are merged, so a floor is never shown twice as if it were two
   different machines.
2. **Run** every (workload, target) pair -- in process, or over a process pool across workloads
   (`jobs > 1`) -- through a cache keyed by (backend, options, workload), so that a slow simulator never
   runs the same workload twice in a run. Runs come back in the suite's order whatever the pool does.

The result is a `SuiteRun` (swallowtail.experiments.records); the facts and the comparisons are computed
from it elsewhere (`facts`, `compare`), and `reproduce.run_suite` chains the three.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import warnings
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from swallowtail.backends import backend_entry, get_backend, list_backends, register_backend
from swallowtail.experiments.records import ResolvedTarget, Run, SuiteRun
from swallowtail.experiments.suite import (
    ARRAY_ARCH,
    ROLE_ARRAY,
    ROLE_ARRAY_SINGLE,
    Suite,
    Target,
    WorkloadSpec,
)
from swallowtail.procs import die_with_parent
from swallowtail.result import Result
from swallowtail.workload import Workload
from swallowtail.workload.lower import lower

#: progress(done, total, description) after each run
ProgressFn = Callable[[int, int, str], None]
#: (backend, options as JSON, workload fingerprint) -> Result
RunCache = MutableMapping[tuple[str, str, str], Result]


# ---- targets ------------------------------------------------------------------------------------------
def resolve_targets(
    targets: Iterable[Target], available: Iterable[str] | None = None
) -> list[ResolvedTarget]:
    """Targets as they run here: unregistered backends replaced by their fallback, duplicates merged."""
    registered = set(list_backends() if available is None else available)
    out: list[ResolvedTarget] = []
    index: dict[tuple[str, str, str], int] = {}
    for t in targets:
        chosen, substitute = t, False
        if t.backend not in registered:
            if t.fallback is None or t.fallback.backend not in registered:
                raise ValueError(
                    f"target {t.key!r}: backend {t.backend!r} is not registered and has no usable fallback "
                    f"(registered: {sorted(registered)})"
                )
            chosen, substitute = t.fallback, True
        options = tuple(sorted(chosen.options_dict.items()))
        ident = (chosen.backend, json.dumps(options, sort_keys=True), t.network)
        if ident in index:
            prev = out[index[ident]]
            out[index[ident]] = ResolvedTarget(
                prev.key, prev.label, prev.backend, prev.role, prev.options, prev.network,
                prev.substitute, (*prev.stands_for, t.key),
            )  # fmt: skip
            continue
        index[ident] = len(out)
        out.append(
            ResolvedTarget(
                key=chosen.key if substitute else t.key,
                label=chosen.label if substitute else t.label,
                backend=chosen.backend,
                role=t.role,
                options=options,
                network=t.network,
                substitute=substitute,
                stands_for=(t.key,),
            )
        )
    return out


def array_status(resolved: list[ResolvedTarget], suite: Suite) -> dict[str, str]:
    """For each array target of the suite: "simulated" or the line that says what stands in for it."""
    status: dict[str, str] = {}
    for t in suite.targets:
        if t.role not in (ROLE_ARRAY, ROLE_ARRAY_SINGLE):
            continue
        r = next(x for x in resolved if t.key in x.stands_for)
        status[t.backend] = (
            "simulated"
            if not r.substitute
            else f"not available in this build: the roofline floor of {ARRAY_ARCH} stands in (a bound, not "
            "a simulation)"
        )
    return status


# ---- one run ------------------------------------------------------------------------------------------
def _workload_fingerprint(workload: Workload) -> str:
    """A content hash of a Workload: two workloads with one fingerprint compute the same thing."""
    blob = json.dumps(workload.to_dict(), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def cache_key(target: ResolvedTarget, workload: Workload) -> tuple[str, str, str]:
    """(backend, options, workload content): the key a run is memoised under."""
    return (target.backend, json.dumps(target.options, sort_keys=True), _workload_fingerprint(workload))


def lower_workload(spec: WorkloadSpec, network: str) -> Workload:
    """The operator graph of `spec`'s `network` variant (hybrid or its dense twin), batch 1."""
    return lower(spec.config(network), spec.seq_len, name=spec.label(network))


def _run_one(
    spec: WorkloadSpec, target: ResolvedTarget, workloads: dict[str, Workload], cache: RunCache
) -> Result:
    if target.network not in workloads:
        workloads[target.network] = lower_workload(spec, target.network)
    workload = workloads[target.network]
    key = cache_key(target, workload)
    if key not in cache:
        cache[key] = get_backend(target.backend, **target.options_dict).run(workload)
    return cache[key]


# ---- the process pool ---------------------------------------------------------------------------------
def _backend_factories(targets: list[ResolvedTarget]) -> list[tuple[str, Any, str]]:
    """(name, factory, description) of the backends the targets use, to re-register in pool workers."""
    entries = [backend_entry(n) for n in sorted({t.backend for t in targets})]
    return [(e.name, e.factory, e.description) for e in entries]


def _pool_task(
    spec: WorkloadSpec, targets: list[ResolvedTarget], factories: list[tuple[str, Any, str]]
) -> list[dict[str, Any]]:
    """Worker: every target on one workload; Results as dicts (what crosses the process boundary)."""
    have = set(list_backends())
    for name, factory, description in factories:
        if name not in have:
            register_backend(name, factory, description)
    workloads: dict[str, Workload] = {}
    cache: dict[tuple[str, str, str], Result] = {}
    return [_run_one(spec, t, workloads, cache).to_dict() for t in targets]


def _run_pool(suite: Suite, targets: list[ResolvedTarget], jobs: int) -> Iterator[tuple[int, int, Result]]:
    """(workload index, target index, Result) from a spawn process pool, one workload per task."""
    factories = _backend_factories(targets)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=die_with_parent) as pool:
        futures = {
            pool.submit(_pool_task, spec, targets, factories): wi for wi, spec in enumerate(suite.workloads)
        }
        for fut in as_completed(futures):
            wi = futures[fut]
            for ti, d in enumerate(fut.result()):
                yield wi, ti, Result.from_dict(d)


# ---- every pair ---------------------------------------------------------------------------------------
def run_pairs(
    suite: Suite,
    jobs: int = 1,
    progress: ProgressFn | None = None,
    cache: RunCache | None = None,
    available: Iterable[str] | None = None,
) -> SuiteRun:
    """Every workload of `suite` on every target; runs in suite order (workloads outer, targets inner).

    jobs > 1: a process pool (spawn) across workloads -- worth it when a target is slow (the array
    simulator); the baselines alone run faster in process (the pool's start-up and imports cost more).
    `cache` memoises Results by (backend, options, workload) within the run (in process only).
    """
    if jobs < 1:
        raise ValueError(f"jobs = {jobs!r} is not allowed: use 1 (in process) or more (a process pool)")
    targets = resolve_targets(suite.targets, available)
    total = len(suite.workloads) * len(targets)
    done = 0
    cache = {} if cache is None else cache
    results: dict[tuple[int, int], Result] = {}

    def tick(desc: str) -> None:
        if progress is not None:
            progress(done, total, desc)

    tick("starting")

    def in_process() -> None:
        nonlocal done
        for wi, spec in enumerate(suite.workloads):
            workloads: dict[str, Workload] = {}
            for ti, t in enumerate(targets):
                results[wi, ti] = _run_one(spec, t, workloads, cache)
                done += 1
                tick(f"{spec.name} on {t.label}")

    if jobs == 1:
        in_process()
    else:
        try:
            for wi, ti, result in _run_pool(suite, targets, jobs):
                results[wi, ti] = result
                if ti == len(targets) - 1:
                    done += len(targets)
                    tick(f"{suite.workloads[wi].name} on every target")
        except BrokenProcessPool as exc:
            # e.g. a __main__ without the `if __name__ == "__main__":` guard that spawn needs
            warnings.warn(f"process pool failed ({exc}); running in process instead", stacklevel=2)
            results.clear()
            done = 0
            in_process()

    runs = [
        Run(spec.name, t.key, t.network, results[wi, ti])
        for wi, spec in enumerate(suite.workloads)
        for ti, t in enumerate(targets)
    ]
    return SuiteRun(suite=suite, targets=targets, runs=runs, array=array_status(targets, suite))


__all__ = [
    "ProgressFn",
    "RunCache",
    "array_status",
    "cache_key",
    "lower_workload",
    "resolve_targets",
    "run_pairs",
]
