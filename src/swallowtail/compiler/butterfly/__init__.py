"""The butterfly / FFT compiler: multilayer (several stages folded into one closed block on the array) and
single-layer (one stage per SPM round trip) mappings.

`kernels` (what a stage computes: micro-programs), `plan` (choosing block, stages per pass, placement,
batches), `template` (one pass's per-PE instructions), `build` (the Program: schedule, SPM layout and DMA
through `swallowtail.compiler.emit`).
"""

from __future__ import annotations

from swallowtail.compiler.butterfly.build import build_program, coefficient_table
from swallowtail.compiler.butterfly.kernels import KernelSpec, kernel_spec
from swallowtail.compiler.butterfly.plan import DATAFLOWS, PLACEMENTS, Plan, batch_groups, choose_plan
from swallowtail.compiler.butterfly.template import PassTemplate, build_template, scatter_bits

#: the knobs `compile` accepts for a Butterfly / FFT op (each None or absent = chosen automatically)
KNOBS = ("block", "stages_per_block", "placement", "rows_per_batch", "buffers")

__all__ = [
    "DATAFLOWS",
    "KNOBS",
    "PLACEMENTS",
    "KernelSpec",
    "PassTemplate",
    "Plan",
    "batch_groups",
    "build_program",
    "build_template",
    "choose_plan",
    "coefficient_table",
    "kernel_spec",
    "scatter_bits",
]
