"""`swallowtail baseline ...`: run a network on one of the baseline machines, or list them.

    swallowtail baseline --target sanger --model fabnet-base --seq-len 512 [--batch 1] [--json]
    swallowtail baseline --target sanger -o same_peak_as=df-4x4-simd8 --model transformer -L 4096
    swallowtail baseline --target xavier-nx --model resnet-50 [--seq-len 224: the image side]
    swallowtail baseline list [--json]
    swallowtail baseline measure-kernels --out kernels.yaml [--device cuda] [-L 1024 -L 4096] [--dtype fp16]
    swallowtail baseline check-kernels kernels.yaml [--arch h100-sxm-max] [--json]

`--json` prints exactly `Result.to_dict()`; the table shows latency, energy, utilization, the energy and
traffic breakdowns and the ops that take longest with what bounds them. `-o KEY=VALUE` (repeatable) passes
an option to the backend's factory (values parsed as YAML scalars: numbers, true/false, strings).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from swallowtail.cli import limits
from swallowtail.cli._common import check_out_file, console, emit_json, err_console, print_result, user_errors
from swallowtail.cli.workload import SEQ_LEN_HELP
from swallowtail.errors import SpecError
from swallowtail.progress import progress as progress_bar

if TYPE_CHECKING:
    from swallowtail.experiments.kernel_check import KernelCheckReport

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
    """Fit the parameters named by the `role: fit` published points (by bisection, in file order; about a
    minute on two cores)."""
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


@app.command("measure-kernels")
@user_errors
def measure_kernels_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="The measurement file to write (YAML)."),
    model: str = typer.Option("fabnet-base", "--model", "-m", help="Network preset whose kernels are timed."),
    seq_len: list[int] = typer.Option(
        [], "--seq-len", "-L", help="Sequence length (repeatable; default 1024 and 4096)."
    ),
    dtype: list[str] = typer.Option([], "--dtype", help="fp16 and/or fp32 (repeatable; default both)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA if present), cuda, cuda:N or cpu."),
    reps: int = typer.Option(30, "--reps", min=1, max=10_000, help="Timed repetitions per case (median)."),
    stream_numel: int = typer.Option(
        2**26,
        "--stream-numel",
        min=1,
        max=2**32,
        help="Elements of the stream case (default 2^26: beyond any L2).",
    ),
    compile_: bool | None = typer.Option(
        None,
        "--compile/--no-compile",
        help="Also time the launch chain through torch.compile (default: on CUDA).",
    ),
    force: bool = typer.Option(False, "--force", help=limits.FORCE_HELP),
) -> None:
    """Time the kernels of MODEL on a real device (a CUDA GPU; the CPU only exercises the code) and write them
    to a measurement file for `check-kernels`."""
    from swallowtail.experiments.kernels import (
        DEFAULT_SEQ_LENS,
        DTYPES,
        measure_kernels,
        measurement_plan,
        resolve_device,
        write_measurements,
    )
    from swallowtail.nn.config import list_presets

    check_out_file(out, "--out")
    if model not in list_presets():  # a named workload (bert-large, resnet-50, llama-*) has no kernel cases
        raise SpecError("--model", model, f"one of the network presets {list(list_presets())}")
    seq_lens, dtypes = tuple(seq_len) or DEFAULT_SEQ_LENS, tuple(dtype) or DTYPES
    plan = measurement_plan(model, seq_lens, dtypes, stream_numel)
    if (
        resolve_device(device).type == "cpu"
    ):  # the host's memory holds every tensor: sized before anything runs
        sizes = (sum(o.input_elems + o.weight_elems + o.output_elems for o in c.ops) for c, _ in plan)
        limits.check("measure-kernels", limits.kernel_measurement(sizes, 0), force)
    total = len(plan)
    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.description}"))
    with progress_bar(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("measuring", total=total)

        def show(desc: str) -> None:
            bar.update(task, description=desc, advance=1)

        m = measure_kernels(
            model, seq_lens, dtypes, device, reps, stream_numel=stream_numel, compile_=compile_, progress=show
        )
    write_measurements(m, out)
    failed = sum(r.error is not None for r in m.kernels)
    console.print(
        f"wrote {out}: {len(m.kernels)} timings on {m.device} ({m.device_type}), {failed} could not run",
        highlight=False,
    )


@app.command("check-kernels")
@user_errors
def check_kernels_cmd(
    measurements: Path = typer.Argument(..., help="A file written by `measure-kernels`."),
    arch: str | None = typer.Option(
        None,
        "--arch",
        "-a",
        help="The measured GPU's preset, e.g. h100-sxm-max (default: found by name and SMs).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON: the fitted values and every check."),
) -> None:
    """The GPU model's kernel assumptions against measured kernels: three values fitted on the measurement,
    every other case predicted (model vs measured, error, FLOP rate relative to the dense GEMM)."""
    from swallowtail.experiments.kernel_check import TARGET_ERROR, check_kernels
    from swallowtail.experiments.kernels import load_measurements

    report = check_kernels(load_measurements(measurements), arch)
    if json_out:
        emit_json(report.to_dict())
        return
    console.print(_fitted_table(report))
    console.print(_checks_table(report))
    console.print(
        f"{report.within_target()} of {len(report.predicted())} predicted cases within {TARGET_ERROR:.0%}",
        highlight=False,
    )


def _fitted_table(report: KernelCheckReport) -> Table:
    """The three values fitted on a kernel measurement, beside what the stacks assume."""
    fits = Table(title=f"fitted on the measurement ({report.device} as {report.arch})")
    for col in ("dtype", "parameter", "measured", "stack assumes", "case", "note"):
        fits.add_column(col, overflow="fold")
    for f in report.fitted:
        fits.add_row(f.dtype, f.parameter, _g(f.value), _g(f.shipped), f.case, f.note)
    return fits


def _checks_table(report: KernelCheckReport) -> Table:
    """Every timed case: measured vs the model, its role, the model's bound, its FLOP rate vs the GEMM."""
    table = Table(title=f"model ({', '.join(report.stacks.values())}) vs measured")
    for col in (
        "case",
        "L",
        "dtype",
        "measured",
        "model",
        "error",
        "role",
        "model kernels x bound",
        "vs GEMM (meas / model)",
    ):
        table.add_column(
            col, overflow="fold", justify="right" if col in ("L", "measured", "model", "error") else "left"
        )
    for c in report.checks:
        ratio = f"{_g(c.measured_vs_gemm, 3)} / {_g(c.model_vs_gemm, 3)}"
        err = "" if c.error is None else f"{c.error:+.1%}"
        table.add_row(
            c.case,
            str(c.seq_len),
            c.dtype,
            _us(c.measured_s),
            _us(c.model_s),
            err,
            c.role,
            f"{c.model_kernels} x {c.bound}" if c.bound else c.note,
            ratio,
        )
    return table


def _g(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def _us(s: float | None) -> str:
    return "-" if s is None else f"{s * 1e6:.4g} us"
