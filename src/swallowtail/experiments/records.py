"""The typed records of `swallowtail reproduce`: what flows from the runner to the comparisons and the report.

    SuiteRun         the suite, its targets as resolved in this build, one Run per (workload, target)
    Facts            numbers read from the specs and the Results that the explanation rests on
    Comparisons      per-workload ratios against the array, their summaries, the headline rows, the
                     (GPU board, stack) table, the reading of the abstract and the "why" sentences
    InverseResult    the inverse question: which array, against which GPU denominator, makes the abstract's
                     figures hold together (`swallowtail.experiments.inverse`)
    DecoderStudy     Llama-shaped decoders with dense / Monarch / block-sparse MLPs on the array and the GPU
                     stacks (`swallowtail.experiments.decoder`)
    ReproduceRun     a SuiteRun with its Facts, Comparisons and InverseResult: everything results.json holds

Each record's `to_dict()` writes exactly the JSON of results.json (the writer then turns non-finite floats
into null and tuples into lists); `from_dict()` reads it back (`swallowtail.experiments.outputs.
load_results`). Nothing here runs a backend or computes a comparison: the records only hold and name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import swallowtail
from swallowtail.baselines.validation import ValidationSummary
from swallowtail.experiments.suite import ARRAY_ARCH, ROLE_ARRAY, Suite
from swallowtail.result import Result

#: identifies the layout of results.json
RESULTS_SCHEMA = "swallowtail.reproduce/1"
#: what the report and the CLI say, first and plainly, when the array simulator is missing
FLOOR_NOTICE = (
    "dataflow array: simulator not available in this build \u2014 "
    f"showing the roofline floor of {ARRAY_ARCH} instead"
)
#: the ratios computed per target and workload against the array, in the order results.json names them
METRICS = ("speedup", "energy", "efficiency", "attention")
#: the columns of a GPU headline row: the GPU running the hybrid net, as PyTorch eager, the dense twin
GPU_COLUMNS = ("gpu_hybrid", "gpu_eager", "gpu_dense")


# ---- numbers and how they are written ------------------------------------------------------------------
def geomean(xs: Iterable[float]) -> float:
    """Geometric mean of the positive finite values (NaN when there is none)."""
    vals = [x for x in xs if x > 0 and math.isfinite(x)]
    if not vals:
        return math.nan
    return math.exp(sum(math.log(x) for x in vals) / len(vals))


def fmt_x(x: float | None) -> str:
    """A ratio as the headline writes it: '0.397x', '17.3x', '380x'; 'n/a' when missing or not finite."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.3g}x" if x < 100 else f"{x:.0f}x"


def fmt_range(lo: float | None, hi: float | None) -> str:
    return f"{fmt_x(lo)} - {fmt_x(hi)}"


def _num(x: float | None) -> float:
    """A float read back from results.json: null was a non-finite float (NaN) when written."""
    return math.nan if x is None else float(x)


def _opt(x: float | None) -> float | None:
    return None if x is None else float(x)


# ---- targets and runs ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResolvedTarget:
    """A target as it runs in this build: the backend actually used, and whether it is a stand-in."""

    key: str
    label: str
    backend: str
    role: str
    options: tuple[tuple[str, Any], ...]
    network: str
    substitute: bool = False
    stands_for: tuple[str, ...] = ()  # keys of the suite targets this one represents

    @property
    def options_dict(self) -> dict[str, Any]:
        return dict(self.options)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "backend": self.backend,
            "role": self.role,
            "options": self.options_dict,
            "network": self.network,
            "substitute": self.substitute,
            "stands_for": list(self.stands_for),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResolvedTarget:
        return cls(
            key=d["key"],
            label=d["label"],
            backend=d["backend"],
            role=d["role"],
            options=tuple(sorted(d["options"].items())),
            network=d["network"],
            substitute=d["substitute"],
            stands_for=tuple(d["stands_for"]),
        )


@dataclass
class Run:
    """One (workload, target) pair and its Result."""

    workload: str  # the suite workload (WorkloadSpec.name) it belongs to
    target: str  # ResolvedTarget.key
    network: str
    result: Result

    def to_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "target": self.target,
            "network": self.network,
            "result": self.result.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Run:
        return cls(d["workload"], d["target"], d["network"], Result.from_dict(d["result"]))


