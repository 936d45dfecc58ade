"""The dense-operator compiler: GEMM (tiled over weights of any size), softmax, LayerNorm and elementwise
ops as instruction-level Programs.

`spec` (what is computed, policy constants, the plan / template / layout types), `layout` (`dense_layout`),
`gemm` and `rowwise` (per-PE templates; weight tiling), `stream` (the per-PE instruction emitter), `build`
(`compile_dense`: the Program through `swallowtail.compiler.emit`), `data` (what the value engine needs).

The analytic per-PE cost models of the dense ops are `swallowtail.compiler.dense_cost`.
"""

from __future__ import annotations

from swallowtail.compiler.dense.build import compile_dense
from swallowtail.compiler.dense.data import (
    DenseData,
    dense_coefficients,
    dense_place_inputs,
    dense_random_data,
    dense_read_outputs,
    value_view,
)
from swallowtail.compiler.dense.gemm import WeightTiling
from swallowtail.compiler.dense.layout import dense_layout
from swallowtail.compiler.dense.spec import (
    ELEMENTWISE_KINDS,
    GEMM_COLS_PER_PE,
    GEMM_K_CHUNK,
    ROW_CHUNK,
    DenseLayout,
    DensePass,
    DensePlan,
    DenseSpec,
    DenseTemplate,
    default_units_per_batch,
    dense_spec,
)

#: the knobs `compile` accepts for a dense op (each None or absent = the policy default)
KNOBS = ("units_per_batch", "row_chunk", "gemm_cols_per_pe", "gemm_k_chunk")

__all__ = [
    "ELEMENTWISE_KINDS",
    "GEMM_COLS_PER_PE",
    "GEMM_K_CHUNK",
    "KNOBS",
    "ROW_CHUNK",
    "DenseLayout",
    "DensePass",
    "DensePlan",
    "DenseSpec",
    "DenseTemplate",
    "WeightTiling",
    "compile_dense",
    "default_units_per_batch",
    "DenseData",
    "dense_coefficients",
    "dense_layout",
    "dense_place_inputs",
    "dense_random_data",
    "dense_read_outputs",
    "dense_spec",
    "value_view",
]
