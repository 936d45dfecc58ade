"""Energy tables: per-action energies with sources, technology scaling, and the full-load power of an array.

The Accelergy idea: energy = sum over actions of (action count x energy per action) + leakage x time.
A table (YAML, shipped in `swallowtail/energy/tables/`, or the user's own file) holds, at a reference node:

- `actions`: energy per FMA / add / special-function lane op, per issued vector instruction (control),
  per NoC byte-hop, per DRAM byte; each names the scaling class it follows (`logic`, `sram`, `wire`, or
  `none`: DRAM energy does not scale with the logic node);
- `sram`: SRAM read energy per access as a function of capacity (Horowitz's 8 KB / 32 KB / 1 MB points,
  log-log interpolated). Register files, the SPM (per bank) and the instruction buffer are costed from it
  at their own capacities, so a bigger RF or SPM bank costs more per access;
- `scaling`: energy factor vs the reference node for each class (logic and memory scale separately);
- `leakage_fraction`: leakage as a fraction of each on-chip component's full-load dynamic power;
- `area`: per-component area, to sanity-check against MLX's per-PE breakdown (not used for energy).

Sources (the notes in each table's `sources:` say which value comes from where):
Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014 (45 nm energies and areas);
Stillmaker & Baas, "Scaling equations for the accurate prediction of CMOS device performance from 180 nm
to 7 nm", Integration 58 (2017) (logic energy factors); Chen et al., "Eyeriss", ISCA 2016 (relative costs
RF : NoC : global buffer : DRAM = 1 : 2 : 6 : 200); MLX (ISCA 2026) for the reference powers that
`full_load_power` is compared against (SIMD8 4x4 array 0.41 W + memory 0.11 W at 12 nm).

API: `load_energy_table(name_or_path) -> EnergyTable`; `EnergyTable.scaled_to(node_nm)`;
`EnergyTable.for_arch(arch) -> ActionEnergies` (joules per action for that array at its node);
`full_load_power(arch) -> dict[str, float]` (W by component) and `full_load_report(arch)` (with the
statement of what "full load" means and the comparison to MLX).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, model_validator

from swallowtail.arch.specbase import (
    LeakFraction,
    SourcedSpec,
    SpecModel,
    read_yaml_file,
    spec_error,
    validate_model,
)
from swallowtail.arch.specs import (
    MAX_BYTES,
    MAX_TECH_NODE_NM,
    PE_DTYPE_BYTES,
    ArchSpec,
    DataflowArch,
    load_arch,
    wrong_kind,
)
from swallowtail.errors import SpecError, check_choice
from swallowtail.yamlio import is_file

#: where the shipped tables live
TABLE_DIR = Path(__file__).parent / "tables"
YAML_SUFFIXES = (".yaml", ".yml")

#: actions every table must define
REQUIRED_ACTIONS = ("fma", "add", "special", "control", "noc", "dram")
#: the scaling class that never scales (factor 1 at every node)
NO_SCALING = "none"

#: MLX (ISCA 2026) full-load powers at 12 nm, by (rows, cols, simd_lanes): array (core) and memory, in W
MLX_FULL_LOAD_W: dict[tuple[int, int, int], dict[str, float]] = {
    (4, 4, 8): {"array_w": 0.41, "memory_w": 0.11},  # MLX power table, reduced SIMD8 configuration
    (4, 4, 32): {"array_w": 5.85, "memory_w": 0.6},  # MLX power table, full SIMD32 configuration
}
#: MLX's technology node for those powers
MLX_NODE_NM = 12

# ---- physical ranges (bounds of the tool, not sources): past them a value is a typo, and the energies of a
# network's billions of actions overflow ------------------------------------------------------------------
#: energy of one action: 1e-18 J (an attojoule, near the Landauer limit) to 1e-6 J (a microjoule)
MIN_ACTION_J, MAX_ACTION_J = 1e-18, 1e-6
#: scaling factors, write / read ratios, cell-area factors: at most 1,000
MAX_FACTOR = 1e3
#: an area per lane of at most 1,000 mm^2 and per byte of at most 1 mm^2
MAX_AREA_MM2, MAX_AREA_MM2_PER_BYTE = 1e3, 1.0
#: an SRAM access or an instruction word of at most 2^16 bytes
MAX_WORD_BYTES = 2**16

EnergyJ = Annotated[float, Field(ge=MIN_ACTION_J, le=MAX_ACTION_J, allow_inf_nan=False)]
Factor = Annotated[float, Field(gt=0, le=MAX_FACTOR, allow_inf_nan=False)]
AreaMm2 = Annotated[float, Field(gt=0, le=MAX_AREA_MM2, allow_inf_nan=False)]
NodeNm = Annotated[int, Field(gt=0, le=MAX_TECH_NODE_NM)]
WordBytes = Annotated[int, Field(gt=0, le=MAX_WORD_BYTES)]


# ---- the table model ------------------------------------------------------------------------------


class ActionEnergy(SpecModel):
    """Energy of one action at the table's reference node."""

    energy_j: EnergyJ
    per: Annotated[str, Field(min_length=1)]  # what one action is ("lane op", "byte-hop", ...)
    scales_as: Annotated[str, Field(min_length=1)]  # a class of `scaling`, or "none"


