"""The Jetson GPU model's kernel assumptions against kernels timed on a real GPU (`experiments.kernels`).

The model's stacks say how efficiently a GPU runs each kind of kernel -- as a fraction of a unit's peak, of
the DRAM bandwidth, as passes over memory -- and only three of those values are fitted on published Jetson
points. Here the same model runs on the preset of the GPU the kernels were timed on (`--arch`, e.g.
`h100-sxm-max`), with each stack's assumptions as shipped except three values fitted on the measurement
itself, one case each, in this order:

1. `per_op_overhead_s`: the per-launch time of the tiny-op chain, in the mode the kernels were timed
   (a CUDA graph's per-kernel time, or eager dispatch where a case could not be captured);
2. `dram_efficiency`: the `stream` case (a scale far beyond the L2);
3. `gemm_efficiency` (for the measured GPU's generation): the `dense-linear` case.

Every other case is predicted, never fitted: the butterfly (`butterfly_efficiency`, one pass per
`butterfly_max_stages_per_kernel` stages), the FFT (`fft_efficiency`, `fft_max_log2_points_per_pass`), the
attention GEMMs (the fitted GEMM efficiency at other shapes), softmax, LayerNorm and element-wise kernels
(`vector_efficiency` and the DRAM efficiency), and fused attention (`attention_fusion_max_seq`). A large
error says the assumption does not hold on the measured GPU; whether it holds on a Jetson is a further
step (a datacenter GPU has a 50 MB L2 and HBM), which the report leaves to its reader with the numbers.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from swallowtail.arch.specbase import MIN_FRACTION
from swallowtail.arch.specs import GPUArch, list_gpu_presets, load_arch
from swallowtail.baselines.jetson import GPUStack, JetsonBackend, load_stack, stack_with_overrides
from swallowtail.errors import SpecError
from swallowtail.experiments.kernels import KernelCase, KernelMeasurements, KernelTiming, iter_rows
from swallowtail.result import Result

#: the stack each measured dtype is checked against: PyTorch eager, as the kernels were run
DEFAULT_STACKS = {"fp16": "pytorch-eager-fp16", "fp32": "pytorch-eager-fp32"}
#: form factors a datacenter GPU's name may carry; none: the SXM module ("NVIDIA H100 80GB HBM3")
FORM_FACTORS = ("sxm", "pcie", "nvl")
#: the stack whose fused-butterfly assumptions a fused butterfly case checks, and those assumptions
FUSED_BUTTERFLY_STACK = "tensorrt-fp16"
FUSED_BUTTERFLY_FIELDS = ("butterfly_unit", "butterfly_efficiency", "butterfly_max_stages_per_kernel")
#: bisection steps of the GEMM-efficiency fit (2^-60 of the interval: far below any time's resolution)
FIT_STEPS = 60
#: a predicted case within this relative error agrees with the model (the published-point target)
TARGET_ERROR = 0.20


@dataclass(frozen=True)
class FittedValue:
    """A stack value set from the measurement (`value`), beside what the stack assumes (`shipped`)."""

    dtype: str
    parameter: str
    value: float | None
    shipped: float | None
    case: str
    note: str = ""


@dataclass(frozen=True)
class KernelCheck:
    """One timed case: measured vs the model on the measured GPU's preset."""

    case: str
    kind: str
    seq_len: int
    dtype: str
    role: str
    measured_s: float | None
    model_s: float | None
    bound: str
    model_kernels: int
    measured_vs_gemm: float | None  # FLOP/s of the case / FLOP/s of dense-linear (same dtype and L)
    model_vs_gemm: float | None
    note: str = ""

    @property
    def error(self) -> float | None:
        if self.measured_s is None or self.model_s is None:
            return None
        return self.model_s / self.measured_s - 1.0


