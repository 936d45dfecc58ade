"""swallowtail.sim: the cycle-level PE-array simulator (timing + values) for compiled kernels.

    out = run(program, arch, values=True, seed=0)      # -> SimOutput(stats, result, outputs, verify)
    out = simulate_kernel(FFT("f", n=4096, rows=256), "df-4x4-simd8", "multilayer", verify=True)

`timing` executes the program instruction by instruction (FUs, RF ports, tag window, NoC links, SPM banks,
DMA), fast-forwarding the periodic steady state; `values` executes the same instructions on data (fp16
storage) and verifies against PyTorch. The Result is the one type every backend returns; the action counts
the energy model needs are on `Stats.actions`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from swallowtail.arch.specs import ArchSpec, DataflowArch
from swallowtail.compiler import compile as compile_kernel
from swallowtail.compiler import dataflow_arch
from swallowtail.compiler.dense.data import DenseData, dense_random_data, value_view
from swallowtail.compiler.geometry import route_links
from swallowtail.compiler.isa import COMPUTE_OPS, COMPUTE_READS, LANE_OP_ACTION, OP_LD, OP_ST, OP_XFER
from swallowtail.compiler.model import MachineModel
from swallowtail.compiler.program import Program
from swallowtail.energy.tables import estimate
from swallowtail.errors import SpecError, check_bool, check_choice, check_int
from swallowtail.result import OpResult, Result
from swallowtail.sim.stats import CAUSES, DRAIN, Stats
from swallowtail.sim.stats import KernelTrace as KernelTrace  # re-exported
from swallowtail.sim.stats import TimingStats as TimingStats  # re-exported
from swallowtail.sim.timing import simulate_timing
from swallowtail.sim.values import (
    PRECISIONS,
    KernelData,
    VerifyReport,
    execute,
    execute_dense,
    random_data,
    verify,
    verify_dense,
)
from swallowtail.workload.ops import Op


@dataclass
class SimOutput:
    stats: Stats
    result: Result
    outputs: np.ndarray | None = None
    inputs: KernelData | None = None
    verify: VerifyReport | None = None
    program: Program | None = None


#: the arch fields a compiled Program is laid out for: running it on an arch that differs in one of them is
#: an error (rates -- clock, link / SPM / DMA bandwidth, latencies -- may differ: the static order replays)
STRUCTURAL_FIELDS = (
    "array.rows",
    "array.cols",
    "pe.simd_lanes",
    "pe.register_file.entries",
    "pe.register_file.bytes_per_entry",
    "pe.active_tags",
    "pe.instruction_buffer",
    "noc.topology",
    "noc.hops",
    "spm.size_bytes",
    "dma.channels",
)


def _field(arch: DataflowArch, path: str) -> Any:
    value: Any = arch
    for part in path.split("."):
        value = getattr(value, part)
    return value


def check_compatible(program: Program, arch: DataflowArch) -> None:
    """SpecError naming the first structural field in which `arch` differs from the program's compile arch."""
    base = program.compile_arch
    if base is None:
        return
    for path in STRUCTURAL_FIELDS:
        if _field(arch, path) != _field(base, path):
            raise SpecError(
                f"arch.{path}",
                _field(arch, path),
                f"{_field(base, path)!r}, as on {base.name} the program was compiled for (a program runs on "
                "an arch that differs only in rates: clock, bandwidths, latencies); compile it for this arch",
            )


#: program kinds whose values the butterfly / FFT value engine executes (the rest: the dense value engine)
KERNEL_KINDS = ("butterfly", "fft")
#: the actions on the array side (PEs, NoC, SPM) a program's action counts report, beside "dram_bytes"
PE_ACTIONS = (
    "fma_lane_ops",
    "add_lane_ops",
    "special_lane_ops",
    "instructions",
    "rf_read_bytes",
    "rf_write_bytes",
    "noc_byte_hops",
    "spm_read_bytes",
    "spm_write_bytes",
)


