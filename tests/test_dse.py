"""Design sweeps (swallowtail.dse): specs, balance, executors, the crash-safe store, resume, Optuna."""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swallowtail.arch import dump_arch, load_arch
from swallowtail.cli import app
from swallowtail.dse import resolve_sweep
from swallowtail.dse.evaluate import Row
from swallowtail.dse.execute import check_sweep, run_sweep, sample_points
from swallowtail.dse.space import balanced_overrides, load_base, make_point
from swallowtail.dse.spec import load_sweep, parse_sweep
from swallowtail.dse.store import Store, is_sqlite_file
from swallowtail.errors import SpecError
from swallowtail.sim.network import RateCache

#: a small, fast sweep: 4 machines on fabnet-base at 256 tokens, and one reference backend
SMALL = {
    "name": "small",
    "params": {"pe.simd_lanes": [8, 16], "dma.gbytes_per_s_per_channel": [12.8, 25.6]},
    "workloads": [{"model": "fabnet-base", "seq_len": [256]}],
    "backends": [
        "dataflow-multilayer",
        {"name": "jetson", "options": {"arch": "xavier-nx-15w", "stack": "tensorrt-fp16"}},
    ],
}


#: a random sampling of a few points (a range needs one)
RANDOM = {"method": "random", "samples": 2}


def _spec(**changes):
    return parse_sweep({**SMALL, **changes})


def _table(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as c:
        return c.execute("SELECT * FROM rows ORDER BY point_id, workload, backend").fetchall()


# ---- specs -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"paramz": {}}, "paramz"),
        ({"params": {"pe.simd_lane": [8]}}, "pe.simd_lane"),
        ({"params": {"pe.simd_lanes": [0]}}, "pe.simd_lanes"),
        ({"params": {"pe.simd_lanes": []}}, "params.pe.simd_lanes"),
        ({"params": {"clock_hz": {"low": 2e9, "high": 1e9}}}, "high"),
        ({"params": {"clock_hz": {"low": 1e9, "high": 2e9}}}, "grid"),
        ({"params": {"clock_hz": {"low": 1e9, "high": float("inf")}}, "sampling": RANDOM}, "clock_hz.high"),
        ({"sampling": {"method": "random"}}, "samples"),
        ({"sampling": {"method": "grid", "samples": 3}}, "samples"),
        ({"sampling": {"method": "grid", "seed": 3}}, "sampling.seed"),  # these were silently ignored
        ({"sampling": {"method": "grid", "batch": 4}}, "sampling.batch"),
        ({"sampling": {"method": "random", "samples": 2, "batch": 4}}, "sampling.batch"),
        ({"sampling": {"method": "annealing"}}, "sampling.method"),
        ({"objectives": ["latency_s", "latency_s"]}, "objectives"),
        ({"objectives": ["speed"]}, "objectives"),
        ({"tie": {"array.cols": "array.rows"}}, "tie.array.cols"),
        ({"params": {"array.rows": [2]}, "tie": {"nope": "array.rows"}}, "tie.nope"),
        ({"params": {"array.rows": [2]}, "tie": {"array.cols": "array.cols"}}, "tie.array.cols"),  # no-op
        ({"workloads": [{"model": "no-such-net", "seq_len": [256]}]}, "workloads[0]"),
        ({"workloads": [{"model": "fabnet-base", "seq_len": [0]}]}, "seq_len"),
        ({"backends": ["no-such-backend"]}, "backend"),
        ({"backends": [{"name": "jetson", "options": {"stack": "tensorrt-fp7"}}]}, "stack"),
        ({"base_arch": "xavier-nx-15w"}, "base_arch"),
        ({"constraints": {"max_area_mm2": -1}}, "max_area_mm2"),
        # no machine meets 1e-300 mm^2: every point was silently infeasible
        ({"constraints": {"max_area_mm2": 1e-300}}, "max_area_mm2 = 1e-300 is not allowed: a number >="),
        ({"constraints": {"max_power_w": 1e308}}, "max_power_w = 1e+308 is not allowed: a number <= 1e+06"),
        ({"mapping": {"residency": ["nowhere"]}}, "residency"),
        ({"params": {"clock_hz": [float("inf")]}}, "clock_hz"),  # was an OverflowError in balance
        ({"params": {"array.rows": [1e300]}}, "array.rows"),
        ({"params": {"balance.dram": [float("inf")]}}, "balance.dram"),
        ({"params": {"array.rows": [4, 4]}}, "params.array.rows"),  # was run once, silently
        ({"params": {"clock_hz": [1e9, 1000000000]}}, "params.clock_hz"),
        ({"workloads": [{"model": "fabnet-base", "seq_len": [256, 256]}]}, "workloads.0.seq_len"),
        ({"backends": ["roofline", "roofline"]}, "backends"),
        ({"backends": ["roofline", {"name": "roofline"}]}, "backends.1"),  # ran twice, stored once
        ({"backends": [{"name": "jetson", "options": {"stack": ["tensorrt-fp16"] * 2}}]}, "backends.0"),
        (
            {
                "backends": [
                    {"name": "sanger", "options": {"same_peak_as": ["df-4x4-simd8", "df-8x8-simd8"]}},
                    {"name": "sanger", "options": {"same_peak_as": "df-8x8-simd8"}},
                ]
            },
            "backends.1 = 'sanger same_peak_as=df-8x8-simd8'",
        ),
        ({"mapping": {"residency": ["dram", "dram"]}}, "mapping.residency"),
        ({"mapping": {"spm_resident_fraction": [0]}}, "mapping.spm_resident_fraction = 0"),
        ({"mapping": {"spm_resident_fraction": [1.5]}}, "mapping.spm_resident_fraction = 1.5"),
        ({"mapping": {"spm_resident_fraction": ["0.5"]}}, "spm_resident_fraction = '0.5'"),
        ({"mapping": {"spm_resident_fraction": [True]}}, "mapping.spm_resident_fraction = True"),
        ({"mapping": {"residency": [0.5]}}, "mapping.residency = 0.5"),
        # a point's mapping overrode these silently: rows labelled with a value that did not run
        (
            {"backends": [{"name": "dataflow-multilayer", "options": {"spm_resident_fraction": [0.1, 0.9]}}]},
            "backends.0.options.spm_resident_fraction",
        ),
        ({"backends": [{"name": "dataflow-single-layer", "options": {"residency": "dram"}}]}, ".residency"),
        # naming fields say nothing about the machine: a sweep over them silently collapsed or was dropped
        ({"params": {"description": ["a", "b"]}}, "params.description"),
        ({"params": {"sources.clock_hz": ["x", "y"]}}, "params.sources.clock_hz"),
        ({"params": {"name": ["a", "b"], "pe.simd_lanes": [8, 16]}}, "params.name"),
        ({"name": "a" * 300}, "name"),  # its store's file name would exceed the file system's limit
        # an FFT of 1 point: no machine of the sweep can map it (every row was stored invalid)
        ({"workloads": [{"model": "fnet", "seq_len": [1]}]}, "workloads[0] = 'fnet@L1xB1'"),
    ],
)
def test_bad_sweep_specs_fail_before_any_work_naming_the_field(changes, field):
    with pytest.raises(SpecError) as exc:
        check_sweep(_spec(**changes))
    assert field in str(exc.value)


