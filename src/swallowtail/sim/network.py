"""Block-level simulator: a whole Workload on the dataflow array, as a discrete-event pipeline of chunks.

    run = simulate_network(lower("fabnet-base", 1024), "df-4x4-simd8", "multilayer")
    run.result            # the one Result type (cycles, energy + breakdown, traffic, per-op OpResults)
    run.timeline          # per op: (start cycle, end cycle, group)

How each op is costed on the array (PEs + NoC + SPM; the DRAM side is this module's):

- Butterfly / FFT (power-of-two n): the cycle-level simulator (`swallowtail.sim.simulate_kernel`) measures
  the kernel's steady state. One timed probe of the mapping at R2 rows (`PROBE_ROW_GROUPS` = g row groups
  per streaming batch, batches 1, 2, .., g, g, .., 2, 1 row groups with 2 full ones, or 4 when the rate is
  within PROBE_DRAM_MARGIN of the DRAM time: the first batches ride on the DMA prefetched before the array
  started): the spacing of its last two full batches' completions gives the steady cycles per row; the
  per-row action counts are the difference with the same mapping at R1 = R2 - one full batch (compiled, not
  timed: the counts are static). Probes are memoised by (arch, kernel shape without rows, dataflow): the
  rows of an op only scale it.
  n = 3 x 2^k (FNet's hidden FFT at d = 768): three 2^k-point FFTs per row on the kernel compiler + radix-3
  combine pass of `swallowtail.compiler.dense` (see there why not zero padding).
- dense ops (GEMM, softmax, LayerNorm, elementwise): the cycle-level simulator on their dense Programs
  (`swallowtail.compiler.dense_program`), memoised by shape without rows (`dense_rate`): a probe of
  DENSE_PROBE_BATCHES streaming batches of row units with the DRAM side idealised (the array side: the DMA
  pipeline below adds the DRAM side); the spacing of its last two batch ends is the steady cost per row
  unit; ops with more than DENSE_PROBE_PASSES passes (GEMM column tiles x k-chunks, column chunks: the same
  program at other offsets) scale it by passes. Only epilogues fused into a producer's registers keep the
  analytic per-PE models of `swallowtail.compiler.dense` (DENSE_COST_MODEL = "analytic" puts every dense op
  on them, for comparison).
- an op alone in its group, reading from and writing to DRAM (every op under single-layer residency): its
  own program's cost, DMA included -- simulated whole when it is no larger than its probe (memoised by its
  full shape), else extrapolated from probes on the real arch (kernels: the probe + its steady rate; dense
  ops: the probe and one batch more give the marginal cost per unit).

Residency (the mapping decision that differs between the two dataflows; the machine is the same):

- multilayer: token-wise ops (butterfly / FFT over the hidden axis, LayerNorm, elementwise, dense linear)
  stream token chunks, so their intermediates are chunk-sized and stay on chip; epilogues (bias, GELU, scale,
  residual adds) run on the producer's registers (`fused`). A tensor that crosses a *layout barrier* -- the
  sequence-axis FFT (all tokens of a column) or the attention core (all keys / values of a head) -- must be
  held whole: it stays on chip when the live set at that barrier fits `SPM_RESIDENT_FRACTION` of the SPM
  (largest tensors spill first), else it spills to DRAM. The attention core (scores, scale, softmax, values)
  is fused per head: a block of score rows lives in the SPM, S never goes to DRAM.
- single-layer (the block-oriented baseline): every butterfly stage through the SPM (the kernel compiler's
  single-layer mapping) and every op's output back to DRAM; only a bias add is fused into its producer.

Timing: consecutive ops that exchange no DRAM tensor form a *group*; a group runs as `chunks` pieces
through a software pipeline with `buffers`-deep SPM buffering, with the DMA as the programs issue it (the
loads of the first BUFFERS chunks, then per chunk its store and the load into the freed buffer; each
transfer split over the channels, `dma.latency_cycles` per transfer): the array computes chunk i once it
has arrived while the DMA moves the others; a chunk's buffer is refilled only after its previous store. A
group reading a tensor that the previous group spilled waits for that store. Energy = action counts x the
energy table + leakage x time (`swallowtail.energy`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from swallowtail.arch.specs import ArchSpec, DataflowArch, load_arch
from swallowtail.compiler.dense import DenseCost, dense_cost, radix3_combine_cost, split_mixed_radix
from swallowtail.energy.tables import ACTION_COMPONENT, load_energy_table
from swallowtail.errors import SpecError
from swallowtail.result import OpResult, Result
from swallowtail.sim import PE_ACTIONS
from swallowtail.workload import FFT, GEMM, Butterfly, Elementwise, Op, Workload

DATAFLOWS = ("multilayer", "single-layer")
#: row groups per streaming batch in the kernel probes (compiler knob rows_per_batch = this x lanes);
#: measured: per-row steady cycles within 2% of 4- and 16-group batches on df-4x4-simd8 (n = 1024, 4096)
PROBE_ROW_GROUPS = 2
#: full-size streaming batches in a kernel probe: 2, or 4 when the rate they give is within
#: PROBE_DRAM_MARGIN of the DRAM time per row (>= SPM buffers + 1: the first batches ride on the DMA
#: prefetched before the array started, and a DRAM-bound kernel's steady rate only shows after them)
PROBE_FULL_BATCHES = (2, 4)
PROBE_DRAM_MARGIN = 1.5
#: assumption: fraction of the SPM the compiler may give to whole tensors held across a layout barrier
#: (the rest: streaming buffers, coefficient tables)
SPM_RESIDENT_FRACTION = 0.5
#: compiler policy: most chunks a group is streamed in (more: finer overlap, slower simulation)
MAX_CHUNKS = 64
#: SPM buffers per chunk stream (double buffering, DESIGN.md)
BUFFERS = 2
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
#: a kernel whose steady utilization reaches this is called compute-bound (policy for the label only)
COMPUTE_BOUND_UTIL = 0.75


# ---- kernel rates from the cycle-level simulator (memoised) ----------------------------------------------
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


_KERNEL_MEMO: dict[tuple, KernelRate] = {}


def clear_memo() -> None:
    """Forget memoised kernel and dense-op probes (tests; a changed simulator)."""
    _KERNEL_MEMO.clear()
    _DENSE_MEMO.clear()
    _WHOLE_MEMO.clear()
    _ALONE_MEMO.clear()


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


def _kernel_key(op: Op, arch: DataflowArch, dataflow: str) -> tuple:
    shape = (
        ("b", op.n, op.stages, op.complex, op.increasing_stride)
        if isinstance(op, Butterfly)
        else ("f", op.n, op.real_input, op.real_output)  # type: ignore[attr-defined]
    )
    return (arch.model_dump_json(), shape, dataflow)


#: the compiler's errors that mean "the probe's streaming batch does not fit the SPM"
SPM_FIT_FIELDS = ("rows_per_batch", "buffers", "arch.spm.size_bytes")


def kernel_rate(op: Op, arch: DataflowArch, dataflow: str) -> KernelRate:
    """Per-row steady cycles and actions of `op`'s kernel shape (memoised; rows do not matter)."""
    from swallowtail.compiler import compile as compile_kernel
    from swallowtail.sim import action_counts, simulate_kernel

    key = _kernel_key(op, arch, dataflow)
    hit = _KERNEL_MEMO.get(key)
    if hit is not None:
        return hit
    lanes = arch.pe.simd_lanes
    g = PROBE_ROW_GROUPS
    up, x = [], 1
    while x < g:
        up.append(x)
        x *= 2
    rpb = g * lanes
    for full in PROBE_FULL_BATCHES:
        r1 = (2 * sum(up) + g * (full - 1)) * lanes
        r2 = r1 + rpb
        try:
            # one timed probe at r2 (batches 1, 2, .., g, g, .., 2, 1 row groups with `full` full ones); r1
            # (one full batch fewer) is only compiled, for its action counts
            out2 = simulate_kernel(_with_rows(op, r2), arch, dataflow, rows_per_batch=rpb)
            prog1 = compile_kernel(_with_rows(op, r1), arch, dataflow, rows_per_batch=rpb)
        except SpecError as exc:
            if exc.field not in SPM_FIT_FIELDS:  # not a capacity problem: the compiler's / engine's own words
                raise
            need = BUFFERS * rpb * op.input_elems // op.rows * op.elem_bytes  # type: ignore[attr-defined]
            raise SpecError(
                "arch.spm.size_bytes",
                arch.spm.size_bytes,
                f"room for {op.describe()}'s streaming buffers ({BUFFERS} x {rpb} rows = {need} B at least, "
                f"plus its coefficient table): short by {max(0, need - arch.spm.size_bytes)} B or more "
                f"({exc})",
            ) from None
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

    def pe_actions(prog: Any) -> dict[str, float]:
        acts = action_counts(prog, arch, 0)
        a = {k: float(acts.get(k, 0)) for k in PE_ACTIONS}
        for d in prog.dma:  # DMA bytes through the SPM: this module's (it decides what moves)
            a["spm_read_bytes" if d.kind == "store" else "spm_write_bytes"] -= d.spm_bytes
        return a

    a1, a2 = pe_actions(prog1), pe_actions(out2.program)
    c1 = c2 - per_row * rpb
    dram1 = sum(d.dram_bytes for d in prog1.dma)
    fill_drain = 2 * arch.dma.latency_cycles + 2 * lanes * dram1 / r1 / arch.dram_bytes_per_cycle
    overhead = max(0.0, c1 - per_row * r1 - fill_drain)
    stalls = out2.stats.stalls
    util = out2.program.lane_ops() / r2 / (arch.peak_lane_ops_per_cycle * per_row) if per_row else 0.0
    cause = max(stalls, key=lambda k: stalls[k]) if any(stalls.values()) else "operand"
    bound = "compute" if util >= COMPUTE_BOUND_UTIL else _CAUSE_BOUND.get(cause, "compute")
    pl = out2.program.plan
    rate = KernelRate(
        cycles_per_row=per_row,
        overhead_cycles=overhead,
        actions_per_row={k: (a2[k] - a1[k]) / rpb for k in PE_ACTIONS},
        lane_ops_per_row=out2.program.lane_ops() // r2,
        bound=bound,
        probe_rows=(r1, r2),
        probe_cycles=(round(c1), c2),
        plan=f"block {pl.block}, stages per pass {[p.k for p in pl.passes]}, placement {pl.placement}",
    )
    _KERNEL_MEMO[key] = rate
    return rate


