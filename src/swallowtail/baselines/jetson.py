"""NVIDIA Jetson GPUs: a kernel-level model per board, power mode and software stack (docs/architecture.md).

A run names two things, kept apart as the Timeloop split keeps machine and mapping apart:

- the **board in a power mode** -- an arch preset `<board>-<mode>` (`xavier-nx-15w`, `xavier-nx-20w`,
  `agx-xavier-maxn`, `orin-nx-16gb-maxn`, `agx-orin-maxn`): SMs, per-SM unit rates, the mode's GPU and EMC
  clocks, DRAM bus, L2, special-function rate, power (`swallowtail.arch.specs.GPUArch`);
- the **software stack** -- a parameter file `baselines/params/stacks/<stack>.yaml` (`GPUStack`):
  `tensorrt-int8`, `tensorrt-fp16` (fused epilogues, fused multi-head attention), `pytorch-eager-fp16`,
  `pytorch-eager-fp32` (one kernel per op, host dispatch per op, per-stage butterfly kernels). The stack
  decides the precision (GEMM, vector and transform dtypes), the fusion and the per-kernel overhead.

Every op is one kernel unless the stack fuses it into the kernel before it. A kernel takes

    time = max(compute, L2 operand traffic, DRAM bytes / (bandwidth x dram_efficiency)) + per_op_overhead_s

and kernels run one after another (per-op latencies add up to the total).

- **GEMM** (and a convolution, as its implicit GEMM) on tensor cores (INT8 / FP16) or CUDA cores (FP32):
  tile and wave quantisation (NVIDIA's "Matrix Multiplication Background" guide) -- the output is cut into
  thread-block tiles (m x n, K in steps of k); each SM runs `gemm_ctas_per_sm` tiles at a time, so a GEMM
  takes ceil(tiles / (SMs x ctas)) waves of one padded tile each, at `gemm_efficiency` of the SM's peak.
  Each tile streams (m + n) x K operands from L2. The fastest tile is used. This is what makes throughput
  rise with batch and saturate: a small GEMM leaves SMs idle in its one wave, a large one fills them.
- **Butterfly** on CUDA cores: ceil(stages / `butterfly_max_stages_per_kernel`) kernels, each a pass over
  memory; **FFT** (cuFFT): ceil(log2 n / `fft_max_log2_points_per_pass`) passes.
- **Softmax, LayerNorm, element-wise**: memory-bound CUDA-core kernels; special functions (exp, tanh, rsqrt)
  at the board's `sfu_ops_per_clk_per_sm`.
- **Fusion** (`fusion: epilogue`): an element-wise op whose only producer is the previous kernel joins it
  (bias, GELU, scale, residual add: no launch, no DRAM round trip). **Fused attention**
  (`attention_fusion_max_seq`): QK^T -> softmax -> SV of a sequence no longer than that is one kernel whose
  score matrix never reaches DRAM (TensorRT's fused-MHA plugins).

Energy = the mode's power under load (measured where published, else its budget) x time.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from swallowtail.arch.specbase import (
    Count,
    Fraction,
    NonNegInt,
    SourcedSpec,
    SpecModel,
    apply_overrides,
    load_shipped_spec,
    validate_model,
)
from swallowtail.arch.specs import GPU_GENERATIONS, ArchSpec, GPUArch, GPUGeneration, load_arch, wrong_kind
from swallowtail.baselines._common import OpCost, build_result, gemm_form
from swallowtail.errors import SpecError, is_real
from swallowtail.flops import ceil_div
from swallowtail.result import Result
from swallowtail.workload import FFT, GEMM, Butterfly, Elementwise, LayerNorm, Op, Softmax, Workload

#: the board a bare `get_backend("jetson")` (or `"xavier-nx"`) uses, and its default software stack
DEFAULT_ARCH = "xavier-nx-15w"
DEFAULT_STACK = "tensorrt-fp16"
STACK_DIR = Path(__file__).parent / "params" / "stacks"

#: GEMM unit by the stack's GEMM dtype (a key of GPUArch.flops_per_clk_per_sm)
TENSOR_UNIT = {"int8": "int8_tensor", "fp16": "fp16_tensor", "fp32": "fp32_cuda"}
#: GEMM unit when the GPU has no tensor cores
NO_TENSOR_UNIT = {"int8": "fp16_cuda", "fp16": "fp16_cuda", "fp32": "fp32_cuda"}
#: element-wise kinds that evaluate a special function per element
SPECIAL_ELEMENTWISE = {"gelu"}

Unit = Annotated[str, Field(pattern=r"^[a-z0-9]+_[a-z0-9]+$")]
DType = Literal["int8", "fp16", "fp32"]

# ---- physical ranges (bounds of the tool, not sources) ----------------------------------------------------
#: a kernel's fixed overhead: at most 1 s (launches take microseconds)
MAX_OVERHEAD_S = 1.0
#: a thread-block tile side of at most 2^16 elements
MAX_TILE = 2**16
#: log2 of a length: at most 64
MAX_LOG2 = 64

TileSide = Annotated[int, Field(gt=0, le=MAX_TILE)]
Log2 = Annotated[int, Field(gt=0, le=MAX_LOG2)]


class GemmTile(SpecModel):
    """A thread-block tile: m x n outputs, K consumed `k` at a time."""

    m: TileSide
    n: TileSide
    k: TileSide


class GPUStack(SourcedSpec):
    """A software stack: what the software decides about running a workload on a GPU (module docstring)."""

    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    gemm_dtype: DType
    vector_dtype: DType
    transform_dtype: DType
    fusion: Literal["none", "epilogue"]
    attention_fusion_max_seq: NonNegInt
    per_op_overhead_s: Annotated[float, Field(ge=0, le=MAX_OVERHEAD_S, allow_inf_nan=False)]
    dram_efficiency: Fraction
    gemm_tiles: list[GemmTile] = Field(min_length=1)
    gemm_efficiency: dict[GPUGeneration, Fraction] = Field(min_length=1)  # by GPUArch.generation
    gemm_ctas_per_sm: Count
    butterfly_unit: Unit
    butterfly_efficiency: Fraction
    butterfly_max_stages_per_kernel: Log2
    fft_unit: Unit
    fft_efficiency: Fraction
    fft_max_log2_points_per_pass: Log2
    vector_unit: Unit
    vector_efficiency: Fraction


#: fields of a stack a backend option may override
STACK_FIELDS = tuple(sorted(set(GPUStack.model_fields) - {"name", "description", "sources"}))


def list_stacks() -> list[str]:
    """Names of the shipped software stacks."""
    return sorted(p.stem for p in STACK_DIR.glob("*.yaml"))


def load_stack(name_or_path: str | Path | GPUStack = DEFAULT_STACK) -> GPUStack:
    """A shipped stack by name (`baselines/params/stacks/<name>.yaml`) or a YAML path."""
    if isinstance(name_or_path, GPUStack):
        return name_or_path
    return load_shipped_spec(GPUStack, "stack", name_or_path, STACK_DIR)


def stack_with_overrides(stack: GPUStack, overrides: dict[str, Any], what: str = "jetson option") -> GPUStack:
    """A re-validated copy of `stack` with fields replaced (`gemm_efficiency.ampere`: one generation; a
    number for `gemm_efficiency`: every generation); the sources say "override"."""
    for key in overrides:
        if key.split(".")[0] not in STACK_FIELDS:
            raise SpecError(what, key, f"one of {sorted((*STACK_FIELDS, 'arch', 'stack', 'power_mode'))}")
    d = stack.to_dict()
    eff = overrides.get("gemm_efficiency")
    if is_real(eff):
        overrides = {**overrides, "gemm_efficiency": dict.fromkeys(stack.gemm_efficiency, eff)}
    prefix = "gemm_efficiency."
    new_generations = {  # a generation the stack has no value for: added (the path does not exist yet)
        k: v
        for k, v in overrides.items()
        if k.startswith(prefix)
        and (g := k[len(prefix) :]) in GPU_GENERATIONS
        and g not in stack.gemm_efficiency
    }
    d["gemm_efficiency"] = d["gemm_efficiency"] | {k[len(prefix) :]: v for k, v in new_generations.items()}
    d = apply_overrides(d, {k: v for k, v in overrides.items() if k not in new_generations})
    kept = {
        k: v for k, v in stack.sources.items() if not any(k == o or k.startswith(o + ".") for o in overrides)
    }
    d["sources"] = kept | {k: f"override: {v!r}" for k, v in overrides.items()}
    return validate_model(GPUStack, d, source=f"{stack.name} with overrides")


@dataclass
class _Terms:
    """An op's cost terms on the GPU (seconds, bytes) before per-op overhead and fusion."""

    compute_s: float
    l2_s: float
    dram_bytes: int
    unit: str
    kernels: int = 1  # launches the op takes on its own (a per-stage butterfly: one per pass)