def action_counts(program: Program, arch: DataflowArch) -> dict[str, int]:
    """Static action counts of a program -- butterfly / FFT kernel or dense operator -- (independent of
    timing): every issued instruction's effects; lane ops by energy class (`kernels.LANE_OP_ACTION`)."""
    sch = program.schedule
    vec = program.spm.vec_bytes
    n_pe = program.n_active
    acts = dict.fromkeys((*PE_ACTIONS, "dram_bytes"), 0)
    for p, t in enumerate(program.templates):
        mask = sch.pass_ == p
        n_it = int(mask.sum())
        lanes = int(sch.lanes[mask].sum())
        ops = t.op
        n_cp = 0
        for o in COMPUTE_OPS:
            c = int((ops == o).sum())  # all PEs
            if c:
                n_cp += c
                acts[LANE_OP_ACTION[o]] += c * lanes
                acts["rf_read_bytes"] += c * COMPUTE_READS[o] * vec * n_it
        n_ld, n_st, n_x = (int((ops == o).sum()) for o in (OP_LD, OP_ST, OP_XFER))
        hops = 0
        for e in range(n_pe):
            for k in np.nonzero(ops[e] == OP_XFER)[0]:
                (x0, y0), (x1, y1) = program.pe_coords[e], program.pe_coords[int(t.peer[e, k])]
                hops += len(route_links(x0, y0, x1, y1, arch.noc.hops))
        acts["instructions"] += (n_cp + n_ld + n_st + n_x) * n_it
        acts["rf_read_bytes"] += (n_st + n_x) * vec * n_it
        acts["rf_write_bytes"] += (n_cp + n_ld + n_x) * vec * n_it
        acts["noc_byte_hops"] += hops * vec * n_it
        acts["spm_read_bytes"] += n_ld * vec * n_it
        acts["spm_write_bytes"] += n_st * vec * n_it
    coef_lds = int(np.clip(sch.pf_v1 - sch.pf_v0, 0, None).sum()) * n_pe
    acts["instructions"] += coef_lds
    acts["rf_write_bytes"] += coef_lds * vec
    acts["spm_read_bytes"] += coef_lds * vec
    for d in program.dma:
        acts["dram_bytes"] += d.dram_bytes
        if d.kind == "store":
            acts["spm_read_bytes"] += d.spm_bytes
        else:
            acts["spm_write_bytes"] += d.spm_bytes
    return acts


def run(
    program: Program,
    arch: ArchSpec | str | None = None,
    values: bool = False,
    seed: int = 0,
    precision: str = "fp16",
    fast_forward: bool = True,
    trace: bool = False,
    data: KernelData | DenseData | None = None,
    verify_values: bool | None = None,
) -> SimOutput:
    """Simulate `program` on `arch` (default: the arch it was compiled for; another arch may differ from it
    only in rates and sizes the program does not depend on, e.g. more link or SPM bandwidth); with `values`,
    also execute it on random data (or `data`) and verify the outputs against PyTorch. Every kind of
    program: butterfly / FFT kernels and dense operators (GEMM, softmax, LayerNorm, element-wise)."""
    if arch is None:
        arch = program.compile_arch
        if arch is None:
            raise SpecError("arch", None, "an architecture: the program records none it was compiled for")
    a = dataflow_arch(arch)
    check_compatible(program, a)
    check_choice("precision", precision, PRECISIONS)
    _check_flags(values=values, fast_forward=fast_forward, trace=trace, seed=seed)
    if verify_values is not None:
        check_bool("verify_values", verify_values)
    kind = KernelData if program.kind in KERNEL_KINDS else DenseData
    if data is not None and not isinstance(data, kind):  # before the simulation, not after it
        raise SpecError("data", type(data).__name__, f"a {kind.__name__} for a {program.kind} program")
    t0 = time.perf_counter()
    ts = simulate_timing(program, a, fast_forward=fast_forward, trace=trace)
    cycles = ts.cycles
    lane_ops = program.lane_ops()
    slots = a.n_pes * a.pe.simd_lanes * cycles
    util = lane_ops / slots if slots else 0.0
    latency = cycles / a.clock_hz
    actions = action_counts(program, a)
    traffic = _traffic(actions)
    est = estimate(a, actions, latency)
    outputs = report = None
    if values:
        data, outputs, report = _values(program, data, seed, precision, verify_values is not False)
    wall = time.perf_counter() - t0
    stalls = {**{c: ts.stalls.get(c, 0) for c in CAUSES}, DRAIN: ts.stalls.get(DRAIN, 0)}
    notes = _notes(program, a, ts, lane_ops, util, stalls) + [est.note]
    if report is not None:
        notes.append(report.describe())
    result = _result(program, a, ts, util, traffic, stalls, est.total_j, est.breakdown_j, notes)
    stats = Stats(
        cycles=cycles,
        latency_s=latency,
        utilization=util,
        lane_ops=lane_ops,
        stalls=stalls,
        traffic_bytes=traffic,
        actions=actions,
        timing=ts,
        sim_wall_s=wall,
        cycles_per_s=cycles / ts.wall_s if ts.wall_s else 0.0,
        energy_j=est.total_j,
        energy_breakdown_j=est.breakdown_j,
    )
    return SimOutput(stats=stats, result=result, outputs=outputs, inputs=data, verify=report, program=program)


