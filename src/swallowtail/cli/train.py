"""`swallowtail train` and `swallowtail accuracy-sweep`: train a network on an LRA-like task, or the whole
hybrid family (all-Fourier, hybrids, Transformer) with accuracy against FLOPs and array latency.

    swallowtail train --task listops                       # a first result: small data, < 1 min on 2 cores
    swallowtail train --task listops --steps 200 --task-param n_train=2000 --task-param max_len=256
    swallowtail train --task listops --lra --force         # LRA's sizes: 96,000 x 2,000 tokens (hours)
    swallowtail accuracy-sweep --task pathfinder --attention-layers 0,1 --steps 300 \\
        --task-param contour_length=14 --task-param n_images=4000 --out sweeps/pathfinder

Sizes: a flag or --task-param given wins; otherwise a first result's (`FIRST_RESULT`: a few thousand
examples, a few dozen steps, a sample of the validation and test splits: a 2-core, 8 GB laptop, under a
minute), or LRA's with --lra (`LRA_SIZE`: the task loaders' LRA defaults, 1,000 steps of 32, every example
evaluated). Before the task loads, the run's memory and time are estimated (`swallowtail.cli.limits`) and a
run over the machine's budget is refused, naming the estimate and --force.

Registered by the CLI root: `app.command("train")(train.train)` and
`app.command("accuracy-sweep")(train.accuracy_sweep)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer
import yaml
from rich.table import Table

from swallowtail.cli import limits
from swallowtail.cli._common import (
    check_out_dir,
    console,
    emit_json,
    err_console,
    print_error,
    si,
    user_errors,
)
from swallowtail.errors import SpecError, check_int

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

T = TypeVar("T")


@dataclass(frozen=True)
class RunSize:
    """How large a run is where its flags do not say: optimizer steps (per model of an accuracy sweep),
    examples per step, the validation / test examples evaluated (a seeded sample of each split; 0: all) and
    the task loader's parameters (those that size generated data are dropped when the data is read:
    `data_dir`)."""

    steps: int
    batch_size: int
    eval_examples: int
    task_params: tuple[tuple[str, Any], ...] = ()

    def params(self, given: dict[str, Any]) -> dict[str, Any]:
        """The loader's parameters: these, with `given` on top (none of those of generated data's size when
        `given` names a data_dir)."""
        mine = {k: v for k, v in self.task_params if "data_dir" not in given or k not in GENERATED_SIZE}
        return {**mine, **given}


#: loader parameters that only size generated data (a read task's files decide its size)
GENERATED_SIZE = ("n_train", "n_val", "n_test", "n_images", "max_len")
#: the task data of a first result: the LRA presets' tasks at shorter lengths for ListOps (128 tokens, from
#: 2,000) and the byte-level tasks (256 bytes, from 4,096), on a few thousand examples (the first 2,000 of
#: each split of the text files: reading all of AAN's takes minutes)
_FIRST_DATA: dict[str, tuple[tuple[str, Any], ...]] = {
    "listops": (("n_train", 2000), ("n_val", 200), ("n_test", 200), ("max_len", 128)),
    "pathfinder": (("n_images", 1000),),
    "image": (),
    "text": (("seq_len", 256), ("max_examples", 2000)),
    "retrieval": (("seq_len", 256), ("max_examples", 2000)),
}
#: the defaults of `train`: a first result within a minute on a 2-core, 8 GB laptop (`limits.LAPTOP`; their
#: estimates are tested against it; wall time and peak RSS measured in the README): a few dozen steps
FIRST_RESULT: dict[str, RunSize] = {
    "listops": RunSize(40, 16, 200, _FIRST_DATA["listops"]),
    "pathfinder": RunSize(24, 8, 64, _FIRST_DATA["pathfinder"]),
    "image": RunSize(24, 8, 64, _FIRST_DATA["image"]),
    "text": RunSize(30, 8, 64, _FIRST_DATA["text"]),
    "retrieval": RunSize(30, 8, 64, _FIRST_DATA["retrieval"]),
}
#: the defaults of `accuracy-sweep` (three models by default: all-Fourier, hybrid-1, Transformer, each also
#: simulated on the array): the same data, a minute in all
FIRST_SWEEP: dict[str, RunSize] = {
    "listops": RunSize(12, 16, 64, _FIRST_DATA["listops"]),
    "pathfinder": RunSize(6, 8, 32, _FIRST_DATA["pathfinder"]),
    "image": RunSize(6, 8, 32, _FIRST_DATA["image"]),
    "text": RunSize(8, 8, 32, _FIRST_DATA["text"]),
    "retrieval": RunSize(8, 8, 32, _FIRST_DATA["retrieval"]),
}
#: --lra: the LRA sizes (the task loaders' own defaults: 96,000 + 2,000 + 2,000 ListOps examples of 2,000
#: tokens, 200,000 Pathfinder images, 4,096 bytes of text), 1,000 steps of 32, every example evaluated
LRA_SIZE = RunSize(1000, 32, 0)


def parse_task_params(items: list[str] | None, text: tuple[str, ...] = ()) -> dict[str, Any]:
    """["n_train=2000", "data_dir=/x"] -> {"n_train": 2000, "data_dir": "/x"}; values read as YAML scalars,
    but those of the keys in `text` (folders, names) as typed: a folder named 2024 is "2024"."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SpecError("--task-param", item, "key=value, e.g. n_train=2000")
        if key in out:
            raise SpecError("--task-param", item, f"each key once ({key!r} is given twice)")
        if key in text:
            out[key] = raw
            continue
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


