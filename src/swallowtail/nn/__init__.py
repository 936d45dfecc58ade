"""swallowtail.nn: butterfly-sparse networks (radix-2 butterfly and Monarch products, ButterflyLinear,
Fourier token mixing) and the hybrid network in plain PyTorch.

Names are loaded on first use (PEP 562), so that torch-free parts (`swallowtail.nn.config`,
`swallowtail.nn.sizes`) import without torch: the workload lowering and the simulators do not need it."""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the submodule that defines it
_EXPORTS = {
    "bit_reversal_permutation": "butterfly",
    "butterfly_multiply": "butterfly",
    "butterfly_multiply_reference": "butterfly",
    "butterfly_to_dense": "butterfly",
    "clear_workspace": "butterfly",
    "fft_butterfly": "butterfly",
    "sylvester_hadamard": "butterfly",
    "twiddle_init": "butterfly",
    "FourierMixing": "fourier",
    "ButterflyLinear": "linear",
    "LinearCounts": "sizes",
    "linear_counts": "sizes",
    "monarch_block_sizes": "sizes",
    "monarch_init": "monarch",
    "monarch_multiply": "monarch",
    "monarch_multiply_reference": "monarch",
    "monarch_to_dense": "monarch",
    # the hybrid network: config + presets, blocks, model, exact counts, fp16 emulation
    "ABflyBlock": "blocks",
    "DenseBlock": "blocks",
    "FBflyBlock": "blocks",
    "HybridConfig": "config",
    "get_preset": "config",
    "list_presets": "config",
    "LayerCount": "counts",
    "ModelCounts": "counts",
    "OpCount": "counts",
    "model_counts": "counts",
    "HybridTransformer": "model",
    "round_fp16": "precision",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'swallowtail.nn' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"swallowtail.nn.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
