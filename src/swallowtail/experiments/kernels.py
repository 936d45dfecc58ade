"""Kernels of the hybrid networks timed on a real device, for checking the GPU model's kernel assumptions.

The Jetson model (`swallowtail.baselines.jetson`) rests on values nobody has measured on a Jetson: the DRAM
efficiency, the butterfly and FFT kernels' efficiency and passes, the element-wise kernels' efficiency.
This module times the kernels those values describe, on whatever device PyTorch has (a CUDA GPU when one is
at hand; the CPU only to exercise the code), at the hybrid networks' own shapes, and writes the times to a
data file (device, versions, date); `swallowtail.experiments.kernel_check` then costs the same ops with the
model on that device's preset and reports model vs measured.

The cases (`kernel_cases`): every distinct op of one inference of a network preset at a sequence length
(`swallowtail.workload.lower`, the classifier head left out), each timed alone, plus

- `dense-linear`: the (L x d) @ (d x d) GEMM the butterfly layers replace -- it fits the GEMM efficiency;
- `stream`: a scale of `stream_numel` elements, far beyond any GPU's L2 -- it fits the DRAM efficiency;
- `attention-sdpa`: QK^T -> softmax -> SV of an attention layer as one fused
  `scaled_dot_product_attention` call (what a fused-attention stack runs).

How the ops run in PyTorch: a GEMM as `matmul` / `bmm`; a butterfly as `swallowtail.nn.butterfly_multiply`
(plain PyTorch: per stage a multiply and an addcmul over the activations and two small copies of its
twiddles, four launches, plus a transpose in and out: the "per-stage PyTorch" butterfly); an FFT as
`torch.fft.fft` along the last axis of contiguous rows; softmax, LayerNorm and the element-wise ops as their
`torch` functions. On a CUDA device each case is captured in a CUDA graph where it can be (so the host's
dispatch is not in the time), and the L2 is flushed before every repetition by zeroing a buffer of
`flush_bytes` (so the inputs come from DRAM, as on a Jetson whose L2 is 512 KB); each repetition is timed
with CUDA events and the median kept. The per-launch cost is measured apart (`launch_overheads`): a chain of
`LAUNCH_CHAIN` tiny additions, eager, as one CUDA graph, and through `torch.compile` (which fuses the chain
into one kernel: its row is the time per op as written, what a compiler saves, not a launch cost).
"""

from __future__ import annotations

import dataclasses
import datetime
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as TF
from pydantic import Field

import swallowtail
from swallowtail.arch.specbase import SpecModel, dump_yaml, read_yaml_file, validate_model
from swallowtail.atomicio import write_text_atomic
from swallowtail.baselines.jetson import MAX_OVERHEAD_S
from swallowtail.errors import SpecError, check_choice, check_int, check_positive_int
from swallowtail.experiments import triton_butterfly
from swallowtail.nn.butterfly import butterfly_multiply
from swallowtail.nn.config import HybridConfig, list_presets
from swallowtail.workload import FFT, GEMM, Butterfly, Elementwise, LayerNorm, Op, Softmax, Workload
from swallowtail.workload.lower import lower, resolve_config

#: identifies the layout of a measurement file
FORMAT = "swallowtail-kernel-measurements/1"
#: the network and sequence lengths measured by default: FABNet's BERT-base shape at the lengths of its paper
DEFAULT_MODEL = "fabnet-base"
DEFAULT_SEQ_LENS = (1024, 4096)
DTYPES = ("fp16", "fp32")
#: elements of the `stream` case: 64 Mi (128 MiB each way in FP16), beyond any GPU's L2 (H100: 50 MB)
STREAM_NUMEL = 2**26
#: bytes zeroed before every repetition on a CUDA device to evict the L2 (256 MiB: five times an H100's 50 MB)
FLUSH_BYTES = 256 * 2**20
#: repetitions per case (the median is kept) and untimed warm-up calls before them
DEFAULT_REPS = 30
WARMUP = 3
#: tiny additions chained to measure the per-launch cost
LAUNCH_CHAIN = 64
#: the fused butterfly's largest error relative to the largest output entry, against butterfly_multiply (the
#: two sum the same products in another order; FP16 storage rounds each stage's output in the reference only)
FUSED_TOLERANCE = {"fp16": 5e-2, "fp32": 1e-4}
#: the layer of the lowered network that is not measured (a 1-row GEMM and a 2-element add)
SKIPPED_LAYERS = ("head",)