def test_balance_factors_may_be_tied():
    check_sweep(_spec(params={"balance.dram": [1.0, 2.0]}, tie={"balance.spm": "balance.dram"}))


def test_shipped_sweep_checks_and_has_100_plus_points():
    spec = resolve_sweep("around-df-4x4-simd8")
    check_sweep(spec)
    points, refused = sample_points(spec)
    assert len(points) >= 100 and not refused
    with pytest.raises(SpecError, match="SWEEP"):
        resolve_sweep("no-such-sweep")


# ---- balance -------------------------------------------------------------------------------------------
def _numbers(arch) -> dict:
    d = arch.model_dump(mode="json")
    return {k: v for k, v in d.items() if k not in ("name", "description", "sources")}


@pytest.mark.parametrize(
    ("preset", "params"),
    [
        ("df-4x4-simd32", {"pe.simd_lanes": 32}),
        ("df-8x8-simd8", {"array.rows": 8, "array.cols": 8}),
        ("df-4x4-simd8", {}),
    ],
)
def test_balance_reproduces_the_balanced_presets(preset, params):
    spec = _spec(params={k: [v] for k, v in params.items()} or {"pe.simd_lanes": [8]})
    base = load_base(spec)
    point = make_point(spec, base, params)
    assert _numbers(point.arch) == _numbers(load_arch(preset))


