"""FABNet's adaptable butterfly accelerator (Fan et al., "Adaptable Butterfly Accelerator for Attention-based
NNs via Hardware and Algorithm Co-design", MICRO 2022), as docs/architecture.md ("Baselines") reconstructs it.

The machine (`swallowtail.arch.accelerators.FabnetArch`, presets `fabnet-be40-hbm`, `fabnet-be120-hbm`,
`fabnet-be120-ddr3`):

- **Butterfly processor**: `butterfly_engines` BEs, each of `units_per_engine` butterfly units (BU) with
  `multipliers_per_unit` FP16 multipliers, shared between butterfly mode (a real 2x2 block: 4 multiplies per
  pair) and FFT mode (a radix-2 butterfly: one complex twiddle multiply = 4 multiplies). A BE processes one
  row at a time; its compute cycles for a length-N row of S stages are

      cycles_row = N / (2 x BU) x S x ceil(multiplies per pair / multipliers_per_unit) / efficiency

  (S = log2 N for a full butterfly or FFT; a complex learned 2x2 block needs 16 multiplies, 4 BU cycles;
  `efficiency` = 0.85, the published derate). An FFT of a length that is not a power of two is padded to the
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

**Two fidelities** (backend option `fidelity=`):

- `"physical"` (default): the model above.
- `"reference"`: FABNet as its authors costed it -- the published Butterfly_Acc simulator
  (github.com/SamsungLabs/Butterfly_Acc @1bb951f, hardware/npu_design/simulator, `simulator_bfly.py`),
  re-derived here from its formulas (none of its code): hidden and FFN sizes rounded up to powers of two
  (a 768 -> 3072 butterfly FFN runs as 1024 -> 4096: 4 stacked 1024-point butterflies, not 3; the
  sequence FFT transforms the 1024 padded hidden columns); rows tiled per stack, `butterfly_engines` rows
  per batch, ceil(rows / BEs) x stacks batches; every batch reloads its coefficients / twiddles
  (butterfly: stages x 2N FP16 words; FFT: stages x N complex words) through the coefficient port, no
  faster than the on-chip coefficient buffer takes them (`coef_buffer_bits_per_cycle`); every row enters
  and leaves its BE one word per cycle (`serial_io_words_per_cycle`), so a load or store of a batch takes
  at least N cycles; BE compute N / (2 x BU) x stages per row, not derated. Per batch, an FFT has two
  stages (load + twiddles, *then* compute -- serial -- | store), a butterfly three (load + coefficients |
  compute | store). Its pipeline accounting over B batches of stages c_0..c_{P-1}:

      raw = c_0 + ... + c_{P-2} + max(0, B - P) x max(c) + sum(max(c_k..) for k in 1..P-2 if B - P + k >= 1)

  (its loop: the first batch's stages but the last, then B - 2 steps, each the slowest stage still busy;
  the last batch's drain overlaps the next layer), and cycles = raw / efficiency (0.85 divides the whole
  op, memory included) at 200 MHz. The simulator costs the FBfly layer only: GEMMs (an ABfly block's
  QK^T / SV, the classifier) stay on the attention processor as in the physical model (no counterpart:
  assumption), and LayerNorm / softmax / GELU / bias and shortcut adds are charged nothing (bound
  "fused"), as the authors' model charges them nothing. An ABfly block's butterfly projections take the
  butterfly formula above (the simulator has no ABfly layer: an extension). An op's stacked copies are
  found from the workload's token rows (`meta`: seq_len x batch x towers); an op costed without its
  workload is one stack, an FFT without the FFT it reads is costed at its own length.

  **The corrected sequence FFT.** The published simulator costs the second (sequence-dimension) FFT with
  the hidden length over seq_len rows -- the geometry of the first FFT -- a bug. The reference mode costs it
  at the sequence length (rounded up to a power of two) over the padded hidden columns, and says so in
  the Result notes. `fft_seq_len_bug=True` reproduces the bug; it exists only to compare against the
  simulator's published numbers (tests/fixtures/butterfly_acc) and must not be used for results. The two
  differ only in that one op's cycles.

`fidelity_differences()` lists how the physical model differs from the reference one, for reports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from swallowtail.arch.accelerators import FFT_BUTTERFLY_MULTS, FabnetArch
from swallowtail.arch.specs import BITS_PER_BYTE, ArchSpec, load_arch, wrong_kind
from swallowtail.baselines._common import OpCost, build_result, gemm_form, options_to_overrides
from swallowtail.errors import SpecError, check_choice
from swallowtail.flops import ceil_div, log2_exact, next_pow2
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
#: the model fidelities: ours ("physical") and the authors' simulator, FFT bug corrected ("reference")
FIDELITIES = ("physical", "reference")
#: backend options that are not fields of the FABNet spec
OWN_OPTIONS = ("fidelity", "fft_seq_len_bug")
#: the commit of github.com/SamsungLabs/Butterfly_Acc whose simulator the reference mode follows
REFERENCE_SIMULATOR = "SamsungLabs/Butterfly_Acc@1bb951f86d902c89826d0e69c357a28c7a18c570"
#: coefficients per output pair of a real butterfly stage in the reference model (Butterfly_Acc: a
#: butterfly stage loads 2N coefficients -- a 2x2 block per pair -- and an FFT stage N complex twiddles)
REFERENCE_BFLY_COEFS_PER_PAIR = 4
REFERENCE_FFT_TWIDDLES_PER_PAIR = 2
#: the bound of an op the reference model charges nothing (the simulator does not cost it)
FUSED_BOUND = "fused"


def simulator_pipeline_cycles(stage_cycles: Sequence[int], batches: int) -> int:
    """The reference model's pipeline accounting (Butterfly_Acc's, re-derived): `batches` row batches
    through P stages of `stage_cycles` c_0..c_{P-1} each. The first batch fills the stages but the last;
    then B - 2 steps follow, each as long as the slowest stage still busy (a stage is busy at step i while
    its batch index i + P - 1 - j < B); the last batch's drain overlaps the next layer. Closed form:

        c_0 + ... + c_{P-2} + max(0, B - P) x max(c) + sum over k in 1..P-2 with B - P + k >= 1 of max(c_k..)

    One step fewer than a textbook pipeline's B - 1 (so 1- and 2-batch ops cost the fill alone)."""
    p = len(stage_cycles)
    if p < 2 or batches < 1:
        raise ValueError(
            f"a pipeline needs >= 2 stages over >= 1 batches, got {p} stages over {batches} batches"
        )
    cycles = sum(stage_cycles[:-1]) + max(0, batches - p) * max(stage_cycles)
    for k in range(1, p - 1):
        if batches - p + k >= 1:
            cycles += max(stage_cycles[k:])
    return cycles


