"""`swallowtail train` and `swallowtail accuracy-sweep`: train a network on an LRA-like task, or the whole
hybrid family (all-Fourier, hybrids, Transformer) with accuracy against FLOPs and array latency.

    swallowtail train --task listops --model lra-listops --steps 200 --seq-len 256 \\
        --task-param n_train=2000 --task-param max_len=256 --out runs/listops
    swallowtail accuracy-sweep --task pathfinder --attention-layers 0,1 --steps 300 \\
        --task-param contour_length=14 --task-param n_images=4000 --out sweeps/pathfinder

Registered by the CLI root: `app.command("train")(train.train)` and
`app.command("accuracy-sweep")(train.accuracy_sweep)`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Table

from swallowtail.cli._common import check_out_dir, console, emit_json, err_console, si, user_errors
from swallowtail.errors import SpecError

#: the network a task trains when --model is not given: its LRA preset
DEFAULT_MODEL = {
    "listops": "lra-listops",
    "text": "lra-text",
    "retrieval": "lra-retrieval",
    "image": "lra-image",
    "pathfinder": "lra-pathfinder",
}
#: exit status of a run stopped by a NaN / inf loss (2 is a usage error)
EXIT_DIVERGED = 1


def parse_task_params(items: list[str] | None) -> dict[str, Any]:
    """["n_train=2000", "data_dir=/x"] -> {"n_train": 2000, "data_dir": "/x"}; values read as YAML scalars."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SpecError("--task-param", item, "key=value, e.g. n_train=2000")
        if key in out:
            raise SpecError("--task-param", item, f"each key once ({key!r} is given twice)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        out[key] = value if isinstance(value, str | int | float | bool) or value is None else raw
    return out


def parse_counts(text: str) -> list[int]:
    """ "0,1,2" -> [0, 1, 2]."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise SpecError("--attention-layers", text, "comma-separated integers, e.g. 0,1,2") from None
    return counts


def _load(
    task: str, model: str | None, task_param: list[str] | None, check: Callable[[Any], None] | None = None
) -> tuple[Any, Any, str]:
    """(model config, task data, model spec) from the CLI's strings; `check(config)` runs before the task
    loads (generating a task can take minutes: every mistake that can be found first is)."""
    from swallowtail.cli.model import load_config
    from swallowtail.tasks import TASKS, load_task

    if task not in TASKS:
        raise SpecError("--task", task, f"one of {sorted(TASKS)}")
    spec = DEFAULT_MODEL[task] if model is None else model
    config = load_config(spec)
    params = parse_task_params(task_param)
    if check is not None:
        check(config)
    with err_console.status(f"loading task {task} ..."):
        data = load_task(task, **params)
    return config, data, spec


def _train_config(**kw: Any) -> Any:
    from swallowtail.train import TrainConfig

    return TrainConfig(**{k: (str(v) if isinstance(v, Path) else v) for k, v in kw.items()})


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


TASK_OPT = typer.Option(..., "--task", help="listops | pathfinder | image | text | retrieval.")
MODEL_OPT = typer.Option(
    None,
    "--model",
    help="A preset (see `swallowtail model list`) or a YAML config; default: the task's LRA preset.",
)
STEPS_OPT = typer.Option(1000, "--steps", help="Optimizer steps.")
SEQ_OPT = typer.Option(
    None, "--seq-len", help="Truncate / pad inputs to this many tokens (default: the task's)."
)
BATCH_OPT = typer.Option(32, "--batch-size", help="Examples per step (per process under torchrun).")
LR_OPT = typer.Option(1e-3, "--lr", help="Peak learning rate (AdamW; 10% warmup, cosine decay).")
SEED_OPT = typer.Option(0, "--seed", help="Seed of initialisation, dropout and data order.")
PARAM_OPT = typer.Option(
    None, "--task-param", help="key=value for the task loader, repeatable (e.g. n_train=2000, data_dir=DIR)."
)
EVAL_OPT = typer.Option(100, "--eval-every", help="Validate every N steps (0: at the end only).")
CKPT_OPT = typer.Option(100, "--checkpoint-every", help="Checkpoint every N steps (0: at the end only).")
THREADS_OPT = typer.Option(None, "--threads", help="torch intra-op threads (default: torch's).")
JSON_OPT = typer.Option(False, "--json", help="Print the result as JSON.")


#: where `train` writes a run given no --out: RUNS_DIR/<task>-NNN, the first NNN not yet taken
RUNS_DIR = Path("runs")


def new_run_dir(task: str, root: Path = RUNS_DIR) -> Path:
    """The first `root/<task>-NNN` (NNN = 001, 002, ...) that does not exist yet."""
    n = 1
    while (root / f"{task}-{n:03d}").exists():
        n += 1
    return root / f"{task}-{n:03d}"


@user_errors
def train(
    task: str = TASK_OPT,
    model: str | None = MODEL_OPT,
    steps: int = STEPS_OPT,
    seq_len: int | None = SEQ_OPT,
    batch_size: int = BATCH_OPT,
    lr: float = LR_OPT,
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Directory for metrics, plot, checkpoints (default: a new runs/TASK-NNN, said at the start).",
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the run whose checkpoint is in --out."),
    seed: int = SEED_OPT,
    task_param: list[str] | None = PARAM_OPT,
    eval_every: int = EVAL_OPT,
    checkpoint_every: int = CKPT_OPT,
    threads: int | None = THREADS_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Train a network on a task: adapted config, progress bar, final accuracy, FLOPs and throughput."""
    from swallowtail.train import NonFiniteLossError
    from swallowtail.train import train as run_train

    if resume and out is None:
        raise SpecError("--resume", True, "together with --out DIR, the run to continue")
    chosen = out is None
    out = new_run_dir(task) if out is None else out
    tc = _train_config(
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        seq_len=seq_len,
        out_dir=check_out_dir(out),
        eval_every=eval_every,
        checkpoint_every=checkpoint_every,
        threads=threads,
    )
    config, data, spec = _load(task, model, task_param)  # (the task name is checked here)
    if chosen:
        (err_console if json_out else console).print(f"writing the run to {out}", highlight=False)
    try:
        result = run_train(config, data, tc, resume=resume, progress=True)
    except NonFiniteLossError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=EXIT_DIVERGED) from None
    if json_out:
        emit_json(result)
        return
    t = Table(title=f"{spec} on {task}", show_header=False)
    t.add_column("quantity", style="bold")
    t.add_column("value", justify="right")
    t.add_row(
        "steps", f"{result.steps:,}" + (f" (resumed at {result.resumed_from})" if result.resumed_from else "")
    )
    t.add_row("sequence length", str(result.seq_len))
    t.add_row("test accuracy (best val)", _fmt(result.test_acc))
    t.add_row("test accuracy (final)", _fmt(result.final_test_acc))
    t.add_row("best val accuracy", f"{_fmt(result.best_val_acc)} at step {result.best_step}")
    t.add_row("train loss (last window)", _fmt(result.train_loss, ".4f"))
    t.add_row("FLOPs / example (forward)", si(result.flops, "FLOP"))
    t.add_row("parameters", f"{result.params:,}")
    t.add_row("train samples/s", _fmt(result.train_samples_per_s, ".1f"))
    t.add_row("wall time", f"{result.wall_s:.1f} s")
    if result.out_dir:
        t.add_row("files", result.out_dir)
    console.print(t)