def test_a_pinned_field_is_not_balanced_and_a_tiny_mesh_drops_skip_hops():
    base = load_arch("df-4x4-simd8")
    out = balanced_overrides(base, {"pe.simd_lanes": 32, "spm.size_bytes": 1 << 20})
    assert out["spm.size_bytes"] == 1 << 20 and out["spm.bytes_per_cycle"] == 256
    tiny = balanced_overrides(base, {"array.rows": 2, "array.cols": 2})
    assert tiny["noc.hops"] == [1] and tiny["noc.topology"] == "mesh"


def test_point_ids_name_the_machine_not_the_path_to_it():
    spec = _spec()
    base = load_base(spec)
    a = make_point(spec, base, {"pe.simd_lanes": 16, "dma.gbytes_per_s_per_channel": 25.6})
    b = make_point(_spec(name="other"), base, {"dma.gbytes_per_s_per_channel": 25.6, "pe.simd_lanes": 16})
    c = make_point(spec, base, {"pe.simd_lanes": 16, "dma.gbytes_per_s_per_channel": 12.8})
    assert a.point_id == b.point_id != c.point_id


# ---- running, resuming, executors -------------------------------------------------------------------------
def test_sweep_stores_every_row_once_and_a_rerun_resumes(tmp_path):
    path = tmp_path / "s.db"
    with Store(path) as st:
        first = run_sweep(_spec(), st, workers=1)
        again = run_sweep(_spec(), st, workers=1)
        rows = st.rows()
    assert first.rows_added == 5 and first.rows_skipped == 0  # 4 points + 1 reference
    assert again.rows_added == 0 and again.rows_skipped == 5
    assert all(r.row.status == "ok" for r in rows)
    ref = [r.row for r in rows if r.row.point_id.startswith("ref-")]
    assert len(ref) == 1 and ref[0].metrics["area_mm2"] is None
    point = next(r.row for r in rows if not r.row.point_id.startswith("ref-"))
    assert json.loads(point.result)["backend"] == "dataflow-multilayer"
    assert point.metrics["area_mm2"] > 0 and point.metrics["power_w"] > 0


def test_local_pool_and_ray_give_identical_rows(tmp_path):
    ray = pytest.importorskip("ray")
    with Store(tmp_path / "local.db") as st:
        run_sweep(_spec(), st, executor="local", workers=2)
    with Store(tmp_path / "ray.db") as st:
        summary = run_sweep(_spec(), st, executor="ray", workers=2)
    assert summary.rows_added == 5 and not ray.is_initialized()
    assert _table(tmp_path / "local.db") == _table(tmp_path / "ray.db")


def test_budgets_make_points_infeasible_without_simulating_them(tmp_path):
    with Store(tmp_path / "c.db") as st:
        summary = run_sweep(_spec(constraints={"max_power_w": 1e-3}), st, workers=1)
        rows = [r.row for r in st.rows() if not r.row.point_id.startswith("ref-")]
    assert rows and all(r.status == "infeasible" and "max_power_w" in r.reason for r in rows)
    assert all(r.result is None for r in rows)
    assert summary.rows_infeasible == len(rows) and summary.rows_invalid == 0


def test_the_summary_counts_and_shows_the_rows_refused(tmp_path):
    """A machine the array cannot run the workload on (a 1 KB SPM) is stored as invalid: the run says so, with
    the reason, instead of only `N added`."""
    sweep = {
        "name": "bad",
        "params": {"spm.size_bytes": [1024, 2097152]},
        "workloads": [{"model": "fabnet-base", "seq_len": [64]}],
    }
    with Store(tmp_path / "b.db") as st:
        summary = run_sweep(parse_sweep(sweep), st, workers=1)
    assert summary.rows_invalid == 1 and "spm.size_bytes = 1024" in (summary.first_invalid_reason or "")
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(sweep))
    out = CliRunner().invoke(app, ["dse", "run", str(path), "--store", str(tmp_path / "c.db")])
    assert out.exit_code == 0 and "1 invalid" in out.output and "spm.size_bytes = 1024" in out.output


