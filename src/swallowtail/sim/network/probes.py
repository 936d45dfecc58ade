"""Probes: the steady cost of one op shape, measured by the cycle-level simulator and kept in a RateCache.

- Butterfly / FFT (`kernel_rate`): one timed probe of the mapping at R2 rows (`PROBE_ROW_GROUPS` = g row
  groups per streaming batch, batches 1, 2, .., g, g, .., 2, 1 row groups with 2 full ones, or 4 when the
  rate is within PROBE_DRAM_MARGIN of the DRAM time: the first batches ride on the DMA prefetched before the
  array started): the spacing of its last two full batches' completions gives the steady cycles per row; the
  per-row action counts are the difference with the same mapping at R1 = R2 - one full batch (compiled, not
  timed: the counts are static). Keyed by (arch, kernel shape without rows, dataflow).
- dense ops (`dense_rate`): a probe of DENSE_PROBE_BATCHES streaming batches of row units of the op's dense
  Program with the DRAM side idealised (`array_side_arch`); the spacing of its last two batch ends is the
  steady cost per row unit; ops with more than DENSE_PROBE_PASSES passes scale it by passes. Keyed by the
  dense spec without rows.
- an op alone, DRAM to DRAM (`kernel_alone`, `dense_alone`): simulated whole when it is no larger than its
  probe (keyed by its full shape), else extrapolated from probes on the real arch.

Every probe takes the RateCache it reads and fills; none keeps state of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler import compile as compile_kernel
from swallowtail.compiler.dense import (
    compile_dense,
    default_units_per_batch,
    dense_layout,
    dense_spec,
)
from swallowtail.compiler.dense.spec import GemmStage
from swallowtail.errors import SpecError
from swallowtail.flops import ceil_div
from swallowtail.sim import PE_ACTIONS, SimOutput, action_counts, simulate_kernel
from swallowtail.sim.network.cache import RateCache, default_cache
from swallowtail.sim.network.pipeline import BUFFERS
from swallowtail.sim.timing import simulate_timing
from swallowtail.workload import FFT, Butterfly, Op

#: row groups per streaming batch in the kernel probes (compiler knob rows_per_batch = this x lanes);
#: measured: per-row steady cycles within 2% of 4- and 16-group batches on df-4x4-simd8 (n = 1024, 4096)
PROBE_ROW_GROUPS = 2
#: full-size streaming batches in a kernel probe: 2, or 4 when the rate they give is within
#: PROBE_DRAM_MARGIN of the DRAM time per row (>= SPM buffers + 1: the first batches ride on the DMA
#: prefetched before the array started, and a DRAM-bound kernel's steady rate only shows after them)
PROBE_FULL_BATCHES = (2, 4)
PROBE_DRAM_MARGIN = 1.5
#: stall causes of the cycle-level simulator -> the resource name of an OpResult.bound
_CAUSE_BOUND = {
    "operand": "compute",
    "tag_window": "compute",
    "rf_port": "compute",
    "noc": "noc",
    "spm": "spm",
    "dma": "dram",
    "drain": "dram",
}
#: the stall cause assumed when a probe stalled on nothing
_NO_STALL_CAUSE = "operand"
#: a kernel whose steady utilization reaches this is called compute-bound (policy for the label only)
COMPUTE_BOUND_UTIL = 0.75
#: the compiler's errors that mean "the probe's streaming batch does not fit the SPM"
SPM_FIT_FIELDS = ("rows_per_batch", "buffers", "arch.spm.size_bytes")
#: most passes a dense probe simulates; wider ops scale the per-unit cost by passes (every pass of a GEMM
#: column tile / k-chunk or an elementwise column chunk is the same program with other offsets)
DENSE_PROBE_PASSES = 2
#: streaming batches of a dense probe (the spacing of the last two gives the steady rate; the first ones ride
#: on the DMA prefetched before the array started)
DENSE_PROBE_BATCHES = 3
#: the dense probes measure the array side: DRAM bandwidth x this, zero DMA latency (the block-level DMA
#: pipeline models the DRAM side)
DENSE_PROBE_DRAM_SCALE = 1000
#: an op alone (DRAM to DRAM) with at most this many passes is probed with all of them (no pass scaling)
DENSE_ALONE_MAX_PASSES = 4
#: an op alone is probed at these two sizes (streaming batches): their difference is the marginal cost, over
#: an even number of batches (with two SPM buffers consecutive batches alternate between two phases)
DENSE_ALONE_BATCHES = (2, 6)


#: the arch fields no probe result depends on: labels (name, description, sources) and what only the energy
#: model reads (tech_node_nm, energy_table; energy is applied later, from a probe's action counts)
PROBE_KEY_EXCLUDED = frozenset({"name", "description", "sources", "tech_node_nm", "energy_table"})


def probe_arch_key(arch: DataflowArch) -> str:
    """The arch part of every RateCache key: the arch's JSON without `PROBE_KEY_EXCLUDED`.

    A probe compiles and simulates (timing, DMA included) and keeps cycles, action counts, bounds and plan
    text (`KernelRate`, `DenseRate`, the `whole` / `alone` cycles): no joules and nothing named, so two
    archs that differ only in those fields share every probe -- the points of a design sweep that vary
    them, or that vary nothing a probe reads once renamed."""
    return arch.model_dump_json(exclude=set(PROBE_KEY_EXCLUDED))


def _bound(stalls: dict[str, int], util: float) -> str:
    """The resource a probe is bound by: compute at COMPUTE_BOUND_UTIL, else its largest stall cause's."""
    cause = max(stalls, key=lambda k: stalls[k]) if any(stalls.values()) else _NO_STALL_CAUSE
    return "compute" if util >= COMPUTE_BOUND_UTIL else _CAUSE_BOUND.get(cause, "compute")


