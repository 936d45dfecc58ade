"""Block-level simulator: a whole Workload on the dataflow array, as a discrete-event pipeline of chunks.

    run = simulate_network(lower("fabnet-base", 1024), "df-4x4-simd8", "multilayer")
    run.result            # the one Result type (cycles, energy + breakdown, traffic, per-op OpResults)
    run.timeline          # per op: (start cycle, end cycle, group)

    cache = RateCache()   # the probes' results: owned, shared between runs, pickled (`cache.save(path)`)
    simulate_network(workload, arch, "multilayer", cache=cache)
    simulate_network(workload, arch, "multilayer", cache=RateCache(dense_cost_model="analytic"))

The rooms, in the order a run goes through them:

- `residency`: the mapping decision that differs between the two dataflows (the machine is the same) --
  what is fused into its producer's registers, which tensors stay on chip, which spill to DRAM (`Plan`).
- `cache` + `probes` + `costs`: each op's array-side cost (PEs + NoC + SPM). Butterflies / FFTs and dense
  ops are measured by the cycle-level simulator (`swallowtail.sim`) on a probe of their shape without rows
  and scaled by rows; the probes live in a `RateCache` that the caller may own, share and persist (None:
  the process-wide `default_cache()`). Its dense cost model chooses "cycle" (dense Programs) or "analytic"
  (the per-PE models of `swallowtail.compiler.dense`, for comparison).
- `pipeline`: the discrete-event simulation -- groups of ops that exchange no DRAM tensor, streamed in
  chunks through `BUFFERS`-deep SPM buffering while the DMA moves the spilled tensors and weights.
- `energy`: action counts x the energy table + leakage x time (`swallowtail.energy`).
- `simulate`: `simulate_network` ties them into one Result; `cycle_level_workload` is the reference it is
  checked against (every op whole on the cycle-level simulator, DRAM to DRAM).

This package calls the compiler and the cycle-level simulator, never a backend: the dataflow backends
(`swallowtail.backends.dataflow`) call it.
"""

from __future__ import annotations

from swallowtail.sim.network.cache import (
    DEFAULT_DENSE_COST_MODEL,
    DENSE_COST_MODELS,
    RateCache,
    clear_memo,
    default_cache,
)
from swallowtail.sim.network.costs import OpCost, chunks_of, op_cost
from swallowtail.sim.network.energy import NetworkEnergy, network_energy
from swallowtail.sim.network.pipeline import BUFFERS, MAX_CHUNKS, Group, PipelineRun, run_pipeline
from swallowtail.sim.network.probes import (
    COMPUTE_BOUND_UTIL,
    DENSE_ALONE_BATCHES,
    DENSE_ALONE_MAX_PASSES,
    DENSE_PROBE_BATCHES,
    DENSE_PROBE_DRAM_SCALE,
    DENSE_PROBE_PASSES,
    PROBE_DRAM_MARGIN,
    PROBE_FULL_BATCHES,
    PROBE_ROW_GROUPS,
    SPM_FIT_FIELDS,
    DenseRate,
    KernelRate,
    array_side_arch,
    dense_rate,
    kernel_rate,
)
from swallowtail.sim.network.residency import (
    RESIDENCIES,
    SPM_RESIDENT_FRACTION,
    Plan,
    check_resident_fraction,
    plan_residency,
)
from swallowtail.sim.network.simulate import DATAFLOWS, NetworkRun, cycle_level_workload, simulate_network

__all__ = [
    "BUFFERS",
    "COMPUTE_BOUND_UTIL",
    "DATAFLOWS",
    "DEFAULT_DENSE_COST_MODEL",
    "DENSE_ALONE_BATCHES",
    "DENSE_ALONE_MAX_PASSES",
    "DENSE_COST_MODELS",
    "DENSE_PROBE_BATCHES",
    "DENSE_PROBE_DRAM_SCALE",
    "DENSE_PROBE_PASSES",
    "MAX_CHUNKS",
    "PROBE_DRAM_MARGIN",
    "PROBE_FULL_BATCHES",
    "PROBE_ROW_GROUPS",
    "RESIDENCIES",
    "check_resident_fraction",
    "SPM_FIT_FIELDS",
    "SPM_RESIDENT_FRACTION",
    "DenseRate",
    "Group",
    "KernelRate",
    "NetworkEnergy",
    "NetworkRun",
    "OpCost",
    "PipelineRun",
    "Plan",
    "RateCache",
    "array_side_arch",
    "chunks_of",
    "clear_memo",
    "cycle_level_workload",
    "default_cache",
    "dense_rate",
    "kernel_rate",
    "network_energy",
    "op_cost",
    "plan_residency",
    "run_pipeline",
    "simulate_network",
]
