"""Checkpoints: everything a killed run needs to go on exactly where it stopped, written atomically.

A checkpoint holds the model, optimizer and scheduler states, the torch RNG state of every rank (dropout),
the data stream's position (epoch, offset), the step, the best validation accuracy so far and its weights
(best.pt is their export for users; a killed run may have rewritten it after the checkpoint), and the
model / training / task descriptions that the resumed run must match. It is written to a temporary file in
the same directory and renamed over the old one (`os.replace` is atomic on POSIX), so a kill while
writing leaves the previous checkpoint intact. Files load with `torch.load(weights_only=True)`: they hold
tensors and plain values only.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from swallowtail.atomicio import write_atomic

CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"
#: bump when the layout of a checkpoint changes
CHECKPOINT_VERSION = 2


def atomic_save(obj: Any, path: str | Path) -> None:
    """torch.save `obj` to `path` whole or not at all (`swallowtail.atomicio.write_atomic`)."""
    write_atomic(path, lambda f: torch.save(obj, f), mode="wb")


#: what a training checkpoint holds beside its version (the resumed run reads each)
CHECKPOINT_KEYS = (
    "step", "model", "optimizer", "scheduler", "rng", "data", "best_val_acc", "best_step", "best_model",
    "model_config", "trajectory", "task",
)  # fmt: skip


def load(path: str | Path) -> dict[str, Any]:
    """A training checkpoint (`CHECKPOINT_FILE`, what a resumed run reads: tensors and plain values only); a
    ValueError naming the file for anything else: a truncated or foreign file, another version, a key
    missing. `BEST_FILE` is not one (the best weights, for users): read it with
    `torch.load(path, weights_only=True)`."""
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:  # RuntimeError: a broken zip
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path} is not a readable swallowtail training checkpoint ({why})") from None
    if not isinstance(state, dict) or "version" not in state:
        raise ValueError(f"{path} is not a swallowtail training checkpoint")
    if state["version"] != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path} is a version {state['version']} checkpoint; this swallowtail reads version "
            f"{CHECKPOINT_VERSION}: start the run again in a new directory"
        )
    missing = [k for k in CHECKPOINT_KEYS if k not in state]
    if missing:
        raise ValueError(f"{path} is not a whole swallowtail training checkpoint (no {', '.join(missing)})")
    return state
