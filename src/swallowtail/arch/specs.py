"""Architecture specs: *on what* a workload runs (the Timeloop split: workload / architecture / mapping).

Kinds of architecture, each one pydantic model, found by its `kind` key:

- `dataflow` (`DataflowArch`): the reconfigurable dataflow array of arXiv 2411.00734 as reconstructed in
  docs/architecture.md -- a 2-D array of SIMD PEs (tagged instruction buffer, FUs, register file), a mesh or
  skip-hop NoC, a banked scratchpad (SPM) and DMA channels to DRAM.
- `gpu` (`GPUArch`): a GPU such as the Jetson Xavier NX baseline (SMs, CUDA / tensor cores, power modes).

A new kind (e.g. an accelerator baseline) is one new model class: subclass `ArchBase`, give it a
`kind: Literal["name"] = "name"` field and the `peak_ops_per_s` / `dram_bytes_per_s` properties, and
decorate it with `@register_arch_kind`. `ArchSpec` is the common base, so `isinstance(x, ArchSpec)` holds
for every kind and `parse_arch` / `load_arch` dispatch on `kind`.

Specs are YAML files (presets ship in `swallowtail/arch/presets/`). Every numeric value of a shipped
preset carries a note in the spec's `sources:` mapping (dotted field path -> note; `assumption: ...` marks
an assumed value). Validation is strict: unknown keys, wrong types (a float where an integer belongs),
impossible values (zero lanes, a NoC hop longer than the array) are `SpecError`s naming the field.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeAlias

from pydantic import Field, field_validator, model_validator

from swallowtail.arch.specbase import (
    Count,
    NonNegCount,
    PowerW,
    Problem,
    SourcedSpec,
    SpecModel,
    SpecProblems,
    apply_overrides,
    read_yaml_file,
    spec_error,
    validate_model,
)
from swallowtail.atomicio import write_text_atomic
from swallowtail.errors import SpecError, check_choice
from swallowtail.flops import FLOPS_PER_FMA
from swallowtail.yamlio import is_file

#: where the shipped presets live
PRESET_DIR = Path(__file__).parent / "presets"
#: GPU boards: one file per board, loaded as `<board>-<mode>` for each of its power modes
GPU_BOARD_DIR = PRESET_DIR / "gpu"
#: file suffixes read as spec files
YAML_SUFFIXES = (".yaml", ".yml")

#: FUs every PE must have: multiply-accumulate, add, special function (exp, rsqrt, tanh, divide)
REQUIRED_FUS = ("fma", "add", "special")
#: FMA vector instructions a PE issues per cycle at most (peak and utilization are defined per one)
FMA_ISSUE_PER_CYCLE = 1
#: default energy table of a dataflow array
DEFAULT_ENERGY_TABLE = "horowitz-45nm"


# ---- physical ranges: a value outside them is a typo, not a design (bounds of the tool, not sources) ------
#: a clock from 1 MHz to 20 GHz (no CMOS logic clocks faster; nothing useful runs slower)
MIN_CLOCK_HZ, MAX_CLOCK_HZ = 1e6, 2e10
#: at most 256 PEs along a side (65,536 PEs: the simulators' tables are sized per PE)
MAX_ARRAY_SIDE = 256
#: at most 4,096 SIMD lanes per PE
MAX_SIMD_LANES = 4096
#: on-chip memories up to 1 TiB, bandwidths up to 1 MiB per cycle per port, 1 MB/s to 1 PB/s off chip (a
#: slower channel is a typo, and its transfers take more than 2^63 cycles)
MAX_BYTES = 2**40
MAX_BYTES_PER_CYCLE = 2**20
MIN_GBYTES_PER_S, MAX_GBYTES_PER_S = 1e-3, 1e6
#: a technology node from 1 nm to 1 um
MAX_TECH_NODE_NM = 1000
#: an FU's latency and initiation interval, a NoC hop: at most 1,024 cycles (FP units take a few to tens;
#: the compiler skews its streams by the latency, element by element)
MAX_FU_CYCLES = 1024
#: a DMA transfer's latency: at most 2^20 cycles (DRAM takes hundreds)
MAX_DMA_LATENCY_CYCLES = 2**20
#: at most 1,024 DMA channels (the simulators keep a free time per channel)
MAX_DMA_CHANNELS = 1024
#: register-file entries and bytes per entry, instruction-buffer slots, tags in flight: at most 2^16
MAX_ENTRIES = 2**16
#: register-file ports and issue slots of an FU class per PE per cycle: at most 64
MAX_PORTS = 64
#: a GPU's per-SM rates (FLOPs, special-function results, L2 bytes per clock per SM): 1e-3 to 2^20
MIN_PER_CLOCK, MAX_PER_CLOCK = 1e-3, 2**20
#: a DRAM bus of at most 2^16 bits, at most 16 transfers per clock
MAX_BUS_BITS = 2**16
MAX_TRANSFERS_PER_CLOCK = 16
#: the GPU architectures a board's `generation` may name (a software stack's kernels differ by it)
GPU_GENERATIONS = ("maxwell", "pascal", "volta", "turing", "ampere", "ada", "hopper", "blackwell")

ClockHz = Annotated[float, Field(ge=MIN_CLOCK_HZ, le=MAX_CLOCK_HZ, allow_inf_nan=False)]
ArraySide = Annotated[int, Field(gt=0, le=MAX_ARRAY_SIDE)]
Bytes = Annotated[int, Field(gt=0, le=MAX_BYTES)]
BytesPerCycle = Annotated[int, Field(gt=0, le=MAX_BYTES_PER_CYCLE)]
GBytesPerS = Annotated[float, Field(ge=MIN_GBYTES_PER_S, le=MAX_GBYTES_PER_S, allow_inf_nan=False)]
FUCycles = Annotated[int, Field(gt=0, le=MAX_FU_CYCLES)]
Entries = Annotated[int, Field(gt=0, le=MAX_ENTRIES)]
Ports = Annotated[int, Field(gt=0, le=MAX_PORTS)]
PerClock = Annotated[float, Field(ge=MIN_PER_CLOCK, le=MAX_PER_CLOCK, allow_inf_nan=False)]
GPUGeneration = Literal[GPU_GENERATIONS]
TransfersPerClock = Annotated[int, Field(gt=0, le=MAX_TRANSFERS_PER_CLOCK)]
#: a spec's name: at most 128 characters (it becomes part of file names: a sweep's store, outputs)
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
#: a GPU power mode's key: part of the preset name `<board>-<mode>` and of source keys
#: `power_modes.<mode>.<field>`, so no dots
ModeName = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]


# ---- the dataflow array ------------------------------------------------------------------------------


class FUSpec(SpecModel):
    """One functional-unit class of a PE (vector: every lane runs the op)."""

    latency: FUCycles  # cycles from issue to result
    issue_per_cycle: Ports = 1  # vector instructions of this class a PE can issue per cycle
    ops_per_lane: Ports  # FLOPs per lane op: fma 2, add 1, special 1
    initiation_interval: FUCycles = 1  # cycles between issues on one unit (1 = fully pipelined)


class RFSpec(SpecModel):
    """A PE's register file."""

    entries: Entries
    bytes_per_entry: Entries
    read_ports: Ports
    write_ports: Ports