@dataclass(frozen=True)
class ReferenceCycles:
    """One butterfly-engine op as the reference model (the authors' simulator, FFT corrected) costs it.
    Per-batch stage cycles are not derated; `cycles` = `raw_cycles` / efficiency, rounded up."""

    mode: str  # "butterfly" | "fft"
    n: int  # transform length, a power of two
    stages: int
    rows: int  # rows per stack
    stacks: int  # stacked copies, a power of two (an FFN's output size over n, rounded up)
    batches: int  # ceil(rows / BEs) x stacks
    load: int  # per batch: max(input port, serial input of n words)
    coef: int  # per batch: coefficients / twiddles, max(coefficient port, coefficient buffer)
    compute: int  # per batch: n / (2 x BU) x stages x BU cycles per pair
    store: int  # per batch: max(output port, serial output of n words)
    stage_cycles: tuple[int, ...]  # the pipeline stages of one batch
    raw_cycles: int  # simulator_pipeline_cycles(stage_cycles, batches)
    cycles: int
    dram_bytes: int  # data in and out of every row, plus the coefficients of every batch
    mults: int  # real multiplies issued

    @property
    def bound(self) -> str:
        worst = max(self.load, self.coef, self.compute, self.store)
        if self.compute == worst:
            return "compute"
        if self.load == worst:
            return "dram-in"
        return "coef" if self.coef == worst else "dram-out"


