"""swallowtail.nn: butterfly-sparse networks (radix-2 butterfly and Monarch products, ButterflyLinear,
Fourier token mixing) in plain PyTorch."""

from swallowtail.nn.butterfly import (
    bit_reversal_permutation,
    butterfly_multiply,
    butterfly_multiply_reference,
    butterfly_to_dense,
    clear_workspace,
    fft_butterfly,
    sylvester_hadamard,
    twiddle_init,
)
from swallowtail.nn.fourier import FourierMixing
from swallowtail.nn.linear import ButterflyLinear, LinearCounts, linear_counts
from swallowtail.nn.monarch import (
    monarch_block_sizes,
    monarch_init,
    monarch_multiply,
    monarch_multiply_reference,
    monarch_to_dense,
)

__all__ = [
    "ButterflyLinear",
    "FourierMixing",
    "LinearCounts",
    "bit_reversal_permutation",
    "butterfly_multiply",
    "butterfly_multiply_reference",
    "butterfly_to_dense",
    "clear_workspace",
    "fft_butterfly",
    "linear_counts",
    "monarch_block_sizes",
    "monarch_init",
    "monarch_multiply",
    "monarch_multiply_reference",
    "monarch_to_dense",
    "sylvester_hadamard",
    "twiddle_init",
]

# ---- the hybrid network: config + presets, blocks, model, exact counts, fp16 emulation ------------------
from swallowtail.nn.blocks import ABflyBlock, DenseBlock, FBflyBlock  # noqa: E402
from swallowtail.nn.config import HybridConfig, get_preset, list_presets  # noqa: E402
from swallowtail.nn.counts import LayerCount, ModelCounts, OpCount, model_counts  # noqa: E402
from swallowtail.nn.model import HybridTransformer  # noqa: E402
from swallowtail.nn.precision import round_fp16  # noqa: E402

__all__ += [
    "ABflyBlock",
    "DenseBlock",
    "FBflyBlock",
    "HybridConfig",
    "HybridTransformer",
    "LayerCount",
    "ModelCounts",
    "OpCount",
    "get_preset",
    "list_presets",
    "model_counts",
    "round_fp16",
]