def test_reading_commands_name_their_store_argument(tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE x (a)")
    for cmd in (
        ["report", str(other), "-o", str(tmp_path / "r")],
        ["export", str(other), str(tmp_path / "x.csv")],
    ):
        out = CliRunner().invoke(app, ["dse", *cmd])
        assert out.exit_code == 2 and "STORE = " in out.output and "written by dse run" in out.output, (
            out.output
        )
        assert "--store" not in out.output and "new file" not in out.output


def test_random_and_optuna_sampling_are_deterministic(tmp_path):
    rnd = {"method": "random", "samples": 3, "seed": 7}
    assert [p.point_id for p in sample_points(_spec(sampling=rnd))[0]] == [
        p.point_id for p in sample_points(_spec(sampling=rnd))[0]
    ]
    opt = {
        "params": {"pe.simd_lanes": [8, 16], "clock_hz": {"low": 0.5e9, "high": 1.0e9}},
        "backends": ["dataflow-multilayer"],
        "sampling": {"method": "nsga2", "samples": 4, "seed": 3, "batch": 2},
    }
    ids = []
    for i, workers in enumerate((1, 2)):
        with Store(tmp_path / f"o{i}.db") as st:
            run_sweep(_spec(**opt), st, workers=workers)
            ids.append(sorted(r.row.point_id for r in st.rows()))
    assert ids[0] == ids[1] and len(ids[0]) >= 2


def test_export_writes_csv_and_jsonl(tmp_path):
    with Store(tmp_path / "e.db") as st:
        run_sweep(_spec(params={"pe.simd_lanes": [8]}), st, workers=1)
        assert st.export(tmp_path / "rows.csv") == 2
        assert st.export(tmp_path / "rows.jsonl", "jsonl") == 2
    head = (tmp_path / "rows.csv").read_text().splitlines()[0].split(",")
    assert {"point_id", "metric.latency_s", "param.pe.simd_lanes"} <= set(head)
    lines = [json.loads(x) for x in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert all(x["result"]["latency_s"] > 0 for x in lines)


def test_reading_commands_never_turn_a_file_into_a_store_and_bad_runs_make_none(tmp_path):
    """`dse export` / `report` on an empty or foreign file refuse it (opening it would write an SQLite
    schema into it), and so do they and `dse run` on another application's database, left byte for byte;
    a store is never a device; a run with a bad executor stops before it makes one."""
    runner = CliRunner()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    for args in (["dse", "export", str(empty), str(tmp_path / "e.csv")], ["dse", "report", str(empty)]):
        out = runner.invoke(app, args)
        assert out.exit_code == 2 and "an existing sweep store" in out.output, out.output
    assert empty.read_bytes() == b"" and not (tmp_path / "e.csv").exists()
    foreign = tmp_path / "app.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    before = foreign.read_bytes()
    for args in (
        ["dse", "report", str(foreign)],
        ["dse", "export", str(foreign), str(tmp_path / "f.csv")],
        ["dse", "run", "around-df-4x4-simd8", "--store", str(foreign)],
    ):
        out = runner.invoke(app, args)
        assert out.exit_code == 2 and "its tables: users" in out.output, out.output
    assert foreign.read_bytes() == before and not (tmp_path / "f.csv").exists()
    with pytest.raises(SpecError, match="not a device"):
        Store("/dev/null")
    Store(tmp_path / "real.db").close()
    (tmp_path / "link.db").symlink_to(tmp_path / "real.db")
    assert is_sqlite_file(tmp_path / "link.db")  # a link to a store is one
    store = tmp_path / "bad.db"
    for extra in (["--backend", "bogus"], ["--address", "localhost:1"]):
        out = runner.invoke(app, ["dse", "run", "around-df-4x4-simd8", "--store", str(store), *extra])
        assert out.exit_code == 2 and not store.exists(), out.output


# ---- the store under crashes and concurrency ------------------------------------------------------------
def _writer(path: str, lo: int, hi: int) -> None:
    with Store(path) as st:
        for i in range(lo, hi):
            st.write([Row(f"p{i:04d}", "w", "b", "ok", {"i": i}, {"latency_s": float(i)})], [], "conc")


def test_concurrent_writers_never_corrupt_or_duplicate(tmp_path):
    path = str(tmp_path / "conc.db")
    Store(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, 40 * k, 40 * k + 80)) for k in range(4)]  # overlapping
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = [r[0] for r in c.execute("SELECT point_id FROM rows")]
    assert sorted(ids) == [f"p{i:04d}" for i in range(200)]