TORCH_DTYPE = {"fp16": torch.float16, "fp32": torch.float32}
TORCH_COMPLEX = {"fp16": torch.complex32, "fp32": torch.complex64}
#: element-wise ops as PyTorch runs them (one operand; `add` / `mul` with two, a bias add with a weight)
UNARY = {
    "gelu": TF.gelu,
    "relu": TF.relu,
    "scale": lambda x: x * 0.125,
}

Role = Literal["fit", "predict"]
TimedAs = Literal["cuda-graph", "eager"]
LaunchMode = Literal["eager", "cuda-graph", "torch-compile"]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
#: a launch's time: what the stacks' per_op_overhead_s may be (a longer one was fitted and refused as the
#: stack's field, not the file's)
LaunchSeconds = Annotated[float, Field(gt=0, le=MAX_OVERHEAD_S, allow_inf_nan=False)]
NonNeg = Annotated[int, Field(ge=0)]


# ---- the cases -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KernelCase:
    """One measured kernel (or fused group): the ops the model costs, and what the case is for."""

    name: str
    kind: str  # the op kind, or "attention" for the fused group
    seq_len: int
    ops: tuple[Op, ...]
    role: Role = "predict"
    fits: str | None = None  # the stack parameter a `fit` case sets
    fused_attention: bool = False
    fused_butterfly: bool = False  # every stage in one kernel (`triton_butterfly`), not two kernels per stage

    def in_dtype(self, dtype: str) -> KernelCase:
        return dataclasses.replace(self, ops=tuple(dataclasses.replace(o, dtype=dtype) for o in self.ops))

    @property
    def flops(self) -> int:
        return sum(o.flops for o in self.ops)

    @property
    def min_bytes(self) -> int:
        """Bytes the case must move: every op's inputs, weights and output, minus what a fused group keeps on
        chip (the scores and probabilities of fused attention)."""
        total = sum(o.min_bytes for o in self.ops)
        if self.fused_attention:
            inner = self.ops[:-1]  # the scores and the softmax output stay on chip
            total -= 2 * sum(o.output_elems * o.elem_bytes for o in inner)
        return total

    def workload(self) -> Workload:
        return Workload(name=self.name, ops=self.ops, meta={"seq_len": self.seq_len})


def _alone(op: Op) -> Op:
    return dataclasses.replace(op, deps=())


def _attention_group(ops: tuple[Op, ...]) -> tuple[Op, ...] | None:
    """QK^T, softmax, SV of the first attention layer, chained (the scale folded into SDPA), or None."""
    scores = next((o for o in ops if isinstance(o, GEMM) and o.name.endswith("attn.scores")), None)
    if scores is None:
        return None
    prefix = scores.name.removesuffix("scores")
    soft = next(o for o in ops if o.name == prefix + "softmax")
    values = next(o for o in ops if o.name == prefix + "values")
    return (
        _alone(scores),
        dataclasses.replace(soft, deps=(scores.name,)),
        dataclasses.replace(values, deps=(soft.name,)),
    )


def _fusable(op: Op) -> bool:
    """A butterfly the fused kernel takes: real, every stage, at most 2^MAX_LOG_N points."""
    return (
        isinstance(op, Butterfly)
        and not op.complex
        and op.stages == op.n.bit_length() - 1 <= triton_butterfly.MAX_LOG_N
    )