def _pe_actions(prog: Any, arch: DataflowArch) -> dict[str, float]:
    """A program's array-side action counts: DMA bytes through the SPM taken out (the block level decides
    what moves)."""
    acts = action_counts(prog, arch)
    a = {k: float(acts.get(k, 0)) for k in PE_ACTIONS}
    for d in prog.dma:
        a["spm_read_bytes" if d.kind == "store" else "spm_write_bytes"] -= d.spm_bytes
    return a


# ---- butterfly / FFT kernels ------------------------------------------------------------------------------
@dataclass(frozen=True)
class KernelRate:
    """Steady-state cost of one butterfly / FFT kernel shape, per row, measured by two probes."""

    cycles_per_row: float
    overhead_cycles: float  # probe R1 cycles not explained by its rows' steady cost or its DMA fill/drain
    actions_per_row: dict[str, float]
    lane_ops_per_row: int
    bound: str
    probe_rows: tuple[int, int]
    probe_cycles: tuple[int, int]
    plan: str


def _with_rows(op: Op, rows: int) -> Op:
    if isinstance(op, Butterfly):
        return Butterfly(
            "probe",
            n=op.n,
            rows=rows,
            stages=op.stages,
            complex=op.complex,
            increasing_stride=op.increasing_stride,
        )
    assert isinstance(op, FFT)
    return FFT("probe", n=op.n, rows=rows, real_input=op.real_input, real_output=op.real_output)


def kernel_key(op: Op, arch: DataflowArch, dataflow: str) -> tuple:
    """The RateCache key of `op`'s kernel shape: (arch, shape without rows, dataflow)."""
    shape = (
        ("b", op.n, op.stages, op.complex, op.increasing_stride)
        if isinstance(op, Butterfly)
        else ("f", op.n, op.real_input, op.real_output)  # type: ignore[attr-defined]
    )
    return (probe_arch_key(arch), shape, dataflow)


def kernel_rate(op: Op, arch: DataflowArch, dataflow: str, cache: RateCache | None = None) -> KernelRate:
    """Per-row steady cycles and actions of `op`'s kernel shape (cached in `cache`, None: the default cache;
    rows do not matter)."""
    cache = default_cache() if cache is None else cache
    return cache.lookup("kernels", kernel_key(op, arch, dataflow), lambda: _probe_kernel(op, arch, dataflow))


def _ramp(g: int) -> list[int]:
    """Row groups of the ramp-up batches before the full ones: 1, 2, 4, .. below g."""
    up, x = [], 1
    while x < g:
        up.append(x)
        x *= 2
    return up


def _simulate_probes(op: Op, arch: DataflowArch, dataflow: str, r1: int, r2: int, rpb: int) -> tuple:
    """The timed probe at r2 and the compiled (untimed) one at r1; an SPM that cannot hold the streaming
    buffers said so in SPM terms."""
    try:
        out2 = simulate_kernel(_with_rows(op, r2), arch, dataflow, rows_per_batch=rpb)
        prog1 = compile_kernel(_with_rows(op, r1), arch, dataflow, rows_per_batch=rpb)
    except SpecError as exc:
        if exc.field not in SPM_FIT_FIELDS:  # not a capacity problem: the compiler's / engine's own words
            raise
        # the compiler shrinks a batch that does not fit: this is the smallest one, one row group
        rows = min(rpb, arch.pe.simd_lanes)
        need = BUFFERS * rows * op.input_elems // op.rows * op.elem_bytes  # type: ignore[attr-defined]
        raise SpecError(
            "arch.spm.size_bytes",
            arch.spm.size_bytes,
            f"room for {op.describe()}'s streaming buffers ({BUFFERS} x {rows} rows = {need} B at least, "
            f"plus its coefficient table): short by {max(0, need - arch.spm.size_bytes)} B or more "
            f"({exc})",
        ) from None
    return out2, prog1