@dataclass
class SuiteRun:
    """Every (workload, target) Result of one suite, before any comparison: what the runner returns.

    `array`: for each array backend of the suite, "simulated" or the line that says what stands in for it.
    """

    suite: Suite
    targets: list[ResolvedTarget]
    runs: list[Run]
    array: dict[str, str]
    _index: dict[tuple[str, str], Result] = field(default_factory=dict, init=False, repr=False, compare=False)

    def result(self, workload: str, target: str) -> Result | None:
        """The Result of `target` on the suite workload `workload` (None if it did not run)."""
        if len(self._index) != len(self.runs):
            self._index = {(r.workload, r.target): r.result for r in self.runs}
        return self._index.get((workload, target))

    def target(self, key: str) -> ResolvedTarget:
        return next(t for t in self.targets if t.key == key)

    @property
    def array_key(self) -> str:
        """The target that is "the array" in every comparison: the multilayer dataflow (or its stand-in)."""
        return next(t.key for t in self.targets if t.role == ROLE_ARRAY)

    def key_for_role(self, role: str) -> str | None:
        """The first target with `role` (None when the suite has none)."""
        return next((t.key for t in self.targets if t.role == role), None)

    @property
    def notice(self) -> str | None:
        """FLOOR_NOTICE when the array in the comparisons is the roofline floor, else None."""
        return FLOOR_NOTICE if self.target(self.array_key).substitute else None


# ---- ratios and their summaries ------------------------------------------------------------------------
@dataclass(frozen=True)
class RatioSummary:
    """A per-workload ratio summarised: how many, max and min (and where), geometric and arithmetic mean.

    With no workload (n = 0) every other field is None, and results.json holds {"n": 0}."""

    n: int
    max: float | None = None
    argmax: str | None = None
    min: float | None = None
    argmin: str | None = None
    geomean: float | None = None
    mean: float | None = None

    @classmethod
    def of(cls, per_workload: Mapping[str, float]) -> RatioSummary:
        if not per_workload:
            return cls(0)
        items = list(per_workload.items())
        wmax = max(items, key=lambda kv: kv[1])
        wmin = min(items, key=lambda kv: kv[1])
        vals = [v for _, v in items]
        return cls(
            n=len(vals),
            max=wmax[1],
            argmax=wmax[0],
            min=wmin[1],
            argmin=wmin[0],
            geomean=geomean(vals),
            mean=sum(vals) / len(vals),
        )

    def to_dict(self) -> dict[str, Any]:
        if self.n == 0:
            return {"n": 0}
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RatioSummary:
        if d["n"] == 0:
            return cls(0)
        return cls(
            n=d["n"],
            max=_num(d["max"]),
            argmax=d["argmax"],
            min=_num(d["min"]),
            argmin=d["argmin"],
            geomean=_num(d["geomean"]),
            mean=_num(d["mean"]),
        )


@dataclass
class TargetRatios:
    """One target against the array, per workload: speedup (its latency / the array's), energy (its energy
    / the array's), efficiency (array FLOP efficiency / its FLOP efficiency) and attention (its
    attention-block time / the array's)."""

    speedup: dict[str, float] = field(default_factory=dict)
    energy: dict[str, float] = field(default_factory=dict)
    efficiency: dict[str, float] = field(default_factory=dict)
    attention: dict[str, float] = field(default_factory=dict)

    def metric(self, name: str) -> dict[str, float]:
        return getattr(self, name)

    def summary(self) -> TargetSummary:
        return TargetSummary(*(RatioSummary.of(self.metric(m)) for m in METRICS))

    def to_dict(self) -> dict[str, Any]:
        return {m: dict(self.metric(m)) for m in METRICS}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TargetRatios:
        return cls(*({w: float(v) for w, v in d[m].items()} for m in METRICS))


