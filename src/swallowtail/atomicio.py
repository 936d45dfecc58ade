"""Files written whole or not at all: a temp file in the same folder, fsync, then `os.replace` (a link is
followed to its target; a stream such as /dev/stdout is written into, never replaced).

    write_json_atomic("out/results.json", obj)        # strict JSON, sorted keys, non-finite floats -> null
    write_text_atomic("out/summary.md", text)
    write_atomic("out/x.png", lambda fh: fh.write(png), mode="wb")

A reader sees the old file or the whole new one, never half of it; on any error the temp file is removed and
the target is left as it was. A temp file carries its writer's PID (`swallowtail.procs`), so the next writer
to the folder removes those a killed writer left.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from swallowtail.errors import SpecError
from swallowtail.procs import remove_stale_temps, temp_name_prefix

#: permissions of written files before the umask (mkstemp makes them private: 0o600)
FILE_MODE = 0o666
#: the umask when /proc cannot be read
DEFAULT_UMASK = 0o022
#: JSON indentation (small: result files hold every op of every run)
JSON_INDENT = 1


def finite_json(obj: Any) -> Any:
    """JSON-safe: non-finite floats become None (strict JSON has no NaN / Infinity), tuples lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): finite_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite_json(v) for v in obj]
    return obj


def _dump_json(obj: Any, fh: Any) -> None:
    json.dump(obj, fh, indent=JSON_INDENT, sort_keys=True, allow_nan=False)
    fh.write("\n")


def _umask() -> int:
    """The process umask, read without changing it (os.umask would, briefly, for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return DEFAULT_UMASK


def check_writable(path: str | Path, field: str = "output") -> Path:
    """The path to write for `path` (a link is followed to its target): a regular file or a new path, whose
    nearest existing folder this process may write into (missing folders are made), or a stream -- a
    character device or a pipe, e.g. /dev/stdout -- that is written into, never replaced. A folder or any
    other special file is a SpecError naming `field`; a command checks its output paths before its work."""
    if _is_stream(Path(path)):  # stat follows links: /dev/stdout -> /proc/self/fd/1 -> a pipe or a tty
        return Path(path)
    target = Path(path).resolve() if Path(path).is_symlink() else Path(path)
    if str(path) in ("", "."):  # an empty option is Path("."): say so, not just "not a folder"
        raise SpecError(field, str(path), "a file path (an empty path names the current folder)")
    if target.exists() and not target.is_file():
        raise SpecError(field, str(path), "a file, a new path or a stream (not a folder or a block device)")
    _check_folder_writable(target.parent, field, Path(path))
    return target


def _is_stream(path: Path) -> bool:
    """A character device or a FIFO: written into as it is (os.replace would put a file in its place)."""
    try:
        st = path.stat()
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)


def check_writable_folder(folder: str | Path, field: str = "--out") -> Path:
    """`folder` if files can be written into it: an existing folder, or a new one under a folder this
    process may write into. Otherwise a SpecError naming `field`."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise SpecError(field, str(folder), "a folder (new or existing); this path is a file")
    _check_folder_writable(folder, field, folder)
    return folder


def _check_folder_writable(folder: Path, field: str, shown: Path) -> None:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise SpecError(field, str(shown), f"a path in a folder this process can write ({folder} is not)")


def write_atomic(path: str | Path, write: Callable[[Any], None], mode: str = "w") -> Path:
    """Write a file through `write(fh)` into a temp file in the same folder, then `os.replace` it onto
    `path`: readers see the old file or the whole new one, never half of it. On any error the temp file
    is removed and `path` is left as it was."""
    path = check_writable(path)
    if _is_stream(path):  # /dev/stdout, a pipe: written into, as a stream is
        with open(path, mode, encoding=None if "b" in mode else "utf-8") as fh:
            write(fh)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent, path.name)  # a killed writer's leftovers
    fd, tmp = tempfile.mkstemp(prefix=temp_name_prefix(path.name), suffix=".tmp", dir=path.parent)
    try:
        # a replaced file keeps its permissions; a new one gets FILE_MODE less the umask
        os.chmod(tmp, stat.S_IMODE(path.stat().st_mode) if path.is_file() else FILE_MODE & ~_umask())
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    return write_atomic(path, lambda fh: _dump_json(finite_json(obj), fh))


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_atomic(path, lambda fh: fh.write(text))


__all__ = [
    "check_writable",
    "check_writable_folder",
    "finite_json",
    "write_atomic",
    "write_json_atomic",
    "write_text_atomic",
]
