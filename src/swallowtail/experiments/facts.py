"""The facts a reproduction's explanation rests on, read from the specs, the backends and the Results.

`collect_facts(run)` gathers, for a `SuiteRun`: the GPU's peaks and the array's shape (from their specs),
how the GPU model runs butterfly kernels (its software stack), per target the geometric means of FLOP
efficiency, power and the share of time in butterfly / FFT ops, the dense twin's FLOPs over the hybrid
network's, each target's roofline (peak and DRAM bandwidth), the differences between the FABNet
physical model and its authors' simulator, and how the Jetson model does against the published
measurements. Nothing here compares a target with another.
"""

from __future__ import annotations

import math

from swallowtail.arch.specs import DataflowArch, GPUArch, load_arch
from swallowtail.backends import get_backend
from swallowtail.baselines.fabnet import fidelity_differences
from swallowtail.baselines.validation import summarize, validate
from swallowtail.experiments.records import (
    ArrayArchFacts,
    Facts,
    GpuKernelFacts,
    RatioSummary,
    Roof,
    SuiteRun,
    TargetFacts,
    geomean,
)
from swallowtail.experiments.suite import ARRAY_ARCH, DENSE, GPU_ARCH, ROLE_GPU
from swallowtail.result import Result

#: op kinds that are the butterfly-sparse part of the network (butterfly linears, Fourier mixing)
BUTTERFLY_KINDS = ("butterfly", "fft")


def time_share(result: Result, kinds: tuple[str, ...]) -> float:
    """The share of a Result's summed per-op latency spent in ops of `kinds` (NaN without ops)."""
    total = sum(o.latency_s for o in result.ops)
    part = sum(o.latency_s for o in result.ops if o.kind in kinds)
    return part / total if total > 0 else math.nan


def _array_arch() -> ArrayArchFacts | None:
    array = load_arch(ARRAY_ARCH)
    if not isinstance(array, DataflowArch):
        return None
    return ArrayArchFacts(
        name=array.name,
        pes=array.n_pes,
        simd_lanes=array.pe.simd_lanes,
        clock_hz=array.clock_hz,
        peak_ops_per_s=array.peak_ops_per_s,
    )


def _gpu_kernels(run: SuiteRun) -> GpuKernelFacts | None:
    gpu_target = next((t for t in run.targets if t.role == ROLE_GPU), None)
    if gpu_target is None:
        return None
    kernels = getattr(get_backend(gpu_target.backend, **gpu_target.options_dict), "stack", None)
    if kernels is None:
        return None
    return GpuKernelFacts(
        params=kernels.name,
        butterfly_unit=kernels.butterfly_unit,
        butterfly_efficiency=kernels.butterfly_efficiency,
        butterfly_max_stages_per_kernel=kernels.butterfly_max_stages_per_kernel,
    )


def _target_facts(run: SuiteRun) -> dict[str, TargetFacts]:
    per_target: dict[str, TargetFacts] = {}
    for t in run.targets:
        rs = [r.result for r in run.runs if r.target == t.key]
        if not rs:
            continue
        per_target[t.key] = TargetFacts(
            peak_ops_per_s=rs[0].peak_ops_per_s,
            flop_efficiency_geomean=geomean(r.flop_efficiency for r in rs),
            power_w_geomean=geomean(r.energy_j / r.latency_s for r in rs if r.latency_s > 0),
            butterfly_time_share_geomean=geomean(time_share(r, BUTTERFLY_KINDS) for r in rs),
        )
    return per_target


def _dense_over_hybrid_flops(run: SuiteRun) -> RatioSummary:
    a_key = run.array_key
    dense_flops = {}
    for spec in run.suite.workloads:
        hybrid = run.result(spec.name, a_key)
        dense = next((r.result for r in run.runs if r.workload == spec.name and r.network == DENSE), None)
        if hybrid is not None and dense is not None and hybrid.useful_ops > 0:
            dense_flops[spec.name] = dense.useful_ops / hybrid.useful_ops
    return RatioSummary.of(dense_flops)


def roofs(run: SuiteRun) -> dict[str, Roof]:
    """Each target's roofline: peak FLOP/s (from its Result) and DRAM bandwidth (from its backend)."""
    out: dict[str, Roof] = {}
    for t in run.targets:
        rs = [r.result for r in run.runs if r.target == t.key]
        if not rs:
            continue
        backend = get_backend(t.backend, **t.options_dict)  # it ran these Results, so it builds
        bw = getattr(backend, "dram_bytes_per_s", None)
        if bw is None:  # a backend that cannot say: the plot shows its compute roof only
            bw = getattr(getattr(backend, "arch", None), "dram_bytes_per_s", None)
        out[t.key] = Roof(peak_ops_per_s=rs[0].peak_ops_per_s, dram_bytes_per_s=float(bw) if bw else 0.0)
    return out


def collect_facts(run: SuiteRun) -> Facts:
    """Numbers the explanation of the differences rests on, all read from the specs and the Results."""
    gpu = load_arch(GPU_ARCH)
    return Facts(
        gpu_arch=GPU_ARCH,
        gpu_peak_flops=dict(gpu.peak_flops) if isinstance(gpu, GPUArch) else None,
        array_arch=_array_arch(),
        gpu_kernels=_gpu_kernels(run),
        targets=_target_facts(run),
        dense_over_hybrid_flops=_dense_over_hybrid_flops(run),
        roofs=roofs(run),
        fabnet_differences=[d.line() for d in fidelity_differences()],
        gpu_validation=summarize(validate()),
    )


__all__ = ["BUTTERFLY_KINDS", "collect_facts", "roofs", "time_share"]
