"""Per-op array-side costs (PEs + NoC + SPM; the DRAM side is the pipeline's) from the probes in a RateCache.

- Butterfly / FFT (power-of-two n): the kernel's steady rate x rows + its overhead. n = 3 x 2^k (FNet's
  hidden FFT at d = 768): three 2^k-point FFTs per row on the kernel compiler + the radix-3 combine pass of
  `swallowtail.compiler.dense` (see there why not zero padding).
- dense ops (GEMM, softmax, LayerNorm, elementwise): their dense Program's steady rate x row units. Only
  epilogues fused into a producer's registers keep the analytic per-PE models of `swallowtail.compiler.dense`
  (a RateCache with dense_cost_model = "analytic" puts every dense op on them, for comparison).
- every op also says how many streaming chunks it can be cut into and, when asked, what it costs alone,
  DRAM to DRAM (`OpCost.alone`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.dense import default_units_per_batch, dense_spec
from swallowtail.compiler.dense_cost import (
    MIXED_RADIX,
    DenseCost,
    dense_cost,
    radix3_combine_cost,
    split_mixed_radix,
)
from swallowtail.errors import SpecError
from swallowtail.flops import ceil_div
from swallowtail.sim import PE_ACTIONS
from swallowtail.sim.network.cache import RateCache
from swallowtail.sim.network.probes import (
    PROBE_ROW_GROUPS,
    dense_alone,
    dense_rate,
    kernel_alone,
    kernel_key,
    kernel_rate,
)
from swallowtail.workload import FFT, GEMM, BlockSparseMatmul, Butterfly, Op


@dataclass
class OpCost:
    """Array-side cost of one op in its context (fused or not)."""

    op: Op
    cycles: float
    bound: str
    lane_ops: int
    actions: dict[str, float]
    how: str
    #: streaming chunks of the mapping (a dense program's batches of row units); None: `chunks_of`
    chunks: int | None = None
    #: cycles of the op alone, DRAM to DRAM (its own program's DMA), measured when asked; None: not measured
    alone: Callable[[], float] | None = None


def is_kernel(op: Op) -> bool:
    """Ops mapped by the kernel compiler (butterflies and FFTs); every other op is dense."""
    return isinstance(op, Butterfly | FFT)


def kernel_op(op: Op) -> Op:
    """The op whose kernel shape is simulated for `op`: itself, or the radix-2 part of a mixed-radix FFT."""
    if isinstance(op, FFT):
        radix, m = split_mixed_radix(op.n)
        if radix == MIXED_RADIX:
            return FFT(op.name, n=m, rows=MIXED_RADIX * op.rows, real_input=op.real_input)
    return op


def kernel_keys_used(ops: list[Op] | tuple[Op, ...], arch: DataflowArch, dataflow: str) -> set[tuple]:
    """Cache keys of the kernels these ops use (notes name only them, whatever else the cache holds)."""
    return {kernel_key(kernel_op(op), arch, dataflow) for op in ops if is_kernel(op)}


def kernel_cost(op: Op, arch: DataflowArch, dataflow: str, cache: RateCache) -> OpCost:
    """A butterfly / FFT from its kernel's steady rate (mixed radix: the radix-2 part's + the combine)."""
    rows = op.rows  # type: ignore[attr-defined]
    if isinstance(op, FFT):
        radix, m = split_mixed_radix(op.n)
        if radix == MIXED_RADIX:
            r = kernel_rate(kernel_op(op), arch, dataflow, cache)
            comb = radix3_combine_cost(op.n, rows, arch)
            acts = {k: r.actions_per_row[k] * MIXED_RADIX * rows + comb.actions.get(k, 0) for k in PE_ACTIONS}
            return OpCost(
                op,
                r.cycles_per_row * MIXED_RADIX * rows + r.overhead_cycles + comb.cycles,
                r.bound,
                r.lane_ops_per_row * MIXED_RADIX * rows + comb.lane_ops,
                acts,
                f"mixed radix {MIXED_RADIX} x {m}: {MIXED_RADIX} x FFT({m}) per row on the kernel compiler "
                f"({r.plan}; {r.cycles_per_row:.1f} cycles/row measured) + radix-3 combine pass "
                f"({comb.cycles} cycles, {comb.bound}-bound)",
            )
    r = kernel_rate(op, arch, dataflow, cache)
    return OpCost(
        op,
        r.cycles_per_row * rows + r.overhead_cycles,
        r.bound,
        r.lane_ops_per_row * rows,
        {k: v * rows for k, v in r.actions_per_row.items()},
        f"kernel {r.plan}; {r.cycles_per_row:.1f} cycles/row (cycle-level probes at rows {r.probe_rows})",
        alone=lambda: kernel_alone(op, arch, dataflow, r, cache),
    )


def dense_opcost(op: Op, arch: DataflowArch, fused: bool, cache: RateCache) -> OpCost:
    """A dense op: an epilogue fused into its producer's registers by the analytic model (it has no program
    of its own); otherwise its dense Program's cycle-level rate -- or, when no dense Program fits the arch,
    or the cache's dense cost model is "analytic", the analytic model, said so in `how`."""
    if not fused and cache.dense_cost_model == "cycle":
        try:
            r = dense_rate(op, arch, cache)
        except SpecError as exc:
            reason = f"no dense program ({exc}); "
        else:
            spec = dense_spec(op)
            units = spec.batch * ceil_div(spec.rows, r.unit_rows)
            return OpCost(
                op,
                r.cycles_per_unit * units + r.overhead_cycles,
                r.bound,
                op.flops if not isinstance(op, GEMM | BlockSparseMatmul) else op.flops // 2,
                {k: v * units for k, v in r.actions_per_unit.items()},
                f"dense program {r.plan}; {r.cycles_per_unit:.1f} cycles per {r.unit_rows}-row unit "
                "(cycle level)",
                chunks=ceil_div(units, default_units_per_batch(spec)),
                alone=lambda: dense_alone(op, arch, r, units, cache),
            )
    else:
        reason = "fused epilogue; " if fused else ""
    c: DenseCost = dense_cost(op, arch, fused_in=fused, fused_out=fused)
    how = reason + "analytic per-PE model: " + str(c.detail.get("mapping", ""))
    return OpCost(op, float(c.cycles), c.bound, c.lane_ops, dict(c.actions), how)


def op_cost(op: Op, arch: DataflowArch, dataflow: str, fused: bool, cache: RateCache) -> OpCost:
    """The array-side cost of any op."""
    return kernel_cost(op, arch, dataflow, cache) if is_kernel(op) else dense_opcost(op, arch, fused, cache)


def chunks_of(op: Op, arch: DataflowArch) -> int:
    """How many chunks an op's stream can be cut into: row groups of token-wise ops, heads x row blocks."""
    lanes = arch.pe.simd_lanes
    if is_kernel(op):  # the kernels' streaming batches (as probed)
        return ceil_div(op.rows, PROBE_ROW_GROUPS * lanes)  # type: ignore[attr-defined]
    if isinstance(op, GEMM):
        return op.batch * ceil_div(op.m, lanes)
    if isinstance(op, BlockSparseMatmul):
        return ceil_div(op.m, lanes)
    rows = getattr(op, "rows", None)
    if rows is not None:
        return ceil_div(rows, lanes)
    return ceil_div(op.output_elems, lanes * arch.n_pes)
