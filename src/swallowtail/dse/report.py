"""The report of a design sweep: Pareto fronts, best points, references, failures and param sensitivity.

    report = build_report(Store("sweep.db"), sweep="around-df")     # typed records (DseReport)
    paths = render_report(report, "dse-report")                     # index.html, summary.md, report.json

`build_report` reads the store and makes one `WorkloadReport` per (workload, point backend) -- a point
backend runs on the swept machine (dataflow-*, roofline); every other backend is a *reference*, run once
per workload (its rows' point ids start with `ref-`). Each section holds:

- the ok rows of its points (`DesignRecord`);
- three Pareto fronts (`pareto_front`, minimisation): latency vs energy, latency vs area, and inferences
  per joule (perf/W) vs inferences per second per mm^2 (perf/mm^2) -- both maximised, so negated;
- the best points: the fastest (lowest latency) and the lowest energy-delay product, with their params;
- the speedup and energy-efficiency ratio of each best point over each reference row of the workload;
- the infeasible / invalid rows, grouped by reason (numbers in a reason do not split a group);
- the sensitivity of latency, energy and area to every swept param (`sensitivity`).

With `sweep`, the rows are that sweep's: those it wrote, plus the rows of its points that an earlier sweep
wrote first (the store keeps one row per (point, workload, backend), so a resumed or overlapping sweep
skips them; for grid and random sweeps they are found again from the spec) and its reference backends'
rows whoever wrote them.

`render_report` writes index.html (every figure embedded as a base64 PNG, no external URL; the same
inline load script as `swallowtail reproduce`'s report sets `data-images-loaded="N/M"` on <body>),
summary.md (the tables, figures linked), report.json (the records) and figures/*.png -- every file
atomically (temp file + rename), index.html last, so a killed run leaves the old report or the new one.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import swallowtail
from swallowtail.atomicio import write_atomic, write_json_atomic, write_text_atomic
from swallowtail.dse.evaluate import INFEASIBLE, INVALID, OK
from swallowtail.dse.store import Store, StoredRow
from swallowtail.errors import SpecError
from swallowtail.plotting import (
    CSS,
    FIG_W_IN,
    LOAD_SCRIPT,
    PALETTE,
    FigureOut,
    html_table,
    md_table,
    png,
    pyplot,
    si,
)

#: the report's figure folder (beside index.html)
FIGURE_DIR = "figures"
#: schema tag of report.json
REPORT_SCHEMA = "swallowtail.dse.report/1"
INDEX_FILE = "index.html"
SUMMARY_FILE = "summary.md"
JSON_FILE = "report.json"
#: point ids of reference backends' rows start with this (`BackendKey.reference_id`)
REFERENCE_PREFIX = "ref-"
#: the objectives whose sensitivity to the params is reported
SENSITIVITY_OBJECTIVES = ("latency_s", "energy_j", "area_mm2")
#: example point ids kept per failure group
FAILURE_EXAMPLES = 3
#: an axis whose values span more than this ratio is drawn in log scale
LOG_SPAN = 20.0
#: figure height (inches) of a row of panels
PANEL_H_IN = 4.6
#: a reason's numbers, replaced when grouping failures ("area 12.1 mm^2 > ..." and "area 13 mm^2 > ..." match)
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")

#: what each record field means, for labels: attribute -> (label, unit for `si`, or None for plain numbers)
METRIC_LABELS: dict[str, tuple[str, str | None]] = {
    "latency_s": ("latency", "s"),
    "energy_j": ("energy per inference", "J"),
    "edp_js": ("energy-delay product", "J*s"),
    "area_mm2": ("area (mm^2)", None),
    "power_w": ("full-load power (W)", None),
    "inferences_per_j": ("perf/W (inferences / J)", None),
    "perf_per_mm2": ("perf/mm^2 (inferences / s / mm^2)", None),
}


# ---- records --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DesignRecord:
    """An ok row of a point backend: the point's params and its numbers."""

    point_id: str
    params: dict[str, Any]
    latency_s: float
    energy_j: float
    edp_js: float
    area_mm2: float | None
    power_w: float | None
    throughput_per_s: float | None
    inferences_per_j: float | None
    utilization: float | None

    @property
    def perf_per_mm2(self) -> float | None:
        if self.throughput_per_s is None or not self.area_mm2:
            return None
        return self.throughput_per_s / self.area_mm2

    @classmethod
    def of(cls, s: StoredRow) -> DesignRecord:
        m = s.row.metrics
        return cls(
            s.row.point_id, dict(s.row.params), m["latency_s"], m["energy_j"], m["edp_js"],
            m.get("area_mm2"), m.get("power_w"), m.get("throughput_per_s"), m.get("inferences_per_j"),
            m.get("utilization"),
        )  # fmt: skip


