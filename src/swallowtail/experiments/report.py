"""The report of `swallowtail reproduce`: figures (matplotlib, Agg), summary.md, a self-contained report.html.

Figures, one function each (every one takes a `ReproduceRun` and returns a matplotlib Figure):

1. speedup of the array over Xavier NX per workload (hybrid net, eager kernels, dense Transformer; log y)
2. energy efficiency over Xavier NX per workload (log y)
3. the array against the accelerators at the same peak (efficiency and energy ratios, paper's bands)
4. latency breakdown by op kind, stacked per backend, for one workload
5. energy breakdown by component, stacked per backend, for the same workload
6. FLOP efficiency and reported utilization per workload
7. roofline: operational intensity vs achieved FLOP/s, with each backend's roof
8. a timeline of one workload on the array (per-op start times when the Result has them, else the ops'
   latencies laid end to end -- the figure says which)

report.html embeds every figure as a base64 PNG (no external URL, no script from elsewhere) and carries a
small inline script that, after `window.onload`, sets `data-images-loaded="N/M"` on <body> (N of the M
images decoded) -- the browser test reads it back. Every output is deterministic: no timestamps.
"""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Callable
from typing import Any

from swallowtail.experiments.paper import PAPER
from swallowtail.experiments.records import GPU_COLUMNS, GpuHeadlineRow, ReproduceRun, Verdict, fmt_range
from swallowtail.experiments.report_decoder import block_sweep_rows, decoder_lines, decoder_rows, fig_decoder
from swallowtail.experiments.suite import (
    ARRAY_ARCH,
    DENSE,
    GPU_ARCH,
    GPU_STACK,
    GROUP_LRA,
    ROLE_GPU,
    ROLE_GPU_DENSE,
    ROLE_GPU_EAGER,
    ROLE_SAME_PEAK,
    ROLE_SYSTOLIC,
)
from swallowtail.plotting import (
    CSS,
    FIG_DPI,
    FIG_H_IN,
    FIG_W_IN,
    LOAD_SCRIPT,
    PALETTE,
    FigureOut,
    html_table,
    md_table,
    png,
    pyplot,
    si,
)
from swallowtail.result import Result

#: height factor of a figure with two panels stacked
TWO_ROWS = 1.6
#: workloads preferred for the per-workload breakdowns and the timeline, first present wins
FOCUS_PREFERENCE = ("lra-text@L4096", "lra-listops@L2048", "fabnet-base@L1024", "fabnet-base@L512")
#: bar width of grouped bars (fraction of a group's slot)
GROUP_WIDTH = 0.8
#: reference lines
PARITY = 1.0
PAPER_LINE_STYLE = {"color": "black", "linestyle": "--", "linewidth": 1.0}
PAPER_BAND_ALPHA = 0.12
#: the floor's label suffix in figures
FLOOR_TAG = " (roofline floor)"
#: seconds -> milliseconds
MS = 1e3
#: operational-intensity span of the roofline plot (FLOP/byte)
ROOF_OI_MIN = 1e-1
ROOF_OI_MAX = 1e5
ROOF_POINTS = 200
#: a bar's label when it is a share of the total
PERCENT = 100.0
FigureFn = Callable[[ReproduceRun], Any]


# ---- helpers -------------------------------------------------------------------------------------------
def _colour(run: ReproduceRun, key: str) -> str:
    keys = [t.key for t in run.targets]
    return PALETTE[keys.index(key) % len(PALETTE)]


def _label(run: ReproduceRun, key: str) -> str:
    t = run.target(key)
    return t.label + (FLOOR_TAG if t.substitute and FLOOR_TAG.strip(" ()") not in t.label else "")


def short_name(workload: str) -> str:
    """'lra-listops@L2048' -> 'listops L2048'; 'fabnet-base@L128' -> 'base L128'."""
    name, _, length = workload.partition("@")
    name = name.removeprefix("lra-").removeprefix("fabnet-")
    return f"{name} {length}"


def focus_workload(run: ReproduceRun) -> str:
    names = [w.name for w in run.suite.workloads]
    return next((n for n in FOCUS_PREFERENCE if n in names), names[0])


def _keys(run: ReproduceRun, roles: tuple[str, ...]) -> list[str]:
    return [t.key for t in run.targets if t.role in roles]


def _array_title(run: ReproduceRun) -> str:
    t = run.target(run.array_key)
    return f"{ARRAY_ARCH} roofline floor (simulator not available)" if t.substitute else t.label


def _grouped_bars(ax: Any, run: ReproduceRun, series: dict[str, dict[str, float]]) -> None:
    """Bars per workload (x), one per series key, coloured by target."""
    workloads = [w.name for w in run.suite.workloads]
    n = max(1, len(series))
    width = GROUP_WIDTH / n
    for i, (key, per) in enumerate(series.items()):
        xs = [j + (i - (n - 1) / 2) * width for j, w in enumerate(workloads) if w in per]
        ys = [per[w] for w in workloads if w in per]
        ax.bar(xs, ys, width=width, color=_colour(run, key), label=_label(run, key))
    ax.set_xticks(range(len(workloads)))
    ax.set_xticklabels([short_name(w) for w in workloads], rotation=35, ha="right")
    ax.set_xlim(-0.6, len(workloads) - 0.4)


