"""Crash safety: `reproduce --jobs 2` SIGKILLed mid-run leaves no process and no temp file behind, and a
rerun completes with the same results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: how long the killed run's workers may take to go, and the run to start its pool
GONE_WITHIN_S = 15.0
START_WITHIN_S = 120.0


def _children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _reproduce(out: Path) -> list[str]:
    return [sys.executable, "-m", "swallowtail", "reproduce", "--quick", "--jobs", "2", "--out", str(out)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_leaves_no_process_no_temp_and_rerun_is_identical(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen(_reproduce(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + START_WITHIN_S
    while len(_children(proc.pid)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    workers = _children(proc.pid)
    assert proc.poll() is None and len(workers) >= 2, "the run did not start its pool in time"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + GONE_WITHIN_S
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [w for w in workers if _alive(w)], "workers outlived the killed run"

    # a temp file a killed writer left (its pid no longer runs) goes with the next write
    out.mkdir(exist_ok=True)
    stale = out / f".results.json.{proc.pid}.abc.tmp"
    stale.write_text("half a file")
    first = subprocess.run(_reproduce(out), capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-2000:]
    assert not stale.exists() and not list(out.glob(".*.tmp"))
    again = tmp_path / "again"
    second = subprocess.run(_reproduce(again), capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-2000:]
    a = json.loads((out / "results.json").read_text())
    b = json.loads((again / "results.json").read_text())
    assert a == b
