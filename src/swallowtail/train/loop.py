"""The training loop: `train(model_config, task_data, train_config) -> TrainResult`.

    task  ──► prepare_task (seq_len) ──► adapt_config (vocab, classes, max_len, pad, pooling: reported)
          ──► HybridTransformer (seeded) [──► DistributedDataParallel under torchrun]
          ──► AdamW + LambdaLR (linear warmup, cosine / linear decay) + global-norm gradient clipping
          ──► every step: a batch from the seeded BatchStream, cross-entropy, a refusal of NaN / inf
          ──► every eval_every: validation accuracy (best in best.pt); every checkpoint_every: checkpoint
          ──► at the end: test accuracy of the best-validation weights (LRA's protocol) and of the final ones

Determinism: the model is built after `torch.manual_seed(seed)`, dropout draws from the torch RNG seeded
per rank, the data order is a function of (seed, epoch), and `torch.use_deterministic_algorithms(True)` is
on while training; so two runs with the same seed, thread count and world size end with bit-identical
weights, and a run killed and resumed from its checkpoint ends exactly where the uninterrupted run does
(the checkpoint holds every state the remaining steps read). The caller's torch RNG state, thread count and
determinism flag are restored on return.

Files (rank 0 only, when out_dir is set): config.json (the adapted config and the run's settings),
metrics.jsonl, metrics.png, checkpoint.pt, best.pt, result.json.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

import swallowtail.train.checkpoint as ckpt
import swallowtail.train.distributed as dist
from swallowtail.atomicio import write_text_atomic
from swallowtail.errors import SpecError, check_bool
from swallowtail.nn.config import HybridConfig
from swallowtail.nn.counts import model_counts
from swallowtail.nn.model import HybridTransformer
from swallowtail.progress import PlainProgress
from swallowtail.progress import progress as progress_bar
from swallowtail.tasks.base import Split, TaskData, check_task_data
from swallowtail.train.config import TrainConfig
from swallowtail.train.data import BatchStream, adapt_config, batch, prepare_task
from swallowtail.train.metrics import METRICS_FILE, PLOT_FILE, MetricsLog, plot

LOGGER = logging.getLogger("swallowtail.train")

CONFIG_FILE = "config.json"
RESULT_FILE = "result.json"
#: rank r draws dropout from the torch RNG seeded with seed * MAX_RANKS + r (distinct per rank)
MAX_RANKS = 1 << 16
#: parameters with at least this many dimensions get weight decay (weight matrices, embeddings, butterfly
#: factors); biases and LayerNorm gains do not (nanoGPT's rule)
DECAY_MIN_DIM = 2
#: clip_grad_norm_ with an infinite bound measures the norm without changing the gradients
NO_CLIP = math.inf

StepCallback = Callable[[int, float], None]


class NonFiniteLossError(RuntimeError):
    """Training met a NaN / inf loss or gradient norm; nothing after the last good checkpoint was written."""

    def __init__(self, what: str, value: float, step: int, lr: float, checkpoint: str | None) -> None:
        self.what, self.value, self.step, self.checkpoint = what, value, step, checkpoint
        where = (
            f"the last good checkpoint is {checkpoint}"
            if checkpoint
            else "no checkpoint was written (none due yet, or no out_dir)"
        )
        super().__init__(
            f"training stopped: the {what} is {value} at step {step} (lr {lr:.3g}); {where}. "
            "Lower the learning rate, add warmup or gradient clipping."
        )


@dataclass
class TrainResult:
    """What a run produced. `model` (the final weights) is left out of `to_dict()`."""

    task: str
    source: str
    seq_len: int
    steps: int
    world_size: int
    model_config: dict[str, Any]
    adapted: dict[str, list[Any]]  # field -> [preset / file value, value used]
    train_loss: float  # mean over the last log window
    train_acc: float
    val_loss: float
    val_acc: float  # of the final weights
    best_val_acc: float
    best_step: int
    test_acc: float | None  # of the best-validation weights (None: empty test split)
    final_test_acc: float | None  # of the final weights
    train_samples_per_s: float  # examples through forward + backward + update per second, all ranks
    train_time_s: float  # time in training steps of this session (no evaluation, no checkpoints)
    wall_s: float
    flops: int  # forward FLOPs per example at seq_len (swallowtail.nn.counts.model_counts)
    params: int
    out_dir: str | None
    resumed_from: int | None = None  # the checkpoint step this session started from
    model: nn.Module | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values; NaN (a metric with no data, e.g. an empty split) becomes None."""
        return {f.name: _json_float(getattr(self, f.name)) for f in fields(self) if f.name != "model"}