@dataclass(frozen=True)
class ReferenceRecord:
    """An ok row of a reference backend (no area, no power budget)."""

    backend: str
    point_id: str
    latency_s: float
    energy_j: float
    edp_js: float
    inferences_per_j: float | None
    throughput_per_s: float | None

    @classmethod
    def of(cls, s: StoredRow) -> ReferenceRecord:
        m = s.row.metrics
        return cls(
            s.row.backend, s.row.point_id, m["latency_s"], m["energy_j"], m["edp_js"],
            m.get("inferences_per_j"), m.get("throughput_per_s"),
        )  # fmt: skip


@dataclass(frozen=True)
class FrontSpec:
    """One Pareto plot: two record attributes (x, y), each minimised or maximised."""

    id: str
    title: str
    x: str
    y: str
    maximise: bool = False  # both objectives maximised (negated for `pareto_front`)

    def objectives(self) -> list[Callable[[DesignRecord], float | None]]:
        sign = -1.0 if self.maximise else 1.0
        return [_signed(self.x, sign), _signed(self.y, sign)]


#: the three fronts of every section, in report order (x, y as plotted)
FRONTS = (
    FrontSpec("latency-energy", "Latency vs energy", "latency_s", "energy_j"),
    FrontSpec("latency-area", "Latency vs area", "area_mm2", "latency_s"),
    FrontSpec("efficiency", "perf/W vs perf/mm^2 (both maximised)", "perf_per_mm2", "inferences_per_j", True),
)


@dataclass(frozen=True)
class Front:
    """The non-dominated points of one `FrontSpec` (ids, in the order `pareto_front` gives)."""

    id: str
    title: str
    x: str
    y: str
    maximise: bool
    considered: int  # points with both values (the others cannot be placed)
    point_ids: tuple[str, ...]


@dataclass(frozen=True)
class Best:
    """A best point of a section: by `criterion` ('latency' or 'edp')."""

    criterion: str
    point: DesignRecord


@dataclass(frozen=True)
class Comparison:
    """A best point against a reference row of the same workload: >1 means the point is better."""

    reference: str
    criterion: str  # which best point
    point_id: str
    speedup: float  # reference latency / point latency
    energy_efficiency: float  # reference energy / point energy (= the ratio of inferences per joule)


@dataclass(frozen=True)
class FailureGroup:
    """Rows of one status and backend whose reasons differ at most in their numbers."""

    status: str
    backend: str
    reason: str  # the first row's reason, in full
    count: int
    examples: tuple[str, ...]  # point ids


@dataclass(frozen=True)
class Level:
    """The points at one value of a param: how many, and the geometric mean of the objective over them."""

    value: Any
    points: int
    geomean: float


@dataclass(frozen=True)
class ParamEffect:
    """A param's main effect on an objective: its levels and their spread (largest / smallest geomean)."""

    param: str
    levels: tuple[Level, ...]
    spread: float


@dataclass(frozen=True)
class Sensitivity:
    """Every swept param's effect on one objective, largest spread first."""

    objective: str
    effects: tuple[ParamEffect, ...]

    @property
    def ranking(self) -> tuple[str, ...]:
        return tuple(e.param for e in self.effects)

    def effect(self, param: str) -> ParamEffect | None:
        return next((e for e in self.effects if e.param == param), None)


@dataclass(frozen=True)
class WorkloadReport:
    """One (workload, point backend): its points, fronts, best points, references, failures, sensitivity."""

    workload: str
    backend: str
    points: tuple[DesignRecord, ...]
    references: tuple[ReferenceRecord, ...]
    fronts: tuple[Front, ...]
    fastest: DesignRecord | None
    lowest_edp: DesignRecord | None
    comparisons: tuple[Comparison, ...]
    infeasible: int
    invalid: int
    failures: tuple[FailureGroup, ...]
    sensitivity: tuple[Sensitivity, ...]

    @property
    def bests(self) -> tuple[Best, ...]:
        pairs = (("latency", self.fastest), ("edp", self.lowest_edp))
        return tuple(Best(c, p) for c, p in pairs if p is not None)

    def point(self, point_id: str) -> DesignRecord:
        return next(p for p in self.points if p.point_id == point_id)

    def front(self, front_id: str) -> Front:
        return next(f for f in self.fronts if f.id == front_id)