def _probe_kernel(op: Op, arch: DataflowArch, dataflow: str) -> KernelRate:
    """Time the probes of `op`'s kernel shape (a longer one when the short one is near the DRAM time).

    PROBE_ROW_GROUPS row groups per batch, or as many as fit the SPM when fewer do (the compiler shrinks a
    batch that does not fit; the probe is then redone with the batch it chose)."""
    lanes = arch.pe.simd_lanes
    g = PROBE_ROW_GROUPS
    full_batches = iter(PROBE_FULL_BATCHES)
    full = next(full_batches)
    while True:
        # one timed probe at r2 (batches 1, 2, .., g, g, .., 2, 1 row groups with `full` full ones); r1 (one
        # full batch fewer) is only compiled, for its action counts
        up = _ramp(g)
        rpb = g * lanes
        r1 = (2 * sum(up) + g * (full - 1)) * lanes
        r2 = r1 + rpb
        out2, prog1 = _simulate_probes(op, arch, dataflow, r1, r2, rpb)
        fitted = out2.program.plan.rows_per_batch // lanes
        if fitted < g:  # the SPM holds fewer row groups per batch: probe with as many as it holds
            g = fitted
            continue
        c2 = out2.stats.cycles
        # the steady rate: the spacing of the last two full batches' completions
        ends = out2.stats.timing.batch_end
        k = len(up) + full - 2
        if k in ends and k + 1 in ends:
            per_row = (ends[k + 1] - ends[k]) / rpb
        else:  # a batch was fast-forwarded past: time the r1 probe too (one steady batch fewer)
            c1_ = simulate_kernel(_with_rows(op, r1), arch, dataflow, rows_per_batch=rpb).stats.cycles
            per_row = (c2 - c1_) / rpb
        dram_per_row = sum(d.dram_bytes for d in out2.program.dma) / r2 / arch.dram_bytes_per_cycle
        if per_row >= PROBE_DRAM_MARGIN * dram_per_row:  # far from DRAM-bound: a short probe is steady
            break
        full = next(full_batches, None)
        if full is None:
            break
    return _kernel_rate_of(arch, out2, prog1, per_row, (r1, r2), rpb)


def _kernel_rate_of(
    arch: DataflowArch, out2: SimOutput, prog1: Any, per_row: float, rows: tuple[int, int], rpb: int
) -> KernelRate:
    """The KernelRate of the probes at rows (r1, r2) with steady `per_row` cycles."""
    r1, r2 = rows
    a1, a2 = _pe_actions(prog1, arch), _pe_actions(out2.program, arch)
    c2 = out2.stats.cycles
    c1 = c2 - per_row * rpb
    dram1 = sum(d.dram_bytes for d in prog1.dma)
    lanes = arch.pe.simd_lanes
    fill_drain = 2 * arch.dma.latency_cycles + 2 * lanes * dram1 / r1 / arch.dram_bytes_per_cycle
    overhead = max(0.0, c1 - per_row * r1 - fill_drain)
    util = out2.program.lane_ops() / r2 / (arch.peak_lane_ops_per_cycle * per_row) if per_row else 0.0
    pl = out2.program.plan
    return KernelRate(
        cycles_per_row=per_row,
        overhead_cycles=overhead,
        actions_per_row={k: (a2[k] - a1[k]) / rpb for k in PE_ACTIONS},
        lane_ops_per_row=out2.program.lane_ops() // r2,
        bound=_bound(out2.stats.stalls, util),
        probe_rows=(r1, r2),
        probe_cycles=(round(c1), c2),
        plan=f"block {pl.block}, stages per pass {[p.k for p in pl.passes]}, placement {pl.placement}",
    )


