"""What a simulation measures: the stall-cause names, the timing engine's `TimingStats` and one simulation's
`Stats`. A leaf of `swallowtail.sim`: the greedy engine (`swallowtail.sim.timing`), the static-order replay
(`swallowtail.sim.replay`) and the simulator's front end (`swallowtail.sim`) import it; it imports none of
them.

Stall causes: every cycle a PE's compute pipeline does not issue is charged to the reason its next compute
instruction could not issue earlier (the rules: `swallowtail.sim.timing`). The compiled engine
(`swallowtail.sim.engine`) keeps its own copies of the indices (numba freezes them into its cached machine
code); a test checks they agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from swallowtail.compiler.isa import COMPUTE_OPS
from swallowtail.compiler.program import Program
from swallowtail.sim.events import EventGraph

# stall causes (index into the stall counters)
C_OPERAND, C_NOC, C_SPM, C_DMA, C_TAG, C_RFPORT = 0, 1, 2, 3, 4, 5
CAUSES = ("operand", "noc", "spm", "dma", "tag_window", "rf_port")
#: cycles after a PE's last compute instruction (the last stores and the DMA of the results)
DRAIN = "drain"


@dataclass(frozen=True)
class KernelTrace:
    """What a traced simulation records for its timeline (`swallowtail.sim.trace` draws it): one row per
    issued instruction or stall, (PE index, activity kind, cycle), the run's cycles and the PEs' mesh
    coordinates."""

    events: np.ndarray  # (N, 3) int64: PE index, kind (index into sim.trace.KINDS), cycle
    cycles: int
    pes: list[tuple[int, int]]


@dataclass
class TimingStats:
    """What the timing engine measured."""

    cycles: int
    stalls: dict[str, int]  # PE-cycles without a compute issue, by cause (summed over active PEs)
    compute_issues: int  # compute vector instructions issued (all PEs)
    pe_last_compute: list[int]
    dma_busy_cycles: int
    exact_iterations: int
    skipped_iterations: int
    exact_instructions: int
    skips: list[tuple[int, int, int, int]] = field(default_factory=list)  # (at iteration, period, copies, T)
    wall_s: float = 0.0
    dma_done: list[int] = field(default_factory=list)
    trace: KernelTrace | None = None
    # per batch simulated exactly to its end: the latest completion of any iteration of it or an earlier batch
    batch_end: dict[int, int] = field(default_factory=dict)
    replay_sweeps: int = 0  # > 0: a static-order replay (swallowtail.sim.replay): event evaluations
    arbitration: str = "greedy"  # "greedy" (the compile arch) | "static order of <compile arch>" | why greedy
    graph: EventGraph | None = None  # the recorded event graph (record=True)


@dataclass
class Stats:
    """What one simulation measured and counted."""

    cycles: int
    latency_s: float
    utilization: float
    lane_ops: int  # useful compute lane-instructions (== the kernel's exact count)
    stalls: dict[str, int]  # PE-cycles without a compute issue, by cause
    traffic_bytes: dict[str, int]  # dram / spm / noc (byte-hops) / rf
    actions: dict[str, int]  # action counts for swallowtail.energy
    timing: TimingStats
    sim_wall_s: float = 0.0
    cycles_per_s: float = 0.0  # simulated cycles per wall-clock second (timing engine)
    energy_j: float = 0.0
    energy_breakdown_j: dict[str, float] = field(default_factory=dict)


def compute_issues(program: Program) -> int:
    """Compute vector instructions `program` issues, summed over its PEs and iterations."""
    per_pass = np.bincount(program.schedule.pass_, minlength=len(program.templates))
    n_pe = len(program.pe_coords)
    return sum(
        int(np.isin(t.op[0], COMPUTE_OPS).sum()) * n_pe * int(c)
        for t, c in zip(program.templates, per_pass, strict=True)
    )