@dataclass(frozen=True)
class TargetSummary:
    """The summaries of one target's ratios against the array."""

    speedup: RatioSummary = RatioSummary(0)
    energy: RatioSummary = RatioSummary(0)
    efficiency: RatioSummary = RatioSummary(0)
    attention: RatioSummary = RatioSummary(0)

    def metric(self, name: str) -> RatioSummary:
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        return {m: self.metric(m).to_dict() for m in METRICS}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TargetSummary:
        return cls(*(RatioSummary.from_dict(d[m]) for m in METRICS))


# ---- the headline --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GpuHeadlineRow:
    """A headline row against Xavier NX: the paper's figure and ours with the GPU running the hybrid net,
    running it as PyTorch eager, and running the dense twin."""

    metric: str
    paper: str
    gpu_hybrid: float | None
    gpu_eager: float | None
    gpu_dense: float | None

    @property
    def values(self) -> dict[str, float | None]:
        return {c: getattr(self, c) for c in GPU_COLUMNS}

    def ours(self, column: str) -> str:
        return fmt_x(getattr(self, column))

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "paper": self.paper,
            **{f"ours_{c}": self.ours(c) for c in GPU_COLUMNS},
            "values": self.values,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GpuHeadlineRow:
        return cls(d["metric"], d["paper"], *(_opt(d["values"][c]) for c in GPU_COLUMNS))


@dataclass(frozen=True)
class PeerHeadlineRow:
    """A headline row against the accelerators of the same peak: the paper's range and ours, per accelerator
    (`values` by target key, in target order; `labels` the targets' labels)."""

    metric: str
    paper: str
    values: dict[str, float | None]
    labels: dict[str, str]

    @property
    def ours_same_peak(self) -> str:
        present = [v for v in self.values.values() if v is not None and math.isfinite(v)]
        return fmt_range(min(present), max(present)) if present else "n/a"

    @property
    def per_accelerator(self) -> dict[str, str]:
        return {self.labels[k]: fmt_x(v) for k, v in self.values.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "paper": self.paper,
            "ours_same_peak": self.ours_same_peak,
            "per_accelerator": self.per_accelerator,
            "values": dict(self.values),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], targets: list[ResolvedTarget]) -> PeerHeadlineRow:
        keys = [t.key for t in targets if t.key in d["values"]]
        return cls(
            d["metric"],
            d["paper"],
            {k: _opt(d["values"][k]) for k in keys},
            {t.key: t.label for t in targets if t.key in d["values"]},
        )


HeadlineRow = GpuHeadlineRow | PeerHeadlineRow


# ---- the denominator: every GPU board and software stack -----------------------------------------------
@dataclass(frozen=True)
class GpuPair:
    """The headline against one (board, stack): the array's speedup and energy efficiency over the hybrid
    workloads, their spread (max / geomean), the power ratio they imply (energy efficiency / speedup = GPU
    power / array power) and the factor by which the array would have to be faster to show the abstract's
    average speedup against this denominator."""

    board: str
    stack: str
    speedup: RatioSummary
    energy: RatioSummary
    spread: float
    power_ratio: float
    array_factor_needed: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "board": self.board,
            "stack": self.stack,
            "speedup": self.speedup.to_dict(),
            "energy": self.energy.to_dict(),
            "spread": self.spread,
            "power_ratio": self.power_ratio,
            "array_factor_needed": self.array_factor_needed,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GpuPair:
        return cls(
            board=d["board"],
            stack=d["stack"],
            speedup=RatioSummary.from_dict(d["speedup"]),
            energy=RatioSummary.from_dict(d["energy"]),
            spread=_num(d["spread"]),
            power_ratio=_num(d["power_ratio"]),
            array_factor_needed=_num(d["array_factor_needed"]),
        )


@dataclass(frozen=True)
class PaperReading:
    """The (board, stack) whose ratios have the abstract's shape (spread and power ratio), and how close."""

    board: str
    stack: str
    distance: float
    paper_spread: float
    paper_power_ratio: float
    spread: float
    power_ratio: float
    array_factor_needed: float
    speedup_geomean: float

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PaperReading:
        return cls(d["board"], d["stack"], *(_num(d[f.name]) for f in fields(cls)[2:]))


