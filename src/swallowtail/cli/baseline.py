"""`swallowtail baseline ...`: run a network on one of the baseline machines, or list them.

    swallowtail baseline --target sanger --model fabnet-base --seq-len 512 [--batch 1] [--json]
    swallowtail baseline --target sanger -o same_peak_as=df-4x4-simd8 --model transformer -L 4096
    swallowtail baseline --target xavier-nx --model resnet-50 [--seq-len 224: the image side]
    swallowtail baseline list [--json]

`--json` prints exactly `Result.to_dict()`; the table shows latency, energy, utilization, the energy and
traffic breakdowns and the ops that take longest with what bounds them. `-o KEY=VALUE` (repeatable) passes
an option to the backend's factory (values parsed as YAML scalars: numbers, true/false, strings).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict
from typing import Any

import typer
from rich.progress import TextColumn, TimeElapsedColumn
from rich.table import Table

from swallowtail.cli import limits
from swallowtail.cli._common import console, emit_json, err_console, print_result, user_errors
from swallowtail.cli.workload import SEQ_LEN_HELP
from swallowtail.errors import SpecError
from swallowtail.progress import progress as progress_bar

app = typer.Typer(
    help="Baseline machines (Xavier NX, FABNet, Sanger, SpAtten, systolic array): run a network, list them.",
    invoke_without_command=True,
)


def parse_options(items: list[str]) -> dict[str, Any]:
    """`["k=v", ...]` -> {k: v}, each value a YAML scalar (1e9 -> float, true -> bool, text -> str)."""
    from swallowtail.arch.specbase import parse_yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SpecError("--option", item, "KEY=VALUE, e.g. same_peak_as=df-4x4-simd8")
        if key in out:
            raise SpecError("--option", item, f"each key once ({key!r} is given twice)")
        value = parse_yaml(raw, source=f"--option {key}") if raw.strip() else ""
        if isinstance(value, dict | list) or value is None:  # None (~, null): silently the default
            raise SpecError("--option", item, "a scalar value (number, true/false or text; ~ / null is none)")
        out[key] = value
    return out


def run_baseline(
    target: str,
    model: str,
    seq_len: int | None,
    batch: int = 1,
    options: dict[str, Any] | None = None,
    force: bool = False,
):
    """The Result of `model` at `seq_len` x `batch` on backend `target` (with factory `options`); `seq_len`
    None: a named workload's default (a preset needs one). The baselines are analytic models: only a
    MODULE:FACTORY model's inputs are sized against the budget (`build_workload`)."""
    from swallowtail.backends import get_backend
    from swallowtail.cli.workload import build_workload

    workload = build_workload(model, seq_len, batch, force=force)
    return get_backend(target, **(options or {})).run(workload)


