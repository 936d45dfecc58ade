"""A BERT whose MLPs are Monarch matrices, written in plain PyTorch (no swallowtail layers).

A Monarch matrix (Dao et al. 2022, "Monarch: Expressive Structured Matrices for Efficient and Accurate
Training") is a block-diagonal matrix, a permutation, another block-diagonal matrix and a permutation: here
two batched matmuls (`torch.bmm`, one block per batch) and transposes. The rest is BERT (Devlin et al.
2019): token and position embeddings, post-LN encoder layers with softmax attention
(`F.scaled_dot_product_attention`), GELU MLPs, a classifier on the first token.

    swallowtail workload import examples/monarch_bert.py:build --input-shape 1,256 --input-dtype int64
    swallowtail simulate --model examples/monarch_bert.py:build --seq-len 256
    python examples/monarch_bert.py          # import it and simulate it on the array from Python
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MonarchLinear(nn.Module):
    """y = x M^T + b with M a Monarch matrix of `nblocks` blocks: x (..., d_in) -> (..., d_out)."""

    def __init__(self, d_in: int, d_out: int, nblocks: int) -> None:
        super().__init__()
        assert d_in % nblocks == 0 and d_out % nblocks == 0, "d_in and d_out must be multiples of nblocks"
        self.nblocks = nblocks
        # R: nblocks blocks of (d_in / nblocks -> nblocks); L: nblocks blocks of (nblocks -> d_out / nblocks)
        self.r = nn.Parameter(torch.randn(nblocks, d_in // nblocks, nblocks) / math.sqrt(d_in / nblocks))
        self.l = nn.Parameter(torch.randn(nblocks, nblocks, d_out // nblocks) / math.sqrt(nblocks))
        self.bias = nn.Parameter(torch.zeros(d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead, k = x.shape[:-1], self.nblocks
        h = x.reshape(-1, k, x.shape[-1] // k).transpose(0, 1)  # (k, rows, d_in / k): the blocks of x
        h = torch.bmm(h, self.r)  # (k, rows, k): block-diagonal R
        h = h.transpose(0, 2)  # permutation P: entry j of block i -> entry i of block j
        h = torch.bmm(h, self.l)  # (k, rows, d_out / k): block-diagonal L
        return h.transpose(0, 1).reshape(*lead, -1) + self.bias  # (..., d_out)


class EncoderLayer(nn.Module):
    """Post-LN BERT layer: x = LN(x + attention(x)); x = LN(x + MLP(x)), the MLP's two linears Monarch."""

    def __init__(self, d: int, heads: int, d_ff: int, nblocks: int) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.ln1 = nn.LayerNorm(d)
        self.fc1 = MonarchLinear(d, d_ff, nblocks)
        self.fc2 = MonarchLinear(d_ff, d, nblocks)
        self.ln2 = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, d = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, T, self.heads, d // self.heads).transpose(1, 2)  # (B, heads, T, d / heads)

        y = F.scaled_dot_product_attention(heads(self.q(x)), heads(self.k(x)), heads(self.v(x)))
        x = self.ln1(x + self.o(y.transpose(1, 2).reshape(B, T, d)))
        return self.ln2(x + self.fc2(F.gelu(self.fc1(x), approximate="tanh")))


class MonarchBert(nn.Module):
    """Token ids (B, T) -> class logits (B, n_classes)."""

    def __init__(
        self,
        vocab: int = 30522,
        d: int = 256,
        heads: int = 4,
        d_ff: int = 1024,
        layers: int = 2,
        nblocks: int = 16,
        max_len: int = 512,
        n_classes: int = 2,
    ) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        self.ln = nn.LayerNorm(d)
        self.layers = nn.ModuleList([EncoderLayer(d, heads, d_ff, nblocks) for _ in range(layers)])
        self.classifier = nn.Linear(d, n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        T = ids.shape[1]
        x = self.ln(self.tok(ids) + self.pos(torch.arange(T, device=ids.device)))
        for layer in self.layers:
            x = layer(x)
        return self.classifier(x[:, 0])


def build(**sizes: int) -> MonarchBert:
    """The model (a small BERT: 2 layers, d 256, 4 heads, MLP 1024 with 16 Monarch blocks)."""
    return MonarchBert(**sizes)


if __name__ == "__main__":
    from swallowtail.backends import get_backend
    from swallowtail.importer import from_torch

    with torch.device("meta"):  # no weights
        model = build()
    workload = from_torch(model, torch.ones(1, 256, dtype=torch.long), name="monarch-bert@L256")
    result = get_backend("dataflow-multilayer", arch="df-4x4-simd8").run(workload)
    print(f"{workload.name}: {len(workload)} ops, {workload.flops / 1e9:.2f} GFLOP")
    print(f"df-4x4-simd8: {result.latency_s * 1e3:.3f} ms, utilization {result.utilization:.2f}")