class SRAMPoint(SpecModel):
    capacity_bytes: Annotated[int, Field(gt=0, le=MAX_BYTES)]
    read_j: EnergyJ  # per access of `access_bytes`


class SRAMModel(SpecModel):
    """SRAM read energy per access vs capacity (log-log interpolated between points)."""

    access_bytes: WordBytes
    points: list[SRAMPoint] = Field(min_length=1)
    write_to_read: Factor = 1.0
    scales_as: Annotated[str, Field(min_length=1)] = "sram"

    @model_validator(mode="after")
    def _increasing(self) -> SRAMModel:
        caps = [p.capacity_bytes for p in self.points]
        if caps != sorted(set(caps)):
            raise spec_error("points", caps, "capacities in strictly increasing order")
        es = [p.read_j for p in self.points]
        if es != sorted(es):
            raise spec_error("points", es, "read energies that do not decrease with capacity")
        return self

    def read_j(self, capacity_bytes: float) -> float:
        """Energy of one access at `capacity_bytes` (log-log; outside the points: the nearest segment)."""
        pts = self.points
        if len(pts) == 1:
            return pts[0].read_j
        x = math.log(capacity_bytes)
        i = 0
        while i < len(pts) - 2 and capacity_bytes > pts[i + 1].capacity_bytes:
            i += 1
        a, b = pts[i], pts[i + 1]
        xa, xb = math.log(a.capacity_bytes), math.log(b.capacity_bytes)
        ya, yb = math.log(a.read_j), math.log(b.read_j)
        return math.exp(ya + (yb - ya) * (x - xa) / (xb - xa))

    def read_j_per_byte(self, capacity_bytes: float) -> float:
        return self.read_j(capacity_bytes) / self.access_bytes


class ScalePoint(SpecModel):
    node_nm: NodeNm
    factor: Factor


ScaleCurve = Annotated[list[ScalePoint], Field(min_length=1)]


def _check_curve(name: str, curve: list[ScalePoint], reference_node_nm: int) -> None:
    nodes = [p.node_nm for p in curve]
    if len(set(nodes)) != len(nodes):
        raise spec_error(name, nodes, "distinct nodes")
    ref = [p for p in curve if p.node_nm == reference_node_nm]
    if not ref or not math.isclose(ref[0].factor, 1.0):
        raise spec_error(
            name, nodes, f"a point {{node_nm: {reference_node_nm}, factor: 1.0}} at the reference node"
        )


def curve_factor(curve: list[ScalePoint], node_nm: float, what: str = "tech_node_nm") -> float:
    """Factor at `node_nm`: log-log interpolation between the curve's points; outside them: an error."""
    pts = sorted(curve, key=lambda p: p.node_nm)
    lo, hi = pts[0].node_nm, pts[-1].node_nm
    if not lo <= node_nm <= hi:
        raise SpecError(what, node_nm, f"a node between {lo} and {hi} nm (the table's scaling points)")
    for a, b in zip(pts, pts[1:], strict=False):
        if a.node_nm <= node_nm <= b.node_nm:
            if node_nm == a.node_nm:
                return a.factor
            t = (math.log(node_nm) - math.log(a.node_nm)) / (math.log(b.node_nm) - math.log(a.node_nm))
            return math.exp(math.log(a.factor) + t * (math.log(b.factor) - math.log(a.factor)))
    return pts[-1].factor


