"""`simulate_network`: a whole Workload on the dataflow array -- residency, per-op costs from the RateCache,
the discrete-event pipeline, energy -- as one Result; and `cycle_level_workload`, the reference it is
checked against.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from swallowtail.arch.specs import ArchSpec, DataflowArch, load_arch, wrong_kind
from swallowtail.compiler.dense import compile_dense
from swallowtail.compiler.plan import DATAFLOWS
from swallowtail.errors import check_choice
from swallowtail.result import OpResult, Result
from swallowtail.sim import simulate_kernel
from swallowtail.sim.network.cache import RateCache, default_cache
from swallowtail.sim.network.costs import OpCost, chunks_of, is_kernel, kernel_keys_used, op_cost
from swallowtail.sim.network.energy import NetworkEnergy, network_energy
from swallowtail.sim.network.pipeline import (
    BUFFERS,
    MAX_CHUNKS,
    DramTraffic,
    Group,
    PipelineRun,
    TimelineEntry,
    dram_traffic,
    make_groups,
    run_pipeline,
)
from swallowtail.sim.network.probes import PROBE_ROW_GROUPS
from swallowtail.sim.network.residency import RESIDENCIES, SPM_RESIDENT_FRACTION, Plan, plan_residency
from swallowtail.sim.timing import simulate_timing
from swallowtail.sim.timing.machine import check_engine_fits
from swallowtail.workload import Op, Workload, check_workload, expand_structured

#: most op names a note lists (on chip / spilled) before "..."
NOTE_MAX_NAMES = 40


@dataclass
class NetworkRun:
    """One network simulation: the Result, every op's span on the array and the residency plan it ran."""

    result: Result
    timeline: list[TimelineEntry]  # (op, layer, start cycle, end cycle, group)
    plan: Plan


def array_form(workload: Workload) -> Workload:
    """The workload as the network level costs it: a Monarch product as its two block-sparse stages (R, then
    L through the regrouping: `Monarch.stage_ops`), so that residency decides where the intermediate goes
    (`compile()` of a Monarch op alone keeps it in each row unit's SPM record)."""
    ops = expand_structured(check_workload(workload).ops, "stages")
    return workload if ops is workload.ops else replace(workload, ops=ops)


def _dataflow_arch(arch: ArchSpec | str) -> DataflowArch:
    a = load_arch(arch)
    if not isinstance(a, DataflowArch):
        raise wrong_kind(arch, a, "a dataflow array (kind: dataflow)")
    return a


def simulate_network(
    workload: Workload,
    arch: ArchSpec | str,
    dataflow: str = "multilayer",
    progress: Callable[[int, int], None] | None = None,
    residency: str = "plan",
    cache: RateCache | None = None,
    spm_resident_fraction: float = SPM_RESIDENT_FRACTION,
) -> NetworkRun:
    """Simulate `workload` on a dataflow array with `dataflow` (multilayer | single-layer); `residency`: one
    of RESIDENCIES; `cache`: the RateCache the probes are read from and stored in (None: the process-wide
    `default_cache()`), whose dense_cost_model decides how dense ops are costed; `spm_resident_fraction`: the
    share of the SPM whole tensors may hold across a layout barrier (an assumption: SPM_RESIDENT_FRACTION)."""
    a = _dataflow_arch(arch)
    check_choice("dataflow", dataflow, DATAFLOWS)
    check_choice("residency", residency, RESIDENCIES)
    check_engine_fits(a)  # its probes simulate kernels on the whole array
    cache = default_cache() if cache is None else cache
    workload = array_form(workload)
    ops = list(workload.ops)
    plan = plan_residency(workload, a, dataflow, residency, spm_resident_fraction)
    costs: list[OpCost] = []
    for k, op in enumerate(ops):
        costs.append(op_cost(op, a, dataflow, plan.fused[op.name], cache))
        if progress:
            progress(k + 1, len(ops))
    traffic = dram_traffic(workload, plan)
    compute = [c.cycles for c in costs]
    chunks = [c.chunks or chunks_of(op, a) for op, c in zip(ops, costs, strict=True)]
    groups = make_groups(ops, plan, traffic, compute, chunks)
    pipe = run_pipeline(ops, groups, compute, [c.alone for c in costs], a)
    cycles = math.ceil(pipe.total_cycles)
    latency = cycles / a.clock_hz
    energy = network_energy([c.actions for c in costs], traffic, a, latency)
    lane_ops = sum(c.lane_ops for c in costs)
    util = lane_ops / (a.peak_lane_ops_per_cycle * cycles) if cycles else 0.0
    total = energy.actions
    result = Result(
        backend=f"dataflow-{dataflow}",
        arch=a.name,
        workload=workload.name,
        latency_s=latency,
        energy_j=energy.total_j,
        useful_ops=workload.flops,
        peak_ops_per_s=a.peak_ops_per_s,
        cycles=cycles,
        clock_hz=a.clock_hz,
        utilization=util,
        energy_breakdown_j=energy.breakdown_j,
        traffic_bytes={
            "dram": round(total["dram_bytes"]),
            "spm": round(total["spm_read_bytes"] + total["spm_write_bytes"]),
            "noc": round(total["noc_byte_hops"]),
            "rf": round(total["rf_read_bytes"] + total["rf_write_bytes"]),
        },
        stalls={"dma_wait": round(pipe.idle_cycles)},
        ops=_op_results(ops, costs, traffic, pipe, energy, a),
        notes=_notes(ops, plan, pipe, energy, a, dataflow, cache, spm_resident_fraction),
    )
    return NetworkRun(result=result, timeline=pipe.timeline, plan=plan)