@dataclass(frozen=True)
class AssumptionSwing:
    """One unmeasured value of the headline's denominator (a stack or board field whose source note says
    "assumption" or "physically argued") moved down to `low` and up to `high`: the array's geomean speedup and
    energy efficiency against the GPU then. The headline's own values are its `GpuPair`'s."""

    spec: str  # the stack or board-mode that holds it
    field: str  # its dotted path there
    value: float
    low: float
    high: float
    speedup_low: float
    speedup_high: float
    energy_low: float
    energy_high: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AssumptionSwing:
        ratios = ("speedup_low", "speedup_high", "energy_low", "energy_high")
        # the values keep their JSON type (a count is an int); a ratio was NaN where null
        return cls(**{f.name: _num(d[f.name]) if f.name in ratios else d[f.name] for f in fields(cls)})


# ---- facts ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArrayArchFacts:
    """The reconstructed array's shape and peak, from its spec."""

    name: str
    pes: int
    simd_lanes: int
    clock_hz: float
    peak_ops_per_s: float

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArrayArchFacts:
        return cls(d["name"], d["pes"], d["simd_lanes"], d["clock_hz"], d["peak_ops_per_s"])


@dataclass(frozen=True)
class GpuKernelFacts:
    """How the GPU model runs butterfly kernels: its stack's parameters."""

    params: str
    butterfly_unit: str
    butterfly_efficiency: float
    butterfly_max_stages_per_kernel: int

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GpuKernelFacts:
        return cls(*(d[f.name] for f in fields(cls)))


@dataclass(frozen=True)
class TargetFacts:
    """One target over the suite's workloads: its peak and geometric means of what its Results show."""

    peak_ops_per_s: float
    flop_efficiency_geomean: float
    power_w_geomean: float
    butterfly_time_share_geomean: float

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TargetFacts:
        return cls(*(_num(d[f.name]) for f in fields(cls)))


@dataclass(frozen=True)
class Roof:
    """A target's roofline: peak FLOP/s (from its Result) and DRAM bandwidth (0: its backend cannot say)."""

    peak_ops_per_s: float
    dram_bytes_per_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"peak_ops_per_s": self.peak_ops_per_s, "dram_bytes_per_s": self.dram_bytes_per_s}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Roof:
        return cls(_num(d["peak_ops_per_s"]), _num(d["dram_bytes_per_s"]))


@dataclass
class Facts:
    """Numbers the explanation of the differences rests on, all read from the specs and the Results.

    `gpu_peak_flops`, `array_arch` and `gpu_kernels` are None (and absent from results.json) when the spec
    or the backend cannot say; `gpu_validation` when it was not computed."""

    gpu_arch: str
    targets: dict[str, TargetFacts]
    dense_over_hybrid_flops: RatioSummary
    roofs: dict[str, Roof]
    fabnet_differences: list[str]
    gpu_peak_flops: dict[str, float] | None = None
    array_arch: ArrayArchFacts | None = None
    gpu_kernels: GpuKernelFacts | None = None
    #: how the Jetson model does against the published measurements (`swallowtail baseline validate`)
    gpu_validation: ValidationSummary | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"gpu_arch": self.gpu_arch}
        if self.gpu_peak_flops is not None:
            d["gpu_peak_flops"] = dict(self.gpu_peak_flops)
        if self.array_arch is not None:
            d["array_arch"] = self.array_arch.to_dict()
        if self.gpu_kernels is not None:
            d["gpu_kernels"] = self.gpu_kernels.to_dict()
        d["targets"] = {k: v.to_dict() for k, v in self.targets.items()}
        d["dense_over_hybrid_flops"] = self.dense_over_hybrid_flops.to_dict()
        d["roofs"] = {k: v.to_dict() for k, v in self.roofs.items()}
        d["fabnet_differences"] = list(self.fabnet_differences)
        if self.gpu_validation is not None:
            d["gpu_validation"] = self.gpu_validation.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Facts:
        return cls(
            gpu_arch=d["gpu_arch"],
            targets={k: TargetFacts.from_dict(v) for k, v in d["targets"].items()},
            dense_over_hybrid_flops=RatioSummary.from_dict(d["dense_over_hybrid_flops"]),
            roofs={k: Roof.from_dict(v) for k, v in d["roofs"].items()},
            fabnet_differences=list(d["fabnet_differences"]),
            gpu_peak_flops=dict(d["gpu_peak_flops"]) if "gpu_peak_flops" in d else None,
            array_arch=ArrayArchFacts.from_dict(d["array_arch"]) if "array_arch" in d else None,
            gpu_kernels=GpuKernelFacts.from_dict(d["gpu_kernels"]) if "gpu_kernels" in d else None,
            gpu_validation=ValidationSummary.from_dict(d["gpu_validation"])
            if "gpu_validation" in d
            else None,
        )