def kernel_alone(op: Op, arch: DataflowArch, dataflow: str, r: KernelRate, cache: RateCache) -> float:
    """The kernel alone, DRAM to DRAM: simulated whole when it is no larger than its probe (cached by its
    full shape), else the probe's cycles + the steady rate for the rows beyond it."""
    rows = op.rows  # type: ignore[attr-defined]
    r2 = r.probe_rows[1]
    if rows > r2:
        return r.probe_cycles[1] + r.cycles_per_row * (rows - r2)
    rpb = PROBE_ROW_GROUPS * arch.pe.simd_lanes
    hit = cache.lookup(
        "whole",
        (*kernel_key(op, arch, dataflow), rows),
        lambda: simulate_kernel(op, arch, dataflow, rows_per_batch=rpb).stats.cycles,
    )
    return float(hit)


# ---- dense ops --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DenseRate:
    """Steady cost of one dense op shape per row unit (GEMM: a row group; row-wise: PEs x row groups) and
    per pass-scale unit, measured by the cycle-level simulator on its dense Program."""

    cycles_per_unit: float  # at the probe's passes (column tiles / k-chunks / column chunks)
    overhead_cycles: float
    actions_per_unit: dict[str, float]
    probe_passes: int
    unit_rows: int
    bound: str
    plan: str
    probe_units: int = 0
    full_passes: int = 0
    probe_spec: Any = None  # the probe's DenseSpec (its rows: probe_units row units)
    probe_batch_units: int = 1


def array_side_arch(arch: DataflowArch) -> DataflowArch:
    """`arch` with the DRAM side idealised (DRAM bandwidth x DENSE_PROBE_DRAM_SCALE, no DMA latency): what
    the array alone sustains on an op."""
    return arch.with_overrides(
        {
            "dma.gbytes_per_s_per_channel": arch.dma.gbytes_per_s_per_channel * DENSE_PROBE_DRAM_SCALE,
            "dma.latency_cycles": 0,
        }
    )


def _dense_key(arch: DataflowArch, spec: Any) -> tuple:
    """The RateCache key of a dense op shape: (arch, its dense spec without name, rows, batch, FLOPs)."""
    return (probe_arch_key(arch), replace(spec, op_name="", rows=0, batch=1, flops=0))


