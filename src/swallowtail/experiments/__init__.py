"""swallowtail.experiments: the paper's evaluation as one command, and its report.

- `suite`: what runs -- the workloads (LRA tasks, FABNet networks over sequence lengths) and the targets
  (the array with both dataflows, Xavier NX, FABNet, Sanger / SpAtten at the same peak, a systolic array).
- `paper`: the figures of the paper's abstract (printed beside ours, never used to compute anything).
- `records`: the typed records that flow from the runner to the report (`ReproduceRun` is results.json).
- `runner`: resolves the suite's targets and runs every (workload, target) pair (process pool, cache).
- `facts`, `explain`, `compare`: the numbers the explanation rests on, the "why" sentences, the comparisons.
- `reproduce`: `run_suite` = run + facts + compare; `answer_inverse` adds the inverse question (`inverse`:
  which machine, against which GPU denominator, makes the abstract's figures hold together);
  `answer_decoder` the decoder study (`decoder`: Llama-shaped prefill with dense / Monarch / block-sparse
  MLPs on the array and the GPU stacks).
- `report`: figures, summary.md and a self-contained report.html; `outputs`: writes them (atomically) with
  results.json, and reads results.json back.

Imports point one way: records <- runner <- facts, explain <- compare <- reproduce; report <- outputs.

    from swallowtail.experiments import get_suite, run_suite, write_outputs
    write_outputs(run_suite(get_suite(quick=True)), "reproduce-out")
"""

from swallowtail.experiments.outputs import load_results, write_outputs
from swallowtail.experiments.paper import PAPER
from swallowtail.experiments.records import ReproduceRun
from swallowtail.experiments.reproduce import answer_decoder, answer_inverse, run_suite
from swallowtail.experiments.suite import Suite, Target, WorkloadSpec, full_suite, get_suite, quick_suite

__all__ = [
    "PAPER",
    "ReproduceRun",
    "answer_decoder",
    "answer_inverse",
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