@dataclass(frozen=True)
class DseReport:
    """Everything the report shows, from one store (optionally one sweep / one point backend)."""

    store: str
    sweep: str | None
    backend: str | None
    sweeps: tuple[str, ...]  # the sweeps that wrote the rows shown
    params: tuple[str, ...]  # every param of the points shown
    version: str
    sections: tuple[WorkloadReport, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"schema": REPORT_SCHEMA, **asdict(self)}


# ---- Pareto fronts --------------------------------------------------------------------------------------
class _Identified(Protocol):
    @property
    def point_id(self) -> str: ...


P = TypeVar("P", bound=_Identified)
Objective = str | Callable[[Any], float | None]


def _signed(attr: str, sign: float) -> Callable[[Any], float | None]:
    def value(p: Any) -> float | None:
        v = getattr(p, attr)
        return None if v is None else sign * v

    return value


def _vector(p: Any, objectives: Sequence[Objective]) -> tuple[float, ...] | None:
    out = []
    for o in objectives:
        v = getattr(p, o) if isinstance(o, str) else o(p)
        if v is None or not math.isfinite(v):
            return None
        out.append(float(v))
    return tuple(out)


def pareto_front(points: Iterable[P], objectives: Sequence[Objective]) -> list[P]:
    """The points no other point dominates, every objective minimised (negate one to maximise it).

    An objective is an attribute name or a function of a point; a point with a missing (None) or
    non-finite value in any objective is left out. Of points equal in every objective, the one with the
    smallest `point_id` is kept. Exact, O(n^2); the front comes sorted by its objective vectors
    (lexicographically), then by point id -- the same input in any order gives the same list.
    """
    ranked = sorted(
        ((v, p) for p in points if (v := _vector(p, objectives)) is not None),
        key=lambda vp: (vp[0], vp[1].point_id),
    )
    front: list[tuple[tuple[float, ...], P]] = []
    for v, p in ranked:
        # a point that weakly dominates v sorts before it, and then so does a front member that does
        if not any(all(a <= b for a, b in zip(f, v, strict=True)) for f, _ in front):
            front.append((v, p))
    return [p for _, p in front]


# ---- sensitivity ----------------------------------------------------------------------------------------
def _level_key(v: Any) -> str:
    return json.dumps(v, sort_keys=True)


def _order(v: Any) -> tuple[int, Any]:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return 0, v
    return (1, v) if isinstance(v, str) else (2, _level_key(v))


