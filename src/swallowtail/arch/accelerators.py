"""Architecture kinds of the baseline accelerators (docs/architecture.md), one pydantic model each.

- `fabnet` (`FabnetArch`): the adaptable butterfly accelerator of FABNet (Fan et al., MICRO 2022) --
  butterfly engines (BE) of butterfly units (BU) with FP16 multipliers, shared by butterfly and FFT modes,
  an attention processor for the dense QK^T / SV of ABfly blocks, a post-processing unit (LayerNorm,
  softmax, shortcut adds) and an off-chip interface with separate input / coefficient / output ports; plus
  the two on-chip widths its authors' simulator (SamsungLabs/Butterfly_Acc) costs and our physical model
  does not (`serial_io_words_per_cycle`, `coef_buffer_bits_per_cycle`, used by `fidelity="reference"`).
- `sanger` (`SangerArch`): Sanger (Lu et al., MICRO 2021) -- a 64 x 16 reconfigurable systolic PE array
  running dense linear layers and, after a low-bit prediction of the attention mask, the pruned attention
  packed onto the array ("pack and split").
- `spatten` (`SpAttenArch`): SpAtten (Wang, Zhang & Han, HPCA 2021) -- a Q x K unit and a prob x V unit of
  multipliers, softmax units, a top-k engine for cascade token / head pruning and progressive quantization.
- `systolic` (`SystolicArch`): an output-stationary, TPU-like systolic array with ifmap / filter / ofmap
  SRAMs (the SCALE-Sim v3 machine model) and a vector unit for the non-GEMM ops.

The models and what they compute from these specs live in `swallowtail.baselines`; this module only says
what each machine *is*. Every preset's numeric value carries a `sources:` note ("assumption:" marks an
assumed value). Importing this module registers the kinds with `swallowtail.arch.specs`.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from swallowtail.arch.specbase import (
    Count,
    Fraction,
    LeakFraction,
    NonNegPowerW,
    PowerW,
    SpecModel,
    spec_error,
)
from swallowtail.arch.specs import (
    BITS_PER_BYTE,
    MAX_BUS_BITS,
    MAX_BYTES,
    ArchBase,
    ArraySide,
    ClockHz,
    GBytesPerS,
    register_arch_kind,
)
from swallowtail.flops import FLOPS_PER_FMA

EnergyTableName = Annotated[str, Field(min_length=1)]

# ---- physical ranges (bounds of the tool, not sources; see swallowtail.arch.specs) ----------------------
#: a number's width: at most 64 bits (8 bytes)
MAX_WORD_BITS = 64
#: the operand widths a systolic array's SRAMs and DRAM move, in bytes: the number formats a MAC array
#: computes in -- int8 / fp8, fp16 / bf16, fp32, fp64 (a 3-byte word is no format the workloads use, and
#: the array's SRAM banks are as wide as a power-of-two number of operands)
WORD_BYTES = (1, 2, 4, 8)
#: a published throughput: 1 kFLOP/s to 1 ZFLOP/s (the reported power over it is the energy per op)
MIN_OPS_PER_S, MAX_OPS_PER_S = 1e3, 1e21
#: the low-bit prediction's cost, in dense-MAC equivalents per MAC: at most 1,000
MAX_RELATIVE_COST = 1e3

WordBits = Annotated[int, Field(gt=0, le=MAX_WORD_BITS)]
PortBits = Annotated[int, Field(gt=0, le=MAX_BUS_BITS)]
Kilobytes = Annotated[int, Field(gt=0, le=MAX_BYTES // 1024)]
OpsPerS = Annotated[float, Field(ge=MIN_OPS_PER_S, le=MAX_OPS_PER_S, allow_inf_nan=False)]

#: real multiplies of a radix-2 FFT butterfly: one complex twiddle multiply
FFT_BUTTERFLY_MULTS = 4
#: FLOPs of a radix-2 FFT butterfly under the 5 n log2 n convention (`swallowtail.flops`)
FFT_BUTTERFLY_FLOPS = 10


# ---- FABNet ---------------------------------------------------------------------------------------------


class FabnetPorts(SpecModel):
    """FABNet's off-chip interface: bits per accelerator cycle on each of its three ports."""

    input_bits_per_cycle: PortBits
    coef_bits_per_cycle: PortBits
    output_bits_per_cycle: PortBits

    @property
    def total_bits_per_cycle(self) -> int:
        return self.input_bits_per_cycle + self.coef_bits_per_cycle + self.output_bits_per_cycle


