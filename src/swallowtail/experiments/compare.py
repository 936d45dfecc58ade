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

from swallowtail.backends import get_backend
from swallowtail.experiments.explain import explain, why_reading
from swallowtail.experiments.paper import PAPER
from swallowtail.experiments.records import (
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
    HYBRID,
    ROLE_GPU,
    ROLE_GPU_DENSE,
    ROLE_GPU_EAGER,
    ROLE_SAME_PEAK,
)
from swallowtail.result import Result

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


def gpu_pairs(run: SuiteRun) -> list[GpuPair]:
    """The headline against every (board, stack): the array's speedup and energy efficiency, geomean and max
    over the suite's hybrid workloads, their spread (max / geomean), the power ratio they imply (energy
    efficiency / speedup = GPU power / array power) and the array speed-up factor the abstract's 9.29x
    geomean would need against that denominator."""
    a_key = run.array_key
    arrays = [(spec, run.result(spec.name, a_key)) for spec in run.suite.workloads]
    workloads = [(spec, a, lower_workload(spec, HYBRID)) for spec, a in arrays if a is not None]
    rows = []
    for board in GPU_BOARDS:
        for stack in GPU_STACKS:
            gpu = get_backend("jetson", arch=board, stack=stack)
            sp, en = {}, {}
            for spec, a, w in workloads:
                r = gpu.run(w)
                sp[spec.name], en[spec.name] = r.latency_s / a.latency_s, r.energy_j / a.energy_j
            s_sp, s_en = RatioSummary.of(sp), RatioSummary.of(en)
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


def compare(run: SuiteRun, facts: Facts) -> Comparisons:
    """Per-target ratios against the array, their summaries, and the headline beside the paper's."""
    per = ratios(run)
    summaries = {key: r.summary() for key, r in per.items()}
    pairs = gpu_pairs(run)
    reading = paper_reading(pairs)
    return Comparisons(
        array_target=run.array_key,
        per_workload=per,
        summary=summaries,
        headline=headline(run, summaries),
        gpu_pairs=pairs,
        paper_reading=reading,
        why=[*explain(run, facts, summaries), why_reading(reading, pairs)],
    )


__all__ = ["GPU_BOARDS", "GPU_STACKS", "compare", "gpu_pairs", "headline", "paper_reading", "ratios"]