def _geomean(xs: Sequence[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def sensitivity(
    points: Sequence[DesignRecord], objectives: Sequence[str] = SENSITIVITY_OBJECTIVES
) -> tuple[Sensitivity, ...]:
    """How much each objective moves with each swept param: a main-effect screening, one param at a time.

    For a param and an objective, the points are grouped by the param's value and the objective's
    geometric mean is taken in every group (a `Level`); the param's *spread* is the largest group geomean
    over the smallest (1.0: the objective does not depend on it). Params are ranked by spread. This is the
    standard one-at-a-time main-effect summary of a design of experiments: on a full grid every value of a
    param sees the same mix of the other params, so the spread is that param's own (averaged) effect; on
    random or Optuna samples the groups see different mixes, so a spread also carries the other params'
    effects (confounding) -- read it as a screening rank there. Interactions are not shown. Only params
    with at least two values among the points count; a point without the param, or with a missing or
    non-positive objective, is in no group.
    """
    names = sorted({k for p in points for k in p.params})
    out = []
    for obj in objectives:
        effects = []
        for name in names:
            groups: dict[str, list[float]] = defaultdict(list)
            values: dict[str, Any] = {}
            for p in points:
                v = getattr(p, obj)
                if name in p.params and v is not None and v > 0 and math.isfinite(v):
                    k = _level_key(p.params[name])
                    groups[k].append(v)
                    values[k] = p.params[name]
            if len(groups) < 2:
                continue
            levels = sorted(
                (Level(values[k], len(xs), _geomean(xs)) for k, xs in groups.items()),
                key=lambda lv: _order(lv.value),
            )
            gm = [lv.geomean for lv in levels]
            effects.append(ParamEffect(name, tuple(levels), max(gm) / min(gm)))
        effects.sort(key=lambda e: (-e.spread, e.param))
        out.append(Sensitivity(obj, tuple(effects)))
    return tuple(out)


# ---- building the report --------------------------------------------------------------------------------
def _is_reference(s: StoredRow) -> bool:
    return s.row.point_id.startswith(REFERENCE_PREFIX)


def _backend_name(key: str) -> str:
    return key.split("[", 1)[0]


def _natural(s: str) -> tuple:
    """'fabnet-base@L256xB1' before 'fabnet-base@L1024xB1'."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s))


def _failures(rows: Iterable[StoredRow]) -> tuple[FailureGroup, ...]:
    groups: dict[tuple[str, str, str], list[StoredRow]] = defaultdict(list)
    for s in rows:
        r = s.row
        groups[(r.status, r.backend, _NUMBER.sub("#", r.reason or "(no reason stored)"))].append(s)
    out = [
        FailureGroup(
            st,
            be,
            ss[0].row.reason or "(no reason stored)",
            len(ss),
            tuple(s.row.point_id for s in ss[:FAILURE_EXAMPLES]),
        )
        for (st, be, _), ss in groups.items()
    ]
    return tuple(sorted(out, key=lambda g: (g.status, -g.count, g.backend, g.reason)))


def _section(workload: str, backend: str, rows: list[StoredRow], ref_rows: list[StoredRow]) -> WorkloadReport:
    points = tuple(DesignRecord.of(s) for s in rows if s.row.status == OK)
    refs = tuple(ReferenceRecord.of(s) for s in ref_rows if s.row.status == OK)
    fronts = []
    for spec in FRONTS:
        objs = spec.objectives()
        considered = [p for p in points if _vector(p, objs) is not None]
        front = pareto_front(considered, objs)
        fronts.append(
            Front(spec.id, spec.title, spec.x, spec.y, spec.maximise, len(considered),
                  tuple(p.point_id for p in front))
        )  # fmt: skip
    fastest = min(points, key=lambda p: (p.latency_s, p.point_id), default=None)
    lowest_edp = min(points, key=lambda p: (p.edp_js, p.point_id), default=None)
    comparisons = [
        Comparison(
            ref.backend, crit, best.point_id, ref.latency_s / best.latency_s, ref.energy_j / best.energy_j
        )
        for ref in refs
        for crit, best in (("latency", fastest), ("edp", lowest_edp))
        if best is not None and best.latency_s > 0 and best.energy_j > 0
    ]
    statuses = [s.row.status for s in rows]
    return WorkloadReport(
        workload, backend, points, refs, tuple(fronts), fastest, lowest_edp, tuple(comparisons),
        statuses.count(INFEASIBLE), statuses.count(INVALID),
        _failures(s for s in [*rows, *ref_rows] if s.row.status != OK), sensitivity(points),
    )  # fmt: skip


def _status_counts(rows: Iterable[StoredRow]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for s in rows:
        counts[s.row.status] += 1
    return ", ".join(f"{n} {st}" for st, n in sorted(counts.items()))


def build_report(store: Store, sweep: str | None = None, backend: str | None = None) -> DseReport:
    """The report of `store` (of one sweep, of one point backend -- a key like 'dataflow-multilayer' or a
    name -- when given). A store with no ok row of a point backend is a SpecError naming it."""
    where = str(store.path)
    rows = store.rows(sweep)
    if not store.count():
        raise SpecError("STORE", where, "a store with rows to report (this one is empty: run a sweep in)")
    point_rows = [s for s in rows if not _is_reference(s)]
    ref_rows = [s for s in rows if _is_reference(s)]
    backends = sorted({s.row.backend for s in point_rows})
    if backend is not None:
        chosen = [b for b in backends if backend in (b, _backend_name(b))]
        if not chosen:
            raise SpecError("--backend", backend, f"a point backend with rows in {where}: one of {backends}")
        point_rows = [s for s in point_rows if s.row.backend in chosen]
    if not any(s.row.status == OK for s in point_rows):
        of = f" of sweep {sweep!r}" if sweep else ""
        on = f" on {backend!r}" if backend else ""
        found = _status_counts(point_rows) or "none"
        hint = ""
        if point_rows:
            g = _failures(point_rows)[0]
            hint = f"; most common: {g.status} -- {g.reason}"
        raise SpecError(
            "STORE",
            where,
            f"a store with ok rows of a swept point{of}{on} to report (its point rows: {found}{hint})",
        )
    by_key: dict[tuple[str, str], list[StoredRow]] = defaultdict(list)
    for s in point_rows:
        by_key[(s.row.workload, s.row.backend)].append(s)
    refs_of: dict[str, list[StoredRow]] = defaultdict(list)
    for s in ref_rows:
        refs_of[s.row.workload].append(s)
    sections = tuple(
        _section(w, b, by_key[(w, b)], refs_of[w])
        for w, b in sorted(by_key, key=lambda k: (_natural(k[0]), k[1]))
    )
    shown = [*point_rows, *(s for w, _ in by_key for s in refs_of[w])]
    return DseReport(
        where, sweep, backend, tuple(sorted({s.sweep for s in shown})),
        tuple(sorted({k for s in point_rows for k in s.row.params})), swallowtail.__version__, sections,
    )  # fmt: skip


# ---- figures --------------------------------------------------------------------------------------------
def _label(attr: str) -> str:
    label, unit = METRIC_LABELS[attr]
    return f"{label} ({unit})" if unit else label


def _scale(ax: Any, axis: str, values: Iterable[float]) -> None:
    vs = [v for v in values if v > 0]
    if vs and max(vs) / min(vs) > LOG_SPAN:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def _pareto_panel(ax: Any, sec: WorkloadReport, front: Front) -> None:
    def xy(p: Any) -> tuple[float | None, float | None]:
        return getattr(p, front.x, None), getattr(p, front.y, None)

    pts = [(x, y) for x, y in map(xy, sec.points) if x is not None and y is not None]
    ax.scatter(*zip(*pts, strict=True), s=14, color="#b0b0b0", label="design points", zorder=2)
    on = sorted((xy(sec.point(pid)) for pid in front.point_ids), key=lambda t: t[0])
    ax.plot(*zip(*on, strict=True), "-o", color=PALETTE[0], markersize=5, label="Pareto front", zorder=3)
    # the lowest-EDP diamond is drawn larger and under the star: both show when one point is both
    for best, label, style in (
        (sec.lowest_edp, "lowest EDP", {"marker": "D", "s": 110, "color": PALETTE[2], "zorder": 4}),
        (sec.fastest, "fastest", {"marker": "*", "s": 150, "color": PALETTE[3], "zorder": 5}),
    ):
        x, y = xy(best)
        if x is not None and y is not None:
            ax.scatter([x], [y], edgecolor="black", linewidth=0.5, label=label, **style)
    xs, ys = [x for x, _ in pts], [y for _, y in pts]
    for i, ref in enumerate(sec.references):
        x, y = xy(ref)
        colour = PALETTE[(4 + i) % len(PALETTE)]
        if x is not None and y is not None:
            ax.scatter([x], [y], marker="X", s=70, color=colour, edgecolor="black", linewidth=0.5,
                       label=ref.backend, zorder=4)  # fmt: skip
            xs.append(x)
            ys.append(y)
        elif y is not None:  # the reference has no value on x (no area): a line at its y
            ax.axhline(y, color=colour, linestyle="--", linewidth=1.2, label=ref.backend)
            ys.append(y)
    _scale(ax, "x", xs)
    _scale(ax, "y", ys)
    ax.set_xlabel(_label(front.x))
    ax.set_ylabel(_label(front.y))
    ax.set_title(
        f"{front.title}\n{len(front.point_ids)} on the front of {front.considered}", fontsize="medium"
    )
    ax.grid(which="both", alpha=0.3)


def _figure_legend(fig: Any, axes: Sequence[Any]) -> None:
    seen: dict[str, Any] = {}
    for ax in axes:
        for h, lbl in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(lbl, h)
    fig.legend(
        list(seen.values()), list(seen), loc="outside lower center", ncol=min(4, len(seen)), fontsize="small"
    )


def fig_pareto(sec: WorkloadReport) -> Any:
    """The three Pareto plots of a section, side by side."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(FRONTS), figsize=(FIG_W_IN, PANEL_H_IN + 0.8), layout="constrained")
    for ax, front in zip(axes, sec.fronts, strict=True):
        if front.considered:
            _pareto_panel(ax, sec, front)
        else:
            ax.set_axis_off()
            ax.set_title(f"{front.title}: no point has both values", fontsize="medium")
    _figure_legend(fig, axes)
    fig.suptitle(f"{sec.workload} on {sec.backend}: Pareto fronts (minimise latency, energy, area)")
    return fig


def fig_sensitivity(sec: WorkloadReport) -> Any:
    """Per objective, each param's spread (largest / smallest group geomean) as a bar, ranked."""
    plt = pyplot()
    shown = [s for s in sec.sensitivity if s.effects]
    fig, axes = plt.subplots(
        1, len(shown), figsize=(FIG_W_IN, PANEL_H_IN), layout="constrained", squeeze=False
    )
    for ax, sens in zip(axes[0], shown, strict=True):
        effects = sens.effects
        spreads = [e.spread for e in effects]
        ax.barh(range(len(effects)), [s - 1.0 for s in spreads], left=1.0, color=PALETTE[0])
        ax.set_yticks(range(len(effects)))
        ax.set_yticklabels([e.param for e in effects], fontsize="small")
        ax.invert_yaxis()
        for j, s in enumerate(spreads):
            ax.text(s, j, f" {s:.3g}x", va="center", fontsize="small")
        if max(spreads) > LOG_SPAN:
            ax.set_xscale("log")
        ax.set_xlim(1.0, max(spreads) * 1.35 if max(spreads) > 1.0 else 1.1)
        ax.set_title(METRIC_LABELS[sens.objective][0], fontsize="medium")
        ax.grid(axis="x", which="both", alpha=0.3)
    fig.supxlabel("spread: the largest group geometric mean over the smallest (x)", fontsize="medium")
    fig.suptitle(
        f"{sec.workload} on {sec.backend}: sensitivity of each objective to each param (main effect)"
    )
    return fig


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def section_id(i: int, sec: WorkloadReport) -> str:
    """A file-name and anchor safe id of the i-th section."""
    return f"{i:02d}-{_slug(sec.workload)}-{_slug(sec.backend)}"


def render_figures(report: DseReport) -> dict[str, list[FigureOut]]:
    """Section id -> its figures (Pareto plots when it has points, sensitivity when a param varies)."""
    out: dict[str, list[FigureOut]] = {}
    for i, sec in enumerate(report.sections):
        sid, figs = section_id(i, sec), []
        if sec.points:
            figs.append(FigureOut(
                f"{sid}-pareto", f"Pareto fronts: {sec.workload} on {sec.backend}",
                "Grey: every ok point; blue: the Pareto front (connected); star: the fastest point, "
                "diamond: the lowest energy-delay product; X / dashed lines: the reference backends (a line "
                "where the reference has no value on the x axis -- no area).", png(fig_pareto(sec)),
            ))  # fmt: skip
        if any(s.effects for s in sec.sensitivity):
            figs.append(FigureOut(
                f"{sid}-sensitivity", f"Sensitivity: {sec.workload} on {sec.backend}",
                "Per objective, the points grouped by one param's value at a time; a bar is the largest "
                "group's geometric mean over the smallest (1x: no effect). Ranked, largest first.",
                png(fig_sensitivity(sec)),
            ))  # fmt: skip
        out[sid] = figs
    return out


# ---- tables ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Table:
    """A table of text cells, written as HTML or Markdown."""

    head: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def html(self) -> str:
        return html_table(list(self.head), [list(r) for r in self.rows], cls="wide")

    def markdown(self) -> str:
        return md_table(list(self.head), [list(r) for r in self.rows])


def _num(attr: str, v: float | None) -> str:
    if v is None:
        return "-"
    unit = METRIC_LABELS[attr][1]
    return si(v, unit) if unit else f"{v:.4g}"


def _params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v) if isinstance(v, list) else v}" for k, v in sorted(params.items()))


