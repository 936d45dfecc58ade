"""Accuracy sweep over the hybrid family: how much attention does a task need, and what does it cost?

From one base config (FABNet-style: ABfly attention blocks, butterfly FFN) the sweep trains, with the same
TrainConfig (steps, schedule, learning rate, seed, d_model) for every model:

    attention_layers = 0           "all-fourier"   every block FBfly (Fourier mixing + butterfly FFN)
    0 < attention_layers < n       "hybrid-k"      k ABfly blocks placed by the base layout, the rest FBfly
    attention_layers = n           "all-attention" every block ABfly (butterfly projections)
    include_transformer            "transformer"   every block a vanilla dense block (dense attention and FFN)

and records per model: test accuracy (best-validation weights), forward FLOPs and parameters per example
at the task's sequence length (`swallowtail.nn.counts`), training samples/s on this machine, and the
latency of one inference on the dataflow array. Latency comes from the registered "dataflow-multilayer"
backend (compile + simulate) when it exists; otherwise from the roofline floor of the array
(`df-4x4-simd8`), labelled as such -- a lower bound, not a simulation.

Files (when out_dir is set): one training run per model in out_dir/<name>/, and sweep.json + sweep.png.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from swallowtail.atomicio import write_atomic, write_text_atomic
from swallowtail.errors import SpecError, check_bool, is_int
from swallowtail.nn.config import HybridConfig
from swallowtail.progress import PlainProgress
from swallowtail.progress import progress as progress_bar
from swallowtail.tasks.base import TaskData, check_task_data
from swallowtail.train.config import TrainConfig
from swallowtail.train.loop import TrainResult, train
from swallowtail.workload.lower import lower

SWEEP_FILE = "sweep.json"
SWEEP_PLOT = "sweep.png"
#: the array the latency column is for (the paper's machine, as reconstructed in docs/architecture.md)
LATENCY_ARCH = "df-4x4-simd8"
#: the whole-network simulator backend, used when registered
SIMULATOR_BACKEND = "dataflow-multilayer"
FALLBACK_BACKEND = "roofline"
SIMULATOR_LABEL = "simulated latency (dataflow-multilayer)"
FALLBACK_LABEL = "roofline latency (simulator not available)"
PLOT_SIZE_IN = (11.0, 4.5)
PLOT_DPI = 100

KIND_FOURIER, KIND_HYBRID, KIND_ATTENTION, KIND_TRANSFORMER = "fourier", "hybrid", "attention", "transformer"


@dataclass(frozen=True)
class SweepModel:
    """One member of the family: its name, kind and config."""

    name: str
    kind: str
    attention_layers: int
    config: HybridConfig


def sweep_models(
    base: HybridConfig, attention_layers: Sequence[int], include_transformer: bool = True
) -> list[SweepModel]:
    """The family of `base` with each count of attention blocks, plus the dense Transformer."""
    if not isinstance(base, HybridConfig):
        raise SpecError("model", type(base).__name__, "a HybridConfig")
    if not isinstance(attention_layers, Sequence):  # an int was "'int' object is not iterable"
        raise SpecError("attention_layers", attention_layers, "a list of counts of attention blocks")
    check_bool("include_transformer", include_transformer)
    n = base.n_layers
    counts = list(attention_layers)
    if not counts and not include_transformer:
        raise SpecError("attention_layers", counts, "at least one count (or include the Transformer)")
    for k in counts:
        if not is_int(k) or not 0 <= k <= n:
            raise SpecError("attention_layers", k, f"integers in 0..n_layers = 0..{n}")
    if len(set(counts)) != len(counts):
        raise SpecError("attention_layers", counts, "distinct counts")
    # an explicit index layout fits one count only: the family places its blocks by the named layout
    layout = base.layout if isinstance(base.layout, str) else "top"
    models = []
    for k in sorted(counts):
        cfg = base.replace(attention_layers=k, layout=layout)
        if k == 0:
            name, kind = "all-fourier", KIND_FOURIER
        elif k < n:
            name, kind = f"hybrid-{k}", KIND_HYBRID
        else:
            name, kind = "all-attention", KIND_ATTENTION
        models.append(SweepModel(name, kind, k, cfg))
    if include_transformer:
        cfg = base.replace(attention_layers=n, layout=layout, attention="dense", ffn="dense")
        models = [m for m in models if m.config != cfg]  # the base may already be the Transformer
        models.append(SweepModel("transformer", KIND_TRANSFORMER, n, cfg))
    return models


@dataclass
class SweepEntry:
    """One trained model of the sweep."""

    name: str
    kind: str
    attention_layers: int
    accuracy: float | None  # test accuracy of the best-validation weights
    best_val_acc: float | None
    flops: int  # forward FLOPs per example at the task's seq_len
    params: int
    flop_ratio_vs_transformer: float | None  # transformer FLOPs / these FLOPs
    train_samples_per_s: float | None
    latency_s: float  # one inference (batch 1) on the array, see the sweep's latency_label
    train_wall_s: float
    out_dir: str | None
    block_kinds: list[str] = field(default_factory=list)


@dataclass
class SweepResult:
    task: str
    source: str
    seq_len: int
    train_config: dict[str, Any]
    latency_backend: str
    latency_arch: str
    latency_label: str
    entries: list[SweepEntry]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["models"] = d.pop("entries")
        return d

    def entry(self, name: str) -> SweepEntry:
        for e in self.entries:
            if e.name == name:
                return e
        raise SpecError("model", name, f"one of {[e.name for e in self.entries]}")


def latency_backend() -> tuple[Any, str, str]:
    """(backend, its name, the label of its latency column) for the array `LATENCY_ARCH`."""
    from swallowtail.backends import get_backend, list_backends

    if SIMULATOR_BACKEND in list_backends():
        return get_backend(SIMULATOR_BACKEND, arch=LATENCY_ARCH), SIMULATOR_BACKEND, SIMULATOR_LABEL
    return get_backend(FALLBACK_BACKEND, arch=LATENCY_ARCH), FALLBACK_BACKEND, FALLBACK_LABEL


def _latency(backend: Any, config: HybridConfig, seq_len: int) -> float:
    return float(backend.run(lower(config, seq_len, batch=1)).latency_s)


def _nan_to_none(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def accuracy_sweep(
    base_config: HybridConfig,
    task_data: TaskData,
    train_config: TrainConfig,
    attention_layers: Sequence[int],
    *,
    include_transformer: bool = True,
    resume: bool = False,
    progress: bool = True,
) -> SweepResult:
    """Train every model of `sweep_models(base_config, ...)` on `task_data` with `train_config`.

    `train_config.out_dir` is the sweep's directory (each model trains in a sub-directory named after it);
    `resume` continues (or, when finished, just re-evaluates) runs found there.
    """
    models = sweep_models(base_config, attention_layers, include_transformer)
    check_task_data(task_data)
    if not isinstance(train_config, TrainConfig):
        raise SpecError("train_config", type(train_config).__name__, "a TrainConfig")
    backend, backend_name, label = latency_backend()
    out = None if train_config.out_dir is None else Path(train_config.out_dir)
    entries: list[SweepEntry] = []
    seq_len = task_data.seq_len if train_config.seq_len is None else train_config.seq_len
    source = task_data.source
    bar = _sweep_bar() if progress else None
    try:
        outer = None if bar is None else bar.add_task("sweep", total=len(models), info="")
        for m in models:
            if bar is not None:
                bar.update(outer, description=f"sweep: {m.name}")
            tc = train_config.replace(out_dir=None if out is None else str(out / m.name))
            r = train(m.config, task_data, tc, resume=resume, progress=bar if bar is not None else False)
            used = HybridConfig.from_dict(r.model_config)
            seq_len, source = r.seq_len, r.source
            entries.append(_entry(m, r, used, _latency(backend, used, r.seq_len)))
            if bar is not None:
                acc = "-" if entries[-1].accuracy is None else f"{entries[-1].accuracy:.3f}"
                bar.update(outer, advance=1, info=f"{m.name}: test acc {acc}")
    finally:
        if bar is not None:
            bar.stop()
    ref = next((e for e in entries if e.kind == KIND_TRANSFORMER), None)
    if ref is not None:
        for e in entries:
            e.flop_ratio_vs_transformer = ref.flops / e.flops
    result = SweepResult(
        task=task_data.name,
        source=source,
        seq_len=seq_len,
        train_config=train_config.to_dict(),
        latency_backend=backend_name,
        latency_arch=LATENCY_ARCH,
        latency_label=label,
        entries=entries,
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / SWEEP_FILE, json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
        plot_sweep(result, out / SWEEP_PLOT)
    return result


def _sweep_bar() -> Progress | PlainProgress:
    """The sweep's progress bar (on stderr), started: one row per model trained."""
    bar = progress_bar(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    bar.start()
    return bar


def _entry(m: SweepModel, r: TrainResult, used: HybridConfig, latency_s: float) -> SweepEntry:
    """The sweep's row of model `m` (a `sweep_models` entry) from its training result `r`."""
    return SweepEntry(
        name=m.name,
        kind=m.kind,
        attention_layers=m.attention_layers,
        accuracy=_nan_to_none(r.test_acc),
        best_val_acc=_nan_to_none(r.best_val_acc),
        flops=r.flops,
        params=r.params,
        flop_ratio_vs_transformer=None,
        train_samples_per_s=_nan_to_none(r.train_samples_per_s),
        latency_s=latency_s,
        train_wall_s=r.wall_s,
        out_dir=r.out_dir,
        block_kinds=used.block_kinds(),
    )


def plot_sweep(result: SweepResult, path: str | Path) -> None:
    """Accuracy against FLOPs and against latency on the array (log x), one labelled point per model."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    fig = Figure(figsize=PLOT_SIZE_IN)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    pts = [e for e in result.entries if e.accuracy is not None]
    for ax, xs, xlabel in (
        (axes[0], [e.flops for e in pts], "forward FLOPs per example"),
        (axes[1], [e.latency_s * 1e3 for e in pts], f"{result.latency_label}, ms ({result.latency_arch})"),
    ):
        ax.plot(xs, [e.accuracy for e in pts], "o")
        for x, e in zip(xs, pts, strict=True):
            ax.annotate(e.name, (x, e.accuracy), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # labels on decades only: minor ones collide
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy")
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"{result.task}: accuracy vs cost ({result.seq_len} tokens)")
    fig.tight_layout()
    write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=PLOT_DPI), mode="wb")
