"""Run the paper's evaluation suite, collect every Result, and compute the comparisons of its abstract.

    from swallowtail.experiments import get_suite, run_suite, write_outputs
    run = run_suite(get_suite(quick=True))      # every (workload, target) -> Result, in a fixed order
    run.comparisons.headline                     # our figure beside each of the abstract's numbers
    write_outputs(run, "reproduce-out")          # results.json, summary.md, report.html, figures

`run_suite` chains the three steps, each in its own module (imports point one way:
records <- runner <- facts, explain <- compare <- reproduce):

1. `runner.run_pairs`: resolve the suite's targets against the backend registry (the array's roofline
   floor stands in, labelled, for a missing simulator) and run every (workload, target) pair, in process or
   over a process pool, memoised by (backend, options, workload);
2. `facts.collect_facts`: the numbers the explanation rests on (peaks, power, kernel parameters, roofs);
3. `compare.compare`: per workload, every target against the array (multilayer), the summaries the
   paper's abstract reports (max / geometric mean), the headline beside the abstract's figures and the
   sentences that say where ours differ and why.

`answer_inverse` then adds the inverse question: the machines around the array, against every GPU
denominator, under which the abstract's figures would hold together (`inverse`); `answer_decoder` the
decoder study: Llama-shaped prefill with structured MLPs on the array and the GPU stacks (`decoder`).

Nothing here is tuned to the paper's numbers: `paper.PAPER` holds them only to print them beside ours.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path

from swallowtail.experiments.compare import compare
from swallowtail.experiments.decoder import run_decoder
from swallowtail.experiments.facts import collect_facts
from swallowtail.experiments.inverse import run_inverse
from swallowtail.experiments.records import ReproduceRun
from swallowtail.experiments.runner import ProgressFn, RunCache, run_pairs
from swallowtail.experiments.suite import Suite


def run_suite(
    suite: Suite,
    jobs: int = 1,
    progress: ProgressFn | None = None,
    cache: RunCache | None = None,
    available: Iterable[str] | None = None,
) -> ReproduceRun:
    """Every workload of `suite` on every target (suite order: workloads outer, targets inner), the facts
    and the comparisons.

    jobs > 1: a process pool (spawn) across workloads -- worth it when a target is slow (the array
    simulator); the baselines alone run faster in process (the pool's start-up and imports cost more).
    `cache` memoises Results by (backend, options, workload) within the run (in process only).
    `available`: the backend names to resolve the targets against (default: the registry's).
    """
    run = run_pairs(suite, jobs=jobs, progress=progress, cache=cache, available=available)
    facts = collect_facts(run)
    return ReproduceRun.of(run, facts, compare(run, facts))


def answer_inverse(
    run: ReproduceRun,
    store: str | Path,
    quick: bool,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> ReproduceRun:
    """`run` with the inverse question answered (`swallowtail.experiments.inverse`): its sweep stored in
    `store` (a rerun resumes it), a coarse grid when `quick`, `jobs` worker processes."""
    return dataclasses.replace(
        run, inverse=run_inverse(run.suite, store, quick, workers=jobs, progress=progress)
    )


def answer_decoder(
    run: ReproduceRun, quick: bool, progress: Callable[[int, int], None] | None = None
) -> ReproduceRun:
    """`run` with the decoder study (`swallowtail.experiments.decoder`): Llama-shaped prefill with dense,
    Monarch and block-sparse MLPs on the array and the GPU stacks (the small decoder when `quick`)."""
    return dataclasses.replace(run, decoder=run_decoder(quick, progress=progress))


__all__ = ["answer_decoder", "answer_inverse", "run_suite"]
