"""The comparisons of the paper's abstract, computed from a `SuiteRun` and its `Facts`.

Per workload, every target against the array (multilayer dataflow, or its stand-in): speedup, energy
ratio, FLOP-efficiency ratio and attention-time ratio; their summaries (max / geomean / mean); the
headline rows beside the abstract's figures; the headline against every Jetson (board, stack) -- the
denominator -- and the (board, stack) whose ratios have the abstract's shape; and the sentences that say
why ours differ (`explain`). The paper's figures are printed beside ours and read for their shape, never
used to compute one of our numbers.
"""

from __future__ import annotations

import math
from typing import get_args, get_origin

from swallowtail.arch import load_arch
from swallowtail.arch.specbase import SourcedSpec, iter_leaves
from swallowtail.backends import Backend, get_backend
from swallowtail.baselines.jetson import load_stack
from swallowtail.errors import is_real
from swallowtail.experiments.explain import explain, why_reading, why_swings
from swallowtail.experiments.paper import PAPER
from swallowtail.experiments.records import (
    AssumptionSwing,
    Comparisons,
    Facts,
    GpuHeadlineRow,
    GpuPair,
    HeadlineRow,
    PaperReading,
    PeerHeadlineRow,
    RatioSummary,
    SuiteRun,
    TargetRatios,
    TargetSummary,
)
from swallowtail.experiments.runner import lower_workload
from swallowtail.experiments.suite import (
    GPU_ARCH,
    GPU_STACK,
    HYBRID,
    ROLE_GPU,
    ROLE_GPU_DENSE,
    ROLE_GPU_EAGER,
    ROLE_SAME_PEAK,
)
from swallowtail.result import Result
from swallowtail.workload import Workload

#: an op belongs to an attention block when its name has this component (see swallowtail.workload.lower)
ATTENTION_OP_TAG = ".attn."
#: the denominator table: every GPU board (in the mode its published points use) x every software stack
GPU_BOARDS: tuple[str, ...] = (
    "xavier-nx-15w", "xavier-nx-20w", "agx-xavier-maxn", "orin-nx-16gb-maxn", "agx-orin-maxn",
)  # fmt: skip
GPU_STACKS: tuple[str, ...] = (
    "tensorrt-int8",
    "tensorrt-fp16",
    "tensorrt-fp16-graphs",
    "pytorch-eager-fp16",
    "pytorch-eager-fp32",
)
#: what each unmeasured value of the headline's denominator is multiplied by, down and up (assumption: a
#: factor of two either way, the uncertainty usually given a value nobody measured; `_moved` keeps it valid)
SWING_FACTORS: tuple[float, float] = (0.5, 2.0)
#: a source note that says one of these marks a value as unmeasured (a cited kernel whose use is assumed
#: counts: "...; assumption: a TensorRT plugin would use it"), unless it starts with "fitted"
UNMEASURED_NOTES: tuple[str, ...] = ("assumption", "physically argued")


def _attention_time(result: Result) -> float:
    return sum(o.latency_s for o in result.ops if ATTENTION_OP_TAG in o.name)


def ratios(run: SuiteRun) -> dict[str, TargetRatios]:
    """Per target, per workload: speedup (its latency / the array's), energy ratio (its energy / the
    array's, per inference), efficiency ratio (array FLOP efficiency / its FLOP efficiency -- the same
    workload only, so not for the dense twin) and, for attention ops, the attention-time ratio."""
    a_key = run.array_key
    out: dict[str, TargetRatios] = {}
    for t in run.targets:
        if t.key == a_key:
            continue
        per = TargetRatios()
        for spec in run.suite.workloads:
            a = run.result(spec.name, a_key)
            b = run.result(spec.name, t.key)
            if a is None or b is None:
                continue
            per.speedup[spec.name] = b.latency_s / a.latency_s
            per.energy[spec.name] = b.energy_j / a.energy_j
            if t.network == HYBRID and a.flop_efficiency > 0 and b.flop_efficiency > 0:
                per.efficiency[spec.name] = a.flop_efficiency / b.flop_efficiency
            at_a, at_b = _attention_time(a), _attention_time(b)
            if at_a > 0 and at_b > 0:
                per.attention[spec.name] = at_b / at_a
        out[t.key] = per
    return out


