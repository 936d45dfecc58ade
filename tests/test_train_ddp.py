"""Data-parallel training: two processes under torchrun (gloo, CPU) end with identical weights, the loss
falls, and a run killed between checkpoints resumes to the same weights on every rank."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

#: the whole launch (two interpreters importing torch) stays well inside this
TIMEOUT_S = 120


def test_two_processes_identical_weights_and_falling_loss(tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--standalone",
        "-m",
        "swallowtail.train.ddp_smoke",
        "--out",
        str(out),
        "--steps",
        "40",
        "--check-resume",
        "--kill-at",
        "25",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    w0 = torch.load(out / "weights_rank0.pt", weights_only=True)
    w1 = torch.load(out / "weights_rank1.pt", weights_only=True)
    assert w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0)
    records = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train_loss"] for r in records if "train_loss" in r]
    assert len(losses) == 8 and losses[-1] < losses[0] - 0.05
    result = json.loads((out / "run" / "result.json").read_text())
    assert result["world_size"] == 2 and result["steps"] == 40
    assert not (out / "run" / "weights_rank1.pt").exists()  # only rank 0 writes the run's files
    for rank, w in enumerate((w0, w1)):  # killed after step 25 (checkpoint of step 20), resumed to 40
        r = torch.load(out / f"resumed_rank{rank}.pt", weights_only=True)
        assert all(torch.equal(w[k], r[k]) for k in w)
    resumed = json.loads((out / "killed" / "result.json").read_text())
    assert resumed["resumed_from"] == 20 and resumed["steps"] == 40
