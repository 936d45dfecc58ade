"""Shared pieces of the baseline models.

- `OpCost` and `build_result`: every model costs the workload op by op (sequentially: per-op latencies add
  up to the total) and turns the list into the one `Result` type, with traffic, stalls and energy summed.
- `options_to_overrides`: backend options that name a top-level field of the architecture spec override
  the preset (re-validated, so a bad value is a `SpecError` naming the field); anything else unknown is a
  `SpecError` listing what is allowed.
- GEMM equivalents of the ops a GEMM engine has no unit for: a butterfly as its dense n x n matrix
  (`dense_equivalent`) or as block-diagonal GEMMs of `2^s`-point blocks (`block_equivalent`: s consecutive
  butterfly stages multiply to a block-diagonal matrix of 2^s x 2^s blocks -- the Monarch view), and an FFT
  as a DFT matrix product (`dft_equivalent`; FNet's TPU implementation computes the DFT by matrix
  multiplication, Lee-Thorp et al. 2021).
- `logic_energy_factor`: Stillmaker & Baas logic energy scaling between nodes, from the energy table's
  `logic` curve (docs/architecture.md: 28 nm 0.51, 22 nm 0.29, 12 nm 0.13 of 45), extrapolated past its ends
  with the slope of the nearest segment (assumption: e.g. 55 nm and 65 nm follow the 45 -> 28 nm power law).
- `resolve_peak`: the target peak of a same-peak accelerator, given as a number or as an architecture.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swallowtail.arch.accelerators import MAX_OPS_PER_S, MIN_OPS_PER_S
from swallowtail.arch.specs import MAX_TECH_NODE_NM, ArchBase, ArchSpec, load_arch
from swallowtail.energy.tables import load_energy_table
from swallowtail.errors import SpecError, is_real
from swallowtail.flops import FLOPS_PER_FMA
from swallowtail.result import OpResult, Result
from swallowtail.workload import FFT, Butterfly, Op, Workload, check_workload, expand_structured

#: a complex number is two reals
COMPLEX_FACTOR = 2
#: the energy table whose logic scaling curve and DRAM energy the accelerator models use by default
DEFAULT_ENERGY_TABLE = "horowitz-45nm"
#: butterfly mappings a GEMM engine can use
BUTTERFLY_MAPPINGS = ("dense", "block")


# ---- per-op costs -> Result -----------------------------------------------------------------------------


@dataclass
class OpCost:
    """What one op cost on a baseline. `executed_flops`: the FLOPs the machine actually ran for it (more
    than `op.flops` for a butterfly run as a dense GEMM, fewer for pruned attention)."""

    op: Op
    latency_s: float
    bound: str
    cycles: int | None = None
    utilization: float | None = None
    bytes: dict[str, int] = field(default_factory=dict)
    energy_j: float | None = None
    stalls: dict[str, int] = field(default_factory=dict)
    executed_flops: float = 0.0
    energy_parts: dict[str, float] = field(default_factory=dict)  # by component; energy_j = their sum

    def __post_init__(self) -> None:
        if self.energy_parts and self.energy_j is None:
            self.energy_j = math.fsum(self.energy_parts.values())

    def to_op_result(self) -> OpResult:
        return OpResult(
            name=self.op.name,
            kind=self.op.kind,
            flops=self.op.flops,
            latency_s=self.latency_s,
            cycles=self.cycles,
            utilization=self.utilization,
            bytes=dict(self.bytes),
            energy_j=self.energy_j,
            bound=self.bound,
        )


def _sum_dicts(dicts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + int(v)
    return out


def build_result(
    *,
    backend: str,
    arch: str,
    workload: Workload,
    costs: list[OpCost],
    peak_ops_per_s: float,
    energy_breakdown_j: dict[str, float] | None,
    clock_hz: float | None,
    utilization: float | None,
    notes: list[str],
) -> Result:
    """A Result from per-op costs of a sequential model: latency = the sum of the op latencies.
    `energy_breakdown_j=None`: the sum of the ops' `energy_parts` by component."""
    latency = math.fsum(c.latency_s for c in costs)
    if energy_breakdown_j is None:
        parts: dict[str, list[float]] = {}
        for c in costs:
            for k, v in c.energy_parts.items():
                parts.setdefault(k, []).append(v)
        energy_breakdown_j = {k: math.fsum(v) for k, v in parts.items()}
    cycles = None
    if costs and all(c.cycles is not None for c in costs):
        cycles = sum(int(c.cycles) for c in costs)  # type: ignore[arg-type]
    elif clock_hz:
        cycles = round(latency * clock_hz)
    return Result(
        backend=backend,
        arch=arch,
        workload=workload.name,
        latency_s=latency,
        energy_j=math.fsum(energy_breakdown_j.values()),
        useful_ops=workload.flops,
        peak_ops_per_s=peak_ops_per_s,
        cycles=cycles,
        clock_hz=clock_hz,
        utilization=utilization,
        energy_breakdown_j=dict(energy_breakdown_j),
        traffic_bytes=_sum_dicts(c.bytes for c in costs),
        stalls=_sum_dicts(c.stalls for c in costs),
        ops=[c.to_op_result() for c in costs],
        notes=list(notes),
    )


