"""NVIDIA Jetson Xavier NX (15 W mode): a kernel-level GPU model (DESIGN.md, "Baselines").

The GPU is the `xavier-nx-15w` arch preset (6 Volta SMs, 384 CUDA + 48 tensor cores, 1109 MHz, LPDDR4x
51.2 GB/s, peaks per unit, power modes); the kernel-model parameters live in
`baselines/params/xavier-nx-kernels.yaml` (`GPUKernelModel`, each with its source or marked assumption,
each overridable as a backend option). Every op is one kernel -- or, with `fusion="epilogue"` (default,
what TensorRT does), an element-wise op is folded into the kernel that produced its input (bias, GELU,
scale, residual add: no launch, no round trip of the intermediate). A kernel takes

    time = max(compute, L2 operand traffic, DRAM bytes / (bandwidth x dram_efficiency)) + kernel_launch_s

and kernels run one after another (per-op latencies add up to the total).

- **GEMM** on tensor cores (INT8 ops use the `int8_tensor` peak, FP16 `fp16_tensor`): tile and wave
  quantisation (NVIDIA's "Matrix Multiplication Background" guide) -- the output is cut into thread-block
  tiles (m x n, K in steps of k); each SM runs `gemm_ctas_per_sm` tiles at a time, so a GEMM takes
  ceil(tiles / (SMs x ctas)) waves of one padded tile each, at `gemm_efficiency` of the SM's tensor
  peak. Each tile streams (m + n) x K operands from L2 (`l2_bytes_per_clk_per_sm`). The fastest of
  `gemm_tiles` is used (what cuBLAS's heuristics aim at). Batched attention GEMMs are the same with
  batch x tiles. DRAM: operands and result once.
- **Butterfly** on CUDA cores (2x2 blocks do not map to MMA): one fused kernel runs up to
  `butterfly_max_stages_per_kernel` stages (HazyResearch's kernel: log2 n <= 14), so a butterfly takes
  ceil(stages / max) passes over memory; arithmetic at `butterfly_efficiency` of the `butterfly_unit` peak
  (warp shuffles bind: 0.75, see the YAML).
- **FFT** (cuFFT): ceil(log2 n / `fft_max_log2_points_per_pass`) passes over memory, arithmetic at
  `fft_efficiency` of the `fft_unit` peak.
- **Softmax, LayerNorm, element-wise** on CUDA cores: memory-bound; arithmetic at `vector_efficiency`, special
  functions (exp per softmax element, tanh per GELU element, rsqrt per LayerNorm row) at
  `sfu_ops_per_clk_per_sm`.

The L2 (512 KB) is not modelled as a cache between kernels: every kernel reads its inputs from and writes
its output to DRAM (activations of the networks of interest are larger than the L2).

Energy = the power mode's measured power under load (`measured_power_w`, MLPerf Inference v2.0 Xavier NX
system power ~13-14 W; the board budget if none) x time.

**Calibration point** (`MLPERF_BERT_LARGE`): MLPerf Inference v1.1, Jetson Xavier NX, BERT-Large (24 x 1024 /
4096, 16 heads), sequence 384, INT8, SingleStream mean latency 35.8 ms. No parameter was fitted to it; the
test suite checks the model lands within 25% (`bert_large_workload`, `calibration`).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from swallowtail.arch._spec_base import SourcedSpec, SpecModel, read_yaml_file, validate_model
from swallowtail.arch.specs import ArchSpec, GPUArch, load_arch
from swallowtail.baselines._common import OpCost, build_result, ceil_div
from swallowtail.errors import SpecError
from swallowtail.result import Result
from swallowtail.workload import FFT, GEMM, Butterfly, Elementwise, LayerNorm, Op, Softmax, Workload

#: the GPU preset and the kernel-model parameters a bare `get_backend("xavier-nx")` uses
DEFAULT_ARCH = "xavier-nx-15w"
DEFAULT_PARAMS = "xavier-nx-kernels"
PARAMS_DIR = Path(__file__).parent / "params"

#: tensor-core unit by op dtype (a key of GPUArch.peak_flops)
TENSOR_UNIT = {"int8": "int8_tensor", "fp16": "fp16_tensor", "bf16": "fp16_tensor", "fp32": "fp32_cuda"}
#: CUDA-core unit when the GPU has no tensor cores
NO_TENSOR_UNIT = {"int8": "fp16_cuda", "fp16": "fp16_cuda", "bf16": "fp16_cuda", "fp32": "fp32_cuda"}
#: element-wise kinds that evaluate a special function per element
SPECIAL_ELEMENTWISE = {"gelu"}

#: MLPerf Inference v1.1 (Closed, Edge), NVIDIA Jetson Xavier NX, BERT-Large 99%, INT8, SingleStream
MLPERF_BERT_LARGE: dict[str, Any] = {
    "mean_latency_s": 35.8e-3,
    "p90_latency_s": 46.4e-3,
    "seq_len": 384,
    "dtype": "int8",
    "layers": 24,
    "d_model": 1024,
    "d_ff": 4096,
    "n_heads": 16,
    "source": "MLPerf Inference v1.1 results, Jetson Xavier NX, BERT-Large, SingleStream (DESIGN.md)",
}
#: how close the model must land to the calibration point (relative)
CALIBRATION_TOLERANCE = 0.25

Fraction = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PosInt = Annotated[int, Field(gt=0)]
Unit = Annotated[str, Field(pattern=r"^[a-z0-9]+_[a-z0-9]+$")]


class GemmTile(SpecModel):
    """A thread-block tile: m x n outputs, K consumed `k` at a time."""

    m: PosInt
    n: PosInt
    k: PosInt


class GPUKernelModel(SourcedSpec):
    """Parameters of the kernel-level GPU model (see the module docstring)."""

    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    fusion: Literal["none", "epilogue"]
    kernel_launch_s: NonNegFloat
    dram_efficiency: Fraction
    gemm_tiles: list[GemmTile] = Field(min_length=1)
    gemm_efficiency: Fraction
    gemm_ctas_per_sm: PosInt
    l2_bytes_per_clk_per_sm: PosFloat
    butterfly_unit: Unit
    butterfly_efficiency: Fraction
    butterfly_max_stages_per_kernel: PosInt
    fft_unit: Unit
    fft_efficiency: Fraction
    fft_max_log2_points_per_pass: PosInt
    vector_unit: Unit
    vector_efficiency: Fraction
    sfu_ops_per_clk_per_sm: PosFloat


def load_kernel_model(name_or_path: str | Path | GPUKernelModel = DEFAULT_PARAMS) -> GPUKernelModel:
    """A shipped parameter set by name (`baselines/params/<name>.yaml`) or a YAML path."""
    if isinstance(name_or_path, GPUKernelModel):
        return name_or_path
    s = str(name_or_path)
    path = Path(s) if s.endswith((".yaml", ".yml")) or "/" in s else PARAMS_DIR / f"{s}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))
        raise SpecError("params", s, f"one of {shipped} or a path to a YAML file")
    return validate_model(GPUKernelModel, read_yaml_file(path), source=str(path))


@dataclass
class _Terms:
    """An op's cost terms on the GPU (seconds, bytes) before launch overhead and fusion."""

    compute_s: float
    l2_s: float
    dram_bytes: int
    unit: str
    detail: str = ""


