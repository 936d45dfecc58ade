"""swallowtail.workload: the operator graph (what is computed) and its lowering from a network config."""

from swallowtail.workload.graph import Workload
from swallowtail.workload.ops import FFT, GEMM, OP_TYPES, Butterfly, Elementwise, LayerNorm, Op, Softmax

__all__ = ["FFT", "GEMM", "OP_TYPES", "Butterfly", "Elementwise", "LayerNorm", "Op", "Softmax", "Workload"]
