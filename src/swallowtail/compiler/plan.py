"""What every mapping plan answers, whatever the op kind: the decisions the simulator reads (passes, buffers,
batches, register budget) and the text a Program shows (`describe`, `note`).

The plans themselves live with their compilers: `swallowtail.compiler.butterfly.plan.Plan` (block size, stages
per pass, placement, streaming batches, chosen by an estimate over candidates) and
`swallowtail.compiler.dense.spec.DensePlan` (fixed policy: row units, k-chunks / column tiles or column
chunks, weight tiles).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from swallowtail.compiler.program import Program

#: the dataflows every op kind compiles for: "multilayer" (the paper's: several butterfly stages folded into
#: one closed block between SPM round trips) | "single-layer" (the baseline: one stage per round trip). A
#: dense op maps the same way under both (it has no stages to fold); the plan records which was asked for
DATAFLOWS = ("multilayer", "single-layer")


class PassInfo(Protocol):
    """One pass of a plan, as the simulator and the summary see it."""

    @property
    def index(self) -> int: ...

    @property
    def n_instances(self) -> int: ...

    @property
    def cross_stages(self) -> int: ...  # > 0: the pass uses the NoC (the engine's fast-forward looks at it)

    @property
    def k(self) -> int: ...

    def describe(self) -> str: ...


class MappingPlan(Protocol):
    """Every mapping decision of one op on one array that the Program, the simulator and the summary read."""

    @property
    def dataflow(self) -> str: ...

    @property
    def passes(self) -> tuple[PassInfo, ...]: ...

    @property
    def rows_per_batch(self) -> int: ...  # the largest streaming batch (rows)

    @property
    def buffers(self) -> int: ...  # SPM buffers the batches rotate through

    @property
    def batches(self) -> tuple[tuple[int, int], ...]: ...

    @property
    def coef_vectors(self) -> tuple[int, ...]: ...  # per pass: coefficient vectors per PE per block instance

    @property
    def data_regs(self) -> tuple[int, ...]: ...  # per pass: vector registers one iteration (tag) needs

    @property
    def coef_set_regs(self) -> int: ...  # vector registers of one coefficient set

    @property
    def coef_sets(self) -> int: ...  # coefficient sets in the RF (2: double-buffered; more: resident)

    @property
    def tag_slots(self) -> tuple[int, ...]: ...  # per pass: iterations in flight per PE

    @property
    def reasons(self) -> tuple[str, ...]: ...

    @property
    def user_knobs(self) -> tuple[str, ...]: ...

    # the simulator's notes still read these butterfly terms (`swallowtail.sim.run`); dense plans give the
    # nearest meaning (block = rows of a row unit, positions_per_pe = columns / vectors a PE holds)
    @property
    def block(self) -> int: ...

    @property
    def positions_per_pe(self) -> int: ...

    @property
    def placement(self) -> str: ...

    def describe(self, program: Program) -> list[str]:
        """The summary's mapping lines (indented two spaces), after the Program's header."""
        ...

    def note(self, program: Program) -> str:
        """One line: the op, the dataflow and the mapping (a Result's first note)."""
        ...