class PESpec(SpecModel):
    """A processing element: SIMD lanes, FUs, register file, tagged instruction buffer."""

    simd_lanes: Annotated[int, Field(gt=0, le=MAX_SIMD_LANES)]
    dtype: Literal["fp16"] = "fp16"
    fus: dict[str, FUSpec]
    register_file: RFSpec
    instruction_buffer: Entries  # instructions held by the PE's tagged instruction buffer
    active_tags: Entries  # loop-iteration tags in flight at once (dataflow firing)

    @model_validator(mode="after")
    def _check_fus(self) -> PESpec:
        missing = [f for f in REQUIRED_FUS if f not in self.fus]
        if missing:
            raise spec_error("fus", sorted(self.fus), f"a mapping with at least the FUs {list(REQUIRED_FUS)}")
        unknown = [f for f in self.fus if f not in REQUIRED_FUS]
        if unknown:  # no op runs on another FU class, but its latency would still set the pipeline depth
            raise spec_error(f"fus.{unknown[0]}", unknown[0], f"an FU class of {list(REQUIRED_FUS)}")
        fma = self.fus["fma"]
        if fma.ops_per_lane != FLOPS_PER_FMA:
            raise spec_error(
                "fus.fma.ops_per_lane",
                fma.ops_per_lane,
                f"{FLOPS_PER_FMA} (an FMA counts 2 FLOPs everywhere)",
            )
        if fma.issue_per_cycle != FMA_ISSUE_PER_CYCLE:
            raise spec_error(
                "fus.fma.issue_per_cycle",
                fma.issue_per_cycle,
                f"{FMA_ISSUE_PER_CYCLE} (peak and utilization count one FMA vector issue per PE per cycle; "
                "model a wider PE with more simd_lanes)",
            )
        return self

    @property
    def rf_bytes(self) -> int:
        return self.register_file.entries * self.register_file.bytes_per_entry