def kernel_cases(
    config: HybridConfig | str = DEFAULT_MODEL,
    seq_len: int = DEFAULT_SEQ_LENS[0],
    stream_numel: int = STREAM_NUMEL,
) -> list[KernelCase]:
    """The cases of `config` at `seq_len` (module docstring), in network order, the fitting cases first."""
    cfg = resolve_config(config)
    check_positive_int("seq_len", seq_len)
    check_positive_int("stream_numel", stream_numel)
    w = lower(cfg, seq_len)
    d = cfg.d_model
    cases = [
        KernelCase(
            "dense-linear", "gemm", seq_len, (GEMM("dense-linear", m=seq_len, k=d, n=d, b_is_weight=True),),
            role="fit", fits="gemm_efficiency",
        ),
        KernelCase(
            "stream", "elementwise", seq_len, (Elementwise("stream", "scale", stream_numel),),
            role="fit", fits="dram_efficiency",
        ),
    ]  # fmt: skip
    seen: set[str] = set()
    for op in w.ops:
        if op.layer in SKIPPED_LAYERS or op.describe() in seen:
            continue
        seen.add(op.describe())
        cases.append(KernelCase(op.name, op.kind, seq_len, (_alone(op),)))
        if _fusable(op):
            cases.append(
                KernelCase(f"{op.name}.fused", op.kind, seq_len, (_alone(op),), fused_butterfly=True)
            )
    group = _attention_group(w.ops)
    if group is not None:
        cases.append(KernelCase("attention-sdpa", "attention", seq_len, group, fused_attention=True))
    return cases


# ---- the cases as PyTorch runs them ----------------------------------------------------------------------
class Unsupported(Exception):
    """A case PyTorch cannot run on this device in this dtype (the reason is recorded, not raised)."""


def _rand(
    shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, gen: torch.Generator
) -> torch.Tensor:
    return torch.randn(shape, generator=gen, device=device, dtype=torch.float32).to(dtype)


def _gemm(op: GEMM, dt: torch.dtype, dev: torch.device, g: torch.Generator) -> Callable[[], Any]:
    a = _rand((op.batch, op.m, op.k) if op.batch > 1 else (op.m, op.k), dt, dev, g)
    if op.b_is_weight and op.shared_b:
        w = _rand((op.k, op.n), dt, dev, g)
        return lambda: a @ w
    b = _rand((op.batch, op.k, op.n) if op.batch > 1 else (op.k, op.n), dt, dev, g)
    return lambda: a @ b


