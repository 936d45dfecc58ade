"""Where a dense op's tensors sit: `dense_layout` (records, chunking, passes) for any dense op, the knob
checks, and the PE grid the dense mappings use (the whole array)."""

from __future__ import annotations

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.dense.gemm import gemm_layout
from swallowtail.compiler.dense.rowwise import rowwise_layout
from swallowtail.compiler.dense.spec import (
    GEMM_COLS_PER_PE,
    GEMM_K_CHUNK,
    ROW_CHUNK,
    DenseLayout,
    DenseSpec,
    dense_spec,
)
from swallowtail.compiler.isa import pe_coords
from swallowtail.compiler.model import DEFAULT_MODEL, MachineModel
from swallowtail.errors import SpecError, check_positive_int
from swallowtail.workload.ops import Op


def check_knobs(
    units_per_batch: int | None, row_chunk: int, gemm_cols_per_pe: int, gemm_k_chunk: int
) -> None:
    """SpecError naming the first dense knob that is not a positive integer."""
    for name, v in (
        ("row_chunk", row_chunk),
        ("gemm_cols_per_pe", gemm_cols_per_pe),
        ("gemm_k_chunk", gemm_k_chunk),
    ):
        check_positive_int(name, v)
    if units_per_batch is not None:
        check_positive_int("units_per_batch", units_per_batch)


def pe_grid(arch: DataflowArch) -> list[tuple[int, int]]:
    """Every PE of the array, in PE-index order; SpecError unless rows and columns are powers of two."""
    xb, yb = arch.array.cols.bit_length() - 1, arch.array.rows.bit_length() - 1
    coords = pe_coords(xb, yb)
    if len(coords) != arch.n_pes:
        raise SpecError("arch.array", (arch.array.rows, arch.array.cols), "power-of-two rows and columns")
    return coords


def dense_layout(
    op: Op | DenseSpec,
    arch: DataflowArch,
    dataflow: str = "multilayer",
    model: MachineModel = DEFAULT_MODEL,
    units_per_batch: int | None = None,
    row_chunk: int = ROW_CHUNK,
    gemm_cols_per_pe: int = GEMM_COLS_PER_PE,
    gemm_k_chunk: int = GEMM_K_CHUNK,
) -> DenseLayout:
    """The layout `compile_dense` (same arguments) uses -- records, chunking, and the passes
    (`len(layout.pass_index) == len(program.templates)` unless the weights are tiled) -- without building
    templates or checking that the SPM holds the coefficient tables and buffers (so a caller can learn the
    pass count of an op whose Program does not fit). Row-wise reductions check the RF: the chunk width is
    chosen by what it holds."""
    spec = op if isinstance(op, DenseSpec) else dense_spec(op)
    check_knobs(units_per_batch, row_chunk, gemm_cols_per_pe, gemm_k_chunk)
    coords = pe_grid(arch)
    if spec.kind == "gemm":
        return gemm_layout(spec, arch, len(coords), gemm_cols_per_pe, gemm_k_chunk)
    return rowwise_layout(spec, arch, len(coords), row_chunk)


__all__ = ["check_knobs", "dense_layout", "pe_grid"]
