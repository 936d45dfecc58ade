"""`swallowtail train` and `swallowtail accuracy-sweep` through typer's CliRunner: tiny runs that write
their files, and clean errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from swallowtail.cli import train as train_cli
from swallowtail.cli.train import parse_counts, parse_task_params
from swallowtail.errors import SpecError

app = typer.Typer()
app.command("train")(train_cli.train)
app.command("accuracy-sweep")(train_cli.accuracy_sweep)

#: a ListOps small enough to generate and train on in a second
LISTOPS = ["n_train=40", "n_val=8", "n_test=8", "min_len=8", "max_len=32", "seed=1"]
TINY_MODEL = {
    "preset": "lra-listops",
    "d_model": 16,
    "n_heads": 2,
    "d_ff": 32,
    "n_layers": 2,
    "attention_layers": 1,
}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SWALLOWTAIL_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def tiny_model(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text("".join(f"{k}: {v}\n" for k, v in TINY_MODEL.items()))
    return str(path)


def _task_params() -> list[str]:
    return [arg for p in LISTOPS for arg in ("--task-param", p)]


def test_train_three_steps_writes_files(tmp_path, tiny_model):
    out = tmp_path / "run"
    args = ["train", "--task", "listops", "--model", tiny_model, "--steps", "3", "--batch-size", "4"]
    res = CliRunner().invoke(app, [*args, *_task_params(), "--out", str(out), "--threads", "1"])
    assert res.exit_code == 0, res.output
    for name in ("metrics.jsonl", "checkpoint.pt", "metrics.png", "best.pt", "result.json", "config.json"):
        assert (out / name).is_file(), name
    assert "adapted" in res.output and "vocab_size" in res.output  # the adaptation is reported
    assert "test accuracy" in res.output
    # --resume of the finished run, as JSON
    res = CliRunner().invoke(app, [*args, *_task_params(), "--out", str(out), "--resume", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout[res.stdout.index("{") :])
    assert doc["steps"] == 3 and doc["resumed_from"] == 3 and doc["model_config"]["pooling"] == "mean"


def test_train_without_out_writes_a_new_run_directory_and_says_where(tmp_path, tiny_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["train", "--task", "listops", "--model", tiny_model, "--steps", "2", "--batch-size", "4"]
    for n in (1, 2):  # a second run never overwrites the first
        res = CliRunner().invoke(app, [*args, *_task_params(), "--threads", "1"])
        assert res.exit_code == 0, res.output
        run = Path("runs") / f"listops-{n:03d}"
        assert f"writing the run to {run}" in res.output
        assert (tmp_path / run / "result.json").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--task", "cifar100"], "task"),
        (["--task", "listops", "--steps", "0"], "steps"),
        (["--task", "listops", "--steps", "-1"], "steps"),
        (["--task", "listops", "--task-param", "n_train"], "key=value"),
        (["--task", "listops", "--task-param", "n_trian=3"], "n_trian"),
        (["--task", "listops", "--model", "no-such-preset"], "preset"),
        (["--task", "listops", "--resume"], "--out"),
    ],
)
def test_train_bad_input_is_a_clean_error(extra, message):
    res = CliRunner().invoke(app, ["train", *extra])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_train_nan_loss_exit_status(tmp_path, tiny_model):
    args = ["train", "--task", "listops", "--model", tiny_model, "--steps", "6", "--lr", "1e3"]
    res = CliRunner().invoke(app, [*args, *_task_params(), "--out", str(tmp_path / "nan")])
    assert res.exit_code == train_cli.EXIT_DIVERGED, res.output
    assert "at step" in res.output and "Traceback" not in res.output


def test_accuracy_sweep_writes_sweep_json_and_plot(tmp_path, tiny_model):
    out = tmp_path / "sweep"
    args = ["accuracy-sweep", "--task", "listops", "--model", tiny_model, "--attention-layers", "0,1"]
    res = CliRunner().invoke(
        app, [*args, "--steps", "2", "--batch-size", "4", *_task_params(), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "sweep.json").read_text())
    names = [m["name"] for m in doc["models"]]
    assert names == ["all-fourier", "hybrid-1", "transformer"]
    for m in doc["models"]:
        assert m["flops"] > 0 and m["params"] > 0 and m["latency_s"] > 0
        assert m["train_samples_per_s"] > 0 and 0 <= m["accuracy"] <= 1
        assert (out / m["name"] / "metrics.jsonl").is_file()
    tf = doc["models"][-1]
    assert tf["flop_ratio_vs_transformer"] == 1.0 and tf["block_kinds"] == ["dense", "dense"]
    assert doc["models"][0]["flop_ratio_vs_transformer"] > 1.0
    assert "latency" in doc["latency_label"] and doc["latency_arch"] == "df-4x4-simd8"
    assert (out / "sweep.png").is_file()
    bad = CliRunner().invoke(app, [*args[:-1], "0,5", "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "attention_layers" in bad.output


def test_parsers():
    assert parse_task_params(["n_train=20", "data_dir=/x/y", "cache=false", "source=idx"]) == {
        "n_train": 20,
        "data_dir": "/x/y",
        "cache": False,
        "source": "idx",
    }
    text = ("data_dir", "prefix")  # a folder or a name as typed, not read as a number
    assert parse_task_params(["data_dir=2024", "prefix=1", "seed=1"], text) == {
        "data_dir": "2024",
        "prefix": "1",
        "seed": 1,
    }
    with pytest.raises(SpecError):
        parse_task_params(["a=1", "a=2"])
    with pytest.raises(SpecError):
        parse_task_params(["=3"])
    assert parse_counts("0, 1,2") == [0, 1, 2]
    with pytest.raises(SpecError):
        parse_counts("one")