def overview_table(report: DseReport) -> Table:
    rows = []
    for sec in report.sections:
        f, e = sec.fastest, sec.lowest_edp
        ratios = "; ".join(
            f"{c.reference}: {c.speedup:.3g}x faster, {c.energy_efficiency:.3g}x less energy"
            for c in sec.comparisons
            if c.criterion == "latency"
        )
        rows.append((
            sec.workload, sec.backend, str(len(sec.points)), str(sec.infeasible), str(sec.invalid),
            f"{_num('latency_s', f.latency_s)} ({f.point_id})" if f else "-",
            f"{_num('edp_js', e.edp_js)} ({e.point_id})" if e else "-", ratios or "-",
        ))  # fmt: skip
    head = ("workload", "point backend", "ok", "infeasible", "invalid", "fastest", "lowest EDP",
            "fastest vs references")  # fmt: skip
    return Table(head, tuple(rows))


_RECORD_COLUMNS = (
    "latency_s",
    "energy_j",
    "edp_js",
    "area_mm2",
    "power_w",
    "inferences_per_j",
    "perf_per_mm2",
)


def best_table(sec: WorkloadReport) -> Table:
    head = ("best by", "point", *(METRIC_LABELS[c][0] for c in _RECORD_COLUMNS), "params")
    rows = tuple(
        (b.criterion, b.point.point_id, *(_num(c, getattr(b.point, c)) for c in _RECORD_COLUMNS),
         _params(b.point.params))
        for b in sec.bests
    )  # fmt: skip
    return Table(head, rows)