class AreaModel(SpecModel):
    """Areas at the reference node (mm^2), scaled by `scaling`; for sanity checks, not energy."""

    fma_lane_mm2: AreaMm2
    add_lane_mm2: AreaMm2
    special_lane_mm2: AreaMm2
    sram_mm2_per_byte: Annotated[float, Field(gt=0, le=MAX_AREA_MM2_PER_BYTE, allow_inf_nan=False)]
    rf_cell_factor: Factor
    scaling: ScaleCurve


class EnergyTable(SourcedSpec):
    """Per-action energies at `reference_node_nm`, their scaling, leakage and areas."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    description: str = ""
    reference_node_nm: NodeNm
    actions: dict[str, ActionEnergy]
    sram: SRAMModel
    instruction_bytes: WordBytes
    scaling: dict[str, ScaleCurve]
    leakage_fraction: LeakFraction
    area: AreaModel

    @model_validator(mode="after")
    def _check(self) -> EnergyTable:
        missing = [a for a in REQUIRED_ACTIONS if a not in self.actions]
        if missing:
            raise spec_error(
                "actions", sorted(self.actions), f"a mapping with at least {list(REQUIRED_ACTIONS)}"
            )
        classes = sorted(self.scaling) + [NO_SCALING]
        for name, act in self.actions.items():
            if act.scales_as not in classes:
                raise spec_error(f"actions.{name}.scales_as", act.scales_as, f"one of {classes}")
        if self.sram.scales_as not in classes:
            raise spec_error("sram.scales_as", self.sram.scales_as, f"one of {classes}")
        if NO_SCALING in self.scaling:
            raise spec_error(f"scaling.{NO_SCALING}", NO_SCALING, "not a class name ('none' never scales)")
        for cls_name, curve in self.scaling.items():
            _check_curve(f"scaling.{cls_name}", curve, self.reference_node_nm)
        _check_curve("area.scaling", self.area.scaling, self.reference_node_nm)
        return self

    # ---- scaling ----------------------------------------------------------------------------------
    def factor(self, scales_as: str, node_nm: float) -> float:
        """Energy factor of class `scales_as` at `node_nm`, relative to the reference node."""
        if scales_as == NO_SCALING:
            return 1.0
        return curve_factor(self.scaling[scales_as], node_nm)

    def action_j(self, action: str, node_nm: float | None = None) -> float:
        """Energy of one `action` at `node_nm` (default: the reference node)."""
        check_choice("action", action, sorted(self.actions))
        a = self.actions[action]
        return a.energy_j * (1.0 if node_nm is None else self.factor(a.scales_as, node_nm))

    def sram_read_j_per_byte(self, capacity_bytes: float, node_nm: float | None = None) -> float:
        f = 1.0 if node_nm is None else self.factor(self.sram.scales_as, node_nm)
        return self.sram.read_j_per_byte(capacity_bytes) * f

    def scaled_to(self, node_nm: int) -> EnergyTable:
        """The same table with every energy and area at `node_nm` (which becomes the reference node)."""
        if node_nm == self.reference_node_nm:
            return self
        d = self.to_dict()
        for name, act in self.actions.items():
            d["actions"][name]["energy_j"] = act.energy_j * self.factor(act.scales_as, node_nm)
        f_sram = self.factor(self.sram.scales_as, node_nm)
        for p in d["sram"]["points"]:
            p["read_j"] *= f_sram
        f_area = curve_factor(self.area.scaling, node_nm)
        for k in ("fma_lane_mm2", "add_lane_mm2", "special_lane_mm2", "sram_mm2_per_byte"):
            d["area"][k] *= f_area
        d["scaling"] = {c: _renormalised(curve, node_nm) for c, curve in self.scaling.items()}
        d["area"]["scaling"] = _renormalised(self.area.scaling, node_nm)
        d["reference_node_nm"] = node_nm
        d["name"] = f"{self.name}-at-{node_nm}nm"
        note = f" (scaled from {self.reference_node_nm} nm to {node_nm} nm)"
        d["sources"] = {k: v + note for k, v in self.sources.items()}
        return validate_model(EnergyTable, d, source=d["name"])

    # ---- per-array energies -----------------------------------------------------------------------
    def for_arch(self, arch: ArchSpec | str, load: FullLoad | None = None) -> ActionEnergies:
        """Joules per action for `arch` at its node (RF / SPM / instruction buffer at their capacities)."""
        a = _dataflow(arch)
        node = a.tech_node_nm
        instr_j = self.action_j("control", node) + self.instruction_bytes * self.sram_read_j_per_byte(
            a.pe.instruction_buffer * self.instruction_bytes, node
        )
        rf_read = self.sram_read_j_per_byte(a.rf_bytes_per_pe, node)
        spm_read = self.sram_read_j_per_byte(a.spm.size_bytes / a.spm.banks, node)
        e = ActionEnergies(
            table=self.name,
            arch=a.name,
            node_nm=node,
            fma_j=self.action_j("fma", node),
            add_j=self.action_j("add", node),
            special_j=self.action_j("special", node),
            instruction_j=instr_j,
            rf_read_j_per_byte=rf_read,
            rf_write_j_per_byte=rf_read * self.sram.write_to_read,
            noc_j_per_byte_hop=self.action_j("noc", node),
            spm_read_j_per_byte=spm_read,
            spm_write_j_per_byte=spm_read * self.sram.write_to_read,
            dram_j_per_byte=self.action_j("dram", node),
        )
        dyn = _full_load_dynamic_w(a, e, load or FullLoad())
        leak = {c: self.leakage_fraction * dyn[c] for c in ON_CHIP_COMPONENTS}
        return ActionEnergies(**{**e.__dict__, "leakage_w": leak})

    def area_mm2(self, arch: ArchSpec | str) -> dict[str, float]:
        """Per-component area (mm^2) of `arch` at its node: per PE and for the whole array."""
        a = _dataflow(arch)
        f = curve_factor(self.area.scaling, a.tech_node_nm)
        ar = self.area
        lanes = a.pe.simd_lanes
        fu = lanes * (ar.fma_lane_mm2 + ar.add_lane_mm2 + ar.special_lane_mm2) * f
        rf = a.rf_bytes_per_pe * ar.sram_mm2_per_byte * ar.rf_cell_factor * f
        return {
            "pe_fu_mm2": fu,
            "pe_rf_mm2": rf,
            "pe_modelled_mm2": fu + rf,
            "array_modelled_mm2": a.n_pes * (fu + rf),
            "spm_mm2": a.spm.size_bytes * ar.sram_mm2_per_byte * f,
        }


def _renormalised(curve: list[ScalePoint], node_nm: int) -> list[dict[str, Any]]:
    f0 = curve_factor(curve, node_nm)
    pts = {p.node_nm: p.factor / f0 for p in curve}
    pts[node_nm] = 1.0
    return [{"node_nm": n, "factor": f} for n, f in sorted(pts.items(), reverse=True)]


def _dataflow(arch: ArchSpec | str) -> DataflowArch:
    a = load_arch(arch) if not isinstance(arch, DataflowArch) else arch
    if not isinstance(a, DataflowArch):
        raise wrong_kind(arch, a, "a dataflow array (energy tables cost the array's actions)")
    return a


# ---- concrete energies for one array -----------------------------------------------------------------

#: on-chip components that leak (DRAM's background power is not modelled)
ON_CHIP_COMPONENTS = ("fu", "rf", "noc", "spm", "control")
#: components of the full-load breakdown, in display order
COMPONENTS = ("fu", "rf", "noc", "control", "spm", "dram", "leakage")
#: which components belong to the array (PEs + NoC) and to the on-chip memory, as MLX splits its powers
ARRAY_COMPONENTS = ("fu", "rf", "noc", "control")
MEMORY_COMPONENTS = ("spm",)


@dataclass(frozen=True)
class ActionEnergies:
    """Joules per action for one array at its node (what a simulator multiplies its action counts by)."""

    table: str
    arch: str
    node_nm: int
    fma_j: float  # per lane FMA
    add_j: float  # per lane add / mul
    special_j: float  # per lane special-function op
    instruction_j: float  # per issued vector instruction: control + instruction-buffer read
    rf_read_j_per_byte: float
    rf_write_j_per_byte: float
    noc_j_per_byte_hop: float
    spm_read_j_per_byte: float
    spm_write_j_per_byte: float
    dram_j_per_byte: float
    leakage_w: dict[str, float] = field(default_factory=dict)  # by on-chip component

    #: action-count names `cost` accepts -> the attribute with their energy
    ACTION_FIELDS = {
        "fma_lane_ops": "fma_j",
        "add_lane_ops": "add_j",
        "special_lane_ops": "special_j",
        "instructions": "instruction_j",
        "rf_read_bytes": "rf_read_j_per_byte",
        "rf_write_bytes": "rf_write_j_per_byte",
        "noc_byte_hops": "noc_j_per_byte_hop",
        "spm_read_bytes": "spm_read_j_per_byte",
        "spm_write_bytes": "spm_write_j_per_byte",
        "dram_bytes": "dram_j_per_byte",
    }

    @property
    def leakage_total_w(self) -> float:
        return sum(self.leakage_w.values())

    def cost(self, counts: Mapping[str, float]) -> dict[str, float]:
        """Joules by action for action `counts` (keys from `ACTION_FIELDS`)."""
        out: dict[str, float] = {}
        for k, n in counts.items():
            attr = self.ACTION_FIELDS.get(k)
            if attr is None:
                raise SpecError("action", k, f"one of {sorted(self.ACTION_FIELDS)}")
            out[k] = n * getattr(self, attr)
        return out

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# ---- full load -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FullLoad:
    """What "full FMA load" means (every field an assumption you can change).

    Per PE per cycle: `fma_per_pe_cycle` FMA vector instructions (every lane issues an FMA every cycle),
    each reading `operand_reads` vectors from the RF and writing `result_writes`; each PE sends
    `noc_links_per_pe` links' worth of bytes `noc_hops` hops (a butterfly stage with remote partners
    moves exactly one link's bandwidth per PE), read from the sender's RF and written to the
    receiver's. The SPM runs at `spm_utilization` of its bandwidth, `spm_read_fraction` reads, exchanged
    with the PEs' RFs (loads write the RF, stores read it). DRAM runs at `dram_utilization` of the DMA
    bandwidth, costed at the DRAM energy only. Every transfer and load / store is a vector instruction
    too (one per SIMD vector moved) and pays the per-instruction (control) energy.
    """

    fma_per_pe_cycle: float = 1.0
    operand_reads: int = 3
    result_writes: int = 1
    noc_links_per_pe: float = 1.0
    noc_hops: float = 1.0
    spm_utilization: float = 1.0
    spm_read_fraction: float = 0.5
    dram_utilization: float = 1.0

    @classmethod
    def fma_only(cls) -> FullLoad:
        """Only the arithmetic: every lane an FMA every cycle with its RF operands, no NoC / SPM / DRAM
        traffic -- the literal "full FMA load" the reconstructed array is compared with MLX at."""
        return cls(noc_links_per_pe=0.0, spm_utilization=0.0, dram_utilization=0.0)

    def statement(self, arch: DataflowArch) -> str:
        vec = arch.pe.simd_lanes * PE_DTYPE_BYTES[arch.pe.dtype]
        noc = self.noc_links_per_pe * arch.noc.link_bytes_per_cycle
        spm = self.spm_utilization * arch.spm.bytes_per_cycle
        return (
            f"full FMA load: every one of the {arch.peak_lane_ops_per_cycle} lanes issues an FMA every cycle "
            f"({self.operand_reads} operand reads + {self.result_writes} write of {vec} B vectors per PE "
            f"from the RF); each PE sends {noc:g} B/cycle {self.noc_hops:g} hop (RF to RF); SPM at {spm:g} "
            f"B/cycle ({self.spm_read_fraction:.0%} reads) to / from the RFs; DRAM at "
            f"{self.dram_utilization * arch.dram_bytes_per_cycle:g} B/cycle; every transfer / load / store "
            "of one vector is an issued instruction; leakage = the table's fraction of dynamic power"
        )


def full_load_counts(arch: DataflowArch, load: FullLoad) -> dict[str, float]:
    """Action counts per cycle (whole array) at full load."""
    n = arch.n_pes
    vec = arch.pe.simd_lanes * PE_DTYPE_BYTES[arch.pe.dtype]
    noc_bytes_pe = load.noc_links_per_pe * arch.noc.link_bytes_per_cycle
    spm_bytes = load.spm_utilization * arch.spm.bytes_per_cycle
    spm_read = spm_bytes * load.spm_read_fraction
    spm_write = spm_bytes - spm_read
    fma_instr = load.fma_per_pe_cycle * n
    return {
        "fma_lane_ops": fma_instr * arch.pe.simd_lanes,
        "instructions": fma_instr + n * noc_bytes_pe / vec + spm_bytes / vec,
        "rf_read_bytes": fma_instr * load.operand_reads * vec + n * noc_bytes_pe + spm_write,
        "rf_write_bytes": fma_instr * load.result_writes * vec + n * noc_bytes_pe + spm_read,
        "noc_byte_hops": n * noc_bytes_pe * load.noc_hops,
        "spm_read_bytes": spm_read,
        "spm_write_bytes": spm_write,
        "dram_bytes": load.dram_utilization * arch.dram_bytes_per_cycle,
    }


#: which component each action's energy belongs to
ACTION_COMPONENT = {
    "fma_lane_ops": "fu",
    "add_lane_ops": "fu",
    "special_lane_ops": "fu",
    "instructions": "control",
    "rf_read_bytes": "rf",
    "rf_write_bytes": "rf",
    "noc_byte_hops": "noc",
    "spm_read_bytes": "spm",
    "spm_write_bytes": "spm",
    "dram_bytes": "dram",
}


@dataclass(frozen=True)
class EnergyEstimate:
    """A run's energy: action counts x per-action energy (`dynamic_j`, by component) + leakage x latency."""

    breakdown_j: dict[str, float]  # by component (ACTION_COMPONENT), leakage included
    dynamic_j: float
    leakage_w: float
    note: str

    @property
    def total_j(self) -> float:
        return sum(self.breakdown_j.values())


