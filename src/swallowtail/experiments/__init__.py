"""swallowtail.experiments: the paper's evaluation as one command, and its report.

- `suite`: what runs -- the workloads (LRA tasks, FABNet networks over sequence lengths) and the targets
  (the array with both dataflows, Xavier NX, FABNet, Sanger / SpAtten at the same peak, a systolic array).
- `reproduce`: runs a suite through the backend registry, collects every Result, computes the comparisons.
- `report`: figures, summary.md and a self-contained report.html.

    from swallowtail.experiments import get_suite, run_suite, write_outputs
    write_outputs(run_suite(get_suite(quick=True)), "reproduce-out")
"""

from swallowtail.experiments.reproduce import (
    PAPER,
    ReproduceRun,
    load_results,
    run_suite,
    write_outputs,
)
from swallowtail.experiments.suite import Suite, Target, WorkloadSpec, full_suite, get_suite, quick_suite

__all__ = [
    "PAPER",
    "ReproduceRun",
    "Suite",
    "Target",
    "WorkloadSpec",
    "full_suite",
    "get_suite",
    "load_results",
    "quick_suite",
    "run_suite",
    "write_outputs",
]