def _legend_outside(fig: Any, axes: Any, title: str | None = None) -> None:
    """One legend for the figure, right of the plots (never over the data); labels deduplicated."""
    seen: dict[str, Any] = {}
    for ax in axes if isinstance(axes, list | tuple) else [axes]:
        for h, lbl in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(lbl, h)
    fig.legend(list(seen.values()), list(seen), loc="outside right upper", fontsize="small", title=title)


# ---- figures -------------------------------------------------------------------------------------------
def _vs_gpu_figure(
    run: ReproduceRun,
    metric: str,
    paper_lines: list[tuple[float, dict[str, Any], str]],
    ylabel: str,
    what: str,
) -> Any:
    """One `TargetRatios` metric of the array over each Xavier NX target, per workload, on a log axis: the
    bars, parity, the paper's lines (value, line style, label)."""
    plt = pyplot()
    per = run.comparisons.per_workload
    keys = [k for k in _keys(run, (ROLE_GPU, ROLE_GPU_EAGER, ROLE_GPU_DENSE)) if k in per]
    series = {k: per[k].metric(metric) for k in keys}
    fig, ax = plt.subplots(figsize=(FIG_W_IN, FIG_H_IN), layout="constrained")
    _grouped_bars(ax, run, series)
    ax.set_yscale("log")
    ax.axhline(PARITY, color="grey", linewidth=0.8)
    for value, style, label in paper_lines:
        ax.axhline(value, **style, label=label)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("workload (network @ sequence length)")
    ax.set_title(f"{what} over Jetson Xavier NX -- array: {_array_title(run)}")
    _legend_outside(fig, ax, title="Xavier NX running")
    ax.grid(axis="y", which="both", alpha=0.3)
    return fig


def fig_speedup_gpu(run: ReproduceRun) -> Any:
    top, avg = PAPER.speedup_vs_xavier_max, PAPER.speedup_vs_xavier_avg
    lines = [
        (top.value, PAPER_LINE_STYLE, f"paper: max {top.text}"),
        (avg.value, {**PAPER_LINE_STYLE, "linestyle": ":"}, f"paper: avg {avg.text}"),
    ]
    ylabel = "speedup of the array over Xavier NX (x, log)"
    return _vs_gpu_figure(run, "speedup", lines, ylabel, "Speedup")


def fig_energy_gpu(run: ReproduceRun) -> Any:
    paper = PAPER.energy_eff_vs_xavier
    lines = [(paper.value, PAPER_LINE_STYLE, f"paper: {paper.text}")]
    ylabel = "energy efficiency over Xavier NX\n(Xavier J / array J per inference, x, log)"
    return _vs_gpu_figure(run, "energy", lines, ylabel, "Energy efficiency")


def fig_same_peak(run: ReproduceRun) -> Any:
    plt = pyplot()
    per = run.comparisons.per_workload
    keys = [k for k in _keys(run, (ROLE_SAME_PEAK, ROLE_SYSTOLIC)) if k in per]
    fig, axes = plt.subplots(2, 1, figsize=(FIG_W_IN, FIG_H_IN * TWO_ROWS), layout="constrained", sharex=True)
    panels = (
        ("efficiency", "efficiency ratio\n(array FLOP eff. / theirs, x, log)", PAPER.efficiency_vs_same_peak),
        ("energy", "energy reduction\n(their J / array J, x, log)", PAPER.energy_reduction_vs_same_peak),
    )
    for ax, (metric, ylabel, paper) in zip(axes, panels, strict=True):
        _grouped_bars(ax, run, {k: per[k].metric(metric) for k in keys})
        ax.set_yscale("log")
        ax.axhspan(
            paper.lo, paper.hi, color="black", alpha=PAPER_BAND_ALPHA, label=f"paper ({metric}): {paper.text}"
        )
        ax.axhline(PARITY, color="grey", linewidth=0.8)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[1].set_xlabel("workload (network @ sequence length)")
    axes[0].set_title("Efficiency at the same peak")
    _legend_outside(fig, list(axes))
    axes[1].set_title("Energy at the same peak")
    fig.suptitle(f"Array ({_array_title(run)}) vs machines of the array's peak")
    return fig


def _stacked_shares(
    ax: Any, run: ReproduceRun, rows: list[tuple[str, Result]], parts: Callable[[Result], dict[str, float]],
    total: Callable[[Result], float], unit: Callable[[float], str],
) -> None:  # fmt: skip
    """100%-stacked horizontal bars (one per backend) of `parts`, the total written at each bar's end."""
    names = sorted({p for _, r in rows for p in parts(r)})
    left = [0.0] * len(rows)
    for i, part in enumerate(names):
        widths = []
        for _, r in rows:
            ps = parts(r)
            s = sum(ps.values())
            widths.append(PERCENT * ps.get(part, 0.0) / s if s > 0 else 0.0)
        ax.barh(range(len(rows)), widths, left=left, color=PALETTE[i % len(PALETTE)], label=part)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([lbl for lbl, _ in rows])
    ax.invert_yaxis()
    for j, (_, r) in enumerate(rows):
        ax.text(PERCENT + 1, j, unit(total(r)), va="center", fontsize="small")
    ax.set_xlim(0, PERCENT * 1.12)


