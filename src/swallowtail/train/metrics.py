"""The metrics log of a run: one JSON record per line in `metrics.jsonl`, and its plot `metrics.png`.

Training records: {"step", "train_loss", "train_acc", "lr", "grad_norm", "samples_per_s", "elapsed_s"};
evaluation records: {"step", "val_loss", "val_acc"}. `step` counts finished optimizer steps. A resumed run
first drops the records of steps after its checkpoint (the killed run may have logged past it), so the
file reads as one uninterrupted run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from swallowtail.atomicio import write_atomic, write_text_atomic

METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "metrics.png"
PLOT_SIZE_IN = (10.0, 4.0)
PLOT_DPI = 100


class MetricsLog:
    """Append-only JSON lines at `path`; `None` path = keep records in memory only."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self.records: list[dict[str, Any]] = []

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")

    def resume(self, step: int) -> None:
        """Load the records up to `step` and rewrite the file without later ones."""
        self.records = [r for r in read(self.path) if r["step"] <= step] if self.path else []
        if self.path is not None:
            write_text_atomic(self.path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records))

    def reset(self) -> None:
        self.records = []
        if self.path is not None:
            write_text_atomic(self.path, "")


def read(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl (a missing file or a torn last line count as no record)."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line torn by a kill
    return out


def plot(records: list[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """Training loss and train / validation accuracy against step, as a PNG (matplotlib, Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    train = [r for r in records if "train_loss" in r]
    val = [r for r in records if "val_acc" in r]
    fig = Figure(figsize=PLOT_SIZE_IN)
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot([r["step"] for r in train], [r["train_loss"] for r in train], label="train")
    ax_loss.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="validation")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("cross-entropy loss")
    ax_loss.legend()
    ax_acc.plot([r["step"] for r in train], [r["train_acc"] for r in train], label="train (window)")
    ax_acc.plot([r["step"] for r in val], [r["val_acc"] for r in val], "o-", label="validation")
    ax_acc.set_xlabel("step")
    ax_acc.set_ylabel("accuracy")
    ax_acc.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=PLOT_DPI), mode="wb")
