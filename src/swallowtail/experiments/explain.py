"""Why ours differ from the paper: one sentence per assumption behind a difference, with the numbers that
show it (the array's peak, the GPU's butterfly kernels, power, the dense baseline, the same-peak
accelerators' mapping, and which GPU denominator the abstract's ratios imply).

Every sentence is built from the `Facts`, the ratio summaries and the GPU (board, stack) table; the
paper's figures (`paper.PAPER`) appear only as the values the sentences set ours against.
"""

from __future__ import annotations

import math

from swallowtail.baselines.jetson import load_stack
from swallowtail.experiments.paper import PAPER
from swallowtail.experiments.records import (
    AssumptionSwing,
    Facts,
    GpuPair,
    PaperReading,
    RatioSummary,
    SuiteRun,
    TargetFacts,
    TargetSummary,
    fmt_range,
    fmt_x,
)
from swallowtail.experiments.suite import (
    ARRAY_ARCH,
    GPU_ARCH,
    GPU_STACK,
    ROLE_GPU,
    ROLE_GPU_DENSE,
    ROLE_GPU_EAGER,
    ROLE_SAME_PEAK,
)

#: unit prefixes for the explanation
GIGA = 1e9
TERA = 1e12


def _target(facts: Facts, key: str) -> TargetFacts | None:
    return facts.targets.get(key)


def _why_floor() -> str:
    return (
        "The dataflow array simulator is not available in this build: every 'array' number is the "
        f"roofline floor of {ARRAY_ARCH} (latency = max(FLOPs / peak, compulsory DRAM bytes / bandwidth); "
        "energy a lower bound). Speedups and energy ratios against it are upper bounds on what the "
        "simulated array can reach, not simulations."
    )


def _why_peak(facts: Facts, a_key: str, gpu: str, sp: RatioSummary) -> str | None:
    peaks = facts.gpu_peak_flops or {}
    arch = facts.array_arch
    ta, tg = _target(facts, a_key), _target(facts, gpu)
    a_peak = ta.peak_ops_per_s if ta else None
    eta_a = ta.flop_efficiency_geomean if ta else None
    eta_g = tg.flop_efficiency_geomean if tg else None
    tensor = peaks.get("fp16_tensor")
    if not (a_peak and tensor and eta_a and eta_g):
        return None
    need = PAPER.speedup_vs_xavier_avg.value * eta_g * tensor / a_peak
    shape = (
        f" ({arch.pes} PEs x {arch.simd_lanes} FP16 lanes x FMA x {arch.clock_hz / GIGA:g} GHz)"
        if arch is not None
        else ""
    )
    verdict = " -- impossible (> 1)" if need > 1 else ""
    return (
        f"Peak: the reconstructed array ({ARRAY_ARCH}) has {a_peak / GIGA:.0f} GOPS{shape}; Xavier NX has "
        f"{tensor / TERA:.1f} TFLOPS on its FP16 tensor cores ({tensor / a_peak:.1f}x more), "
        f"{peaks.get('fp16_cuda', 0) / TERA:.2f} TFLOPS FP16 and {peaks.get('fp32_cuda', 0) / TERA:.2f} "
        "TFLOPS FP32 on CUDA cores. With the same FLOPs on both, speedup = (array peak x array FLOP "
        "efficiency) / (GPU peak x GPU FLOP efficiency). Our Xavier model runs the hybrid networks at a "
        f"geomean FLOP efficiency of {eta_g:.3f} (of the tensor peak), the array runs at {eta_a:.3f}: "
        f"geomean speedup {fmt_x(sp.geomean)}. The paper's {PAPER.speedup_vs_xavier_avg.text} would need the "
        f"array at {need:.2f} of its peak{verdict}: the paper's array is likely larger than our "
        "reconstruction, or its GPU baseline much slower than our kernel model. The peak is the assumption "
        "that drives this gap."
    )


def _why_kernels(facts: Facts, gpu: str, sp: RatioSummary, sp_eager: RatioSummary) -> str | None:
    tg = _target(facts, gpu)
    share = tg.butterfly_time_share_geomean if tg else None
    if share is None or not math.isfinite(share):
        return None
    k = facts.gpu_kernels
    params, unit, efficiency, stages = (
        (k.params, k.butterfly_unit, k.butterfly_efficiency, k.butterfly_max_stages_per_kernel)
        if k is not None
        else (None, None, None, None)
    )
    return (
        f"GPU butterfly kernels: Xavier spends {share:.0%} (geomean) of its time on the hybrid network in "
        f"butterfly and FFT kernels, which our model ({params}) runs on CUDA cores ({unit}) at {efficiency} "
        f"of that peak, up to {stages} stages fused per kernel (HazyResearch's CUDA kernel), FFTs as cuFFT "
        "passes. That fusion assumption matters: with PyTorch eager FP32 (FABNet's GPU setting: one kernel "
        "per op and per butterfly stage, host dispatch per kernel) the geomean speedup is "
        f"{fmt_x(sp_eager.geomean)} instead of {fmt_x(sp.geomean)}."
    )


