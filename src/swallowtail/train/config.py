"""TrainConfig: how a network is trained (steps, batch, AdamW, warmup + decay, clipping, evaluation,
checkpoints), and the learning-rate schedule it implies.

Defaults follow common practice for small encoders (LRA's configs: AdamW, linear warmup, then decay;
BERT: weight decay 0.01, gradient clipping at norm 1.0). The config is frozen and validated on
construction: a bad field raises `SpecError` naming it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from swallowtail.errors import SpecError, check_int, is_real

SCHEDULES = ("cosine", "linear", "constant")
#: warmup length when `warmup_steps` is None: this fraction of `steps` (BERT / LRA use 1-10%)
DEFAULT_WARMUP_FRACTION = 0.1

#: fields that decide the training trajectory: a resumed run must have the same values as the run it
#: continues, or it would not be the same run (the rest -- logging, evaluation, checkpoint cadence,
#: threads, out_dir -- may change between a run and its resumption)
TRAJECTORY_FIELDS = (
    "steps",
    "batch_size",
    "lr",
    "weight_decay",
    "warmup_steps",
    "schedule",
    "grad_clip",
    "seed",
    "seq_len",
)


def _real(name: str, value: Any, minimum: float, strict: bool, maximum: float | None = None) -> None:
    ok = is_real(value) and math.isfinite(value)
    if ok:
        ok = (value > minimum if strict else value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        most = "" if maximum is None else f" and <= {maximum:g}"
        raise SpecError(name, value, f"a finite number {'>' if strict else '>='} {minimum}{most}")


#: the largest learning rate: AdamW moves a weight by about `lr` a step, so a larger one is no learning rate
#: (and from about 3e37 its step no longer fits a float32: torch raises an overflow error mid-run)
MAX_LR = 1e3
#: the most torch intra-op threads: more than any machine has cores (torch crashes -- a segmentation fault
#: or "Thread creation failed" -- on tens of thousands)
MAX_THREADS = 1024


#: the longest sequence a training run takes: 4x LRA's longest task (Path-X, 16K tokens); one attention
#: layer's scores at 64K tokens are already 16 GiB per head in fp32
MAX_SEQ_LEN = 65536


#: the largest seed (32 bits): the derived streams (seed x 2^20 per epoch, seed x 2^16 per rank) must stay
#: within the signed 64-bit integer torch.manual_seed takes
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    steps: optimizer steps. batch_size: examples per step *per process* (data-parallel runs take
        world_size x batch_size examples per step).
    lr, weight_decay: AdamW (decay on weight matrices and butterfly factors, not on biases / LayerNorm).
    warmup_steps: linear warmup from 0; None = DEFAULT_WARMUP_FRACTION of `steps`.
    schedule: after warmup, "cosine" or "linear" decay to 0 at `steps`, or "constant".
    grad_clip: clip the global gradient norm to this; None = no clipping.
    eval_every: evaluate on the validation split every this many steps (0 = only at the end).
    eval_batches: batches of the validation split per evaluation (0 = the whole split).
    seed: model initialisation, dropout and data order.
    threads: torch intra-op threads (None = leave torch's setting).
    checkpoint_every: write `checkpoint.pt` every this many steps (0 = only at the end); needs out_dir.
    out_dir: where metrics.jsonl, metrics.png, checkpoint.pt, best.pt, result.json go (None = nowhere).
    log_every: append a training record to metrics.jsonl every this many steps.
    seq_len: truncate / right-pad every input to this length (None = the task's length).
    """

    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int | None = None
    schedule: str = "cosine"
    grad_clip: float | None = 1.0
    eval_every: int = 100
    eval_batches: int = 0
    seed: int = 0
    threads: int | None = None
    checkpoint_every: int = 100
    out_dir: str | None = None
    log_every: int = 10
    seq_len: int | None = None

    def __post_init__(self) -> None:
        check_int("steps", self.steps, 1)
        check_int("batch_size", self.batch_size, 1)
        _real("lr", self.lr, 0.0, strict=True, maximum=MAX_LR)
        _real("weight_decay", self.weight_decay, 0.0, strict=False)
        if self.warmup_steps is not None:
            check_int("warmup_steps", self.warmup_steps, 0)
            if self.warmup_steps > self.steps:
                raise SpecError("warmup_steps", self.warmup_steps, f"at most steps = {self.steps}")
        if self.schedule not in SCHEDULES:
            raise SpecError("schedule", self.schedule, f"one of {list(SCHEDULES)}")
        if self.grad_clip is not None:
            _real("grad_clip", self.grad_clip, 0.0, strict=True)
        for name in ("eval_every", "eval_batches", "checkpoint_every"):
            check_int(name, getattr(self, name), 0)
        check_int("seed", self.seed, 0, MAX_SEED)
        check_int("log_every", self.log_every, 1)
        if self.threads is not None:
            check_int("threads", self.threads, 1, MAX_THREADS)
        if self.seq_len is not None:
            check_int("seq_len", self.seq_len, 1, MAX_SEQ_LEN)
        if self.out_dir is not None and not isinstance(self.out_dir, str):
            object.__setattr__(self, "out_dir", str(self.out_dir))  # accept a Path

    # ---- derived ----------------------------------------------------------------------------------------
    @property
    def warmup(self) -> int:
        """Warmup steps actually used."""
        if self.warmup_steps is not None:
            return self.warmup_steps
        return int(DEFAULT_WARMUP_FRACTION * self.steps)

    def lr_factor(self, step: int) -> float:
        """Multiplier of `lr` for optimizer step `step` (0-based): linear warmup, then the decay."""
        warmup = self.warmup
        if step < warmup:
            return (step + 1) / warmup
        if self.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, self.steps - warmup)  # in [0, 1)
        if self.schedule == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    # ---- (de)serialisation --------------------------------------------------------------------------------
    def replace(self, **changes: Any) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(self)}
        for key, value in changes.items():
            if key not in known:
                raise SpecError(key, value, f"not a TrainConfig field; fields are {sorted(known)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def trajectory(self) -> dict[str, Any]:
        """The fields that a resumed run must share with the run it continues."""
        out = {k: getattr(self, k) for k in TRAJECTORY_FIELDS}
        out["warmup_steps"] = self.warmup  # None and its resolved value are the same run
        return out
