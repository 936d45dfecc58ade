"""`swallowtail reproduce`: the suite, the run, the outputs (results.json, summary.md, report.html), atomic
writes, determinism, the array's stand-in when its simulator is missing, memoisation and the process pool,
results.json read back into the run that wrote it, and the experiments' imports pointing one way."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import stat
import threading
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from swallowtail import atomicio
from swallowtail.backends import get_backend, list_backends, register_backend, unregister_backend
from swallowtail.baselines.validation import summarize, validate
from swallowtail.cli import app as cli_app
from swallowtail.cli.reproduce import reproduce
from swallowtail.errors import SpecError
from swallowtail.experiments import outputs
from swallowtail.experiments.compare import GPU_BOARDS, GPU_STACKS
from swallowtail.experiments.records import RESULTS_SCHEMA, ClaimCheck, GpuHeadlineRow, PeerHeadlineRow
from swallowtail.experiments.report import FIGURES, render_summary, timeline
from swallowtail.experiments.reproduce import answer_decoder, answer_inverse, run_suite
from swallowtail.experiments.runner import resolve_targets
from swallowtail.experiments.suite import (
    ARRAY_FLOOR,
    DENSE,
    HYBRID,
    MULTILAYER_BACKEND,
    SINGLE_LAYER_BACKEND,
    TARGETS,
    Suite,
    WorkloadSpec,
    dense_twin,
    full_suite,
    quick_suite,
)
from swallowtail.nn.config import get_preset
from swallowtail.result import OpResult, Result

ARRAY_BACKENDS = (MULTILAYER_BACKEND, SINGLE_LAYER_BACKEND)
#: a one-workload suite for the tests that run the suite more than once
TINY = Suite("tiny", (WorkloadSpec("fabnet-base", 128, group="fabnet-base"),))

app = typer.Typer()
app.command()(reproduce)
runner = CliRunner()


@pytest.fixture(scope="module")
def quick_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """`reproduce --quick --json` into a temp folder, once for the module."""
    out = tmp_path_factory.mktemp("reproduce")
    result = runner.invoke(app, ["--quick", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


# ---- the suite -------------------------------------------------------------------------------------------
def test_suites_cover_the_paper_and_quick_is_a_subset_with_every_target():
    full, quick = full_suite(), quick_suite()
    names = [w.name for w in full.workloads]
    for lra in ("lra-listops@L2048", "lra-text@L4096", "lra-retrieval@L4096", "lra-image@L1024"):
        assert lra in names
    assert "lra-pathfinder@L1024" in names
    for preset in ("fabnet-base", "fabnet-large"):
        for L in (128, 256, 512, 1024, 2048, 4096):
            assert f"{preset}@L{L}" in names
    assert len(names) == len(set(names)) == 17
    assert {w.name for w in quick.workloads} < set(names)
    assert quick.targets == full.targets == TARGETS
    backends = {t.backend for t in TARGETS}
    assert {
        *ARRAY_BACKENDS,
        "jetson",
        "fabnet-be40",
        "fabnet-be120",
        "sanger",
        "spatten",
        "systolic",
    } <= backends
    peers = [t for t in TARGETS if t.backend in ("sanger", "spatten")]
    assert all(t.options_dict == {"same_peak_as": "df-4x4-simd8"} for t in peers)
    assert [t.network for t in TARGETS].count(DENSE) == 1


def test_dense_twins_are_the_transformers_of_the_same_shape():
    base = WorkloadSpec("fabnet-base", 512, "fabnet-base")
    assert base.config(DENSE) == get_preset("transformer")
    assert base.dense_name == "transformer@L512"
    large = WorkloadSpec("fabnet-large", 512, "fabnet-large").config(DENSE)
    assert (large.n_layers, large.d_model, large.d_ff, large.n_heads) == (24, 1024, 4096, 16)
    assert large.block_kinds() == ["dense"] * 24
    lra = WorkloadSpec("lra-text", 4096, "LRA")
    twin = lra.config(DENSE)
    assert twin == dense_twin(get_preset("lra-text"))
    assert (twin.attention_layers, twin.attention, twin.ffn) == (twin.n_layers, "dense", "dense")
    assert lra.dense_name == "lra-text-dense@L4096"


# ---- resolving targets: the array's stand-in -----------------------------------------------------------
def test_missing_simulator_falls_back_to_one_labelled_floor():
    available = [b for b in list_backends() if b not in ARRAY_BACKENDS]
    resolved = resolve_targets(TARGETS, available)
    floors = [t for t in resolved if t.substitute]
    assert len(floors) == 1, "both array dataflows stand on the same floor: shown once, not twice"
    (floor,) = floors
    assert floor.backend == "roofline" and floor.options_dict == {"arch": "df-4x4-simd8"}
    assert floor.stands_for == ("array-ml", "array-sl")
    assert "roofline floor" in floor.label
    assert len(resolved) == len(TARGETS) - 1


def test_registered_simulators_are_used_as_they_are():
    resolved = resolve_targets(TARGETS, [*list_backends(), *ARRAY_BACKENDS])
    assert not any(t.substitute for t in resolved)
    assert [t.backend for t in resolved[:2]] == list(ARRAY_BACKENDS)


def test_unknown_backend_without_fallback_is_a_clear_error():
    with pytest.raises(ValueError, match="not registered"):
        resolve_targets(TARGETS, ["roofline"])


class _FakeSimulator:
    """Stands in for the array simulator in tests: the floor, renamed, counting its runs."""

    calls = 0

    def __init__(self, **options):
        self.inner = get_backend("roofline", **options)
        self.name = MULTILAYER_BACKEND

    def run(self, workload):
        type(self).calls += 1
        r = self.inner.run(workload)
        return dataclasses.replace(r, backend=self.name)


def test_a_registered_simulator_replaces_the_floor_and_runs_are_memoised():
    if MULTILAYER_BACKEND in list_backends():
        pytest.skip("the real simulator is registered in this build")
    register_backend(MULTILAYER_BACKEND, _FakeSimulator, "test double")
    try:
        _FakeSimulator.calls = 0
        cache: dict = {}
        run = run_suite(TINY, cache=cache)
        ml = run.target("array-ml")
        assert ml.backend == MULTILAYER_BACKEND and not ml.substitute
        assert run.result(TINY.workloads[0].name, "array-ml").backend == MULTILAYER_BACKEND
        assert run.target("array-floor").stands_for == ("array-sl",)  # single-layer still missing
        assert run.notice is None and run.array[MULTILAYER_BACKEND] == "simulated"
        assert _FakeSimulator.calls == 1
        run_suite(TINY, cache=cache)  # same (backend, options, workload): served from the cache
        assert _FakeSimulator.calls == 1
    finally:
        unregister_backend(MULTILAYER_BACKEND)


# ---- the outputs -----------------------------------------------------------------------------------------
def test_results_json_holds_every_result_consistently(quick_out):
    out, printed = quick_out
    data = outputs.load_results(out / "results.json")
    suite = quick_suite()
    raw = json.loads((out / "results.json").read_text())
    assert raw["schema"] == RESULTS_SCHEMA and raw["swallowtail_version"] == data.version and data.version
    assert raw["suite"] == json.loads(json.dumps(suite.to_dict()))
    assert data.suite == suite
    n_targets = len(data.targets)
    assert len(data.runs) == len(suite.workloads) * n_targets
    fields = {f.name for f in dataclasses.fields(Result)}
    for entry, raw_entry in zip(data.runs, raw["runs"], strict=True):
        assert fields | {"flop_efficiency"} == set(raw_entry["result"])
        r = entry.result
        assert isinstance(r, Result) and all(isinstance(o, OpResult) for o in r.ops)
        assert r.latency_s > 0 and r.energy_j > 0 and r.useful_ops > 0 and r.ops
        assert r.peak_ops_per_s > 0
        assert r.energy_j == pytest.approx(sum(r.energy_breakdown_j.values()))
    for spec in suite.workloads:
        hybrid = {e.result.useful_ops for e in data.runs if e.workload == spec.name and e.network == HYBRID}
        dense = {e.result.useful_ops for e in data.runs if e.workload == spec.name and e.network == DENSE}
        assert len(hybrid) == 1, f"{spec.name}: every backend runs the same FLOPs"
        assert len(dense) == 1 and min(dense) > min(hybrid)
        names = {e.result.workload for e in data.runs if e.workload == spec.name}
        assert names == {spec.name, spec.dense_name}
    heads = {row.metric: row for row in data.comparisons.headline}
    assert heads["speedup vs Xavier NX, max"].paper == "14.34x"
    assert isinstance(heads["speedup vs Xavier NX, max"], GpuHeadlineRow)
    assert heads["energy reduction vs same-peak accelerators (geomean)"].paper == "6.60x - 15.37x"
    assert isinstance(heads["energy reduction vs same-peak accelerators (geomean)"], PeerHeadlineRow)
    assert printed["headline"] == raw["comparisons"]["headline"]
    assert Path(printed["paths"]["results"]) == out / "results.json"


def test_the_stand_in_is_said_plainly_everywhere(quick_out):
    out, printed = quick_out
    data = json.loads((out / "results.json").read_text())
    if MULTILAYER_BACKEND in list_backends():
        assert data["notice"] is None and data["array"][MULTILAYER_BACKEND] == "simulated"
        return
    notice = (
        "dataflow array: simulator not available in this build \u2014 "
        "showing the roofline floor of df-4x4-simd8 instead"
    )
    assert data["notice"].startswith(notice) and printed["notice"] == data["notice"]
    assert notice in (out / "summary.md").read_text()
    assert notice in (out / "report.html").read_text()
    assert any(t["substitute"] and t["backend"] == ARRAY_FLOOR.backend for t in data["targets"])
    assert any("roofline floor" in line for line in data["comparisons"]["why"])


def test_report_is_self_contained_with_every_figure(quick_out):
    out, _ = quick_out
    page = (out / "report.html").read_text()
    assert page.count("<img ") == page.count("src='data:image/png;base64,") == len(FIGURES) >= 8
    assert "http://" not in page and "https://" not in page and "<link" not in page
    assert "data-images-loaded" in page
    for paper in ("14.34x", "9.29x", "11.14x", "2.38x", "15.37x"):
        assert paper in page
    summary = (out / "summary.md").read_text()
    assert "| metric | paper (abstract) |" in summary and "## Why ours differ" in summary
    for fid, *_ in FIGURES:
        png = (out / "figures" / f"{fid}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and f"figures/{fid}.png" in summary


def test_the_denominator_says_how_the_gpu_model_validates(quick_out):
    """The report's GPU section carries `swallowtail baseline validate`'s summary, from results.json."""
    out, _ = quick_out
    data = outputs.load_results(out / "results.json")
    v = data.facts.gpu_validation
    assert v == summarize(validate())
    assert v is not None and v.predicted >= 3 and len(v.boards) >= 2 and 0 < v.within_target <= v.predicted
    line = f"predicts {v.within_target} of {v.predicted} published measurements within"
    assert line in (out / "summary.md").read_text() and line in (out / "report.html").read_text()


def test_two_runs_are_identical_byte_for_byte(quick_out, tmp_path):
    out, _ = quick_out
    # the inverse sweep again from nothing (a fresh store): the same answer
    again = answer_inverse(run_suite(quick_suite()), tmp_path / "inverse.db", quick=True)
    again = answer_decoder(again, quick=True)
    atomicio.write_json_atomic(tmp_path / "results.json", again.to_dict())
    assert (tmp_path / "results.json").read_bytes() == (out / "results.json").read_bytes()
    assert render_summary(again, outputs.FIGURE_DIR) == (out / "summary.md").read_text()


def test_results_json_reads_back_into_the_run_that_wrote_it(quick_out, tmp_path):
    out, _ = quick_out
    loaded = outputs.load_results(out / "results.json")
    atomicio.write_json_atomic(tmp_path / "results.json", loaded.to_dict())
    assert (tmp_path / "results.json").read_bytes() == (out / "results.json").read_bytes()
    assert render_summary(loaded, outputs.FIGURE_DIR) == (out / "summary.md").read_text()
    (tmp_path / "old.json").write_text(json.dumps({"schema": "swallowtail.reproduce/0"}))
    with pytest.raises(ValueError, match="schema"):
        outputs.load_results(tmp_path / "old.json")


def test_process_pool_gives_the_same_results_in_the_same_order():
    alone = run_suite(TINY, jobs=1).to_dict()
    pooled = run_suite(TINY, jobs=2).to_dict()
    assert json.dumps(pooled, sort_keys=True) == json.dumps(alone, sort_keys=True)


# ---- atomic writes ---------------------------------------------------------------------------------------
def test_interrupted_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    atomicio.write_json_atomic(path, {"run": 1})
    before = path.read_bytes()

    def half_then_fail(obj, fh):
        fh.write('{"run": 2, "half')
        raise KeyboardInterrupt("interrupted inside the writer")

    monkeypatch.setattr(atomicio, "_dump_json", half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        atomicio.write_json_atomic(path, {"run": 2})
    assert path.read_bytes() == before
    with pytest.raises(KeyboardInterrupt):
        atomicio.write_json_atomic(tmp_path / "new.json", {"run": 3})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_written_files_are_readable_by_others(tmp_path):
    path = atomicio.write_text_atomic(tmp_path / "x.md", "x")
    assert path.stat().st_mode & 0o044  # not the 0600 of a private temp file


# ---- report helpers --------------------------------------------------------------------------------------
def test_timeline_uses_start_times_when_the_result_has_them():
    ops = [OpResult("a", "gemm", 2, 1.0), OpResult("b", "fft", 2, 2.0)]
    r = Result("x", "y", "w", 3.0, 1.0, 4, 1.0, ops=ops)
    spans, scheduled = timeline(r)
    assert not scheduled and [(s, d) for *_, s, d in spans] == [(0.0, 1.0), (1.0, 2.0)]
    for op, start in zip(ops, (0.5, 0.0), strict=True):
        op.start_s = start  # a simulator's schedule
    spans, scheduled = timeline(r)
    assert scheduled and [s for *_, s, _ in spans] == [0.5, 0.0]


def test_cli_rejects_bad_jobs(tmp_path):
    result = runner.invoke(app, ["--quick", "--out", str(tmp_path), "--jobs", "0"])
    assert result.exit_code == 2
    assert not (tmp_path / "results.json").exists()


# ---- the experiments' imports ----------------------------------------------------------------------------
#: the experiments modules each module may import: records <- runner <- facts / explain <- compare <-
#: inverse <- reproduce; the report sees only the records and the paper (and the suite's names); outputs the
#: report
EXPERIMENTS_IMPORTS = {
    "suite": set(),
    "paper": set(),
    "records": {"suite"},
    "runner": {"records", "suite"},
    "facts": {"records", "suite"},
    "explain": {"paper", "records", "suite"},
    "compare": {"explain", "paper", "records", "runner", "suite"},
    "inverse": {"compare", "paper", "records", "suite"},
    "decoder": {"records"},
    "reproduce": {"compare", "decoder", "facts", "inverse", "records", "runner", "suite"},
    "report_decoder": {"records"},
    "report": {"paper", "records", "report_decoder", "suite"},
    "outputs": {"records", "report"},
    "triton_butterfly": set(),
    "kernels": {
        "triton_butterfly"
    },  # kernels timed on a device, and the GPU model against them: beside reproduce
    "kernel_check": {"kernels"},
}


def test_experiments_imports_point_one_way():
    package = Path(__file__).resolve().parent.parent / "src" / "swallowtail" / "experiments"
    prefix = "swallowtail.experiments."
    found = {p.stem for p in package.glob("*.py")} - {"__init__"}
    assert found == set(EXPERIMENTS_IMPORTS), "a new experiments module: give it its place in the layers"
    for name, allowed in EXPERIMENTS_IMPORTS.items():
        tree = ast.parse((package / f"{name}.py").read_text())
        top_level = {id(n) for n in tree.body}
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            else:
                continue
            ours = [m for m in mods if m.startswith("swallowtail")]
            assert not ours or id(node) in top_level, f"{name}: function-level import of {ours}"
            imported |= {m.removeprefix(prefix).split(".")[0] for m in ours if m.startswith(prefix)}
        assert imported <= allowed, f"{name} imports {sorted(imported - allowed)}"


# ---- the inverse question ------------------------------------------------------------------------------
def test_claim_checks_measure_how_far_outside_a_figure_ours_is():
    assert ClaimCheck("x", "9.29x", 9.29, 9.29, 9.29).off_by == 1.0
    assert ClaimCheck("x", "", 2.0, 4.0, 3.0).off_by == 1.0  # inside a range
    assert ClaimCheck("x", "", 2.0, 4.0, 1.0).off_by == pytest.approx(2.0)
    assert ClaimCheck("x", "", 2.0, 4.0, 12.0).off_by == pytest.approx(3.0)
    assert ClaimCheck("x", "", 2.0, 4.0, 0.0).off_by == float("inf")


def test_inverse_answer_is_in_results_json_and_agrees_with_the_suite(quick_out):
    out, _ = quick_out
    run = outputs.load_results(out / "results.json")
    inv = run.inverse
    assert inv is not None and (out / inv.store).is_file()
    assert len(inv.answers) == len(GPU_BOARDS) * len(GPU_STACKS)
    assert all(a.machines == 4 for a in inv.answers)  # the quick grid
    # the reconstruction's speedup over Xavier NX / TensorRT FP16 two ways: the inverse sweep
    # (swallowtail.dse) and the suite's own comparison (the runner): the same number
    recon = inv.answer("xavier-nx-15w", "tensorrt-fp16").reconstruction
    pair = next(
        p for p in run.comparisons.gpu_pairs if (p.board, p.stack) == ("xavier-nx-15w", "tensorrt-fp16")
    )
    assert recon.checks[0].ours == pytest.approx(pair.speedup.geomean, rel=1e-12)
    assert recon.checks[1].ours == pytest.approx(pair.speedup.max, rel=1e-12)
    # the beyond-the-paper machines keep to the reconstruction's budget
    for b in inv.beyond:
        assert (b.power_w if b.budget == "power" else b.area_mm2) <= b.limit * (1 + 1e-9)
    summary = (out / "summary.md").read_text()
    assert "## The inverse question" in summary and "figures/inverse.png" in summary


def test_an_atomic_write_follows_links_streams_into_pipes_and_never_replaces_them(tmp_path):
    """os.replace would put a regular file where a link, a pipe or a device was (dse export onto /dev/full
    once replaced the device): a link is followed, a stream written into, a folder refused; a replaced
    file keeps its permissions."""
    target = tmp_path / "target.txt"
    target.write_text("old")
    target.chmod(0o600)
    (tmp_path / "link.txt").symlink_to(target)
    atomicio.write_text_atomic(tmp_path / "link.txt", "new")
    assert (tmp_path / "link.txt").is_symlink() and target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    atomicio.write_text_atomic(fifo, "streamed")
    reader.join(10)
    assert got == ["streamed"] and stat.S_ISFIFO(fifo.stat().st_mode)
    with pytest.raises(SpecError, match="not a folder"):
        atomicio.write_text_atomic(tmp_path, "x")
    # the same check, before any work, for the outputs a command writes at its end
    assert atomicio.check_writable(tmp_path / "new" / "deeper" / "t.png", "--timeline").name == "t.png"
    (tmp_path / "t.png").mkdir()
    with pytest.raises(SpecError, match="--timeline"):
        atomicio.check_writable(tmp_path / "t.png", "--timeline")
    with pytest.raises(SpecError, match="an empty path names the current folder"):
        atomicio.check_writable("", "--out")  # typer passes an empty option as Path(".")
    out = CliRunner().invoke(
        cli_app,
        ["simulate", "-m", "fnet", "-L", "128", "--timeline", str(tmp_path / "t.png")],
    )
    assert out.exit_code == 2 and "--timeline" in out.output and "costing" not in out.output


def test_the_report_says_how_far_the_headline_rests_on_the_launch(quick_out):
    """The headline's denominator against the same engine launched as a CUDA graph, from the GPU pairs; no
    sentence without both stacks."""
    from swallowtail.experiments.explain import GRAPHS_STACK, why_launch
    from swallowtail.experiments.records import fmt_x
    from swallowtail.experiments.suite import GPU_ARCH, GPU_STACK

    out, _ = quick_out
    pairs = outputs.load_results(out / "results.json").comparisons.gpu_pairs
    by_stack = {p.stack: p for p in pairs if p.board == GPU_ARCH}
    called, graphed = by_stack[GPU_STACK], by_stack[GRAPHS_STACK]
    text = why_launch(pairs)
    assert f"speedup is {fmt_x(graphed.speedup.geomean)} instead of {fmt_x(called.speedup.geomean)}" in text
    assert text.strip() in (out / "summary.md").read_text()
    assert why_launch([called]) == "" and why_launch([]) == ""


def test_the_report_lists_what_the_denominator_rests_on(quick_out):
    """Every unmeasured value of the headline's denominator (never a fitted one), halved and doubled within
    its range, largest swing first; a slower memory on the GPU gives the array a larger speedup; the table and
    the sentence are in the summary; a results.json written before the swings existed reads back without."""
    import math

    from swallowtail.arch import load_arch
    from swallowtail.baselines.jetson import load_stack
    from swallowtail.experiments.compare import SWING_FACTORS, unmeasured_values
    from swallowtail.experiments.explain import why_swings
    from swallowtail.experiments.records import Comparisons
    from swallowtail.experiments.suite import GPU_ARCH, GPU_STACK

    out, _ = quick_out
    run = outputs.load_results(out / "results.json")
    swings, pairs = run.comparisons.swings, run.comparisons.gpu_pairs
    stack, board = load_stack(GPU_STACK), load_arch(GPU_ARCH)
    fitted = {k for k, note in stack.sources.items() if note.startswith("fitted")}
    unmeasured = {p for p, _, _ in [*unmeasured_values(stack), *unmeasured_values(board)]}
    assert fitted and not fitted & unmeasured and {w.field for w in swings} <= unmeasured
    for w in swings:
        assert w.low <= w.value * SWING_FACTORS[0] or w.low == 1
        assert w.low <= w.value <= w.high <= max(w.value * SWING_FACTORS[1], 1)
    base = next(p for p in pairs if (p.board, p.stack) == (GPU_ARCH, GPU_STACK)).speedup.geomean
    dram = next(w for w in swings if w.field == "dram_efficiency")
    assert dram.high == 1.0 and dram.speedup_low > base > dram.speedup_high
    spans = [abs(math.log(w.speedup_high / w.speedup_low)) for w in swings]
    assert spans == sorted(spans, reverse=True)
    summary = (out / "summary.md").read_text()
    assert why_swings(swings, pairs) in summary and all(f"| {w.field} |" in summary for w in swings)
    assert why_swings([], pairs) == "" and why_swings(swings, []) == ""
    d = run.comparisons.to_dict()
    del d["swings"]
    assert Comparisons.from_dict(d, list(run.targets)).swings == []