def _why_energy(facts: Facts, a_key: str, gpu: str, en: RatioSummary) -> str | None:
    tg, ta = _target(facts, gpu), _target(facts, a_key)
    p_g = tg.power_w_geomean if tg else None
    p_a = ta.power_w_geomean if ta else None
    if not (p_g and p_a):
        return None
    return (
        f"Energy: Xavier draws {p_g:.1f} W (measured-class board power, MLPerf) and the array {p_a:.2f} W "
        f"on average ({p_g / p_a:.0f}x less); energy efficiency = speedup x power ratio, so ours is "
        f"{fmt_x(en.geomean)} geomean (max {fmt_x(en.max)}) against the paper's "
        f"{PAPER.energy_eff_vs_xavier.text}. The array's power comes from per-action energies scaled to "
        "12 nm (Horowitz 45 nm x Stillmaker-Baas), the GPU's from whole-board power: not the same kind of "
        "number, which favours the array."
    )


def _why_dense(facts: Facts, sd: RatioSummary) -> str | None:
    ratio = facts.dense_over_hybrid_flops
    if not ratio.n:
        return None
    return (
        f"Which GPU baseline: the dense Transformer of the same shape needs {fmt_x(ratio.min)}-"
        f"{fmt_x(ratio.max)} the FLOPs of the hybrid network; against it the array's speedup is "
        f"{fmt_x(sd.geomean)} geomean (max {fmt_x(sd.max)}). That adds FABNet's algorithmic "
        "saving to the hardware's. The abstract credits the speedup to the dataflow 'on attention "
        "workloads', so we read its GPU figures as the same (hybrid) network on both -- the 'hybrid' "
        "column -- and show the dense reading beside it."
    )


def _why_same_peak(label: str, share: float | None, s: TargetSummary) -> str:
    share_s = f"{share:.0%}" if share is not None and math.isfinite(share) else "n/a"
    return (
        f"{label}: no butterfly or FFT mode, so every butterfly linear runs as a dense GEMM and every "
        f"Fourier mixing as a DFT GEMM ({share_s} of its time, geomean). That mapping assumption, not the "
        f"dataflow, drives the efficiency ratio {fmt_x(s.efficiency.geomean)} and the "
        f"energy ratio {fmt_x(s.energy.geomean)}; on the attention blocks' ops alone the "
        f"latency ratio is {fmt_x(s.attention.geomean)} (paper: {PAPER.efficiency_vs_same_peak.compact} "
        f"efficiency, {PAPER.energy_reduction_vs_same_peak.compact} energy)."
    )


def explain(run: SuiteRun, facts: Facts, summaries: dict[str, TargetSummary]) -> list[str]:
    """Sentences that name the assumption behind each difference, with the numbers that show it."""

    def summary(key: str | None) -> TargetSummary:
        return summaries.get(key, TargetSummary()) if key is not None else TargetSummary()

    a_key = run.array_key
    lines: list[str | None] = []
    if run.target(a_key).substitute:
        lines.append(_why_floor())
    gpu = run.key_for_role(ROLE_GPU)
    eager = run.key_for_role(ROLE_GPU_EAGER)
    dense = run.key_for_role(ROLE_GPU_DENSE)
    if gpu is not None:
        sp = summary(gpu).speedup
        lines.append(_why_peak(facts, a_key, gpu, sp))
        lines.append(_why_kernels(facts, gpu, sp, summary(eager).speedup))
        lines.append(_why_energy(facts, a_key, gpu, summary(gpu).energy))
    if dense is not None:
        lines.append(_why_dense(facts, summary(dense).speedup))
    for t in run.targets:
        if t.role == ROLE_SAME_PEAK:
            tf = _target(facts, t.key)
            share = tf.butterfly_time_share_geomean if tf else None
            lines.append(_why_same_peak(t.label, share, summary(t.key)))
    return [line for line in lines if line]


#: the headline's denominator engine launched as a CUDA graph (its per-kernel time assumed) instead of from
#: Python once per inference (its per-kernel time fitted on torch2trt's rows)
GRAPHS_STACK = "tensorrt-fp16-graphs"