def _butterfly(op: Butterfly, dt: torch.dtype, dev: torch.device, g: torch.Generator) -> Callable[[], Any]:
    logn = op.n.bit_length() - 1
    if op.complex or op.stages != logn:
        raise Unsupported("only a real butterfly of all log2 n stages runs as butterfly_multiply")
    twiddle = _rand((1, logn, op.n // 2, 2, 2), dt, dev, g)
    x = _rand((op.rows, 1, op.n), dt, dev, g)
    return lambda: butterfly_multiply(twiddle, x, op.increasing_stride)


def _butterfly_fused(
    op: Butterfly, dt: torch.dtype, dev: torch.device, g: torch.Generator
) -> Callable[[], Any]:
    """The fused kernel, checked against `butterfly_multiply` on the same inputs before it is timed."""
    logn = op.n.bit_length() - 1
    twiddle = _rand((1, logn, op.n // 2, 2, 2), dt, dev, g)
    x = _rand((op.rows, op.n), dt, dev, g)
    with torch.inference_mode():
        got = triton_butterfly.butterfly_fused(twiddle, x, op.increasing_stride).float()
        want = butterfly_multiply(twiddle, x[:, None, :], op.increasing_stride)[:, 0, :].float()
    scale = want.abs().max().item() or 1.0
    err = (got - want).abs().max().item() / scale
    if not err <= FUSED_TOLERANCE[op.dtype]:
        raise Unsupported(
            f"the fused kernel disagrees with butterfly_multiply: max error {err:.3g} of the largest"
        )
    return lambda: triton_butterfly.butterfly_fused(twiddle, x, op.increasing_stride)


def _fft(op: FFT, dt: torch.dtype, dev: torch.device, g: torch.Generator) -> Callable[[], Any]:
    x = _rand((op.rows, op.n), dt, dev, g)
    if not op.real_input:
        y = _rand((op.rows, op.n), dt, dev, g)
        with warnings.catch_warnings():  # "ComplexHalf support is experimental": the point of measuring it
            warnings.simplefilter("ignore", UserWarning)
            x = torch.complex(x.float(), y.float()).to(TORCH_COMPLEX[op.dtype])
    if op.real_output:
        return lambda: torch.fft.fft(x, dim=-1).real
    return lambda: torch.fft.fft(x, dim=-1)


def _rowwise(
    op: Softmax | LayerNorm, dt: torch.dtype, dev: torch.device, g: torch.Generator
) -> Callable[[], Any]:
    x = _rand((op.rows, op.n), dt, dev, g)
    if isinstance(op, Softmax):
        return lambda: torch.softmax(x, dim=-1)
    w, b = _rand((op.n,), dt, dev, g), _rand((op.n,), dt, dev, g)
    return lambda: TF.layer_norm(x, (op.n,), w, b)


def _elementwise(
    op: Elementwise, dt: torch.dtype, dev: torch.device, g: torch.Generator
) -> Callable[[], Any]:
    if op.pool or op.in_numel is not None:
        raise Unsupported(f"a {op.op} is not among the element-wise kernels measured")
    x = _rand((op.numel,), dt, dev, g)
    if op.op in ("add", "mul") and (op.operands == 2 or op.weight):
        fn = torch.add if op.op == "add" else torch.mul
        if op.operands == 2:
            y = _rand((op.numel,), dt, dev, g)
            return lambda: fn(x, y)
        rows = x.view(-1, op.weight)
        bias = _rand((op.weight,), dt, dev, g)
        return lambda: fn(rows, bias)
    if op.op not in UNARY:
        raise Unsupported(f"element-wise {op.op!r} is not among {sorted(UNARY)} (+ add, mul)")
    return lambda: UNARY[op.op](x)


def _sdpa(case: KernelCase, dt: torch.dtype, dev: torch.device, g: torch.Generator) -> Callable[[], Any]:
    scores = case.ops[0]
    assert isinstance(scores, GEMM)
    q, k, v = (_rand((1, scores.batch, scores.m, scores.k), dt, dev, g) for _ in range(3))
    return lambda: TF.scaled_dot_product_attention(q, k, v)


OP_RUNNERS: dict[type[Op], Callable[..., Callable[[], Any]]] = {
    GEMM: _gemm,
    Butterfly: _butterfly,
    FFT: _fft,
    Softmax: _rowwise,
    LayerNorm: _rowwise,
    Elementwise: _elementwise,
}


def case_thunk(case: KernelCase, device: torch.device, seed: int = 0) -> Callable[[], Any]:
    """A no-argument call running `case` (in its ops' dtype) on `device`, inputs made once, seeded."""
    g = torch.Generator(device=device).manual_seed(seed)
    dt = TORCH_DTYPE[case.ops[0].dtype]
    if case.fused_attention:
        return _sdpa(case, dt, device, g)
    (op,) = case.ops
    if case.fused_butterfly:
        assert isinstance(op, Butterfly)
        return _butterfly_fused(op, dt, device, g)
    runner = OP_RUNNERS.get(type(op))
    if runner is None:
        raise Unsupported(f"no PyTorch kernel for a {type(op).__name__}")
    return runner(op, dt, device, g)


# ---- timing ---------------------------------------------------------------------------------------------
@dataclass
class Timer:
    """Median time of a call on `device`: CUDA graphs + events + an L2 flush on CUDA, wall clock elsewhere."""

    device: torch.device
    reps: int = DEFAULT_REPS
    warmup: int = WARMUP
    flush_bytes: int = FLUSH_BYTES
    graphs: bool = True

    def __post_init__(self) -> None:
        self.cuda = self.device.type == "cuda"
        self.flush = torch.empty(self.flush_bytes // 4, dtype=torch.int32, device=self.device)

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def _graphed(self, fn: Callable[[], Any]) -> Callable[[], Any] | None:
        """`fn` captured as a CUDA graph's replay, or None where it cannot be captured."""
        if not (self.cuda and self.graphs):
            return None
        before = torch.cuda.current_stream(self.device)
        try:
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                for _ in range(self.warmup):
                    fn()
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                fn()
            self.sync()
            return graph.replay
        except RuntimeError:  # not capturable: timed eagerly. A failed capture can leave its stream current
            torch.cuda.set_stream(before)
            self.sync()
            return None

    def _one(self, run: Callable[[], Any]) -> float:
        if self.flush.numel():
            self.flush.zero_()
        if not self.cuda:
            t0 = time.perf_counter()
            run()
            return time.perf_counter() - t0
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3

    def time(self, fn: Callable[[], Any]) -> tuple[float, TimedAs]:
        """(median seconds, how it ran) of `fn`."""
        with torch.inference_mode():
            replay = self._graphed(fn)
            run, timed_as = (replay, "cuda-graph") if replay is not None else (fn, "eager")
            for _ in range(self.warmup):
                run()
            self.sync()
            times = [self._one(run) for _ in range(self.reps)]
        return statistics.median(times), timed_as


def _chain(x: torch.Tensor, n: int) -> torch.Tensor:
    for _ in range(n):
        x = x + 1
    return x


def _wall_per_op(run: Callable[[], Any], timer: Timer, n: int) -> float:
    times = []
    for _ in range(timer.reps):
        timer.sync()
        t0 = time.perf_counter()
        run()
        timer.sync()
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times)


def _launch_row(mode: LaunchMode, measure: Callable[[], float]) -> LaunchRow:
    try:
        return LaunchRow(mode=mode, per_op_s=measure())
    except Exception as exc:  # noqa: BLE001 -- recorded: torch.compile without a compiler, no CUDA graphs
        return LaunchRow(mode=mode, error=_reason(exc))


def _reason(exc: BaseException) -> str:
    """One line naming why a case could not run (the exception's type and first line)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:300] if lines else ''}"


def launch_overheads(timer: Timer, compile_: bool, n: int = LAUNCH_CHAIN) -> list[LaunchRow]:
    """Wall time per launched op of a chain of `n` tiny additions: eager, as one CUDA graph, compiled."""
    x = torch.zeros(1, device=timer.device)

    def graph() -> float:
        if not timer.cuda:
            raise Unsupported("CUDA graphs need a CUDA device")
        replay = timer._graphed(lambda: _chain(x, n))
        if replay is None:
            raise Unsupported("the chain could not be captured")
        return _wall_per_op(replay, timer, n)

    def compiled() -> float:
        if not compile_:
            raise Unsupported("not requested (--compile)")
        fn = torch.compile(lambda: _chain(x, n), mode="reduce-overhead")
        for _ in range(timer.warmup):
            fn()
        return _wall_per_op(fn, timer, n)

    with torch.inference_mode():
        for _ in range(timer.warmup):
            _chain(x, n)
        return [
            _launch_row("eager", lambda: _wall_per_op(lambda: _chain(x, n), timer, n)),
            _launch_row("cuda-graph", graph),
            _launch_row("torch-compile", compiled),
        ]


# ---- the data file ----------------------------------------------------------------------------------------
class KernelTiming(SpecModel):
    """One case in one dtype: its median time, or why it could not run."""

    case: str
    kind: str
    seq_len: Annotated[int, Field(gt=0)]
    dtype: Literal["fp16", "fp32"]
    role: Role
    flops: NonNeg
    min_bytes: NonNeg
    time_s: Seconds | None = None
    timed_as: TimedAs | None = None
    error: str | None = None


class LaunchRow(SpecModel):
    """Wall time per launched op of the tiny-op chain in one mode, or why it could not run."""

    mode: LaunchMode
    per_op_s: LaunchSeconds | None = None
    error: str | None = None


class KernelMeasurements(SpecModel):
    """A measurement file: where and how the kernels were timed, and the times."""

    format: Literal["swallowtail-kernel-measurements/1"]
    device: str
    device_type: str
    sms: Annotated[int, Field(gt=0)] | None
    torch: str
    cuda: str | None
    swallowtail: str
    host: str
    date: str
    model: str
    config: dict[str, Any]
    seq_lens: list[Annotated[int, Field(gt=0)]] = Field(min_length=1)
    dtypes: list[Literal["fp16", "fp32"]] = Field(min_length=1)
    reps: Annotated[int, Field(gt=0)]
    flush_bytes: NonNeg
    stream_numel: Annotated[int, Field(gt=0)]
    launch_chain: Annotated[int, Field(gt=0)]
    notes: list[str] = []
    launch: list[LaunchRow]
    kernels: list[KernelTiming] = Field(min_length=1)

    def hybrid_config(self) -> HybridConfig:
        try:
            return HybridConfig.from_dict(self.config)
        except (TypeError, ValueError) as exc:
            raise SpecError("config", self.config, f"a HybridConfig mapping ({exc})") from None

    def to_yaml(self) -> str:
        return dump_yaml(self.model_dump(mode="json"))


def check_measurements(m: KernelMeasurements) -> KernelMeasurements:
    """`m` if its parts agree with each other as `measure_kernels` writes them; SpecError naming the field
    otherwise: each length, dtype and launch mode once; a row or launch row with a time or an error, not both
    or neither (a time with how it was timed); every row in a listed dtype and length, at most one per (case,
    length, dtype); every listed length with a row; `model` the preset whose config the file holds."""
    _check_model(m)
    for field, values in (
        ("seq_lens", m.seq_lens),
        ("dtypes", m.dtypes),
        ("launch.mode", [r.mode for r in m.launch]),
    ):
        if len(set(values)) != len(values):
            raise SpecError(field, list(values), "each value at most once")
    for i, lr in enumerate(m.launch):
        if (lr.per_op_s is None) == (lr.error is None):
            raise SpecError(
                f"launch[{i}].per_op_s",
                lr.per_op_s,
                f"a time or an error, not both or neither (error: {lr.error!r})",
            )
    seen: set[tuple[str, int, str]] = set()
    for i, r in enumerate(m.kernels):
        if (r.time_s is None) == (r.error is None):
            raise SpecError(
                f"kernels[{i}].time_s",
                r.time_s,
                f"a time or an error, not both or neither (error: {r.error!r})",
            )
        if (r.time_s is None) != (r.timed_as is None):
            raise SpecError(
                f"kernels[{i}].timed_as",
                r.timed_as,
                "how a timed row ran (cuda-graph or eager), and nothing for a row that could not run",
            )
        if r.dtype not in m.dtypes:
            raise SpecError(f"kernels[{i}].dtype", r.dtype, f"one of the file's dtypes {m.dtypes}")
        if r.seq_len not in m.seq_lens:
            raise SpecError(f"kernels[{i}].seq_len", r.seq_len, f"one of the file's seq_lens {m.seq_lens}")
        key = (r.case, r.seq_len, r.dtype)
        if key in seen:
            raise SpecError(
                f"kernels[{i}]",
                f"{r.case} @ L={r.seq_len} {r.dtype}",
                "a case timed once per length and dtype (this one is listed before)",
            )
        seen.add(key)
    for j, L in enumerate(m.seq_lens):
        if not any(r.seq_len == L for r in m.kernels):
            raise SpecError(f"seq_lens[{j}]", L, "a length the kernels were timed at (no row has it)")
    for j, d in enumerate(m.dtypes):
        if not any(r.dtype == d for r in m.kernels):
            raise SpecError(f"dtypes[{j}]", d, "a dtype the kernels were timed in (no row has it)")
    return m


def _check_model(m: KernelMeasurements) -> None:
    """`m.model` is the network preset `m.config` holds (its cases come from the config, its report names the
    model: a file edited to another name, or measured before the preset changed, would be checked as one
    network and shown as another)."""
    check_choice("model", m.model, list_presets())
    preset = resolve_config(m.model).to_dict()
    config = m.hybrid_config().to_dict()
    differ = [k for k in preset if preset[k] != config[k]]
    if differ:
        shown = ", ".join(f"{k} {config[k]!r} (the preset: {preset[k]!r})" for k in differ)
        raise SpecError("model", m.model, f"the preset whose config the file holds (it differs: {shown})")


def load_measurements(path: str | Path) -> KernelMeasurements:
    """A measurement file written by `measure_kernels` (every problem names the field and the file)."""
    m = validate_model(KernelMeasurements, read_yaml_file(Path(path)), source=str(path))
    try:
        return check_measurements(m)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc.field}", exc.value, exc.allowed) from None


def write_measurements(m: KernelMeasurements, path: str | Path) -> Path:
    return write_text_atomic(path, m.to_yaml())


# ---- measuring --------------------------------------------------------------------------------------------
def resolve_device(device: str) -> torch.device:
    """`auto` (CUDA if available, else the CPU), `cuda`, `cuda:N` or `cpu`."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        if not torch.cuda.is_available():
            raise SpecError("--device", device, "'cpu' or 'auto': PyTorch sees no CUDA device here")
        count = torch.cuda.device_count()
        if device != "cuda" and int(device[5:]) >= count:
            raise SpecError(
                "--device", device, f"'cuda' or cuda:0 to cuda:{count - 1} ({count} CUDA devices here)"
            )
        return torch.device(device)
    raise SpecError("--device", device, "one of 'auto', 'cpu', 'cuda', 'cuda:N'")


def _device_facts(dev: torch.device) -> dict[str, Any]:
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        return {"device": props.name, "sms": props.multi_processor_count, "cuda": torch.version.cuda}
    return {"device": platform.processor() or platform.machine() or "cpu", "sms": None, "cuda": None}


def _run_notes(dev: torch.device) -> list[str]:
    """What a reader of the times needs to know of how PyTorch ran them."""
    tf32 = torch.backends.cuda.matmul.allow_tf32
    notes = [
        "each case timed alone on inputs made once (seeded); an FFT along the last axis of contiguous rows; "
        "a butterfly as swallowtail.nn.butterfly_multiply (per stage: a multiply and an addcmul over the "
        "activations, two small twiddle copies; a transpose in and out), or fused (<op>.fused: one Triton "
        "kernel)",
    ]
    if dev.type == "cuda":
        notes.append(
            f"torch.backends.cuda.matmul.allow_tf32 = {tf32}: FP32 GEMMs "
            + ("on TF32 tensor cores" if tf32 else "in FP32 on CUDA cores")
        )
        notes.append(f"cuDNN {torch.backends.cudnn.version()}")
    return notes


def _timing(case: KernelCase, dtype: str, timer: Timer) -> KernelTiming:
    c = case.in_dtype(dtype)
    row = {
        "case": c.name, "kind": c.kind, "seq_len": c.seq_len, "dtype": dtype, "role": c.role,
        "flops": c.flops, "min_bytes": c.min_bytes,
    }  # fmt: skip
    try:
        t, how = timer.time(case_thunk(c, timer.device))
    except Exception as exc:  # noqa: BLE001 -- recorded, never lost: e.g. cuFFT half needs 2^k points
        timer.sync()
        return KernelTiming(**row, error=_reason(exc))
    return KernelTiming(**row, time_s=t, timed_as=how)


def measurement_plan(
    model: str, seq_lens: tuple[int, ...], dtypes: tuple[str, ...], stream_numel: int
) -> list[tuple[KernelCase, str]]:
    """(case, dtype) pairs to time, checked before anything runs."""
    if not seq_lens:
        raise SpecError("--seq-len", [], "at least one sequence length")
    if not dtypes:
        raise SpecError("--dtype", [], f"at least one of {list(DTYPES)}")
    for d in dtypes:
        check_choice("--dtype", d, list(DTYPES))
    if len(set(dtypes)) != len(dtypes):
        raise SpecError(
            "--dtype", list(dtypes), "each dtype at most once (a repeat would time every case twice)"
        )
    longest = resolve_config(model).max_len  # the network has no positions beyond it
    for L in seq_lens:
        check_int("--seq-len", L, 1, longest)
    if len(set(seq_lens)) != len(seq_lens):
        raise SpecError(
            "--seq-len", list(seq_lens), "each length at most once (a repeat would time every case twice)"
        )
    cases = [c for L in seq_lens for c in kernel_cases(model, L, stream_numel)]
    first = seq_lens[0]  # the stream case does not depend on L: timed once
    return [(c, d) for c in cases if c.name != "stream" or c.seq_len == first for d in dtypes]


def measure_kernels(
    model: str = DEFAULT_MODEL,
    seq_lens: tuple[int, ...] = DEFAULT_SEQ_LENS,
    dtypes: tuple[str, ...] = DTYPES,
    device: str = "auto",
    reps: int = DEFAULT_REPS,
    flush_bytes: int | None = None,
    stream_numel: int = STREAM_NUMEL,
    compile_: bool | None = None,
    progress: Callable[[str], None] | None = None,
) -> KernelMeasurements:
    """Time every case of `model` at `seq_lens` in `dtypes` on `device` (module docstring). `flush_bytes`:
    None flushes `FLUSH_BYTES` on CUDA and nothing on the CPU; `compile_`: None compiles on CUDA only."""
    check_positive_int("--reps", reps)
    plan = measurement_plan(model, tuple(seq_lens), tuple(dtypes), stream_numel)
    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    flush = (FLUSH_BYTES if cuda else 0) if flush_bytes is None else flush_bytes
    timer = Timer(dev, reps=reps, flush_bytes=flush)
    rows = []
    for case, dtype in plan:
        if progress is not None:
            progress(f"{case.name} @ L={case.seq_len} {dtype}")
        rows.append(_timing(case, dtype, timer))
    launch = launch_overheads(timer, cuda if compile_ is None else compile_)
    return KernelMeasurements(
        format=FORMAT,
        **_device_facts(dev),
        device_type=dev.type,
        torch=torch.__version__,
        swallowtail=swallowtail.__version__,
        host=f"{platform.system()} {platform.machine()}",
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        model=model,
        config=resolve_config(model).to_dict(),
        seq_lens=list(seq_lens),
        dtypes=list(dtypes),
        reps=reps,
        flush_bytes=flush,
        stream_numel=stream_numel,
        launch_chain=LAUNCH_CHAIN,
        notes=_run_notes(dev),
        launch=launch,
        kernels=rows,
    )


def iter_rows(m: KernelMeasurements) -> Iterator[tuple[KernelCase, KernelTiming]]:
    """Each timing with its case re-derived from the file's network, checked to be the case that was timed."""
    check_measurements(m)
    cases: dict[tuple[str, int], KernelCase] = {}
    for L in m.seq_lens:
        for c in kernel_cases(m.hybrid_config(), L, m.stream_numel):
            cases[(c.name, L)] = c
    for i, row in enumerate(m.kernels):
        case = cases.get((row.case, row.seq_len))
        if case is None:
            raise SpecError(f"kernels[{i}].case", row.case, f"a case of {m.model} at L = {row.seq_len}")
        c = case.in_dtype(row.dtype)
        if (c.flops, c.min_bytes) != (row.flops, row.min_bytes):
            raise SpecError(
                f"kernels[{i}].flops/min_bytes", (row.flops, row.min_bytes),
                f"{(c.flops, c.min_bytes)}: the case as this version of swallowtail builds it",
            )  # fmt: skip
        for field in ("kind", "role"):
            if getattr(row, field) != getattr(c, field):
                raise SpecError(
                    f"kernels[{i}].{field}",
                    getattr(row, field),
                    f"{getattr(c, field)!r}: the {field} of {c.name}",
                )
        yield c, row


__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_SEQ_LENS",
    "DTYPES",
    "KernelCase",
    "KernelMeasurements",
    "KernelTiming",
    "LaunchRow",
    "Timer",
    "case_thunk",
    "check_measurements",
    "iter_rows",
    "kernel_cases",
    "launch_overheads",
    "load_measurements",
    "measure_kernels",
    "write_measurements",
]