@dataclass(frozen=True)
class Sized:
    """A run's resolved sizes: its flags, else its RunSize's."""

    steps: int
    batch_size: int
    eval_examples: int
    params: dict[str, Any]
    note: str  # what was chosen, for the user (empty when every size was given)


def resolve_size(
    task: str,
    lra: bool,
    steps: int | None,
    batch_size: int | None,
    eval_examples: int | None,
    task_param: list[str] | None,
    sweep: bool = False,
) -> Sized:
    """The sizes of a run of `task`: each given flag, else the first result's (or LRA's with `lra`)."""
    from swallowtail.tasks import TASKS
    from swallowtail.tasks.registry import text_params

    if task not in TASKS:
        raise SpecError("--task", task, f"one of {sorted(TASKS)}")
    size = LRA_SIZE if lra else (FIRST_SWEEP if sweep else FIRST_RESULT)[task]
    given = parse_task_params(task_param, tuple(text_params(task)))
    params = size.params(given)
    sized = Sized(
        steps=size.steps if steps is None else steps,
        batch_size=size.batch_size if batch_size is None else batch_size,
        eval_examples=size.eval_examples if eval_examples is None else eval_examples,
        params=params,
        note="",
    )
    check_int("--eval-examples", sized.eval_examples, 0)
    chosen = [f"{k}={v}" for k, v in params.items() if k not in given]
    if steps is None:
        chosen.append(f"{sized.steps} steps")
    if batch_size is None:
        chosen.append(f"{sized.batch_size} examples per step")
    if eval_examples is None:
        n = sized.eval_examples
        chosen.append(f"{n} val / test examples evaluated" if n else "every val / test example evaluated")
    if not chosen:
        return sized
    label = "LRA sizes (--lra)" if lra else "first-result sizes (--lra: LRA's)"
    return Sized(sized.steps, sized.batch_size, sized.eval_examples, params, f"{label}: {', '.join(chosen)}")


def _load(
    task: str,
    model: str | None,
    sized: Sized,
    estimate: Callable[[Any, Any], limits.Estimate],
    force: bool,
    what: str,
    quiet: bool,
) -> tuple[Any, Any, str]:
    """(model config, task data, model spec): the config loads, `estimate(config, shape)` is checked against
    the machine's budget, then the task loads (generating one can take minutes: every mistake and every
    run too large for the machine is found first) and its val / test splits are sampled."""
    from swallowtail.cli.model import load_config
    from swallowtail.tasks import load_task, task_shape
    from swallowtail.train import sample_eval

    spec = DEFAULT_MODEL[task] if model is None else model
    config = load_config(spec)
    shape = task_shape(task, **sized.params)
    limits.check(what, estimate(config, shape), force)
    if sized.note and not quiet:
        console.print(sized.note, highlight=False, soft_wrap=True)
    with err_console.status(f"loading task {task} ..."):
        data = load_task(task, **sized.params)
    return config, sample_eval(data, sized.eval_examples), spec


def _train_config(**kw: Any) -> Any:
    from swallowtail.train import TrainConfig

    return TrainConfig(**{k: (str(v) if isinstance(v, Path) else v) for k, v in kw.items()})


def _unless_diverged(run: Callable[[], T]) -> T:
    """`run()`'s result; a NonFiniteLossError is printed and exits with EXIT_DIVERGED."""
    from swallowtail.train import NonFiniteLossError

    try:
        return run()
    except NonFiniteLossError as exc:
        print_error(exc)
        raise typer.Exit(code=EXIT_DIVERGED) from None


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