def estimate(arch: DataflowArch, actions: Mapping[str, float], latency_s: float) -> EnergyEstimate:
    """Energy of a run on `arch` with these action counts (keys from `ActionEnergies.ACTION_FIELDS`; any
    other key is an error, never costed at 0 J) over `latency_s` seconds."""
    e = load_energy_table(arch.energy_table).for_arch(arch)
    by_comp: dict[str, float] = {}
    for k, j in e.cost(actions).items():
        comp = ACTION_COMPONENT[k]
        by_comp[comp] = by_comp.get(comp, 0.0) + j
    dynamic = sum(by_comp.values())
    by_comp["leakage"] = e.leakage_total_w * latency_s
    note = (
        f"energy: {e.table} at {e.node_nm} nm: action counts x per-action energy + leakage "
        f"{e.leakage_total_w:.3g} W x latency (FMA / FMS lane ops at the table's FMA energy, the other "
        "multiplies, adds and compares at its add / mul energy, EXP / RECIP / RSQRT / TANH at its special "
        "energy)"
    )
    return EnergyEstimate(by_comp, dynamic, e.leakage_total_w, note)


def _full_load_dynamic_w(arch: DataflowArch, e: ActionEnergies, load: FullLoad) -> dict[str, float]:
    out = {c: 0.0 for c in ("fu", "rf", "noc", "control", "spm", "dram")}
    for action, joules in e.cost(full_load_counts(arch, load)).items():
        out[ACTION_COMPONENT[action]] += joules * arch.clock_hz
    return out