# ---- options ----------------------------------------------------------------------------------------


def options_to_overrides(
    backend: str,
    arch: ArchSpec,
    options: Mapping[str, Any],
    own: Iterable[str] = (),
    taken: Iterable[str] = (),
) -> tuple[ArchSpec, dict[str, Any]]:
    """Split `options` into overrides of `arch`'s top-level fields (applied, re-validated) and the
    backend's own options (`own`, returned). Anything else is a SpecError naming it and listing every
    option, `taken` (those the backend's signature already took) included. A field the spec marks
    descriptive (`DESCRIPTIVE_FIELDS`: not in the cost model) is refused as an option."""
    own = set(own)
    descriptive = set(getattr(arch, "DESCRIPTIVE_FIELDS", ()))
    fields = set(type(arch).model_fields) - {"kind", "sources", "name", "description"} - descriptive
    overrides: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in options.items():
        if key in own:
            rest[key] = value
        elif key in fields:
            overrides[key] = value
        elif key in descriptive:
            raise SpecError(
                f"{backend} option",
                key,
                "not an option: it describes the published design and does not enter "
                "the cost model (operands are costed at the workload's dtype)",
            )
        else:
            allowed = sorted(own | fields | set(taken) | {"arch"})
            raise SpecError(f"{backend} option", key, f"one of {allowed}")
    if overrides:
        arch = arch.with_overrides(overrides)
    return arch, rest


def check_fraction(name: str, value: Any) -> float:
    if not is_real(value) or not 0 < value <= 1:
        raise SpecError(name, value, "a number in (0, 1]")
    return float(value)


def peak_arch(same_peak_as: Any) -> ArchSpec:
    """The architecture a `same_peak_as` option names (a preset, a YAML path or a spec); a SpecError naming
    `same_peak_as` and its value when it names none (a number, an unknown name), not one about `arch`."""
    allowed = "an architecture whose peak to scale to"
    if isinstance(same_peak_as, ArchBase):
        return same_peak_as
    if not isinstance(same_peak_as, str | Path) or not str(same_peak_as).strip():
        names = "a preset name (`swallowtail arch list`) or a path to an arch YAML"
        raise SpecError("same_peak_as", same_peak_as, f"{allowed}: {names}")
    try:
        return load_arch(same_peak_as)
    except SpecError as exc:
        if exc.field == "arch" and exc.value == str(same_peak_as):  # names no preset and no file
            raise SpecError("same_peak_as", same_peak_as, f"{allowed}: {exc.allowed}") from None
        raise  # a file that is there, with a bad field: that field's error


def resolve_peak(peak_ops_per_s: Any = None, same_peak_as: Any = None) -> float | None:
    """The peak (FLOP/s) to scale to: a positive number, or the peak of an architecture (name or spec)."""
    if peak_ops_per_s is not None and same_peak_as is not None:
        raise SpecError("peak_ops_per_s", peak_ops_per_s, "not together with same_peak_as (give one)")
    if same_peak_as is not None:
        return peak_arch(same_peak_as).peak_ops_per_s
    if peak_ops_per_s is None:
        return None
    if not is_real(peak_ops_per_s) or not MIN_OPS_PER_S <= peak_ops_per_s <= MAX_OPS_PER_S:
        allowed = f"a number of FLOP/s in [{MIN_OPS_PER_S:g}, {MAX_OPS_PER_S:g}]"
        raise SpecError("peak_ops_per_s", peak_ops_per_s, allowed)
    return float(peak_ops_per_s)


# ---- GEMM equivalents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GemmShape:
    """`batch` products (m x k) @ (k x n)."""

    m: int
    k: int
    n: int
    batch: int = 1

    @property
    def macs(self) -> int:
        return self.batch * self.m * self.k * self.n

    @property
    def flops(self) -> int:
        return FLOPS_PER_FMA * self.macs


def dense_equivalent(op: Butterfly) -> GemmShape:
    """A butterfly multiply as the dense matrix it equals: (rows x n) @ (n x n); a complex butterfly as the
    real (2n x 2n) matrix. Per stacked copy of a ButterflyLinear this is the padded n x n square."""
    c = COMPLEX_FACTOR if op.complex else 1
    return GemmShape(m=op.rows, k=op.n * c, n=op.n * c)