#: bytes per element of each dtype a PE may compute in (the workload's op dtypes: workload.ops.DTYPE_BYTES)
PE_DTYPE_BYTES = {"fp16": 2}


class ArrayGeom(SpecModel):
    """The PE array's shape: `rows` x `cols` PEs."""

    rows: ArraySide
    cols: ArraySide


class NoCSpec(SpecModel):
    """The on-chip network between PEs.

    `hops` are the distances one link spans, the same set along X and along Y: `[1]` is a plain mesh,
    `[1, 2]` a skip-hop mesh (links to the +-1 and +-2 neighbours).
    """

    topology: Literal["mesh", "skip-hop"]
    hops: list[ArraySide] = Field(min_length=1)
    link_bytes_per_cycle: BytesPerCycle  # per link, per direction
    hop_latency: FUCycles  # cycles per hop

    @model_validator(mode="after")
    def _check_hops(self) -> NoCSpec:
        hops = self.hops
        if hops != sorted(set(hops)):
            raise spec_error("hops", hops, "distinct distances in increasing order, e.g. [1, 2]")
        if hops[0] != 1:
            raise spec_error("hops", hops, "a set that contains 1 (every mesh links nearest neighbours)")
        if self.topology == "mesh" and hops != [1]:
            raise spec_error(
                "hops", hops, "[1] for topology 'mesh' (use topology 'skip-hop' for longer hops)"
            )
        if self.topology == "skip-hop" and len(hops) < 2:
            raise spec_error(
                "hops", hops, "at least one hop > 1 for topology 'skip-hop' (else it is a 'mesh')"
            )
        return self


class SPMSpec(SpecModel):
    """The shared scratchpad memory."""

    size_bytes: Bytes
    banks: Count
    bytes_per_cycle: BytesPerCycle  # all banks together

    @model_validator(mode="after")
    def _check_banks(self) -> SPMSpec:
        if self.size_bytes % self.banks:
            raise spec_error("size_bytes", self.size_bytes, f"a multiple of banks = {self.banks}")
        return self


class DMASpec(SpecModel):
    """DMA channels between DRAM and the SPM."""

    channels: Annotated[int, Field(gt=0, le=MAX_DMA_CHANNELS)]
    gbytes_per_s_per_channel: GBytesPerS  # 1 GB = 1e9 bytes
    latency_cycles: Annotated[int, Field(ge=0, le=MAX_DMA_LATENCY_CYCLES)]


# ---- the common base and the registry of kinds --------------------------------------------------------


class ArchBase(SourcedSpec):
    """What every architecture kind has. Subclasses add `kind: Literal[...]` and the two properties."""

    UNSOURCED_FIELDS: ClassVar[tuple[str, ...]] = ("sources",)

    kind: str
    name: Name
    description: str = ""
    tech_node_nm: Annotated[int, Field(gt=0, le=MAX_TECH_NODE_NM)]

    @property
    @abstractmethod
    def peak_ops_per_s(self) -> float:
        """FLOP/s at the machine's peak (an FMA counts 2)."""

    @property
    @abstractmethod
    def dram_bytes_per_s(self) -> float:
        """Off-chip bandwidth, bytes per second."""

    def derived(self) -> dict[str, float | int]:
        """Derived quantities, for `arch show` and reports."""
        return {"peak_ops_per_s": self.peak_ops_per_s, "dram_bytes_per_s": self.dram_bytes_per_s}

    def with_overrides(self, overrides: Mapping[str, Any]) -> ArchSpec:
        """A re-validated copy with dotted-path overrides (`{"pe.simd_lanes": 32}`), for sweeps."""
        return parse_arch(apply_overrides(self.to_dict(), overrides))


