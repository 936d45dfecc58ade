"""Attention accelerators at the same peak performance: Sanger and SpAtten (docs/architecture.md).

Each is its published machine (`swallowtail.arch.accelerators`, presets `sanger`, `spatten`), optionally
**scaled to a target peak** (`peak_ops_per_s=...` or `same_peak_as="df-4x4-simd8"`): the MAC array (and
with it the vector units and the DRAM bandwidth, keeping the published balance) is scaled by
target peak / published peak, the clock is kept. E.g. Sanger's 64 x 16 PEs at 1 GHz (2.048 TOPS) become
8 x 16 = 128 PEs at 256 GOPS.

**Energy** per executed op = the published power / the throughput it goes with (`reported_power_w`,
`reported_ops_per_s`), scaled from the published node to `node_nm` (default 12 nm, the dataflow array's
node) with the Stillmaker-Baas logic factors of the energy table (docs/architecture.md; 40, 55 nm extrapolated
along the 45 -> 28 nm power law: assumption); plus leakage (`leakage_fraction` x the scaled full-load
power x time) and DRAM bytes x the table's DRAM energy (not in the published chip power).

**What they run.** Neither has a butterfly or FFT mode, so on a hybrid network a butterfly linear layer
runs as the dense matrix it equals (`butterfly_mapping="dense"`, default: the paper's comparison of
"attention accelerators of the same peak") -- or, as an option, as block-diagonal GEMMs (`"block"`) -- and
an FFT as a DFT matrix product. Dense GEMMs run on the MAC array at `dense_utilization`; softmax,
LayerNorm and element-wise ops on the vector units; each op reads and writes DRAM, except inside an
attention block (QK^T -> scale -> softmax -> SV), whose scores stay on chip (both designs keep them in SRAM).

- **Sanger** (Lu et al., MICRO 2021; artifact github hatsu3/Sanger): a 4-bit Q K^T prediction thresholds the
  attention map; the kept fraction (`attention_density`) of QK^T and SV runs on the reconfigurable
  systolic array, packed by pack-and-split at `load_balance` PE utilization. Its own latency model
  (`bench_sanger.py`): dense stages at the full PE rate, attention at rate / density x load balance,
  no prediction cost (`prediction_relative_cost` = 0 reproduces that) and no DRAM term (we add one).
- **SpAtten** (Wang, Zhang & Han, HPCA 2021; artifact github mit-han-lab/spatten): a Q x K unit and a
  prob x V unit (512 multipliers each) and softmax units, pipelined -- an attention block takes the
  time of its slowest stage (the block's time is split over its ops in proportion to their own times,
  bound "pipelined"). Cascade token pruning keeps `token_keep_per_attention_layer` of the tokens after
  each attention layer, for every later op (attention, projections, FFN, LayerNorm, the sequence FFT);
  head pruning keeps `head_keep` of the heads in attention; progressive quantization fetches K / V at
  `kv_fetch_bits` and re-fetches `lsb_bits` for `lsb_refetch_fraction` of them. Linear layers use both
  multiplier units (SpAtten's own models cover attention only: assumption).

`utilization` = executed MACs / (MACs x cycles); `executed_flops` per op (OpCost) is what the machine ran.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from typing import Any

from swallowtail.arch.accelerators import SangerArch, SpAttenArch, _PublishedAccel
from swallowtail.arch.specs import BITS_PER_BYTE, ArchSpec, load_arch
from swallowtail.baselines._common import (
    BUTTERFLY_MAPPINGS,
    GemmShape,
    OpCost,
    block_equivalent,
    build_result,
    check_node_nm,
    dense_equivalent,
    dft_equivalent,
    dram_j_per_byte,
    gemm_form,
    gemm_shape,
    logic_energy_factor,
    options_to_overrides,
    peak_arch,
    resolve_peak,
)
from swallowtail.errors import SpecError, check_choice
from swallowtail.flops import FLOPS_PER_FMA
from swallowtail.result import Result
from swallowtail.workload import FFT, GEMM, Butterfly, Elementwise, LayerNorm, Op, Softmax, Workload

#: the node published energies are scaled to by default: the dataflow array's (df-4x4-simd8, 12 nm, MLX)
DEFAULT_NODE_NM = 12
#: op-name suffixes of the lowering (`swallowtail.workload.lower`) the pruning model keys on
SEQ_FFT_SUFFIX = "fft_seq"


def _ceil_frac(x: int, f: float) -> int:
    """ceil(x * f), at least 1."""
    return max(1, math.ceil(x * f - 1e-9))


def _attention_group(ops: tuple[Op, ...], i: int) -> int:
    """If ops[i] starts an attention block (activation x activation GEMM, element-wise / softmax ops, then
    another activation x activation GEMM), the index one past its end; else i."""
    op = ops[i]
    if not (isinstance(op, GEMM) and not op.b_is_weight):
        return i
    j = i + 1
    while j < len(ops) and isinstance(ops[j], Elementwise | Softmax):
        j += 1
    if j < len(ops) and isinstance(ops[j], GEMM) and not ops[j].b_is_weight:  # type: ignore[union-attr]
        return j + 1
    return i


class _ScaledAccelBackend(ABC):
    """What Sanger and SpAtten share: peak scaling, energy per op, dense GEMMs, vector ops, DRAM."""

    KIND: type[_PublishedAccel] = _PublishedAccel
    DEFAULT_ARCH = ""
    NAME = ""

    def __init__(
        self,
        arch: ArchSpec | str | None = None,
        peak_ops_per_s: float | None = None,
        same_peak_as: ArchSpec | str | None = None,
        butterfly_mapping: str = "dense",
        node_nm: float | None = None,
        **options: Any,
    ) -> None:
        a = load_arch(self.DEFAULT_ARCH if arch is None else arch)
        if not isinstance(a, self.KIND):
            raise SpecError(
                "arch", a.name, f"a {self.NAME} spec (kind: {self.NAME}), e.g. {self.DEFAULT_ARCH}"
            )
        dram_override = options.pop("dram_gbytes_per_s", None)
        taken = ("peak_ops_per_s", "same_peak_as", "butterfly_mapping", "node_nm")
        a, _ = options_to_overrides(self.NAME, a, options, taken=taken)
        assert isinstance(a, self.KIND)
        self.arch = a
        self.name = self.NAME
        self.butterfly_mapping = check_choice("butterfly_mapping", butterfly_mapping, BUTTERFLY_MAPPINGS)
        target = resolve_peak(peak_ops_per_s, same_peak_as)
        self.scale = 1.0 if target is None else target / a.peak_ops_per_s
        self.macs_per_cycle = a.macs_per_cycle * self.scale
        self.vector_per_cycle = a.vector_elems_per_cycle * self.scale
        if dram_override is not None:
            self.dram_bytes_per_s = a.with_overrides({"dram_gbytes_per_s": dram_override}).dram_bytes_per_s
        else:
            self.dram_bytes_per_s = a.dram_bytes_per_s * self.scale
        if node_nm is None:
            node_nm = peak_arch(same_peak_as).tech_node_nm if same_peak_as is not None else DEFAULT_NODE_NM
        self.node_nm = check_node_nm("node_nm", node_nm, "energy is scaled to it")
        self.node_factor = logic_energy_factor(a.tech_node_nm, node_nm, a.energy_table)
        self.j_per_op = a.reported_j_per_op * self.node_factor
        self.dram_j = dram_j_per_byte(a.energy_table)

    # ---- derived ------------------------------------------------------------------------------------
    @property
    def clock_hz(self) -> float:
        return self.arch.clock_hz

    @property
    def peak_ops_per_s(self) -> float:
        return self.macs_per_cycle * FLOPS_PER_FMA * self.clock_hz

    @property
    def full_load_w(self) -> float:
        return self.j_per_op * self.peak_ops_per_s

    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.dram_bytes_per_s / self.clock_hz

    # ---- costs ----------------------------------------------------------------------------------------
    def _cost(
        self, op: Op, compute_cycles: float, dram: int, executed_flops: float, macs: float, bound: str
    ) -> OpCost:
        mem = dram / self.dram_bytes_per_cycle
        cycles = max(1, math.ceil(max(compute_cycles, mem) - 1e-9))
        seconds = cycles / self.clock_hz
        return OpCost(
            op=op,
            latency_s=seconds,
            bound=bound if compute_cycles >= mem else "dram",
            cycles=cycles,
            utilization=macs / (self.macs_per_cycle * cycles),
            bytes={"dram": dram},
            stalls={"dram": math.ceil(mem - compute_cycles)} if mem > compute_cycles else {},
            executed_flops=executed_flops,
            energy_parts={
                "core": executed_flops * self.j_per_op,
                "leakage": self.arch.leakage_fraction * self.full_load_w * seconds,
                "dram": dram * self.dram_j,
            },
        )

    def _shapes_cycles(self, shapes: list[GemmShape], elem_bytes: int, rate: float) -> tuple[float, int, int]:
        """(cycles, DRAM bytes, MACs) of GEMMs run one after another, each overlapping its own DRAM traffic
        (operands and result once) with its compute."""
        cycles, dram, macs = 0.0, 0, 0
        for s in shapes:
            b = s.batch * (s.m * s.k + s.k * s.n + s.m * s.n) * elem_bytes
            cycles += max(s.macs / rate, b / self.dram_bytes_per_cycle)
            dram += b
            macs += s.macs
        return cycles, dram, macs

    def dense_gemms(self, op: Op) -> list[GemmShape]:
        """The GEMMs an op runs as on the MAC array (a butterfly / FFT by its equivalent; a block-mapped
        butterfly with the split into levels that takes the fewest cycles)."""
        if isinstance(op, GEMM):
            return [gemm_shape(op)]
        if isinstance(op, Butterfly):
            if self.butterfly_mapping == "dense":
                return [dense_equivalent(op)]
            assert op.stages is not None
            rate = self.macs_per_cycle * self.arch.dense_utilization
            options = [block_equivalent(op, t) for t in range(1, op.stages + 1)]
            return min(options, key=lambda sh: (self._shapes_cycles(sh, op.elem_bytes, rate)[0], len(sh)))
        if isinstance(op, FFT):
            return [dft_equivalent(op)]
        raise TypeError(op)

    def gemm_cost(self, op: Op, macs_per_cycle: float | None = None) -> OpCost:
        """A dense op on the MAC array (all of it by default) at `dense_utilization`. A GEMM moves its
        operands and result once; a butterfly / FFT run as GEMMs moves each equivalent GEMM's operands
        (the dense or block matrices, the DFT matrix) and result."""
        rate = (
            self.macs_per_cycle if macs_per_cycle is None else macs_per_cycle
        ) * self.arch.dense_utilization
        shapes = self.dense_gemms(op)
        cycles, dram, macs = self._shapes_cycles(shapes, op.elem_bytes, rate)
        if isinstance(op, GEMM):
            dram = op.min_bytes
            cycles = macs / rate
        return self._cost(op, cycles, dram, FLOPS_PER_FMA * macs, macs, "compute")

    def vector_cost(self, op: Op, elems: float | None = None, dram: int | None = None) -> OpCost:
        e = op.output_elems if elems is None else elems
        d = op.min_bytes if dram is None else dram
        flops = op.flops * (e / op.output_elems) if op.output_elems else 0.0
        return self._cost(op, e / self.vector_per_cycle, d, flops, 0.0, "vector")

    def op_cost(self, op: Op) -> OpCost:
        if isinstance(op, GEMM | Butterfly | FFT):
            return self.gemm_cost(op)
        return self.vector_cost(op)

    # ---- run ------------------------------------------------------------------------------------------
    @abstractmethod
    def attention_block(self, ops: list[Op]) -> list[OpCost]:
        """Costs of one attention block's ops (scores, softmax, values) with this machine's sparsity."""

    def costs(self, workload: Workload) -> list[OpCost]:
        ops = workload.ops
        out: list[OpCost] = []
        i = 0
        while i < len(ops):
            end = _attention_group(ops, i)
            if end > i:
                out.extend(self.attention_block(list(ops[i:end])))
                i = end
            else:
                out.append(self.op_cost(ops[i]))
                i += 1
        return out

    def _notes(self) -> list[str]:
        a = self.arch
        return [
            f"{self.NAME} ({a.name}): {a.macs_per_cycle} MACs at {a.clock_hz / 1e9:g} GHz published "
            f"({a.peak_ops_per_s / 1e12:.4g} TOPS, {a.tech_node_nm} nm); scaled x{self.scale:.4g} to "
            f"{self.macs_per_cycle:g} MACs = {self.peak_ops_per_s / 1e9:.4g} GOPS, vector "
            f"{self.vector_per_cycle:g} elem/cycle, DRAM {self.dram_bytes_per_s / 1e9:.4g} GB/s",
            f"energy per op: {a.reported_power_w:g} W / {a.reported_ops_per_s / 1e12:.4g} TOPS at "
            f"{a.tech_node_nm} nm x logic factor {self.node_factor:.3f} to {self.node_nm:g} nm = "
            f"{self.j_per_op * 1e12:.4g} pJ/op; leakage {a.leakage_fraction:g} x full-load "
            f"{self.full_load_w:.4g} W; DRAM {self.dram_j * 1e12:.4g} pJ/B",
            f"butterfly as {self.butterfly_mapping} GEMM (no butterfly mode); FFT as a DFT GEMM; dense GEMMs "
            f"at utilization {a.dense_utilization:g}; each op through DRAM except inside an attention block",
        ]

    def run(self, workload: Workload) -> Result:
        workload = gemm_form(workload)
        costs = self.costs(workload)
        cycles = sum(int(c.cycles or 0) for c in costs)
        macs = sum((c.utilization or 0.0) * self.macs_per_cycle * int(c.cycles or 0) for c in costs)
        executed = sum(c.executed_flops for c in costs)
        notes = self._notes() + [
            f"executed FLOPs / workload FLOPs = {executed / workload.flops if workload.flops else 0:.3f}"
        ]
        return build_result(
            backend=self.name,
            arch=self.arch.name
            if self.scale == 1.0
            else f"{self.arch.name}@{self.peak_ops_per_s / 1e9:.4g}GOPS",
            workload=workload,
            costs=costs,
            peak_ops_per_s=self.peak_ops_per_s,
            energy_breakdown_j=None,
            clock_hz=self.clock_hz,
            utilization=macs / (self.macs_per_cycle * cycles) if cycles else 0.0,
            notes=notes,
        )


class SangerBackend(_ScaledAccelBackend):
    """Sanger (MICRO 2021): predicted, packed sparse attention on a reconfigurable systolic array."""

    KIND = SangerArch
    DEFAULT_ARCH = "sanger"
    NAME = "sanger"

    def attention_block(self, ops: list[Op]) -> list[OpCost]:
        a = self.arch
        assert isinstance(a, SangerArch)
        d = a.attention_density
        out: list[OpCost] = []
        first, last = ops[0], ops[-1]
        for op in ops:
            if isinstance(op, GEMM):
                macs = op.flops / FLOPS_PER_FMA
                kept = macs * d
                cycles = kept / (self.macs_per_cycle * a.load_balance)
                pred = macs * a.prediction_relative_cost if op is first else 0.0
                cycles += pred / self.macs_per_cycle
                # only the block's external operands touch DRAM: Q, K into QK^T; V in and the output of SV
                if op is first:
                    dram = op.input_elems * op.elem_bytes
                else:
                    assert op is last
                    dram = (op.k * op.n * op.batch + op.output_elems) * op.elem_bytes
                flops = FLOPS_PER_FMA * (kept + pred)
                out.append(self._cost(op, cycles, dram, flops, kept + pred, "sparse-attention"))
            else:
                out.append(self.vector_cost(op, elems=op.output_elems * d, dram=0))
        return out

    def _notes(self) -> list[str]:
        a = self.arch
        assert isinstance(a, SangerArch)
        return super()._notes() + [
            f"attention: predicted mask keeps {a.attention_density:g} of QK^T / SV / softmax, packed at load "
            f"balance {a.load_balance:g}; prediction cost {a.prediction_relative_cost:g} dense-MAC per MAC "
            "(bench_sanger.py omits it); sparse scores stay on chip",
        ]


class SpAttenBackend(_ScaledAccelBackend):
    """SpAtten (HPCA 2021): pipelined Q x K / prob x V units, cascade token and head pruning."""

    KIND = SpAttenArch
    DEFAULT_ARCH = "spatten"
    NAME = "spatten"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        a = self.arch
        assert isinstance(a, SpAttenArch)
        self.qk_per_cycle = a.qk_multipliers * self.scale
        self.pv_per_cycle = a.pv_multipliers * self.scale

    # ---- pruning ------------------------------------------------------------------------------------
    @staticmethod
    def prune_rows(op: Op, keep: float) -> Op:
        """`op` with its token dimension cut to `keep` of the tokens (cascade token pruning)."""
        if keep >= 1.0:
            return op
        if isinstance(op, GEMM):
            return dataclasses.replace(op, m=_ceil_frac(op.m, keep))
        if isinstance(op, Butterfly):
            return dataclasses.replace(op, rows=_ceil_frac(op.rows, keep))
        if isinstance(op, FFT):
            if op.name.endswith(SEQ_FFT_SUFFIX):
                return dataclasses.replace(op, n=_ceil_frac(op.n, keep))
            return dataclasses.replace(op, rows=_ceil_frac(op.rows, keep))
        if isinstance(op, LayerNorm | Softmax):
            return dataclasses.replace(op, rows=_ceil_frac(op.rows, keep))
        if isinstance(op, Elementwise):
            return dataclasses.replace(op, numel=_ceil_frac(op.numel, keep))
        return op

    def _kv_bytes(self, elems: int) -> float:
        a = self.arch
        assert isinstance(a, SpAttenArch)
        return elems * (a.kv_fetch_bits + a.lsb_refetch_fraction * a.lsb_bits) / BITS_PER_BYTE

    def attention_block(self, ops: list[Op]) -> list[OpCost]:
        a = self.arch
        assert isinstance(a, SpAttenArch)
        keep, hk = self._keep, a.head_keep
        scores = ops[0]
        assert isinstance(scores, GEMM)
        heads, t, hs, keys = scores.batch, scores.m, scores.k, scores.n  # keys < t: causal / windowed
        h2, t2, n2 = _ceil_frac(heads, hk), _ceil_frac(t, keep), _ceil_frac(keys, keep)
        stage_cycles: list[float] = []
        drams: list[float] = []
        execs: list[float] = []
        macs_list: list[float] = []
        for op in ops:
            if isinstance(op, GEMM):
                first = op is scores
                p = dataclasses.replace(op, m=t2, k=hs if first else n2, n=n2 if first else op.n, batch=h2)
                macs = p.flops / FLOPS_PER_FMA
                rate = self.qk_per_cycle if first else self.pv_per_cycle
                stage_cycles.append(macs / rate)
                if first:  # Q and K, quantized
                    drams.append(self._kv_bytes(p.input_elems))
                else:  # V quantized in, the output out
                    drams.append(self._kv_bytes(p.k * p.n * p.batch) + p.output_elems * p.elem_bytes)
                execs.append(FLOPS_PER_FMA * macs)
                macs_list.append(macs)
            else:
                elems = h2 * t2 * n2
                stage_cycles.append(elems / self.vector_per_cycle)
                drams.append(0.0)
                execs.append(op.flops * elems / op.output_elems)
                macs_list.append(0.0)
        # pipelined: the block takes its slowest stage (softmax + scale share the softmax units)
        vec = sum(c for c, op in zip(stage_cycles, ops, strict=True) if not isinstance(op, GEMM))
        gemms = [c for c, op in zip(stage_cycles, ops, strict=True) if isinstance(op, GEMM)]
        compute = max([vec, *gemms])
        dram = sum(drams)
        block = max(compute, dram / self.dram_bytes_per_cycle)
        block_cycles = max(1, math.ceil(block - 1e-9))
        total_stage = sum(stage_cycles) or 1.0
        block_util = sum(macs_list) / (self.macs_per_cycle * block_cycles)
        out: list[OpCost] = []
        assigned = 0
        for idx, op in enumerate(ops):
            share = stage_cycles[idx] / total_stage
            cyc = block_cycles - assigned if idx == len(ops) - 1 else round(block_cycles * share)
            assigned += cyc
            seconds = cyc / self.clock_hz
            out.append(
                OpCost(
                    op=op,
                    latency_s=seconds,
                    bound="pipelined" if compute >= dram / self.dram_bytes_per_cycle else "dram",
                    cycles=cyc,
                    utilization=block_util,  # the block's: its ops share the pipelined cycles
                    bytes={"dram": round(drams[idx])},
                    executed_flops=execs[idx],
                    energy_parts={
                        "core": execs[idx] * self.j_per_op,
                        "leakage": self.arch.leakage_fraction * self.full_load_w * seconds,
                        "dram": drams[idx] * self.dram_j,
                    },
                )
            )
        return out

    def costs(self, workload: Workload) -> list[OpCost]:
        a = self.arch
        assert isinstance(a, SpAttenArch)
        ops = workload.ops
        out: list[OpCost] = []
        self._keep = 1.0
        i = 0
        while i < len(ops):
            end = _attention_group(ops, i)
            if end > i:
                out.extend(self.attention_block(list(ops[i:end])))
                # top-k after each attention layer: once after its last block (a sliding window's two parts)
                if not (
                    end < len(ops) and _attention_group(ops, end) > end and ops[end].layer == ops[i].layer
                ):
                    self._keep *= a.token_keep_per_attention_layer
                i = end
                continue
            op = ops[i]
            pruned = self.prune_rows(op, self._keep) if op.layer.startswith("layer") else op
            cost = self.op_cost(pruned)
            cost.op = op  # report under the workload's op (its FLOPs), with the pruned op's cost
            out.append(cost)
            i += 1
        return out

    def _notes(self) -> list[str]:
        a = self.arch
        assert isinstance(a, SpAttenArch)
        return super()._notes() + [
            f"cascade token pruning keeps {a.token_keep_per_attention_layer:g} of the tokens after each "
            f"attention layer (all later ops), head pruning keeps {a.head_keep:g}; K/V fetched at "
            f"{a.kv_fetch_bits} bits + {a.lsb_bits} LSBs for {a.lsb_refetch_fraction:g} of them",
            f"attention blocks pipelined over the Q x K ({self.qk_per_cycle:g}) and prob x V "
            f"({self.pv_per_cycle:g} multipliers) units and the softmax units: the slowest stage sets the "
            "time",
        ]


def make_sanger(arch: ArchSpec | str | None = None, **options: Any) -> SangerBackend:
    """Factory registered as `sanger`. Options: `peak_ops_per_s` or `same_peak_as` (scale the PE array),
    `butterfly_mapping` ("dense" | "block"), `node_nm` (energy scaling target, default 12), and any
    top-level field of the Sanger spec (`attention_density`, `load_balance`, `dram_gbytes_per_s`, ...)."""
    return SangerBackend(arch, **options)


def make_spatten(arch: ArchSpec | str | None = None, **options: Any) -> SpAttenBackend:
    """Factory registered as `spatten`. Options as `sanger`'s, with SpAtten's spec fields
    (`token_keep_per_attention_layer`, `head_keep`, `kv_fetch_bits`, ...)."""
    return SpAttenBackend(arch, **options)


__all__ = ["SangerBackend", "SpAttenBackend", "make_sanger", "make_spatten"]
