"""Data-parallel smoke run: a tiny network on the toy task, every rank saving its final weights.

    torchrun --standalone --nproc_per_node 2 -m swallowtail.train.ddp_smoke --out DIR [--steps N]

Rank r writes DIR/weights_rank{r}.pt (its final state_dict); rank 0 also writes the usual run files
(metrics.jsonl, checkpoint.pt, ...) under DIR/run. All ranks must end with identical weights (DDP averages
the gradients, so every rank applies the same update) and the loss must fall.

--check-resume: then the same run again in DIR/killed, stopped after `--kill-at` steps (as if killed) and
resumed from its last checkpoint; rank r writes DIR/resumed_rank{r}.pt, which must equal weights_rank{r}.pt.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

import torch

from swallowtail.nn.config import HybridConfig
from swallowtail.train.checkpoint import atomic_save
from swallowtail.train.config import TrainConfig
from swallowtail.train.distributed import setup, teardown
from swallowtail.train.loop import train
from swallowtail.train.toy import toy_task

#: checkpoint cadence of the --check-resume run (the kill lands between two checkpoints)
RESUME_CHECKPOINT_EVERY = 10


class _Killed(Exception):
    """Raised from the step callback to stop a run as a kill would."""


#: a network small enough that two processes train it in seconds
SMOKE_CONFIG = HybridConfig(
    d_model=16, n_heads=2, d_ff=32, n_layers=2, vocab_size=4, n_classes=2, attention_layers=1, dropout=0.1
)
SMOKE_LR = 1e-2


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="directory for the weights and the run")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=16, help="examples per step per process")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check-resume", action="store_true", help="also kill a second run and resume it")
    ap.add_argument("--kill-at", type=int, default=25, help="step after which the second run is stopped")
    args = ap.parse_args(argv)
    ctx = setup()  # join the group here so that the weights can be saved after train() returns
    try:
        tc = TrainConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            lr=SMOKE_LR,
            warmup_steps=0,
            eval_every=0,
            log_every=5,
            checkpoint_every=0,
            seed=args.seed,
            threads=1,
            out_dir=str(Path(args.out) / "run"),
        )
        task = toy_task(seq_len=16, vocab_size=4)
        result = train(SMOKE_CONFIG, task, tc, progress=False)
        atomic_save(result.model.state_dict(), Path(args.out) / f"weights_rank{ctx.rank}.pt")
        if args.check_resume:
            tc = tc.replace(out_dir=str(Path(args.out) / "killed"), checkpoint_every=RESUME_CHECKPOINT_EVERY)

            def kill(step: int, loss: float) -> None:
                if step == args.kill_at:
                    raise _Killed(step)

            with contextlib.suppress(_Killed):
                train(SMOKE_CONFIG, task, tc, progress=False, step_callback=kill)
            resumed = train(SMOKE_CONFIG, task, tc, resume=True, progress=False)
            atomic_save(resumed.model.state_dict(), Path(args.out) / f"resumed_rank{ctx.rank}.pt")
    finally:
        teardown(ctx)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
