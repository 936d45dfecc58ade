"""HybridTransformer: a classifier built from Dense / ABfly / FBfly blocks as a HybridConfig says.

    tokens (B, T) ──► Embedding: token table (or Linear for continuous input) + learned positions, LayerNorm
                 ──► blocks per config.block_kinds()  (post-LN; see blocks.py)
                 ──► pooling: position 0 ("cls") or the mean over non-padding positions ("mean")
                 ──► head: Linear(d, n_classes); dual tower: MLP on [u, v, u*v, u-v] (LRA's NLI interaction)

Sources: the embedding and post-LN encoder follow BERT / FNet (Devlin et al. 2019; Lee-Thorp et al. 2021);
the hybrid of attention and Fourier blocks is FABNet (Fan et al., MICRO 2022); the dual-tower retrieval
head follows LRA's `classifier_head_dual` with interaction "NLI" (Tay et al. 2021), with one hidden layer
of width d_model.

CLS pooling: no token is prepended (LRA prepends a learned one). The state at position 0 is pooled, and
the task puts `CLS_ID` there, so the encoder length is exactly the input length: a power of two stays a
power of two for the FFT and butterfly hardware, and `swallowtail.nn.counts` counts T positions, not T + 1.

Dual tower: both inputs go through the same encoder as one batch of 2B sequences when their lengths
match (one pass, which is what the counts describe); separately otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from swallowtail.errors import SpecError
from swallowtail.nn.blocks import BLOCKS
from swallowtail.nn.config import DUAL_FEATURES, HybridConfig
from swallowtail.nn.linear import ButterflyLinear
from swallowtail.nn.precision import maybe_round

#: std of the normal init of nn.Linear / nn.Embedding weights (BERT's initializer_range)
INIT_STD = 0.02


class Embedding(nn.Module):
    """Token embedding (or Linear(input_dim, d)) + learned positional embedding, then LayerNorm."""

    def __init__(self, config: HybridConfig) -> None:
        super().__init__()
        d = config.d_model
        if config.token_input:
            self.tok: nn.Module = nn.Embedding(config.vocab_size, d)
        else:
            self.tok = nn.Linear(config.input_dim, d)
        self.pos = nn.Embedding(config.max_len, d)
        self.ln = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)
        self.fp16 = config.emulate_fp16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T) token ids or (B, T, input_dim). Returns (B, T, d)."""
        T = x.shape[1]
        h = maybe_round(self.tok(x), self.fp16)  # (B, T, d)
        h = maybe_round(h + self.pos.weight[:T], self.fp16)  # (B, T, d) + (T, d)
        h = maybe_round(self.ln(h), self.fp16)
        return self.dropout(h)


class ClassifierHead(nn.Module):
    """Linear(d, n_classes) on the pooled vector."""

    def __init__(self, config: HybridConfig) -> None:
        super().__init__()
        self.classifier = nn.Linear(config.d_model, config.n_classes)
        self.fp16 = config.emulate_fp16

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return maybe_round(self.classifier(u), self.fp16)  # (B, n_classes)


