"""`swallowtail kernel`: compile one op -- butterfly, FFT, GEMM, block-sparse matmul, Monarch, softmax,
LayerNorm or GELU -- for a dataflow array and simulate it cycle by cycle (optionally by value, verified
against PyTorch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from swallowtail.cli import limits
from swallowtail.cli._common import check_out_file, console, emit_json, err_console, si, user_errors
from swallowtail.errors import SpecError, check_choice

#: the op kinds `kernel --op` compiles (every kind `swallowtail.compiler.compile` maps; gelu stands for the
#: elementwise ops)
OPS = ("butterfly", "fft", "gemm", "block-sparse", "monarch", "softmax", "layernorm", "gelu")
#: block size of `--op block-sparse` when --sparse-block is not given (the decoders' bs32)
DEFAULT_SPARSE_BLOCK = 32
#: above this estimated run time (`limits.kernel_run`) a spinner is shown
SLOW_SECONDS = 2.0


def kernel_op(
    op: str,
    n: int,
    rows: int,
    k: int | None,
    batch: int,
    complex_: bool,
    sparse_block: int | None = None,
    pattern: str | None = None,
) -> Any:
    """The workload op `kernel --op` stands for (SpecError for an unknown op or a flag it does not take)."""
    from swallowtail.workload.ops import FFT, GEMM, Butterfly, Elementwise, LayerNorm, Softmax
    from swallowtail.workload.structured import BlockSparseMatmul, Monarch

    check_choice("op", op, OPS)
    if complex_ and op != "butterfly":
        raise SpecError("complex", True, "only with --op butterfly (an FFT is always complex)")
    if k is not None and op not in ("gemm", "block-sparse"):
        raise SpecError("gemm-k", k, "only with --op gemm or block-sparse (the reduction length K)")
    for flag, v in (("sparse-block", sparse_block), ("pattern", pattern)):
        if v is not None and op != "block-sparse":
            raise SpecError(flag, v, "only with --op block-sparse")
    if op == "block-sparse":
        block = DEFAULT_SPARSE_BLOCK if sparse_block is None else sparse_block
        return BlockSparseMatmul.with_pattern(
            "block_sparse", rows, n if k is None else k, n, block, pattern or "butterfly"
        )
    if op == "monarch":
        return Monarch("monarch", rows=rows, n=n)
    if batch != 1 and op != "gemm":
        raise SpecError("batch", batch, "only with --op gemm (products, each with its own B)")
    if op == "butterfly":
        return Butterfly("butterfly", n=n, rows=rows, complex=complex_)
    if op == "fft":
        return FFT("fft", n=n, rows=rows)
    if op == "gemm":
        return GEMM("gemm", m=rows, k=n if k is None else k, n=n, batch=batch)
    if op == "softmax":
        return Softmax("softmax", rows=rows, n=n)
    if op == "layernorm":
        return LayerNorm("layernorm", rows=rows, n=n)
    return Elementwise("gelu", op="gelu", numel=rows * n)


@user_errors
def kernel(
    arch: str = typer.Option(
        "df-4x4-simd8", "--arch", "-a", help="Dataflow architecture preset or YAML file."
    ),
    op: str = typer.Option("butterfly", "--op", help="Op: " + " | ".join(OPS) + "."),
    n: int = typer.Option(
        1024,
        "--n",
        "-n",
        help="Transform length (butterfly / fft / monarch: a power of two); row length (softmax, layernorm, "
        "gelu); N (gemm, block-sparse: columns of B and C).",
    ),
    rows: int = typer.Option(64, "--rows", "-r", help="Independent rows streamed through the op (gemm: M)."),
    gemm_k: int | None = typer.Option(None, "--gemm-k", help="gemm: the reduction length K (default: n)."),
    batch: int = typer.Option(1, "--batch", help="gemm: products, each with its own B (heads)."),
    sparse_block: int | None = typer.Option(
        None, "--sparse-block", help=f"block-sparse: the block size (default {DEFAULT_SPARSE_BLOCK})."
    ),
    pattern: str | None = typer.Option(
        None, "--pattern", help="block-sparse: butterfly | diagonal | dense (default butterfly)."
    ),
    dataflow: str = typer.Option("multilayer", "--dataflow", "-d", help="multilayer | single-layer."),
    block: int | None = typer.Option(None, "--block", help="Positions per block B (default: chosen)."),
    stages_per_block: int | None = typer.Option(
        None, "--stages-per-block", "-k", help="Stages folded per block k (default: chosen)."
    ),
    placement: str | None = typer.Option(None, "--placement", help="stride | local-first (default: chosen)."),
    rows_per_batch: int | None = typer.Option(None, "--rows-per-batch", help="Rows per streaming batch."),
    units_per_batch: int | None = typer.Option(
        None, "--units-per-batch", help="Dense ops: row units per streaming batch (default: policy)."
    ),
    complex_: bool = typer.Option(False, "--complex", help="Complex learned butterfly (op butterfly)."),
    verify: bool = typer.Option(
        False, "--verify", help="Also compute values and check them against PyTorch."
    ),
    precision: str | None = typer.Option(
        None, "--precision", help="fp16 | fp32-acc (with --verify; default fp16)."
    ),
    seed: int | None = typer.Option(
        None, "--seed", min=0, help="Random inputs / coefficients seed (with --verify; default 0)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print exactly the Result as JSON."),
    trace: Path | None = typer.Option(None, "--trace", help="Write a per-PE timeline (.png or .html)."),
    show_program: bool = typer.Option(False, "--show-program", help="Also print the Program summary."),
    no_fast_forward: bool = typer.Option(
        False, "--no-fast-forward", help="Simulate every instruction (same cycles, slower)."
    ),
    force: bool = typer.Option(False, "--force", help=limits.FORCE_HELP),
) -> None:
    """Compile and simulate one op on the dataflow array: cycles, utilization, stalls, traffic."""
    from swallowtail.compiler import compile as compile_op
    from swallowtail.compiler import dataflow_arch
    from swallowtail.sim import run
    from swallowtail.sim.timing.machine import check_engine_fits
    from swallowtail.sim.trace import TRACE_SUFFIXES, write_trace

    for flag, given in (("--precision", precision), ("--seed", seed)):
        if given is not None and not verify:
            raise SpecError(flag, given, "only with --verify (the value mode it sets)")
    if show_program and as_json:
        raise SpecError("--show-program", True, "not with --json (which prints exactly the Result)")
    kernel_op_ = kernel_op(op, n, rows, gemm_k, batch, complex_, sparse_block, pattern)
    if trace is not None:
        check_out_file(trace, "--trace")  # before the run, not after it (an empty path says it is one)
        if trace.suffix.lower() not in TRACE_SUFFIXES:
            raise SpecError("--trace", str(trace), f"a file name ending in one of {list(TRACE_SUFFIXES)}")
    a = dataflow_arch(arch)
    est = limits.kernel_run(kernel_op_, a, verify)
    limits.check(f"kernel --op {op} --n {n} --rows {rows}", est, force)  # before any allocation
    check_engine_fits(a)  # before the compile: the simulator's limit on the array
    program = compile_op(
        kernel_op_,
        a,
        dataflow,
        block=block,
        stages_per_block=stages_per_block,
        placement=placement,
        rows_per_batch=rows_per_batch,
        units_per_batch=units_per_batch,
    )
    kwargs = dict(
        values=verify,
        seed=0 if seed is None else seed,
        precision="fp16" if precision is None else precision,
        fast_forward=not no_fast_forward,
        trace=trace is not None,
    )
    if est.time_s > SLOW_SECONDS:
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
    else:
        _print(program, out, show_program, trace)
    if out.verify is not None and not out.verify.ok:
        raise typer.Exit(code=1)


def _mapping_rows(program: Any) -> list[tuple[str, str]]:
    """The table rows that say how the op was mapped (per op family)."""
    pl = program.plan
    if program.kind in ("butterfly", "fft"):
        return [
            ("block / stages per pass", f"{pl.block} / {[p.k for p in pl.passes]}"),
            ("placement / rows per batch", f"{pl.placement} / {pl.rows_per_batch}"),
        ]
    lay = program.meta["dense_layout"]
    tiling = program.meta.get("weight_tiling")
    rows = [
        ("mapping", lay.note() + (f"; {tiling.note()}" if tiling is not None else "")),
        ("passes / rows per batch", f"{len(pl.passes)} / {pl.rows_per_batch}"),
    ]
    return rows


def _verify_text(v: Any) -> str:
    """The verification row: butterfly / FFT (relative error vs its bound) or dense (worst error / bound)."""
    status = "PASS" if v.ok else "FAIL"
    if hasattr(v, "max_rel_err"):
        text = f"{status}: err {v.max_rel_err:.3g} <= {v.bound:.3g}"
    else:
        text = f"{status}: max |err| / bound {v.max_err_over_bound:.3g} <= 1"
    return text + (f", {v.unwritten} unwritten" if v.unwritten else "")


def _print(program: Any, out: Any, show_program: bool, trace: Path | None) -> None:
    from rich.table import Table

    r, st = out.result, out.stats
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
    for name, value in _mapping_rows(program):
        t.add_row(name, value)
    if out.verify is not None:
        t.add_row("verify", _verify_text(out.verify))
    t.add_row("simulator", f"{st.sim_wall_s:.2f} s wall, {si(st.cycles_per_s, 'cycles/s')}")
    console.print(t)
    if show_program:
        console.print(program.summary(), highlight=False)
    for note in r.notes:
        console.print(f"note: {note}", style="dim", highlight=False)
    if trace is not None:
        console.print(f"trace written to {trace}")