def headline(run: SuiteRun, summaries: dict[str, TargetSummary]) -> list[HeadlineRow]:
    """Rows: metric, the paper's figure, ours (with the GPU running the hybrid net and the dense twin)."""
    gpu = run.key_for_role(ROLE_GPU)
    dense = run.key_for_role(ROLE_GPU_DENSE)
    eager = run.key_for_role(ROLE_GPU_EAGER)
    peers = [t.key for t in run.targets if t.role == ROLE_SAME_PEAK]

    def stat(key: str | None, metric: str, what: str) -> float | None:
        if key is None or key not in summaries:
            return None
        return getattr(summaries[key].metric(metric), what)

    avg = PAPER.speedup_vs_xavier_avg.text + " (average)"
    eff_x = PAPER.energy_eff_vs_xavier.text
    gpu_rows = (
        ("speedup vs Xavier NX, max", PAPER.speedup_vs_xavier_max.text, "speedup", "max"),
        ("speedup vs Xavier NX, geomean", avg, "speedup", "geomean"),
        ("speedup vs Xavier NX, arithmetic mean", avg, "speedup", "mean"),
        ("energy efficiency vs Xavier NX, max", eff_x, "energy", "max"),
        ("energy efficiency vs Xavier NX, geomean", eff_x, "energy", "geomean"),
    )
    rows: list[HeadlineRow] = [
        GpuHeadlineRow(label, paper, *(stat(key, metric, what) for key in (gpu, eager, dense)))
        for label, paper, metric, what in gpu_rows
    ]
    eff, energy = PAPER.efficiency_vs_same_peak.text, PAPER.energy_reduction_vs_same_peak.text
    peer_rows = (
        ("efficiency", "efficiency vs same-peak accelerators (FLOP efficiency ratio, geomean)", eff),
        ("attention", "same, attention-block ops only (latency ratio, geomean)", eff),
        ("energy", "energy reduction vs same-peak accelerators (geomean)", energy),
    )
    labels = {k: run.target(k).label for k in peers}
    for metric, label, paper in peer_rows:
        rows.append(PeerHeadlineRow(label, paper, {k: stat(k, metric, "geomean") for k in peers}, labels))
    return rows


#: (workload name, the array's Result, the hybrid network's operator graph) per workload the array ran
ArrayRuns = list[tuple[str, Result, Workload]]


def array_runs(run: SuiteRun) -> ArrayRuns:
    """The array's Result and the hybrid network of every workload the array ran."""
    out = []
    for spec in run.suite.workloads:
        a = run.result(spec.name, run.array_key)
        if a is not None:
            out.append((spec.name, a, lower_workload(spec, HYBRID)))
    return out


def against(gpu: Backend, arrays: ArrayRuns) -> tuple[RatioSummary, RatioSummary]:
    """The array's speedup and energy efficiency against `gpu` over the hybrid workloads."""
    sp, en = {}, {}
    for name, a, w in arrays:
        r = gpu.run(w)
        sp[name], en[name] = r.latency_s / a.latency_s, r.energy_j / a.energy_j
    return RatioSummary.of(sp), RatioSummary.of(en)


def gpu_pairs(run: SuiteRun) -> list[GpuPair]:
    """The headline against every (board, stack): the array's speedup and energy efficiency, geomean and max
    over the suite's hybrid workloads, their spread (max / geomean), the power ratio they imply (energy
    efficiency / speedup = GPU power / array power) and the array speed-up factor the abstract's 9.29x
    geomean would need against that denominator."""
    arrays = array_runs(run)
    rows = []
    for board in GPU_BOARDS:
        for stack in GPU_STACKS:
            s_sp, s_en = against(get_backend("jetson", arch=board, stack=stack), arrays)
            rows.append(
                GpuPair(
                    board=board,
                    stack=stack,
                    speedup=s_sp,
                    energy=s_en,
                    spread=s_sp.max / s_sp.geomean,
                    power_ratio=s_en.geomean / s_sp.geomean,
                    array_factor_needed=PAPER.speedup_vs_xavier_avg.value / s_sp.geomean,
                )
            )
    return rows


def paper_reading(pairs: list[GpuPair]) -> PaperReading:
    """The (board, stack) whose ratios have the abstract's shape: its spread (max / mean speedup, 14.34 /
    9.29) and its energy-to-speed ratio (11.14 / 9.29 = GPU power / array power) closest in log distance.
    The shape does not depend on how fast the array is (a uniformly faster array scales both ratios' numerator
    and denominator alike), so it says which denominator, not which array."""
    spread = PAPER.spread
    power = PAPER.power_ratio

    def distance(row: GpuPair) -> float:
        return abs(math.log(row.spread / spread)) + abs(math.log(row.power_ratio / power))

    best = min(pairs, key=distance)
    return PaperReading(
        board=best.board,
        stack=best.stack,
        distance=distance(best),
        paper_spread=spread,
        paper_power_ratio=power,
        spread=best.spread,
        power_ratio=best.power_ratio,
        array_factor_needed=best.array_factor_needed,
        speedup_geomean=best.speedup.geomean,
    )


