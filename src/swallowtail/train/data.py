"""Data for training: fit a task to a sequence length, adapt a network config to a task, and a seeded,
resumable, rank-sharded stream of training batches.

Adapting a config. The network presets and the tasks use different token conventions (presets: CLS_ID at
position 0 for "cls" pooling, bytes + 2; tasks: value + 1, 0 = pad, no CLS position), so the trainer
rewrites the fields that must match the data -- vocab_size, n_classes, max_len, pad_id, pooling,
dual_tower -- and reports each change (`adapt_config` returns them; `train` prints and records them).

Batch order. Epoch e visits the training split in the order `torch.randperm(N)` drawn from a
`torch.Generator` seeded with (seed, e): the order of any epoch is known without replaying earlier ones,
so the stream's whole state is (epoch, offset). With W data-parallel processes the permutation is padded
by wrapping to a multiple of W and rank r takes every W-th index from r (as `DistributedSampler` does),
so the ranks see disjoint shards of each epoch. Batches run across epoch boundaries (no example dropped).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from swallowtail.errors import SpecError, check_int
from swallowtail.flops import ceil_div
from swallowtail.nn.config import HybridConfig
from swallowtail.tasks.base import PAD_ID, Split, TaskData, check_task_data
from swallowtail.train.config import MAX_SEQ_LEN

#: a task's inputs pool by the mean over non-padding positions: no task puts a CLS token at position 0
TASK_POOLING = "mean"
#: epoch e of seed s draws its order from the generator seeded with s * EPOCH_SEED_STRIDE + e
EPOCH_SEED_STRIDE = 1 << 20


def fit_length(x: torch.Tensor, seq_len: int) -> torch.Tensor:
    """(N, L) token ids -> (N, seq_len): truncated, or right-padded with PAD_ID."""
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise SpecError("x", type(x).__name__, "an (N, L) tensor of token ids")
    check_int("seq_len", seq_len, 1, MAX_SEQ_LEN)
    n, length = x.shape
    if length >= seq_len:
        return x[:, :seq_len].contiguous()
    out = torch.full((n, seq_len), PAD_ID, dtype=x.dtype)
    out[:, :length] = x
    return out


def prepare_task(task: TaskData, seq_len: int | None) -> TaskData:
    """The task with every split's inputs truncated / padded to `seq_len` (None: unchanged)."""
    check_task_data(task, "task")
    if seq_len is not None:
        check_int("seq_len", seq_len, 1, MAX_SEQ_LEN)  # -3 cut 3 tokens off the end
    if seq_len is None or seq_len == task.seq_len:
        return task
    splits = {}
    for name, split in task.splits().items():
        x2 = None if split.inputs2 is None else fit_length(split.inputs2, seq_len)
        splits[name] = Split(fit_length(split.inputs, seq_len), split.labels, x2)
    verb = "truncated" if seq_len < task.seq_len else "padded"
    return dataclasses.replace(
        task, **splits, seq_len=seq_len, source=f"{task.source}; {verb} to {seq_len} tokens"
    )


#: seed of the sample `sample_eval` draws (fixed: every run of a task evaluates the same examples)
EVAL_SAMPLE_SEED = 0


def sample_eval(task: TaskData, n: int) -> TaskData:
    """The task with its validation and test splits cut to a seeded random sample of at most `n` examples each
    (in their order; 0 or a split no larger: unchanged). A first result evaluates a few hundred examples, not
    the 25,000 of a full test split; a random sample, since some splits are sorted by class."""
    check_task_data(task, "task")
    check_int("n", n, 0)
    if n == 0 or (len(task.val) <= n and len(task.test) <= n):
        return task
    g = torch.Generator().manual_seed(EVAL_SAMPLE_SEED)
    cut = {}
    for name in ("val", "test"):
        split = getattr(task, name)
        if len(split) > n:
            idx = torch.randperm(len(split), generator=g)[:n].sort().values
            x2 = None if split.inputs2 is None else split.inputs2[idx]
            split = Split(split.inputs[idx], split.labels[idx], x2)
        cut[name] = split
    of = f"{len(task.val):,} / {len(task.test):,}"
    note = f"; val / test: a sample of at most {n:,} examples each (of {of})"
    return dataclasses.replace(task, **cut, source=task.source + note)