def comparison_table(sec: WorkloadReport) -> Table:
    refs = {r.backend: r for r in sec.references}
    head = ("reference", "its latency", "its energy", "best by", "point", "speedup", "energy efficiency")
    rows = tuple(
        (c.reference, _num("latency_s", refs[c.reference].latency_s),
         _num("energy_j", refs[c.reference].energy_j), c.criterion, c.point_id, f"{c.speedup:.3g}x",
         f"{c.energy_efficiency:.3g}x")
        for c in sec.comparisons
    )  # fmt: skip
    return Table(head, rows)


def front_table(sec: WorkloadReport, front: Front) -> Table:
    head = ("point", METRIC_LABELS[front.x][0], METRIC_LABELS[front.y][0], "params")
    rows = []
    for pid in front.point_ids:
        p = sec.point(pid)
        rows.append(
            (pid, _num(front.x, getattr(p, front.x)), _num(front.y, getattr(p, front.y)), _params(p.params))
        )
    return Table(head, tuple(rows))


def sensitivity_table(sec: WorkloadReport) -> Table:
    """One row per param: its spread (and rank) for every objective, by its rank on the first."""
    params: list[str] = []
    for s in sec.sensitivity:
        params += [p for p in s.ranking if p not in params]
    head = ("param", *(f"{METRIC_LABELS[s.objective][0]}: spread (rank)" for s in sec.sensitivity), "levels")
    rows = []
    for name in params:
        cells = []
        for s in sec.sensitivity:
            e = s.effect(name)
            cells.append(f"{e.spread:.3g}x ({s.ranking.index(name) + 1})" if e else "-")
        first = next(e for s in sec.sensitivity if (e := s.effect(name)) is not None)
        levels = ", ".join(
            f"{_params({name: lv.value}).split('=', 1)[1]} ({lv.points})" for lv in first.levels
        )
        rows.append((name, *cells, levels))
    return Table(head, tuple(rows))


