"""Old import path (kept for callers outside the compiler package, to be removed): the dense compiler is now
the package `swallowtail.compiler.dense`; `swallowtail.compiler.compile` compiles every op kind."""

from __future__ import annotations

from swallowtail.compiler.dense import (
    DenseLayout,
    DensePass,
    DensePlan,
    DenseSpec,
    DenseTemplate,
    compile_dense,
    default_units_per_batch,
    dense_coefficients,
    dense_layout,
    dense_place_inputs,
    dense_random_data,
    dense_read_outputs,
    dense_spec,
)
from swallowtail.compiler.program import Program


def is_dense_program(program: Program) -> bool:
    """A program of a dense op (GEMM, softmax, LayerNorm, elementwise)."""
    return "dense_layout" in program.meta


__all__ = [
    "DenseLayout",
    "DensePass",
    "DensePlan",
    "DenseSpec",
    "DenseTemplate",
    "compile_dense",
    "default_units_per_batch",
    "dense_coefficients",
    "dense_layout",
    "dense_place_inputs",
    "dense_random_data",
    "dense_read_outputs",
    "dense_spec",
    "is_dense_program",
]
