"""`swallowtail simulate`: a whole network on the dataflow array (block-level simulator), per layer and op."""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path

import typer

from swallowtail.atomicio import write_atomic, write_text_atomic
from swallowtail.cli import limits
from swallowtail.cli._common import check_out_file, console, emit_json, si, user_errors
from swallowtail.cli.workload import SEQ_LEN_HELP, build_workload
from swallowtail.errors import SpecError
from swallowtail.progress import progress as progress_bar

#: --seq-len of a network preset when none is given
DEFAULT_SEQ_LEN = 1024
#: ops whose names say what they are in the bottleneck sentence
_KIND_WORDS = {
    "gemm": "GEMMs",
    "conv2d": "convolutions",
    "butterfly": "butterfly kernels",
    "fft": "FFTs",
    "softmax": "softmaxes",
    "layernorm": "LayerNorms",
    "elementwise": "elementwise ops",
}
_BOUND_WORDS = {
    "compute": "compute (FU issue slots)",
    "spm": "SPM bandwidth",
    "dram": "DRAM bandwidth",
    "noc": "NoC links",
    "special": "the special-function unit",
}


def bottleneck_sentence(result) -> str:  # noqa: ANN001 - a Result
    """'73% of cycles are the GEMMs of layer10-11, bound by compute ...' from the per-op results."""
    total = sum(o.latency_s for o in result.ops) or 1.0
    by: dict[tuple[str, str], float] = defaultdict(float)
    layers: dict[tuple[str, str], list[str]] = defaultdict(list)
    for o in result.ops:
        key = (o.kind, o.bound or "?")
        by[key] += o.latency_s
        layer = o.name.split(".")[0]
        if layer not in layers[key]:
            layers[key].append(layer)
    (kind, bound), t = max(by.items(), key=lambda kv: kv[1])
    ls = layers[(kind, bound)]
    where = ls[0] if len(ls) == 1 else (f"{ls[0]}..{ls[-1]}" if len(ls) > 2 else f"{ls[0]} and {ls[1]}")
    return (
        f"{t / total:.0%} of cycles are the {_KIND_WORDS.get(kind, kind)} of {where}, bound by "
        f"{_BOUND_WORDS.get(bound, bound)}"
    )


def _write_timeline(path: Path, run, title: str) -> None:  # noqa: ANN001 - a NetworkRun
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = sorted({n.split(".")[-1] for n, *_ in run.timeline})
    if path.suffix.lower() == ".html":
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(n)}</td><td>{esc(layer)}</td><td>{s:.0f}</td><td>{e:.0f}</td><td>{g}</td></tr>"
            for n, layer, s, e, g in run.timeline
        )
        write_text_atomic(
            path,
            f"<html><body><h3>{esc(title)}</h3><table border=1><tr><th>op</th><th>layer</th>"
            f"<th>start cycle</th><th>end cycle</th><th>group</th></tr>{rows}</table></body></html>",
        )
        return
    fig, ax = plt.subplots(figsize=(12, 4))
    layers = sorted({layer for _, layer, *_ in run.timeline}, key=lambda s: (len(s), s))
    cmap = plt.get_cmap("tab20")
    for n, layer, s, e, _ in run.timeline:
        ax.barh(layers.index(layer), e - s, left=s, color=cmap(kinds.index(n.split(".")[-1]) % 20))
    ax.set_yticks(range(len(layers)), layers)
    ax.set_xlabel("cycle")
    ax.set_title(title)
    fig.tight_layout()
    write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=100), mode="wb")
    plt.close(fig)