@user_errors
def accuracy_sweep(
    task: str = TASK_OPT,
    attention_layers: str = typer.Option(
        "0,1", "--attention-layers", help="Comma-separated counts of attention blocks, e.g. 0,1,2."
    ),
    model: str | None = MODEL_OPT,
    include_transformer: bool = typer.Option(
        True,
        "--include-transformer/--no-transformer",
        help="Also train the dense Transformer (all blocks dense).",
    ),
    steps: int = STEPS_OPT,
    seq_len: int | None = SEQ_OPT,
    batch_size: int = BATCH_OPT,
    lr: float = LR_OPT,
    out: Path | None = typer.Option(None, "--out", help="Sweep directory (default: sweep-TASK)."),
    resume: bool = typer.Option(False, "--resume", help="Continue / reuse the runs found in --out."),
    seed: int = SEED_OPT,
    task_param: list[str] | None = PARAM_OPT,
    eval_every: int = EVAL_OPT,
    checkpoint_every: int = CKPT_OPT,
    threads: int | None = THREADS_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Train the hybrid family on a task; write sweep.json and sweep.png (accuracy vs FLOPs and latency)."""
    from swallowtail.train import NonFiniteLossError, sweep_models
    from swallowtail.train import accuracy_sweep as run_sweep

    counts = parse_counts(attention_layers)
    tc = _train_config(
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        seq_len=seq_len,
        out_dir=Path(f"sweep-{task}") if out is None else check_out_dir(out),
        eval_every=eval_every,
        checkpoint_every=checkpoint_every,
        threads=threads,
    )
    config, data, spec = _load(
        task, model, task_param, lambda c: sweep_models(c, counts, include_transformer)
    )
    try:
        result = run_sweep(config, data, tc, counts, include_transformer=include_transformer, resume=resume)
    except NonFiniteLossError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=EXIT_DIVERGED) from None
    if json_out:
        emit_json(result)
        return
    t = Table(title=f"accuracy sweep: {spec} family on {task} ({result.seq_len} tokens, {steps} steps)")
    for col in ("model", "blocks", "test acc", "FLOPs", "vs Transformer", "params", "samples/s", "latency"):
        t.add_column(col, justify="left" if col in ("model", "blocks") else "right")
    for e in result.entries:
        ratio = "-" if e.flop_ratio_vs_transformer is None else f"{e.flop_ratio_vs_transformer:.1f}x fewer"
        t.add_row(
            e.name,
            " ".join(e.block_kinds),
            _fmt(e.accuracy),
            si(e.flops, "FLOP"),
            ratio,
            f"{e.params:,}",
            _fmt(e.train_samples_per_s, ".1f"),
            si(e.latency_s, "s"),
        )
    console.print(t)
    console.print(f"latency: {result.latency_label} on {result.latency_arch}", style="dim", highlight=False)
    console.print(f"files: {tc.out_dir}/sweep.json, sweep.png", style="dim", highlight=False)
