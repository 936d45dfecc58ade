"""`swallowtail dse`: design-space sweeps of the dataflow array.

    swallowtail dse check SWEEP                      # validate a sweep spec, count its points; no work
    swallowtail dse run SWEEP [--store FILE] [--backend local|ray] [--workers N] [--address HOST:PORT]
    swallowtail dse report STORE [--out DIR] [--sweep NAME]
    swallowtail dse export STORE OUT [--format csv|jsonl]

SWEEP is a YAML file (`swallowtail.dse.spec`) or the name of a shipped sweep (`swallowtail dse check --list`).
`run` resumes by default: what the store holds is not run again.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from swallowtail.cli import limits
from swallowtail.cli._common import (
    check_out_dir,
    check_out_file,
    console,
    emit_json,
    err_console,
    print_error,
    user_errors,
)
from swallowtail.errors import SpecError
from swallowtail.progress import progress as progress_bar

app = typer.Typer(help="Design-space sweeps: run a sweep spec into a store, report its Pareto fronts.")

#: the report's folder unless --out says
DEFAULT_REPORT_DIR = Path("dse-report")


def _default_store(name: str) -> Path:
    return Path(f"dse-{name}.db")


def _open_store(path: Path, must_exist: bool = False):  # noqa: ANN202 -- Store, imported when run
    from swallowtail.dse.store import Store, is_sqlite_file

    if must_exist and not is_sqlite_file(path):
        raise SpecError("STORE", str(path), "an existing sweep store (written by `swallowtail dse run`)")
    return Store(path, field="STORE", new_ok=False, read_only=True) if must_exist else Store(path)


@app.command("check")
@user_errors
def check(
    sweep: str = typer.Argument("", help="A sweep YAML file or a shipped sweep's name."),
    list_: bool = typer.Option(False, "--list", help="List the shipped sweeps."),
    json_out: bool = typer.Option(False, "--json", help="Print the counts (--list: the sweeps) as JSON."),
) -> None:
    """Validate a sweep spec (every field, arch path, backend and workload) and count its points."""
    from swallowtail.dse import list_sweeps, resolve_sweep
    from swallowtail.dse.evaluate import backend_keys, workload_keys
    from swallowtail.dse.execute import check_sweep, sample_points

    if list_:
        if sweep:
            raise SpecError("SWEEP", sweep, "nothing with --list (which lists the shipped sweeps)")
        if json_out:
            emit_json(list_sweeps())
            return
        for name, desc in list_sweeps().items():
            console.print(f"[bold]{name}[/]: {desc}", highlight=False)
        return
    if not sweep:
        raise SpecError("SWEEP", sweep, "a sweep YAML file or a shipped sweep's name (see --list)")
    spec = resolve_sweep(sweep)
    check_sweep(spec)
    counts: dict[str, int | str] = {"name": spec.name, "method": spec.sampling.method}
    if spec.sampling.method in ("grid", "random"):
        points, bad = sample_points(spec)
        counts.update(points=len(points), refused=len({r.point_id for r in bad}))
    else:
        counts["points"] = spec.sampling.samples or 0
    counts["workloads"] = len(workload_keys(spec.workloads))
    counts["backends"] = len(backend_keys(spec.backend_axes))
    if json_out:
        emit_json(counts)
        return
    console.print(" ".join(f"{k}={v}" for k, v in counts.items()), highlight=False)


@app.command("run")
@user_errors
def run(
    sweep: str = typer.Argument(..., help="A sweep YAML file or a shipped sweep's name."),
    store: Path | None = typer.Option(None, "--store", help="SQLite results store (default: dse-<name>.db)."),
    backend: str = typer.Option("local", "--backend", help="local (a process pool) or ray."),
    workers: int = typer.Option(
        0, "--workers", "-w", help="Processes (local) or CPUs of a local Ray (0: every core of this machine)."
    ),
    address: str | None = typer.Option(
        None, "--address", help="An existing Ray cluster (with --backend ray)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the run's summary as JSON."),
    force: bool = typer.Option(False, "--force", help=limits.FORCE_HELP),
) -> None:
    """Run a sweep into its store; points already stored are skipped (resume)."""
    from swallowtail.dse import resolve_sweep
    from swallowtail.dse.execute import check_executor, check_sweep, run_sweep

    if workers < 0:
        raise SpecError("--workers", workers, "0 (every core) or a positive number of workers")
    spec = resolve_sweep(sweep)
    check_sweep(spec)  # before the store is created or anything starts
    n = workers or os.cpu_count() or 1
    check_executor(backend, n, address)
    limits.check(f"dse run {spec.name}", limits.sweep_spec(spec, n), force)  # before the store is made
    path = store or _default_store(spec.name)
    db = _open_store(path)
    shown = err_console if json_out else console
    columns = (
        TextColumn(f"[bold]dse {spec.name}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    try:
        with progress_bar(*columns, console=shown, transient=False) as bar:
            task = bar.add_task("rows", total=None)
            summary = run_sweep(
                spec,
                db,
                executor=backend,
                workers=n,
                address=address,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except KeyboardInterrupt:  # the rows of every finished task are stored: a rerun resumes from them
        print_error(f"interrupted: the rows written so far are in {path}; run the same command to resume")
        raise typer.Exit(code=130) from None
    finally:
        db.close()
    if json_out:
        emit_json({**summary.to_dict(), "store": str(path)})
        return
    console.print(
        f"{summary.points} points, {summary.rows_total} rows: {summary.rows_added} added, "
        f"{summary.rows_skipped} already stored, in {summary.elapsed_s:.1f} s ({summary.executor}, "
        f"{summary.workers} workers); rate cache {summary.cache_entries} entries; store {path}",
        highlight=False,
    )
    if summary.rows_invalid or summary.rows_infeasible:
        console.print(
            f"of the rows added: {summary.rows_invalid} invalid, {summary.rows_infeasible} infeasible"
            + (f"; first invalid: {summary.first_invalid_reason}" if summary.first_invalid_reason else ""),
            highlight=False,
            markup=False,
        )


@app.command("report")
@user_errors
def report(
    store: Path = typer.Argument(..., help="A store written by `swallowtail dse run`."),
    out: Path = typer.Option(DEFAULT_REPORT_DIR, "--out", "-o", help="Folder for index.html, summary.md."),
    sweep: str | None = typer.Option(None, "--sweep", help="Only the rows this sweep wrote."),
    json_out: bool = typer.Option(False, "--json", help="Print the report's records as JSON."),
) -> None:
    """Pareto fronts, sensitivity and the best point per workload, as HTML, Markdown and JSON."""
    from swallowtail.dse.report import build_report, overview_table, render_report

    check_out_dir(out)
    db = _open_store(store, must_exist=True)
    try:
        rep = build_report(db, sweep=sweep)
    finally:
        db.close()
    paths = render_report(rep, out)
    if json_out:
        emit_json({"report": rep.to_dict(), "paths": {k: str(v) for k, v in paths.items()}})
        return
    overview = overview_table(rep)
    table = Table(title=f"sweep store {store}: the best points")
    for h in overview.head:
        table.add_column(h, overflow="fold")
    for row in overview.rows:
        table.add_row(*(escape(c) for c in row))  # backend keys hold [options]: not rich markup
    console.print(table)
    for name, p in paths.items():
        console.print(f"wrote {name}: {p}", highlight=False)


@app.command("export")
@user_errors
def export(
    store: Path = typer.Argument(..., help="A store written by `swallowtail dse run`."),
    out: Path = typer.Argument(..., help="The file to write."),
    fmt: str = typer.Option("csv", "--format", help="csv (one column per param and metric) or jsonl."),
) -> None:
    """Every stored row as CSV or JSON lines (written atomically)."""
    from swallowtail.dse.store import EXPORT_FORMATS

    if fmt not in EXPORT_FORMATS:
        raise SpecError("--format", fmt, f"one of {list(EXPORT_FORMATS)}")
    check_out_file(out, "OUT")
    db = _open_store(store, must_exist=True)
    try:
        n = db.export(out, fmt)
    finally:
        db.close()
    console.print(f"wrote {n} rows to {out}", highlight=False)
