"""On-disk cache of generated datasets, keyed by a content hash of everything that determines them.

Generating 100k ListOps expressions or 200k Pathfinder images takes minutes; loading them takes a second.
The key is the SHA-256 of a canonical JSON of (task name, generator version, parameters), so any change
of a parameter -- or of the generator, through its version string -- gives a new file. Files are written
atomically (a temp file in the same directory, then `os.replace`), so a reader never sees half a file and two
processes generating the same dataset at once both end with a complete one.

Directory: `$SWALLOWTAIL_CACHE` if set, else `~/.cache/swallowtail`; datasets go in its `tasks/` folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from swallowtail.atomicio import write_atomic
from swallowtail.errors import SpecError
from swallowtail.tasks.base import SPLITS, TaskData

#: environment variable naming the cache directory
CACHE_ENV = "SWALLOWTAIL_CACHE"
#: what reading a truncated, corrupt or foreign cache file raises (torch.load: RuntimeError from its zip
#: reader, UnpicklingError from the restricted unpickler; a file of another structure, in _unpack and
#: TaskData.from_state: KeyError, TypeError, AttributeError, ValueError)
UNREADABLE = (
    OSError, EOFError, RuntimeError, ValueError, KeyError, TypeError, AttributeError, pickle.UnpicklingError
)  # fmt: skip
#: where the cache lives when the variable is unset
DEFAULT_CACHE_DIR = Path("~/.cache/swallowtail")


def cache_dir() -> Path:
    """The directory datasets are cached in (not created here); a SpecError naming `SWALLOWTAIL_CACHE` when
    it cannot be one (a file, a `~user` that does not exist)."""
    root = os.environ.get(CACHE_ENV)
    field = CACHE_ENV if root else "the default cache folder"
    try:
        base = (Path(root) if root else DEFAULT_CACHE_DIR).expanduser()
    except RuntimeError as exc:  # expanduser of ~nosuchuser, or no home directory
        raise SpecError(field, root or str(DEFAULT_CACHE_DIR), f"a folder path ({exc})") from None
    for p in (base, base / "tasks"):
        if p.exists() and not p.is_dir():
            raise SpecError(field, str(base), f"a folder ({p} is a file)")
    return base / "tasks"


def cache_key(name: str, version: str, params: dict[str, Any]) -> str:
    """SHA-256 hex digest of the canonical JSON of (name, version, params)."""
    blob = json.dumps({"task": name, "version": version, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def cache_path(name: str, version: str, params: dict[str, Any]) -> Path:
    return cache_dir() / f"{name}-{cache_key(name, version, params)[:24]}.pt"


def _pack(state: dict[str, Any]) -> dict[str, Any]:
    """Token tensors stored as int16 on disk (ids < 2^15 in every task): a quarter of the bytes of int64."""
    out = dict(state)
    for split in SPLITS:
        out[split] = {
            k: v.to(torch.int16) if isinstance(v, torch.Tensor) and _fits_int16(v) else v
            for k, v in state[split].items()
        }
    return out


def _fits_int16(t: torch.Tensor) -> bool:
    return t.numel() == 0 or (int(t.min()) >= -(2**15) and int(t.max()) < 2**15)


def _unpack(state: dict[str, Any]) -> dict[str, Any]:
    out = dict(state)
    for split in SPLITS:
        items = state[split].items()
        out[split] = {k: v.to(torch.int64) if isinstance(v, torch.Tensor) else v for k, v in items}
    return out


def save_atomic(data: TaskData, path: Path) -> None:
    """Write `data` to `path` whole or not at all (`swallowtail.atomicio`)."""
    write_atomic(path, lambda f: torch.save(_pack(data.to_state()), f), mode="wb")


def load(path: Path) -> TaskData:
    """Read a cached dataset (tensors back to int64)."""
    return TaskData.from_state(_unpack(torch.load(path, weights_only=True)))


def cached(
    name: str, version: str, params: dict[str, Any], build: Callable[[], TaskData], use_cache: bool = True
) -> TaskData:
    """The cached dataset for (name, version, params) if present, else `build()` it and store it.

    A corrupt or unreadable cache file is rebuilt, not trusted.
    """
    if not use_cache:
        return build()
    path = cache_path(name, version, params)
    if path.exists():
        try:
            return load(path)
        except UNREADABLE:  # a truncated or foreign file: rebuild it (a bug in load() still raises)
            pass
    data = build()
    save_atomic(data, path)
    return data