class XavierBackend:
    """Jetson Xavier NX kernel-level model. `run(workload) -> Result`."""

    def __init__(
        self,
        arch: ArchSpec | str | None = None,
        power_mode: str | None = None,
        params: str | Path | GPUKernelModel | None = None,
        **overrides: Any,
    ) -> None:
        a = load_arch(DEFAULT_ARCH if arch is None else arch)
        if not isinstance(a, GPUArch):
            raise SpecError("arch", a.name, f"a GPU spec (kind: gpu), e.g. {DEFAULT_ARCH}")
        self.arch: GPUArch = a
        mode = a.default_mode if power_mode is None else power_mode
        if mode not in a.power_modes:
            raise SpecError("power_mode", mode, f"one of {sorted(a.power_modes)}")
        self.power_mode = mode
        p = load_kernel_model(DEFAULT_PARAMS if params is None else params)
        if overrides:
            fields = set(GPUKernelModel.model_fields) - {"name", "description", "sources"}
            for key in overrides:
                if key not in fields:
                    allowed = sorted(fields | {"arch", "power_mode", "params"})
                    raise SpecError("xavier-nx option", key, f"one of {allowed}")
            d = p.to_dict()
            d.update(overrides)
            kept = {k: v for k, v in p.sources.items() if k.split(".")[0] not in overrides}
            d["sources"] = kept | {k: f"override: {v!r}" for k, v in overrides.items()}
            p = validate_model(GPUKernelModel, d, source="xavier-nx options")
        for f in ("butterfly_unit", "fft_unit", "vector_unit"):
            unit = getattr(p, f)
            if unit not in a.peak_flops:
                raise SpecError(f, unit, f"a unit of {a.name}: one of {sorted(a.peak_flops)}")
        self.params = p
        self.name = "xavier-nx"

    # ---- machine --------------------------------------------------------------------------------------
    @property
    def clock_hz(self) -> float:
        return self.arch.power_modes[self.power_mode].gpu_clock_hz

    def peak(self, unit: str) -> float:
        return self.arch.peak_flops_at(unit, self.power_mode)

    def gemm_unit(self, dtype: str) -> str:
        table = TENSOR_UNIT if self.arch.tensor_cores else NO_TENSOR_UNIT
        unit = table.get(dtype)
        if unit is None or unit not in self.arch.peak_flops:
            raise SpecError(
                "dtype", dtype, f"a dtype with a peak on {self.arch.name} ({sorted(self.arch.peak_flops)})"
            )
        return unit

    @property
    def dram_s_per_byte(self) -> float:
        return 1.0 / (self.arch.dram_bytes_per_s * self.params.dram_efficiency)

    @property
    def power_w(self) -> float:
        m = self.arch.power_modes[self.power_mode]
        return m.measured_power_w if m.measured_power_w is not None else m.board_power_w

    # ---- per-op terms ---------------------------------------------------------------------------------
    def gemm_terms(self, op: GEMM) -> _Terms:
        """Tile / wave quantised tensor-core time and L2 operand time of the fastest tile."""
        p, a = self.params, self.arch
        unit = self.gemm_unit(op.dtype)
        per_slot = self.peak(unit) / a.sms / p.gemm_ctas_per_sm * p.gemm_efficiency
        slots = a.sms * p.gemm_ctas_per_sm
        l2_bw = p.l2_bytes_per_clk_per_sm * a.sms * self.clock_hz
        best: tuple[float, float, float, GemmTile] | None = None
        for t in p.gemm_tiles:
            tiles = op.batch * ceil_div(op.m, t.m) * ceil_div(op.n, t.n)
            k_pad = ceil_div(op.k, t.k) * t.k
            waves = ceil_div(tiles, slots)
            t_c = waves * 2 * t.m * t.n * k_pad / per_slot
            t_l2 = tiles * (t.m + t.n) * k_pad * op.elem_bytes / l2_bw
            cand = (max(t_c, t_l2), t_c, t_l2, t)
            if best is None or cand[0] < best[0]:
                best = cand
        assert best is not None
        _, t_c, t_l2, tile = best
        return _Terms(t_c, t_l2, op.min_bytes, unit, f"tile {tile.m}x{tile.n}x{tile.k}")

    def butterfly_terms(self, op: Butterfly) -> _Terms:
        p = self.params
        assert op.stages is not None
        passes = ceil_div(op.stages, p.butterfly_max_stages_per_kernel)
        io = (op.input_elems + op.output_elems) * op.elem_bytes
        dram = passes * io + op.weight_elems * op.elem_bytes
        compute = op.flops / (self.peak(p.butterfly_unit) * p.butterfly_efficiency)
        return _Terms(compute, 0.0, dram, p.butterfly_unit, f"{passes} pass(es)")

    def fft_passes(self, n: int) -> int:
        return max(1, math.ceil(math.log2(max(n, 2)) / self.params.fft_max_log2_points_per_pass - 1e-12))

    def fft_terms(self, op: FFT) -> _Terms:
        p = self.params
        passes = self.fft_passes(op.n)
        dram = passes * (op.input_elems + op.output_elems) * op.elem_bytes
        compute = op.flops / (self.peak(p.fft_unit) * p.fft_efficiency)
        return _Terms(compute, 0.0, dram, p.fft_unit, f"{passes} pass(es)")

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
        p, a = self.params, self.arch
        arith = op.flops / (self.peak(p.vector_unit) * p.vector_efficiency)
        sfu = self.special_ops(op) / (p.sfu_ops_per_clk_per_sm * a.sms * self.clock_hz)
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
    def kernel_time(self, compute_s: float, l2_s: float, dram_bytes: int) -> tuple[float, str]:
        """(time, bound) of one kernel."""
        dram_s = dram_bytes * self.dram_s_per_byte
        body = max(compute_s, l2_s, dram_s)
        launch = self.params.kernel_launch_s
        if launch > body:
            bound = "launch"
        elif body == compute_s:
            bound = "compute"
        elif body == l2_s:
            bound = "l2"
        else:
            bound = "dram"
        return body + launch, bound

    def costs(self, workload: Workload) -> list[OpCost]:
        """Per-op costs; fused element-wise ops get the time they add to their kernel (bound "fused")."""
        fuse = self.params.fusion == "epilogue"
        consumers = Counter(d for op in workload.ops for d in op.deps)
        out: list[OpCost] = []
        kernel: dict[str, Any] | None = None  # compute, l2, bytes, time, head index
        prev: Op | None = None
        power = self.power_w
        for op in workload.ops:
            t = self.terms(op)
            fusable = (
                fuse
                and kernel is not None
                and prev is not None
                and isinstance(op, Elementwise)
                and prev.name in op.deps
                and consumers[prev.name] == 1
            )
            if fusable:
                assert kernel is not None and prev is not None
                prev_out = prev.output_elems * prev.elem_bytes
                reads_prev = min(op.numel, prev.output_elems) * op.elem_bytes
                delta = max(0, op.min_bytes - reads_prev - prev_out)
                kernel["compute"] += t.compute_s
                kernel["bytes"] += delta
                new_time, bound = self.kernel_time(kernel["compute"], kernel["l2"], kernel["bytes"])
                added = max(0.0, new_time - kernel["time"])
                kernel["time"] += added
                head = out[kernel["head"]]
                head.bound = bound
                out.append(
                    OpCost(
                        op=op,
                        latency_s=added,
                        bound="fused",
                        cycles=round(added * self.clock_hz),
                        utilization=None,
                        bytes={"dram": delta},
                        executed_flops=float(op.flops),
                        energy_parts={"board": power * added},
                    )
                )
            else:
                time, bound = self.kernel_time(t.compute_s, t.l2_s, t.dram_bytes)
                kernel = {
                    "compute": t.compute_s,
                    "l2": t.l2_s,
                    "bytes": t.dram_bytes,
                    "time": time,
                    "head": len(out),
                }
                peak = self.peak(t.unit)
                out.append(
                    OpCost(
                        op=op,
                        latency_s=time,
                        bound=bound,
                        cycles=round(time * self.clock_hz),
                        utilization=op.flops / (peak * time) if time > 0 else 0.0,
                        bytes={"dram": t.dram_bytes},
                        executed_flops=float(op.flops),
                        energy_parts={"board": power * time},
                    )
                )
            prev = op
        return out

    # ---- run ------------------------------------------------------------------------------------------
    def workload_peak(self, workload: Workload) -> float:
        """Tensor-core peak of the workload's GEMM dtype (its first GEMM's; FP16 if it has none)."""
        dtype = next((op.dtype for op in workload.ops if isinstance(op, GEMM)), "fp16")
        return self.peak(self.gemm_unit(dtype))

    def run(self, workload: Workload) -> Result:
        p, a = self.params, self.arch
        costs = self.costs(workload)
        latency = math.fsum(c.latency_s for c in costs)
        peak = self.workload_peak(workload)
        kernels = sum(1 for c in costs if c.bound != "fused")
        notes = [
            f"kernel-level model of {a.name} in mode {self.power_mode} ({self.clock_hz / 1e6:.6g} MHz, "
            f"{a.sms} SMs); parameters {p.name}: fusion {p.fusion}, launch "
            f"{p.kernel_launch_s * 1e6:g} us/kernel ({kernels} kernels), DRAM "
            f"{a.dram_bytes_per_s / 1e9:g} GB/s x {p.dram_efficiency:g}",
            f"GEMM: tensor cores, tile/wave quantised over {len(p.gemm_tiles)} tiles, efficiency "
            f"{p.gemm_efficiency:g}, L2 {p.l2_bytes_per_clk_per_sm:g} B/clk/SM",
            f"butterfly: CUDA cores ({p.butterfly_unit}) x {p.butterfly_efficiency:g}, up to "
            f"{p.butterfly_max_stages_per_kernel} stages per kernel; FFT: {p.fft_unit} x "
            f"{p.fft_efficiency:g}, 2^{p.fft_max_log2_points_per_pass} points per pass",
            f"softmax / LayerNorm / element-wise: {p.vector_unit} x {p.vector_efficiency:g}, special "
            f"functions {p.sfu_ops_per_clk_per_sm:g}/clk/SM; every kernel through DRAM (L2 not modelled "
            "as a cache)",
            f"energy = measured power under load {self.power_w:g} W x time (MLPerf v2.0 Xavier NX class)",
            f"peak = {peak / 1e12:.4g} TFLOP/s (tensor cores, the workload's GEMM dtype); utilization = "
            "FLOP efficiency",
        ]
        return build_result(
            backend=self.name,
            arch=a.name,
            workload=workload,
            costs=costs,
            peak_ops_per_s=peak,
            energy_breakdown_j=None,
            clock_hz=self.clock_hz,
            utilization=workload.flops / (peak * latency) if latency > 0 else 0.0,
            notes=notes,
        )