@dataclass(frozen=True)
class FullLoadReport:
    """Full-load power of an array by component, grouped as MLX reports it, with the comparison."""

    arch: str
    table: str
    node_nm: int
    statement: str
    components_w: dict[str, float]  # fu, rf, noc, control, spm, dram, leakage
    leakage_w: dict[str, float]  # by on-chip component
    array_w: float  # PEs + NoC (+ their leakage): what MLX's "array" power covers
    fma_only_array_w: float  # the same under FullLoad.fma_only(): the arithmetic and its operands alone
    memory_w: float  # SPM (+ its leakage): MLX's "memory"
    dram_w: float  # off chip, not in either MLX number
    reference: dict[str, float] | None  # MLX's array_w / memory_w for this geometry at 12 nm
    per_pe_w: dict[str, float]

    @property
    def array_vs_reference(self) -> float | None:
        """array_w / MLX array power - 1 (e.g. +0.25 = 25% above), or None without a reference."""
        if not self.reference:
            return None
        return self.array_w / self.reference["array_w"] - 1.0

    @property
    def fma_only_vs_reference(self) -> float | None:
        """fma_only_array_w / MLX array power - 1, or None without a reference."""
        if not self.reference:
            return None
        return self.fma_only_array_w / self.reference["array_w"] - 1.0

    @property
    def memory_vs_reference(self) -> float | None:
        if not self.reference:
            return None
        return self.memory_w / self.reference["memory_w"] - 1.0

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["array_vs_reference"] = self.array_vs_reference
        d["fma_only_vs_reference"] = self.fma_only_vs_reference
        d["memory_vs_reference"] = self.memory_vs_reference
        return d


