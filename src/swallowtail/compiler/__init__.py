"""swallowtail.compiler: one compiler for every op kind of the workload spec on a dataflow array.

    program = compile(Butterfly("ffn", n=4096, rows=256), "df-4x4-simd8", dataflow="multilayer")
    program = compile(GEMM("proj", m=512, k=1024, n=4096, b_is_weight=True), "df-4x4-simd8")  # weight-tiled
    print(program.kind, program.summary()); print(program.dump(pe=(0, 0), limit=40))
    out = program.run(values=True)  # timing + values, verified against PyTorch

`compile(op, arch, dataflow, **knobs)` dispatches on the op:

- Butterfly, FFT (`swallowtail.compiler.butterfly`): chooses (or validates) the block size B, the stages per
  block k, the placement of block positions on PEs and the rows per streaming batch (`butterfly.plan`), then
  emits per-PE instruction templates (`butterfly.template`, `butterfly.kernels`) and the Program
  (`butterfly.build`). Knobs: `butterfly.KNOBS`.
- GEMM (and Conv2d, a GEMM subclass: compiled as its implicit GEMM), Softmax, LayerNorm, Elementwise
  (`swallowtail.compiler.dense`): fixed-policy mappings; a GEMM whose weights exceed the SPM is tiled into
  weight tiles that stream through two SPM regions. Knobs: `dense.KNOBS`.
- BlockSparseMatmul and Monarch (`swallowtail.workload.structured`): the GEMM mapping over block-sparse
  stages (`dense.spec.GemmStructure`): only the nonzero (k-chunk, column tile) passes run; a Monarch product
  is two stages whose intermediate stays in each row unit's SPM record, the permutations folded into the
  second stage's load and store addresses.

Every kind goes through the same emitter for its SPM layout, coefficient prefetch and DMA (`emit`), and yields
a `Program` (`program`) that knows its kind (`Program.kind`), summarises, dumps and runs itself, and records
the arch it was compiled for (`compile_arch`: elsewhere the simulator replays its arbitration order).
The ISA is `isa`; the analytic dense cost models (no program: fused epilogues, the radix-3 FFT pass) are
`dense_cost`.
"""

from __future__ import annotations

from swallowtail.arch.specs import ArchSpec, DataflowArch, load_arch, wrong_kind
from swallowtail.compiler import butterfly, dense
from swallowtail.compiler.butterfly import (
    PLACEMENTS,
    KernelSpec,
    PassTemplate,
    Plan,
    build_program,
    choose_plan,
    coefficient_table,
    kernel_spec,
    scatter_bits,
)
from swallowtail.compiler.dense import DenseSpec, compile_dense, dense_spec
from swallowtail.compiler.geometry import PassPlan
from swallowtail.compiler.model import DEFAULT_MODEL, MachineModel
from swallowtail.compiler.plan import DATAFLOWS, MappingPlan
from swallowtail.compiler.program import OP_KINDS, DMAOp, Program, Schedule, SpmLayout
from swallowtail.errors import SpecError
from swallowtail.workload.ops import FFT, GEMM, Butterfly, Elementwise, LayerNorm, Op, Softmax
from swallowtail.workload.structured import BlockSparseMatmul, Monarch

#: knob names `compile` accepts, per op family (each None or absent = chosen automatically / the policy)
KNOBS_BY_FAMILY: dict[str, tuple[str, ...]] = {"butterfly": butterfly.KNOBS, "dense": dense.KNOBS}
#: every knob name `compile` accepts
KNOBS = tuple(k for ks in KNOBS_BY_FAMILY.values() for k in ks)
#: the op types `compile` maps (Conv2d is a GEMM)
COMPILABLE = (Butterfly, FFT, GEMM, BlockSparseMatmul, Monarch, Softmax, LayerNorm, Elementwise)


def dataflow_arch(arch: ArchSpec | str) -> DataflowArch:
    a = load_arch(arch)
    if not isinstance(a, DataflowArch):
        raise wrong_kind(arch, a, "a dataflow array (kind: dataflow)")
    return a


def compile(  # noqa: A001 - the natural name for a compiler's entry point
    op: Op,
    arch: ArchSpec | str,
    dataflow: str = "multilayer",
    model: MachineModel | None = None,
    **knobs: object,
) -> Program:
    """Compile any op of the workload spec for a dataflow array.

    Butterfly / FFT knobs (each None or absent = chosen automatically): block (positions per block, a power of
    two), stages_per_block (k), placement ("stride" | "local-first"), rows_per_batch, buffers (2 | 3).
    Dense knobs (GEMM, Softmax, LayerNorm, Elementwise; None = policy): units_per_batch (row units per
    streaming batch), row_chunk (row-wise column chunk, vectors), gemm_cols_per_pe, gemm_k_chunk."""
    unknown = sorted(set(knobs) - set(KNOBS))
    if unknown:
        raise SpecError("knob", unknown[0], f"one of {list(KNOBS)}")
    if not isinstance(op, COMPILABLE):
        raise SpecError(
            "op", type(op).__name__, f"one of {[t.__name__ for t in COMPILABLE]} (Conv2d is a GEMM)"
        )
    family = "butterfly" if isinstance(op, Butterfly | FFT) else "dense"
    given = {k: v for k, v in knobs.items() if v is not None}
    wrong = sorted(set(given) - set(KNOBS_BY_FAMILY[family]))
    if wrong:
        raise SpecError(
            "knob", wrong[0], f"one of {list(KNOBS_BY_FAMILY[family])} for a {type(op).__name__} op"
        )
    a = dataflow_arch(arch)
    m = model or DEFAULT_MODEL
    if family == "butterfly":
        spec = kernel_spec(op)
        plan = choose_plan(spec, a, m, dataflow, **given)  # type: ignore[arg-type]
        return build_program(spec, a, plan, m)
    if dataflow not in DATAFLOWS:
        raise SpecError("dataflow", dataflow, f"one of {list(DATAFLOWS)}")
    return compile_dense(op, a, dataflow, m, tile_weights=True, **given)  # type: ignore[arg-type]


__all__ = [
    "COMPILABLE",
    "DATAFLOWS",
    "DEFAULT_MODEL",
    "KNOBS",
    "KNOBS_BY_FAMILY",
    "OP_KINDS",
    "PLACEMENTS",
    "DMAOp",
    "DenseSpec",
    "KernelSpec",
    "MachineModel",
    "MappingPlan",
    "PassPlan",
    "PassTemplate",
    "Plan",
    "Program",
    "Schedule",
    "SpmLayout",
    "coefficient_table",
    "compile",
    "compile_dense",
    "dataflow_arch",
    "dense_spec",
    "kernel_spec",
    "scatter_bits",
]