def make_xavier(arch: ArchSpec | str | None = None, **options: Any) -> XavierBackend:
    """Factory registered as `xavier-nx`. Options: `power_mode`, `params` (a parameter-set name or YAML path)
    and any field of `GPUKernelModel` as an override (`fusion="none"`, `gemm_efficiency=0.7`, ...)."""
    return XavierBackend(arch, **options)


# ---- calibration ------------------------------------------------------------------------------------------


def bert_large_workload(seq_len: int = MLPERF_BERT_LARGE["seq_len"], dtype: str = "int8") -> Workload:
    """BERT-Large (24 x 1024 / 4096, 16 heads, dense) at `seq_len`, batch 1: MLPerf's calibration workload."""
    from swallowtail.nn.config import get_preset
    from swallowtail.workload.lower import lower

    cfg = get_preset("transformer").replace(
        n_layers=MLPERF_BERT_LARGE["layers"],
        attention_layers=MLPERF_BERT_LARGE["layers"],
        d_model=MLPERF_BERT_LARGE["d_model"],
        d_ff=MLPERF_BERT_LARGE["d_ff"],
        n_heads=MLPERF_BERT_LARGE["n_heads"],
    )
    return lower(cfg, seq_len, 1, dtype=dtype, name="bert-large")


def calibration(**options: Any) -> dict[str, float]:
    """The model's BERT-Large latency vs MLPerf's: model_s, published_s, ratio (model / published)."""
    r = make_xavier(**options).run(bert_large_workload())
    pub = MLPERF_BERT_LARGE["mean_latency_s"]
    return {"model_s": r.latency_s, "published_s": pub, "ratio": r.latency_s / pub}


__all__ = [
    "CALIBRATION_TOLERANCE",
    "MLPERF_BERT_LARGE",
    "GPUKernelModel",
    "GemmTile",
    "XavierBackend",
    "bert_large_workload",
    "calibration",
    "load_kernel_model",
    "make_xavier",
]
