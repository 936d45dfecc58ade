"""Limits before work (swallowtail.cli.limits): every command that can allocate a lot or run long estimates
its memory and time before it starts, refuses over the machine's budget with exit status 2 and one line that
gives the estimate and names --force, and runs with --force; the budget and its overrides; the defaults fit
the laptop they are sized for (estimates, not timings)."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swallowtail.cli import app, limits
from swallowtail.cli import train as train_cli
from swallowtail.errors import SpecError
from swallowtail.tasks import TaskShape, task_shape

runner = CliRunner()
#: a budget nothing fits (the refusals) and a forced run of something small
TINY = {limits.MEMORY_ENV: "1K", limits.TIME_ENV: "0.001s"}
#: a refusal comes before any allocation: within this wall time, and the process grows by less than this
REFUSAL_S = 5.0
REFUSAL_RSS_BYTES = 300 << 20
FACTORY = (
    "import torch\n\n\ndef build():\n"
    "    return torch.nn.Sequential(torch.nn.Embedding(16, 8), torch.nn.Linear(8, 8))\n"
)
TINY_MODEL = "preset: lra-listops\nd_model: 16\nn_heads: 2\nd_ff: 32\nn_layers: 2\nattention_layers: 1\n"
LISTOPS = ["n_train=40", "n_val=8", "n_test=8", "min_len=8", "max_len=32", "seed=1"]
#: one machine, one small workload, the roofline backend: a sweep that runs in a second
SWEEP = {
    "name": "tiny",
    "params": {"pe.simd_lanes": [8]},
    "workloads": [{"model": "lra-image", "seq_len": [256]}],
    "backends": ["roofline"],
}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SWALLOWTAIL_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(limits.MEMORY_ENV, raising=False)
    monkeypatch.delenv(limits.TIME_ENV, raising=False)


@pytest.fixture
def files(tmp_path) -> dict[str, str]:
    (tmp_path / "factory.py").write_text(FACTORY)
    (tmp_path / "tiny.yaml").write_text(TINY_MODEL)
    (tmp_path / "sweep.yaml").write_text(json.dumps(SWEEP))
    return {"factory": f"{tmp_path}/factory.py:build", "model": str(tmp_path / "tiny.yaml")}


def _listops() -> list[str]:
    return [a for p in LISTOPS for a in ("--task-param", p)]


def _commands(f: dict[str, str]) -> dict[str, list[str]]:
    """A small run of every command that checks a budget (each runs in seconds when forced)."""
    small_train = ["--model", f["model"], "--steps", "2", "--batch-size", "4", "--threads", "1", *_listops()]
    return {
        "kernel": ["kernel", "--op", "butterfly", "--n", "64", "--rows", "8"],
        "simulate": ["simulate", "--model", "lra-image", "--seq-len", "256", "--json"],
        "roofline": ["roofline", "--model", f["factory"], "--seq-len", "16"],
        "baseline": ["baseline", "--target", "sanger", "--model", f["factory"], "--seq-len", "16"],
        "workload show": ["workload", "show", f["factory"], "--seq-len", "16"],
        "workload import": ["workload", "import", f["factory"], "--input-shape=1,16", "--input-dtype=int64"],
        "train": ["train", "--task", "listops", *small_train, "--out", "run"],
        "accuracy-sweep": ["accuracy-sweep", "--task", "listops", *small_train, "--out", "sweep"],
        "dse run": ["dse", "run", "sweep.yaml", "--store", "tiny.db", "--workers", "1"],
    }


COMMANDS = list(_commands({"factory": "", "model": ""}))


def _rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.mark.parametrize("name", COMMANDS)
def test_over_budget_is_refused_before_any_work_naming_the_estimate_and_force(name, files):
    args = _commands(files)[name]
    rss0, t0 = _rss(), time.perf_counter()
    out = runner.invoke(app, args, env=TINY)
    wall = time.perf_counter() - t0
    text = out.output.strip()
    assert out.exit_code == 2, text
    assert len(text.splitlines()) == 1 and text.startswith("error: "), text
    assert "--force" in text and "needs an estimated" in text and "of memory and" in text, text
    assert "budget of 1.0 KiB of memory" in text, text
    assert wall < REFUSAL_S and _rss() - rss0 < REFUSAL_RSS_BYTES
    assert not Path("run").exists() and not Path("sweep").exists() and not Path("tiny.db").exists()


@pytest.mark.parametrize("name", COMMANDS)
def test_force_runs_it_anyway(name, files):
    out = runner.invoke(app, [*_commands(files)[name], "--force"], env=TINY)
    assert out.exit_code == 0, out.output


def test_reproduce_is_refused_over_budget_and_force_passes_the_check(monkeypatch):
    out = runner.invoke(app, ["reproduce", "--quick", "--out", "r"], env=TINY)
    assert out.exit_code == 2 and "--force" in out.output and "reproduce --quick needs" in out.output
    import swallowtail.experiments as experiments

    def started(*args, **kwargs):  # the suite would run next: the check let it through
        raise RuntimeError("started")

    monkeypatch.setattr(experiments, "run_suite", started)
    out = runner.invoke(app, ["reproduce", "--quick", "--out", "r", "--force"], env=TINY)
    assert isinstance(out.exception, RuntimeError) and str(out.exception) == "started"


# ---- the budget ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "value"), [("4G", 4 << 30), ("512M", 512 << 20), ("1e9", 1e9), ("2 GiB", 2 << 30), ("7k", 7168)]
)
def test_sizes(text, value):
    assert limits.parse_size("x", text) == value


@pytest.mark.parametrize(("text", "value"), [("3600", 3600), ("90s", 90), ("10m", 600), ("2h", 7200)])
def test_durations(text, value):
    assert limits.parse_duration("x", text) == value


@pytest.mark.parametrize("text", ["", "lots", "-1G", "0", "inf", "nan", "1e400"])
def test_bad_budget_overrides_are_clean_errors_naming_the_variable(text, monkeypatch):
    monkeypatch.setenv(limits.MEMORY_ENV, text or " ")
    with pytest.raises(SpecError, match=limits.MEMORY_ENV):
        limits.machine_budget()
    monkeypatch.delenv(limits.MEMORY_ENV)
    monkeypatch.setenv(limits.TIME_ENV, text or " ")
    with pytest.raises(SpecError, match=limits.TIME_ENV):
        limits.machine_budget()
    for args in (["kernel", "--n", "64", "--rows", "8"], ["roofline", "-m", "fabnet-base", "-L", "128"]):
        out = runner.invoke(app, args, env={limits.TIME_ENV: text or " "})
        assert out.exit_code == 2 and limits.TIME_ENV in out.output, args


def test_the_budget_is_the_available_memory_unless_overridden(monkeypatch):
    b = limits.machine_budget()
    avail = limits.available_memory_bytes()
    assert avail is not None and 0 < b.memory_bytes <= avail
    assert b.time_s == limits.DEFAULT_TIME_BUDGET_S
    monkeypatch.setenv(limits.MEMORY_ENV, "3G")
    monkeypatch.setenv(limits.TIME_ENV, "5m")
    b = limits.machine_budget()
    assert (b.memory_bytes, b.time_s, b.memory_source) == (3 << 30, 300, limits.MEMORY_ENV)


def test_check_and_its_message():
    est = limits.Estimate(3 << 30, 7200, "a detail")
    budget = limits.Budget(2 << 30, 3600, "M", "T")
    with pytest.raises(limits.BudgetExceeded) as info:
        limits.check("thing", est, force=False, budget=budget)
    msg = str(info.value)
    assert msg.startswith("thing needs an estimated 3.0 GiB of memory and 2.0 h (a detail)")
    assert "budget of 2.0 GiB of memory (M) and 1.0 h (T)" in msg and "--force" in msg
    assert info.value.field == "--force" and isinstance(info.value, ValueError)
    assert limits.check("thing", est, force=True, budget=budget) is est
    assert limits.check("thing", limits.Estimate(1, 1), force=False, budget=budget).fits(budget)


def test_estimates_add_and_follow():
    a, b = limits.Estimate(10, 1, "a"), limits.Estimate(20, 2, "b")
    assert (a + b) == limits.Estimate(30, 3, "a; b")
    assert a.then(b) == limits.Estimate(20, 3, "a; b")


# ---- the estimates grow with what they are asked for -----------------------------------------------------
def test_each_size_raises_its_estimate():
    assert limits.token_matrix(1000, 2000).memory_bytes == 1000 * 2000 * limits.TOKEN_BYTES
    assert limits.listops_generation(2000, 2000).time_s > limits.listops_generation(2000, 200).time_s
    assert limits.pathfinder_generation(2000).time_s == pytest.approx(2000 * limits.PATHFINDER_S_PER_IMAGE)
    small, big = limits.kernel(10**6, 10**4, 8, False), limits.kernel(10**9, 10**7, 8, False)
    assert big.time_s > small.time_s and big.memory_bytes > small.memory_bytes
    assert limits.kernel(10**6, 10**4, 8, True).time_s > small.time_s
    sim = limits.network_simulation
    assert sim(16, 10**4, 64, 100).time_s > sim(16, 10**4, 16, 100).time_s
    assert sim(16, 10**8, 16, 100).memory_bytes > sim(16, 10**4, 16, 100).memory_bytes
    probes = limits.Estimate(0, 100)
    assert limits.sweep(probes, 10, 2).time_s < limits.sweep(probes, 10, 1).time_s


def test_a_cached_dataset_costs_a_load_not_its_generation():
    shape = TaskShape("listops", 96_000, 2000, 2000, 2000, generator="listops")
    fresh = limits.task_loading(shape)
    cached = limits.task_loading(TaskShape(**{**shape.__dict__, "cached": True}))
    assert cached.time_s < fresh.time_s / 10


def test_the_lra_listops_run_that_was_killed_is_refused():
    """`train --task listops --lra` (LRA's 96,000 x 2,000 tokens, 1,000 steps of 32) built ~24 GB and was
    killed: its estimate exceeds any laptop and the 2 h time budget."""
    out = runner.invoke(app, ["train", "--task", "listops", "--lra"])
    assert out.exit_code == 2 and "--force" in out.output and "GiB of memory" in out.output


# ---- the defaults fit the laptop they are sized for (estimates) ----------------------------------------
#: sizes of the real data the reading tasks find (their files are not here): Fashion-MNIST's IDX files
#: (60,000 + 10,000 images, 30 MB gzipped), the first 2,000 examples of IMDB (~1.3 KB each, val = test) and
#: of the AAN pairs (~12 KB a line)
REAL_SHAPES = {
    "image": TaskShape("image", 54_000, 6_000, 10_000, 1024, read_bytes=30 << 20),
    "text": TaskShape("text", 2000, 2000, 2000, 256, read_bytes=2 * 2000 * 1300),
    "retrieval": TaskShape("retrieval", 2000, 2000, 2000, 256, towers=2, read_bytes=3 * 2000 * 12_000),
}


def _default_shape(task: str) -> TaskShape:
    size = train_cli.FIRST_RESULT[task]
    if task in REAL_SHAPES:
        return REAL_SHAPES[task]
    return task_shape(task, **size.params({}))


def _default_estimate(task: str, sweep: bool) -> limits.Estimate:
    from swallowtail.cli.model import load_config

    sized = train_cli.resolve_size(task, False, None, None, None, None, sweep=sweep)
    config = load_config(train_cli.DEFAULT_MODEL[task])
    tc = train_cli._train_config(steps=sized.steps, batch_size=sized.batch_size, eval_every=100)
    shape = _default_shape(task)
    if sweep:
        return limits.training_sweep(config, shape, [0, 1], True, tc, sized.eval_examples)
    return limits.training_run(shape, [config], tc.steps, tc.batch_size, None, 100, sized.eval_examples)


@pytest.mark.parametrize("task", sorted(train_cli.FIRST_RESULT))
def test_the_default_train_command_fits_the_laptop(task):
    est = _default_estimate(task, sweep=False)
    assert est.fits(limits.LAPTOP), (task, limits.fmt_bytes(est.memory_bytes), limits.fmt_seconds(est.time_s))


@pytest.mark.parametrize("task", sorted(train_cli.FIRST_RESULT))
def test_the_default_accuracy_sweep_fits_the_laptop_in_memory_and_a_few_minutes(task):
    est = _default_estimate(task, sweep=True)
    assert est.memory_bytes <= limits.LAPTOP.memory_bytes and est.time_s <= 3 * limits.LAPTOP.time_s, (
        task,
        limits.fmt_bytes(est.memory_bytes),
        limits.fmt_seconds(est.time_s),
    )


@pytest.mark.parametrize("task", sorted(train_cli.FIRST_RESULT))
def test_lra_sizes_do_not_fit_the_laptop(task):
    sized = train_cli.resolve_size(task, True, None, None, None, None)
    assert (sized.steps, sized.batch_size, sized.eval_examples) == (1000, 32, 0)
    if task in ("listops", "pathfinder"):
        from swallowtail.cli.model import load_config

        shape = task_shape(task, **sized.params)
        config = load_config(train_cli.DEFAULT_MODEL[task])
        est = limits.training_run(shape, [config], 1000, 32, None, 100, 0)
        assert not est.fits(limits.LAPTOP)


def test_first_result_sizes_give_way_to_flags_and_to_read_data():
    s = train_cli.resolve_size("listops", False, 7, None, 0, ["n_train=50"])
    assert s.steps == 7 and s.eval_examples == 0 and s.params["n_train"] == 50 and s.params["max_len"] == 128
    assert "n_train" not in s.note and "128" in s.note and "--lra" in s.note
    s = train_cli.resolve_size("listops", False, None, None, None, ["data_dir=/x"])
    assert s.params == {"data_dir": "/x"}  # the files' own sizes
    s = train_cli.resolve_size("text", False, None, None, None, ["data_dir=/x"])
    assert s.params["max_examples"] == 2000 and s.params["seq_len"] == 256
    given = [f"{k}=1" for k in ("n_train", "n_val", "n_test")]
    full = train_cli.resolve_size("listops", False, 5, 4, 3, given)
    assert "steps" not in full.note


def test_budgets_parse_exponents_and_refuse_overflow():
    """`1e-3` was refused while `0.001` passed; `1e308h` overflowed to an unlimited budget."""
    assert limits.parse_duration("T", "1e-3") == limits.parse_duration("T", "0.001") == 0.001
    assert limits.parse_size("M", "1e9") == 1e9 and limits.parse_size("M", "2G") == 2 * 1024**3
    for bad in ("1e308h", "1e400", "-5", "abc"):
        with pytest.raises(SpecError):
            limits.parse_duration("T", bad)
    with pytest.raises(SpecError, match="at least one byte"):
        limits.parse_size("M", "0.0001")
