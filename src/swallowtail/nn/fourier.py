"""Fourier token mixing (FNet; Lee-Thorp et al. 2021, "FNet: Mixing Tokens with Fourier Transforms").

The attention sublayer is replaced by the real part of a 2-D DFT over the sequence and hidden axes:
``y = Re(F_L x F_d)``. It has no parameters. For real input, torch.fft.fft2 promotes to complex and runs
complex transforms over both axes; the fast path instead takes rfft2 (a real-to-complex transform over the
hidden axis, then a complex one over the sequence axis on the d // 2 + 1 kept columns) and fills the
other columns from Hermitian symmetry, Re X[k1, k2] = Re X[-k1 mod L, d - k2]: exact, and about 4x
faster on CPU.

FLOPs, by the convention of `swallowtail.flops.fft_flops`: a real-input FFT of length d per token
(rows = B * L) plus a complex FFT of length L per hidden channel (rows = B * d). This is the standard
count of the mathematical operation (what the workload model charges); the rfft2 fast path itself runs
the sequence-axis FFT on only d // 2 + 1 channels.
"""

from __future__ import annotations

import torch
from torch import nn

from swallowtail import flops
from swallowtail.errors import SpecError, check_positive_int

# ---- names -----------------------------------------------------------------------------------------------
#: the mixed axes of a (B, L, d) input: sequence and hidden.
MIX_DIMS = (-2, -1)


class FourierMixing(nn.Module):
    """x (*batch, L, d) -> Re(FFT2(x)) over the last two axes, same shape (a contiguous real tensor)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            raise SpecError("x.dim()", x.dim(), ">= 2: (*batch, seq_len, d_model)")
        if x.numel() == 0:  # torch's FFT backends reject empty batches
            return torch.empty_like(x, dtype=x.real.dtype)
        if x.is_complex():
            return torch.fft.fft2(x, dim=MIX_DIMS).real.contiguous()  # (B, L, d)
        d = x.shape[-1]
        half = torch.fft.rfft2(x, dim=MIX_DIMS).real  # (B, L, d // 2 + 1): columns k2 = 0 .. d // 2
        n_mirror = d - half.shape[-1]  # columns k2 = d // 2 + 1 .. d - 1 come from d - k2 = n_mirror .. 1
        mirror = half[..., 1 : n_mirror + 1].flip(-2, -1).roll(1, dims=-2)  # row k1 <- row -k1 mod L
        return torch.cat([half, mirror], dim=-1)  # (B, L, d)

    @staticmethod
    def flops(seq_len: int, d_model: int, batch: int = 1) -> int:
        """FLOPs of forward on a (batch, seq_len, d_model) input."""
        check_positive_int("seq_len", seq_len)
        check_positive_int("d_model", d_model)
        check_positive_int("batch", batch)
        hidden = flops.fft_flops(d_model, rows=batch * seq_len, real_input=True)
        sequence = flops.fft_flops(seq_len, rows=batch * d_model)
        return hidden + sequence
