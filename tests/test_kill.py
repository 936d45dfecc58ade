"""Crash safety: `reproduce --jobs 2` SIGKILLed mid-run leaves no process and no temp file behind, and a
rerun completes with the same results; `train` SIGKILLed mid-run resumes from its checkpoint to the result
of an uninterrupted run."""

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


#: a ListOps and a network small enough that a few hundred steps take seconds (as in test_train_cli)
TRAIN_TASK_PARAMS = ["n_train=40", "n_val=8", "n_test=8", "min_len=8", "max_len=32", "seed=1"]
TRAIN_MODEL = "preset: lra-listops\nd_model: 16\nn_heads: 2\nd_ff: 32\nn_layers: 2\nattention_layers: 1\n"
TRAIN_STEPS = 300


def _train(model: Path, out: Path, *extra: str) -> list[str]:
    params = [a for p in TRAIN_TASK_PARAMS for a in ("--task-param", p)]
    return [
        sys.executable, "-m", "swallowtail", "train", "--task", "listops", "--model", str(model),
        "--steps", str(TRAIN_STEPS), "--batch-size", "4", "--checkpoint-every", "5", "--eval-every", "50",
        "--threads", "1", *params, "--out", str(out), *extra,
    ]  # fmt: skip


def test_train_sigkilled_mid_run_resumes_to_the_same_result(tmp_path: Path) -> None:
    model = tmp_path / "tiny.yaml"
    model.write_text(TRAIN_MODEL)
    env = {**os.environ, "SWALLOWTAIL_CACHE": str(tmp_path / "cache")}
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _train(model, killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    deadline = time.monotonic() + START_WITHIN_S
    while not (killed / "checkpoint.pt").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed (raise TRAIN_STEPS)"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "result.json").exists(), "the kill should land mid-run"

    resumed = subprocess.run(_train(model, killed, "--resume"), capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not list(killed.glob(".*.tmp")) and not list(killed.glob("*.tmp"))
    whole = subprocess.run(_train(model, tmp_path / "whole"), capture_output=True, text=True, env=env)
    assert whole.returncode == 0, whole.stderr[-2000:]
    a = json.loads((killed / "result.json").read_text())
    b = json.loads((tmp_path / "whole" / "result.json").read_text())
    for key in ("test_acc", "final_test_acc", "best_val_acc", "best_step", "train_loss", "steps"):
        assert a[key] == b[key], key