@dataclass(frozen=True)
class FidelityDifference:
    """How the physical model costs one aspect of FABNet, and how the reference model (its authors'
    simulator, sequence FFT corrected) does."""

    aspect: str
    physical: str
    reference: str

    def line(self) -> str:
        return f"{self.aspect}: physical {self.physical}; reference {self.reference}"


def fidelity_differences() -> list[FidelityDifference]:
    """The physical model's differences from the reference model, for reports (`d.line()` prints one)."""
    return [
        FidelityDifference(
            "sizes",
            "keeps the workload's sizes (butterfly n = next power of two of d_in, ceil(d_out / n) stacks: "
            "768 -> 3072 is 3 stacks; the sequence FFT over the 768 hidden columns)",
            "rounds hidden and FFN sizes up to powers of two (768 -> 3072 runs as 1024 -> 4096: 4 stacks; "
            "the sequence FFT over 1024 columns)",
        ),
        FidelityDifference(
            "row tiling",
            "tiles all rows of an op (its stacks together) BE-count rows per tile",
            "tiles each stack on its own: ceil(rows / BEs) x stacks batches",
        ),
        FidelityDifference(
            "coefficients",
            "loads a butterfly's coefficients once per op, beside the first tile's input; FFT twiddles "
            "from on-chip ROM (assumption)",
            "reloads the coefficients / twiddles with every row batch, through the coefficient port and "
            "the on-chip coefficient buffer (512 bits per cycle)",
        ),
        FidelityDifference(
            "FFT load and compute",
            "overlapped (load | compute | store)",
            "in series within a batch (load + compute | store)",
        ),
        FidelityDifference(
            "row I/O",
            "limited by the off-chip ports only",
            "also one word per cycle per BE in and out (serial-to-parallel converters): >= N cycles per row",
        ),
        FidelityDifference(
            "pipeline accounting",
            "max(load, coef) + compute + store + (T - 1) x the slowest stage, every tile's output stored",
            "the simulator's: the first batch's fill, then B - 2 steps of the slowest busy stage; the last "
            "batch's drain overlapped with the next layer",
        ),
        FidelityDifference(
            "efficiency 0.85",
            "derates the BE compute cycles of each row",
            "divides the op's total cycles, memory time included",
        ),
        FidelityDifference(
            "post-processing",
            "LayerNorm, softmax, GELU, bias and shortcut adds on PostP units streamed through DRAM",
            "not costed (the simulator charges them nothing)",
        ),
    ]


@dataclass(frozen=True)
class _RefContext:
    """What the reference model needs beyond one op: the workload's token rows (to split an op's rows
    into stacked copies) and its ops by name (to find the FFT a sequence FFT reads)."""

    token_rows: int | None
    ops: dict[str, Op]

    @classmethod
    def of(cls, workload: Workload | None) -> _RefContext:
        if workload is None:
            return cls(None, {})
        meta = workload.meta or {}
        tokens: int | None = None
        seq, batch = meta.get("seq_len"), meta.get("batch", 1)
        if isinstance(seq, int) and isinstance(batch, int) and seq > 0 and batch > 0:
            config = meta.get("config") or {}
            towers = 2 if isinstance(config, dict) and config.get("dual_tower") else 1
            tokens = seq * batch * towers
        return cls(tokens, {op.name: op for op in workload.ops})

    def producer_fft(self, op: Op) -> FFT | None:
        """The FFT `op` reads, if any: `op` is then the second dimension of a 2-D FFT."""
        for d in op.deps:
            src = self.ops.get(d)
            if isinstance(src, FFT):
                return src
        return None