# ---- per-op array costs ---------------------------------------------------------------------------------
@dataclass
class OpCost:
    """Array-side cost of one op in its context (fused or not)."""

    op: Op
    cycles: float
    bound: str
    lane_ops: int
    actions: dict[str, float]
    how: str
    #: streaming chunks of the mapping (a dense program's batches of row units); None: `_chunks_of`
    chunks: int | None = None
    #: cycles of the op alone, DRAM to DRAM (its own program's DMA), measured when asked; None: not measured
    alone: Callable[[], float] | None = None


def _kernel_op(op: Op) -> Op:
    """The op whose kernel shape is simulated for `op`: itself, or the radix-2 part of a mixed-radix FFT."""
    if isinstance(op, FFT):
        radix, m = split_mixed_radix(op.n)
        if radix == 3:
            return FFT(op.name, n=m, rows=3 * op.rows, real_input=op.real_input)
    return op


def _kernel_keys_used(ops: list[Op] | tuple[Op, ...], arch: DataflowArch, dataflow: str) -> set[tuple]:
    """Memo keys of the kernels these ops use (notes name only them, whatever else the process ran)."""
    return {_kernel_key(_kernel_op(op), arch, dataflow) for op in ops if isinstance(op, Butterfly | FFT)}


def _kernel_cost(op: Op, arch: DataflowArch, dataflow: str) -> OpCost:
    rows = op.rows  # type: ignore[attr-defined]
    if isinstance(op, FFT):
        radix, m = split_mixed_radix(op.n)
        if radix == 3:
            r = kernel_rate(_kernel_op(op), arch, dataflow)
            comb = radix3_combine_cost(op.n, rows, arch)
            acts = {k: r.actions_per_row[k] * 3 * rows + comb.actions.get(k, 0) for k in PE_ACTIONS}
            return OpCost(
                op,
                r.cycles_per_row * 3 * rows + r.overhead_cycles + comb.cycles,
                r.bound,
                r.lane_ops_per_row * 3 * rows + comb.lane_ops,
                acts,
                f"mixed radix 3 x {m}: 3 x FFT({m}) per row on the kernel compiler ({r.plan}; "
                f"{r.cycles_per_row:.1f} cycles/row measured) + radix-3 combine pass ({comb.cycles} cycles, "
                f"{comb.bound}-bound)",
            )
    r = kernel_rate(op, arch, dataflow)
    return OpCost(
        op,
        r.cycles_per_row * rows + r.overhead_cycles,
        r.bound,
        r.lane_ops_per_row * rows,
        {k: v * rows for k, v in r.actions_per_row.items()},
        f"kernel {r.plan}; {r.cycles_per_row:.1f} cycles/row (cycle-level probes at rows {r.probe_rows})",
        alone=lambda: _kernel_alone(op, arch, dataflow, r),
    )


