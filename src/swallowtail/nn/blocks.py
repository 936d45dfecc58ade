"""The three encoder blocks of a hybrid network: Dense, ABfly and FBfly.

All three are post-LN, as in BERT (Devlin et al. 2019) and FNet (Lee-Thorp et al. 2021):
    x = LN(x + mix(x));  x = LN(x + FFN(x))
- DenseBlock: the vanilla Transformer layer (Vaswani et al. 2017): multi-head softmax attention with
  nn.Linear Q/K/V/out projections.
- ABflyBlock: FABNet's attention block (Fan et al., MICRO 2022): the same attention, but the Q/K/V/out
  projections are butterfly matrices (ButterflyLinear); QK^T and SV stay dense matmuls.
- FBflyBlock: FABNet's Fourier block: FNet's parameter-free token mixing (real part of a 2-D FFT over
  sequence and hidden) replaces attention.
The FFN of every block is Linear(d, d_ff) -> GELU -> Linear(d_ff, d), with the linear kind of `config.ffn`
(nn.Linear, or ButterflyLinear of kind butterfly / monarch).

Conventions the exact counts (`swallowtail.nn.counts`) rely on -- change them together:
- attention scores are scaled after the QK^T matmul: (Q K^T) * 1/sqrt(hs), one multiply per score;
- GELU is the tanh approximation (the FLOP convention of `swallowtail.flops`);
- masking (key padding) and dropout are selects, counted as 0 FLOPs; dropout is off at inference.
Attribute names are the op names in the counts (`attn.q`, `ffn.fc1`, `ln1`, ...).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import nn

from swallowtail.nn.config import HybridConfig
from swallowtail.nn.fourier import FourierMixing
from swallowtail.nn.linear import ButterflyLinear
from swallowtail.nn.precision import maybe_round

#: the tanh approximation of GELU (BERT's erf GELU differs by < 1e-3; the FLOP convention counts tanh)
GELU_APPROXIMATE = "tanh"


def make_linear(kind: str, in_features: int, out_features: int, bias: bool = True) -> nn.Module:
    """A linear layer of `kind`: "dense" -> nn.Linear, "butterfly" | "monarch" -> ButterflyLinear."""
    if kind == "dense":
        return nn.Linear(in_features, out_features, bias=bias)
    return ButterflyLinear(in_features, out_features, bias=bias, kind=kind)


class SelfAttention(nn.Module):
    """Multi-head softmax attention, softmax(Q K^T / sqrt(hs)) V, with projections of `projection` kind."""

    def __init__(self, config: HybridConfig, projection: str) -> None:
        super().__init__()
        d = config.d_model
        self.n_heads = config.n_heads
        self.head_size = config.head_size
        self.scale = 1.0 / math.sqrt(self.head_size)
        self.q = make_linear(projection, d, d)
        self.k = make_linear(projection, d, d)
        self.v = make_linear(projection, d, d)
        self.out = make_linear(projection, d, d)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.fp16 = config.emulate_fp16

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, d); keep: (B, T) bool, False at padding keys (or None). Returns (B, T, d)."""
        B, T, C = x.shape
        nh, hs = self.n_heads, self.head_size
        r = self._round
        q = r(self.q(x)).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = r(self.k(x)).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = r(self.v(x)).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        if self.training and not self.fp16:
            y = self._fused(q, k, v, keep)  # the same function, one fused kernel (training speed)
            return r(self.out(y.transpose(1, 2).reshape(B, T, C)))
        att = r((q @ k.transpose(-2, -1)) * self.scale)  # (B, nh, T, T)
        if keep is not None:
            # finite minimum, not -inf: a row whose keys are all padding becomes uniform instead of NaN
            att = att.masked_fill(~keep[:, None, None, :], torch.finfo(att.dtype).min)
        att = r(F.softmax(att, dim=-1))
        att = self.attn_dropout(att)
        y = r(att @ v)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, d): heads side by side again
        return r(self.out(y))

    def _fused(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor | None
    ) -> torch.Tensor:
        """softmax(Q K^T * scale + mask) V by `F.scaled_dot_product_attention`: (B, nh, T, hs).

        Used in training mode only (several times faster on a CPU, and the (B, nh, T, T) scores are never
        materialised). Inference -- what `swallowtail.nn.counts` counts and what the FLOP-count tests
        measure with torch's FlopCounterMode, which sees no FLOPs in the fused CPU kernel -- keeps the
        explicit matmuls above. The mask is additive with the same finite minimum, so a row whose keys are
        all padding is uniform here too; the two paths agree to float32 rounding (tests/test_model.py).
        """
        mask = None
        if keep is not None:
            mask = torch.zeros(keep.shape, dtype=q.dtype, device=q.device)
            mask = mask.masked_fill(~keep, torch.finfo(q.dtype).min)[:, None, None, :]  # (B, 1, 1, T)
        p = self.attn_dropout.p if self.training else 0.0
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, scale=self.scale)

    def _round(self, t: torch.Tensor) -> torch.Tensor:
        return maybe_round(t, self.fp16)