def _breakdown_rows(run: ReproduceRun, workload: str) -> list[tuple[str, Result]]:
    rows = []
    for t in run.targets:
        r = run.result(workload, t.key)
        if r is not None:
            suffix = " [dense twin]" if t.network == DENSE else ""
            rows.append((_label(run, t.key) + suffix, r))
    return rows


def _by_kind(r: Result) -> dict[str, float]:
    out: dict[str, float] = {}
    for o in r.ops:
        out[o.kind] = out.get(o.kind, 0.0) + o.latency_s
    return out


def fig_latency_breakdown(run: ReproduceRun) -> Any:
    plt = pyplot()
    w = focus_workload(run)
    fig, ax = plt.subplots(figsize=(FIG_W_IN, FIG_H_IN), layout="constrained")
    _stacked_shares(ax, run, _breakdown_rows(run, w), _by_kind, lambda r: r.latency_s, lambda t: si(t, "s"))
    ax.set_xlabel("share of the summed per-op latency (%); total latency at the bar's end")
    floor = " (roofline floor: per-op floors, which overlap)" if run.target(run.array_key).substitute else ""
    ax.set_title(f"Latency by op kind, {w}{floor}")
    _legend_outside(fig, ax, title="op kind")
    return fig


def fig_energy_breakdown(run: ReproduceRun) -> Any:
    plt = pyplot()
    w = focus_workload(run)
    fig, ax = plt.subplots(figsize=(FIG_W_IN, FIG_H_IN), layout="constrained")
    _stacked_shares(
        ax, run, _breakdown_rows(run, w), lambda r: dict(r.energy_breakdown_j), lambda r: r.energy_j,
        lambda j: si(j, "J"),
    )  # fmt: skip
    ax.set_xlabel("share of the energy (%) by the backend's own components; total energy at the bar's end")
    ax.set_title(f"Energy by component, {w}")
    _legend_outside(fig, ax, title="component")
    return fig


def fig_utilization(run: ReproduceRun) -> Any:
    plt = pyplot()
    keys = [t.key for t in run.targets if t.network != DENSE]
    fig, axes = plt.subplots(2, 1, figsize=(FIG_W_IN, FIG_H_IN * TWO_ROWS), layout="constrained", sharex=True)
    for ax, (attr, title) in zip(
        axes,
        (
            ("flop_efficiency", "FLOP efficiency = FLOPs / (peak x time)"),
            ("utilization", "utilization (as reported)"),
        ),
        strict=True,
    ):
        series: dict[str, dict[str, float]] = {}
        for k in keys:
            per = {}
            for w in run.suite.workloads:
                r = run.result(w.name, k)
                v = getattr(r, attr, None) if r is not None else None
                if v is not None and v > 0:
                    per[w.name] = v
            series[k] = per
        _grouped_bars(ax, run, series)
        ax.set_yscale("log")
        ax.set_ylim(top=1.5)
        ax.set_title(title)
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[1].set_xlabel("workload (network @ sequence length)")
    for ax in axes:
        ax.set_ylabel("fraction of peak (log)")
    _legend_outside(fig, list(axes))
    fig.suptitle("How much of each machine's peak the hybrid networks use")
    return fig


