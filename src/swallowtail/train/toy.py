"""A tiny, separable task for smoke tests and examples: which of two marker tokens occurs more often?

Inputs: `seq_len` tokens drawn uniformly from 1..vocab_size-1 over a random length in
[seq_len // 2, seq_len] (then PAD_ID padding); label 1 when token MARKER_A occurs more often than
MARKER_B, else 0. Mean pooling over the tokens makes this nearly linear, so a few dozen steps of a tiny
network learn it: a training run on it must see its loss fall.
"""

from __future__ import annotations

import torch

from swallowtail.errors import check_int
from swallowtail.tasks.base import MAX_EXAMPLES, PAD_ID, TaskData, split_rows
from swallowtail.train.config import MAX_SEED, MAX_SEQ_LEN

MARKER_A = 1
MARKER_B = 2
TOY_CLASSES = 2


def toy_task(
    n_train: int = 512,
    n_val: int = 128,
    n_test: int = 128,
    seq_len: int = 32,
    vocab_size: int = 8,
    seed: int = 0,
) -> TaskData:
    """The marker-count task as a TaskData (deterministic in `seed`)."""
    check_int("n_train", n_train, 1, MAX_EXAMPLES)
    check_int("n_val", n_val, 0, MAX_EXAMPLES)
    check_int("n_test", n_test, 0, MAX_EXAMPLES)
    check_int("seq_len", seq_len, 2, MAX_SEQ_LEN)  # a row of seq_len // 2 = 0 tokens is all padding
    check_int("vocab_size", vocab_size, MARKER_B + 1, allowed=f"an integer >= {MARKER_B + 1} (both markers)")
    check_int("seed", seed, 0, MAX_SEED)
    g = torch.Generator().manual_seed(seed)
    n = n_train + n_val + n_test
    x = torch.randint(1, vocab_size, (n, seq_len), generator=g)  # (n, L)
    lengths = torch.randint(seq_len // 2, seq_len + 1, (n,), generator=g)  # (n,)
    x[torch.arange(seq_len)[None, :] >= lengths[:, None]] = PAD_ID
    y = ((x == MARKER_A).sum(1) > (x == MARKER_B).sum(1)).long()  # (n,)
    return TaskData(
        name="toy",
        **split_rows(x, y, n_train, n_val),
        vocab_size=vocab_size,
        n_classes=TOY_CLASSES,
        seq_len=seq_len,
        source=f"toy marker-count task (seed={seed})",
    )
