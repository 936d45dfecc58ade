"""`swallowtail reproduce`: the paper's evaluation as one command.

    swallowtail reproduce [--quick] [--out reproduce-out] [--jobs 1] [--no-inverse] [--no-decoder] [--json]

Runs every workload of the suite (`swallowtail.experiments.suite`) on every target, with a progress bar,
and writes into --out: results.json (every Result, the suite, the comparisons; written atomically),
summary.md, report.html (self-contained, figures embedded) and figures/*.png; then (unless --no-inverse)
the inverse question, a sweep of machines around the array stored in OUT/inverse.db (a rerun resumes it:
`swallowtail dse report OUT/inverse.db` draws its Pareto fronts), and (unless --no-decoder) the decoder
study (Llama prefill with dense / Monarch / block-sparse MLPs on the array and the GPU stacks). It ends with
the headline table beside the paper's abstract and the paths written. `--json` prints {headline, array,
paths, wall_s} on stdout instead (the progress bar goes to stderr).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from swallowtail.atomicio import check_writable
from swallowtail.cli import limits
from swallowtail.cli._common import console, emit_json, err_console, user_errors
from swallowtail.errors import SpecError
from swallowtail.progress import progress as progress_bar

if TYPE_CHECKING:
    from swallowtail.experiments.records import ReproduceRun

#: where the outputs go by default
DEFAULT_OUT = Path("reproduce-out")
#: the inverse sweep's store, in the output folder (a rerun resumes it)
INVERSE_STORE = "inverse.db"


def headline_table(run: ReproduceRun) -> Table:
    """The headline rows of a ReproduceRun as a rich table."""
    # the experiments (backends, matplotlib's report) load when the command runs, not at CLI start-up
    from swallowtail.experiments.report import headline_rows

    head, rows = headline_rows(run)
    table = Table(title="headline: ours beside the paper's abstract (arXiv 2411.00734)")
    for h in head:
        table.add_column(h, overflow="fold")
    for r in rows:
        table.add_row(*r)
    return table


@user_errors
def reproduce(
    quick: bool = typer.Option(
        False, "--quick", help="A subset (2 LRA configs + fabnet-base at 2 lengths), every target and figure."
    ),
    out: Path = typer.Option(
        DEFAULT_OUT, "--out", "-o", help="Folder for results.json, summary.md, report.html."
    ),
    jobs: int = typer.Option(
        1,
        "--jobs",
        "-j",
        help="Worker processes across workloads (1 = in process; >1 pays off with a slow simulator).",
    ),
    inverse: bool = typer.Option(
        True,
        "--inverse/--no-inverse",
        help="Also sweep machines around the array for the abstract's figures (stored in OUT/inverse.db).",
    ),
    decoder: bool = typer.Option(
        True,
        "--decoder/--no-decoder",
        help="Also run the decoder study: Llama prefill, dense / Monarch / block-sparse MLPs, array vs GPU.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the headline and the paths as JSON."),
    force: bool = typer.Option(False, "--force", help=limits.FORCE_HELP),
) -> None:
    """Run the paper's evaluation on the array and every baseline, write the report."""
    # loaded when the command runs, not at CLI start-up (see headline_table)
    from swallowtail.experiments import answer_decoder, answer_inverse, get_suite, run_suite, write_outputs
    from swallowtail.experiments.outputs import check_outputs

    check_outputs(out)  # every file it writes, before the work: no results.json without its report
    if inverse:
        check_writable(out / INVERSE_STORE, "--out")
    if jobs < 1:  # before the progress bar starts
        raise SpecError("--jobs", jobs, "1 (in process) or more (a process pool)")
    suite = get_suite(quick=quick)
    limits.check(
        "reproduce" + (" --quick" if quick else ""), limits.reproduce(suite, quick, jobs, inverse), force
    )
    t0 = time.perf_counter()
    shown = err_console if json_out else console
    columns = (
        TextColumn("[bold]reproduce[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with progress_bar(*columns, console=shown, transient=False) as bar:
        task = bar.add_task("starting", total=None)

        def progress(done: int, total: int, desc: str) -> None:
            bar.update(task, completed=done, total=total, description=desc)

        run = run_suite(suite, jobs=jobs, progress=progress)
        if inverse:
            out.mkdir(parents=True, exist_ok=True)
            bar.update(task, completed=0, total=None, description="inverse sweep")
            run = answer_inverse(
                run,
                out / INVERSE_STORE,
                quick,
                jobs=jobs,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        if decoder:
            bar.update(task, completed=0, total=None, description="decoder study")
            run = answer_decoder(
                run, quick, progress=lambda done, total: bar.update(task, completed=done, total=total)
            )
        bar.update(task, description="writing the report")
        paths = write_outputs(run, out)
        bar.update(task, description="done")
    wall = time.perf_counter() - t0
    if json_out:
        emit_json(
            {
                "suite": suite.name,
                "array": run.array,
                "notice": run.notice,
                "headline": [row.to_dict() for row in run.comparisons.headline],
                "paths": {k: str(v) for k, v in paths.items()},
                "wall_s": wall,
            }
        )
        return
    if run.notice:
        console.print(run.notice, style="bold yellow", highlight=False)
    for backend, status in run.array.items():
        style = "green" if status == "simulated" else "bold yellow"
        console.print(f"dataflow array ({backend}): {status}", style=style, highlight=False)
    console.print(headline_table(run))
    for line in run.comparisons.why:
        console.print(f"- {line}", highlight=False)
    for name, path in paths.items():
        console.print(f"wrote {name}: {path}", highlight=False)
    console.print(f"{len(run.runs)} runs in {wall:.1f} s", style="dim")
