"""FABNet's adaptable butterfly accelerator (Fan et al., "Adaptable Butterfly Accelerator for Attention-based
NNs via Hardware and Algorithm Co-design", MICRO 2022), as DESIGN.md ("Baselines") reconstructs it.

The machine (`swallowtail.arch.accelerators.FabnetArch`, presets `fabnet-be40-hbm`, `fabnet-be120-hbm`,
`fabnet-be120-ddr3`):

- **Butterfly processor**: `butterfly_engines` BEs, each of `units_per_engine` butterfly units (BU) with
  `multipliers_per_unit` FP16 multipliers, shared between butterfly mode (a real 2x2 block: 4 multiplies per
  pair) and FFT mode (a radix-2 butterfly: one complex twiddle multiply = 4 multiplies). A BE processes one
  row at a time; its compute cycles for a length-N row of S stages are

      cycles_row = N / (2 x BU) x S x ceil(multiplies per pair / multipliers_per_unit) / efficiency

  (S = log2 N for a full butterfly or FFT; a complex learned 2x2 block needs 16 multiplies, 4 BU cycles;
  `efficiency` = 0.85, DESIGN.md's derate). An FFT of a length that is not a power of two is padded to the
  next one (the BE's radix-2 datapath).
- **Row-tile pipeline**: rows go to the BEs `butterfly_engines` at a time (a tile); load | compute | store
  overlap across tiles, each stage on its own port of the off-chip interface (input / coefficients /
  output bits per cycle: HBM 2048 / 256 / 2048, DDR3 64 / 64 / 128). For T tiles

      cycles = max(L, W) + C + S + (T - 1) x max(L, C, S)

  with L, C, S the per-tile load, compute and store cycles and W the one-time coefficient load of the op
  (the butterfly's 2x2 blocks over the coefficient port; FFT twiddles sit in on-chip ROM -- assumption).
- **The FFT over the sequence is costed at the sequence length** (the op's own n): one published model costs
  it at the hidden length, a bug this model does not copy.
- **Attention processor** (QK^T and SV of the ABfly blocks; we also charge any other GEMM to it -- FABNet
  has no dense-linear mode -- assumption): `attention_macs_per_cycle` x `attention_efficiency`, streaming its
  operands in and results out: cycles = max(compute, load, store).
- **Post-processing** (softmax, LayerNorm, GELU, bias / shortcut adds): `vector_elems_per_cycle` elements per
  cycle, streaming: cycles = max(compute, load, store).

Ops run one after another, each reading its inputs from and writing its outputs to off-chip memory (no
inter-op fusion: assumption). Energy = the design's power (`static_power_w` + `engine_power_w` per BE --
both assumptions, FABNet's power table is not available to us) x time.

`utilization` = multiplies issued / (all multipliers of both processors x cycles).
"""

from __future__ import annotations

import math
from typing import Any

from swallowtail.arch.accelerators import BITS_PER_BYTE, FFT_BUTTERFLY_MULTS, FabnetArch
from swallowtail.arch.specs import ArchSpec, load_arch
from swallowtail.baselines._common import OpCost, build_result, ceil_div, options_to_overrides
from swallowtail.errors import SpecError
from swallowtail.flops import log2_exact, next_pow2
from swallowtail.result import Result
from swallowtail.workload import FFT, GEMM, Butterfly, Op, Workload

#: the preset a bare `get_backend("fabnet-be120")` uses
DEFAULT_ARCH = "fabnet-be120-hbm"
#: real multiplies of one output pair of a real 2x2 butterfly block (2 outputs x 2 products)
REAL_PAIR_MULTS = 4
#: real multiplies of one output pair of a complex 2x2 butterfly block (4 complex products x 4)
COMPLEX_PAIR_MULTS = 16
#: a complex value is two words
COMPLEX_WORDS = 2