def _upper_bound(spec: SourcedSpec, path: str) -> float | None:
    """The `le` bound of a top-level field of `spec`, or of the values of a top-level dict field
    (`gemm_efficiency.volta`); None where there is none (or the path goes deeper)."""
    head, _, rest = path.partition(".")
    info = type(spec).model_fields.get(head)
    if info is None:
        return None
    metadata = list(info.metadata)
    if rest:
        if get_origin(info.annotation) is not dict or "." in rest:
            return None
        value_type = get_args(info.annotation)[1]
        metadata = [m for a in get_args(value_type)[1:] for m in getattr(a, "metadata", [a])]
    bounds = [m.le for m in metadata if getattr(m, "le", None) is not None]
    return min(bounds) if bounds else None


def _moved(spec: SourcedSpec, path: str, value: float, factor: float) -> float:
    """`value` x `factor`, kept in the field's range (a count stays a positive whole number, an efficiency
    stops at its upper bound of 1)."""
    x = value * factor
    if isinstance(value, int):
        x = max(1, round(x))
    upper = _upper_bound(spec, path)
    return x if upper is None else min(x, upper)


def unmeasured_values(spec: SourcedSpec) -> list[tuple[str, float, str]]:
    """(dotted path, value, source note) of every number of `spec` its note marks as unmeasured."""
    values = dict(iter_leaves(spec.to_dict()))
    return [
        (path, values[path], note)
        for path, note in sorted(spec.sources.items())
        if not note.startswith("fitted")
        and any(mark in note for mark in UNMEASURED_NOTES)
        and is_real(values.get(path))
    ]


def assumption_swings(run: SuiteRun) -> list[AssumptionSwing]:
    """Each unmeasured value of the headline's denominator (`GPU_ARCH` running `GPU_STACK`) moved by
    `SWING_FACTORS`, the others kept (fitted values are not refitted): the array's geomean speedup and
    energy efficiency then. Values that move neither (e.g. another GPU generation's efficiency) are left
    out; largest speedup swing first."""
    arrays = array_runs(run)
    board, stack = load_arch(GPU_ARCH), load_stack(GPU_STACK)

    def variant(spec: SourcedSpec, path: str, x: float) -> Backend:
        if spec is stack:
            return get_backend("jetson", arch=board, stack=stack, **{path: x})
        return get_backend("jetson", arch=board.with_overrides({path: x}), stack=stack)

    base_sp, base_en = against(get_backend("jetson", arch=board, stack=stack), arrays)
    out = []
    for spec in (stack, board):
        for path, value, note in unmeasured_values(spec):
            lo, hi = (_moved(spec, path, value, f) for f in SWING_FACTORS)
            (sp_lo, en_lo), (sp_hi, en_hi) = (against(variant(spec, path, x), arrays) for x in (lo, hi))
            same_sp = sp_lo.geomean == base_sp.geomean == sp_hi.geomean
            if not (same_sp and en_lo.geomean == base_en.geomean == en_hi.geomean):
                out.append(
                    AssumptionSwing(
                        spec.name,
                        path,
                        value,
                        lo,
                        hi,
                        sp_lo.geomean,
                        sp_hi.geomean,
                        en_lo.geomean,
                        en_hi.geomean,
                        note,
                    )  # fmt: skip
                )
    return sorted(out, key=lambda w: -abs(math.log(w.speedup_high / w.speedup_low)))


def compare(run: SuiteRun, facts: Facts) -> Comparisons:
    """Per-target ratios against the array, their summaries, and the headline beside the paper's."""
    per = ratios(run)
    summaries = {key: r.summary() for key, r in per.items()}
    pairs = gpu_pairs(run)
    reading = paper_reading(pairs)
    swings = assumption_swings(run)
    return Comparisons(
        array_target=run.array_key,
        per_workload=per,
        summary=summaries,
        headline=headline(run, summaries),
        gpu_pairs=pairs,
        paper_reading=reading,
        why=[*explain(run, facts, summaries), why_reading(reading, pairs), why_swings(swings, pairs)],
        swings=swings,
    )


__all__ = [
    "ArrayRuns",
    "GPU_BOARDS",
    "GPU_STACKS",
    "SWING_FACTORS",
    "UNMEASURED_NOTES",
    "against",
    "array_runs",
    "assumption_swings",
    "compare",
    "gpu_pairs",
    "headline",
    "paper_reading",
    "ratios",
    "unmeasured_values",
]
