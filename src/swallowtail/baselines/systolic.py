"""An output-stationary systolic array (TPU-like): the block-oriented reference (docs/architecture.md).

**GEMM compute cycles are SCALE-Sim v3's** (Raj et al., ISPASS 2025; PyPI `scalesim` 3.0.0, dataflow "os",
GEMM topology "M, N, K"): the output matrix is tiled into ceil(M / rows) x ceil(N / cols) folds (M along the
array rows, N along the columns, partial folds padded); each fold streams K operand pairs through the
skewed array and drains its outputs before the next starts, taking K + rows + cols - 2 cycles; SCALE-Sim
reports the index of the last output cycle, 0-based, so

    compute_cycles(M, K, N) = ceil(M / rows) * ceil(N / cols) * (K + rows + cols - 2) - 1

(`scalesim_os_compute_cycles`; tests/fixtures/scalesim/ hold SCALE-Sim's own numbers, recorded by
tools/scalesim/record_fixtures.py, and the tests check equality on every shape). A batched GEMM is `batch`
SCALE-Sim layers.

Memory (ours, not SCALE-Sim's): double-buffered ifmap / filter / ofmap SRAMs, half of each active (SCALE-Sim's
`active_buf_frac` 0.5). The order of the folds does not change OS compute cycles, so it is chosen to minimise
DRAM traffic between two blocked orders: M outer (a block of ifmap rows -- a multiple of the array rows --
stays resident in the ifmap SRAM while the whole filter streams past, once per block) and N outer (a block
of filter columns stays resident while the ifmap streams, once per block); if not even one fold fits, that
operand streams once per fold of the other. Outputs are written once. DRAM transfers overlap compute; an op
stalls only when its DRAM cycles exceed its compute cycles (`stalls["dram"]`).

Ops with no GEMM form on a systolic array:
- Butterfly: `butterfly_mapping="block"` (default) -- t consecutive stages multiply to a block-diagonal matrix
  of 2^t x 2^t blocks, so log2 n stages are ceil(log2 n / t) batched GEMMs (the Monarch view); t is chosen
  per op to minimise cycles. `"dense"` -- the dense n x n matrix.
- FFT: the DFT as a matrix product (FNet's TPU implementation, Lee-Thorp et al. 2021).
- Softmax, LayerNorm, element-wise: a vector unit of `vector_lanes` FLOPs per cycle, operands from DRAM.

Energy (the `energy_table` at the array's node, Accelergy-style): MACs x FMA energy + SRAM bytes x read
energy at each buffer's capacity + vector FLOPs x add energy + DRAM bytes x DRAM energy + leakage
(`leakage_fraction` x the array's full-load MAC power x latency).

`utilization` = executed MACs / (PEs x cycles) -- SCALE-Sim's "overall utilization"; the useful-work
measure is `flop_efficiency` (workload FLOPs / (peak x time)), lower when a butterfly runs as blocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from swallowtail.arch.accelerators import SystolicArch
from swallowtail.arch.specs import ArchSpec, load_arch, wrong_kind
from swallowtail.baselines._common import (
    BUTTERFLY_MAPPINGS,
    GemmShape,
    OpCost,
    block_equivalent,
    build_result,
    dense_equivalent,
    dft_equivalent,
    gemm_form,
    gemm_shape,
    options_to_overrides,
)
from swallowtail.energy.tables import load_energy_table
from swallowtail.errors import check_choice, check_positive_int
from swallowtail.flops import FLOPS_PER_FMA, ceil_div
from swallowtail.result import Result
from swallowtail.workload import FFT, GEMM, Butterfly, Op, Workload

#: the preset a bare `get_backend("systolic")` uses: the same peak as df-4x4-simd8 (256 GOPS)
DEFAULT_ARCH = "systolic-os-16x8"
#: SCALE-Sim's double-buffered SRAMs keep this fraction of each buffer active (single_layer_sim.py)
ACTIVE_BUFFER_FRACTION = 0.5
#: bytes per KB in SCALE-Sim's SRAM sizes
KB = 1024


def scalesim_os_compute_cycles(m: int, k: int, n: int, rows: int, cols: int) -> int:
    """SCALE-Sim v3 output-stationary compute cycles of (m x k) @ (k x n) on a rows x cols array."""
    for name, v in (("m", m), ("k", k), ("n", n), ("rows", rows), ("cols", cols)):
        check_positive_int(name, v)
    folds = ceil_div(m, rows) * ceil_div(n, cols)
    return folds * (k + rows + cols - 2) - 1


@dataclass(frozen=True)
class GemmCost:
    """One (batched) GEMM on the array: cycles, stalls, traffic, MACs."""

    compute_cycles: int
    dram_bytes: int
    sram_bytes: dict[str, int]  # ifmap / filter reads, ofmap writes
    macs: int
    dram_cycles: int

    @property
    def cycles(self) -> int:
        return max(self.compute_cycles, self.dram_cycles)

    @property
    def stall_cycles(self) -> int:
        return max(0, self.dram_cycles - self.compute_cycles)


class SystolicBackend:
    """Output-stationary systolic array. `run(workload) -> Result`."""

    def __init__(self, arch: ArchSpec | str | None = None, butterfly_mapping: str = "block", **options: Any):
        a = load_arch(DEFAULT_ARCH if arch is None else arch)
        if not isinstance(a, SystolicArch):
            raise wrong_kind(arch, a, "a systolic array (kind: systolic), e.g. " + DEFAULT_ARCH)
        a, _ = options_to_overrides("systolic", a, options, own=())
        assert isinstance(a, SystolicArch)
        self.arch: SystolicArch = a
        self.butterfly_mapping = check_choice("butterfly_mapping", butterfly_mapping, BUTTERFLY_MAPPINGS)
        self.name = "systolic"
        table = load_energy_table(a.energy_table)
        node = a.tech_node_nm
        self._fma_j = table.action_j("fma", node)
        self._add_j = table.action_j("add", node)
        self._dram_j = table.action_j("dram", node)
        self._sram_j = {
            "ifmap": table.sram_read_j_per_byte(a.ifmap_sram_kb * KB, node),
            "filter": table.sram_read_j_per_byte(a.filter_sram_kb * KB, node),
            "ofmap": table.sram_read_j_per_byte(a.ofmap_sram_kb * KB, node),
        }
        self._table = table.name

    # ---- GEMMs ------------------------------------------------------------------------------------
    def compute_cycles(self, m: int, k: int, n: int) -> int:
        """SCALE-Sim v3 OS compute cycles of one GEMM on this array."""
        return scalesim_os_compute_cycles(m, k, n, self.arch.rows, self.arch.cols)

    def gemm_cost(self, g: GemmShape) -> GemmCost:
        a = self.arch
        wb = a.word_bytes
        row_folds = ceil_div(g.m, a.rows)
        col_folds = ceil_div(g.n, a.cols)
        dram = g.batch * self._dram_bytes_one(g.m, g.k, g.n)
        sram = {
            "ifmap": g.batch * col_folds * g.m * g.k * wb,
            "filter": g.batch * row_folds * g.k * g.n * wb,
            "ofmap": g.batch * g.m * g.n * wb,
        }
        return GemmCost(
            compute_cycles=g.batch * self.compute_cycles(g.m, g.k, g.n),
            dram_bytes=dram,
            sram_bytes=sram,
            macs=g.macs,
            dram_cycles=math.ceil(dram / a.dram_bytes_per_cycle),
        )

    def _dram_bytes_one(self, m: int, k: int, n: int) -> int:
        """DRAM bytes of one GEMM under the better of the two blocked fold orders (see the module doc)."""
        a = self.arch
        wb = a.word_bytes
        ifmap_b, filter_b, ofmap_b = m * k * wb, k * n * wb, m * n * wb
        si = a.ifmap_sram_kb * KB * ACTIVE_BUFFER_FRACTION
        sf = a.filter_sram_kb * KB * ACTIVE_BUFFER_FRACTION
        # M outer: keep a block of mb ifmap rows (a multiple of the array rows) resident, stream the filter
        mb = int(si // (k * wb)) // a.rows * a.rows
        if mb >= a.rows:
            m_outer = ifmap_b + filter_b * ceil_div(m, min(mb, m))
        else:  # not even one fold of ifmap fits: it streams once per column fold
            m_outer = ifmap_b * ceil_div(n, a.cols) + filter_b * ceil_div(m, a.rows)
        # N outer: keep a block of nb filter columns (a multiple of the array columns) resident
        nb = int(sf // (k * wb)) // a.cols * a.cols
        if nb >= a.cols:
            n_outer = filter_b + ifmap_b * ceil_div(n, min(nb, n))
        else:
            n_outer = filter_b * ceil_div(m, a.rows) + ifmap_b * ceil_div(n, a.cols)
        return min(m_outer, n_outer) + ofmap_b

    def butterfly_gemms(self, op: Butterfly) -> list[GemmShape]:
        """The GEMMs a butterfly runs as: its dense matrix, or the block split with the fewest cycles."""
        if self.butterfly_mapping == "dense":
            return [dense_equivalent(op)]
        assert op.stages is not None
        best: list[GemmShape] | None = None
        best_cycles = 0
        for t in range(1, op.stages + 1):
            shapes = block_equivalent(op, t)
            cycles = sum(self.gemm_cost(s).cycles for s in shapes)
            if best is None or cycles < best_cycles:
                best, best_cycles = shapes, cycles
        assert best is not None
        return best

    # ---- ops -----------------------------------------------------------------------------------------
    def op_cost(self, op: Op) -> OpCost:
        if isinstance(op, GEMM):
            return self._gemms_cost(op, [gemm_shape(op)], "gemm")
        if isinstance(op, Butterfly):
            return self._gemms_cost(
                op, self.butterfly_gemms(op), f"butterfly as {self.butterfly_mapping} GEMM"
            )
        if isinstance(op, FFT):
            return self._gemms_cost(op, [dft_equivalent(op)], "fft as DFT GEMM")
        return self._vector_cost(op)

    def _gemms_cost(self, op: Op, shapes: list[GemmShape], what: str) -> OpCost:
        costs = [self.gemm_cost(s) for s in shapes]
        cycles = sum(c.cycles for c in costs)
        stall = sum(c.stall_cycles for c in costs)
        dram = sum(c.dram_bytes for c in costs)
        macs = sum(c.macs for c in costs)
        sram = {k: sum(c.sram_bytes[k] for c in costs) for k in ("ifmap", "filter", "ofmap")}
        seconds = cycles / self.arch.clock_hz
        return OpCost(
            op=op,
            latency_s=seconds,
            bound="compute" if stall == 0 else "dram",
            cycles=cycles,
            utilization=macs / (self.arch.n_pes * cycles) if cycles else 0.0,
            bytes={"dram": dram, "spm": sum(sram.values())},
            stalls={"dram": stall} if stall else {},
            executed_flops=FLOPS_PER_FMA * macs,
            energy_parts={
                "fu": macs * self._fma_j,
                "spm": sum(sram[k] * self._sram_j[k] for k in sram),
                "dram": dram * self._dram_j,
                "leakage": self._leakage_w * seconds,
            },
        )

    def _vector_cost(self, op: Op) -> OpCost:
        a = self.arch
        compute = max(1, ceil_div(op.flops, a.vector_lanes))
        dram = op.min_bytes
        mem = math.ceil(dram / a.dram_bytes_per_cycle)
        cycles = max(compute, mem)
        seconds = cycles / a.clock_hz
        return OpCost(
            op=op,
            latency_s=seconds,
            bound="vector" if compute >= mem else "dram",
            cycles=cycles,
            utilization=0.0,
            bytes={"dram": dram},
            stalls={"dram": mem - compute} if mem > compute else {},
            executed_flops=float(op.flops),
            energy_parts={
                "fu": op.flops * self._add_j,
                "dram": dram * self._dram_j,
                "leakage": self._leakage_w * seconds,
            },
        )

    @property
    def _leakage_w(self) -> float:
        a = self.arch
        return a.leakage_fraction * a.n_pes * self._fma_j * a.clock_hz

    # ---- run -----------------------------------------------------------------------------------------
    def run(self, workload: Workload) -> Result:
        a = self.arch
        workload = gemm_form(workload)
        costs = [self.op_cost(op) for op in workload.ops]
        cycles = sum(int(c.cycles or 0) for c in costs)
        macs = (
            sum(c.executed_flops for c in costs if isinstance(c.op, GEMM | Butterfly | FFT)) / FLOPS_PER_FMA
        )
        util = macs / (a.n_pes * cycles) if cycles else 0.0
        notes = [
            f"output-stationary {a.rows}x{a.cols} systolic array at {a.clock_hz / 1e9:g} GHz; GEMM compute "
            "cycles = SCALE-Sim v3 'os': ceil(M/rows)*ceil(N/cols)*(K+rows+cols-2) - 1 per GEMM",
            f"butterfly mapping: {self.butterfly_mapping} ('block': t stages -> block-diagonal 2^t x 2^t "
            "GEMMs, t chosen per op; 'dense': the n x n matrix); FFT as a DFT matrix product (FNet on TPU)",
            "DRAM: blocked fold order (M- or N-outer, the one with less traffic) within half of each SRAM "
            "(double buffering); transfers overlap compute, stalls only when DRAM cycles exceed compute",
            f"softmax / LayerNorm / element-wise on a {a.vector_lanes}-lane vector unit (1 FLOP per "
            "lane-cycle), operands from DRAM",
            f"energy: {self._table} at {a.tech_node_nm} nm -- MACs x FMA, SRAM bytes at each buffer's "
            f"capacity, vector FLOPs x add, DRAM bytes, leakage {a.leakage_fraction:g} x full-load MAC power",
            f"utilization = executed MACs / (PEs x cycles) = {util:.3f}; executed MACs / workload MACs = "
            f"{2 * macs / workload.flops if workload.flops else 0:.2f}",
        ]
        return build_result(
            backend=self.name,
            arch=a.name,
            workload=workload,
            costs=costs,
            peak_ops_per_s=a.peak_ops_per_s,
            energy_breakdown_j=None,
            clock_hz=a.clock_hz,
            utilization=util,
            notes=notes,
        )


def make_systolic(arch: ArchSpec | str | None = None, **options: Any) -> SystolicBackend:
    """Factory registered as `systolic`: options `butterfly_mapping` ("block" | "dense") and any top-level
    field of the systolic spec (`rows`, `cols`, `dram_gbytes_per_s`, ...) as an override."""
    return SystolicBackend(arch, **options)


__all__ = ["DEFAULT_ARCH", "SystolicBackend", "make_systolic", "scalesim_os_compute_cycles"]