@register_arch_kind
class FabnetArch(ArchBase):
    """FABNet's adaptable butterfly accelerator (FPGA): butterfly processor + attention processor + PostP."""

    kind: Literal["fabnet"] = "fabnet"
    clock_hz: ClockHz
    butterfly_engines: Count  # BEs
    units_per_engine: Count  # BUs per BE
    multipliers_per_unit: Count  # FP16 multipliers per BU
    efficiency: Fraction  # derate on the BEs' compute cycles
    word_bits: WordBits
    memory: str  # which of `memories` is attached
    memories: dict[str, FabnetPorts] = Field(min_length=1)
    attention_macs_per_cycle: Count  # attention processor (dense QK^T, SV; any GEMM)
    attention_efficiency: Fraction
    vector_elems_per_cycle: Count  # post-processing: softmax / LayerNorm / element-wise
    static_power_w: NonNegPowerW
    engine_power_w: NonNegPowerW  # per BE
    # the published simulator's cost model (`fidelity="reference"` of swallowtail.baselines.fabnet):
    serial_io_words_per_cycle: Count  # per BE, through its serial-to-parallel in / parallel-to-serial out
    coef_buffer_bits_per_cycle: PortBits  # write width of the on-chip coefficient (twiddle) buffer

    @model_validator(mode="after")
    def _check(self) -> FabnetArch:
        if self.memory not in self.memories:
            raise spec_error("memory", self.memory, f"one of {sorted(self.memories)}")
        if self.multipliers_per_unit < FFT_BUTTERFLY_MULTS:
            raise spec_error(
                "multipliers_per_unit",
                self.multipliers_per_unit,
                f">= {FFT_BUTTERFLY_MULTS} (a BU does one radix-2 butterfly per cycle)",
            )
        return self

    # ---- derived ---------------------------------------------------------------------------------------
    @property
    def ports(self) -> FabnetPorts:
        return self.memories[self.memory]

    @property
    def butterfly_units(self) -> int:
        return self.butterfly_engines * self.units_per_engine

    @property
    def butterfly_peak_ops_per_s(self) -> float:
        """FFT-mode FLOP/s of the butterfly processor: every BU one radix-2 FFT butterfly per cycle."""
        per_unit = FFT_BUTTERFLY_FLOPS * self.multipliers_per_unit / FFT_BUTTERFLY_MULTS
        return self.butterfly_units * per_unit * self.clock_hz

    @property
    def attention_peak_ops_per_s(self) -> float:
        return self.attention_macs_per_cycle * FLOPS_PER_FMA * self.clock_hz

    @property
    def peak_ops_per_s(self) -> float:
        """Butterfly processor (FFT mode) + attention processor, FLOP/s."""
        return self.butterfly_peak_ops_per_s + self.attention_peak_ops_per_s

    @property
    def dram_bytes_per_s(self) -> float:
        return self.ports.total_bits_per_cycle / BITS_PER_BYTE * self.clock_hz

    @property
    def power_w(self) -> float:
        return self.static_power_w + self.engine_power_w * self.butterfly_engines

    def derived(self) -> dict[str, float | int]:
        return {
            "peak_ops_per_s": self.peak_ops_per_s,
            "butterfly_peak_ops_per_s": self.butterfly_peak_ops_per_s,
            "attention_peak_ops_per_s": self.attention_peak_ops_per_s,
            "butterfly_units": self.butterfly_units,
            "dram_bytes_per_s": self.dram_bytes_per_s,
            "power_w": self.power_w,
        }


# ---- attention accelerators (scaled to a peak by the baseline models) ----------------------------------


class _PublishedAccel(ArchBase):
    """What Sanger and SpAtten share: a clock, a published power / throughput pair (energy per op), DRAM,
    a vector unit for softmax / LayerNorm / element-wise ops, and a leakage fraction."""

    UNSOURCED_FIELDS: ClassVar[tuple[str, ...]] = ("sources",)
    #: fields that describe the published design but do not enter the cost model (operands are costed at
    #: the workload's dtype): not backend options, so an override cannot look as if it did something
    DESCRIPTIVE_FIELDS: ClassVar[tuple[str, ...]] = ("word_bits",)

    clock_hz: ClockHz
    word_bits: WordBits  # the datapath width of the published design (descriptive)
    dram_gbytes_per_s: GBytesPerS
    vector_elems_per_cycle: Count
    dense_utilization: Fraction  # of the MAC array on dense GEMMs (linear layers)
    reported_power_w: PowerW
    reported_ops_per_s: OpsPerS  # the throughput the reported power goes with (energy per op)
    leakage_fraction: LeakFraction
    energy_table: EnergyTableName = "horowitz-45nm"  # its logic scaling curve and DRAM energy

    @property
    @abstractmethod
    def macs_per_cycle(self) -> int:
        """Multiply-accumulates the machine's array completes per cycle."""

    @property
    def peak_ops_per_s(self) -> float:
        return self.macs_per_cycle * FLOPS_PER_FMA * self.clock_hz

    @property
    def dram_bytes_per_s(self) -> float:
        return self.dram_gbytes_per_s * 1e9

    @property
    def reported_j_per_op(self) -> float:
        return self.reported_power_w / self.reported_ops_per_s

    def derived(self) -> dict[str, float | int]:
        return {
            "macs_per_cycle": self.macs_per_cycle,
            "peak_ops_per_s": self.peak_ops_per_s,
            "dram_bytes_per_s": self.dram_bytes_per_s,
            "reported_j_per_op": self.reported_j_per_op,
        }


