"""What every report of swallowtail draws with: figure geometry and colours, PNG rendering (matplotlib,
Agg), SI-prefixed numbers, HTML / Markdown tables and the page style of a self-contained report.

Used by `swallowtail reproduce`'s report (`swallowtail.experiments.report`) and the design-sweep report
(`swallowtail.dse.report`), so the two look alike and nothing is written twice.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass
from typing import Any

#: figure geometry: inches and dots per inch (1300 px wide at 100 dpi, readable in a 1400 px window)
FIG_W_IN = 13.0
FIG_H_IN = 5.2
FIG_DPI = 100
#: colour cycle (matplotlib tab10)
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#393b79", "#bcbd22", "#17becf",
)  # fmt: skip
#: SI prefixes, largest first, for labels
SI_PREFIXES = (
    ("T", 1e12),
    ("G", 1e9),
    ("M", 1e6),
    ("k", 1e3),
    ("", 1.0),
    ("m", 1e-3),
    ("u", 1e-6),
    ("n", 1e-9),
    ("p", 1e-12),
)


@dataclass(frozen=True)
class FigureOut:
    """A rendered figure: an id (file stem), a title, a caption, the PNG bytes."""

    id: str
    title: str
    caption: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (imported when the first figure is drawn: it is heavy)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def si(x: float, unit: str = "", decimals: int | None = None) -> str:
    """A number with an SI prefix, 3 significant digits: si(0.0745, 's') -> '74.5 ms', si(2420.0, 'J') ->
    '2.42 kJ'; with `decimals`, a prefixed number gets that many decimals (tables that line up:
    si(1.5e9, 'FLOP', 2) -> '1.50 GFLOP'), an unprefixed one still 3 significant digits."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g} {unit}".rstrip()
    prefix, scale = next(((p, s) for p, s in SI_PREFIXES if abs(x) >= s), SI_PREFIXES[-1])
    v = x / scale
    text = f"{v:.{decimals}f}" if decimals is not None and prefix else f"{v:.3g}"
    return f"{text} {prefix}{unit}".rstrip()


def png(fig: Any) -> bytes:
    """The figure as PNG bytes (no software tag: the same figure gives the same bytes); the figure closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIG_DPI, metadata={"Software": None})
    pyplot().close(fig)
    return buf.getvalue()


# ---- HTML and Markdown ---------------------------------------------------------------------------------
CSS = """
body { font-family: -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif; margin: 24px auto;
       max-width: 1340px; color: #1b1b1b; line-height: 1.45; padding: 0 16px; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 4px; margin-top: 1.6em; }
.meta { color: #555; }
.banner { padding: 10px 14px; border-radius: 6px; margin: 12px 0; font-weight: 600; }
.banner.warn { background: #fff4d6; border: 1px solid #e0b84a; }
.banner.ok { background: #e6f5e8; border: 1px solid #6cb47a; }
.headline { display: grid; grid-template-columns: 1fr 2.4fr; gap: 20px; align-items: start; }
.paper { background: #f4f6fa; border-left: 4px solid #4a6fa5; padding: 10px 14px; }
table { border-collapse: collapse; font-size: 14px; width: 100%; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef1f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.wide { overflow-x: auto; font-size: 12px; }
figure { margin: 24px 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; font-size: 14px; margin-top: 4px; }
li { margin-bottom: 6px; }
"""

#: sets data-images-loaded="N/M" on <body> once every image has had its chance to load
LOAD_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images-loaded', ok + '/' + imgs.length);
});
"""


def html_table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    e = html.escape
    th = "".join(f"<th>{e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<div class="{cls}"><table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>'


def md_table(head: list[str], rows: list[list[str]]) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


__all__ = [
    "CSS",
    "FIG_DPI",
    "FIG_H_IN",
    "FIG_W_IN",
    "LOAD_SCRIPT",
    "PALETTE",
    "FigureOut",
    "html_table",
    "md_table",
    "png",
    "pyplot",
    "si",
]