@dataclass
class _Kernel:
    """The kernel an op is fused into: its accumulated terms, time so far and the index of its first op."""

    compute_s: float
    l2_s: float
    dram_bytes: int
    time_s: float
    head: int
    launches: int


class JetsonBackend:
    """A Jetson board in a power mode, running a software stack. `run(workload) -> Result`."""

    def __init__(
        self,
        arch: ArchSpec | str | None = None,
        stack: str | Path | GPUStack | None = None,
        power_mode: str | None = None,
        name: str = "jetson",
        **overrides: Any,
    ) -> None:
        a = load_arch(DEFAULT_ARCH if arch is None else arch)
        if not isinstance(a, GPUArch):
            raise wrong_kind(arch, a, f"a GPU spec (kind: gpu), e.g. {DEFAULT_ARCH}")
        self.arch: GPUArch = a if power_mode is None else a.at_mode(power_mode)
        s = load_stack(DEFAULT_STACK if stack is None else stack)
        self.stack = stack_with_overrides(s, overrides, f"{name} option") if overrides else s
        if self.arch.generation not in self.stack.gemm_efficiency:
            raise SpecError(
                f"{self.stack.name}.gemm_efficiency",
                sorted(self.stack.gemm_efficiency),
                f"a value for {self.arch.name}'s GPU generation {self.arch.generation!r} (give one: "
                f"-o gemm_efficiency.{self.arch.generation}=VALUE, a fraction of the tensor peak)",
            )
        for f in ("butterfly_unit", "fft_unit", "vector_unit"):
            unit = getattr(self.stack, f)
            if unit not in self.arch.flops_per_clk_per_sm:
                raise SpecError(
                    f, unit, f"a unit of {a.name}: one of {sorted(self.arch.flops_per_clk_per_sm)}"
                )
        self.name = name

    # ---- machine --------------------------------------------------------------------------------------
    @property
    def power_mode(self) -> str:
        return self.arch.default_mode

    @property
    def clock_hz(self) -> float:
        return self.arch.clock_hz

    def peak(self, unit: str) -> float:
        return self.arch.peak_flops_at(unit)

    @property
    def gemm_unit(self) -> str:
        table = TENSOR_UNIT if self.arch.tensor_cores else NO_TENSOR_UNIT
        return table[self.stack.gemm_dtype]

    @property
    def dram_s_per_byte(self) -> float:
        return 1.0 / (self.arch.dram_bytes_per_s * self.stack.dram_efficiency)

    @property
    def power_w(self) -> float:
        return self.arch.power_w()

    # ---- the op as the stack runs it ---------------------------------------------------------------------
    def as_run(self, op: Op) -> Op:
        """`op` in the stack's precision (GEMMs in `gemm_dtype`, butterfly / FFT in `transform_dtype`, the
        rest in `vector_dtype`): the bytes it moves follow from that."""
        s = self.stack
        dtype = (
            s.gemm_dtype
            if isinstance(op, GEMM)
            else s.transform_dtype
            if isinstance(op, Butterfly | FFT)
            else s.vector_dtype
        )
        return op if op.dtype == dtype else dataclasses.replace(op, dtype=dtype)

    # ---- per-op terms ---------------------------------------------------------------------------------
    @property
    def gemm_efficiency(self) -> float:
        """The stack's GEMM efficiency on this board's GPU generation (its kernels differ per generation)."""
        return self.stack.gemm_efficiency[self.arch.generation]

    def gemm_terms(self, op: GEMM) -> _Terms:
        """Tile / wave quantised GEMM time and L2 operand time of the fastest tile."""
        p, a = self.stack, self.arch
        unit = self.gemm_unit
        per_slot = self.peak(unit) / a.sms / p.gemm_ctas_per_sm * self.gemm_efficiency
        slots = a.sms * p.gemm_ctas_per_sm
        l2_bw = a.l2_bytes_per_clk * self.clock_hz
        best: tuple[float, float, float] | None = None
        for t in p.gemm_tiles:
            tiles = op.batch * ceil_div(op.m, t.m) * ceil_div(op.n, t.n)
            k_pad = ceil_div(op.k, t.k) * t.k
            t_c = ceil_div(tiles, slots) * 2 * t.m * t.n * k_pad / per_slot
            t_l2 = tiles * (t.m + t.n) * k_pad * op.elem_bytes / l2_bw
            cand = (max(t_c, t_l2), t_c, t_l2)
            if best is None or cand[0] < best[0]:
                best = cand
        assert best is not None
        return _Terms(best[1], best[2], op.min_bytes, unit)

    def butterfly_terms(self, op: Butterfly) -> _Terms:
        p = self.stack
        assert op.stages is not None
        passes = ceil_div(op.stages, p.butterfly_max_stages_per_kernel)
        io = (op.input_elems + op.output_elems) * op.elem_bytes
        dram = passes * io + op.weight_elems * op.elem_bytes
        compute = op.flops / (self.peak(p.butterfly_unit) * p.butterfly_efficiency)
        return _Terms(compute, 0.0, dram, p.butterfly_unit, kernels=passes)

    def fft_passes(self, n: int) -> int:
        return max(1, math.ceil(math.log2(max(n, 2)) / self.stack.fft_max_log2_points_per_pass - 1e-12))

    def fft_terms(self, op: FFT) -> _Terms:
        p = self.stack
        passes = self.fft_passes(op.n)
        dram = passes * (op.input_elems + op.output_elems) * op.elem_bytes
        compute = op.flops / (self.peak(p.fft_unit) * p.fft_efficiency)
        return _Terms(compute, 0.0, dram, p.fft_unit, kernels=passes)

    @staticmethod
    def special_ops(op: Op) -> int:
        """Special-function evaluations (exp, tanh, rsqrt) of a CUDA-core op."""
        if isinstance(op, Softmax):
            return op.rows * op.n
        if isinstance(op, LayerNorm):
            return op.rows
        if isinstance(op, Elementwise) and op.op in SPECIAL_ELEMENTWISE:
            return op.numel
        return 0

    def vector_terms(self, op: Op) -> _Terms:
        p, a = self.stack, self.arch
        arith = op.flops / (self.peak(p.vector_unit) * p.vector_efficiency)
        sfu = self.special_ops(op) / (a.sfu_ops_per_clk_per_sm * a.sms * self.clock_hz)
        return _Terms(max(arith, sfu), 0.0, op.min_bytes, p.vector_unit)

    def terms(self, op: Op) -> _Terms:
        if isinstance(op, GEMM):
            return self.gemm_terms(op)
        if isinstance(op, Butterfly):
            return self.butterfly_terms(op)
        if isinstance(op, FFT):
            return self.fft_terms(op)
        return self.vector_terms(op)

    # ---- kernels ---------------------------------------------------------------------------------------
    def kernel_time(
        self, compute_s: float, l2_s: float, dram_bytes: int, kernels: int = 1
    ) -> tuple[float, str]:
        """(time, bound) of `kernels` launches doing this work (per-op overhead paid once per launch)."""
        chip = max(compute_s, l2_s)
        dram_s = dram_bytes * self.dram_s_per_byte
        body = max(chip, dram_s)
        overhead = kernels * self.stack.per_op_overhead_s
        if overhead > body:
            bound = "overhead"
        elif dram_s > chip:
            bound = "dram"
        else:
            bound = "compute" if compute_s >= l2_s else "l2"
        return body + overhead, bound

    def _joins(self, op: Op, prev: Op | None, prev_consumers: int, seq_len: int | None) -> int | None:
        """DRAM bytes `op` adds to the previous kernel if the stack fuses it there, else None."""
        if prev is None or prev.name not in op.deps or prev_consumers != 1:
            return None
        s = self.stack
        prev_out = prev.output_elems * prev.elem_bytes
        if s.fusion == "epilogue" and isinstance(op, Elementwise) and not op.pool:  # a pool is its own layer
            reads_prev = min(op.numel, prev.output_elems) * op.elem_bytes
            return max(0, op.min_bytes - reads_prev - prev_out)
        fused_attention = seq_len is not None and 0 < seq_len <= s.attention_fusion_max_seq
        if fused_attention and isinstance(op, Softmax):
            return -prev_out  # the scores stay on chip: neither written nor read back
        if fused_attention and isinstance(op, GEMM) and isinstance(prev, Softmax) and not op.b_is_weight:
            return op.min_bytes - prev.output_elems * op.elem_bytes  # P stays on chip; V in, the output out
        return None

    def costs(self, workload: Workload) -> list[OpCost]:
        """Per-op costs; fused ops get the time they add to their kernel (bound "fused"); structured matmuls
        as their batched GEMMs (`gemm_form`)."""
        workload = gemm_form(workload)
        consumers = Counter(d for op in workload.ops for d in op.deps)
        seq_len = workload.meta.get("seq_len") if isinstance(workload.meta, dict) else None
        out: list[OpCost] = []
        kernel: _Kernel | None = None
        prev: Op | None = None
        power = self.power_w
        for original in workload.ops:
            op = self.as_run(original)
            t = self.terms(op)
            delta = (
                None
                if kernel is None
                else self._joins(op, prev, consumers[prev.name if prev else ""], seq_len)
            )
            if kernel is not None and delta is not None:
                kernel.compute_s += t.compute_s
                kernel.l2_s += t.l2_s
                kernel.dram_bytes += delta
                new_time, bound = self.kernel_time(
                    kernel.compute_s, kernel.l2_s, kernel.dram_bytes, kernel.launches
                )
                added = new_time - kernel.time_s
                kernel.time_s = new_time
                head = out[kernel.head]
                if added < 0:  # fusing saved traffic: the kernel got shorter; its head op carries that
                    out[kernel.head] = self._cost(
                        head.op, head.latency_s + added, bound, None, head.bytes["dram"], power
                    )
                    added = 0.0
                else:
                    head.bound = bound
                out.append(self._cost(original, added, "fused", None, delta, power))
            else:
                time, bound = self.kernel_time(t.compute_s, t.l2_s, t.dram_bytes, t.kernels)
                kernel = _Kernel(t.compute_s, t.l2_s, t.dram_bytes, time, len(out), t.kernels)
                util = op.flops / (self.peak(t.unit) * time) if time > 0 else 0.0
                out.append(self._cost(original, time, bound, util, t.dram_bytes, power))
            prev = op
        return out

    def _cost(self, op: Op, time: float, bound: str, util: float | None, dram: int, power: float) -> OpCost:
        return OpCost(
            op=op,
            latency_s=time,
            bound=bound,
            cycles=round(time * self.clock_hz),
            utilization=util,
            bytes={"dram": dram},
            executed_flops=float(op.flops),
            energy_parts={"board": power * time},
        )

    # ---- run ------------------------------------------------------------------------------------------
    def describe(self) -> str:
        """`<board>-<mode> / <stack>`: what a run names."""
        return f"{self.arch.name} / {self.stack.name}"

    def notes(self, kernels: int) -> list[str]:
        p, a = self.stack, self.arch
        return [
            f"kernel-level model of {a.name} ({self.clock_hz / 1e6:.6g} MHz GPU, {a.sms} SMs, DRAM "
            f"{a.dram_bytes_per_s / 1e9:.4g} GB/s x {p.dram_efficiency:g}) running stack {p.name}: "
            f"{p.description}",
            f"precision: GEMM {p.gemm_dtype} on {self.gemm_unit}, butterfly / FFT {p.transform_dtype}, "
            f"vector ops {p.vector_dtype}; fusion {p.fusion}, fused attention up to L = "
            f"{p.attention_fusion_max_seq}; {kernels} kernels at {p.per_op_overhead_s * 1e6:g} us each",
            f"GEMM: tile/wave quantised over {len(p.gemm_tiles)} tiles, efficiency {self.gemm_efficiency:g}, "
            f"L2 {a.l2_bytes_per_clk:g} B/clk; butterfly {p.butterfly_unit} x "
            f"{p.butterfly_efficiency:g}, up to {p.butterfly_max_stages_per_kernel} stages per kernel; FFT "
            f"{p.fft_unit} x {p.fft_efficiency:g}, 2^{p.fft_max_log2_points_per_pass} points per pass",
            f"energy = power under load {self.power_w:g} W ({a.default_mode} mode) x time",
            f"peak = {self.peak(self.gemm_unit) / 1e12:.4g} TFLOP/s ({self.gemm_unit}); utilization = FLOP "
            "efficiency",
        ]

    def run(self, workload: Workload) -> Result:
        costs = self.costs(workload)
        latency = math.fsum(c.latency_s for c in costs)
        peak = self.peak(self.gemm_unit)
        kernels = sum(1 for c in costs if c.bound != "fused")
        return build_result(
            backend=self.name,
            arch=self.arch.name,
            workload=workload,
            costs=costs,
            peak_ops_per_s=peak,
            energy_breakdown_j=None,
            clock_hz=self.clock_hz,
            utilization=workload.flops / (peak * latency) if latency > 0 else 0.0,
            notes=self.notes(kernels),
        )


def make_jetson(arch: ArchSpec | str | None = None, **options: Any) -> JetsonBackend:
    """Factory registered as `jetson`. Options: `stack` (a stack name or YAML path), `power_mode`, and any
    field of `GPUStack` as an override (`fusion="none"`, `gemm_efficiency=0.7`, ...)."""
    return JetsonBackend(arch, **options)


def make_xavier(arch: ArchSpec | str | None = None, **options: Any) -> JetsonBackend:
    """Factory registered as `xavier-nx`: `jetson` on `xavier-nx-15w` unless `arch` names another board."""
    return JetsonBackend(arch, name="xavier-nx", **options)


__all__ = [
    "DEFAULT_ARCH",
    "DEFAULT_STACK",
    "GPUStack",
    "GemmTile",
    "JetsonBackend",
    "list_stacks",
    "load_stack",
    "make_jetson",
    "make_xavier",
    "stack_with_overrides",
]