@dataclass(frozen=True)
class KernelCheckReport:
    """Everything `check_kernels` found: the checks, the three fitted values, the launch rows."""

    arch: str
    device: str
    stacks: dict[str, str]
    fitted: tuple[FittedValue, ...]
    checks: tuple[KernelCheck, ...]
    launch: tuple[dict[str, Any], ...]

    def predicted(self) -> list[KernelCheck]:
        return [c for c in self.checks if c.role == "predict" and c.error is not None]

    def within_target(self) -> int:
        return sum(abs(c.error) <= TARGET_ERROR for c in self.predicted() if c.error is not None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "device": self.device,
            "stacks": dict(self.stacks),
            "target_error": TARGET_ERROR,
            "fitted": [dataclasses.asdict(f) for f in self.fitted],
            "checks": [dataclasses.asdict(c) | {"error": c.error} for c in self.checks],
            "launch": list(self.launch),
            "predicted": len(self.predicted()),
            "within_target": self.within_target(),
        }


# ---- fitting ----------------------------------------------------------------------------------------------
def _backend(arch: GPUArch, stack: GPUStack, overrides: dict[str, Any]) -> JetsonBackend:
    return JetsonBackend(arch, stack_with_overrides(stack, overrides, "kernel check"), name="kernel-check")


def _run(arch: GPUArch, stack: GPUStack, overrides: dict[str, Any], case: KernelCase) -> Result:
    """The model's Result for `case` (a fused-attention case with fused attention up to its length)."""
    if case.fused_attention:
        longest = max(case.seq_len, stack.attention_fusion_max_seq)
        overrides = {**overrides, "attention_fusion_max_seq": longest}
    if case.fused_butterfly:
        fused = load_stack(FUSED_BUTTERFLY_STACK)
        overrides = {**overrides, **{f: getattr(fused, f) for f in FUSED_BUTTERFLY_FIELDS}}
    return _backend(arch, stack, overrides).run(case.workload())


def _fit_dram(arch: GPUArch, case: KernelCase, measured: float, overhead: float) -> tuple[float | None, str]:
    """The DRAM efficiency that makes the stream case take `measured` (closed form: it moves min_bytes)."""
    body = measured - overhead
    if body <= 0:
        return (
            None,
            f"the stream case took no longer than the per-launch time ({measured:.3g} <= {overhead:.3g} s)",
        )
    eff = case.min_bytes / (arch.dram_bytes_per_s * body)
    if eff > 1:
        return None, f"the stream case implies {eff:.3g} of the preset's DRAM peak (above 1: a wrong preset?)"
    if eff < MIN_FRACTION:
        return None, f"the stream case implies {eff:.3g} of the preset's DRAM peak (below {MIN_FRACTION:g})"
    return eff, ""


def _fit_gemm(
    arch: GPUArch, stack: GPUStack, overrides: dict[str, Any], case: KernelCase, measured: float
) -> tuple[float | None, str]:
    """The GEMM efficiency (bisection: the model's time falls as it rises) that gives `measured`."""

    def t(eff: float) -> float:
        return _run(arch, stack, overrides | {"gemm_efficiency": {arch.generation: eff}}, case).latency_s

    if t(1.0) > measured:
        return None, f"the model is slower than measured even at the full peak ({t(1.0):.3g} s)"
    if t(MIN_FRACTION) < measured:  # a stack's efficiency is at least MIN_FRACTION
        return None, f"the model is faster than measured even at {MIN_FRACTION:g} of the peak"
    lo, hi = MIN_FRACTION, 1.0
    for _ in range(FIT_STEPS):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if t(mid) <= measured else (mid, hi)
    fitted = _run(arch, stack, overrides | {"gemm_efficiency": {arch.generation: hi}}, case)
    bound = fitted.ops[0].bound
    if bound != "compute":  # the time does not follow the efficiency there: any higher value also fits
        return hi, f"the model is {bound}-bound at this value: it is the smallest efficiency that fits"
    return hi, ""


def _launch_time(m: KernelMeasurements, mode: str) -> float | None:
    return next((r.per_op_s for r in m.launch if r.mode == mode), None)


# ---- the check ---------------------------------------------------------------------------------------------
@dataclass
class _DtypeState:
    """The stack of one dtype and its values fitted so far, per timing mode."""

    stack: GPUStack
    overrides: dict[str, dict[str, Any]]  # timed_as -> overrides
    gemm_note: str = "dense-linear was not measured"  # why no GEMM efficiency was fitted