@user_errors
def simulate(
    arch: str = typer.Option("df-4x4-simd8", "--arch", "-a", help="Dataflow-array preset or YAML file."),
    model: str = typer.Option(
        "fabnet-base", "--model", "-m", help="Preset, named workload (`workload list`) or HybridConfig YAML."
    ),
    seq_len: int | None = typer.Option(
        None, "--seq-len", "-L", help=SEQ_LEN_HELP + f" Default: {DEFAULT_SEQ_LEN}, a named workload's own."
    ),
    batch: int = typer.Option(1, "--batch", "-b", help="Inputs per inference."),
    dataflow: str = typer.Option("multilayer", "--dataflow", "-d", help="multilayer | single-layer."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly Result.to_dict() as JSON."),
    timeline: Path | None = typer.Option(
        None, "--timeline", help="Write ops over time to a PNG or HTML file."
    ),
    force: bool = typer.Option(False, "--force", help=limits.FORCE_HELP),
) -> None:
    """Simulate a whole network on the dataflow array: per-layer and per-op cycles, utilization, traffic and
    energy, and the bottleneck in words."""
    from rich.table import Table

    from swallowtail.backends.dataflow import DataflowBackend
    from swallowtail.sim.network import DATAFLOWS

    if dataflow not in DATAFLOWS:
        raise SpecError("--dataflow", dataflow, f"one of {list(DATAFLOWS)}")
    if timeline is not None:
        check_out_file(timeline, "--timeline")  # before the run, not after it (an empty path says it is one)
        if timeline.suffix.lower() not in (".png", ".html"):
            raise SpecError("--timeline", str(timeline), "a path ending in .png or .html")
    w = build_workload(model, seq_len, batch, DEFAULT_SEQ_LEN, force=force)
    backend = DataflowBackend(dataflow, arch)
    est = limits.workload_simulation(w, backend.arch)
    limits.check(f"simulate {w.name} on {backend.arch.name}", est, force)  # before the probes
    if as_json:
        run = backend.simulate(w)
    else:
        with progress_bar(console=console, transient=True) as prog:
            task = prog.add_task(f"costing {len(w.ops)} ops", total=len(w.ops))
            run = backend.simulate(w, progress=lambda k, n: prog.update(task, completed=k))
    r = run.result
    if timeline is not None:
        _write_timeline(timeline, run, f"{r.backend} on {r.arch}: {r.workload}")
    if as_json:
        emit_json(r)
        return
    total = sum(o.latency_s for o in r.ops) or 1.0
    lt = Table(title=f"{r.backend} on {r.arch}: {r.workload} -- per layer")
    for col in ("layer", "cycles", "share", "utilization", "DRAM", "SPM", "energy"):
        lt.add_column(col, justify="left" if col == "layer" else "right")
    agg: dict[str, list[float]] = {}
    for o in r.ops:
        layer = o.name.split(".")[0]
        a = agg.setdefault(layer, [0, 0.0, 0, 0, 0.0, 0.0])
        a[0] += o.cycles or 0
        a[1] += o.latency_s
        a[2] += o.bytes.get("dram", 0)
        a[3] += o.bytes.get("spm", 0)
        a[4] += o.energy_j or 0.0
        a[5] += (o.utilization or 0.0) * (o.cycles or 0)
    for layer, (cyc, t, dram, spm, ej, uc) in agg.items():
        lt.add_row(
            layer,
            f"{cyc:,.0f}",
            f"{t / total:.1%}",
            f"{uc / cyc if cyc else 0:.2f}",
            si(dram, "B"),
            si(spm, "B"),
            si(ej, "J"),
        )
    console.print(lt)
    ot = Table(title="per op (longest 25)")
    for col in ("op", "kind", "cycles", "share", "util", "bound", "DRAM", "SPM", "energy"):
        ot.add_column(col, justify="left" if col in ("op", "kind", "bound") else "right")
    for o in sorted(r.ops, key=lambda o: -o.latency_s)[:25]:
        ot.add_row(
            o.name,
            o.kind,
            f"{o.cycles:,}",
            f"{o.latency_s / total:.1%}",
            f"{o.utilization or 0:.2f}",
            o.bound or "",
            si(o.bytes.get("dram", 0), "B"),
            si(o.bytes.get("spm", 0), "B"),
            si(o.energy_j or 0, "J"),
        )
    console.print(ot)
    tt = Table(title="totals", show_header=False)
    tt.add_column("quantity", style="bold")
    tt.add_column("value", justify="right")
    tt.add_row("cycles", f"{r.cycles:,}")
    tt.add_row("latency", si(r.latency_s, "s"))
    tt.add_row("energy", si(r.energy_j, "J"))
    tt.add_row("utilization", f"{r.utilization:.3f}")
    tt.add_row("FLOP efficiency", f"{r.flop_efficiency:.3f}")
    for level, b in r.traffic_bytes.items():
        tt.add_row(f"traffic {level}", si(b, "B"))
    for comp, j in sorted(r.energy_breakdown_j.items(), key=lambda kv: -kv[1]):
        tt.add_row(f"energy {comp}", f"{si(j, 'J')} ({j / r.energy_j:.0%})")
    console.print(tt)
    console.print(f"bottleneck: {bottleneck_sentence(r)}", highlight=False)
    for note in r.notes:
        console.print(f"note: {note}", style="dim", highlight=False)