def block_levels(stages: int, stages_per_block: int) -> list[int]:
    """How `stages` consecutive stages split into groups of at most `stages_per_block`."""
    if stages_per_block < 1:
        raise SpecError("stages_per_block", stages_per_block, "an integer >= 1")
    full, rest = divmod(stages, stages_per_block)
    return [stages_per_block] * full + ([rest] if rest else [])


def block_equivalent(op: Butterfly, stages_per_block: int) -> list[GemmShape]:
    """A butterfly as block-diagonal GEMMs: each group of t consecutive stages multiplies to n / 2^t blocks
    of 2^t x 2^t (complex: 2^(t+1) x 2^(t+1) real), applied to every row (the permutation between groups
    is a strided DRAM/SRAM access, not a GEMM)."""
    assert op.stages is not None
    c = COMPLEX_FACTOR if op.complex else 1
    shapes = []
    for t in block_levels(op.stages, stages_per_block):
        b = 1 << t
        shapes.append(GemmShape(m=op.rows, k=b * c, n=b * c, batch=op.n // b))
    return shapes


def dft_equivalent(op: FFT) -> GemmShape:
    """An FFT as a DFT matrix product (rows x K) @ (K x N): K = n (real input) or 2n (complex, as reals);
    N = n (only the real part kept) or 2n."""
    k = op.n if op.real_input else COMPLEX_FACTOR * op.n
    n = op.n if op.real_output else COMPLEX_FACTOR * op.n
    return GemmShape(m=op.rows, k=k, n=n)


def gemm_shape(op: Any) -> GemmShape:
    """The GemmShape of a workload GEMM op."""
    return GemmShape(m=op.m, k=op.k, n=op.n, batch=op.batch)


# ---- technology scaling ---------------------------------------------------------------------------------


def _curve_at(points: list[tuple[float, float]], node_nm: float) -> float:
    """Log-log interpolation of (node, factor) points; beyond the ends, the nearest segment's power law."""
    pts = sorted(points)
    if len(pts) == 1:
        return pts[0][1]
    if node_nm <= pts[0][0]:
        (x0, y0), (x1, y1) = pts[0], pts[1]
    elif node_nm >= pts[-1][0]:
        (x0, y0), (x1, y1) = pts[-2], pts[-1]
    else:
        i = next(i for i in range(len(pts) - 1) if pts[i][0] <= node_nm <= pts[i + 1][0])
        (x0, y0), (x1, y1) = pts[i], pts[i + 1]
    slope = (math.log(y1) - math.log(y0)) / (math.log(x1) - math.log(x0))
    return math.exp(math.log(y0) + slope * (math.log(node_nm) - math.log(x0)))


def check_node_nm(name: str, value: Any, hint: str | None = None) -> float:
    """`value` if it is a technology node an arch spec may have: 1 nm to 1 um; SpecError naming `name`."""
    if not is_real(value) or not 1 <= value <= MAX_TECH_NODE_NM:
        raise SpecError(name, value, f"a technology node in nm, in [1, {MAX_TECH_NODE_NM}]", hint)
    return float(value)


def logic_energy_factor(from_nm: float, to_nm: float, table: str = DEFAULT_ENERGY_TABLE) -> float:
    """Energy of a logic operation at `to_nm` relative to `from_nm` (Stillmaker-Baas curve of `table`)."""
    check_node_nm("from_nm", from_nm)
    check_node_nm("to_nm", to_nm)
    t = load_energy_table(table)
    if "logic" not in t.scaling:
        raise SpecError("energy_table", table, "a table with a 'logic' scaling curve")
    pts = [(float(p.node_nm), p.factor) for p in t.scaling["logic"]]
    return _curve_at(pts, float(to_nm)) / _curve_at(pts, float(from_nm))


def dram_j_per_byte(table: str = DEFAULT_ENERGY_TABLE) -> float:
    """DRAM energy per byte of the energy table (it does not scale with the logic node)."""
    return load_energy_table(table).action_j("dram")


__all__ = [
    "BUTTERFLY_MAPPINGS",
    "GemmShape",
    "OpCost",
    "block_equivalent",
    "block_levels",
    "build_result",
    "check_fraction",
    "check_node_nm",
    "dense_equivalent",
    "dft_equivalent",
    "dram_j_per_byte",
    "gemm_shape",
    "logic_energy_factor",
    "options_to_overrides",
    "resolve_peak",
]


def gemm_form(workload: Workload) -> Workload:
    """`workload` as a machine without a mapping of its own for structured matmuls runs it: every
    block-sparse matmul as the batched GEMM of its nonzero blocks, every Monarch product as its two
    block-diagonal batched GEMMs (`swallowtail.workload.structured`); each GEMM is then costed at its own
    shape (a b x b block GEMM at the efficiency of its tiles, not a dense GEMM's)."""
    ops = expand_structured(check_workload(workload).ops)
    return workload if ops is workload.ops else dataclasses.replace(workload, ops=ops)