def test_a_sweep_killed_mid_way_resumes_with_every_point_exactly_once(tmp_path):
    spec = {
        **SMALL,
        "name": "killed",
        "params": {"pe.simd_lanes": [8, 16], "clock_hz": [0.6e9, 0.8e9, 1.0e9, 1.2e9]},
        "backends": ["dataflow-multilayer"],
    }
    sweep = tmp_path / "killed.yaml"
    sweep.write_text(json.dumps(spec))  # JSON is YAML
    store = tmp_path / "killed.db"
    cmd = [sys.executable, "-m", "swallowtail", "dse", "run", str(sweep), "--store", str(store), "-w", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if store.exists() and _count(store) >= 1:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    partial = _count(store)
    assert 0 < partial < 8, "the kill should land mid-way (raise the sweep's size if it did not)"
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ids = [r[0] for r in _table(store)]
    assert len(ids) == len(set(ids)) == 8
    with sqlite3.connect(store) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _count(path: Path) -> int:
    try:
        with sqlite3.connect(path, timeout=5) as c:
            return c.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_balance_factors_scale_the_balanced_bandwidths_and_are_checked():
    spec = _spec(params={"balance.dram": [0.5, 2.0], "balance.spm": [2.0]})
    base = load_base(spec)
    half = make_point(spec, base, {"balance.dram": 0.5, "balance.spm": 2.0}).arch
    assert half.dram_bytes_per_s == pytest.approx(base.dram_bytes_per_s / 2)
    assert half.spm.bytes_per_cycle == 2 * base.spm.bytes_per_cycle
    for bad, field in (({"balance.noc": [2.0]}, "balance.noc"), ({"balance.dram": [0]}, "balance.dram")):
        with pytest.raises(SpecError, match=field):
            check_sweep(_spec(params=bad))
    with pytest.raises(SpecError, match="balance: true"):
        check_sweep(_spec(params={"balance.dram": [2.0]}, balance=False))


def test_a_point_option_runs_a_baseline_at_each_machines_peak(tmp_path):
    peer = {"name": "sanger", "options": {"same_peak_as": "@point"}}
    with Store(tmp_path / "p.db") as st:
        run_sweep(
            _spec(params={"pe.simd_lanes": [8, 16]}, backends=["dataflow-multilayer", peer]), st, workers=1
        )
        rows = [r.row for r in st.rows() if r.row.backend.startswith("sanger")]
    assert len(rows) == 2 and not any(r.point_id.startswith("ref-") for r in rows)
    peaks = sorted(r.metrics["peak_ops_per_s"] for r in rows)
    assert peaks[1] == pytest.approx(2 * peaks[0])  # scaled to 256 and 512 GOPS


def test_a_damaged_store_is_refused_naming_it_and_its_cache_never_runs_code(tmp_path):
    """Found by a bad-input hunt: a row or cache edited by hand gave a traceback from report and export, and
    a rate cache pickled with a callable ran it when a sweep resumed into the store."""
    path = tmp_path / "s.db"
    with Store(path) as st:
        run_sweep(_spec(), st, workers=1)
    pristine = path.read_bytes()
    damage = [
        ("UPDATE rows SET metrics = '[1, 2]' WHERE rowid = 1", "metrics is not a JSON object"),
        ("UPDATE rows SET metrics = 'null' WHERE rowid = 1", "metrics is not a JSON object"),
        ("UPDATE rows SET metrics = 'not json' WHERE rowid = 1", "metrics is not JSON"),
        ("UPDATE rows SET params = '[]' WHERE rowid = 1", "params is not a JSON object"),
        ("UPDATE rows SET metrics = '{}' WHERE rowid = 1", "metrics.latency_s is not a finite number"),
        ("""UPDATE rows SET metrics = '{"latency_s": "abc"}' WHERE rowid = 1""", "metrics.latency_s = 'abc'"),
        ("UPDATE sweeps SET spec = 'garbage'", "whose sweep 'small' reads back"),
    ]
    for sql, message in damage:
        path.write_bytes(pristine)
        conn = sqlite3.connect(path)
        conn.execute(sql)
        conn.commit()
        conn.close()
        export = ["dse", "export", str(path), str(tmp_path / "o.jsonl"), "--format", "jsonl"]
        report = ["dse", "report", str(path), "-o", str(tmp_path / "r"), "--json"]
        for cmd in (export, report) if "sweeps" not in sql else ([*report, "--sweep", "small"],):
            out = CliRunner().invoke(app, cmd)
            assert out.exit_code == 2 and message in out.output, (sql, cmd, out.output)

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'PWNED'}",))

    path.write_bytes(pristine)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE rate_cache SET blob = ?", (pickle.dumps(Evil()),))
    conn.commit()
    conn.close()
    with Store(path) as st:
        assert st.load_caches() == {}  # refused and left out: the sweep probes again
    assert not (tmp_path / "PWNED").exists()
    with pytest.raises(ValueError, match="refusing to load posix.system|refusing to load os.system"):
        RateCache.loads(pickle.dumps(Evil()))