def fig_roofline(run: ReproduceRun) -> Any:
    import numpy as np

    plt = pyplot()
    roofs = run.facts.roofs
    fig, ax = plt.subplots(figsize=(FIG_W_IN, FIG_H_IN * 1.2), layout="constrained")
    oi = np.logspace(math.log10(ROOF_OI_MIN), math.log10(ROOF_OI_MAX), ROOF_POINTS)
    for t in run.targets:
        c = _colour(run, t.key)
        roof = roofs.get(t.key)
        peak, bw = (roof.peak_ops_per_s, roof.dram_bytes_per_s) if roof is not None else (0.0, 0.0)
        if peak > 0:
            ax.plot(oi, np.minimum(peak, oi * bw) if bw > 0 else np.full_like(oi, peak), color=c, alpha=0.7)
        xs, ys = [], []
        for r in (x.result for x in run.runs if x.target == t.key):
            dram = r.traffic_bytes.get("dram", 0)
            if dram > 0 and r.latency_s > 0:
                xs.append(r.useful_ops / dram)
                ys.append(r.useful_ops / r.latency_s)
        ax.scatter(xs, ys, color=c, label=_label(run, t.key), edgecolor="black", linewidth=0.4, zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operational intensity (workload FLOPs / DRAM bytes moved, FLOP/B)")
    ax.set_ylabel("achieved throughput (workload FLOPs / latency, FLOP/s)")
    ax.set_title("Roofline: each backend's roof (peak, DRAM bandwidth) and its runs (one point per workload)")
    ax.grid(which="both", alpha=0.3)
    _legend_outside(fig, ax, title="backend (roof: same colour)")
    return fig


def timeline(result: Result) -> tuple[list[tuple[str, str, float, float]], bool]:
    """[(op name, kind, start s, duration s)] and whether the starts come from the Result itself.

    A Result whose ops carry `start_s` (a simulator's schedule) is drawn as scheduled; otherwise the ops'
    latencies are laid end to end in workload order (a sequential timeline)."""
    starts = [getattr(o, "start_s", None) for o in result.ops]
    if result.ops and all(s is not None for s in starts):
        return [
            (o.name, o.kind, float(s), o.latency_s) for o, s in zip(result.ops, starts, strict=True)
        ], True
    out, t = [], 0.0
    for o in result.ops:
        out.append((o.name, o.kind, t, o.latency_s))
        t += o.latency_s
    return out, False


def fig_timeline(run: ReproduceRun) -> Any:
    plt = pyplot()
    w = focus_workload(run)
    key = run.array_key
    r = run.result(w, key)
    assert r is not None
    spans, scheduled = timeline(r)
    kinds = sorted({k for _, k, _, _ in spans})
    fig, ax = plt.subplots(figsize=(FIG_W_IN, FIG_H_IN * 0.8), layout="constrained")
    for i, kind in enumerate(kinds):
        bars = [(s * MS, d * MS) for _, k, s, d in spans if k == kind]
        ax.broken_barh(
            bars, (i - 0.4, 0.8), color=PALETTE[i % len(PALETTE)], edgecolor="white", linewidth=0.2
        )
    ax.set_yticks(range(len(kinds)))
    ax.set_yticklabels(kinds)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("op kind")
    how = (
        "scheduled start times from the Result" if scheduled else "sequential: ops' latencies laid end to end"
    )
    floor = " -- per-op roofline floors, not a simulation" if run.target(key).substitute else ""
    ax.set_title(f"Timeline of {w} on {_array_title(run)}\n({how}){floor}")
    ax.grid(axis="x", alpha=0.3)
    return fig


#: the denominators the inverse figure draws (when the run has them), besides the one closest to the paper
INVERSE_FIGURE_PAIRS = (("xavier-nx-15w", "tensorrt-fp16"), ("xavier-nx-15w", "pytorch-eager-fp32"))
#: FLOP/s -> TOPS
TERA = 1e12


def fig_inverse(run: ReproduceRun) -> Any:
    """Speedup and energy efficiency (geomean over the workloads) of every machine of the inverse sweep vs
    its peak, against a few GPU denominators; the paper's figures dashed, the reconstruction's peak dotted."""
    inv = run.inverse
    assert inv is not None
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(FIG_W_IN, FIG_H_IN), dpi=FIG_DPI, layout="constrained")
    best = inv.best
    pairs = [
        inv.answer(b, st)
        for b, st in INVERSE_FIGURE_PAIRS
        if any((a.board, a.stack) == (b, st) for a in inv.answers)
    ]
    if best not in pairs:
        pairs.append(best)
    recon_peak = pairs[0].reconstruction.peak_ops_per_s / TERA if pairs else None
    for i, a in enumerate(pairs):
        xs = [p / TERA for p, _, _ in a.machines_xy]
        for ax, col in ((axes[0], 1), (axes[1], 2)):
            ax.scatter(
                xs,
                [m[col] for m in a.machines_xy],
                s=16,
                color=PALETTE[i],
                alpha=0.75,
                label=f"{a.board} / {a.stack}" + (" (closest to the paper)" if a is best else ""),
            )
    from matplotlib.ticker import FuncFormatter, NullFormatter

    for ax, claim, title in (
        (axes[0], PAPER.speedup_vs_xavier_avg, "speedup over the GPU"),
        (axes[1], PAPER.energy_eff_vs_xavier, "energy efficiency over the GPU"),
    ):
        ax.axhline(claim.value, **PAPER_LINE_STYLE)
        if recon_peak:
            ax.axvline(recon_peak, color="grey", linestyle=":", linewidth=1.0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
            axis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("array peak (TOPS)")
        ax.set_ylabel(f"{title} (geomean, x)")
        ax.set_title(f"{title} (dashed: the abstract's {claim.text})")
        ax.grid(alpha=0.3, which="both")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize="small")
    return fig