@app.callback(invoke_without_command=True)
@user_errors
def main(
    ctx: typer.Context,
    target: str | None = typer.Option(
        None, "--target", "-t", help="A baseline (see `swallowtail baseline list`)."
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Preset or named workload (`swallowtail workload list`) or a HybridConfig YAML.",
    ),
    seq_len: int | None = typer.Option(
        None, "--seq-len", "-L", help=SEQ_LEN_HELP + " Required for a preset; a named workload's default."
    ),
    batch: int = typer.Option(1, "--batch", "-b", help="Inputs per inference."),
    option: list[str] = typer.Option(
        [], "--option", "-o", help="Backend option KEY=VALUE (repeatable), e.g. same_peak_as=df-4x4-simd8."
    ),
    top: int = typer.Option(10, "--top", min=0, help="How many of the longest ops to show (0: none)."),
    json_out: bool = typer.Option(False, "--json", help="Print exactly Result.to_dict() as JSON."),
    force: bool = typer.Option(False, "--force", help=limits.FORCE_HELP),
) -> None:
    """Run MODEL at --seq-len on the baseline --target and show the Result."""
    if ctx.invoked_subcommand is not None:
        return
    if target is None and model is None and seq_len is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    missing = [n for n, v in (("--target", target), ("--model", model)) if v is None]
    if missing:
        err_console.print(
            f"[bold red]error:[/] {', '.join(missing)} missing: --target and --model are required to run a "
            "baseline, and --seq-len for a network preset (or use `swallowtail baseline list`)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=2)
    assert target is not None and model is not None
    result = run_baseline(target, model, seq_len, batch, parse_options(option), force)
    if json_out:
        emit_json(result.to_dict())
        return
    print_result(result, top_ops=top)


@app.command("list")
@user_errors
def list_cmd(json_out: bool = typer.Option(False, "--json", help="Print JSON: name -> description.")) -> None:
    """List the baseline targets with a one-line description each."""
    from swallowtail.backends import describe_backends
    from swallowtail.baselines import BACKENDS

    described = describe_backends()
    rows = {name: described.get(name, desc) for name, (_, desc) in BACKENDS.items()}
    if json_out:
        emit_json(rows)
        return
    table = Table(title="baseline targets")
    table.add_column("target", style="bold")
    table.add_column("description")
    for name, desc in rows.items():
        table.add_row(name, desc)
    console.print(table)


@app.command("validate")
@user_errors
def validate_cmd(
    json_out: bool = typer.Option(False, "--json", help="Print JSON: one row per published point."),
) -> None:
    """The Jetson GPU model against every published point: model vs published, error, fitted or predicted."""
    from swallowtail.baselines.validation import TARGET_ERROR, summarize, validate, validation_rows

    checks = validate()
    rows, summary = validation_rows(checks), summarize(checks)
    if json_out:
        emit_json({"target_error": TARGET_ERROR, "points": rows, "summary": asdict(summary)})
        return
    table = Table(title=f"Jetson GPU model vs published measurements (target: within {TARGET_ERROR:.0%})")
    for col in (
        "point",
        "board-mode",
        "stack",
        "workload",
        "statistic",
        "published",
        "model",
        "error",
        "role",
    ):
        table.add_column(
            col, justify="right" if col in ("published", "model", "error") else "left", overflow="fold"
        )
    for r in rows:
        table.add_row(
            r["id"], r["arch"], r["stack"], r["workload"], r["statistic"], r["published_text"],
            r["model_text"], f"{r['error']:+.1%}", r["role"],
        )  # fmt: skip
    console.print(table)
    console.print(
        f"{summary.within_target} of {summary.predicted} predicted points within {TARGET_ERROR:.0%} (never "
        f"used to fit; boards: {', '.join(summary.boards)}); "
        f"{summary.fitted} points fitted one parameter each",
        highlight=False,
    )
    for line in summary.miss_lines():  # what is known of the predicted points outside the target
        console.print(line, highlight=False, markup=False)


@app.command("fit")
@user_errors
def fit_cmd(
    write: bool = typer.Option(
        False, "--write", help="Write the fitted values into the stack, harness and GPU board files."
    ),
) -> None:
    """Fit the parameters named by the `role: fit` published points (by bisection, in file order; a few
    minutes)."""
    from swallowtail.baselines.validation import fit, load_points, write_fitted

    points = load_points()
    n_fit = sum(p.role == "fit" for p in points)
    with progress_bar(
        TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console, transient=True
    ) as bar:
        task = bar.add_task("fitting", total=None)
        steps = itertools.count()

        def show(sweep: int, point: str) -> None:
            desc = f"fit sweep {sweep + 1} over {n_fit} points, now {point}; one-dimensional fits done"
            bar.update(task, description=desc, completed=next(steps))

        fitted = fit(points, progress=show)
    table = Table(title="fitted parameters")
    for col in ("stack", "parameter", "value", "fitted on"):
        table.add_column(col)
    for f in fitted:
        table.add_row(f.stack, f.parameter, f"{f.value:g}", f.point)
    console.print(table)
    if write:
        for path in write_fitted(fitted):
            console.print(f"wrote {path}", highlight=False)