class FabnetBackend:
    """FABNet's butterfly accelerator. `run(workload) -> Result`."""

    def __init__(self, arch: ArchSpec | str | None = None, name: str = "fabnet", **options: Any) -> None:
        a = load_arch(DEFAULT_ARCH if arch is None else arch)
        if not isinstance(a, FabnetArch):
            raise SpecError("arch", a.name, "a FABNet accelerator (kind: fabnet), e.g. " + DEFAULT_ARCH)
        a, _ = options_to_overrides(name, a, options)
        assert isinstance(a, FabnetArch)
        self.arch: FabnetArch = a
        self.name = name

    # ---- helpers ----------------------------------------------------------------------------------------
    def _bytes_cycles(self, nbytes: float, bits_per_cycle: int) -> int:
        return math.ceil(nbytes * BITS_PER_BYTE / bits_per_cycle)

    @property
    def _word_bytes(self) -> float:
        return self.arch.word_bits / BITS_PER_BYTE

    @property
    def _all_multipliers(self) -> int:
        a = self.arch
        return a.butterfly_units * a.multipliers_per_unit + a.attention_macs_per_cycle

    def row_compute_cycles(self, n: int, stages: int, pair_mults: int) -> int:
        """BE cycles for one length-n row of `stages` stages (derated by `efficiency`)."""
        a = self.arch
        pair_cycles = ceil_div(pair_mults, a.multipliers_per_unit)
        ideal = n // 2 * stages * pair_cycles / a.units_per_engine
        return math.ceil(ideal / a.efficiency)

    def pipeline_cycles(self, rows: int, load: int, compute: int, store: int, coef: int) -> tuple[int, int]:
        """(cycles, tiles) of the load | compute | store pipeline over `rows` rows, BE-count rows per tile."""
        tiles = ceil_div(rows, self.arch.butterfly_engines)
        cycles = max(load, coef) + compute + store + (tiles - 1) * max(load, compute, store)
        return cycles, tiles

    # ---- ops ---------------------------------------------------------------------------------------------
    def op_cost(self, op: Op) -> OpCost:
        if isinstance(op, Butterfly):
            assert op.stages is not None
            c = COMPLEX_WORDS if op.complex else 1
            pair_mults = COMPLEX_PAIR_MULTS if op.complex else REAL_PAIR_MULTS
            return self._be_cost(
                op,
                n=op.n,
                stages=op.stages,
                pair_mults=pair_mults,
                in_words=op.n * c,
                out_words=op.n * c,
                coef_bytes=op.weight_elems * op.elem_bytes,
                mode="butterfly",
            )
        if isinstance(op, FFT):
            n = next_pow2(op.n)
            return self._be_cost(
                op,
                n=n,
                stages=log2_exact(n),
                pair_mults=FFT_BUTTERFLY_MULTS,
                in_words=op.n * (1 if op.real_input else COMPLEX_WORDS),
                out_words=op.n * (1 if op.real_output else COMPLEX_WORDS),
                coef_bytes=0,
                mode="fft",
            )
        if isinstance(op, GEMM):
            a = self.arch
            macs = op.flops // 2
            compute = math.ceil(macs / (a.attention_macs_per_cycle * a.attention_efficiency))
            return self._stream_cost(op, compute, macs, unit="attention")
        elems = op.output_elems
        compute = ceil_div(elems, self.arch.vector_elems_per_cycle)
        return self._stream_cost(op, compute, 0, unit="post")

    def _be_cost(
        self,
        op: Op,
        *,
        n: int,
        stages: int,
        pair_mults: int,
        in_words: int,
        out_words: int,
        coef_bytes: int,
        mode: str,
    ) -> OpCost:
        a = self.arch
        p = a.ports
        rows = op.rows  # type: ignore[attr-defined]
        wbytes = self._word_bytes
        compute = self.row_compute_cycles(n, stages, pair_mults)
        load = self._bytes_cycles(a.butterfly_engines * in_words * wbytes, p.input_bits_per_cycle)
        store = self._bytes_cycles(a.butterfly_engines * out_words * wbytes, p.output_bits_per_cycle)
        coef = self._bytes_cycles(coef_bytes, p.coef_bits_per_cycle)
        cycles, tiles = self.pipeline_cycles(rows, load, compute, store, coef)
        seconds = cycles / a.clock_hz
        mults = rows * (n // 2) * stages * pair_mults
        dram = round(rows * (in_words + out_words) * wbytes) + coef_bytes
        bound = "compute" if compute >= max(load, store) else ("dram-in" if load >= store else "dram-out")
        return OpCost(
            op=op,
            latency_s=seconds,
            bound=bound,
            cycles=cycles,
            utilization=mults / (a.butterfly_units * a.multipliers_per_unit * cycles),
            bytes={"dram": dram},
            stalls={"dram": tiles * max(0, max(load, store) - compute)} if max(load, store) > compute else {},
            executed_flops=2.0 * mults,
            energy_parts=self._energy(seconds),
        )

    def _stream_cost(self, op: Op, compute: int, macs: int, unit: str) -> OpCost:
        a = self.arch
        p = a.ports
        in_bytes = (op.input_elems + op.weight_elems) * op.elem_bytes
        out_bytes = op.output_elems * op.elem_bytes
        load = self._bytes_cycles(in_bytes, p.input_bits_per_cycle)
        store = self._bytes_cycles(out_bytes, p.output_bits_per_cycle)
        cycles = max(compute, load, store, 1)
        seconds = cycles / a.clock_hz
        bound = unit if compute >= max(load, store) else ("dram-in" if load >= store else "dram-out")
        util = macs / (a.attention_macs_per_cycle * cycles) if unit == "attention" else 0.0
        return OpCost(
            op=op,
            latency_s=seconds,
            bound=bound,
            cycles=cycles,
            utilization=util,
            bytes={"dram": in_bytes + out_bytes},
            stalls={"dram": max(load, store) - compute} if max(load, store) > compute else {},
            executed_flops=2.0 * macs if unit == "attention" else float(op.flops),
            energy_parts=self._energy(seconds),
        )

    def _energy(self, seconds: float) -> dict[str, float]:
        a = self.arch
        return {
            "static": a.static_power_w * seconds,
            "engines": a.engine_power_w * a.butterfly_engines * seconds,
        }

    # ---- run -----------------------------------------------------------------------------------------
    def run(self, workload: Workload) -> Result:
        a = self.arch
        costs = [self.op_cost(op) for op in workload.ops]
        cycles = sum(int(c.cycles or 0) for c in costs)
        mults = sum(c.executed_flops / 2 for c in costs if c.op.kind in ("butterfly", "fft", "gemm"))
        util = mults / (self._all_multipliers * cycles) if cycles else 0.0
        notes = [
            f"FABNet {a.name}: {a.butterfly_engines} BEs x {a.units_per_engine} BUs x "
            f"{a.multipliers_per_unit} FP16 multipliers at {a.clock_hz / 1e6:g} MHz, efficiency "
            f"{a.efficiency:g}; memory {a.memory} "
            f"({a.ports.input_bits_per_cycle}/{a.ports.coef_bits_per_cycle}/{a.ports.output_bits_per_cycle} "
            "bits per cycle in/coef/out)",
            "BE cycles per row = N/(2*BU) * stages * ceil(mults per pair / mults per BU) / efficiency; "
            "load | compute | store pipelined over tiles of one row per BE",
            "FFTs costed at their own length (the sequence FFT at the sequence length), padded to a power of "
            "two; twiddles in on-chip ROM (assumption)",
            f"GEMMs on the attention processor: {a.attention_macs_per_cycle} MACs/cycle x "
            f"{a.attention_efficiency:g} (assumption); softmax / LayerNorm / element-wise on post-processing "
            f"units: {a.vector_elems_per_cycle} elements/cycle (assumption)",
            "ops run one after another, each through off-chip memory (no inter-op fusion: assumption)",
            f"energy = power x time, power = {a.static_power_w:g} W static + {a.engine_power_w:g} W per BE = "
            f"{a.power_w:g} W (assumption: FABNet's power table is not available to us)",
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


def _make(
    default_arch: str, name: str, arch: ArchSpec | str | None, options: dict[str, Any]
) -> FabnetBackend:
    return FabnetBackend(default_arch if arch is None else arch, name=name, **options)


def make_fabnet_be40(arch: ArchSpec | str | None = None, **options: Any) -> FabnetBackend:
    """Factory registered as `fabnet-be40` (preset fabnet-be40-hbm). Options: any top-level field of the
    FABNet spec, e.g. `memory="ddr3"`, `butterfly_engines=60`, `efficiency=0.9`."""
    return _make("fabnet-be40-hbm", "fabnet-be40", arch, options)


def make_fabnet_be120(arch: ArchSpec | str | None = None, **options: Any) -> FabnetBackend:
    """Factory registered as `fabnet-be120` (preset fabnet-be120-hbm; `memory="ddr3"`: the DDR3 variant)."""
    return _make("fabnet-be120-hbm", "fabnet-be120", arch, options)


def make_fabnet_be120_ddr3(arch: ArchSpec | str | None = None, **options: Any) -> FabnetBackend:
    """Factory registered as `fabnet-be120-ddr3` (preset fabnet-be120-ddr3)."""
    return _make("fabnet-be120-ddr3", "fabnet-be120-ddr3", arch, options)


__all__ = ["DEFAULT_ARCH", "FabnetBackend", "make_fabnet_be40", "make_fabnet_be120", "make_fabnet_be120_ddr3"]