def _structured_probe(spec: Any, arch: DataflowArch, units: int, lay: Any) -> Any:
    """A block-sparse stage's probe: its first column tile (the full op's tile geometry) with the first d
    nonzero blocks of each block column, d the most that gives at most DENSE_PROBE_PASSES passes (at least
    one), and only the block rows they read as its reduction (A as small as a dense probe's); every pass of
    the op is the same program at other offsets, so the per-unit cost scales by passes.
    A chain of stages (a Monarch product) is not probed whole: the network level costs its stages
    (`simulate.array_form`)."""
    (stage,) = spec.structure.stages
    (g,) = lay.stages
    n_sub = min(stage.n, ceil_div(g.tile, stage.block) * stage.block)
    rows_of = stage.nonzero_rows()
    cols = range(n_sub // stage.block)
    best = None
    for d in range(1, 1 + max(1, *(len(rows_of.get(j, ())) for j in cols))):
        blocks = [(i, j) for j in cols for i in sorted(rows_of.get(j, ()))[:d]] or [(0, 0)]
        used = {i: r for r, i in enumerate(sorted({i for i, _ in blocks}))}  # only the block rows it reads
        k_sub = len(used) * stage.block
        sub = GemmStage(k_sub, n_sub, stage.block, tuple((used[i], j) for i, j in blocks))
        cand = replace(
            spec,
            rows=units * lay.unit_rows,
            k=k_sub,
            n=n_sub,
            structure=replace(spec.structure, stages=(sub,)),
        )
        if best is None or len(dense_layout(cand, arch).pass_index) <= DENSE_PROBE_PASSES:
            best = cand
    return best


def _dense_probe_spec(spec: Any, lay: Any, units: int, arch: DataflowArch) -> Any:
    if spec.kind == "gemm" and spec.structure is not None:
        return _structured_probe(spec, arch, units, lay)
    if spec.kind == "gemm":
        tile = lay.nx * lay.cols
        n = min(spec.n, DENSE_PROBE_PASSES * tile) if lay.n_tiles > DENSE_PROBE_PASSES else spec.n
        k = spec.k
        if lay.n_chunks * ceil_div(n, tile) > DENSE_PROBE_PASSES:
            k = min(spec.k, max(1, DENSE_PROBE_PASSES // max(1, ceil_div(n, tile))) * lay.kc)
        return replace(spec, rows=units * lay.unit_rows, batch=1, n=n, k=k)
    n = spec.n if lay.n_cchunks <= DENSE_PROBE_PASSES else DENSE_PROBE_PASSES * lay.w
    return replace(spec, rows=units * lay.unit_rows, n=n)


def dense_rate(op: Op, arch: DataflowArch, cache: RateCache | None = None) -> DenseRate:
    """Per-row-unit steady cycles and actions of `op`'s dense Program (cached by shape without rows in
    `cache`, None: the default cache)."""
    cache = default_cache() if cache is None else cache
    spec = dense_spec(op)
    return cache.lookup("dense", _dense_key(arch, spec), lambda: _probe_dense(spec, arch))


def _probe_dense(spec: Any, arch: DataflowArch) -> DenseRate:
    """Time the dense probe of `spec` on the array side: the DRAM side idealised (the block-level DMA pipeline
    adds the real one; `dense_alone` times the same probe on the real arch for the op alone)."""
    arch = array_side_arch(arch)
    lay = dense_layout(spec, arch)
    full_passes = len(lay.pass_index)
    g = default_units_per_batch(spec)
    pspec = _dense_probe_spec(spec, lay, DENSE_PROBE_BATCHES * g, arch)
    prog = compile_dense(pspec, arch, units_per_batch=g)
    ts = simulate_timing(prog, arch)
    ends = ts.batch_end
    k = DENSE_PROBE_BATCHES - 2  # the last two batches: past the ones the DMA prefetched
    if k in ends and k + 1 in ends:
        per = (ends[k + 1] - ends[k]) / g
    else:  # fast-forwarded past a batch end: time one batch fewer
        p1 = compile_dense(
            _dense_probe_spec(spec, lay, (DENSE_PROBE_BATCHES - 1) * g, arch), arch, units_per_batch=g
        )
        per = (ts.cycles - simulate_timing(p1, arch).cycles) / g
    units = DENSE_PROBE_BATCHES * g
    dram = sum(d.dram_bytes for d in prog.dma)
    fill_drain = 2 * arch.dma.latency_cycles + 2 * g * dram / units / arch.dram_bytes_per_cycle
    overhead = max(0.0, ts.cycles - per * units - fill_drain)
    acts = action_counts(prog, arch)
    acts_u = {k: float(acts.get(k, 0)) / units for k in PE_ACTIONS}
    for d in prog.dma:  # DMA bytes through the SPM: the block level's
        acts_u["spm_read_bytes" if d.kind == "store" else "spm_write_bytes"] -= d.spm_bytes / units
    util = prog.lane_ops() / units / (arch.peak_lane_ops_per_cycle * per) if per else 0.0
    return DenseRate(
        cycles_per_unit=per * full_passes / len(prog.templates),
        overhead_cycles=overhead,
        actions_per_unit={k: v * full_passes / len(prog.templates) for k, v in acts_u.items()},
        probe_passes=len(prog.templates),
        unit_rows=lay.unit_rows,
        bound=_bound(ts.stalls, util),
        plan=f"{prog.plan.reasons[0]}; probe {len(prog.templates)} of {full_passes} passes",
        probe_units=units,
        full_passes=full_passes,
        probe_spec=pspec,
        probe_batch_units=g,
    )


def dense_alone(op: Op, arch: DataflowArch, r: DenseRate, units: int, cache: RateCache) -> float:
    """The op alone, DRAM to DRAM: simulated whole when it is no larger than its probe (cached by its full
    shape), else the probe's base + per-unit cost."""
    spec = dense_spec(op)
    if units * r.full_passes > r.probe_units * r.probe_passes:
        base, per = cache.lookup("alone", _dense_key(arch, spec), lambda: _probe_dense_alone(spec, arch, r))
        return base + per * units
    key = (probe_arch_key(arch), replace(spec, op_name="", flops=0))
    hit = cache.lookup("whole", key, lambda: simulate_timing(compile_dense(spec, arch), arch).cycles)
    return float(hit)


def _probe_dense_alone(spec: Any, arch: DataflowArch, r: DenseRate) -> tuple[float, float]:
    """The op on the real arch at two sizes: (fill / drain, marginal cycles per unit); all its passes when
    they are few, else the probe's passes (scaled to all)."""
    g = r.probe_batch_units
    u1, u2 = (b * g for b in DENSE_ALONE_BATCHES)
    few = r.full_passes <= DENSE_ALONE_MAX_PASSES
    base_spec = replace(spec, batch=1) if few else r.probe_spec
    rows_per_unit = r.unit_rows
    c1, c2 = (
        simulate_timing(
            compile_dense(replace(base_spec, rows=u * rows_per_unit), arch, units_per_batch=g), arch
        ).cycles
        for u in (u1, u2)
    )
    per = (c2 - c1) / (u2 - u1)
    scale = 1.0 if few else r.full_passes / r.probe_passes
    return (max(0.0, c2 - per * u2), per * scale)