#: ArchSpec: any architecture kind (the base class of all of them)
ArchSpec: TypeAlias = ArchBase

ARCH_KINDS: dict[str, type[ArchBase]] = {}


def register_arch_kind(cls: type[ArchBase]) -> type[ArchBase]:
    """Class decorator: make `cls` loadable by its `kind` (its `kind` field's default)."""
    kind = cls.model_fields["kind"].default
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"{cls.__name__} needs a `kind: Literal['...'] = '...'` field")
    ARCH_KINDS[kind] = cls
    return cls


@register_arch_kind
class DataflowArch(ArchBase):
    """The reconfigurable dataflow array (docs/architecture.md)."""

    kind: Literal["dataflow"] = "dataflow"
    clock_hz: ClockHz
    array: ArrayGeom
    pe: PESpec
    noc: NoCSpec
    spm: SPMSpec
    dma: DMASpec
    energy_table: Annotated[str, Field(min_length=1)] = DEFAULT_ENERGY_TABLE

    @model_validator(mode="after")
    def _check_hops_fit(self) -> DataflowArch:
        span = max(self.array.rows, self.array.cols)
        too_long = [h for h in self.noc.hops if h > 1 and h >= span]
        if too_long:
            raise spec_error(
                "noc.hops",
                self.noc.hops,
                f"hops > 1 shorter than the array's wider side ({span} PEs: at most {span - 1})",
            )
        return self

    # ---- derived ------------------------------------------------------------------------------------
    @property
    def n_pes(self) -> int:
        return self.array.rows * self.array.cols

    @property
    def peak_lane_ops_per_cycle(self) -> int:
        """Lane-instruction issue slots per cycle on the compute FUs (the denominator of utilization)."""
        return self.n_pes * self.pe.simd_lanes

    @property
    def peak_ops_per_s(self) -> float:
        """FLOP/s with every lane issuing an FMA every cycle."""
        return self.n_pes * self.pe.simd_lanes * self.pe.fus["fma"].ops_per_lane * self.clock_hz

    @property
    def dram_bytes_per_s(self) -> float:
        return self.dma.channels * self.dma.gbytes_per_s_per_channel * 1e9

    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.dram_bytes_per_s / self.clock_hz

    @property
    def spm_bytes_per_s(self) -> float:
        return self.spm.bytes_per_cycle * self.clock_hz

    @property
    def rf_bytes_per_pe(self) -> int:
        return self.pe.rf_bytes

    @property
    def on_chip_bytes(self) -> int:
        """SPM + every PE's register file."""
        return self.spm.size_bytes + self.n_pes * self.rf_bytes_per_pe

    def derived(self) -> dict[str, float | int]:
        return {
            "n_pes": self.n_pes,
            "peak_ops_per_s": self.peak_ops_per_s,
            "peak_gops": self.peak_ops_per_s / 1e9,
            "peak_lane_ops_per_cycle": self.peak_lane_ops_per_cycle,
            "dram_bytes_per_s": self.dram_bytes_per_s,
            "dram_bytes_per_cycle": self.dram_bytes_per_cycle,
            "spm_bytes_per_s": self.spm_bytes_per_s,
            "rf_bytes_per_pe": self.rf_bytes_per_pe,
            "on_chip_bytes": self.on_chip_bytes,
            "ops_per_dram_byte_balance": self.peak_ops_per_s / self.dram_bytes_per_s,
        }