def full_load_report(
    arch: ArchSpec | str, table: EnergyTable | str | None = None, load: FullLoad | None = None
) -> FullLoadReport:
    """Power at full FMA load (see `FullLoad`), by component, compared with MLX where it reports one."""
    a = _dataflow(arch)
    t = load_energy_table(a.energy_table if table is None else table)
    ld = load or FullLoad()
    e = t.for_arch(a, ld)
    dyn = _full_load_dynamic_w(a, e, ld)
    comps = {c: dyn[c] for c in ("fu", "rf", "noc", "control", "spm", "dram")}
    comps["leakage"] = e.leakage_total_w
    array_w = sum(dyn[c] + e.leakage_w.get(c, 0.0) for c in ARRAY_COMPONENTS)
    fma_load = FullLoad.fma_only()
    e_fma = t.for_arch(a, fma_load)
    dyn_fma = _full_load_dynamic_w(a, e_fma, fma_load)
    fma_only_array_w = sum(dyn_fma[c] + e_fma.leakage_w.get(c, 0.0) for c in ARRAY_COMPONENTS)
    memory_w = sum(dyn[c] + e.leakage_w.get(c, 0.0) for c in MEMORY_COMPONENTS)
    ref = None
    if a.tech_node_nm == MLX_NODE_NM:
        ref = MLX_FULL_LOAD_W.get((a.array.rows, a.array.cols, a.pe.simd_lanes))
    per_pe = {c: (dyn[c] + e.leakage_w.get(c, 0.0)) / a.n_pes for c in ARRAY_COMPONENTS}
    return FullLoadReport(
        arch=a.name,
        table=t.name,
        node_nm=a.tech_node_nm,
        statement=ld.statement(a),
        components_w=comps,
        leakage_w=dict(e.leakage_w),
        array_w=array_w,
        fma_only_array_w=fma_only_array_w,
        memory_w=memory_w,
        dram_w=dyn["dram"],
        reference=dict(ref) if ref else None,
        per_pe_w=per_pe,
    )