def _timed(rows: Iterable[tuple[KernelCase, KernelTiming]], name: str, dtype: str):
    """The first successful timing of case `name` in `dtype`, or None."""
    return next(((c, r) for c, r in rows if c.name == name and r.dtype == dtype and r.time_s), None)


def _fit_dtype(
    m: KernelMeasurements,
    arch: GPUArch,
    stack: GPUStack,
    dtype: str,
    rows: list[tuple[KernelCase, KernelTiming]],
) -> tuple[_DtypeState, list[FittedValue]]:
    """Fit per-launch time, DRAM efficiency and GEMM efficiency of `dtype`'s stack (module docstring)."""
    state = _DtypeState(stack, {})
    fitted: list[FittedValue] = []
    for mode in ("cuda-graph", "eager"):
        launch = _launch_time(m, mode)
        state.overrides[mode] = {"per_op_overhead_s": launch} if launch is not None else {}
        note = (
            ""
            if launch is not None
            else f"not measured: rows timed {mode} use the stack's value (a Jetson's)"
        )
        fitted.append(
            FittedValue(
                dtype, f"per_op_overhead_s ({mode})", launch, stack.per_op_overhead_s, "launch chain", note
            )
        )
    stream = _timed(rows, "stream", dtype)
    if stream is not None:
        c, r = stream
        overhead = state.overrides[r.timed_as or "eager"].get("per_op_overhead_s", stack.per_op_overhead_s)
        eff, note = _fit_dram(arch, c, r.time_s or 0.0, overhead)
        fitted.append(FittedValue(dtype, "dram_efficiency", eff, stack.dram_efficiency, _case_key(c), note))
        if eff is not None:
            for o in state.overrides.values():
                o["dram_efficiency"] = eff
    linears = [(c, r) for c, r in rows if c.name == "dense-linear" and r.dtype == dtype and r.time_s]
    linear = max(linears, key=lambda cr: cr[0].seq_len, default=None)  # the longest that ran: the fullest GPU
    if linear is not None:
        c, r = linear
        eff, note = _fit_gemm(arch, stack, state.overrides[r.timed_as or "eager"], c, r.time_s or 0.0)
        state.gemm_note = f"{_case_key(c)} fitted none: {note}"
        param, shipped = f"gemm_efficiency.{arch.generation}", stack.gemm_efficiency.get(arch.generation)
        fitted.append(FittedValue(dtype, param, eff, shipped, _case_key(c), note))
        if eff is not None:
            for o in state.overrides.values():
                o["gemm_efficiency"] = {arch.generation: eff}
    return state, fitted


def _vs_gemm(flops: int, t: float | None, gemm_rate: float | None) -> float | None:
    if t is None or gemm_rate is None or t <= 0 or gemm_rate <= 0:
        return None
    return flops / t / gemm_rate


def _model_row(
    arch: GPUArch, state: _DtypeState, case: KernelCase, row: KernelTiming
) -> tuple[float, str, int] | str:
    """(model seconds, bounds, kernels) of a timed case, or why the model cannot cost it."""
    ov = state.overrides[row.timed_as or "eager"]
    if "gemm_efficiency" not in ov and arch.generation not in state.stack.gemm_efficiency:
        return f"no {row.dtype} GEMM efficiency for {arch.generation}: {state.gemm_note}"
    res = _run(arch, state.stack, ov, case)
    launched = [o for o in res.ops if o.bound != "fused"]
    return res.latency_s, "+".join(sorted({o.bound for o in launched})), len(launched)


def _gemm_rates(
    rows: list[tuple[KernelCase, KernelTiming]], model: dict[int, float]
) -> dict[tuple[str, int], tuple[float | None, float | None]]:
    """(measured, model) FLOP/s of dense-linear per (dtype, L)."""
    out: dict[tuple[str, int], tuple[float | None, float | None]] = {}
    for i, (c, r) in enumerate(rows):
        if c.name == "dense-linear" and r.time_s:
            t_model = model.get(i)
            out[(r.dtype, r.seq_len)] = (r.flops / r.time_s, r.flops / t_model if t_model else None)
    return out