def _json_float(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


def train(
    model_config: HybridConfig,
    task_data: TaskData,
    train_config: TrainConfig | None = None,
    *,
    resume: bool = False,
    progress: bool | Progress | PlainProgress = True,
    step_callback: StepCallback | None = None,
) -> TrainResult:
    """Train `model_config` (adapted to the task) on `task_data`; see the module docstring.

    resume: continue from `out_dir/checkpoint.pt` (a fresh start when there is none yet).
    progress: show a rich progress bar (True), none (False), or add a task to this `Progress`.
    step_callback: called as f(step, loss) after every finished step (for custom logging; an exception
        raised in it stops the run like a kill would: nothing more is written).
    """
    tc = TrainConfig() if train_config is None else train_config
    if not isinstance(tc, TrainConfig):
        raise SpecError("train_config", type(tc).__name__, "a TrainConfig")
    check_task_data(task_data)
    check_bool("resume", resume)
    if not isinstance(progress, bool | Progress | PlainProgress):
        raise SpecError("progress", progress, "True, False or a rich Progress")
    if step_callback is not None and not callable(step_callback):
        raise SpecError("step_callback", step_callback, "None or a function f(step, loss)")
    ctx = dist.setup()
    try:
        with _torch_settings(tc.threads), torch.random.fork_rng(devices=[]):
            return _Run(model_config, task_data, tc, ctx, progress, step_callback).run(resume)
    finally:
        dist.teardown(ctx)


@contextlib.contextmanager
def _torch_settings(threads: int | None) -> Iterator[None]:
    """Deterministic algorithms on and `threads` intra-op threads while training; the old values after."""
    det, warn_only = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    old_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(det, warn_only=warn_only)
        torch.set_num_threads(old_threads)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    split: Split,
    batch_size: int,
    max_batches: int = 0,
    ctx: dist.DistContext | None = None,
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of `model` on `split`, in order; the first `max_batches` global
    batches only (0 = all). Data-parallel: each rank takes every world_size-th example and the sums are
    all-reduced, so every rank gets the same numbers."""
    ctx = ctx or dist.DistContext()
    n = len(split)
    if max_batches:
        n = min(n, max_batches * batch_size * ctx.world_size)
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, count
    for idx in torch.arange(ctx.rank, n, ctx.world_size).split(batch_size):
        xs, y = batch(split, idx)
        logits = model(*xs)  # (b, n_classes)
        sums[0] += F.cross_entropy(logits, y, reduction="sum").double()
        sums[1] += (logits.argmax(-1) == y).sum().double()
        sums[2] += y.numel()
    model.train(was_training)
    dist.all_reduce_sum(sums, ctx)
    count = float(sums[2])
    if count == 0:
        return math.nan, math.nan
    return float(sums[0]) / count, float(sums[1]) / count


def _task_key(task: TaskData) -> dict[str, Any]:
    """What a resumed run's task must share with the checkpoint's: its shape and its training examples, by
    content (a task parameter that changes them -- a generator's max_depth, another file -- changes the hash;
    where the files are, and how many validation / test examples are evaluated, do not)."""
    return {
        "name": task.name,
        "seq_len": task.seq_len,
        "n_classes": task.n_classes,
        "vocab_size": task.vocab_size,
        "n_train": len(task.train),
        "train_sha256": _split_hash(task.train),
    }


def _split_hash(split: Split) -> str:
    h = hashlib.sha256()
    for t in (split.inputs, split.inputs2, split.labels):
        if t is not None:
            h.update(f"{t.dtype} {tuple(t.shape)}".encode())
            h.update(memoryview(t.detach().cpu().contiguous().view(torch.uint8).numpy()))  # no copy
    return h.hexdigest()


def _comparable(saved: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """`now` without the keys a checkpoint from an older swallowtail does not hold (it resumes as it did)."""
    return {k: v for k, v in now.items() if k in saved or k != "train_sha256"}


def _state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class _Run:
    """One training run (the state `train` threads through its steps)."""

    def __init__(
        self,
        model_config: HybridConfig,
        task_data: TaskData,
        tc: TrainConfig,
        ctx: dist.DistContext,
        progress: bool | Progress | PlainProgress,
        step_callback: StepCallback | None,
    ) -> None:
        self.t_start = time.perf_counter()
        self.tc, self.ctx, self.step_callback = tc, ctx, step_callback
        self.task = prepare_task(task_data, tc.seq_len)
        self.config, changes = adapt_config(model_config, self.task)
        self.adapted = {k: [old, new] for k, (old, new) in changes.items()}
        self.out = None if tc.out_dir is None else Path(tc.out_dir)
        counts = model_counts(self.config, self.task.seq_len, batch=1)
        self.flops, self.params = counts.flops, counts.params
        self.progress_arg = progress
        self.console = Console(stderr=True)
        self.last_ckpt: str | None = None
        self.last_ckpt_step = 0

        torch.manual_seed(tc.seed)
        self.model = HybridTransformer(self.config)
        torch.manual_seed(tc.seed * MAX_RANKS + ctx.rank)  # this rank's dropout stream
        decay = [p for p in self.model.parameters() if p.dim() >= DECAY_MIN_DIM]
        no_decay = [p for p in self.model.parameters() if p.dim() < DECAY_MIN_DIM]
        groups = [
            {"params": decay, "weight_decay": tc.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        self.opt = torch.optim.AdamW(groups, lr=tc.lr)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, tc.lr_factor)
        self.stream = BatchStream(len(self.task.train), tc.batch_size, tc.seed, ctx.rank, ctx.world_size)
        main_out = self.out if ctx.is_main else None
        self.metrics = MetricsLog(None if main_out is None else main_out / METRICS_FILE)
        self.step = 0
        self.best_val_acc = -math.inf
        self.best_step = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.val: tuple[float, float] | None = None  # (loss, acc) of the current weights, when known

    # ---- setup -------------------------------------------------------------------------------------------
    @functools.cached_property
    def task_key(self) -> dict[str, Any]:
        """`_task_key` of the task, once (it hashes the training split), only for a run that saves."""
        return _task_key(self.task)

    def _say(self, msg: str) -> None:
        LOGGER.info(msg)
        if self.ctx.is_main and self.progress_arg is not False:
            console = (
                self.progress_arg.console
                if isinstance(self.progress_arg, Progress | PlainProgress)
                else self.console
            )
            console.print(msg, highlight=False, soft_wrap=True)

    def _announce(self) -> None:
        if self.adapted:
            parts = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in self.adapted.items())
            self._say(f"model config adapted to task {self.task.name}: {parts}")
        self._say(
            f"{self.task.name} ({self.task.source}): {len(self.task.train)} train / "
            f"{len(self.task.val)} val / {len(self.task.test)} test, {self.task.seq_len} tokens; "
            f"model {self.params:,} params, {self.flops:,} FLOPs / example; {self.ctx.world_size} process(es)"
        )

    def _prepare_out(self, resume: bool) -> int | None:
        """Check / load out_dir; returns the step resumed from (None for a fresh start)."""
        if resume and self.out is None:
            raise SpecError(
                "out_dir", None, "a directory: resume continues the run whose checkpoint is there"
            )
        if self.out is None:
            return None
        path = self.out / ckpt.CHECKPOINT_FILE
        if path.is_file() and not resume:
            raise SpecError(
                "out_dir",
                str(self.out),
                "a directory without a training checkpoint",
                hint="it holds a run: resume it (--resume) or choose another directory",
            )
        if self.ctx.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        if not path.is_file():
            if resume:
                self._say(f"no checkpoint in {self.out}: starting from step 0")
            if self.ctx.is_main:
                self.metrics.reset()
                self._write_config()
            dist.barrier(self.ctx)
            return None
        self._load(path)
        dist.barrier(self.ctx)
        return self.step

    def _write_config(self) -> None:
        doc = {
            "task": {**self.task_key, "source": self.task.source},
            "model_config": self.config.to_dict(),
            "adapted": self.adapted,
            "train_config": self.tc.to_dict(),
            "world_size": self.ctx.world_size,
            "flops_per_example": self.flops,
            "params": self.params,
        }
        write_text_atomic(self.out / CONFIG_FILE, json.dumps(doc, indent=2, sort_keys=True) + "\n")

    def _load(self, path: Path) -> None:
        state = ckpt.load(path)
        checks = (
            ("model_config", state["model_config"], self.config.to_dict()),
            ("train_config", state["trajectory"], self.tc.trajectory()),
            ("task", state["task"], _comparable(state["task"], self.task_key)),
        )
        for name, saved, now in checks:
            if saved != now:
                diff = {
                    k: (saved.get(k), now.get(k)) for k in set(saved) | set(now) if saved.get(k) != now.get(k)
                }
                raise SpecError(
                    name,
                    {k: v[1] for k, v in diff.items()},
                    f"the checkpoint's values { ({k: v[0] for k, v in diff.items()}) } to resume {path}",
                )
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        rng = state["rng"]
        if len(rng) != self.ctx.world_size:
            raise SpecError(
                "world_size", self.ctx.world_size, f"{len(rng)}, the run's process count, to resume"
            )
        torch.set_rng_state(rng[self.ctx.rank])
        self.stream.load_state_dict(state["data"])
        self.step = int(state["step"])
        self.best_val_acc = float(state["best_val_acc"])
        self.best_step = int(state["best_step"])
        self.best_state = state["best_model"]  # not best.pt: a killed run may have written it after this step
        self.metrics.resume(self.step)
        self.last_ckpt, self.last_ckpt_step = str(path), self.step
        self._say(f"resumed {path} at step {self.step}")

    # ---- steps ---------------------------------------------------------------------------------------------
    def run(self, resume: bool) -> TrainResult:
        resumed_from = self._prepare_out(resume)
        self._announce()
        tc, ctx = self.tc, self.ctx
        fwd: nn.Module = self.model
        if ctx.distributed:
            fwd = nn.parallel.DistributedDataParallel(self.model)
        train_split = self.task.train
        window = torch.zeros(4, dtype=torch.float64)  # loss sum (over steps), correct, count, steps
        last_window = (math.nan, math.nan)
        train_time, samples = 0.0, 0
        with self._progress() as (bar, task_id):
            while self.step < tc.steps:
                t0 = time.perf_counter()
                fwd.train()
                xs, y = batch(train_split, self.stream.next())
                logits = fwd(*xs)  # (B, n_classes)
                loss = F.cross_entropy(logits, y)
                stats = torch.stack(
                    [
                        loss.detach().double(),
                        (logits.detach().argmax(-1) == y).sum().double(),
                        torch.tensor(float(y.numel()), dtype=torch.float64),
                        (~torch.isfinite(loss.detach())).double(),
                    ]
                )
                dist.all_reduce_sum(stats, ctx)  # every rank sees the same numbers and stops together
                mean_loss = float(stats[0]) / ctx.world_size
                if stats[3] > 0 or not math.isfinite(mean_loss):
                    raise self._diverged("training loss", mean_loss)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                norm = float(nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip or NO_CLIP))
                if not math.isfinite(norm):
                    raise self._diverged("gradient norm", norm)
                lr = self.sched.get_last_lr()[0]
                self.opt.step()
                self.sched.step()
                self.step += 1
                self.val = None
                train_time += time.perf_counter() - t0
                samples += int(stats[2])
                window += torch.tensor(
                    [mean_loss, float(stats[1]), float(stats[2]), 1.0], dtype=torch.float64
                )

                if self.step % tc.log_every == 0 or self.step == tc.steps:
                    last_window = (float(window[0] / window[3]), float(window[1] / window[2]))
                    self.metrics.append(
                        {
                            "step": self.step,
                            "train_loss": last_window[0],
                            "train_acc": last_window[1],
                            "lr": lr,
                            "grad_norm": norm,
                            "samples_per_s": samples / train_time if train_time else 0.0,
                            "elapsed_s": time.perf_counter() - self.t_start,
                        }
                    )
                    window.zero_()
                if (tc.eval_every and self.step % tc.eval_every == 0) or self.step == tc.steps:
                    self._eval()
                if self.out is not None and (
                    (tc.checkpoint_every and self.step % tc.checkpoint_every == 0) or self.step == tc.steps
                ):
                    self._save()
                if bar is not None:
                    val = "" if self.val is None else f" val acc {self.val[1]:.3f}"
                    bar.update(task_id, completed=self.step, info=f"loss {mean_loss:.3f}{val}")
                if self.step_callback is not None:
                    self.step_callback(self.step, mean_loss)
        return self._finish(resumed_from, last_window, train_time, samples)

    @contextlib.contextmanager
    def _progress(self) -> Iterator[tuple[Progress | PlainProgress | None, Any]]:
        if not self.ctx.is_main or self.progress_arg is False:
            yield None, None
            return
        if isinstance(self.progress_arg, Progress | PlainProgress):
            bar = self.progress_arg
            task_id = bar.add_task(self._label(), total=self.tc.steps, completed=self.step, info="")
            try:
                yield bar, task_id
            finally:
                bar.remove_task(task_id)
            return
        bar = progress_bar(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
            console=self.console,
        )
        with bar:
            yield bar, bar.add_task(self._label(), total=self.tc.steps, completed=self.step, info="")

    def _label(self) -> str:
        kinds = self.config.block_kinds()
        return (
            f"{self.task.name}: {kinds.count('fbfly')} fbfly + {len(kinds) - kinds.count('fbfly')} attention"
        )

    def _diverged(self, what: str, value: float) -> NonFiniteLossError:
        where = None if self.last_ckpt is None else f"{self.last_ckpt} (step {self.last_ckpt_step})"
        return NonFiniteLossError(what, value, self.step + 1, self.sched.get_last_lr()[0], where)

    def _eval(self, record: bool = True) -> None:
        if len(self.task.val) == 0:
            return
        self.val = evaluate(self.model, self.task.val, self.tc.batch_size, self.tc.eval_batches, self.ctx)
        if not record:  # the weights were evaluated and recorded before (a finished run resumed)
            return
        self.metrics.append({"step": self.step, "val_loss": self.val[0], "val_acc": self.val[1]})
        if self.val[1] > self.best_val_acc:
            self.best_val_acc, self.best_step = self.val[1], self.step
            self.best_state = _state_copy(self.model)
            if self.out is not None and self.ctx.is_main:
                best = {
                    "version": ckpt.CHECKPOINT_VERSION,
                    "model": self.best_state,
                    "step": self.step,
                    "val_acc": self.val[1],
                    "model_config": self.config.to_dict(),
                }
                ckpt.atomic_save(best, self.out / ckpt.BEST_FILE)

    def _save(self) -> None:
        rng = dist.all_gather_object(torch.get_rng_state(), self.ctx)  # collective: every rank calls it
        path = self.out / ckpt.CHECKPOINT_FILE
        if self.ctx.is_main:
            state = {
                "version": ckpt.CHECKPOINT_VERSION,
                "step": self.step,
                "model": self.model.state_dict(),
                "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(),
                "rng": rng,
                "data": self.stream.state_dict(),
                "best_val_acc": self.best_val_acc,
                "best_step": self.best_step,
                "best_model": self.best_state,
                "model_config": self.config.to_dict(),
                "train_config": self.tc.to_dict(),
                "trajectory": self.tc.trajectory(),
                "task": self.task_key,
            }
            ckpt.atomic_save(state, path)
        self.last_ckpt, self.last_ckpt_step = str(path), self.step

    # ---- the end -------------------------------------------------------------------------------------------
    def _finish(
        self, resumed_from: int | None, window: tuple[float, float], train_time: float, samples: int
    ) -> TrainResult:
        tc, ctx = self.tc, self.ctx
        if self.val is None:  # a resumed run that had already finished
            self._eval(record=False)
        val_loss, val_acc = self.val if self.val is not None else (math.nan, math.nan)
        final_test = None
        best_test = None
        if len(self.task.test):
            final_test = evaluate(self.model, self.task.test, tc.batch_size, 0, ctx)[1]
            best_test = final_test
            if self.best_state is not None and self.best_step != self.step:
                best_model = copy.deepcopy(self.model)
                best_model.load_state_dict(self.best_state)
                best_test = evaluate(best_model, self.task.test, tc.batch_size, 0, ctx)[1]
        if math.isnan(window[0]):  # no step this session: take the last training record
            last = [r for r in self.metrics.records if "train_loss" in r]
            window = (last[-1]["train_loss"], last[-1]["train_acc"]) if last else window
        result = TrainResult(
            task=self.task.name,
            source=self.task.source,
            seq_len=self.task.seq_len,
            steps=self.step,
            world_size=ctx.world_size,
            model_config=self.config.to_dict(),
            adapted=self.adapted,
            train_loss=window[0],
            train_acc=window[1],
            val_loss=val_loss,
            val_acc=val_acc,
            best_val_acc=self.best_val_acc if self.best_state is not None else val_acc,
            best_step=self.best_step if self.best_state is not None else self.step,
            test_acc=best_test,
            final_test_acc=final_test,
            train_samples_per_s=samples / train_time if train_time else math.nan,
            train_time_s=train_time,
            wall_s=time.perf_counter() - self.t_start,
            flops=self.flops,
            params=self.params,
            out_dir=None if self.out is None else str(self.out),
            resumed_from=resumed_from,
            model=self.model,
        )
        if self.out is not None and ctx.is_main:
            title = f"{self._label()} ({self.params:,} params)"
            plot(self.metrics.records, self.out / PLOT_FILE, title=title)
            text = json.dumps(result.to_dict(), indent=2, sort_keys=True, default=str) + "\n"
            write_text_atomic(self.out / RESULT_FILE, text)
        return result
