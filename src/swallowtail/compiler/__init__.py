"""swallowtail.compiler: the multilayer (and single-layer) dataflow compiler for butterfly / FFT kernels.

    program = compile(Butterfly("ffn", n=4096, rows=256), "df-4x4-simd8", dataflow="multilayer")
    print(program.summary()); print(program.dump(pe=(0, 0), limit=40))

`compile(op, arch, dataflow, **knobs)` chooses (or validates) the block size B, the stages per block k,
the placement of block positions on PEs, and the rows per streaming batch (`plan`), then emits per-PE
instruction templates, the iteration schedule, the DMA transfers and the SPM layout (`build`, `program`).
See `plan` for the mapping and its picture, `kernels` for what each stage computes.
"""

from __future__ import annotations

from swallowtail.arch.specs import ArchSpec, DataflowArch, load_arch
from swallowtail.compiler.build import build_program, coefficient_table
from swallowtail.compiler.geometry import PassPlan
from swallowtail.compiler.kernels import KernelSpec, kernel_spec
from swallowtail.compiler.model import DEFAULT_MODEL, MachineModel
from swallowtail.compiler.plan import DATAFLOWS, PLACEMENTS, Plan, choose_plan
from swallowtail.compiler.program import DMAOp, Program, Schedule, SpmLayout
from swallowtail.compiler.template import PassTemplate, scatter_bits
from swallowtail.errors import SpecError
from swallowtail.workload.ops import Op

#: knob names `compile` accepts
KNOBS = ("block", "stages_per_block", "placement", "rows_per_batch", "buffers")


def dataflow_arch(arch: ArchSpec | str) -> DataflowArch:
    a = load_arch(arch)
    if not isinstance(a, DataflowArch):
        raise SpecError("arch", a.name, "a dataflow array (kind: dataflow)")
    return a


def compile(  # noqa: A001 - the natural name for a compiler's entry point
    op: Op,
    arch: ArchSpec | str,
    dataflow: str = "multilayer",
    model: MachineModel | None = None,
    **knobs: object,
) -> Program:
    """Compile a Butterfly / FFT op for a dataflow array.

    knobs (each None or absent = chosen automatically): block (positions per block, a power of two),
    stages_per_block (k), placement ("stride" | "local-first"), rows_per_batch, buffers (2 | 3).
    """
    unknown = sorted(set(knobs) - set(KNOBS))
    if unknown:
        raise SpecError("knob", unknown[0], f"one of {list(KNOBS)}")
    a = dataflow_arch(arch)
    m = model or DEFAULT_MODEL
    spec = kernel_spec(op)
    plan = choose_plan(spec, a, m, dataflow, **{k: v for k, v in knobs.items() if v is not None})  # type: ignore[arg-type]
    return build_program(spec, a, plan, m)


__all__ = [
    "DATAFLOWS",
    "DEFAULT_MODEL",
    "KNOBS",
    "PLACEMENTS",
    "DMAOp",
    "KernelSpec",
    "MachineModel",
    "PassPlan",
    "PassTemplate",
    "Plan",
    "Program",
    "Schedule",
    "SpmLayout",
    "coefficient_table",
    "compile",
    "dataflow_arch",
    "kernel_spec",
    "scatter_bits",
]
