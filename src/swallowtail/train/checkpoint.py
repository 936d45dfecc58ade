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

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"
#: bump when the layout of a checkpoint changes
CHECKPOINT_VERSION = 2


def atomic_save(obj: Any, path: str | Path) -> None:
    """torch.save to a temp file beside `path`, fsync, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(text: str, path: str | Path) -> None:
    """Write `text` to `path` through a temp file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by `atomic_save` (tensors and plain values only)."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "version" not in state:
        raise ValueError(f"{path} is not a swallowtail training checkpoint")
    if state["version"] != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path} is a version {state['version']} checkpoint; this swallowtail reads version "
            f"{CHECKPOINT_VERSION}: start the run again in a new directory"
        )
    return state
