"""Per-PE activity timelines of a simulated kernel: PNG (matplotlib, Agg) or self-contained HTML.

Rows are PEs, x is time (cycles, binned), and each PE row has five stripes: compute (the compute pipeline
issued), xfer, load, store (those pipelines issued), and stall (the compute pipeline did not issue). A
stripe's intensity is the fraction of the bin's cycles with that activity.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from swallowtail.atomicio import write_atomic, write_text_atomic
from swallowtail.errors import SpecError
from swallowtail.sim.stats import KernelTrace

#: activity kinds in the timing engine's trace events, and their colours
KINDS = ("compute", "xfer", "load", "store", "stall")
COLOURS = {"compute": "#2a9d3f", "xfer": "#1f6fd1", "load": "#c98a00", "store": "#8e44ad", "stall": "#d62728"}
#: largest number of time bins drawn
MAX_BINS = 1200
TRACE_SUFFIXES = (".png", ".html", ".htm")


def activity(trace: KernelTrace, bins: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(fractions (PEs, kinds, bins), bin edges in cycles) from the engine's trace events."""
    cycles = max(1, trace.cycles)
    n_pe = len(trace.pes)
    nb = bins or min(MAX_BINS, cycles)
    edges = np.linspace(0, cycles, nb + 1)
    width = np.diff(edges)
    ev = np.asarray(trace.events, dtype=np.int64).reshape(-1, 3)
    counts = np.zeros((n_pe, len(KINDS), nb))
    if ev.size:
        b = np.clip(np.searchsorted(edges, ev[:, 2], side="right") - 1, 0, nb - 1)
        np.add.at(counts, (ev[:, 0], ev[:, 1], b), 1.0)
    frac = counts / width[None, None, :]
    frac[:, 4, :] = 1.0 - frac[:, 0, :]
    return np.clip(frac, 0.0, 1.0), edges


def _figure(trace: KernelTrace, title: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Patch

    frac, edges = activity(trace)
    n_pe, n_k, nb = frac.shape
    img = np.ones((n_pe * (n_k + 1), nb, 3))
    for e in range(n_pe):
        for k, kind in enumerate(KINDS):
            c = np.array(to_rgb(COLOURS[kind]))
            img[e * (n_k + 1) + k] = 1.0 - frac[e, k][:, None] * (1.0 - c[None, :])
    fig, ax = plt.subplots(figsize=(12, max(3.0, 0.32 * n_pe + 1.5)))
    ax.imshow(img, aspect="auto", interpolation="nearest", extent=(edges[0], edges[-1], img.shape[0], 0))
    ax.set_yticks([e * (n_k + 1) + n_k / 2 for e in range(n_pe)])
    ax.set_yticklabels([f"PE {tuple(p)}" for p in trace.pes], fontsize=7)
    ax.set_xlabel("cycle")
    ax.set_title(title)
    ax.legend(
        handles=[Patch(color=COLOURS[k], label=k) for k in KINDS], loc="upper right", fontsize=7, ncol=5
    )
    fig.tight_layout()
    return fig


def write_trace(
    trace: KernelTrace, path: str | Path, title: str = "", summary: list[str] | None = None
) -> Path:
    """Write the timeline to `path`: .png (image) or .html / .htm (a self-contained page)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TRACE_SUFFIXES:
        raise SpecError("trace", str(path), f"a file name ending in one of {list(TRACE_SUFFIXES)}")
    fig = _figure(trace, title)
    import matplotlib.pyplot as plt

    if suffix == ".png":
        write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=120), mode="wb")
        plt.close(fig)
        return path
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    img = base64.b64encode(buf.getvalue()).decode("ascii")
    items = "".join(f"<li>{html.escape(s)}</li>" for s in (summary or []))
    legend = " ".join(
        f'<span style="background:{COLOURS[k]};color:white;padding:2px 6px;margin:2px">{k}</span>'
        for k in KINDS
    )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
        + html.escape(title or "swallowtail kernel trace")
        + "</title></head><body style='font-family:sans-serif'>"
        + f"<h2>{html.escape(title)}</h2><p>Rows: PEs (five stripes each); x: cycles. {legend}</p>"
        + f"<img alt='per-PE activity timeline' src='data:image/png;base64,{img}' style='max-width:100%'/>"
        + f"<ul>{items}</ul></body></html>"
    )
    write_text_atomic(path, page)
    return path
