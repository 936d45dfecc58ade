"""`swallowtail kernel`: compile one butterfly / FFT kernel for a dataflow array and simulate it cycle by
cycle (optionally by value, verified against PyTorch)."""

from __future__ import annotations

from pathlib import Path

import typer

from swallowtail.cli._common import console, emit_json, err_console, si, user_errors
from swallowtail.errors import SpecError

OPS = ("butterfly", "fft")
#: instructions the timing engine simulates per second, roughly: above SLOW_SECONDS a spinner is shown
SPINNER_INSTRUCTIONS_PER_S = 400_000
SLOW_SECONDS = 2.0


@user_errors
def kernel(
    arch: str = typer.Option(
        "df-4x4-simd8", "--arch", "-a", help="Dataflow architecture preset or YAML file."
    ),
    op: str = typer.Option("butterfly", "--op", help="Kernel: butterfly | fft."),
    n: int = typer.Option(1024, "--n", "-n", help="Transform length (a power of two)."),
    rows: int = typer.Option(64, "--rows", "-r", help="Independent rows streamed through the kernel."),
    dataflow: str = typer.Option("multilayer", "--dataflow", "-d", help="multilayer | single-layer."),
    block: int | None = typer.Option(None, "--block", help="Positions per block B (default: chosen)."),
    stages_per_block: int | None = typer.Option(
        None, "--stages-per-block", "-k", help="Stages folded per block k (default: chosen)."
    ),
    placement: str | None = typer.Option(None, "--placement", help="stride | local-first (default: chosen)."),
    rows_per_batch: int | None = typer.Option(None, "--rows-per-batch", help="Rows per streaming batch."),
    complex_: bool = typer.Option(False, "--complex", help="Complex learned butterfly (op butterfly)."),
    verify: bool = typer.Option(
        False, "--verify", help="Also compute values and check them against PyTorch."
    ),
    precision: str = typer.Option("fp16", "--precision", help="fp16 | fp32-acc (value mode)."),
    seed: int = typer.Option(0, "--seed", help="Random inputs / coefficients seed (value mode)."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly the Result as JSON."),
    trace: Path | None = typer.Option(None, "--trace", help="Write a per-PE timeline (.png or .html)."),
    show_program: bool = typer.Option(False, "--show-program", help="Also print the Program summary."),
    no_fast_forward: bool = typer.Option(
        False, "--no-fast-forward", help="Simulate every instruction (same cycles, slower)."
    ),
) -> None:
    """Compile and simulate one kernel on the dataflow array: cycles, utilization, stalls, traffic."""
    from swallowtail.compiler import compile as compile_kernel
    from swallowtail.compiler import dataflow_arch
    from swallowtail.sim import run
    from swallowtail.sim.trace import TRACE_SUFFIXES, write_trace
    from swallowtail.workload.ops import FFT, Butterfly

    if op not in OPS:
        raise SpecError("op", op, f"one of {list(OPS)}")
    if trace is not None and trace.suffix.lower() not in TRACE_SUFFIXES:
        raise SpecError("trace", str(trace), f"a file name ending in one of {list(TRACE_SUFFIXES)}")
    a = dataflow_arch(arch)
    if op == "butterfly":
        kernel_op = Butterfly("butterfly", n=n, rows=rows, complex=complex_)
    else:
        if complex_:
            raise SpecError("complex", True, "only with --op butterfly (an FFT is always complex)")
        kernel_op = FFT("fft", n=n, rows=rows)
    program = compile_kernel(
        kernel_op,
        a,
        dataflow,
        block=block,
        stages_per_block=stages_per_block,
        placement=placement,
        rows_per_batch=rows_per_batch,
    )
    counts = program.instruction_counts()
    expected_s = sum(v for k, v in counts.items() if "coefficients" not in k) / SPINNER_INSTRUCTIONS_PER_S
    kwargs = dict(
        values=verify,
        seed=seed,
        precision=precision,
        fast_forward=not no_fast_forward,
        trace=trace is not None,
    )
    if expected_s > SLOW_SECONDS and not no_fast_forward:
        expected_s /= 4  # fast-forward skips most of a long steady state
    if expected_s > SLOW_SECONDS:
        with err_console.status(f"simulating {program.spec.describe()} ..."):
            out = run(program, a, **kwargs)
    else:
        out = run(program, a, **kwargs)
    r = out.result
    if trace is not None:
        assert out.stats.timing.trace is not None
        write_trace(
            out.stats.timing.trace,
            trace,
            title=f"{r.backend} on {r.arch}: {program.spec.describe()}",
            summary=[f"cycles {r.cycles:,}", f"utilization {r.utilization:.3f}", *r.notes],
        )
    if as_json:
        emit_json(r)
        return
    from rich.table import Table

    st = out.stats
    t = Table(title=f"{r.backend} on {r.arch}: {program.spec.describe()}", show_header=False)
    t.add_column("quantity", style="bold")
    t.add_column("value", justify="right")
    t.add_row("cycles", f"{r.cycles:,}")
    t.add_row("latency", si(r.latency_s, "s"))
    t.add_row("utilization", f"{r.utilization:.3f}")
    t.add_row("FLOP efficiency", f"{r.flop_efficiency:.3f}")
    t.add_row("energy", si(r.energy_j, "J") if r.energy_j else "not computed")
    total = sum(r.stalls.values()) or 1
    for cause, c in sorted(r.stalls.items(), key=lambda kv: -kv[1]):
        t.add_row(f"stall {cause}", f"{c:,} PE-cycles ({c / total:.0%})")
    for level, b in r.traffic_bytes.items():
        unit = "B-hops" if level == "noc" else "B"
        t.add_row(f"traffic {level}", si(b, unit))
    pl = program.plan
    t.add_row("block / stages per pass", f"{pl.block} / {[p.k for p in pl.passes]}")
    t.add_row("placement / rows per batch", f"{pl.placement} / {pl.rows_per_batch}")
    if out.verify is not None:
        v = out.verify
        t.add_row(
            "verify",
            f"{'PASS' if v.ok else 'FAIL'}: err {v.max_rel_err:.3g} <= {v.bound:.3g}"
            + (f", {v.unwritten} unwritten" if v.unwritten else ""),
        )
    t.add_row("simulator", f"{st.sim_wall_s:.2f} s wall, {si(st.cycles_per_s, 'cycles/s')}")
    console.print(t)
    if show_program:
        console.print(program.summary(), highlight=False)
    for note in r.notes:
        console.print(f"note: {note}", style="dim", highlight=False)
    if trace is not None:
        console.print(f"trace written to {trace}")
    if out.verify is not None and not out.verify.ok:
        raise typer.Exit(code=1)