class PowerMode(SpecModel):
    """One GPU power mode (an nvpmodel mode of a Jetson): its clocks and power."""

    gpu_clock_hz: ClockHz  # the mode's maximum GPU clock
    emc_clock_hz: ClockHz  # the mode's maximum memory-controller (DRAM I/O) clock
    board_power_w: PowerW  # the mode's power budget
    measured_power_w: PowerW | None = None  # measured under load, where published
    cpu_clock_hz: ClockHz | None = (
        None  # the mode's maximum host CPU clock, where known (a harness's host time)
    )
    cpu_cores: Count | None = None  # host CPU cores the mode keeps online, where known


#: DRAM transfers per EMC clock (LPDDR4x / LPDDR5 are double data rate)
DDR_TRANSFERS_PER_CLOCK = 2
BITS_PER_BYTE = 8


@register_arch_kind
class GPUArch(ArchBase):
    """A GPU board described by its units, per-SM rates and power modes.

    A shipped board (`presets/gpu/<board>.yaml`) is loaded as `<board>-<mode>` (e.g. `xavier-nx-20w`): the
    board's spec with that mode as its default. Peaks and bandwidth are derived, never typed in twice:
    peak of a unit = `flops_per_clk_per_sm[unit]` x `sms` x the mode's GPU clock; DRAM bandwidth = the
    mode's EMC clock x `dram_transfers_per_clock` x `dram_bus_bits` / 8.
    """

    kind: Literal["gpu"] = "gpu"
    board: Name
    generation: GPUGeneration  # the GPU architecture (volta, ampere, ...): a stack's kernels differ by it
    sms: Count
    cuda_cores: Count
    tensor_cores: NonNegCount
    flops_per_clk_per_sm: dict[str, PerClock] = Field(min_length=1)  # per "dtype_unit" (an FMA counts 2)
    sfu_ops_per_clk_per_sm: PerClock  # special-function results (exp, rsqrt, tanh) per clock per SM
    l2_bytes_per_clk: PerClock  # L2 -> SM operand bandwidth of the whole GPU per GPU clock
    dram_bus_bits: Annotated[int, Field(gt=0, le=MAX_BUS_BITS)]
    dram_transfers_per_clock: TransfersPerClock = DDR_TRANSFERS_PER_CLOCK
    power_modes: dict[ModeName, PowerMode] = Field(min_length=1)
    default_mode: ModeName

    #: the unit `peak_ops_per_s` reports
    PEAK_UNIT: ClassVar[str] = "fp16_tensor"
    PEAK_UNIT_NO_TENSOR: ClassVar[str] = "fp16_cuda"

    @field_validator("flops_per_clk_per_sm")
    @classmethod
    def _peak_keys(cls, v: dict[str, float]) -> dict[str, float]:
        for k in v:
            if "_" not in k:
                raise spec_error(k, k, "a key '<dtype>_<unit>', e.g. 'fp16_tensor' or 'fp16_cuda'")
        return v

    @model_validator(mode="after")
    def _check(self) -> GPUArch:
        if self.default_mode not in self.power_modes:
            raise spec_error("default_mode", self.default_mode, f"one of {sorted(self.power_modes)}")
        if self.cuda_cores % self.sms:
            raise spec_error("cuda_cores", self.cuda_cores, f"a multiple of sms = {self.sms}")
        if self.tensor_cores % self.sms:
            raise spec_error("tensor_cores", self.tensor_cores, f"a multiple of sms = {self.sms}")
        unit = self.PEAK_UNIT if self.tensor_cores else self.PEAK_UNIT_NO_TENSOR
        if unit not in self.flops_per_clk_per_sm:
            raise spec_error(
                "flops_per_clk_per_sm", sorted(self.flops_per_clk_per_sm), f"a mapping with the key '{unit}'"
            )
        tensor_units = sorted(k for k in self.flops_per_clk_per_sm if k.endswith("_tensor"))
        if not self.tensor_cores and tensor_units:
            raise spec_error(
                f"flops_per_clk_per_sm.{tensor_units[0]}",
                self.flops_per_clk_per_sm[tensor_units[0]],
                "absent: tensor_cores is 0, so the GPU has no tensor-core rates",
            )
        expected = f"{self.board}-{self.default_mode}"
        if self.name != expected:
            raise spec_error(
                "name",
                self.name,
                f"'{expected}': a GPU spec is named <board>-<default_mode> (another mode of a "
                f"shipped board loads as {self.board}-<mode>)",
            )
        return self

    # ---- modes -----------------------------------------------------------------------------------------
    def at_mode(self, mode: str) -> GPUArch:
        """The same board with `mode` as its default, named `<board>-<mode>`."""
        if not isinstance(mode, str) or mode not in self.power_modes:
            raise SpecError("power_mode", mode, f"one of {sorted(self.power_modes)} of {self.board}")
        return self.model_copy(update={"default_mode": mode, "name": f"{self.board}-{mode}"})

    def _mode(self, mode: str | None) -> PowerMode:
        m = self.default_mode if mode is None else mode
        check_choice("mode", m, sorted(self.power_modes))
        return self.power_modes[m]

    @property
    def mode(self) -> PowerMode:
        return self.power_modes[self.default_mode]

    @property
    def clock_hz(self) -> float:
        return self.mode.gpu_clock_hz

    # ---- derived rates -----------------------------------------------------------------------------------
    def peak_flops_at(self, unit: str, mode: str | None = None) -> float:
        """Peak FLOP/s of `unit` in power mode `mode` (the default mode if None)."""
        check_choice("unit", unit, sorted(self.flops_per_clk_per_sm))
        return self.flops_per_clk_per_sm[unit] * self.sms * self._mode(mode).gpu_clock_hz

    @property
    def peak_flops(self) -> dict[str, float]:
        """Peak FLOP/s of every unit at the default mode."""
        return {u: self.peak_flops_at(u) for u in self.flops_per_clk_per_sm}

    @property
    def peak_ops_per_s(self) -> float:
        """FP16 tensor-core FLOP/s at the default mode (CUDA-core FP16 if there are no tensor cores)."""
        return self.peak_flops_at(self.PEAK_UNIT if self.tensor_cores else self.PEAK_UNIT_NO_TENSOR)

    def dram_bytes_per_s_at(self, mode: str | None = None) -> float:
        """DRAM bandwidth in mode `mode`: EMC clock x transfers per clock x bus width."""
        return (
            self._mode(mode).emc_clock_hz * self.dram_transfers_per_clock * self.dram_bus_bits / BITS_PER_BYTE
        )

    @property
    def dram_bytes_per_s(self) -> float:
        return self.dram_bytes_per_s_at()

    def power_w(self, mode: str | None = None) -> float:
        """Power under load: measured where published, else the mode's budget."""
        m = self._mode(mode)
        return m.measured_power_w if m.measured_power_w is not None else m.board_power_w

    def derived(self) -> dict[str, float | int]:
        return {
            "peak_ops_per_s": self.peak_ops_per_s,
            "peak_gops": self.peak_ops_per_s / 1e9,
            **{f"peak_{u}": v for u, v in self.peak_flops.items()},
            "dram_bytes_per_s": self.dram_bytes_per_s,
            "clock_hz": self.clock_hz,
            "board_power_w": self.mode.board_power_w,
            "ops_per_dram_byte_balance": self.peak_ops_per_s / self.dram_bytes_per_s,
            **({"cpu_clock_hz": self.mode.cpu_clock_hz} if self.mode.cpu_clock_hz is not None else {}),
            **({"cpu_cores": self.mode.cpu_cores} if self.mode.cpu_cores is not None else {}),
        }