class DualHead(nn.Module):
    """MLP on [u, v, u*v, u-v]: Linear(4d, d) -> ReLU -> Linear(d, n_classes) (LRA retrieval, NLI)."""

    def __init__(self, config: HybridConfig) -> None:
        super().__init__()
        d = config.d_model
        self.fc1 = nn.Linear(DUAL_FEATURES * d, d)
        self.fc2 = nn.Linear(d, config.n_classes)
        self.fp16 = config.emulate_fp16

    def forward(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        r = self._round
        feats = torch.cat([u, v, r(u * v), r(u - v)], dim=-1)  # (B, 4d)
        h = r(F.relu(r(self.fc1(feats))))  # (B, d)
        return r(self.fc2(h))  # (B, n_classes)

    def _round(self, t: torch.Tensor) -> torch.Tensor:
        return maybe_round(t, self.fp16)


class HybridTransformer(nn.Module):
    """The hybrid network of `config`. forward(x) -> logits (B, n_classes); dual tower: forward(x1, x2)."""

    def __init__(self, config: HybridConfig) -> None:
        super().__init__()
        if not isinstance(config, HybridConfig):  # a preset name or a dict: say what to pass
            raise SpecError(
                "config", type(config).__name__, "a HybridConfig (swallowtail.nn.config: get_preset(name))"
            )
        self.config = config
        self.embed = Embedding(config)
        self.blocks = nn.ModuleList([BLOCKS[kind](config) for kind in config.block_kinds()])
        self.head: nn.Module = DualHead(config) if config.dual_tower else ClassifierHead(config)
        self._init_weights()

    def _init_weights(self) -> None:
        """Normal(0, INIT_STD) for nn.Linear / nn.Embedding weights, zero biases (BERT); LayerNorm keeps
        (1, 0); ButterflyLinear keeps its own initialisation."""
        inside_butterfly = {
            id(m) for b in self.modules() if isinstance(b, ButterflyLinear) for m in b.modules()
        }
        for m in self.modules():
            if id(m) in inside_butterfly:
                continue
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=INIT_STD)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=INIT_STD)

    # ---- forward ----------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, x2: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, n_classes). x: (B, T) token ids, or (B, T, input_dim) for continuous input."""
        if self.config.dual_tower:
            if x2 is None:
                raise SpecError("x2", None, "a second input: a dual-tower model is called as model(x1, x2)")
            if x.shape == x2.shape:
                u, v = self.encode(torch.cat([x, x2], dim=0)).chunk(2, dim=0)  # one pass over 2B sequences
            else:
                u, v = self.encode(x), self.encode(x2)
            return self.head(u, v)
        if x2 is not None:
            raise SpecError("x2", "a tensor", "None: only a dual_tower model takes a second input")
        return self.head(self.encode(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled representation (B, d) of a batch of inputs."""
        self._check_input(x)
        keep = self._keep_mask(x)
        h = self.embed(x)  # (B, T, d)
        for block in self.blocks:
            h = block(h, keep)
        return maybe_round(self._pool(h, keep), self.config.emulate_fp16)

    def _keep_mask(self, x: torch.Tensor) -> torch.Tensor | None:
        """(B, T) bool, False at padding tokens; None when there is no padding in the batch."""
        pad = self.config.pad_id
        if pad is None:
            return None
        keep = x != pad
        return None if bool(keep.all()) else keep

    def _pool(self, h: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        if self.config.pooling == "cls":
            return h[:, 0]  # (B, d): the CLS_ID token the task put at position 0
        if keep is None:
            return h.mean(dim=1)  # (B, d)
        h = h.masked_fill(~keep[..., None], 0.0)
        return h.sum(dim=1) / keep.sum(dim=1, keepdim=True).clamp(min=1)  # (B, d)

    def _check_input(self, x: torch.Tensor) -> None:
        c = self.config
        if c.token_input:
            if x.dim() != 2 or x.dtype.is_floating_point or x.dtype == torch.bool:
                raise SpecError("x", f"{tuple(x.shape)} {x.dtype}", "token ids: an integer tensor (B, T)")
            if x.numel() and (int(x.min()) < 0 or int(x.max()) >= c.vocab_size):
                raise SpecError(
                    "x",
                    f"token ids in {int(x.min())}..{int(x.max())}",
                    f"token ids in 0..vocab_size-1 = 0..{c.vocab_size - 1}",
                )
        else:
            if x.dim() != 3 or not x.dtype.is_floating_point:
                raise SpecError("x", f"{tuple(x.shape)} {x.dtype}", f"a float tensor (B, T, {c.input_dim})")
            if x.shape[-1] != c.input_dim:
                raise SpecError("input_dim", x.shape[-1], f"inputs of width input_dim = {c.input_dim}")
        seq_len = x.shape[1]
        if seq_len > c.max_len:
            raise SpecError("seq_len", seq_len, f"at most max_len = {c.max_len}")
        if seq_len < 1:
            raise SpecError("seq_len", seq_len, "at least 1")