def _op_results(
    ops: list[Op],
    costs: list[OpCost],
    traffic: DramTraffic,
    pipe: PipelineRun,
    energy: NetworkEnergy,
    a: DataflowArch,
) -> list[OpResult]:
    """Per op: its share of its group's wall time, its traffic and energy, and what bounds it (DRAM when
    its group's DRAM time exceeds the group's compute)."""
    out: list[OpResult] = []
    group_of: dict[int, Group] = {}  # each op's (first) group; a search per op was quadratic in the ops
    for g in pipe.groups:
        for i in g.ops:
            group_of.setdefault(i, g)
    for i, op in enumerate(ops):
        c = costs[i]
        acts = energy.op_actions[i]
        wall = pipe.op_wall[i]
        g = group_of[i]
        dram_time = (g.load_bytes + g.weight_bytes + g.store_bytes) / a.dram_bytes_per_cycle
        out.append(
            OpResult(
                name=op.name,
                kind=op.kind,
                flops=op.flops,
                latency_s=wall / a.clock_hz,
                cycles=round(wall),
                utilization=c.lane_ops / (a.peak_lane_ops_per_cycle * wall) if wall > 0 else 0.0,
                bytes={
                    "dram": round(traffic.total(i)),
                    "spm": round(acts["spm_read_bytes"] + acts["spm_write_bytes"]),
                    "noc": round(acts.get("noc_byte_hops", 0.0)),
                    "rf": round(acts.get("rf_read_bytes", 0.0) + acts.get("rf_write_bytes", 0.0)),
                },
                energy_j=energy.op_energy_j(i, wall, a.clock_hz),
                bound="dram" if dram_time > g.compute else c.bound,
            )
        )
    return out


def _names(names: list[str]) -> str:
    return ", ".join(names[:NOTE_MAX_NAMES]) + (" ..." if len(names) > NOTE_MAX_NAMES else "")


def _notes(
    ops: list[Op],
    plan: Plan,
    pipe: PipelineRun,
    energy: NetworkEnergy,
    a: DataflowArch,
    dataflow: str,
    cache: RateCache,
    resident_fraction: float,
) -> list[str]:
    """The residency plan's notes, what stays on chip and spills, the pipeline, the kernels used, the
    assumptions and the energy model, in words."""
    notes = list(plan.notes)
    on_chip = [op.name for op in ops if not plan.spilled[op.name]]
    spills = [op.name for op in ops[:-1] if plan.spilled[op.name]]  # the last: the network's output
    notes.append(f"on chip ({len(on_chip)} op outputs): " + _names(on_chip))
    notes.append(f"spilled to DRAM ({len(spills)} intermediate op outputs): " + _names(spills))
    notes.append(
        f"{len(pipe.groups)} streaming groups, up to {MAX_CHUNKS} chunks each, {BUFFERS} SPM buffers; DMA "
        f"{a.dram_bytes_per_cycle:.1f} B/cycle + {a.dma.latency_cycles} cycles latency per transfer"
    )
    for key in sorted(kernel_keys_used(ops, a, dataflow), key=lambda k: str(k[1])):
        r = cache.peek("kernels", key)
        notes.append(f"kernel {key[1]}: {r.plan}; {r.cycles_per_row:.1f} cycles/row, bound {r.bound}")
    notes.append(
        f"assumptions: spm_resident_fraction = {resident_fraction}; kernel steady state from "
        f"cycle-level probes of {PROBE_ROW_GROUPS} row groups per batch; dense ops by "
        f"DENSE_COST_MODEL = {cache.dense_cost_model!r} (cycle: probes of their dense programs; analytic: "
        "the per-PE models of swallowtail.compiler.dense); each DMA transfer split over the channels"
    )
    notes.append(energy.note)
    return notes


def cycle_level_workload(workload: Workload, arch: ArchSpec | str, dataflow: str = "multilayer") -> int:
    """The reference the block-level simulator is checked against: every op of `workload` compiled whole (the
    same mappings the block level probes: kernels with PROBE_ROW_GROUPS row groups per streaming batch, dense
    programs with their default row units per batch) and run start to end on the cycle-level simulator, DRAM
    to DRAM, one after the other; returns the total cycles. Compare with `simulate_network(...,
    residency="dram")`. Only for workloads small enough to simulate whole."""
    a = _dataflow_arch(arch)
    total = 0
    for op in array_form(workload).ops:
        if is_kernel(op):
            rows = PROBE_ROW_GROUPS * a.pe.simd_lanes
            total += simulate_kernel(op, a, dataflow, rows_per_batch=rows).stats.cycles
        else:
            total += simulate_timing(compile_dense(op, a), a).cycles
    return total