class FabnetBackend:
    """FABNet's butterfly accelerator. `run(workload) -> Result`. `fidelity="physical"` (default): our
    model; `"reference"`: its authors' simulator, sequence FFT corrected (module docstring).
    `fft_seq_len_bug=True` (reference only): the simulator's sequence-FFT bug, for validation only."""

    def __init__(self, arch: ArchSpec | str | None = None, name: str = "fabnet", **options: Any) -> None:
        a = load_arch(DEFAULT_ARCH if arch is None else arch)
        if not isinstance(a, FabnetArch):
            raise wrong_kind(arch, a, "a FABNet accelerator (kind: fabnet), e.g. " + DEFAULT_ARCH)
        a, own = options_to_overrides(name, a, options, own=OWN_OPTIONS)
        assert isinstance(a, FabnetArch)
        self.arch: FabnetArch = a
        self.name = name
        self.fidelity: str = check_choice("fidelity", own.get("fidelity", "physical"), FIDELITIES)
        bug = own.get("fft_seq_len_bug", False)
        if not isinstance(bug, bool):
            raise SpecError("fft_seq_len_bug", bug, "True or False")
        if bug and self.fidelity != "reference":
            raise SpecError("fft_seq_len_bug", bug, "False unless fidelity='reference'")
        self.fft_seq_len_bug: bool = bug

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
    def op_cost(self, op: Op, workload: Workload | None = None) -> OpCost:
        """The cost of one op; `workload` (the op's own) gives the reference model its context."""
        if self.fidelity == "reference":
            return self._reference_cost(op, _RefContext.of(workload))
        return self._physical_cost(op)

    def _physical_cost(self, op: Op) -> OpCost:
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

    # ---- the reference model ------------------------------------------------------------------------
    def reference_cycles(
        self,
        *,
        mode: str,
        n: int,
        stages: int,
        rows: int,
        stacks: int,
        pair_mults: int,
        in_words: int,
        out_words: int,
        coef_words: int,
    ) -> ReferenceCycles:
        """The reference model's cycles of `stacks` x `rows` rows of a length-n (power of two) butterfly or
        FFT; `in_words` / `out_words`: words per element (2 for complex), `coef_words`: per batch."""
        a = self.arch
        p = a.ports
        be, wb = a.butterfly_engines, a.word_bits
        serial = ceil_div(n, a.serial_io_words_per_cycle)
        load = max(ceil_div(be * n * in_words * wb, p.input_bits_per_cycle), serial)
        store = max(ceil_div(be * n * out_words * wb, p.output_bits_per_cycle), serial)
        coef_bits = coef_words * wb
        coef = max(
            ceil_div(coef_bits, p.coef_bits_per_cycle), ceil_div(coef_bits, a.coef_buffer_bits_per_cycle)
        )
        pair_cycles = ceil_div(pair_mults, a.multipliers_per_unit)
        compute = ceil_div(n * stages * pair_cycles, 2 * a.units_per_engine)
        # the pipeline stages of a batch (Butterfly_Acc bfly_accelerator.py): FFT = load and compute in
        # series | store; butterfly = load + coefficients | compute | store
        if mode == "fft":
            stage_cycles: tuple[int, ...] = (compute + max(load, coef), store)
        else:
            stage_cycles = (max(load, coef), compute, store)
        batches = ceil_div(rows, be) * stacks
        raw = simulator_pipeline_cycles(stage_cycles, batches)
        all_rows = rows * stacks
        return ReferenceCycles(
            mode=mode,
            n=n,
            stages=stages,
            rows=rows,
            stacks=stacks,
            batches=batches,
            load=load,
            coef=coef,
            compute=compute,
            store=store,
            stage_cycles=stage_cycles,
            raw_cycles=raw,
            cycles=math.ceil(raw / a.efficiency - 1e-9),
            dram_bytes=ceil_div(
                all_rows * n * (in_words + out_words) * wb + batches * coef_bits, BITS_PER_BYTE
            ),
            mults=all_rows * (n // 2) * stages * pair_mults,
        )

    def reference_op_cycles(self, op: Op, workload: Workload | None = None) -> ReferenceCycles | None:
        """The reference model's cycles of a butterfly or FFT op (None for any other op)."""
        return self._reference_be(op, _RefContext.of(workload))

    def _reference_be(self, op: Op, ctx: _RefContext) -> ReferenceCycles | None:
        if isinstance(op, Butterfly):
            assert op.stages is not None
            stacks, rows = 1, op.rows
            t = ctx.token_rows
            if t is not None and op.rows > t and op.rows % t == 0:
                stacks, rows = op.rows // t, t  # ceil(d_out / n) stacked copies over the token rows
            c = COMPLEX_WORDS if op.complex else 1
            return self.reference_cycles(
                mode="butterfly",
                n=op.n,
                stages=op.stages,
                rows=rows,
                stacks=next_pow2(stacks),  # the FFN size rounded up to a power of two
                pair_mults=COMPLEX_PAIR_MULTS if op.complex else REAL_PAIR_MULTS,
                in_words=c,
                out_words=c,
                coef_words=op.stages * (op.n // 2) * REFERENCE_BFLY_COEFS_PER_PAIR * c,
            )
        if isinstance(op, FFT):
            n, rows = next_pow2(op.n), op.rows
            first = ctx.producer_fft(op)
            if first is not None and self.fft_seq_len_bug:
                # the published simulator's bug: the sequence FFT costed as the hidden one
                n, rows = next_pow2(first.n), first.rows
            elif first is not None and op.rows % first.n == 0:
                # the sequence FFT over the hidden FFT's padded columns
                rows = op.rows // first.n * next_pow2(first.n)
            stages = log2_exact(n)
            return self.reference_cycles(
                mode="fft",
                n=n,
                stages=stages,
                rows=rows,
                stacks=1,
                pair_mults=FFT_BUTTERFLY_MULTS,
                in_words=1 if op.real_input else COMPLEX_WORDS,
                out_words=1 if op.real_output else COMPLEX_WORDS,
                coef_words=stages * (n // 2) * REFERENCE_FFT_TWIDDLES_PER_PAIR * COMPLEX_WORDS,
            )
        return None

    def _reference_cost(self, op: Op, ctx: _RefContext) -> OpCost:
        a = self.arch
        rc = self._reference_be(op, ctx)
        if rc is not None:
            seconds = rc.cycles / a.clock_hz
            worst_io = max(rc.load, rc.coef, rc.store)
            return OpCost(
                op=op,
                latency_s=seconds,
                bound=rc.bound,
                cycles=rc.cycles,
                utilization=min(1.0, rc.mults / (a.butterfly_units * a.multipliers_per_unit * rc.cycles)),
                bytes={"dram": rc.dram_bytes},
                stalls={"dram": rc.batches * (worst_io - rc.compute)} if worst_io > rc.compute else {},
                executed_flops=2.0 * rc.mults,
                energy_parts=self._energy(seconds),
            )
        if isinstance(op, GEMM):
            return self._physical_cost(op)  # no counterpart in the simulator: the attention processor
        return OpCost(  # the simulator does not cost post-processing
            op=op,
            latency_s=0.0,
            bound=FUSED_BOUND,
            cycles=0,
            utilization=0.0,
            bytes={"dram": 0},
            executed_flops=float(op.flops),
            energy_parts=self._energy(0.0),
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
        workload = gemm_form(workload)
        if self.fidelity == "reference":
            ctx = _RefContext.of(workload)
            costs = [self._reference_cost(op, ctx) for op in workload.ops]
            notes = self._reference_notes()
        else:
            costs = [self._physical_cost(op) for op in workload.ops]
            notes = self._physical_notes()
        cycles = sum(int(c.cycles or 0) for c in costs)
        mults = sum(c.executed_flops / 2 for c in costs if isinstance(c.op, GEMM | Butterfly | FFT))
        util = min(1.0, mults / (self._all_multipliers * cycles)) if cycles else 0.0
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

    def _reference_notes(self) -> list[str]:
        a = self.arch
        p = a.ports
        fft = (
            "sequence-dimension FFT costed AS THE PUBLISHED SIMULATOR HAS IT (at the hidden length over "
            "seq_len rows -- a bug; fft_seq_len_bug=True, for validation against the simulator only)"
            if self.fft_seq_len_bug
            else "sequence-dimension FFT CORRECTED: costed at the sequence length (rounded up to a power of "
            "two) over the padded hidden columns; the published simulator costs it at the hidden length "
            "over seq_len rows (a bug this mode does not copy)"
        )
        return [
            f"fidelity=reference: FABNet as its authors costed it -- the Butterfly_Acc simulator "
            f"({REFERENCE_SIMULATOR}, hardware/npu_design/simulator), formulas re-derived; {a.name}: "
            f"{a.butterfly_engines} BEs x {a.units_per_engine} BUs at {a.clock_hz / 1e6:g} MHz, memory "
            f"{a.memory} ({p.input_bits_per_cycle}/{p.coef_bits_per_cycle}/{p.output_bits_per_cycle} bits "
            "per cycle in/coef/out)",
            fft,
            "hidden and FFN sizes rounded up to powers of two (butterfly stacks to a power of two; the "
            "sequence FFT over the padded hidden columns); each stack tiled on its own, "
            f"{a.butterfly_engines} rows per batch",
            "every row batch reloads its coefficients / twiddles (coefficient port, on-chip buffer "
            f"{a.coef_buffer_bits_per_cycle} bits/cycle); rows in and out of a BE at "
            f"{a.serial_io_words_per_cycle} word(s)/cycle; BE compute N/(2*BU) * stages per row",
            "per batch: FFT = load then compute (serial) | store; butterfly = load + coefficients | compute "
            "| store; the simulator's pipeline accounting (first batch's fill + (batches - 2) slowest-stage "
            "steps; last drain overlapped)",
            f"cycles = raw cycles / efficiency {a.efficiency:g} (the whole op, memory included), "
            f"{a.clock_hz / 1e6:g} MHz",
            f"GEMMs on the attention processor as in the physical model ({a.attention_macs_per_cycle} "
            f"MACs/cycle x {a.attention_efficiency:g}; not in the simulator: assumption); LayerNorm, "
            f"softmax, GELU, bias and shortcut adds charged nothing (bound '{FUSED_BOUND}': the simulator "
            "does not cost them)",
            f"energy = power x time, power = {a.power_w:g} W (assumption, as the physical model)",
        ]

    def _physical_notes(self) -> list[str]:
        a = self.arch
        return [
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


def _make(
    default_arch: str, name: str, arch: ArchSpec | str | None, options: dict[str, Any]
) -> FabnetBackend:
    return FabnetBackend(default_arch if arch is None else arch, name=name, **options)


def make_fabnet_be40(arch: ArchSpec | str | None = None, **options: Any) -> FabnetBackend:
    """Factory registered as `fabnet-be40` (preset fabnet-be40-hbm). Options: any top-level field of the
    FABNet spec, e.g. `memory="ddr3"`, `butterfly_engines=60`, `efficiency=0.9`; and `fidelity="physical"`
    (default) or `"reference"` (its authors' simulator, sequence FFT corrected)."""
    return _make("fabnet-be40-hbm", "fabnet-be40", arch, options)


def make_fabnet_be120(arch: ArchSpec | str | None = None, **options: Any) -> FabnetBackend:
    """Factory registered as `fabnet-be120` (preset fabnet-be120-hbm; `memory="ddr3"`: the DDR3 variant)."""
    return _make("fabnet-be120-hbm", "fabnet-be120", arch, options)


def make_fabnet_be120_ddr3(arch: ArchSpec | str | None = None, **options: Any) -> FabnetBackend:
    """Factory registered as `fabnet-be120-ddr3` (preset fabnet-be120-ddr3)."""
    return _make("fabnet-be120-ddr3", "fabnet-be120-ddr3", arch, options)


__all__ = [
    "DEFAULT_ARCH",
    "FIDELITIES",
    "FabnetBackend",
    "FidelityDifference",
    "ReferenceCycles",
    "fidelity_differences",
    "make_fabnet_be40",
    "make_fabnet_be120",
    "make_fabnet_be120_ddr3",
    "simulator_pipeline_cycles",
]
