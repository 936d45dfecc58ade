"""The decoder study's part of the report: tables, sentences and a figure (`swallowtail.experiments.decoder`).

Every number is read from the study's rows; nothing is computed but ratios of them.
"""

from __future__ import annotations

import math
from typing import Any

from swallowtail.experiments.records import DecoderStudy
from swallowtail.plotting import FIG_DPI, FIG_H_IN, FIG_W_IN, PALETTE, pyplot

#: FLOPs -> TFLOP
TERA = 1e12
#: bar width share of a model's slot
GROUP_WIDTH = 0.8


def _fmt_s(t: float) -> str:
    return f"{t:.3g} s" if t >= 1 else f"{t * 1e3:.3g} ms"


def decoder_rows(study: DecoderStudy) -> tuple[list[str], list[list[str]]]:
    """Per model: its MLP, FLOPs, the prefill latency on every target, and the first array's speedup over
    every GPU target."""
    targets = study.arrays + study.gpus
    array = study.arrays[0]
    head = ["model", "MLP", "TFLOP", *(f"latency: {t}" for t in targets)]
    head += [f"{array} speedup vs {g}" for g in study.gpus]
    rows = []
    for m in study.models:
        r0 = study.row(m, array)
        cells = [m, r0.mlp, f"{r0.flops / TERA:.2f}"]
        cells += [_fmt_s(study.row(m, t).latency_s) for t in targets]
        cells += [f"{study.row(m, g).latency_s / r0.latency_s:.3g}x" for g in study.gpus]
        rows.append(cells)
    return head, rows


def block_sweep_rows(study: DecoderStudy) -> tuple[list[str], list[list[str]]]:
    """The block size sweep: the MLP projections' FLOP efficiency and energy per model on every target."""
    targets = study.arrays + study.gpus
    head = ["model", "MLP", *(f"MLP FLOP efficiency: {t}" for t in targets)]
    head += [f"energy: {t}" for t in targets]
    rows = []
    for m in study.models:
        rs = [study.row(m, t) for t in targets]
        rows.append(
            [m, rs[0].mlp, *(f"{r.mlp_efficiency:.2f}" for r in rs), *(f"{r.energy_j:.3g} J" for r in rs)]
        )
    return head, rows


def decoder_lines(study: DecoderStudy) -> list[str]:
    """What the study shows, in sentences (every number from its rows)."""
    array, gpu = study.arrays[0], study.gpus[0]
    dense = next((m for m in study.models if study.row(m, array).mlp == "dense"), study.models[0])
    out = [
        f"Prefill of {study.seq_len} tokens. The structured MLPs cut the FLOPs: "
        + ", ".join(
            f"{study.row(m, array).mlp} {study.row(m, array).flops / study.row(dense, array).flops:.2f}x"
            for m in study.models
            if m != dense
        )
        + f" of {dense}'s."
    ]
    for t in (array, gpu):
        d = study.row(dense, t)
        gains = ", ".join(
            f"{study.row(m, t).mlp} {d.latency_s / study.row(m, t).latency_s:.2f}x"
            for m in study.models
            if m != dense
        )
        out.append(f"Prefill speedup over the dense MLP on {t}: {gains}.")
    best = max(study.models, key=lambda m: study.row(m, gpu).latency_s / study.row(m, array).latency_s)
    ratio = study.row(best, gpu).latency_s / study.row(best, array).latency_s
    out.append(
        f"{array} against {gpu}: {ratio:.3g}x on {best}, the most favourable model; "
        + ", ".join(
            f"{m} {study.row(m, gpu).latency_s / study.row(m, array).latency_s:.3g}x" for m in study.models
        )
        + "."
    )
    return out


def fig_decoder(study: DecoderStudy) -> Any:
    """Prefill latency (left, log) and the MLP projections' FLOP efficiency (right) per model and target."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(FIG_W_IN, FIG_H_IN), dpi=FIG_DPI, layout="constrained")
    targets = study.arrays + study.gpus
    width = GROUP_WIDTH / len(targets)
    for i, t in enumerate(targets):
        xs = [j + (i - (len(targets) - 1) / 2) * width for j in range(len(study.models))]
        rows = [study.row(m, t) for m in study.models]
        axes[0].bar(xs, [r.latency_s for r in rows], width=width, color=PALETTE[i % len(PALETTE)], label=t)
        axes[1].bar(xs, [r.mlp_efficiency for r in rows], width=width, color=PALETTE[i % len(PALETTE)])
    for ax, ylabel in ((axes[0], "prefill latency (s)"), (axes[1], "MLP FLOP efficiency")):
        ax.set_xticks(range(len(study.models)))
        ax.set_xticklabels(study.models, rotation=25, ha="right")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_yscale("log")
    axes[1].set_ylim(0, max(1.0, math.ceil(max(r.mlp_efficiency for r in study.rows) * 10) / 10))
    axes[0].set_title(f"prefill of {study.seq_len} tokens")
    axes[1].set_title("MLP projections: FLOPs / (peak x their time)")
    fig.legend(loc="outside lower center", ncols=len(targets), fontsize="small")
    return fig


__all__ = ["block_sweep_rows", "decoder_lines", "decoder_rows", "fig_decoder"]