#: (id, title, caption, function) of every figure, in report order
FIGURES: tuple[tuple[str, str, str, FigureFn], ...] = (
    ("speedup_xavier", "Speedup over Jetson Xavier NX",
     "Array latency vs Xavier NX per workload: Xavier running the same hybrid network (fused butterfly "
     "kernels), as PyTorch eager would (one kernel per butterfly stage), and running the dense Transformer "
     "of the same shape. Dashed: the paper's max, dotted: its average.", fig_speedup_gpu),
    ("energy_xavier", "Energy efficiency over Jetson Xavier NX",
     "Xavier NX energy per inference / the array's, per workload. Dashed: the paper's 11.14x.",
     fig_energy_gpu),
    ("same_peak", "Accelerators at the same peak",
     "Sanger and SpAtten scaled to the array's 256 GOPS, and the same-peak systolic array: the array's FLOP "
     "efficiency over theirs (left) and their energy over the array's (right). Shaded: the paper's ranges.",
     fig_same_peak),
    ("latency_breakdown", "Latency breakdown by op kind",
     "Share of each backend's per-op latency by op kind, one workload; the bar's label is its total latency.",
     fig_latency_breakdown),
    ("energy_breakdown", "Energy breakdown by component",
     "Each backend's energy by the components it reports (board power for the GPU; FUs, SRAM, DRAM, leakage "
     "for the array and the accelerators), one workload.", fig_energy_breakdown),
    ("utilization", "Utilization per workload",
     "FLOP efficiency (comparable across machines) and the utilization each backend reports.",
     fig_utilization),
    ("roofline", "Roofline",
     "Each backend's roof min(peak, intensity x DRAM bandwidth) and its runs; a point below its roof is "
     "losing time to something other than peak compute or DRAM bandwidth.", fig_roofline),
    ("timeline", "Timeline on the array",
     "One workload on the array, ops grouped by kind along time.", fig_timeline),
    ("inverse", "The inverse question: the machine the abstract implies",
     "Every machine of the inverse sweep (array size x SIMD lanes x clock x DRAM bandwidth around the "
     "reconstruction) against a few GPU denominators: speedup and energy efficiency (geometric mean over the "
     "workloads) vs the machine's peak. Dashed: the abstract's figures; dotted: the reconstruction's peak.",
     fig_inverse),
    ("decoder", "Decoders with structured MLPs: array vs GPU stacks",
     "Llama-shaped prefill with a dense, Monarch or block-sparse (blocks of 16 / 32 / 64) MLP on the array "
     "and on Jetson (board, stack) pairs: latency (left) and the MLP projections' FLOP efficiency (right).",
     lambda run: fig_decoder(run.decoder)),
)  # fmt: skip
#: figures drawn only when the run has what they show
OPTIONAL_FIGURES = {
    "inverse": lambda run: run.inverse is not None,
    "decoder": lambda run: run.decoder is not None,
}


def _figures_of(run: ReproduceRun) -> list[tuple[str, str, str, FigureFn]]:
    return [f for f in FIGURES if OPTIONAL_FIGURES.get(f[0], lambda _: True)(run)]


def render_figures(run: ReproduceRun) -> list[FigureOut]:
    return [FigureOut(fid, title, caption, png(fn(run))) for fid, title, caption, fn in _figures_of(run)]


# ---- tables ---------------------------------------------------------------------------------------------
def headline_rows(run: ReproduceRun) -> tuple[list[str], list[list[str]]]:
    head = [
        "metric",
        "paper (abstract)",
        "ours: GPU runs the hybrid net",
        "ours: GPU eager",
        "ours: GPU dense",
    ]
    rows = []
    for row in run.comparisons.headline:
        if isinstance(row, GpuHeadlineRow):
            rows.append([row.metric, row.paper, *(row.ours(c) for c in GPU_COLUMNS)])
        else:
            per = ", ".join(f"{k}: {v}" for k, v in row.per_accelerator.items())
            rows.append([row.metric, row.paper, f"{row.ours_same_peak} ({per})", "", ""])
    return head, rows


def _latency_table(run: ReproduceRun) -> tuple[list[str], list[list[str]]]:
    head = [
        "workload",
        *(_label(run, t.key) + (" [dense]" if t.network == DENSE else "") for t in run.targets),
    ]
    rows = []
    for w in run.suite.workloads:
        cells = [w.name]
        for t in run.targets:
            r = run.result(w.name, t.key)
            cells.append("" if r is None else f"{si(r.latency_s, 's')} / {si(r.energy_j, 'J')}")
        rows.append(cells)
    return head, rows


def gpu_pair_rows(run: ReproduceRun) -> tuple[list[str], list[list[str]]]:
    """The headline against every (board, stack) of the Jetson model."""
    head = ["GPU board", "stack", "speedup geomean", "speedup max", "energy eff. geomean", "max / geomean",
            "energy eff. / speedup", "array factor for 9.29x"]  # fmt: skip
    rows = [
        [p.board, p.stack, f"{p.speedup.geomean:.3g}x", f"{p.speedup.max:.3g}x", f"{p.energy.geomean:.3g}x",
         f"{p.spread:.2f}", f"{p.power_ratio:.1f}", f"{p.array_factor_needed:.1f}x"]
        for p in run.comparisons.gpu_pairs
    ]  # fmt: skip
    return head, rows


#: a swing row shows this much of its source note
SWING_NOTE_CHARS = 96


def swing_rows(run: ReproduceRun) -> tuple[list[str], list[list[str]]]:
    """The headline denominator's unmeasured values, each halved and doubled (largest speedup swing first)."""
    head = ["file", "parameter", "value", "halved / doubled", "speedup", "energy eff.", "its note"]
    rows = []
    for w in run.comparisons.swings:
        note = textwrap.shorten(w.source, SWING_NOTE_CHARS, placeholder=" ...")
        rows.append(
            [w.spec, w.field, f"{w.value:g}", f"{w.low:g} / {w.high:g}",
             fmt_range(w.speedup_low, w.speedup_high), fmt_range(w.energy_low, w.energy_high), note]
        )  # fmt: skip
    return head, rows


def _swings_title() -> str:
    return (
        f"What the headline's denominator ({GPU_ARCH}, {GPU_STACK}) rests on: each value nobody measured, "
        "halved and doubled, the others kept (fitted values not refitted: benchmarks/assumption_refit.py "
        "refits them)"
    )