def _kernel_alone(op: Op, arch: DataflowArch, dataflow: str, r: KernelRate) -> float:
    """The kernel alone, DRAM to DRAM: simulated whole when it is no larger than its probe (memoised by its
    full shape), else the probe's cycles + the steady rate for the rows beyond it."""
    from swallowtail.sim import simulate_kernel

    rows = op.rows  # type: ignore[attr-defined]
    r2 = r.probe_rows[1]
    if rows > r2:
        return r.probe_cycles[1] + r.cycles_per_row * (rows - r2)
    key = (*_kernel_key(op, arch, dataflow), rows)
    hit = _WHOLE_MEMO.get(key)
    if hit is None:
        rpb = PROBE_ROW_GROUPS * arch.pe.simd_lanes
        hit = _WHOLE_MEMO[key] = simulate_kernel(op, arch, dataflow, rows_per_batch=rpb).stats.cycles
    return float(hit)


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


_DENSE_MEMO: dict[tuple, DenseRate] = {}
#: ops alone (DRAM to DRAM) no larger than their probe, simulated whole, by full shape
_WHOLE_MEMO: dict[tuple, int] = {}
_ALONE_MEMO: dict[tuple, tuple[float, float]] = {}
#: how non-fused dense ops are costed: "cycle" (dense Programs on the cycle-level simulator, `dense_rate`)
#: or "analytic" (the per-PE models of swallowtail.compiler.dense, for comparison)
DENSE_COST_MODEL = "cycle"
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


def array_side_arch(arch: DataflowArch) -> DataflowArch:
    """`arch` with the DRAM side idealised (DRAM bandwidth x DENSE_PROBE_DRAM_SCALE, no DMA latency): what
    the array alone sustains on an op."""
    return arch.with_overrides(
        {
            "dma.gbytes_per_s_per_channel": arch.dma.gbytes_per_s_per_channel * DENSE_PROBE_DRAM_SCALE,
            "dma.latency_cycles": 0,
        }
    )