TASK_OPT = typer.Option(..., "--task", help="listops | pathfinder | image | text | retrieval.")
MODEL_OPT = typer.Option(
    None,
    "--model",
    help="A preset (see `swallowtail model list`) or a YAML config; default: the task's LRA preset.",
)
STEPS_OPT = typer.Option(None, "--steps", help="Optimizer steps (default: a first result's; see --lra).")
SEQ_OPT = typer.Option(
    None, "--seq-len", help="Truncate / pad inputs to this many tokens (default: the task's)."
)
BATCH_OPT = typer.Option(
    None, "--batch-size", help="Examples per step, per process under torchrun (default: a first result's)."
)
EVAL_N_OPT = typer.Option(
    None,
    "--eval-examples",
    help="Validate and test on a seeded sample of at most N examples of each split (0: all; default: a "
    "first result's few hundred, all with --lra).",
)
LRA_OPT = typer.Option(
    False,
    "--lra",
    help="LRA's sizes where no flag says: the task's full data and length, 1,000 steps of 32, every example "
    "evaluated (hours, and more memory than most machines have: add --force to run it).",
)
FORCE_OPT = typer.Option(False, "--force", help=limits.FORCE_HELP)
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
    steps: int | None = STEPS_OPT,
    seq_len: int | None = SEQ_OPT,
    batch_size: int | None = BATCH_OPT,
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
    eval_examples: int | None = EVAL_N_OPT,
    lra: bool = LRA_OPT,
    force: bool = FORCE_OPT,
) -> None:
    """Train a network on a task: adapted config, progress bar, final accuracy, FLOPs and throughput."""
    from swallowtail.train import train as run_train

    if resume and out is None:
        raise SpecError("--resume", True, "together with --out DIR, the run to continue")
    sized = resolve_size(task, lra, steps, batch_size, eval_examples, task_param)
    chosen = out is None
    out = new_run_dir(task) if out is None else out
    tc = _train_config(
        steps=sized.steps,
        batch_size=sized.batch_size,
        lr=lr,
        seed=seed,
        seq_len=seq_len,
        out_dir=check_out_dir(out),
        eval_every=eval_every,
        checkpoint_every=checkpoint_every,
        threads=threads,
    )

    def estimate(config: Any, shape: Any) -> limits.Estimate:
        return limits.training_run(
            shape, [config], tc.steps, tc.batch_size, tc.seq_len, tc.eval_every, sized.eval_examples
        )

    config, data, spec = _load(task, model, sized, estimate, force, f"train --task {task}", json_out)
    if chosen:
        (err_console if json_out else console).print(f"writing the run to {out}", highlight=False)
    result = _unless_diverged(lambda: run_train(config, data, tc, resume=resume, progress=True))
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
    steps: int | None = STEPS_OPT,
    seq_len: int | None = SEQ_OPT,
    batch_size: int | None = BATCH_OPT,
    lr: float = LR_OPT,
    out: Path | None = typer.Option(None, "--out", help="Sweep directory (default: sweep-TASK)."),
    resume: bool = typer.Option(False, "--resume", help="Continue / reuse the runs found in --out."),
    seed: int = SEED_OPT,
    task_param: list[str] | None = PARAM_OPT,
    eval_every: int = EVAL_OPT,
    checkpoint_every: int = CKPT_OPT,
    threads: int | None = THREADS_OPT,
    json_out: bool = JSON_OPT,
    eval_examples: int | None = EVAL_N_OPT,
    lra: bool = LRA_OPT,
    force: bool = FORCE_OPT,
) -> None:
    """Train the hybrid family on a task; write sweep.json and sweep.png (accuracy vs FLOPs and latency)."""
    from swallowtail.train import accuracy_sweep as run_sweep

    counts = parse_counts(attention_layers)
    sized = resolve_size(task, lra, steps, batch_size, eval_examples, task_param, sweep=True)
    tc = _train_config(
        steps=sized.steps,
        batch_size=sized.batch_size,
        lr=lr,
        seed=seed,
        seq_len=seq_len,
        out_dir=Path(f"sweep-{task}") if out is None else check_out_dir(out),
        eval_every=eval_every,
        checkpoint_every=checkpoint_every,
        threads=threads,
    )

    def estimate(config: Any, shape: Any) -> limits.Estimate:
        return limits.training_sweep(config, shape, counts, include_transformer, tc, sized.eval_examples)

    what = f"accuracy-sweep --task {task}"
    config, data, spec = _load(task, model, sized, estimate, force, what, json_out)
    result = _unless_diverged(
        lambda: run_sweep(config, data, tc, counts, include_transformer=include_transformer, resume=resume)
    )
    if json_out:
        emit_json(result)
        return
    t = Table(title=f"accuracy sweep: {spec} family on {task} ({result.seq_len} tokens, {tc.steps} steps)")
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