def failure_table(sec: WorkloadReport) -> Table:
    head = ("status", "backend", "rows", "reason (first of the group)", "example points")
    rows = tuple((g.status, g.backend, str(g.count), g.reason, ", ".join(g.examples)) for g in sec.failures)
    return Table(head, rows)


SENSITIVITY_NOTE = (
    "Sensitivity is a main-effect screening, one param at a time: the ok points are grouped by the param's "
    "value, the objective's geometric mean is taken per group, and the spread is the largest group geomean "
    "over the smallest (1x: no effect). On a full grid that is the param's averaged main effect; on random "
    "or Optuna samples it also carries the other params' effects (confounded). Interactions are not shown."
)


# ---- summary.md, index.html, report.json ---------------------------------------------------------------
def _title(report: DseReport) -> str:
    return f"Design sweep report: {', '.join(report.sweeps) or '(no sweep)'}"


def _meta(report: DseReport) -> str:
    n = sum(len(s.points) for s in report.sections)
    bits = [f"store {report.store}", f"swallowtail {report.version}", f"{n} ok rows of swept points"]
    if report.sweep:
        bits.append(f"sweep {report.sweep}")
    if report.backend:
        bits.append(f"backend {report.backend}")
    bits.append("params: " + (", ".join(report.params) or "none"))
    return "; ".join(bits)


def _section_parts(sec: WorkloadReport) -> list[tuple[str, Table, str]]:
    """(heading, table, text when the table is empty) of a section, in report order."""
    parts = [
        ("Best points", best_table(sec), "No ok point."),
        ("Against the references", comparison_table(sec), "No reference backend row for this workload."),
    ]
    parts += [
        (f"Pareto front: {f.title}", front_table(sec, f), "No point has both values.") for f in sec.fronts
    ]
    parts += [
        ("Sensitivity", sensitivity_table(sec), "No param takes two values among the ok points."),
        ("Infeasible and invalid rows", failure_table(sec), "None."),
    ]
    return parts