def _dense_probe_spec(spec: Any, lay: Any, units: int) -> Any:
    from dataclasses import replace

    if spec.kind == "gemm":
        tile = lay.nx * lay.cols
        n = min(spec.n, DENSE_PROBE_PASSES * tile) if lay.n_tiles > DENSE_PROBE_PASSES else spec.n
        k = spec.k
        if lay.n_chunks * (-(-n // tile)) > DENSE_PROBE_PASSES:
            k = min(spec.k, max(1, DENSE_PROBE_PASSES // max(1, -(-n // tile))) * lay.kc)
        return replace(spec, rows=units * lay.unit_rows, batch=1, n=n, k=k)
    n = spec.n if lay.n_cchunks <= DENSE_PROBE_PASSES else DENSE_PROBE_PASSES * lay.w
    return replace(spec, rows=units * lay.unit_rows, n=n)


def dense_rate(op: Op, arch: DataflowArch) -> DenseRate:
    """Per-row-unit steady cycles and actions of `op`'s dense Program (memoised by shape without rows)."""
    from swallowtail.compiler.dense_program import (
        compile_dense,
        default_units_per_batch,
        dense_layout,
        dense_spec,
    )
    from swallowtail.sim import action_counts
    from swallowtail.sim.timing import simulate_timing

    spec = dense_spec(op)
    from dataclasses import replace

    key = (arch.model_dump_json(), replace(spec, op_name="", rows=0, batch=1, flops=0))
    hit = _DENSE_MEMO.get(key)
    if hit is not None:
        return hit
    # the array side: the probe runs with the DRAM side idealised (the block-level DMA pipeline adds the
    # real one; `_dense_alone` times the same probe on the real arch for the op alone, DRAM to DRAM)
    arch = array_side_arch(arch)
    lay = dense_layout(spec, arch)
    full_passes = len(lay.pass_index)
    g = default_units_per_batch(spec)
    pspec = _dense_probe_spec(spec, lay, DENSE_PROBE_BATCHES * g)
    prog = compile_dense(pspec, arch, units_per_batch=g)
    ts = simulate_timing(prog, arch)
    ends = ts.batch_end
    k = DENSE_PROBE_BATCHES - 2  # the last two batches: past the ones the DMA prefetched
    if k in ends and k + 1 in ends:
        per = (ends[k + 1] - ends[k]) / g
    else:  # fast-forwarded past a batch end: time one batch fewer
        p1 = compile_dense(
            _dense_probe_spec(spec, lay, (DENSE_PROBE_BATCHES - 1) * g), arch, units_per_batch=g
        )
        per = (ts.cycles - simulate_timing(p1, arch).cycles) / g
    units = DENSE_PROBE_BATCHES * g
    dram = sum(d.dram_bytes for d in prog.dma)
    fill_drain = 2 * arch.dma.latency_cycles + 2 * g * dram / units / arch.dram_bytes_per_cycle
    overhead = max(0.0, ts.cycles - per * units - fill_drain)
    acts = action_counts(prog, arch, 0)
    acts_u = {k: float(acts.get(k, 0)) / units for k in PE_ACTIONS}
    for d in prog.dma:  # DMA bytes through the SPM: this module's
        acts_u["spm_read_bytes" if d.kind == "store" else "spm_write_bytes"] -= d.spm_bytes / units
    stalls = ts.stalls
    cause = max(stalls, key=lambda k: stalls[k]) if any(stalls.values()) else "operand"
    util = prog.lane_ops() / units / (arch.peak_lane_ops_per_cycle * per) if per else 0.0
    bound = "compute" if util >= COMPUTE_BOUND_UTIL else _CAUSE_BOUND.get(cause, "compute")
    rate = DenseRate(
        cycles_per_unit=per * full_passes / len(prog.templates),
        overhead_cycles=overhead,
        actions_per_unit={k: v * full_passes / len(prog.templates) for k, v in acts_u.items()},
        probe_passes=len(prog.templates),
        unit_rows=lay.unit_rows,
        bound=bound,
        plan=f"{prog.plan.reasons[0]}; probe {len(prog.templates)} of {full_passes} passes",
        probe_units=units,
        full_passes=full_passes,
        probe_spec=pspec,
        probe_batch_units=g,
    )
    _DENSE_MEMO[key] = rate
    return rate


def _dense_alone(op: Op, arch: DataflowArch, r: DenseRate, units: int) -> float:
    """The op alone, DRAM to DRAM: simulated whole when it is no larger than its probe (memoised by its full
    shape), else the probe's base + per-unit cost."""
    from dataclasses import replace

    from swallowtail.compiler.dense_program import compile_dense, dense_spec
    from swallowtail.sim.timing import simulate_timing

    spec = dense_spec(op)
    if units * r.full_passes > r.probe_units * r.probe_passes:
        key = (arch.model_dump_json(), replace(spec, op_name="", rows=0, batch=1, flops=0))
        hit_ = _ALONE_MEMO.get(key)
        if hit_ is None:  # the op on the real arch at two sizes: fill / drain + the marginal cost per unit;
            # all its passes when they are few, else the probe's passes
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
            hit_ = _ALONE_MEMO[key] = (max(0.0, c2 - per * u2), per * scale)
        return hit_[0] + hit_[1] * units
    key = (arch.model_dump_json(), replace(spec, op_name="", flops=0))
    hit = _WHOLE_MEMO.get(key)
    if hit is None:
        hit = _WHOLE_MEMO[key] = simulate_timing(compile_dense(spec, arch), arch).cycles
    return float(hit)


def _dense_opcost(op: Op, arch: DataflowArch, fused: bool) -> OpCost:
    """A dense op: an epilogue fused into its producer's registers by the analytic model (it has no program
    of its own); otherwise its dense Program's cycle-level rate -- or, when no dense Program fits the arch,
    the analytic model, said so in `how`."""
    if not fused and DENSE_COST_MODEL == "cycle":
        from swallowtail.compiler.dense_program import dense_spec

        try:
            r = dense_rate(op, arch)
        except SpecError as exc:
            reason = f"no dense program ({exc}); "
        else:
            spec = dense_spec(op)
            units = spec.batch * -(-spec.rows // r.unit_rows)
            from swallowtail.compiler.dense_program import default_units_per_batch

            return OpCost(
                op,
                r.cycles_per_unit * units + r.overhead_cycles,
                r.bound,
                op.flops if not isinstance(op, GEMM) else op.flops // 2,
                {k: v * units for k, v in r.actions_per_unit.items()},
                f"dense program {r.plan}; {r.cycles_per_unit:.1f} cycles per {r.unit_rows}-row unit "
                "(cycle level)",
                chunks=-(-units // default_units_per_batch(spec)),
                alone=lambda: _dense_alone(op, arch, r, units),
            )
    else:
        reason = "fused epilogue; " if fused else ""
    c: DenseCost = dense_cost(op, arch, fused_in=fused, fused_out=fused)
    how = reason + "analytic per-PE model: " + str(c.detail.get("mapping", ""))
    return OpCost(op, float(c.cycles), c.bound, c.lane_ops, dict(c.actions), how)


# ---- residency planning ---------------------------------------------------------------------------------
def _is_kernel(op: Op) -> bool:
    return isinstance(op, Butterfly | FFT)


def _is_seq_fft(op: Op) -> bool:
    """The sequence-axis FFT of Fourier mixing (FNet keeps its real part: `real_output`)."""
    return isinstance(op, FFT) and op.real_output


def _is_attention(op: Op) -> bool:
    return isinstance(op, GEMM) and not op.b_is_weight


def _tensor_bytes(op: Op) -> int:
    return op.output_elems * op.elem_bytes


@dataclass
class Plan:
    """Mapping decisions for a workload: what is fused, what stays on chip, how ops group."""

    dataflow: str
    fused: dict[str, bool]  # op -> runs on its producer's registers (an epilogue)
    spilled: dict[str, bool]  # op output -> goes to DRAM
    core: dict[str, int]  # op -> attention core id (ops of one core are fused)
    notes: list[str] = field(default_factory=list)


#: residency policies: "plan" (the dataflow's: fusion and on-chip tensors as below) | "dram" (nothing fused,
#: every op's output to DRAM: each op runs DRAM to DRAM, as its own Program would standalone)
RESIDENCIES = ("plan", "dram")


def plan_residency(w: Workload, arch: DataflowArch, dataflow: str, residency: str = "plan") -> Plan:
    ops = list(w.ops)
    if residency == "dram":
        return Plan(
            dataflow,
            {op.name: False for op in ops},
            {op.name: True for op in ops},
            {},
            ["residency 'dram': nothing fused, every op's output goes to DRAM (each op DRAM to DRAM)"],
        )
    index = {op.name: i for i, op in enumerate(ops)}
    consumers: dict[str, list[int]] = {op.name: [] for op in ops}
    for i, op in enumerate(ops):
        for d in op.deps:
            consumers[d].append(i)
    fused: dict[str, bool] = {}
    core: dict[str, int] = {}
    for i, op in enumerate(ops):
        prev = ops[i - 1] if i else None
        direct = prev is not None and op.deps[:1] == (prev.name,) and len(consumers[prev.name]) == 1
        if dataflow == "single-layer":
            fused[op.name] = bool(
                direct and isinstance(op, Elementwise) and op.op == "add" and op.weight and op.operands == 1
            )
        else:
            fused[op.name] = bool(
                direct
                and isinstance(op, Elementwise)
                and not isinstance(prev, type(None))
                and prev.kind != "layernorm"
                and prev.kind != "softmax"
            )
    # attention cores: scores GEMM .. values GEMM (the ops between them in order)
    cid = 0
    i = 0
    while i < len(ops):
        if _is_attention(ops[i]):
            j = i + 1
            while j < len(ops) and not _is_attention(ops[j]):
                j += 1
            if j < len(ops) and dataflow == "multilayer":
                for k in range(i, j + 1):
                    core[ops[k].name] = cid
                cid += 1
            i = j + 1
        else:
            i += 1
    spilled: dict[str, bool] = {}
    notes: list[str] = []
    last = ops[-1].name
    if dataflow == "single-layer":
        for op in ops:
            nxt = [ops[c] for c in consumers[op.name]]
            spilled[op.name] = not (len(nxt) == 1 and fused[nxt[0].name]) or op.name == last
        notes.append("single-layer: every op's output goes to DRAM (bias adds fused into their producer)")
        return Plan(dataflow, fused, spilled, core, notes)

    budget = SPM_RESIDENT_FRACTION * arch.spm.size_bytes
    barrier = [_is_seq_fft(op) or (op.name in core) for op in ops]

    def crosses(i: int) -> bool:
        op = ops[i]
        cons = consumers[op.name]
        if not cons:
            return False
        if op.name in core and all(ops[c].name in core and core[ops[c].name] == core[op.name] for c in cons):
            return False
        j = max(cons)
        return barrier[i] or any(barrier[k] for k in range(i + 1, j + 1))

    crossing = [i for i in range(len(ops)) if crosses(i)]
    for op in ops:
        spilled[op.name] = op.name == last
    # barrier points: the start of each barrier run and the op after it
    points = sorted(
        {i for i in range(len(ops)) if barrier[i] and (i == 0 or not barrier[i - 1])}
        | {i + 1 for i in range(len(ops)) if barrier[i] and (i + 1 == len(ops) or not barrier[i + 1])}
    )
    for b in points:
        live = [i for i in crossing if i < b <= max(consumers[ops[i].name])]
        keep = sorted((i for i in live if not spilled[ops[i].name]), key=lambda i: -_tensor_bytes(ops[i]))
        total = sum(_tensor_bytes(ops[i]) for i in keep)
        for i in keep:
            if total <= budget:
                break
            spilled[ops[i].name] = True
            total -= _tensor_bytes(ops[i])
    # attention core feasibility: per head K and V resident + a block of score rows, in the SPM left beside
    # the whole tensors held across the core's barrier
    for name, c in list(core.items()):
        if name not in core:
            continue
        i0 = index[name]
        op = ops[i0]
        if isinstance(op, GEMM) and op.k < op.n and op.m == op.n:  # scores: (T x hs) @ (hs x T)
            held = sum(
                _tensor_bytes(ops[i])
                for i in crossing
                if i < i0 <= max(consumers[ops[i].name]) and not spilled[ops[i].name]
            )
            kv = 2 * op.n * op.k * op.elem_bytes
            need = kv + arch.pe.simd_lanes * op.n * op.elem_bytes
            if need > arch.spm.size_bytes - held:
                for n2, c2 in list(core.items()):
                    if c2 == c:
                        del core[n2]
                        spilled[n2] = True
                notes.append(
                    f"{name}: K and V of a head + a score block ({need} B) do not fit the SPM beside "
                    f"{held} B held: attention core not fused, scores spill"
                )
    n_sp = [op.name for op in ops[:-1] if spilled[op.name]]
    notes.append(
        f"multilayer: token-wise ops stream token chunks on chip, epilogues fused; tensors held across a "
        f"layout barrier (sequence FFT, attention core) stay on chip within {budget:.0f} B "
        f"({SPM_RESIDENT_FRACTION:.0%} of the SPM); {len(n_sp)} of {len(ops)} op outputs spill to DRAM"
    )
    return Plan(dataflow, fused, spilled, core, notes)


# ---- the discrete-event pipeline ------------------------------------------------------------------------
@dataclass
class _Group:
    ops: list[int]
    load_bytes: float  # streamed input bytes (spilled tensors read)
    weight_bytes: float
    store_bytes: float
    compute: float
    chunks: int
    reads_prev: bool


def _pipeline(
    g: _Group, t0: float, ch: list[float], dep_ready: float, arch: DataflowArch
) -> tuple[float, float, float]:
    """Run one group; returns (array end, last store end, array idle cycles waiting). `ch`: when each DMA
    channel is free (updated). The DMA as the programs issue it: in program order (the loads of the first
    BUFFERS chunks, then per chunk i: its store, the load of chunk i + BUFFERS into the buffer it frees),
    each chunk's transfer cut into many (one per record or row group) over every channel. The array starts a
    chunk once it has arrived; its store streams out behind the array and ends no earlier than the array."""
    bw = arch.dma.gbytes_per_s_per_channel * 1e9 / arch.clock_hz
    lat = arch.dma.latency_cycles
    c = g.chunks
    comp = g.compute / c
    ld = g.load_bytes / c
    st = g.store_bytes / c
    load_last: list[float] = []  # last bytes of the chunk in the SPM
    store_done: list[float] = []  # data written to DRAM (+ latency)

    def issue(ready: float, nbytes: float) -> None:
        start = max(min(ch), ready)
        for q in range(len(ch)):
            ch[q] = max(ch[q], start) + nbytes / bw / len(ch)

    def do_load(j: int, ready: float) -> None:
        nbytes = ld + (g.weight_bytes if j == 0 else 0.0)
        if nbytes == 0:
            load_last.append(-math.inf)
            return
        issue(max(ready, dep_ready if g.reads_prev else -math.inf), nbytes)
        load_last.append(max(ch) + lat)

    idle = 0.0
    array = t0
    for j in range(min(BUFFERS, c)):
        do_load(j, -math.inf)
    for i in range(c):
        start = max(array, load_last[i])
        idle += start - array
        array = start + comp
        if st:
            issue(start, st)  # the store streams out behind the array ...
            for q in range(len(ch)):  # ... and cannot end before its last result
                ch[q] = max(ch[q], array)
            store_done.append(max(ch) + lat)
        else:
            store_done.append(array)
        if i + BUFFERS < c:
            do_load(i + BUFFERS, store_done[i] if st else array)
    return array, max(store_done) if store_done else array, idle


@dataclass
class NetworkRun:
    result: Result
    timeline: list[tuple[str, str, float, float, int]]  # (op, layer, start cycle, end cycle, group)
    plan: Plan


def simulate_network(
    workload: Workload,
    arch: ArchSpec | str,
    dataflow: str = "multilayer",
    progress: Callable[[int, int], None] | None = None,
    residency: str = "plan",
) -> NetworkRun:
    """Simulate `workload` on a dataflow array with `dataflow` (multilayer | single-layer); `residency`: one
    of RESIDENCIES."""
    a = load_arch(arch)
    if not isinstance(a, DataflowArch):
        raise SpecError("arch", a.name, "a dataflow array (kind: dataflow)")
    if dataflow not in DATAFLOWS:
        raise SpecError("dataflow", dataflow, f"one of {list(DATAFLOWS)}")
    if residency not in RESIDENCIES:
        raise SpecError("residency", residency, f"one of {list(RESIDENCIES)}")
    ops = list(workload.ops)
    plan = plan_residency(workload, a, dataflow, residency)
    index = {op.name: i for i, op in enumerate(ops)}
    costs: list[OpCost] = []
    for k, op in enumerate(ops):
        if _is_kernel(op):
            costs.append(_kernel_cost(op, a, dataflow))
        else:
            costs.append(_dense_opcost(op, a, plan.fused[op.name]))
        if progress:
            progress(k + 1, len(ops))
    # DRAM bytes per op: weights + spilled inputs read + spilled output written + external input / output
    dram_r = [float(op.weight_elems * op.elem_bytes) for op in ops]
    dram_in = [0.0] * len(ops)
    dram_w = [0.0] * len(ops)
    dram_in[0] += workload.input_elems * workload.elem_bytes  # the embedded tokens enter at the first op
    for i, op in enumerate(ops):
        if plan.spilled[op.name]:
            dram_w[i] = float(_tensor_bytes(op))
        for d in op.deps:
            if plan.spilled[d]:
                dram_in[i] += _tensor_bytes(ops[index[d]])
    # groups: split before an op that reads a spilled tensor (or after a spilled output)
    groups: list[_Group] = []
    cur: list[int] = []

    def close() -> None:
        if not cur:
            return
        rows = max(1, min(MAX_CHUNKS, min(costs[i].chunks or _chunks_of(ops[i], a) for i in cur)))
        groups.append(
            _Group(
                ops=list(cur),
                load_bytes=sum(dram_in[i] for i in cur),
                weight_bytes=sum(dram_r[i] for i in cur),
                store_bytes=sum(dram_w[i] for i in cur),
                compute=sum(costs[i].cycles for i in cur),
                chunks=rows,
                reads_prev=any(dram_in[i] > 0 for i in cur) and bool(groups),
            )
        )
        cur.clear()

    for i in range(len(ops)):
        if cur and (dram_in[i] > 0 or plan.spilled[ops[cur[-1]].name]):
            close()
        cur.append(i)
    close()

    t_array = last_store = 0.0
    channels = [0.0] * a.dma.channels
    idle_total = 0.0
    timeline: list[tuple[str, str, float, float, int]] = []
    op_wall: dict[int, float] = {}
    for gi, g in enumerate(groups):
        start = t_array
        alone = costs[g.ops[0]].alone if len(g.ops) == 1 else None
        if alone is not None and g.load_bytes + g.weight_bytes > 0 and g.store_bytes > 0:
            # one op DRAM to DRAM: its own program's measured cost, DMA included
            s0 = max(t_array, min(channels), last_store if g.reads_prev else t_array)
            end = st_end = s0 + alone()
            idle = s0 - t_array
            channels = [end] * len(channels)
        else:
            end, st_end, idle = _pipeline(g, t_array, channels, last_store, a)
        idle_total += idle
        wall = max(end, st_end) - start if gi == len(groups) - 1 else end - start
        t = start
        for i in g.ops:
            share = costs[i].cycles / g.compute if g.compute else 1.0 / len(g.ops)
            op_wall[i] = wall * share
            timeline.append((ops[i].name, ops[i].layer, t, t + wall * share, gi))
            t += wall * share
        t_array = end
        last_store = st_end
    total_cycles = max(t_array, last_store)
    cycles = math.ceil(total_cycles)
    latency = cycles / a.clock_hz

    # ---- energy --------------------------------------------------------------------------------------
    e = load_energy_table(a.energy_table).for_arch(a)
    total_actions: dict[str, float] = {k: 0.0 for k in (*PE_ACTIONS, "dram_bytes")}
    op_results: list[OpResult] = []
    lane_ops = 0
    for i, op in enumerate(ops):
        c = costs[i]
        dram = dram_r[i] + dram_in[i] + dram_w[i]
        acts = dict(c.actions)
        acts["dram_bytes"] = dram
        acts["spm_write_bytes"] = acts.get("spm_write_bytes", 0.0) + dram_r[i] + dram_in[i]
        acts["spm_read_bytes"] = acts.get("spm_read_bytes", 0.0) + dram_w[i]
        for k, v in acts.items():
            total_actions[k] = total_actions.get(k, 0.0) + v
        dyn = sum(e.cost({k: v for k, v in acts.items() if k in e.ACTION_FIELDS}).values())
        lane_ops += c.lane_ops
        wall = op_wall[i]
        g = next(gg for gg in groups if i in gg.ops)
        dram_time = (g.load_bytes + g.weight_bytes + g.store_bytes) / a.dram_bytes_per_cycle
        bound = "dram" if dram_time > g.compute else c.bound
        op_results.append(
            OpResult(
                name=op.name,
                kind=op.kind,
                flops=op.flops,
                latency_s=wall / a.clock_hz,
                cycles=round(wall),
                utilization=c.lane_ops / (a.peak_lane_ops_per_cycle * wall) if wall > 0 else 0.0,
                bytes={
                    "dram": round(dram),
                    "spm": round(acts["spm_read_bytes"] + acts["spm_write_bytes"]),
                    "noc": round(acts.get("noc_byte_hops", 0.0)),
                    "rf": round(acts.get("rf_read_bytes", 0.0) + acts.get("rf_write_bytes", 0.0)),
                },
                energy_j=dyn + e.leakage_total_w * wall / a.clock_hz,
                bound=bound,
            )
        )
    by_comp: dict[str, float] = {}
    for k, j in e.cost({k: v for k, v in total_actions.items() if k in e.ACTION_FIELDS}).items():
        comp = ACTION_COMPONENT.get(k, k)
        by_comp[comp] = by_comp.get(comp, 0.0) + j
    by_comp["leakage"] = e.leakage_total_w * latency
    util = lane_ops / (a.peak_lane_ops_per_cycle * cycles) if cycles else 0.0
    traffic = {
        "dram": round(total_actions["dram_bytes"]),
        "spm": round(total_actions["spm_read_bytes"] + total_actions["spm_write_bytes"]),
        "noc": round(total_actions["noc_byte_hops"]),
        "rf": round(total_actions["rf_read_bytes"] + total_actions["rf_write_bytes"]),
    }
    notes = list(plan.notes)
    on_chip = [op.name for op in ops if not plan.spilled[op.name]]
    spills = [op.name for op in ops if plan.spilled[op.name]]
    notes.append(
        f"on chip ({len(on_chip)} op outputs): "
        + ", ".join(on_chip[:40])
        + (" ..." if len(on_chip) > 40 else "")
    )
    notes.append(
        f"spilled to DRAM ({len(spills)}): " + ", ".join(spills[:40]) + (" ..." if len(spills) > 40 else "")
    )
    notes.append(
        f"{len(groups)} streaming groups, up to {MAX_CHUNKS} chunks each, {BUFFERS} SPM buffers; DMA "
        f"{a.dram_bytes_per_cycle:.1f} B/cycle + {a.dma.latency_cycles} cycles latency per transfer"
    )
    for key in sorted(_kernel_keys_used(ops, a, dataflow), key=lambda k: str(k[1])):
        r = _KERNEL_MEMO[key]
        notes.append(f"kernel {key[1]}: {r.plan}; {r.cycles_per_row:.1f} cycles/row, bound {r.bound}")
    notes.append(
        f"assumptions: SPM_RESIDENT_FRACTION = {SPM_RESIDENT_FRACTION}; kernel steady state from "
        f"cycle-level probes of {PROBE_ROW_GROUPS} row groups per batch; dense ops by "
        f"DENSE_COST_MODEL = {DENSE_COST_MODEL!r} (cycle: probes of their dense programs; analytic: the "
        "per-PE models of swallowtail.compiler.dense); each DMA transfer split over the channels"
    )
    notes.append(
        f"energy: {e.table} at {e.node_nm} nm, action counts x per-action energy + leakage x latency"
    )
    result = Result(
        backend=f"dataflow-{dataflow}",
        arch=a.name,
        workload=workload.name,
        latency_s=latency,
        energy_j=sum(by_comp.values()),
        useful_ops=workload.flops,
        peak_ops_per_s=a.peak_ops_per_s,
        cycles=cycles,
        clock_hz=a.clock_hz,
        utilization=util,
        energy_breakdown_j=by_comp,
        traffic_bytes=traffic,
        stalls={"dma_wait": round(idle_total)},
        ops=op_results,
        notes=notes,
    )
    return NetworkRun(result=result, timeline=timeline, plan=plan)


def cycle_level_workload(workload: Workload, arch: ArchSpec | str, dataflow: str = "multilayer") -> int:
    """The reference the block-level simulator is checked against: every op of `workload` compiled whole (the
    same mappings the block level probes: kernels with PROBE_ROW_GROUPS row groups per streaming batch, dense
    programs with their default row units per batch) and run start to end on the cycle-level simulator, DRAM
    to DRAM, one after the other; returns the total cycles. Compare with `simulate_network(...,
    residency="dram")`. Only for workloads small enough to simulate whole."""
    from swallowtail.compiler.dense_program import compile_dense
    from swallowtail.sim import simulate_kernel
    from swallowtail.sim.timing import simulate_timing

    a = load_arch(arch)
    if not isinstance(a, DataflowArch):
        raise SpecError("arch", a.name, "a dataflow array (kind: dataflow)")
    total = 0
    for op in workload.ops:
        if _is_kernel(op):
            rows = PROBE_ROW_GROUPS * a.pe.simd_lanes
            total += simulate_kernel(op, a, dataflow, rows_per_batch=rows).stats.cycles
        else:
            total += simulate_timing(compile_dense(op, a), a).cycles
    return total


def _chunks_of(op: Op, arch: DataflowArch) -> int:
    """How many chunks an op's stream can be cut into: row groups of token-wise ops, heads x row blocks."""
    lanes = arch.pe.simd_lanes
    if isinstance(op, Butterfly | FFT):  # the kernels' streaming batches (as probed)
        return math.ceil(op.rows / (PROBE_ROW_GROUPS * lanes))
    if isinstance(op, GEMM):
        return op.batch * math.ceil(op.m / lanes)
    rows = getattr(op, "rows", None)
    if rows is not None:
        return math.ceil(rows / lanes)
    return math.ceil(op.output_elems / (lanes * arch.n_pes))


__all__ = [
    "DATAFLOWS",
    "KernelRate",
    "NetworkRun",
    "Plan",
    "clear_memo",
    "cycle_level_workload",
    "dense_rate",
    "kernel_rate",
    "plan_residency",
    "simulate_network",
]
