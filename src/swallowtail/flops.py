"""FLOP-count conventions: the one source of truth for `swallowtail.nn` counts and `swallowtail.workload`.

An FMA counts 2 FLOPs. Counts are exact for what the fast paths compute (padding included). Where an
operation has no single standard count (FFT, softmax, LayerNorm, GELU) the convention is stated here, once,
and every part of the toolkit uses it. So are the GELU approximation's constants (every model of GELU reads
them from here) and the integer helpers the counts and the mappers share (`log2_exact`, `next_pow2`,
`ceil_div`).
"""

from __future__ import annotations

import math

#: FLOPs an FMA (a multiply-accumulate) counts
FLOPS_PER_FMA = 2

# ---- conventions (per element unless stated) -----------------------------------------------------------
#: real radix-2 butterfly: each output is a*x0 + b*x1 = one multiply + one FMA.
REAL_BUTTERFLY_FLOPS_PER_OUTPUT = 3
#: complex radix-2 butterfly with learned 2x2 coefficients: two complex multiplies (6 each)
#: + a complex add (2).
COMPLEX_BUTTERFLY_FLOPS_PER_OUTPUT = 14
#: FFT: the Cooley-Tukey radix-2 count, 5 n log2 n per complex transform (10 FLOPs per radix-2 butterfly);
#: a transform of real input costs half. Used for any n (a standard convention for mixed radix too).
FFT_FLOPS_COEFF = 5.0
#: softmax over a row: max, subtract, exp, sum, divide.
SOFTMAX_FLOPS_PER_ELEMENT = 5
#: LayerNorm over a row: mean, centre, square + sum, scale by rstd, affine multiply + add.
LAYERNORM_FLOPS_PER_ELEMENT = 7
#: element-wise kinds: FLOPs per output element (GELU: tanh approximation, 8 by convention; affine: a
#: per-channel scale and shift, x * s_c + b_c, i.e. inference BatchNorm -- one FMA).
ELEMENTWISE_FLOPS = {"add": 1, "mul": 1, "scale": 1, "relu": 1, "gelu": 8, "affine": 2}
#: pooling kinds: FLOPs per output element over a window of r inputs = r + this (max: r - 1 comparisons;
#: avg: r - 1 adds + 1 scale = r). The full window is counted at the borders too (padding positions
#: included: what a kernel that pads with -inf / zeros computes; torchvision's ResNet max pool pads by 1).
POOL_FLOPS_BEYOND_WINDOW = {"maxpool": -1, "avgpool": 0}

# ---- GELU ------------------------------------------------------------------------------------------------
#: GELU's tanh approximation (Hendrycks & Gimpel 2016, "Gaussian Error Linear Units (GELUs)",
#: arXiv:1606.08415, section 2; torch's `gelu(approximate="tanh")`):
#: gelu(x) ~ 0.5 x (1 + tanh(GELU_K (x + GELU_C1 x^3))), GELU_K = sqrt(2 / pi), GELU_C1 = 0.044715.
GELU_K = math.sqrt(2.0 / math.pi)
GELU_C1 = 0.044715


def log2_exact(n: int) -> int:
    """log2 of a power of two; ValueError otherwise."""
    if n < 1 or n & (n - 1):
        raise ValueError(f"n = {n!r} is not allowed: must be a power of two")
    return n.bit_length() - 1


def next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) in integer arithmetic (exact for any size, unlike math.ceil of a float quotient)."""
    return -(-a // b)


def butterfly_flops(n: int, rows: int, stages: int | None = None, complex: bool = False) -> int:
    """FLOPs of a radix-2 butterfly multiply of `stages` stages over `rows` vectors of length n."""
    stages = log2_exact(n) if stages is None else stages
    per = COMPLEX_BUTTERFLY_FLOPS_PER_OUTPUT if complex else REAL_BUTTERFLY_FLOPS_PER_OUTPUT
    return rows * stages * n * per


def fft_flops(n: int, rows: int, real_input: bool = False) -> int:
    """FLOPs of `rows` length-n FFTs (5 n log2 n complex, half for real input), rounded to an integer."""
    if n <= 1:
        return 0
    coeff = FFT_FLOPS_COEFF / (2 if real_input else 1)
    return round(rows * coeff * n * math.log2(n))


def gemm_flops(m: int, k: int, n: int, batch: int = 1) -> int:
    """(batch x) (m x k) @ (k x n): 2 m k n per batch (what torch's FlopCounterMode counts)."""
    return 2 * batch * m * k * n


def softmax_flops(rows: int, n: int) -> int:
    return SOFTMAX_FLOPS_PER_ELEMENT * rows * n


def layernorm_flops(rows: int, n: int) -> int:
    return LAYERNORM_FLOPS_PER_ELEMENT * rows * n


def elementwise_flops(kind: str, numel: int) -> int:
    if kind not in ELEMENTWISE_FLOPS:
        raise ValueError(f"kind = {kind!r} is not allowed: one of {sorted(ELEMENTWISE_FLOPS)}")
    return ELEMENTWISE_FLOPS[kind] * numel


def pool_flops(kind: str, outputs: int, window: int) -> int:
    """FLOPs of `outputs` pooled values, each over a window of `window` inputs (max: window - 1 per output,
    avg: window per output)."""
    if kind not in POOL_FLOPS_BEYOND_WINDOW:
        raise ValueError(f"kind = {kind!r} is not allowed: one of {sorted(POOL_FLOPS_BEYOND_WINDOW)}")
    if window < 1:
        raise ValueError(f"window = {window!r} is not allowed: a positive integer")
    return (window + POOL_FLOPS_BEYOND_WINDOW[kind]) * outputs


def conv2d_flops(
    batch: int, out_h: int, out_w: int, out_channels: int, in_channels_per_group: int, kh: int, kw: int
) -> int:
    """A 2-D convolution as its implicit GEMM: M = batch * out_h * out_w output pixels, K =
    in_channels_per_group * kh * kw, N = out_channels (all groups): 2 M K N (an FMA counts 2, no bias:
    what torch's FlopCounterMode counts for a convolution)."""
    return gemm_flops(batch * out_h * out_w, in_channels_per_group * kh * kw, out_channels)