def why_launch(pairs: list[GpuPair]) -> str:
    """How the headline's denominator depends on how its engine is launched ("" without both stacks)."""
    found = {p.stack: p for p in pairs if p.board == GPU_ARCH and p.stack in (GPU_STACK, GRAPHS_STACK)}
    if len(found) < 2:
        return ""
    called, graphed = found[GPU_STACK], found[GRAPHS_STACK]
    launch_us = load_stack(GRAPHS_STACK).per_op_overhead_s * 1e6
    return (
        " How the engine is launched matters as well: the headline's denominator "
        f"({GPU_ARCH}, {called.stack}) pays the per-kernel time fitted on torch2trt's rows, where TensorRT "
        "is called from Python once per inference (the script's per-call host time, fitted beside it, is in "
        f"no denominator); against the same engine launched as a CUDA graph ({graphed.stack}, {launch_us:g} "
        f"us per kernel, assumed) the array's geomean speedup is {fmt_x(graphed.speedup.geomean)} instead of "
        f"{fmt_x(called.speedup.geomean)}."
    )


def why_reading(r: PaperReading, pairs: list[GpuPair]) -> str:
    """Which GPU denominator the abstract's ratios imply, and what the array would need against it."""
    lo = min(pairs, key=lambda p: p.array_factor_needed)
    geo = [p.speedup.geomean for p in pairs]
    paper_avg, paper_max = PAPER.speedup_vs_xavier_avg.value, PAPER.speedup_vs_xavier_max.value

    def magnitude(p: GpuPair) -> float:  # log distance of (geomean, max) speedup from the abstract's
        return abs(math.log(p.speedup.geomean / paper_avg)) + abs(math.log(p.speedup.max / paper_max))

    near = min(pairs, key=magnitude)
    return (
        "The denominator: against every Jetson board and software stack (the table of every board and "
        f"stack) the array's geomean speedup runs from {fmt_x(min(geo))} to {fmt_x(max(geo))}. The "
        "abstract's ratios have a shape that does not depend on the array's speed: max / mean speedup "
        f"{r.paper_spread:.2f} and energy efficiency / speedup {r.paper_power_ratio:.2f} "
        f"(= GPU power / array power). The reading closest to that shape is {r.board} with {r.stack}"
        f" (spread {r.spread:.2f}, power ratio {r.power_ratio:.1f}); against it our array is "
        f"{fmt_x(r.speedup_geomean)} and would need to be {r.array_factor_needed:.1f}x faster to show "
        f"{PAPER.speedup_vs_xavier_avg.text}. The most favourable denominator ({lo.board}, {lo.stack}) needs "
        f"{lo.array_factor_needed:.1f}x. With our array as reconstructed, the denominator whose speedups are "
        f"nearest the abstract's in size is {near.board} with {near.stack} (geomean "
        f"{fmt_x(near.speedup.geomean)}, max {fmt_x(near.speedup.max)}; max / geomean {near.spread:.2f} "
        f"against {r.paper_spread:.2f}). What remains: a power ratio of {r.paper_power_ratio:.2f}"
        " means the paper's array drew nearly as much power as the GPU it was compared with (ours draws "
        f"{r.power_ratio:.0f}x less), so the abstract's energy figure implies a far larger array than our "
        "256-GOPS reconstruction, or a GPU power measured on the GPU rail alone."
    ) + why_launch(pairs)


#: a swing this small either way (relative) counts as "hardly moves" in the sentence on assumptions
SMALL_SWING = 0.05


def why_swings(swings: list[AssumptionSwing], pairs: list[GpuPair]) -> str:
    """Which unmeasured values of the headline's denominator its speedup rests on ("" without swings)."""
    base = next((p for p in pairs if (p.board, p.stack) == (GPU_ARCH, GPU_STACK)), None)
    if not swings or base is None:
        return ""
    b = base.speedup.geomean

    def span(w: AssumptionSwing) -> str:
        speedups = fmt_range(w.speedup_low, w.speedup_high)
        return f"{w.field} ({w.value:g} -> {w.low:g} / {w.high:g}: {speedups})"

    def moves(w: AssumptionSwing) -> float:
        return max(abs(w.speedup_low / b - 1), abs(w.speedup_high / b - 1))

    big = [w for w in swings if moves(w) > SMALL_SWING]
    rest = len(swings) - len(big)
    small = f"by less than {SMALL_SWING:.0%}"
    return (
        f"What the denominator rests on: {len(swings)} values of {GPU_ARCH} / {GPU_STACK} that nobody "
        f"measured move the headline ({fmt_x(b)}) when each is halved and doubled, the others kept and "
        f"nothing refitted (the table of assumptions): {'; '.join(map(span, big)) or 'none ' + small}"
        + (f"; the other {rest} {small}." if big and rest else ".")
    )


__all__ = ["explain", "why_launch", "why_reading", "why_swings"]
