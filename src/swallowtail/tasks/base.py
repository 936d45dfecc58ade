"""The data record every task returns, and small checks shared by the task modules.

A task is a classification problem over token sequences, as in Long Range Arena (Tay et al., ICLR 2021):
`inputs` are token ids (0 = pad), `labels` are class ids. The retrieval task has two towers: a second
sequence per example (`inputs2`). Splits are plain tensors; batching and shuffling are the trainer's job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from swallowtail.errors import SpecError, is_real

#: token id of padding in every task (LRA pads with 0: `padded_batch` in its input pipelines)
PAD_ID = 0

#: names of the three splits, in order
SPLITS = ("train", "val", "test")


#: the most examples a generated split may hold (64 M: LRA's largest task, Pathfinder, has 200 k; more is a
#: typo that would otherwise run for hours or overflow a tensor's size)
MAX_EXAMPLES = 1 << 26


@dataclass(frozen=True)
class Split:
    """One split: `inputs` (N, L) int64 token ids (0 = pad), `labels` (N,) int64; `inputs2` for two towers."""

    inputs: torch.Tensor
    labels: torch.Tensor
    inputs2: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.inputs.dim() != 2 or self.labels.dim() != 1 or self.inputs.shape[0] != self.labels.shape[0]:
            raise ValueError(
                f"Split needs inputs (N, L) and labels (N,), got {tuple(self.inputs.shape)} "
                f"and {tuple(self.labels.shape)}"
            )
        if self.inputs2 is not None and self.inputs2.shape != self.inputs.shape:
            raise ValueError(f"inputs2 {tuple(self.inputs2.shape)} != inputs {tuple(self.inputs.shape)}")

    @property
    def inputs1(self) -> torch.Tensor:
        """The first tower of a two-tower task (the same tensor as `inputs`)."""
        return self.inputs

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class TaskData:
    """A whole task: three splits and what a model needs to know to embed and classify them."""

    name: str
    train: Split
    val: Split
    test: Split
    vocab_size: int  # token ids are in [0, vocab_size); 0 is pad
    n_classes: int
    seq_len: int  # every split's inputs have this many columns
    source: str  # where the data came from, e.g. "generated ListOps (seed=0, ...)" or "CIFAR-10 ... at PATH"

    def __post_init__(self) -> None:
        """Labels in [0, n_classes), token ids in [0, vocab_size), `seq_len` columns: a data file that breaks
        one is refused here, naming it, not deep inside a loss function."""
        for name, split in self.splits().items():
            y = split.labels
            if y.numel():
                lo, hi = (int(v) for v in torch.aminmax(y))  # one pass over the labels
                if lo < 0 or hi >= self.n_classes:
                    bad, top = lo if lo < 0 else hi, self.n_classes - 1
                    raise ValueError(f"{self.source}: {name} label {bad} is not a class (0-{top})")
            for x in (split.inputs, split.inputs2):
                if x is None:
                    continue
                if x.shape[1] != self.seq_len:
                    cols = x.shape[1]
                    raise ValueError(f"{self.source}: {name} inputs have {cols} columns, not {self.seq_len}")
                lo, hi = (int(v) for v in torch.aminmax(x)) if x.numel() else (0, 0)
                if lo < 0 or hi >= self.vocab_size:
                    raise ValueError(f"{self.source}: {name} token ids outside [0, {self.vocab_size})")

    @property
    def two_towers(self) -> bool:
        """True for the retrieval task (inputs1 / inputs2)."""
        return self.train.inputs2 is not None

    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "val": self.val, "test": self.test}

    # ---- serialisation (used by the on-disk cache) --------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """A dict of tensors and plain values that `torch.load(weights_only=True)` can read back."""
        state: dict[str, Any] = {
            "name": self.name,
            "vocab_size": self.vocab_size,
            "n_classes": self.n_classes,
            "seq_len": self.seq_len,
            "source": self.source,
        }
        for split_name, split in self.splits().items():
            state[split_name] = {"inputs": split.inputs, "labels": split.labels, "inputs2": split.inputs2}
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TaskData:
        splits = {s: Split(**state[s]) for s in SPLITS}
        return cls(
            name=state["name"],
            vocab_size=int(state["vocab_size"]),
            n_classes=int(state["n_classes"]),
            seq_len=int(state["seq_len"]),
            source=state["source"],
            **splits,
        )


def split_rows(inputs: torch.Tensor, labels: torch.Tensor, n_train: int, n_val: int) -> dict[str, Split]:
    """The three splits of one set of rows, as `TaskData.splits()`: the first `n_train` rows train, the next
    `n_val` val, the rest test."""
    a, b = n_train, n_train + n_val
    return {
        "train": Split(inputs[:a], labels[:a]),
        "val": Split(inputs[a:b], labels[a:b]),
        "test": Split(inputs[b:], labels[b:]),
    }


@dataclass(frozen=True)
class TaskShape:
    """What loading a task will give, known before it loads (each task's `shape(**params)`): examples per
    split, tokens per example and per tower, whether it is generated -- and then whether the on-disk cache
    already holds it -- or read, and how many bytes of files a read takes."""

    name: str
    n_train: int
    n_val: int
    n_test: int
    seq_len: int
    towers: int = 1  # 2 for the retrieval task (inputs1 / inputs2)
    generator: str | None = None  # "listops" | "pathfinder" when generated; None when read from files
    cached: bool = False  # generated and already in the on-disk cache: it loads instead
    read_bytes: int = 0  # bytes of the files read (0 for a generated task)

    @property
    def n_examples(self) -> int:
        return self.n_train + self.n_val + self.n_test

    @property
    def tokens(self) -> int:
        """Token ids of every split and tower."""
        return self.n_examples * self.seq_len * self.towers


#: bytes read per call when counting lines
_COUNT_CHUNK = 1 << 24


def count_lines(path: Path, limit: int | None = None) -> tuple[int, int]:
    """(lines of a file, bytes they take), reading it in chunks (no line is kept); with `limit`, only the
    first `limit` lines are counted (a last line without a newline counts)."""
    n, size, last = 0, 0, b"\n"
    with path.open("rb") as f:
        while chunk := f.read(_COUNT_CHUNK):
            k = chunk.count(b"\n")
            if limit is not None and n + k >= limit:
                cut = -1
                for _ in range(limit - n):
                    cut = chunk.index(b"\n", cut + 1)
                return limit, size + cut + 1
            n, size, last = n + k, size + len(chunk), chunk[-1:]
    extra = last != b"\n"
    if limit is not None:
        extra = extra and n < limit
    return n + extra, size


# ---- checks shared by the task modules ------------------------------------------------------------------
def parse_label(text: str | bytes, where: str) -> int:
    """A class label written in a data file ("1", "1.0", b"0") as an int; a ValueError naming `where` (file
    and line) for anything else: words, a fraction, inf, nan."""
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value == int(value)):
        raise ValueError(f"{where}: label {raw[:20]!r} is not an integer")
    return int(value)


def check_task_data(value: object, field: str = "task_data") -> TaskData:
    """`value` if it is a TaskData; SpecError naming `field` otherwise (not an AttributeError later)."""
    if not isinstance(value, TaskData):
        raise SpecError(field, type(value).__name__, "a TaskData (swallowtail.tasks.load_task)")
    return value


def check_float(field: str, value: object, minimum: float, maximum: float) -> float:
    """`value` as a float in [minimum, maximum], else SpecError naming `field`."""
    if not is_real(value) or not minimum <= value <= maximum:
        raise SpecError(field, value, f"a number in [{minimum}, {maximum}]")
    return float(value)


def pad_rows(rows: list[list[int]] | list[bytes], seq_len: int, offset: int = 0) -> torch.Tensor:
    """Rows of ids (or bytes) -> (N, seq_len) int64, each truncated to seq_len, right-padded with PAD_ID.

    `offset` is added to every id (byte-level tasks use byte + 1 so that 0 stays pad).
    """
    out = np.zeros((len(rows), seq_len), dtype=np.int64)
    for i, row in enumerate(rows):
        if isinstance(row, bytes):
            ids = np.frombuffer(row, dtype=np.uint8)
        else:
            ids = np.asarray(row, dtype=np.int64)
        ids = ids[:seq_len]
        out[i, : ids.size] = ids.astype(np.int64) + offset
    return torch.from_numpy(out)