# ---- the inverse question -----------------------------------------------------------------------------
def machine_label(params: dict[str, Any]) -> str:
    """'8x8 SIMD32 1 GHz DRAM x1' from an inverse point's params."""
    rows = params.get("array.rows", "?")
    ghz = params.get("clock_hz", 0) / 1e9
    return (
        f"{rows}x{rows} SIMD{params.get('pe.simd_lanes', '?')} {ghz:g} GHz "
        f"DRAM x{params.get('balance.dram', 1):g}"
    )


def _verdict_cell(v: Verdict | None, gpu: bool = False) -> str:
    """A machine and how far off it is (`gpu`: on the three GPU figures only)."""
    if v is None:
        return "none"
    off = f"{v.gpu_distance:.2f}x" if gpu else f"{v.distance:.2f}x ({v.binding})"
    return (
        f"{machine_label(v.params)} ({v.peak_ops_per_s / TERA:.2g} TOPS, {v.area_mm2:.3g} mm^2, "
        f"{v.power_w:.3g} W): off by {off}"
    )


def inverse_rows(run: ReproduceRun) -> tuple[list[str], list[list[str]]]:
    """Per (board, stack): machines holding at each tolerance (all seven figures; the three against the
    GPU), the reconstruction, the closest machines and the cheapest holding ones."""
    inv = run.inverse
    assert inv is not None
    tol = inv.tolerance
    head = ["GPU board", "stack", *(f"all 7 hold at {t:g}x" for t, _ in inv.answers[0].holding),
            f"3 GPU figures hold at {tol:g}x", "reconstruction off by", "closest on the 3 GPU figures",
            "closest on all 7", "cheapest holding all 7 (area)", "cheapest holding all 7 (power)",
            f"least peak for {PAPER.speedup_vs_xavier_avg.text}"]  # fmt: skip
    rows = []
    for a in inv.answers:
        least = a.least_peak_reaching(PAPER.speedup_vs_xavier_avg.value)
        gpu_hold = dict(a.holding_gpu).get(tol, 0)
        rows.append([
            a.board, a.stack, *(f"{n}/{a.machines}" for _, n in a.holding), f"{gpu_hold}/{a.machines}",
            f"{a.reconstruction.distance:.2f}x ({a.reconstruction.binding})",
            _verdict_cell(a.closest_gpu, gpu=True), _verdict_cell(a.closest),
            _verdict_cell(a.cheapest_area), _verdict_cell(a.cheapest_power),
            "none in the grid" if least is None else f"{least / TERA:.2g} TOPS",
        ])  # fmt: skip
    return head, rows


def closest_checks_rows(run: ReproduceRun) -> tuple[list[str], list[list[str]]]:
    """Every figure for the closest machine against the closest denominator, beside the reconstruction."""
    inv = run.inverse
    assert inv is not None
    a = inv.best
    head = [
        "figure",
        "paper",
        f"reconstruction ({ARRAY_ARCH})",
        f"closest: {machine_label(a.closest.params)}",
    ]
    rows = [
        [c.claim, c.paper, f"{r.ours:.3g}x", f"{c.ours:.3g}x"]
        for r, c in zip(a.reconstruction.checks, a.closest.checks, strict=True)
    ]
    return head, rows


def beyond_rows(run: ReproduceRun) -> tuple[list[str], list[list[str]]]:
    inv = run.inverse
    assert inv is not None
    head = ["budget (the reconstruction's)", "fastest machine within it", "area", "on-chip power",
            "latency (geomean)", "speedup over the reconstruction", "speedup over"]  # fmt: skip
    rows = [
        [f"{b.budget} <= {b.limit:.3g} {'W' if b.budget == 'power' else 'mm^2'}", machine_label(b.params),
         f"{b.area_mm2:.3g} mm^2", f"{b.power_w:.3g} W", si(b.latency_geomean_s, "s"),
         f"{b.speedup_over_reconstruction:.3g}x",
         "; ".join(f"{k}: {v:.3g}x" for k, v in b.speedup_vs)]
        for b in inv.beyond
    ]  # fmt: skip
    return head, rows


def inverse_lines(run: ReproduceRun) -> list[str]:
    """The answer in sentences."""
    inv = run.inverse
    assert inv is not None
    b = inv.best
    tol = inv.tolerance
    out = [
        f"{b.machines} machines x {len(inv.answers)} GPU denominators (board x software stack), "
        f"{len(inv.workloads)} workloads; a figure holds within {tol:g}x of the abstract's (inside its "
        "range, for a range); the same-peak figures are checked against Sanger and SpAtten each.",
    ]
    held = [a for a in inv.answers if a.cheapest_power is not None]
    if held:
        out.append(
            f"All seven figures hold together against {len(held)} denominator(s): "
            + "; ".join(
                f"{a.board} / {a.stack}, cheapest by power {_verdict_cell(a.cheapest_power)}" for a in held
            )
        )
    else:
        out.append(
            "No machine of the grid makes all seven figures hold together against any denominator. The "
            f"closest: {_verdict_cell(b.closest)} against {b.board} / {b.stack}."
        )
    gpu_held = [a for a in inv.answers if a.closest_gpu is not None and a.closest_gpu.gpu_distance <= tol]
    if gpu_held:
        out.append(
            "The three figures against the GPU alone (speedup geomean and max, energy efficiency) hold "
            "against: "
            + "; ".join(f"{a.board} / {a.stack} ({_verdict_cell(a.closest_gpu, gpu=True)})" for a in gpu_held)
        )
    else:
        g = min((a for a in inv.answers if a.closest_gpu), key=lambda a: a.closest_gpu.gpu_distance)
        out.append(
            "The three figures against the GPU alone hold against no denominator; the closest: "
            f"{_verdict_cell(g.closest_gpu, gpu=True)} against {g.board} / {g.stack}."
        )
    if inv.closest_peer is not None:
        p = inv.closest_peer
        out.append(
            f"The same-peak figures alone (any denominator): closest {machine_label(p.params)}, off by "
            f"{p.peer_distance:.2f}x; the reconstruction is off by {b.reconstruction.peer_distance:.2f}x "
            "(our Sanger / SpAtten models are further behind the array than the abstract's range says)."
            if p.peer_distance > tol
            else f"The same-peak figures alone (any denominator) hold for {machine_label(p.params)}."
        )
    return out


