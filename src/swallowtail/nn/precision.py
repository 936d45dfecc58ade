"""fp16 emulation: run the network in float32 but round every activation to float16.

The accelerators this toolkit models store activations in fp16 and accumulate in wider precision. With
`HybridConfig.emulate_fp16 = True` the modules round (round-to-nearest-even, overflow to inf, as the
hardware would) the output of every op to float16 and continue in float32:

- embedding: the token + position sum and the embedding LayerNorm output;
- attention: the Q, K, V projections, the scaled scores QK^T / sqrt(hs), the softmax probabilities, the
  attention values SV, the output projection;
- Fourier mixing: its (real) output;
- FFN: the first linear, the GELU, the second linear;
- every residual sum and every LayerNorm output;
- head: the pooled vector, the [u, v, u*v, u-v] features, each linear and activation, the logits.

Weights stay float32 (master weights, so training still works); the products inside one op (a GEMM, an FFT,
a butterfly) accumulate in float32. Gradients flow through the rounding unchanged in shape (the cast's
backward is a cast), so a model can be fine-tuned under emulation.
"""

from __future__ import annotations

import torch


def round_fp16(t: torch.Tensor) -> torch.Tensor:
    """`t` rounded to the nearest float16 value, returned in t's dtype."""
    return t.half().to(t.dtype)


def maybe_round(t: torch.Tensor, enabled: bool) -> torch.Tensor:
    """round_fp16(t) when `enabled`, else t unchanged."""
    return round_fp16(t) if enabled else t