# ---- the comparisons -----------------------------------------------------------------------------------
@dataclass
class Comparisons:
    """Every target against the array (`array_target`): per workload, summarised, the headline rows beside
    the paper's, the table of every GPU (board, stack), the reading of the abstract, and why ours differ."""

    array_target: str
    per_workload: dict[str, TargetRatios]
    summary: dict[str, TargetSummary]
    headline: list[HeadlineRow]
    gpu_pairs: list[GpuPair]
    paper_reading: PaperReading
    why: list[str]
    swings: list[AssumptionSwing] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "array_target": self.array_target,
            "per_workload": {k: v.to_dict() for k, v in self.per_workload.items()},
            "summary": {k: v.to_dict() for k, v in self.summary.items()},
            "headline": [row.to_dict() for row in self.headline],
            "gpu_pairs": [p.to_dict() for p in self.gpu_pairs],
            "paper_reading": self.paper_reading.to_dict(),
            "why": list(self.why),
            "swings": [w.to_dict() for w in self.swings],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], targets: list[ResolvedTarget]) -> Comparisons:
        return cls(
            array_target=d["array_target"],
            per_workload={k: TargetRatios.from_dict(v) for k, v in d["per_workload"].items()},
            summary={k: TargetSummary.from_dict(v) for k, v in d["summary"].items()},
            headline=[
                GpuHeadlineRow.from_dict(r)
                if "ours_gpu_hybrid" in r
                else PeerHeadlineRow.from_dict(r, targets)
                for r in d["headline"]
            ],
            gpu_pairs=[GpuPair.from_dict(p) for p in d["gpu_pairs"]],
            paper_reading=PaperReading.from_dict(d["paper_reading"]),
            why=list(d["why"]),
            # absent from a results.json written before the swings existed
            swings=[AssumptionSwing.from_dict(w) for w in d.get("swings", [])],
        )


# ---- the whole run -------------------------------------------------------------------------------------
#: a figure of the abstract holds when ours is within this factor of it (the inverse answer's tolerance)
TOLERANCE = 1.25
#: the first checks of a Verdict are against the GPU (speedup geomean, speedup max, energy efficiency); the
#: rest against the same-peak accelerators
GPU_CLAIMS = 3
#: the tolerances the inverse answer counts holding machines at (how sensitive it is)
TOLERANCES: tuple[float, ...] = (1.1, 1.25, 1.5, 2.0)


# ---- the inverse question (swallowtail.experiments.inverse) --------------------------------------------
@dataclass(frozen=True)
class ClaimCheck:
    """One figure of the abstract against ours: `lo`..`hi` (equal for a single figure); `off_by` the factor
    ours is outside it (1 inside)."""

    claim: str
    paper: str
    lo: float
    hi: float
    ours: float

    @property
    def off_by(self) -> float:
        if not (self.ours > 0 and math.isfinite(self.ours)):
            return math.inf
        if self.ours < self.lo:
            return self.lo / self.ours
        return self.ours / self.hi if self.ours > self.hi else 1.0


@dataclass(frozen=True)
class Verdict:
    """A machine against one denominator: every figure checked; `distance` the worst factor off."""

    point_id: str
    params: dict[str, Any]
    area_mm2: float
    power_w: float
    peak_ops_per_s: float
    checks: tuple[ClaimCheck, ...]

    @property
    def distance(self) -> float:
        return max(c.off_by for c in self.checks)

    @property
    def gpu_distance(self) -> float:
        """The worst factor off over the figures against the GPU only (the first GPU_CLAIMS checks)."""
        return max(c.off_by for c in self.checks[:GPU_CLAIMS])

    @property
    def peer_distance(self) -> float:
        """The worst factor off over the same-peak figures only (they do not depend on the GPU)."""
        return max(c.off_by for c in self.checks[GPU_CLAIMS:])

    def holds(self, tolerance: float = TOLERANCE) -> bool:
        return self.distance <= tolerance

    @property
    def binding(self) -> str:
        """The figure furthest off."""
        return max(self.checks, key=lambda c: c.off_by).claim