# ---- loading ------------------------------------------------------------------------------------------


def _gpu_board_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(GPU_BOARD_DIR.iterdir()) if p.suffix in YAML_SUFFIXES}


def _gpu_board(board: str) -> GPUArch:
    spec = parse_arch(read_yaml_file(_gpu_board_files()[board]), source=f"GPU board {board}")
    if not isinstance(spec, GPUArch) or spec.board != board:
        raise SpecError(
            f"GPU board {board}", getattr(spec, "board", spec.kind), f"a gpu spec with board: {board}"
        )
    return spec


def list_gpu_presets() -> list[str]:
    """`<board>-<mode>` for every shipped GPU board and each of its power modes."""
    return sorted(f"{b}-{m}" for b in _gpu_board_files() for m in _gpu_board(b).power_modes)


def list_archs() -> list[str]:
    """Names of the shipped presets (GPU boards as `<board>-<mode>`)."""
    files = [p.stem for p in PRESET_DIR.iterdir() if p.suffix in YAML_SUFFIXES]
    return sorted(files + list_gpu_presets())


def _load_gpu_preset(name: str) -> GPUArch | None:
    """`<board>-<mode>` (or a bare board name: its default mode), or None if no board matches."""
    for board in _gpu_board_files():
        if name == board:
            spec = _gpu_board(board)
            return spec.at_mode(spec.default_mode)
        if name.startswith(board + "-"):
            spec = _gpu_board(board)
            mode = name[len(board) + 1 :]
            if mode in spec.power_modes:
                return spec.at_mode(mode)
    return None


