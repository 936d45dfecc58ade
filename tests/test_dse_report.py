"""swallowtail.dse.report: Pareto fronts (against a brute-force oracle), sensitivity, the report of a real
tiny sweep and of synthetic stores, the files render_report writes, and index.html in headless Chromium."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swallowtail.dse.evaluate import INFEASIBLE, INVALID, OK, Row
from swallowtail.dse.execute import run_sweep
from swallowtail.dse.report import (
    FRONTS,
    INDEX_FILE,
    JSON_FILE,
    REPORT_SCHEMA,
    SUMMARY_FILE,
    DesignRecord,
    build_report,
    pareto_front,
    render_report,
    sensitivity,
)
from swallowtail.dse.spec import parse_sweep
from swallowtail.dse.store import Store
from swallowtail.errors import SpecError

WL = "fabnet-base@L256xB1"
WL2 = "fabnet-base@L1024xB1"
DF = "dataflow-multilayer"
REF = "jetson[arch=xavier-nx-15w,stack=tensorrt-fp16]"
TINY = {
    "name": "tiny",
    "params": {"pe.simd_lanes": [8, 16], "dma.gbytes_per_s_per_channel": [12.8, 25.6]},
    "workloads": [{"model": "fabnet-base", "seq_len": [256]}],
    "backends": [DF, {"name": "jetson", "options": {"arch": "xavier-nx-15w", "stack": "tensorrt-fp16"}}],
}


# ---- Pareto fronts --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pt:
    point_id: str
    v: tuple[float | None, ...]

    def o(self, i: int) -> float | None:
        return self.v[i]


def _oracle(points: list[Pt], k: int) -> list[Pt]:
    """Brute force: no other point dominates p, and no point equal to p has a smaller id."""
    valid = [p for p in points if all(x is not None for x in p.v[:k])]

    def vec(p: Pt) -> tuple:
        return p.v[:k]

    out = []
    for p in valid:
        dominated = any(
            all(a <= b for a, b in zip(vec(q), vec(p), strict=True)) and vec(q) != vec(p) for q in valid
        )
        shadowed = any(vec(q) == vec(p) and q.point_id < p.point_id for q in valid)
        if not dominated and not shadowed:
            out.append(p)
    return sorted(out, key=lambda p: (vec(p), p.point_id))


_value = st.one_of(st.integers(0, 4).map(float), st.none())
_vectors = st.lists(st.tuples(_value, _value, _value), max_size=40)


@settings(max_examples=300, deadline=None)
@given(vectors=_vectors, k=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_pareto_front_matches_brute_force(vectors, k, seed):
    points = [Pt(f"p{i:03d}", v) for i, v in enumerate(vectors)]
    objectives = [lambda p, i=i: p.o(i) for i in range(k)]
    front = pareto_front(points, objectives)
    assert front == _oracle(points, k)
    shuffled = points[:]
    random.Random(seed).shuffle(shuffled)
    assert pareto_front(shuffled, objectives) == front  # deterministic whatever the input order


def test_pareto_front_of_a_known_set():
    pts = [
        Pt("a", (1.0, 5.0)),
        Pt("b", (2.0, 3.0)),
        Pt("c", (3.0, 3.0)),  # dominated by b
        Pt("d", (4.0, 1.0)),
        Pt("e", (2.0, 3.0)),  # equal to b: kept once, as b
        Pt("f", (5.0, 5.0)),  # dominated by everything but itself
        Pt("g", (0.5, None)),  # no value: left out
        Pt("h", (4.0, 1.0 + 1e-12)),  # dominated by d
    ]
    objs = [lambda p: p.o(0), lambda p: p.o(1)]
    assert [p.point_id for p in pareto_front(pts, objs)] == ["a", "b", "d"]
    # maximising both (negated): f alone beats everything
    neg = [
        lambda p: -p.o(0) if p.o(0) is not None else None,
        lambda p: -p.o(1) if p.o(1) is not None else None,
    ]
    assert [p.point_id for p in pareto_front(pts, neg)] == ["f"]
    assert pareto_front([], objs) == []


# ---- synthetic stores -----------------------------------------------------------------------------------
def _metrics(latency: float, energy: float, area: float | None) -> dict:
    return {
        "latency_s": latency, "energy_j": energy, "edp_js": latency * energy,
        "throughput_per_s": 1 / latency, "inferences_per_j": 1 / energy, "peak_ops_per_s": 1e12,
        "utilization": 0.5, "area_mm2": area, "power_w": None if area is None else 2.0,
    }  # fmt: skip


def _ok(pid: str, params: dict, latency: float, energy: float, area: float, wl: str = WL) -> Row:
    return Row(pid, wl, DF, OK, params, _metrics(latency, energy, area), result="{}")


def _synthetic_rows() -> list[Row]:
    """Param a scales latency (1, 2, 4 ms) and area; b changes nothing; WL2 has no ok point."""
    rows = []
    for a in (1, 2, 4):
        for b in ("x", "y"):
            pid = f"pt-a{a}-b{b}"
            rows.append(_ok(pid, {"a": a, "b": b}, a * 1e-3, 1e-3 * (5 - a), 10.0 / a))
            why = f"area {13 + a}.5 mm^2 > constraints.max_area_mm2 = 12"
            rows.append(Row(pid, WL2, DF, INFEASIBLE, {"a": a, "b": b}, {"area_mm2": 14.0}, reason=why))
    rows.append(Row("bad-000000000001", WL, DF, INVALID, {"a": 8, "b": "x"}, {}, reason="no SPM size fits"))
    rows.append(Row("ref-abc", WL, REF, OK, {"backend": "jetson"}, _metrics(8e-3, 16e-3, None), result="{}"))
    return rows


def _store(path: Path, rows: list[Row]) -> Store:
    s = Store(path)
    s.write(rows, [], "syn")
    return s


def test_sensitivity_ranks_a_param_that_moves_latency_above_one_that_does_not():
    pts = [
        DesignRecord(f"p{a}{b}", {"a": a, "b": b}, a * 1e-3, 1e-3, 1e-6 * a, 1.0, 1.0, 1e3 / a, 1e3, 0.5)
        for a in (1, 2, 4)
        for b in ("x", "y")
    ]
    lat, energy, area = sensitivity(pts)
    assert lat.objective == "latency_s" and lat.ranking == ("a", "b")
    assert lat.effect("a").spread == pytest.approx(4.0)
    assert lat.effect("b").spread == pytest.approx(1.0)
    assert [lv.value for lv in lat.effect("a").levels] == [1, 2, 4]
    assert [lv.points for lv in lat.effect("a").levels] == [2, 2, 2]
    assert energy.effect("a").spread == pytest.approx(1.0) and area.effect("a").spread == pytest.approx(1.0)
    # a param with one value is not swept: no effect
    assert sensitivity([DesignRecord("p", {"c": 1}, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)])[0].effects == ()


def test_build_report_of_a_synthetic_store(tmp_path):
    report = build_report(_store(tmp_path / "s.db", _synthetic_rows()))
    assert [(s.workload, s.backend) for s in report.sections] == [(WL, DF), (WL2, DF)]
    sec, empty = report.sections
    assert len(sec.points) == 6 and sec.invalid == 1 and sec.infeasible == 0
    assert sec.fastest.params["a"] == 1 and sec.fastest.point_id == "pt-a1-bx"  # tie on latency: id order
    assert sec.lowest_edp.latency_s * sec.lowest_edp.energy_j == min(p.edp_js for p in sec.points)
    assert sec.sensitivity[0].ranking == ("a", "b")
    # latency vs energy: every a is a trade-off (lower latency, more energy); one of each b-pair kept
    assert sec.front("latency-energy").point_ids == ("pt-a1-bx", "pt-a2-bx", "pt-a4-bx")
    # perf/W vs perf/mm^2, both maximised: every point has 100 inferences / s / mm^2, a = 4 the best perf/W
    assert sec.front("efficiency").point_ids == ("pt-a4-bx",)
    top = sec.point("pt-a4-bx")
    assert top.inferences_per_j == max(p.inferences_per_j for p in sec.points)
    assert {round(p.perf_per_mm2, 9) for p in sec.points} == {100.0}
    # references: 8 ms / 1 ms and 16 mJ / 4 mJ for the fastest
    c = next(c for c in sec.comparisons if c.criterion == "latency")
    assert (c.reference, c.speedup, c.energy_efficiency) == (REF, pytest.approx(8.0), pytest.approx(4.0))
    # the infeasible rows of WL2: one group, whatever their numbers
    assert empty.points == () and empty.fastest is None and empty.infeasible == 6
    (g,) = [g for g in empty.failures if g.status == INFEASIBLE]
    assert g.count == 6 and g.reason.startswith("area 14.5 mm^2") and len(g.examples) == 3
    assert report.params == ("a", "b") and report.sweeps == ("syn",)


def test_render_report_of_a_synthetic_store_with_an_empty_section(tmp_path):
    report = build_report(_store(tmp_path / "s.db", _synthetic_rows()))
    paths = render_report(report, tmp_path / "out")
    page = paths["index"].read_text()
    assert page.count("data:image/png;base64,") == 2  # WL: Pareto + sensitivity; WL2: none
    assert "No ok point." in page and "no SPM size fits" in page
    assert sorted(p.name for p in paths["figures"].iterdir()) == [
        f"00-fabnet-base_L256xB1-{DF}-pareto.png",
        f"00-fabnet-base_L256xB1-{DF}-sensitivity.png",
    ]


def test_an_empty_store_is_a_clear_error(tmp_path):
    db = tmp_path / "empty.db"
    with pytest.raises(SpecError, match=re.escape(f"STORE = '{db}'")) as exc:  # was --store: no such option
        build_report(Store(db))
    assert "empty" in str(exc.value)


def test_a_store_of_infeasible_rows_is_a_clear_error(tmp_path):
    db = tmp_path / "bad.db"
    rows = [r for r in _synthetic_rows() if r.workload == WL2]
    with pytest.raises(SpecError, match=re.escape(f"STORE = '{db}'")) as exc:
        build_report(_store(db, rows))
    msg = str(exc.value)
    assert "6 infeasible" in msg and "constraints.max_area_mm2" in msg


def test_unknown_sweep_or_backend_names_the_choices(tmp_path):
    store = _store(tmp_path / "s.db", _synthetic_rows())
    with pytest.raises(SpecError, match="--sweep"):
        build_report(store, sweep="nope")
    with pytest.raises(SpecError, match=rf"--backend.*{DF}"):
        build_report(store, backend="roofline")
    assert build_report(store, backend="dataflow-multilayer").backend == DF


# ---- a real tiny sweep ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("dse") / "tiny.db")
    run_sweep(parse_sweep(TINY), store, workers=1)
    return store


@pytest.fixture(scope="module")
def rendered(tiny: Store, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return render_report(build_report(tiny), tmp_path_factory.mktemp("report"))


def test_report_of_a_real_sweep(tiny):
    report = build_report(tiny)
    (sec,) = report.sections
    assert (sec.workload, sec.backend, len(sec.points)) == (WL, DF, 4)
    assert sec.fastest.latency_s == min(p.latency_s for p in sec.points)
    assert {c.reference for c in sec.comparisons} == {REF} and all(c.speedup > 0 for c in sec.comparisons)
    assert [f.id for f in sec.fronts] == [f.id for f in FRONTS] and all(f.point_ids for f in sec.fronts)
    lat = sec.sensitivity[0]
    assert set(lat.ranking) == {"pe.simd_lanes", "dma.gbytes_per_s_per_channel"}
    assert sec.sensitivity[2].effect("pe.simd_lanes").spread > 1.0  # more lanes, more area
    assert sec.sensitivity[2].effect("dma.gbytes_per_s_per_channel").spread == pytest.approx(1.0)


def test_a_sweep_keeps_the_points_another_sweep_stored_first(tiny):
    again = parse_sweep({**TINY, "name": "tiny-again"})
    summary = run_sweep(again, tiny, workers=1)
    assert summary.rows_added == 0  # every row already there, written by "tiny"
    report = build_report(tiny, sweep="tiny-again")
    (sec,) = report.sections
    assert len(sec.points) == 4 and [r.backend for r in sec.references] == [REF]
    assert report.sweeps == ("tiny",)


def test_render_report_writes_every_file(rendered):
    page = rendered["index"].read_text()
    assert rendered["index"].name == INDEX_FILE
    assert page.count("data:image/png;base64,") == 2 and page.count("<table>") >= 6
    for heading in ("Overview", "Best points", "Against the references", "Sensitivity", "Pareto front"):
        assert heading in page
    out = rendered["index"].parent
    assert sorted(p.name for p in out.iterdir()) == sorted(["figures", INDEX_FILE, JSON_FILE, SUMMARY_FILE])
    figs = sorted(p.name for p in (out / "figures").iterdir())
    assert len(figs) == 2 and all(f.endswith(".png") for f in figs)  # and no temp file left behind
    summary = (out / SUMMARY_FILE).read_text()
    assert all(f"figures/{f}" in summary for f in figs) and "| best by |" in summary
    data = json.loads((out / JSON_FILE).read_text())
    assert data["schema"] == REPORT_SCHEMA and len(data["sections"][0]["points"]) == 4


# ---- index.html in a real browser ----------------------------------------------------------------------
#: flags for a quiet, offline, sandbox-free headless run
CHROMIUM = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
)  # fmt: skip
WINDOW = "1400,2400"
MIN_PIXEL_VARIANCE = 200.0


def test_index_renders_in_chromium(rendered, tmp_path):
    from PIL import Image, ImageStat

    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    url = rendered["index"].resolve().as_uri()

    def run(profile: str, *args: str) -> subprocess.CompletedProcess:
        cmd = [binary, *CHROMIUM, f"--user-data-dir={tmp_path / profile}", *args, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    dom = run("dom", "--dump-dom")
    m = re.search(r'<body[^>]*data-images-loaded="(\d+)/(\d+)"', dom.stdout)
    assert m, f"the load script did not run: {dom.stderr[-1000:]}"
    assert int(m.group(1)) == int(m.group(2)) == 2
    shot = tmp_path / "index.png"
    run("shot", f"--screenshot={shot}", f"--window-size={WINDOW}")
    with Image.open(shot) as im:
        assert ImageStat.Stat(im.convert("L")).var[0] > MIN_PIXEL_VARIANCE  # not a blank page