def _paper_shape() -> str:
    """The shape of the abstract's ratios: max / mean speedup and energy efficiency / speedup."""
    top, avg, eff = PAPER.speedup_vs_xavier_max, PAPER.speedup_vs_xavier_avg, PAPER.energy_eff_vs_xavier
    return (
        f"Paper: max / mean speedup {top.value:g} / {avg.value:g} = {PAPER.spread:.2f}; energy efficiency / "
        f"speedup {eff.value:g} / {avg.value:g} = {PAPER.power_ratio:.2f}."
    )


def _validation_md(run: ReproduceRun) -> list[str]:
    v = run.facts.gpu_validation
    return [] if v is None else [v.line(), ""]


def _status_lines(run: ReproduceRun) -> list[str]:
    out = [run.notice] if run.notice else []
    for backend, status in run.array.items():
        out.append(f"dataflow array ({backend}): {status}")
    return out


# ---- summary.md ----------------------------------------------------------------------------------------
def _inverse_md(run: ReproduceRun) -> list[str]:
    if run.inverse is None:
        return []
    return [
        "## The inverse question: which machine and which denominator make the abstract's figures hold",
        "",
        *(f"- {line}" for line in inverse_lines(run)),
        "",
        md_table(*inverse_rows(run)),
        "",
        md_table(*closest_checks_rows(run)),
        "",
        "### Beyond the paper: the fastest machine at the reconstruction's power / area",
        "",
        md_table(*beyond_rows(run)),
        "",
    ]


def _swings_md(run: ReproduceRun) -> list[str]:
    if not run.comparisons.swings:
        return []
    return [f"### {_swings_title()}", "", md_table(*swing_rows(run)), ""]


def _decoder_md(run: ReproduceRun) -> list[str]:
    if run.decoder is None:
        return []
    return [
        "## Decoders with structured MLPs (the successor's workloads): array vs GPU stacks",
        "",
        *(f"- {line}" for line in decoder_lines(run.decoder)),
        "",
        md_table(*decoder_rows(run.decoder)),
        "",
        "### Block size sweep: the MLP projections' FLOP efficiency and the energy per prefill",
        "",
        md_table(*block_sweep_rows(run.decoder)),
        "",
    ]


def render_summary(run: ReproduceRun, figure_dir: str | None = "figures") -> str:
    s, p = run.suite, PAPER
    parts = [
        f"# swallowtail reproduce -- suite `{s.name}`",
        "",
        f"swallowtail {run.version}; {len(s.workloads)} workloads x {len(run.targets)} targets; "
        f"{s.description}.",
        "",
        "## Array status",
        "",
        *(f"- **{line}**" for line in _status_lines(run)),
        "",
        "## Headline, beside the paper's abstract",
        "",
        "Paper (arXiv 2411.00734, abstract): vs Jetson Xavier NX up to "
        f"{p.speedup_vs_xavier_max.text} speedup ({p.speedup_vs_xavier_avg.text} average) and "
        f"{p.energy_eff_vs_xavier.text} energy efficiency on attention workloads; vs state-of-the-art "
        "attention accelerators of the same peak performance "
        f"{p.efficiency_vs_same_peak.compact} efficiency and "
        f"{p.energy_reduction_vs_same_peak.compact} energy reduction.",
        "",
        md_table(*headline_rows(run)),
        "",
        "## Why ours differ",
        "",
        *(f"- {line}" for line in run.comparisons.why),
        "",
        "## The denominator: every GPU board and software stack",
        "",
        *_validation_md(run),
        _paper_shape(),
        "",
        md_table(*gpu_pair_rows(run)),
        "",
        *_swings_md(run),
        *_inverse_md(run),
        *_decoder_md(run),
        "## FABNet: the physical model vs its authors' simulator (fidelity='reference')",
        "",
        *(f"- {line}" for line in run.facts.fabnet_differences),
        "",
        "## Latency / energy per workload and target",
        "",
        md_table(*_latency_table(run)),
        "",
    ]
    if figure_dir is not None:
        parts += ["## Figures", ""]
        for fid, title, caption, _ in _figures_of(run):
            parts += [f"### {title}", "", f"![{title}]({figure_dir}/{fid}.png)", "", caption, ""]
    return "\n".join(parts)


