"""swallowtail.workload: the operator graph (what is computed) and its lowering from a network config.

`lower` (lower.py) builds a Workload from a HybridConfig or preset name; `named` registers networks that are
not HybridConfigs (`bert-large`, `resnet-50` of `cnn`, the `llama-*` decoders of `decoder`: prefill, and
decode with a KV cache as `llama-7b@decode<N>`), which `lower` and the CLI find by name too.
"""

from swallowtail.workload.graph import Workload, check_workload
from swallowtail.workload.ops import (
    BASE_OP_TYPES,
    FFT,
    GEMM,
    Butterfly,
    Conv2d,
    Elementwise,
    LayerNorm,
    Op,
    Softmax,
)
from swallowtail.workload.structured import BlockSparseMatmul, Monarch, block_layout, expand_structured

#: every op kind -> its type
OP_TYPES: dict[str, type[Op]] = {**BASE_OP_TYPES, "block_sparse": BlockSparseMatmul, "monarch": Monarch}

__all__ = [
    "FFT",
    "GEMM",
    "OP_TYPES",
    "BlockSparseMatmul",
    "Butterfly",
    "Conv2d",
    "Elementwise",
    "LayerNorm",
    "Monarch",
    "Op",
    "Softmax",
    "Workload",
    "check_workload",
    "block_layout",
    "expand_structured",
]
