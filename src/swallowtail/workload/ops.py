"""Typed operators of the workload graph: *what* is computed, independent of any machine.

Every op knows its exact FLOPs (conventions in `swallowtail.flops`), its tensor shapes, and its minimum
bytes: the bytes it must read and write if it runs alone (inputs + weights + outputs, each once, in `dtype`).
Shapes are row-major: `rows` independent vectors of length `n`, or `batch` matrices.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from swallowtail import flops as F
from swallowtail.errors import SpecError, check_int, check_positive_int, is_int

#: bytes per element of each storage dtype
DTYPE_BYTES = {"fp16": 2, "bf16": 2, "fp32": 4, "int8": 1}


@dataclass(frozen=True)
class Op(ABC):
    """Base of every operator: a name unique in its workload, the names of the ops it depends on."""

    name: str
    deps: tuple[str, ...] = field(default=(), kw_only=True)
    dtype: str = field(default="fp16", kw_only=True)
    layer: str = field(default="", kw_only=True)  # which network layer it belongs to ("layer3", "head", ...)

    kind = "op"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpecError("op.name", self.name, "a non-empty string")
        if not isinstance(self.deps, tuple) or not all(isinstance(d, str) for d in self.deps):
            raise SpecError(f"{self.name}.deps", self.deps, "a tuple of op names (strings)")
        if not isinstance(self.layer, str):
            raise SpecError(f"{self.name}.layer", self.layer, "a string (the network layer's name)")
        if self.dtype not in DTYPE_BYTES:
            raise SpecError(f"{self.name}.dtype", self.dtype, f"one of {sorted(DTYPE_BYTES)}")

    @property
    def elem_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @property
    @abstractmethod
    def flops(self) -> int: ...

    @property
    @abstractmethod
    def input_shapes(self) -> tuple[tuple[int, ...], ...]: ...

    @property
    @abstractmethod
    def output_shape(self) -> tuple[int, ...]: ...

    @property
    def weight_elems(self) -> int:
        """Parameters (learned weights, twiddles) the op reads: compulsory DRAM traffic once per workload."""
        return 0

    @property
    def input_elems(self) -> int:
        return sum(_numel(s) for s in self.input_shapes)

    @property
    def output_elems(self) -> int:
        return _numel(self.output_shape)

    @property
    def min_bytes(self) -> int:
        """Inputs + weights + output, each moved once."""
        return (self.input_elems + self.weight_elems + self.output_elems) * self.elem_bytes

    def describe(self) -> str:
        return type(self).__name__


def _numel(shape: tuple[int, ...]) -> int:
    out = 1
    for s in shape:
        out *= s
    return out


@dataclass(frozen=True)
class Butterfly(Op):
    """A radix-2 butterfly multiply over `rows` vectors of length n (n a power of two), `stages` stages."""

    n: int
    rows: int
    stages: int | None = None  # default: all log2 n stages
    complex: bool = False
    increasing_stride: bool = True

    kind = "butterfly"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int(f"{self.name}.rows", self.rows)
        try:
            logn = F.log2_exact(self.n)
        except ValueError:
            raise SpecError(f"{self.name}.n", self.n, "a power of two >= 2") from None
        if logn < 1:  # n = 1 = 2^0: a butterfly has no stage
            raise SpecError(f"{self.name}.n", self.n, "a power of two >= 2")
        if self.stages is None:
            object.__setattr__(self, "stages", logn)
        if not is_int(self.stages) or not 1 <= self.stages <= logn:
            raise SpecError(f"{self.name}.stages", self.stages, f"an integer in 1..log2(n) = 1..{logn}")

    @property
    def flops(self) -> int:
        return F.butterfly_flops(self.n, self.rows, self.stages, self.complex)

    @property
    def _c(self) -> int:
        return 2 if self.complex else 1

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        return ((self.rows, self.n * self._c),)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.rows, self.n * self._c)

    @property
    def weight_elems(self) -> int:
        assert self.stages is not None
        return self.stages * (self.n // 2) * 4 * self._c  # a 2x2 block per pair per stage

    def describe(self) -> str:
        c = ", complex" if self.complex else ""
        return f"Butterfly(n={self.n}, rows={self.rows}, stages={self.stages}{c})"


@dataclass(frozen=True)
class FFT(Op):
    """`rows` length-n discrete Fourier transforms. `real_input`: input is real; `real_output`: only the
    real part of the result is kept (FNet mixing)."""

    n: int
    rows: int
    real_input: bool = False
    real_output: bool = False

    kind = "fft"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int(f"{self.name}.n", self.n)
        check_positive_int(f"{self.name}.rows", self.rows)

    @property
    def flops(self) -> int:
        return F.fft_flops(self.n, self.rows, self.real_input)

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        return ((self.rows, self.n * (1 if self.real_input else 2)),)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.rows, self.n * (1 if self.real_output else 2))

    def describe(self) -> str:
        tags = [t for t, on in (("real in", self.real_input), ("real out", self.real_output)) if on]
        extra = f", {', '.join(tags)}" if tags else ""
        return f"FFT(n={self.n}, rows={self.rows}{extra})"


@dataclass(frozen=True)
class GEMM(Op):
    """`batch` products (m x k) @ (k x n). `b_is_weight`: B is a learned weight -- one matrix shared by
    every batch (`shared_b`, a linear layer) or one per batch (`shared_b=False`, a block-diagonal matrix)."""

    m: int
    k: int
    n: int
    batch: int = 1
    b_is_weight: bool = False
    shared_b: bool = True

    kind = "gemm"

    def __post_init__(self) -> None:
        super().__post_init__()
        for f in ("m", "k", "n", "batch"):
            check_positive_int(f"{self.name}.{f}", getattr(self, f))

    @property
    def flops(self) -> int:
        return F.gemm_flops(self.m, self.k, self.n, self.batch)

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        a = (self.batch, self.m, self.k)
        return (a,) if self.b_is_weight else (a, (self.batch, self.k, self.n))

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.batch, self.m, self.n)

    @property
    def weight_elems(self) -> int:
        if not self.b_is_weight:
            return 0
        return self.k * self.n * (1 if self.shared_b else self.batch)

    def describe(self) -> str:
        b = f"{self.batch} x " if self.batch > 1 else ""
        return f"GEMM({b}{self.m}x{self.k} @ {self.k}x{self.n})"


def _pair(field_name: str, value: object, minimum: int) -> tuple[int, int]:
    """An int or an (h, w) pair of ints >= minimum, as a tuple."""
    pair = (value, value) if is_int(value) else value
    if (
        not isinstance(pair, tuple | list)
        or len(pair) != 2
        or any(not is_int(v) or v < minimum for v in pair)
    ):
        raise SpecError(field_name, value, f"an integer >= {minimum} or a pair (h, w) of them")
    return (pair[0], pair[1])


@dataclass(frozen=True)
class Conv2d(GEMM):
    """A 2-D convolution (cross-correlation, as torch.nn.Conv2d, no bias) over `images` NCHW inputs of
    `in_channels` x `height` x `width`, `out_channels` filters of `kernel` (kh, kw), `stride`, zero
    `padding`, `groups`.

    It *is* a GEMM -- its implicit-GEMM shape (cuDNN / CUTLASS implicit GEMM, "Implicit GEMM Convolution",
    NVIDIA CUTLASS docs): per group one product (M x K) @ (K x N) with M = images x Ho x Wo output pixels,
    K = in_channels / groups x kh x kw, N = out_channels / groups; `batch` = groups, B = the filters (a
    weight, one per group). So every backend that costs a GEMM costs a convolution unchanged. The GEMM
    fields are derived, not given (`images` is the N of NCHW; the GEMM `batch` keeps its meaning).

    Bytes: the input once (NCHW, not the im2col matrix: an implicit GEMM gathers the patches on the fly),
    the weights once, the output once (NCHW).
    """

    # the implicit-GEMM view (derived in __post_init__)
    m: int = field(init=False, default=0)
    k: int = field(init=False, default=0)
    n: int = field(init=False, default=0)
    batch: int = field(init=False, default=1)
    b_is_weight: bool = field(init=False, default=True)
    shared_b: bool = field(init=False, default=False)
    # the convolution
    images: int = field(kw_only=True)
    in_channels: int = field(kw_only=True)
    height: int = field(kw_only=True)
    width: int = field(kw_only=True)
    out_channels: int = field(kw_only=True)
    kernel: tuple[int, int] | int = field(kw_only=True)
    stride: tuple[int, int] | int = field(default=1, kw_only=True)
    padding: tuple[int, int] | int = field(default=0, kw_only=True)
    groups: int = field(default=1, kw_only=True)

    kind = "conv2d"

    def __post_init__(self) -> None:
        for f in ("images", "in_channels", "height", "width", "out_channels", "groups"):
            check_positive_int(f"{self.name}.{f}", getattr(self, f))
        for f, minimum in (("kernel", 1), ("stride", 1), ("padding", 0)):
            object.__setattr__(self, f, _pair(f"{self.name}.{f}", getattr(self, f), minimum))
        g = self.groups
        for f in ("in_channels", "out_channels"):
            if getattr(self, f) % g:
                raise SpecError(f"{self.name}.{f}", getattr(self, f), f"a multiple of groups = {g}")
        ho, wo = self.out_hw
        if ho < 1 or wo < 1:
            raise SpecError(
                f"{self.name}.kernel",
                self.kernel,
                f"no larger than the padded input ({self.height} x {self.width} + 2 x {self.padding})",
            )
        kh, kw = self.kernel  # type: ignore[misc]
        object.__setattr__(self, "m", self.images * ho * wo)
        object.__setattr__(self, "k", self.in_channels // g * kh * kw)
        object.__setattr__(self, "n", self.out_channels // g)
        object.__setattr__(self, "batch", g)
        super().__post_init__()

    @property
    def out_hw(self) -> tuple[int, int]:
        """Output height and width: floor((H + 2 p - k) / s) + 1 (torch.nn.Conv2d, dilation 1)."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding  # type: ignore[misc]
        return (self.height + 2 * ph - kh) // sh + 1, (self.width + 2 * pw - kw) // sw + 1

    @property
    def flops(self) -> int:
        kh, kw = self.kernel  # type: ignore[misc]
        ho, wo = self.out_hw
        return F.conv2d_flops(self.images, ho, wo, self.out_channels, self.in_channels // self.groups, kh, kw)

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        return ((self.images, self.in_channels, self.height, self.width),)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.images, self.out_channels, *self.out_hw)

    @property
    def weight_elems(self) -> int:
        kh, kw = self.kernel  # type: ignore[misc]
        return self.out_channels * (self.in_channels // self.groups) * kh * kw

    def describe(self) -> str:
        (kh, kw), (sh, sw) = self.kernel, self.stride  # type: ignore[misc]
        ho, wo = self.out_hw
        s = f"/{sh}" if sh == sw else f"/{sh}x{sw}"
        g = f", groups {self.groups}" if self.groups > 1 else ""
        return (
            f"Conv2d({self.images} x {self.in_channels}x{self.height}x{self.width} -> "
            f"{self.out_channels}x{ho}x{wo}, {kh}x{kw}{s}{g}; GEMM {self.m}x{self.k} @ {self.k}x{self.n})"
        )


@dataclass(frozen=True)
class RowwiseOp(Op):
    """Base of the row-wise reductions: `rows` rows of length n in, the same shape out."""

    rows: int
    n: int

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int(f"{self.name}.rows", self.rows)
        check_positive_int(f"{self.name}.n", self.n)

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        return ((self.rows, self.n),)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.rows, self.n)

    def describe(self) -> str:
        return f"{type(self).__name__}({self.rows}x{self.n})"