def full_load_power(
    arch: ArchSpec | str, table: EnergyTable | str | None = None, load: FullLoad | None = None
) -> dict[str, float]:
    """W by component at full FMA load: fu, rf, noc, control, spm, dram, leakage (see `FullLoad`)."""
    return dict(full_load_report(arch, table, load).components_w)


# ---- loading -----------------------------------------------------------------------------------------


def list_energy_tables() -> list[str]:
    return sorted(p.stem for p in TABLE_DIR.iterdir() if p.suffix in YAML_SUFFIXES)


def parse_energy_table(data: Any, source: str | None = None) -> EnergyTable:
    return validate_model(EnergyTable, data, source)


def load_energy_table(name_or_path: str | Path | EnergyTable) -> EnergyTable:
    """A shipped table by name (`list_energy_tables()`), or a table from a YAML file path."""
    if isinstance(name_or_path, EnergyTable):
        return name_or_path
    s = str(name_or_path)
    if isinstance(name_or_path, Path) or s.endswith(YAML_SUFFIXES) or "/" in s:
        return parse_energy_table(read_yaml_file(Path(s)), source=s)
    shipped = TABLE_DIR / f"{s}.yaml"
    if is_file(shipped):  # False, not an OSError, for a name too long to look up
        return parse_energy_table(read_yaml_file(shipped), source=f"energy table {s}")
    raise SpecError("energy_table", s, f"one of {list_energy_tables()} or a path to a YAML file")