@register_arch_kind
class SangerArch(_PublishedAccel):
    """Sanger: a pe_rows x pe_cols reconfigurable systolic array; dense linear layers at the PE rate, the
    attention after a low-bit mask prediction, pruned to `attention_density`, packed at `load_balance`."""

    kind: Literal["sanger"] = "sanger"
    pe_rows: ArraySide
    pe_cols: ArraySide
    attention_density: Fraction  # fraction of attention scores kept by the predicted mask
    load_balance: Fraction  # PE utilization of the packed sparse attention
    # low-bit Q K^T prediction, in dense-MAC equivalents per MAC
    prediction_relative_cost: Annotated[float, Field(ge=0, le=MAX_RELATIVE_COST, allow_inf_nan=False)]

    @property
    def macs_per_cycle(self) -> int:
        return self.pe_rows * self.pe_cols


@register_arch_kind
class SpAttenArch(_PublishedAccel):
    """SpAtten: a Q x K unit and a prob x V unit of multipliers, pipelined; cascade token / head pruning."""

    kind: Literal["spatten"] = "spatten"
    qk_multipliers: Count
    pv_multipliers: Count
    token_keep_per_attention_layer: Fraction  # tokens surviving each attention layer's top-k (cascade)
    head_keep: Fraction  # heads surviving head pruning
    kv_fetch_bits: WordBits  # MSBs fetched first by progressive quantization
    lsb_refetch_fraction: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
    lsb_bits: WordBits

    @model_validator(mode="after")
    def _check(self) -> SpAttenArch:
        # the MSBs fetched first and the LSBs fetched again are parts of one word (8 + 4 of 12 bits)
        if self.kv_fetch_bits + self.lsb_bits > self.word_bits:
            raise spec_error(
                "kv_fetch_bits + lsb_bits",
                self.kv_fetch_bits + self.lsb_bits,
                f"at most word_bits = {self.word_bits} (the MSBs fetched first, {self.kv_fetch_bits} bits, "
                f"and the LSBs fetched again, {self.lsb_bits}, are parts of one word)",
            )
        return self

    @property
    def macs_per_cycle(self) -> int:
        return self.qk_multipliers + self.pv_multipliers


# ---- systolic array ------------------------------------------------------------------------------------


@register_arch_kind
class SystolicArch(ArchBase):
    """An output-stationary systolic array (TPU-like; the SCALE-Sim v3 machine model)."""

    kind: Literal["systolic"] = "systolic"
    clock_hz: ClockHz
    rows: ArraySide
    cols: ArraySide
    dataflow: Literal["os"] = "os"
    word_bytes: int  # one of WORD_BYTES (checked by _check)
    ifmap_sram_kb: Kilobytes
    filter_sram_kb: Kilobytes
    ofmap_sram_kb: Kilobytes
    dram_gbytes_per_s: GBytesPerS
    vector_lanes: Count  # non-GEMM ops (softmax, LayerNorm, element-wise): FLOPs per cycle
    energy_table: EnergyTableName = "horowitz-45nm"
    leakage_fraction: LeakFraction

    @model_validator(mode="after")
    def _check(self) -> SystolicArch:
        if self.word_bytes not in WORD_BYTES:
            raise spec_error(
                "word_bytes",
                self.word_bytes,
                f"one of {list(WORD_BYTES)}: the bytes of an operand (int8 / fp8, fp16 / bf16, fp32, fp64)",
            )
        return self

    @property
    def n_pes(self) -> int:
        return self.rows * self.cols

    @property
    def peak_ops_per_s(self) -> float:
        return self.n_pes * FLOPS_PER_FMA * self.clock_hz

    @property
    def dram_bytes_per_s(self) -> float:
        return self.dram_gbytes_per_s * 1e9

    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.dram_bytes_per_s / self.clock_hz

    def derived(self) -> dict[str, float | int]:
        return {
            "n_pes": self.n_pes,
            "peak_ops_per_s": self.peak_ops_per_s,
            "peak_gops": self.peak_ops_per_s / 1e9,
            "dram_bytes_per_s": self.dram_bytes_per_s,
            "dram_bytes_per_cycle": self.dram_bytes_per_cycle,
        }


__all__ = ["FabnetArch", "FabnetPorts", "SangerArch", "SpAttenArch", "SystolicArch"]