def _traffic(actions: dict[str, int]) -> dict[str, int]:
    """Bytes by level: dram = DMA bytes, spm = read + written, noc = byte-hops, rf = read + written."""
    return {
        "dram": actions["dram_bytes"],
        "spm": actions["spm_read_bytes"] + actions["spm_write_bytes"],
        "noc": actions["noc_byte_hops"],
        "rf": actions["rf_read_bytes"] + actions["rf_write_bytes"],
    }


def _largest_stall(stalls: dict[str, int]) -> str:
    return max(stalls, key=lambda k: stalls[k]) if any(stalls.values()) else "none"


def _notes(
    program: Program, a: DataflowArch, ts: TimingStats, lane_ops: int, util: float, stalls: dict[str, int]
) -> list[str]:
    """What a kernel's Result says about its mapping, utilization, stalls, traffic, timing and model."""
    return [
        program.mapping_note(),
        f"utilization {util:.3f} = {lane_ops} useful lane-instructions / "
        f"({a.n_pes} PEs x {a.pe.simd_lanes} lanes x "
        f"{ts.cycles} cycles); largest stall cause: {_largest_stall(stalls)}",
        "stalls: PE-cycles (summed over active PEs) in which the compute pipeline issued nothing",
        "traffic: dram = DMA bytes, spm = bytes read + written (PE loads / stores + DMA), noc = byte-hops, "
        "rf = register bytes read + written",
        f"timing: {ts.exact_iterations} iterations simulated exactly, {ts.skipped_iterations} fast-forwarded "
        f"({len(ts.skips)} skips of a periodic steady state); {ts.exact_instructions} instructions "
        f"simulated; arbitration: {ts.arbitration}",
        "model: " + "; ".join(program.model.describe()),
    ]


def _result(
    program: Program,
    a: DataflowArch,
    ts: TimingStats,
    util: float,
    traffic: dict[str, int],
    stalls: dict[str, int],
    energy: float,
    breakdown: dict[str, float],
    notes: list[str],
) -> Result:
    """The kernel's Result: one op, the whole program."""
    spec = program.spec
    latency = ts.cycles / a.clock_hz
    return Result(
        backend=program.backend,
        arch=a.name,
        workload=spec.op_name,
        latency_s=latency,
        energy_j=energy,
        useful_ops=spec.flops,
        peak_ops_per_s=a.peak_ops_per_s,
        cycles=ts.cycles,
        clock_hz=a.clock_hz,
        utilization=util,
        energy_breakdown_j=breakdown,
        traffic_bytes=traffic,
        stalls=stalls,
        ops=[
            OpResult(
                name=spec.op_name,
                kind={"real": "butterfly", "cplx": "butterfly"}.get(spec.kind, spec.kind),
                flops=spec.flops,
                latency_s=latency,
                cycles=ts.cycles,
                utilization=util,
                bytes=dict(traffic),
                energy_j=energy,
                bound=_largest_stall(stalls),
            )
        ],
        notes=notes,
    )


def _values(
    program: Program, data: KernelData | DenseData | None, seed: int, precision: str, check: bool
) -> tuple[Any, Any, Any]:
    """(inputs, outputs, verification report or None) of executing `program` with values."""
    if program.kind in KERNEL_KINDS:
        data = data if data is not None else random_data(program, seed)
        outputs = execute(program, data, precision)
        return data, outputs, verify(program, data, outputs, precision, seed) if check else None
    view = value_view(program)
    data = data if data is not None else dense_random_data(program, seed)
    outputs = execute_dense(view, data, precision)
    return data, outputs, verify_dense(view, data, outputs, precision) if check else None


def _check_flags(*, seed: object, **flags: object) -> None:
    """Each flag true or false, the seed an integer >= 0: a SpecError naming the one that is not."""
    for name, flag in flags.items():
        check_bool(name, flag)
    check_int("seed", seed, 0)


def simulate_kernel(
    op: Op,
    arch: ArchSpec | str,
    dataflow: str = "multilayer",
    verify: bool = False,
    seed: int = 0,
    precision: str = "fp16",
    fast_forward: bool = True,
    trace: bool = False,
    model: MachineModel | None = None,
    **knobs: Any,
) -> SimOutput:
    """Compile `op` for `arch` with `dataflow` and simulate it (values + verification with `verify`)."""
    _check_flags(verify=verify, fast_forward=fast_forward, trace=trace, seed=seed)  # before compiling
    a = dataflow_arch(arch)
    program = compile_kernel(op, a, dataflow, model=model, **knobs)
    return run(
        program, a, values=verify, seed=seed, precision=precision, fast_forward=fast_forward, trace=trace
    )


__all__ = [
    "KernelData",
    "KernelTrace",
    "SimOutput",
    "Stats",
    "VerifyReport",
    "action_counts",
    "run",
    "simulate_kernel",
]