def test_a_sweep_rerun_with_another_spec_reports_its_own_points(tmp_path):
    """Found by a bad-input hunt: a changed spec run under the same name into the same store reported the
    old spec's points beside the new ones."""
    with Store(tmp_path / "s.db") as st:
        run_sweep(_spec(), st, workers=1)
        narrower = _spec(params={"pe.simd_lanes": [8], "dma.gbytes_per_s_per_channel": [12.8, 25.6]})
        summary = run_sweep(narrower, st, workers=1)
        points = {r.row.point_id for r in st.rows(sweep="small") if not r.row.point_id.startswith("ref-")}
        assert summary.rows_added == 0 and len(points) == 2  # its rows were stored: reused, not rerun
        assert len({r.row.point_id for r in st.rows()}) == 5  # every row stays in the store
        assert st.begin_sweep(narrower) is False and st.begin_sweep(_spec()) is True


def test_reading_commands_open_the_store_read_only(tmp_path):
    """Found by a bad-input hunt: report and export opened the store for writing (its tables made, WAL mode),
    so a read-only store was refused as not a store."""
    path = tmp_path / "s.db"
    with Store(path) as st:
        run_sweep(_spec(), st, workers=1)
    with Store(path, field="STORE", new_ok=False, read_only=True) as st:
        assert len(st.rows()) == 5 and "small" in st.sweeps()
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            st.begin_sweep(_spec())
    new = tmp_path / "new.db"
    with pytest.raises(SpecError, match="STORE"):
        Store(new, field="STORE", new_ok=False, read_only=True)
    assert not new.exists()


def test_the_python_entry_points_say_what_they_need(tmp_path):
    """Found by a bad-input hunt: a path for the store, a name for the spec, None for a path were deep
    AttributeErrors and TypeErrors."""
    with pytest.raises(SpecError, match="a Store"):
        run_sweep(_spec(), str(tmp_path / "s.db"))  # type: ignore[arg-type]
    with Store(tmp_path / "s.db") as st, pytest.raises(SpecError, match="a SweepSpec"):
        run_sweep("small", st)  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="a path"):
        Store(None)  # type: ignore[arg-type]


def test_a_rerun_counts_every_row_of_a_partly_stored_point(tmp_path):
    """Found by a bad-input hunt: rows deleted from a store were computed again with their points, and the
    point's other rows, computed again and kept as stored, were counted nowhere (added + skipped < total)."""
    path = tmp_path / "s.db"
    spec = _spec(workloads=[{"model": "fabnet-base", "seq_len": [256, 128]}])
    with Store(path) as st:
        run_sweep(spec, st, workers=1)
    conn = sqlite3.connect(path)
    first = "SELECT MIN(rowid) FROM rows WHERE point_id NOT LIKE 'ref-%'"
    conn.execute(f"DELETE FROM rows WHERE rowid = ({first})")
    conn.commit()
    conn.close()
    with Store(path) as st:
        summary = run_sweep(spec, st, workers=1)
    assert summary.rows_added == 1 and summary.rows_added + summary.rows_skipped == summary.rows_total


def test_a_relative_base_arch_is_read_beside_the_sweep_file(tmp_path, monkeypatch):
    """Found by a bad-input hunt: `base_arch: base.yaml` next to the sweep was looked for in the current
    folder, and the error named `path`, not the field."""
    d = tmp_path / "rel"
    d.mkdir()
    (d / "base.yaml").write_text(dump_arch(load_arch("df-4x4-simd8")))
    (d / "sw.yaml").write_text(json.dumps({**SMALL, "base_arch": "base.yaml"}))
    monkeypatch.chdir(tmp_path)
    assert load_sweep("rel/sw.yaml").base_arch == str(Path("rel") / "base.yaml")
    (d / "sw.yaml").write_text(json.dumps({**SMALL, "base_arch": "nothere.yaml"}))
    with pytest.raises(SpecError) as e:
        check_sweep(load_sweep("rel/sw.yaml"))
    assert e.value.field == "base_arch"