@dataclass(frozen=True)
class DenominatorAnswer:
    board: str
    stack: str
    machines: int
    holding: tuple[tuple[float, int], ...]  # (tolerance, machines holding at it)
    reconstruction: Verdict
    closest: Verdict
    cheapest_area: Verdict | None
    cheapest_power: Verdict | None
    #: machines whose three GPU figures hold at each tolerance (the same-peak ones left aside)
    holding_gpu: tuple[tuple[float, int], ...] = ()
    #: the machine closest on the GPU figures alone
    closest_gpu: Verdict | None = None
    #: every machine: (peak FLOP/s, speedup geomean, energy-efficiency geomean), by peak (for the figure)
    machines_xy: tuple[tuple[float, float, float], ...] = ()

    def least_peak_reaching(self, speedup: float) -> float | None:
        """The smallest peak (FLOP/s) of a machine whose speedup geomean reaches `speedup` (None: none)."""
        return min((p for p, s, _ in self.machines_xy if s >= speedup), default=None)


@dataclass(frozen=True)
class BeyondPaper:
    """The fastest machine within a budget of the reconstruction's (its power, or its area)."""

    budget: str  # "power" | "area"
    limit: float
    point_id: str
    params: dict[str, Any]
    area_mm2: float
    power_w: float
    latency_geomean_s: float
    speedup_over_reconstruction: float
    speedup_vs: tuple[tuple[str, float], ...]  # (board/stack, geomean speedup over it)


@dataclass(frozen=True)
class InverseResult:
    sweep: str
    grid: dict[str, list[Any]]
    workloads: tuple[str, ...]
    tolerance: float
    answers: tuple[DenominatorAnswer, ...]
    beyond: tuple[BeyondPaper, ...]
    store: str
    #: the machine closest on the same-peak figures alone (they do not depend on the GPU denominator)
    closest_peer: Verdict | None = None

    def answer(self, board: str, stack: str) -> DenominatorAnswer:
        return next(a for a in self.answers if (a.board, a.stack) == (board, stack))

    @property
    def best(self) -> DenominatorAnswer:
        """The denominator whose closest machine is closest."""
        return min(self.answers, key=lambda a: (a.closest.distance, a.closest.power_w))

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InverseResult:
        return _build(cls, d)


@dataclass(frozen=True)
class DecoderRow:
    """One decoder model on one target (`swallowtail.experiments.decoder`)."""

    model: str
    mlp: str  # dense | monarch | bs16 | bs32 | bs64
    target: str
    latency_s: float
    energy_j: float
    flops: int
    utilization: float  # the backend's own (FLOP efficiency for the GPU model)
    mlp_efficiency: float  # the MLP projections' FLOPs / (peak x their time)


@dataclass(frozen=True)
class DecoderStudy:
    """The decoder study: prefill at `seq_len` of every model on every target."""

    seq_len: int
    models: tuple[str, ...]
    arrays: tuple[str, ...]
    gpus: tuple[str, ...]
    rows: tuple[DecoderRow, ...]

    def row(self, model: str, target: str) -> DecoderRow:
        return next(r for r in self.rows if (r.model, r.target) == (model, target))

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DecoderStudy:
        return _build(cls, d)


