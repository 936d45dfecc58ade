"""A small Llama-style decoder (Touvron et al. 2023) in plain PyTorch: RMSNorm, rotary positions, causal
attention (`F.scaled_dot_product_attention(..., is_causal=True)`), SiLU-gated MLP, an LM head.

    swallowtail workload import examples/llama_decoder.py:build --input-shape 1,256 --input-dtype int64
    swallowtail simulate --model examples/llama_decoder.py:build --seq-len 256
    python examples/llama_decoder.py

The same code at Llama-2-7B's sizes (`build(d=4096, heads=32, layers=32, d_ff=11008, vocab=32000)`) imports
in seconds on the meta device: no weight is materialised.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


class DecoderLayer(nn.Module):
    """x = x + attention(RMSNorm(x)); x = x + MLP(RMSNorm(x)), MLP = down(silu(gate(x)) * up(x))."""

    def __init__(self, d: int, heads: int, d_ff: int) -> None:
        super().__init__()
        self.heads = heads
        self.attn_norm = nn.RMSNorm(d, eps=1e-5)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.mlp_norm = nn.RMSNorm(d, eps=1e-5)
        self.gate = nn.Linear(d, d_ff, bias=False)
        self.up = nn.Linear(d, d_ff, bias=False)
        self.down = nn.Linear(d_ff, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, d = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, T, self.heads, d // self.heads).transpose(1, 2)  # (B, heads, T, d / heads)

        h = self.attn_norm(x)
        q, k = heads(self.q(h)), heads(self.k(h))
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin  # rotary positions
        y = F.scaled_dot_product_attention(q, k, heads(self.v(h)), is_causal=True)
        x = x + self.o(y.transpose(1, 2).reshape(B, T, d))
        h = self.mlp_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class LlamaDecoder(nn.Module):
    """Token ids (B, T) -> next-token logits (B, T, vocab)."""

    def __init__(
        self,
        vocab: int = 4096,
        d: int = 256,
        heads: int = 4,
        layers: int = 2,
        d_ff: int = 688,
        max_len: int = 2048,
        rope_base: float = 10000.0,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList([DecoderLayer(d, heads, d_ff) for _ in range(layers)])
        self.norm = nn.RMSNorm(d, eps=1e-5)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        hs = d // heads
        inv_freq = 1.0 / rope_base ** (torch.arange(0, hs, 2, dtype=torch.float32) / hs)
        angles = torch.outer(torch.arange(max_len, dtype=torch.float32), inv_freq).repeat(
            1, 2
        )  # (max_len, hs)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        T = ids.shape[1]
        cos, sin = self.cos[:T], self.sin[:T]
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.norm(x))


def build(**sizes: int) -> LlamaDecoder:
    """The model (2 layers, d 256, 4 heads, MLP 688, vocabulary 4096)."""
    return LlamaDecoder(**sizes)


if __name__ == "__main__":
    from swallowtail.backends import get_backend
    from swallowtail.importer import from_torch

    with torch.device("meta"):  # no weights
        model = build()
    workload = from_torch(model, torch.ones(1, 256, dtype=torch.long), name="llama-decoder@L256")
    result = get_backend("dataflow-multilayer", arch="df-4x4-simd8").run(workload)
    print(f"{workload.name}: {len(workload)} ops, {workload.flops / 1e9:.2f} GFLOP")
    print(f"df-4x4-simd8: {result.latency_s * 1e3:.3f} ms, utilization {result.utilization:.2f}")