def parse_arch(data: Any, source: str | None = None) -> ArchSpec:
    """Validate a mapping (e.g. parsed YAML) into the model of its `kind`."""
    if not isinstance(data, Mapping):
        raise SpecProblems([Problem("(top level)", data, "a mapping of fields")], source)
    kinds = sorted(ARCH_KINDS)
    if "kind" not in data:
        raise SpecProblems([Problem("kind", None, f"one of {kinds}", kind="missing")], source)
    kind = data["kind"]
    if not isinstance(kind, str) or kind not in ARCH_KINDS:
        raise SpecProblems([Problem("kind", kind, f"one of {kinds}")], source)
    return validate_model(ARCH_KINDS[kind], data, source)


def _looks_like_path(name: str) -> bool:
    return name.endswith(YAML_SUFFIXES) or "/" in name or "\\" in name


def wrong_kind(given: object, arch: ArchSpec, allowed: str) -> SpecError:
    """The error for an arch of the wrong kind: names what the user gave (a preset name or a YAML path, not
    the spec's own name inside it) and the kind it is."""
    shown = str(given) if isinstance(given, str | Path) else arch.name
    return SpecError("arch", shown, f"{allowed} ({shown} is a {arch.kind} spec)")


def _beside(data: Any, path: Path) -> Any:
    """The spec with a relative `energy_table` YAML path read from the spec file's folder (as an include is)
    where the table is there; otherwise as written (a table name, or a path from the current folder)."""
    table = data.get("energy_table") if isinstance(data, dict) else None
    if isinstance(table, str) and table.endswith((".yaml", ".yml")) and not Path(table).is_absolute():
        beside = path.parent / table
        if is_file(beside):
            return {**data, "energy_table": str(beside)}
    return data


def load_arch(name_or_path: str | Path | ArchSpec) -> ArchSpec:
    """A preset by name (`list_archs()`), or a spec from a YAML file path. An ArchSpec passes through."""
    if isinstance(name_or_path, ArchBase):
        return name_or_path
    if isinstance(name_or_path, Path) or _looks_like_path(str(name_or_path)):
        path = Path(name_or_path)
        return parse_arch(_beside(read_yaml_file(path), path), source=str(path))
    name = str(name_or_path)
    preset = PRESET_DIR / f"{name}.yaml"
    if is_file(preset):
        return parse_arch(read_yaml_file(preset), source=f"preset {name}")
    gpu = _load_gpu_preset(name)
    if gpu is not None:
        return gpu
    if is_file(name):
        return parse_arch(_beside(read_yaml_file(Path(name)), Path(name)), source=name)
    raise SpecError("arch", name, f"one of the presets {list_archs()} or a path to a YAML file")


def dump_arch(arch: ArchSpec, path: str | Path | None = None) -> str:
    """YAML text of a spec (written to `path` if given); `load_arch(path)` reads back an equal spec."""
    text = arch.to_yaml()
    if path is not None:
        write_text_atomic(path, text)
    return text


__all__ = [
    "ARCH_KINDS",
    "ArchBase",
    "ArrayGeom",
    "ArchSpec",
    "DMASpec",
    "DataflowArch",
    "FUSpec",
    "GPUArch",
    "NoCSpec",
    "PESpec",
    "PowerMode",
    "RFSpec",
    "SPMSpec",
    "dump_arch",
    "list_archs",
    "list_gpu_presets",
    "load_arch",
    "parse_arch",
    "register_arch_kind",
]