def has_padding(task: TaskData) -> bool:
    """True when any input of any split holds the pad token."""
    for split in task.splits().values():
        for x in (split.inputs, split.inputs2):
            if x is not None and bool((x == PAD_ID).any()):
                return True
    return False


def adapt_config(config: HybridConfig, task: TaskData) -> tuple[HybridConfig, dict[str, tuple[Any, Any]]]:
    """`config` rewritten to fit `task`'s data, and the changes as {field: (old, new)}.

    vocab_size = the task's vocabulary (token input; input_dim cleared), n_classes = the task's classes,
    max_len = the task's sequence length (positions past it would never be trained, and would only add
    parameters), pad_id = 0 when the data holds padding (else None), pooling = "mean" (no task has a
    CLS position), dual_tower = whether the task has two towers.
    """
    if not isinstance(config, HybridConfig):
        raise SpecError("model_config", type(config).__name__, "a HybridConfig")
    check_task_data(task, "task")
    want = {
        "vocab_size": task.vocab_size,
        "input_dim": None,
        "n_classes": task.n_classes,
        "max_len": task.seq_len,
        "pad_id": PAD_ID if has_padding(task) else None,
        "pooling": TASK_POOLING,
        "dual_tower": task.two_towers,
    }
    changes = {k: (getattr(config, k), v) for k, v in want.items() if getattr(config, k) != v}
    if not changes:
        return config, {}
    # one validated step: an intermediate config (say, the old pad_id with a new vocab) may be invalid
    return dataclasses.replace(config, **{k: new for k, (_, new) in changes.items()}), changes


class BatchStream:
    """Indices of the training batches of one rank, in a seeded order; resumable from `state_dict()`."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        if n < 1:
            raise SpecError("train split", n, "at least 1 example")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.per_rank = ceil_div(n, world_size)  # ceil: the padded permutation's share of one rank
        self.epoch = 0
        self.offset = 0  # position inside this rank's share of the current epoch
        self._order: torch.Tensor | None = None

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """This rank's indices for `epoch`, (per_rank,) int64."""
        g = torch.Generator().manual_seed(self.seed * EPOCH_SEED_STRIDE + epoch)
        perm = torch.randperm(self.n, generator=g)  # (n,)
        total = self.per_rank * self.world_size
        if total > self.n:  # wrap to a multiple of world_size, as DistributedSampler pads
            perm = torch.cat([perm, perm[: total - self.n]])
        return perm[self.rank :: self.world_size]  # (per_rank,)

    def next(self) -> torch.Tensor:
        """The next batch's indices, (batch_size,) int64."""
        parts, need = [], self.batch_size
        while need:
            if self._order is None:
                self._order = self.epoch_order(self.epoch)
            take = self._order[self.offset : self.offset + need]
            parts.append(take)
            need -= take.numel()
            self.offset += take.numel()
            if self.offset == self.per_rank:
                self.epoch, self.offset, self._order = self.epoch + 1, 0, None
        return torch.cat(parts)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "offset": self.offset, "n": self.n, "world_size": self.world_size}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["n"] != self.n or state["world_size"] != self.world_size:
            raise SpecError(
                "checkpoint data stream",
                f"{state['n']} examples over {state['world_size']} processes",
                f"the same as this run: {self.n} examples over {self.world_size} processes",
            )
        self.epoch, self.offset, self._order = int(state["epoch"]), int(state["offset"]), None


def batch(split: Split, idx: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Model inputs (x,) or (x1, x2) and labels of the examples `idx` of `split`."""
    xs = (split.inputs[idx],) if split.inputs2 is None else (split.inputs[idx], split.inputs2[idx])
    return xs, split.labels[idx]