@dataclass(frozen=True)
class Softmax(RowwiseOp):
    """Softmax over `rows` rows of length n."""

    kind = "softmax"

    @property
    def flops(self) -> int:
        return F.softmax_flops(self.rows, self.n)


@dataclass(frozen=True)
class LayerNorm(RowwiseOp):
    """LayerNorm over `rows` rows of length n, with a learned scale and shift."""

    kind = "layernorm"

    @property
    def flops(self) -> int:
        return F.layernorm_flops(self.rows, self.n)

    @property
    def weight_elems(self) -> int:
        return 2 * self.n


@dataclass(frozen=True)
class Elementwise(Op):
    """An element-wise op over `numel` output elements: gelu | relu | add | mul | scale | affine, or a pool
    (maxpool | avgpool) whose every output reduces a `window` of inputs. `operands` inputs (2 for add/mul of
    two tensors, 1 otherwise; a bias add reads the bias as a weight of `weight` elems, an affine -- inference
    BatchNorm, x * s_c + b_c -- its scales and shifts as a weight of 2 x channels). `in_numel`: elements each
    operand reads when it differs from `numel` (a pool of stride 2 reads 4x what it writes, a global pool
    H x W times); None: `numel`."""

    op: str
    numel: int
    operands: int = 1
    weight: int = 0
    window: int = 1
    in_numel: int | None = None

    kind = "elementwise"

    def __post_init__(self) -> None:
        super().__post_init__()
        pool = self.op in F.POOL_FLOPS_BEYOND_WINDOW
        if self.op not in F.ELEMENTWISE_FLOPS and not pool:
            allowed = sorted(F.ELEMENTWISE_FLOPS) + sorted(F.POOL_FLOPS_BEYOND_WINDOW)
            raise SpecError(f"{self.name}.op", self.op, f"one of {allowed}")
        check_positive_int(f"{self.name}.numel", self.numel)
        if self.operands not in (1, 2) or isinstance(self.operands, bool):
            raise SpecError(f"{self.name}.operands", self.operands, "1 or 2")
        check_int(f"{self.name}.weight", self.weight, 0)
        check_positive_int(f"{self.name}.window", self.window)
        if self.window > 1 and not pool:
            raise SpecError(f"{self.name}.window", self.window, f"1 for {self.op!r} (a window is a pool's)")
        if self.in_numel is not None:
            check_positive_int(f"{self.name}.in_numel", self.in_numel)

    @property
    def pool(self) -> bool:
        """Whether this is a pooling op (each output reduces a window of inputs)."""
        return self.op in F.POOL_FLOPS_BEYOND_WINDOW

    @property
    def input_numel(self) -> int:
        """Elements each operand reads."""
        return self.numel if self.in_numel is None else self.in_numel

    @property
    def flops(self) -> int:
        if self.pool:
            return F.pool_flops(self.op, self.numel, self.window)
        return F.elementwise_flops(self.op, self.numel)

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple((self.input_numel,) for _ in range(self.operands))

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.numel,)

    @property
    def weight_elems(self) -> int:
        return self.weight

    def describe(self) -> str:
        if self.pool:
            return f"{self.op}({self.input_numel} -> {self.numel}, window {self.window})"
        return f"{self.op}({self.numel})"


#: the op kinds of this module (`swallowtail.workload.OP_TYPES` adds the structured ones)
BASE_OP_TYPES: dict[str, type[Op]] = {
    t.kind: t for t in (Butterfly, FFT, GEMM, Conv2d, Softmax, LayerNorm, Elementwise)
}