def render_summary(
    report: DseReport, figures: Mapping[str, list[FigureOut]], figure_dir: str = FIGURE_DIR
) -> str:
    out = [
        f"# {_title(report)}",
        "",
        _meta(report),
        "",
        "## Overview",
        "",
        overview_table(report).markdown(),
        "",
    ]
    for i, sec in enumerate(report.sections):
        out += [f"## {sec.workload} on {sec.backend}", ""]
        for f in figures.get(section_id(i, sec), []):
            out += [f"![{f.title}]({figure_dir}/{f.id}.png)", "", f.caption, ""]
        for heading, table, empty in _section_parts(sec):
            out += [f"### {heading}", "", table.markdown() if table.rows else empty, ""]
            if heading == "Sensitivity" and table.rows:
                out += [SENSITIVITY_NOTE, ""]
    return "\n".join(out)


def render_html(report: DseReport, figures: Mapping[str, list[FigureOut]]) -> str:
    e = html.escape
    toc, body = [], []
    for i, sec in enumerate(report.sections):
        sid = section_id(i, sec)
        toc.append(f"<li><a href='#{e(sid)}'>{e(sec.workload)} on {e(sec.backend)}</a></li>")
        body.append(f"<h2 id='{e(sid)}'>{e(sec.workload)} on {e(sec.backend)}</h2>")
        for f in figures.get(sid, []):
            body.append(
                f"<figure id='fig-{e(f.id)}'><img alt='{e(f.title)}' src='{f.data_uri}'>"
                f"<figcaption><b>{e(f.title)}.</b> {e(f.caption)}</figcaption></figure>"
            )
        for heading, table, empty in _section_parts(sec):
            inner = table.html() if table.rows else f"<p>{e(empty)}</p>"
            if heading.startswith("Pareto front"):
                body.append(
                    f"<details><summary>{e(heading)} ({len(table.rows)} points)</summary>{inner}</details>"
                )
                continue
            body.append(f"<h3>{e(heading)}</h3>{inner}")
            if heading == "Sensitivity" and table.rows:
                body.append(f"<p class='meta'>{e(SENSITIVITY_NOTE)}</p>")
    n_figs = sum(len(v) for v in figures.values())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(_title(report))}</title>
<style>{CSS}
details {{ margin: 8px 0; }} summary {{ cursor: pointer; font-weight: 600; }}</style></head>
<body data-images-loaded="pending" data-figures="{n_figs}">
<h1>{e(_title(report))}</h1>
<p class="meta">{e(_meta(report))}</p>
<h2>Overview</h2>{overview_table(report).html()}
<ul>{"".join(toc)}</ul>
{"".join(body)}
<p class="meta">Every number comes from the store's rows (report.json beside this file holds them). Speedup:
the reference's latency over the point's; energy efficiency: the reference's energy per inference over the
point's (both above 1x when the point is better).</p>
<script>{LOAD_SCRIPT}</script>
</body></html>
"""


def render_report(report: DseReport, out_dir: str | Path) -> dict[str, Path]:
    """Write figures/*.png, report.json, summary.md and (last) index.html into `out_dir`, each atomically.
    Returns {"figures", "json", "summary", "index"} -> path."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SpecError("--out", str(out), "a folder (or a path to make one at), not a file")
    figures = render_figures(report)
    for figs in figures.values():
        for f in figs:
            write_atomic(out / FIGURE_DIR / f"{f.id}.png", lambda fh, png=f.png: fh.write(png), mode="wb")
    paths = {"figures": out / FIGURE_DIR, "json": write_json_atomic(out / JSON_FILE, report.to_dict())}
    paths["summary"] = write_text_atomic(out / SUMMARY_FILE, render_summary(report, figures))
    paths["index"] = write_text_atomic(out / INDEX_FILE, render_html(report, figures))
    return paths


__all__ = [
    "FRONTS",
    "INDEX_FILE",
    "JSON_FILE",
    "REPORT_SCHEMA",
    "SENSITIVITY_OBJECTIVES",
    "SUMMARY_FILE",
    "Best",
    "Comparison",
    "DesignRecord",
    "DseReport",
    "FailureGroup",
    "Front",
    "FrontSpec",
    "Level",
    "ParamEffect",
    "ReferenceRecord",
    "Sensitivity",
    "Table",
    "WorkloadReport",
    "build_report",
    "pareto_front",
    "render_figures",
    "render_report",
    "sensitivity",
]
