"""An FNet (Lee-Thorp et al. 2021, "FNet: Mixing Tokens with Fourier Transforms") in plain PyTorch.

Attention is replaced by the real part of a 2-D FFT over the sequence and hidden axes (`torch.fft.fft2`):
no parameters. The rest is a post-LN BERT encoder (Devlin et al. 2019). Written independently of
swallowtail's own FourierMixing layer, it imports to the same ops as swallowtail's `fnet` preset at the
same sizes.

    swallowtail workload import examples/fnet.py:build --input-shape 1,256 --input-dtype int64
    swallowtail simulate --model examples/fnet.py:build --seq-len 256
    python examples/fnet.py
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FNetLayer(nn.Module):
    """x = LN(x + Re(FFT2(x))); x = LN(x + MLP(x))."""

    def __init__(self, d: int, d_ff: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, d_ff)
        self.fc2 = nn.Linear(d_ff, d)
        self.ln2 = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln1(x + torch.fft.fft2(x).real)  # over (sequence, hidden)
        return self.ln2(x + self.fc2(F.gelu(self.fc1(x), approximate="tanh")))


class FNet(nn.Module):
    """Token ids (B, T) -> class logits (B, n_classes)."""

    def __init__(
        self,
        vocab: int = 30522,
        d: int = 256,
        d_ff: int = 1024,
        layers: int = 2,
        max_len: int = 512,
        n_classes: int = 2,
    ) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        self.ln = nn.LayerNorm(d)
        self.layers = nn.ModuleList([FNetLayer(d, d_ff) for _ in range(layers)])
        self.classifier = nn.Linear(d, n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        T = ids.shape[1]
        x = self.ln(self.tok(ids) + self.pos(torch.arange(T, device=ids.device)))
        for layer in self.layers:
            x = layer(x)
        return self.classifier(x[:, 0])


def build(**sizes: int) -> FNet:
    """The model (2 layers, d 256, MLP 1024)."""
    return FNet(**sizes)


if __name__ == "__main__":
    from swallowtail.backends import get_backend
    from swallowtail.importer import from_torch

    with torch.device("meta"):  # no weights
        model = build()
    workload = from_torch(model, torch.ones(1, 256, dtype=torch.long), name="fnet@L256")
    result = get_backend("dataflow-multilayer", arch="df-4x4-simd8").run(workload)
    print(f"{workload.name}: {len(workload)} ops, {workload.flops / 1e9:.2f} GFLOP")
    print(f"df-4x4-simd8: {result.latency_s * 1e3:.3f} ms, utilization {result.utilization:.2f}")