# ---- report.html ---------------------------------------------------------------------------------------
def _inverse_html(run: ReproduceRun) -> str:
    if run.inverse is None:
        return ""
    e = html.escape
    lines = "".join(f"<li>{e(line)}</li>" for line in inverse_lines(run))
    return (
        "<h2>The inverse question: which machine and which denominator make the abstract's figures hold</h2>"
        f"<ul>{lines}</ul>{html_table(*inverse_rows(run), cls='wide')}"
        "<h3>Every figure, closest machine vs the reconstruction</h3>"
        f"{html_table(*closest_checks_rows(run))}"
        f"<h3>Beyond the paper: the fastest machine at the reconstruction's power / area</h3>"
        f"{html_table(*beyond_rows(run))}"
    )


def _swings_html(run: ReproduceRun) -> str:
    if not run.comparisons.swings:
        return ""
    return f"<h3>{html.escape(_swings_title())}</h3>{html_table(*swing_rows(run), cls='wide')}"


def _decoder_html(run: ReproduceRun) -> str:
    if run.decoder is None:
        return ""
    lines = "".join(f"<li>{html.escape(line)}</li>" for line in decoder_lines(run.decoder))
    return (
        "<h2>Decoders with structured MLPs (the successor's workloads): array vs GPU stacks</h2>"
        f"<ul>{lines}</ul>{html_table(*decoder_rows(run.decoder), cls='wide')}"
        "<h3>Block size sweep: the MLP projections' FLOP efficiency and the energy per prefill</h3>"
        f"{html_table(*block_sweep_rows(run.decoder), cls='wide')}"
    )


def render_html(run: ReproduceRun, figures: list[FigureOut] | None = None) -> str:
    e = html.escape
    figures = render_figures(run) if figures is None else figures
    s = run.suite
    substitute = run.target(run.array_key).substitute
    banner_cls = "warn" if substitute else "ok"
    banner = "<br>".join(e(line) for line in _status_lines(run))
    p = PAPER
    paper = (
        "<div class='paper'><b>The paper's abstract</b> (arXiv 2411.00734)<ul>"
        f"<li>vs Jetson Xavier NX: up to <b>{p.speedup_vs_xavier_max.text}</b> speedup "
        f"(<b>{p.speedup_vs_xavier_avg.text}</b> average) and <b>{p.energy_eff_vs_xavier.text}</b> "
        "energy efficiency on attention workloads</li>"
        "<li>vs state-of-the-art attention accelerators of the same peak performance: "
        f"<b>{p.efficiency_vs_same_peak.compact}</b> efficiency and "
        f"<b>{p.energy_reduction_vs_same_peak.compact}</b> energy reduction</li></ul></div>"
    )
    targets = html_table(
        ["key", "label", "backend", "options", "network", "stand-in?", "stands for"],
        [
            [t.key, t.label, t.backend, ", ".join(f"{k}={v}" for k, v in t.options) or "-", t.network,
             "yes (roofline floor)" if t.substitute else "no", ", ".join(t.stands_for)]
            for t in run.targets
        ],
    )  # fmt: skip
    figs = "".join(
        f"<figure id='fig-{e(f.id)}'><h3>{e(f.title)}</h3><img alt='{e(f.title)}' src='{f.data_uri}'>"
        f"<figcaption>{e(f.caption)}</figcaption></figure>"
        for f in figures
    )
    why = "".join(f"<li>{e(line)}</li>" for line in run.comparisons.why)
    fabnet = "".join(f"<li>{e(line)}</li>" for line in run.facts.fabnet_differences)
    validation = "".join(f"<p>{e(line)}</p>" for line in _validation_md(run) if line)
    groups = sorted({w.group for w in s.workloads}, key=lambda g: (g != GROUP_LRA, g))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>swallowtail reproduce: {e(s.name)}</title>
<style>{CSS}</style></head>
<body data-images-loaded="pending" data-figures="{len(figures)}">
<h1>Multilayer dataflow: the paper's evaluation, reproduced</h1>
<p class="meta">swallowtail {e(run.version)} &middot; suite <b>{e(s.name)}</b>:
{len(s.workloads)}
workloads ({e(", ".join(groups))}) x {len(run.targets)} targets &middot; {e(s.description)}</p>
<div class="banner {banner_cls}">{banner}</div>
<h2>Headline</h2>
<div class="headline">{paper}{html_table(*headline_rows(run))}</div>
<h2>Why ours differ</h2><ul>{why}</ul>
<h2>The denominator: every GPU board and software stack</h2>
{validation}
<p>{e(_paper_shape())}</p>
{html_table(*gpu_pair_rows(run), cls="wide")}
{_swings_html(run)}
{_inverse_html(run)}
{_decoder_html(run)}
<h2>FABNet: the physical model vs its authors' simulator</h2><ul>{fabnet}</ul>
<h2>Figures</h2>{figs}
<h2>Latency / energy per workload and target</h2>{html_table(*_latency_table(run), cls="wide")}
<h2>Targets</h2>{targets}
<p class="meta">Every number comes from results.json beside this file (one Result per run). No constant was
tuned to the paper's figures.</p>
<script>{LOAD_SCRIPT}</script>
</body></html>
"""


__all__ = [
    "FIGURES",
    "FigureOut",
    "focus_workload",
    "render_figures",
    "render_html",
    "render_summary",
    "timeline",
]
