"""A butterfly multiply with every stage in one GPU kernel (Triton), to time what a fused kernel achieves.

The GPU model's TensorRT stacks assume a butterfly of up to `butterfly_max_stages_per_kernel` = 14 stages
runs as one kernel that reads its input and writes its output once (HazyResearch/butterfly's fused CUDA
kernel does log2 n = 1..14). PyTorch has no such kernel: `swallowtail.nn.butterfly_multiply` runs two
element-wise kernels per stage. This kernel is the fused form, written for measuring it
(`swallowtail.experiments.kernels`, case `<op>.fused`): each program loads BLOCK_R rows of n = 2^LOG_N
entries into registers, applies all LOG_N stages there (a stage of stride 2^s sees a row as
(n / 2^(s+1), 2, 2^s) and mixes the two halves with its 2x2 twiddles, the layout of
`swallowtail.nn.butterfly`), and stores the rows once; arithmetic in FP32 whatever the storage dtype. The
measuring code checks it against `butterfly_multiply` before timing it.

Triton is optional (it comes with PyTorch's CUDA builds): without it `AVAILABLE` is False and the measuring
code records why the case did not run. `TRITON_INTERPRET=1` runs the kernel on the CPU (slowly) for tests.
"""

from __future__ import annotations

import os

import torch

try:  # optional: PyTorch's CUDA wheels bring Triton, the CPU wheels do not
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the installation
    triton = None
    tl = None

AVAILABLE = triton is not None
#: entries a program keeps in registers (rows x n): 8192 FP32 values over 4-8 warps
ENTRIES_PER_PROGRAM = 8192
#: the longest butterfly the kernel takes (2^14: the fused kernel the TensorRT stacks assume)
MAX_LOG_N = 14


def interpreted() -> bool:
    """Whether Triton runs kernels on the CPU (`TRITON_INTERPRET=1`)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


if AVAILABLE:

    @triton.jit
    def _fused_kernel(
        x_ptr, t_ptr, y_ptr, rows, LOG_N: tl.constexpr, BLOCK_R: tl.constexpr, INC: tl.constexpr
    ):
        N: tl.constexpr = 1 << LOG_N
        HALF: tl.constexpr = N // 2
        r = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
        c = tl.arange(0, N)
        mask = r[:, None] < rows
        x = tl.load(x_ptr + r[:, None] * N + c[None, :], mask=mask, other=0.0).to(tl.float32)
        p = tl.arange(0, HALF)
        for i in tl.static_range(LOG_N):
            s: tl.constexpr = i * INC + (LOG_N - 1 - i) * (1 - INC)  # stage of stride 2^s
            S: tl.constexpr = 1 << s
            B: tl.constexpr = N // (2 * S)
            x0, x1 = tl.split(tl.permute(tl.reshape(x, (BLOCK_R, B, 2, S)), (0, 1, 3, 2)))
            base = t_ptr + s * HALF * 4 + p * 4  # twiddle[0, s, p] is a 2x2 block
            t00 = tl.reshape(tl.load(base).to(tl.float32), (1, B, S))
            t01 = tl.reshape(tl.load(base + 1).to(tl.float32), (1, B, S))
            t10 = tl.reshape(tl.load(base + 2).to(tl.float32), (1, B, S))
            t11 = tl.reshape(tl.load(base + 3).to(tl.float32), (1, B, S))
            y = tl.join(t00 * x0 + t01 * x1, t10 * x0 + t11 * x1)  # (BLOCK_R, B, S, 2)
            x = tl.reshape(tl.permute(y, (0, 1, 3, 2)), (BLOCK_R, N))
        tl.store(y_ptr + r[:, None] * N + c[None, :], x.to(y_ptr.dtype.element_ty), mask=mask)


def butterfly_fused(twiddle: torch.Tensor, x: torch.Tensor, increasing_stride: bool = True) -> torch.Tensor:
    """`butterfly_multiply(twiddle, x[:, None, :])[:, 0, :]` in one kernel: twiddle (1, log2 n, n // 2, 2, 2)
    real, x (rows, n) contiguous, n <= 2^MAX_LOG_N. Raises RuntimeError where it cannot run."""
    if not AVAILABLE:
        raise RuntimeError("Triton is not installed (it comes with PyTorch's CUDA builds)")
    if x.device.type != "cuda" and not interpreted():
        raise RuntimeError("a Triton kernel needs a CUDA device (or TRITON_INTERPRET=1)")
    rows, n = x.shape
    log_n = n.bit_length() - 1
    if twiddle.shape != (1, log_n, n // 2, 2, 2) or n != 1 << log_n or not 1 <= log_n <= MAX_LOG_N:
        raise RuntimeError(f"a real (1, log2 n, n / 2, 2, 2) twiddle and n = 2^1..2^{MAX_LOG_N}, got {n}")
    y = torch.empty_like(x)
    block_r = max(1, ENTRIES_PER_PROGRAM // n)
    grid = (triton.cdiv(rows, block_r),)
    _fused_kernel[grid](
        x.contiguous(),
        twiddle.contiguous(),
        y,
        rows,
        LOG_N=log_n,
        BLOCK_R=block_r,
        INC=int(increasing_stride),
    )
    return y


__all__ = ["AVAILABLE", "MAX_LOG_N", "butterfly_fused", "interpreted"]