class FeedForward(nn.Module):
    """Linear(d, d_ff) -> GELU -> Linear(d_ff, d), linear layers of `config.ffn` kind."""

    def __init__(self, config: HybridConfig) -> None:
        super().__init__()
        self.fc1 = make_linear(config.ffn, config.d_model, config.d_ff)
        self.fc2 = make_linear(config.ffn, config.d_ff, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.fp16 = config.emulate_fp16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = maybe_round(self.fc1(x), self.fp16)  # (B, T, d_ff)
        h = maybe_round(F.gelu(h, approximate=GELU_APPROXIMATE), self.fp16)
        h = self.dropout(h)
        return maybe_round(self.fc2(h), self.fp16)  # (B, T, d)


class _PostLNBlock(nn.Module, ABC):
    """x = LN(x + mix(x)); x = LN(x + FFN(x)). Subclasses define the token mixing, `_mix`."""

    kind = ""

    def __init__(self, config: HybridConfig) -> None:
        super().__init__()
        d = config.d_model
        self.ln1 = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.ffn = FeedForward(config)
        self.ln2 = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)
        self.fp16 = config.emulate_fp16

    @abstractmethod
    def _mix(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """Token mixing: (B, T, d) -> (B, T, d)."""

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, d); keep: (B, T) bool key mask or None. Returns (B, T, d)."""
        r = self._round
        x = r(self.ln1(r(x + self.dropout(self._mix(x, keep)))))
        x = r(self.ln2(r(x + self.dropout(self.ffn(x)))))
        return x

    def _round(self, t: torch.Tensor) -> torch.Tensor:
        return maybe_round(t, self.fp16)


class DenseBlock(_PostLNBlock):
    """The vanilla Transformer encoder layer (post-LN, BERT): dense attention, FFN of `config.ffn` kind."""

    kind = "dense"
    projection = "dense"

    def __init__(self, config: HybridConfig) -> None:
        super().__init__(config)
        self.attn = SelfAttention(config, self.projection)

    def _mix(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        return self.attn(x, keep)


class ABflyBlock(DenseBlock):
    """FABNet's ABfly block: attention with butterfly Q/K/V/out projections; QK^T and SV stay dense."""

    kind = "abfly"
    projection = "butterfly"


class FBflyBlock(_PostLNBlock):
    """FABNet's FBfly block: FNet Fourier token mixing (no parameters) + FFN. Padding is mixed in too
    (FNet does not mask), so `keep` is ignored here."""

    kind = "fbfly"

    def __init__(self, config: HybridConfig) -> None:
        super().__init__(config)
        self.mix = FourierMixing()

    def _mix(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        return self._round(self.mix(x))  # (B, T, d)


BLOCKS: dict[str, type[_PostLNBlock]] = {b.kind: b for b in (DenseBlock, ABflyBlock, FBflyBlock)}
