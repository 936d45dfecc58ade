"""Processes that clean up after themselves: workers that die with their parent, temp files a killed writer
left behind.

- `die_with_parent()`: a process-pool initializer; on Linux it asks the kernel (prctl PR_SET_PDEATHSIG) to
  kill the worker when the process that started it dies -- even by SIGKILL, when no handler can run. Elsewhere
  it does nothing (the pool's own shutdown still applies on a normal exit).
- `temp_name_prefix(name)` / `remove_stale_temps(folder, name)`: a temp file carries the writer's PID; a later
  writer removes the temp files of writers that no longer run (a SIGKILL between write and rename).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from pathlib import Path

#: prctl option: the signal the kernel sends this process when its parent dies (linux/prctl.h)
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Pool initializer: SIGKILL this process when its parent dies (Linux; a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    libc = ctypes.CDLL(libc_name, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:  # the parent died before the request: follow it now
        os._exit(1)


def temp_name_prefix(name: str) -> str:
    """Prefix of a temp file for `name` written by this process: `.<name>.<pid>.`"""
    return f".{name}.{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def remove_stale_temps(folder: Path, name: str, suffix: str = ".tmp") -> list[Path]:
    """Remove `folder/.<name>.<pid>.*<suffix>` files whose writer (pid) no longer runs; the removed paths."""
    removed = []
    for p in folder.glob(f".{name}.*{suffix}"):
        pid = p.name[len(name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


__all__ = ["die_with_parent", "remove_stale_temps", "temp_name_prefix"]