def preset_for(m: KernelMeasurements) -> str:
    """The GPU preset of the measured device: the one whose board name (without its form factor: `h100` of
    `h100-sxm`) is in the device's name and whose SM count is the measured one."""
    words = set(re.findall(r"[a-z0-9]+", m.device.lower()))  # a whole word: `h200` is not in `GH200`
    form = next((f for f in FORM_FACTORS if f in words), FORM_FACTORS[0])  # NVIDIA names PCIe and NVL cards
    found = []
    for preset in list_gpu_presets():
        a = load_arch(preset)
        assert isinstance(a, GPUArch)
        chip, _, preset_form = a.board.partition("-")
        if chip in words and a.sms == m.sms and preset_form in ("", form):
            found.append(preset)
    if len(found) != 1:
        got = f"{len(found)} presets ({', '.join(found)})" if found else "no preset"
        raise SpecError(
            "--arch", None, f"a GPU preset named for {m.device} with {m.sms} SMs: {got} match; name one"
        )
    return found[0]


def check_kernels(
    m: KernelMeasurements, arch: str | GPUArch | None = None, stacks: dict[str, str] | None = None
) -> KernelCheckReport:
    """Cost every timed case with the model on `arch` (the measured GPU's preset; None: `preset_for`), with
    the three values of the module docstring fitted on the measurement and everything else as the stacks
    ship it."""
    a = load_arch(preset_for(m) if arch is None else arch)
    if not isinstance(a, GPUArch):
        raise SpecError("--arch", a.name, "a GPU preset (kind: gpu), e.g. h100-sxm-max")
    if m.sms is not None and m.sms != a.sms:
        raise SpecError("--arch", a.name, f"a GPU preset with {m.sms} SMs, as the measured {m.device}")
    names = {**DEFAULT_STACKS, **(stacks or {})}
    rows = list(iter_rows(m))
    fitted: list[FittedValue] = []
    states: dict[str, _DtypeState] = {}
    for dtype in m.dtypes:
        states[dtype], f = _fit_dtype(m, a, load_stack(names[dtype]), dtype, rows)
        fitted.extend(f)
    fit_keys = {(f.case, f.dtype) for f in fitted if f.value is not None}
    model: dict[int, float] = {}
    costed: dict[int, tuple[float, str, int] | str] = {}
    for i, (c, r) in enumerate(rows):
        if r.time_s is not None:
            costed[i] = _model_row(a, states[r.dtype], c, r)
            if not isinstance(costed[i], str):
                model[i] = costed[i][0]  # type: ignore[index]
    rates = _gemm_rates(rows, model)
    checks = []
    for i, (c, r) in enumerate(rows):
        got = costed.get(i, r.error or "")
        model_s, bound, kernels, note = (None, "", 0, got) if isinstance(got, str) else (*got, "")
        gm, gmod = rates.get((r.dtype, r.seq_len), (None, None))
        role = "fit" if (_case_key(c), r.dtype) in fit_keys else "predict"
        checks.append(
            KernelCheck(
                case=c.name,
                kind=c.kind,
                seq_len=c.seq_len,
                dtype=r.dtype,
                role=role,
                measured_s=r.time_s,
                model_s=model_s,
                bound=bound,
                model_kernels=kernels,
                measured_vs_gemm=_vs_gemm(r.flops, r.time_s, gm),
                model_vs_gemm=_vs_gemm(r.flops, model_s, gmod),
                note=note,
            )  # fmt: skip
        )
    return KernelCheckReport(
        arch=a.name,
        device=m.device,
        stacks={d: names[d] for d in m.dtypes},
        fitted=tuple(fitted),
        checks=tuple(checks),
        launch=tuple(r.model_dump() for r in m.launch),
    )


def _case_key(c: KernelCase) -> str:
    """How a fitted value names the case it was fitted on."""
    return f"{c.name} @ L={c.seq_len}"


__all__ = ["DEFAULT_STACKS", "FittedValue", "KernelCheck", "KernelCheckReport", "check_kernels", "preset_for"]