def _plain(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple | list):
        return [_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


#: how each record's fields are read back from JSON (a nested record, a tuple of them, or a plain value)
def _build(cls: type, d: Mapping[str, Any]) -> Any:
    readers: dict[str, Callable[[Any], Any]] = _READERS.get(cls, {})
    return cls(**{k: readers.get(k, _same)(v) for k, v in d.items()})


def _same(v: Any) -> Any:
    return v


def _tuple_of(cls: type) -> Callable[[Any], Any]:
    return lambda v: tuple(_build(cls, x) for x in v)


def _maybe(cls: type) -> Callable[[Any], Any]:
    return lambda v: None if v is None else _build(cls, v)


def _pairs(v: Any) -> tuple:
    return tuple(tuple(x) for x in v)


_READERS: dict[type, dict[str, Callable[[Any], Any]]] = {
    Verdict: {"checks": _tuple_of(ClaimCheck)},
    DenominatorAnswer: {
        "holding": _pairs,
        "reconstruction": _maybe(Verdict),
        "closest": _maybe(Verdict),
        "cheapest_area": _maybe(Verdict),
        "cheapest_power": _maybe(Verdict),
        "machines_xy": _pairs,
        "holding_gpu": _pairs,
        "closest_gpu": _maybe(Verdict),
    },
    BeyondPaper: {"speedup_vs": _pairs},
    DecoderStudy: {
        "models": tuple,
        "arrays": tuple,
        "gpus": tuple,
        "rows": _tuple_of(DecoderRow),
    },
    InverseResult: {
        "answers": _tuple_of(DenominatorAnswer),
        "beyond": _tuple_of(BeyondPaper),
        "closest_peer": _maybe(Verdict),
        "workloads": tuple,
    },
}


@dataclass
class ReproduceRun(SuiteRun):
    """Everything `swallowtail reproduce` produced: the suite, the targets as resolved, the runs, the facts
    and the comparisons; `to_dict()` is results.json."""

    facts: Facts = field(kw_only=True)
    comparisons: Comparisons = field(kw_only=True)
    inverse: InverseResult | None = field(default=None, kw_only=True)
    decoder: DecoderStudy | None = field(default=None, kw_only=True)
    version: str = field(default=swallowtail.__version__, kw_only=True)

    @classmethod
    def of(cls, run: SuiteRun, facts: Facts, comparisons: Comparisons) -> ReproduceRun:
        return cls(run.suite, run.targets, run.runs, run.array, facts=facts, comparisons=comparisons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": RESULTS_SCHEMA,
            "swallowtail_version": self.version,
            "suite": self.suite.to_dict(),
            "targets": [t.to_dict() for t in self.targets],
            "array": self.array,
            "notice": self.notice,
            "runs": [r.to_dict() for r in self.runs],
            "comparisons": self.comparisons.to_dict(),
            "facts": self.facts.to_dict(),
            "inverse": None if self.inverse is None else self.inverse.to_dict(),
            "decoder": None if self.decoder is None else self.decoder.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReproduceRun:
        if d.get("schema") != RESULTS_SCHEMA:
            raise ValueError(f"schema {d.get('schema')!r} is not {RESULTS_SCHEMA!r}")
        targets = [ResolvedTarget.from_dict(t) for t in d["targets"]]
        return cls(
            Suite.from_dict(d["suite"]),
            targets,
            [Run.from_dict(r) for r in d["runs"]],
            dict(d["array"]),
            facts=Facts.from_dict(d["facts"]),
            comparisons=Comparisons.from_dict(d["comparisons"], targets),
            inverse=None if d.get("inverse") is None else InverseResult.from_dict(d["inverse"]),
            decoder=None if d.get("decoder") is None else DecoderStudy.from_dict(d["decoder"]),
            version=d["swallowtail_version"],
        )


__all__ = [
    "FLOOR_NOTICE",
    "TOLERANCE",
    "TOLERANCES",
    "AssumptionSwing",
    "BeyondPaper",
    "ClaimCheck",
    "DecoderRow",
    "DecoderStudy",
    "DenominatorAnswer",
    "InverseResult",
    "Verdict",
    "GPU_COLUMNS",
    "METRICS",
    "RESULTS_SCHEMA",
    "ArrayArchFacts",
    "Comparisons",
    "Facts",
    "GpuHeadlineRow",
    "GpuKernelFacts",
    "GpuPair",
    "HeadlineRow",
    "PaperReading",
    "PeerHeadlineRow",
    "RatioSummary",
    "ReproduceRun",
    "ResolvedTarget",
    "Roof",
    "Run",
    "SuiteRun",
    "TargetFacts",
    "TargetRatios",
    "TargetSummary",
    "fmt_range",
    "fmt_x",
    "geomean",
]
