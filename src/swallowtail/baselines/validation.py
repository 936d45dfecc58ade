"""The Jetson GPU model against published measurements: fit some parameters on some points, predict the rest.

The points live in `baselines/params/jetson-published.yaml` (each with its source); nothing here holds a
published number. A point names a board in a power mode, a software stack, a workload (`bert-large`,
`resnet-50`, the other torchvision ResNets and VGGs), a scenario (`single-stream` over a length
distribution, `fixed` shape, `offline` over batch sizes), a statistic, and the benchmark harness that ran it
where its fixed time matters (`harness`: a file of `baselines/params/harnesses/`,
`swallowtail.baselines.scenarios.Harness`).

- `fit(points)`: each `role: fit` point sets one parameter so that the model meets the point: a parameter of
  its stack (`fits`, and the same value in the stacks of `shared_with`) or of its harness
  (`host_cycles_per_inference`, `dram_bytes_per_inference`). The points are solved together: sweeps of
  one-dimensional bisections (each parameter is monotone in its point's statistic), each sweep with the latest
  values of the others, until no value changes at the printed precision (Gauss-Seidel). A harness parameter is
  solved inside every step of the other bisections of points run by the same harness (it only adds fixed time,
  so this costs no GPU runs), which keeps two parameters fitted on one run -- a GPU efficiency on the p90, the
  fixed time on the mean -- from needing many sweeps. A parameter may name one GPU generation
  (`gemm_efficiency.ampere`). The shipped files hold the fitted values with a `fitted:` note naming the point;
  `swallowtail baseline fit --write` rewrites them, and a test checks that the files hold what `fit()`
  computes, so the fit is reproducible and never done by hand.
- `validate(points)`: every point, model vs published, with the error and whether it was fitted or only
  predicted. Predicted points are the evidence.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from swallowtail.arch.specbase import PosFloat, PosInt, SpecModel, read_yaml_file, spec_error, validate_model
from swallowtail.arch.specs import GPUArch, load_arch
from swallowtail.atomicio import write_text_atomic
from swallowtail.baselines.jetson import (
    STACK_DIR,
    GPUStack,
    JetsonBackend,
    list_stacks,
    load_stack,
    stack_with_overrides,
)
from swallowtail.baselines.scenarios import (
    HARNESS_DIR,
    P90,
    PERCENTILES,
    Harness,
    load_harness,
    load_lengths,
    offline,
    single_stream,
)
from swallowtail.errors import SpecError
from swallowtail.workload import Workload
from swallowtail.workload.named import named_workload

POINTS_FILE = Path(__file__).parent / "params" / "jetson-published.yaml"
#: stack parameters a point may fit, with the bracket the bisection searches
FIT_BRACKETS: dict[str, tuple[float, float]] = {
    "gemm_efficiency": (0.01, 1.0),
    "per_op_overhead_s": (0.0, 2e-3),
    "host_cycles_per_inference": (0.0, 2e8),
    "dram_bytes_per_inference": (0.0, 1e10),
}
#: parameters a point fits in its harness file (the rest are stack parameters)
HARNESS_PARAMETERS = frozenset({"host_cycles_per_inference", "dram_bytes_per_inference"})
#: how each parameter moves latency: +1 a larger value is slower, -1 faster
FIT_DIRECTION = {
    "gemm_efficiency": -1,
    "per_op_overhead_s": +1,
    "host_cycles_per_inference": +1,
    "dram_bytes_per_inference": +1,
}
#: bisection steps: 2^-28 of a bracket is at most 1e-6 of any fitted value (host cycles: 0.75 of 865 k),
#: 100x below the 4 significant digits a value is written with
FIT_STEPS = 28
#: sweeps over the fit points at most (they converge in a few when each point pins its own parameter)
FIT_SWEEPS = 30
#: significant digits a fitted value is written with
FIT_DIGITS = 4
#: the validation target: every point within this relative error
TARGET_ERROR = 0.20


class PublishedPoint(SpecModel):
    """One published measurement (see the module docstring)."""

    id: Annotated[str, Field(min_length=1)]
    arch: str
    stack: str
    workload: str
    scenario: Literal["single-stream", "fixed", "offline"]
    statistic: Literal["mean", "p50", "p90", "p99", "max", "min", "latency", "samples_per_s"]
    value: PosFloat
    role: Literal["fit", "predict"]
    fits: str | None = None
    shared_with: list[str] = []  # other stacks that take the fitted value too (the same library / host)
    lengths: str | None = None
    seq_len: PosInt | None = None
    batch: PosInt = 1
    batches: list[PosInt] | None = None
    harness: str | None = None  # the harness that ran it (its fixed time per inference), if it matters
    source: Annotated[str, Field(min_length=1)]
    note: Annotated[str, Field(min_length=1)] | None = None  # what is known of the run beyond its source

    @model_validator(mode="after")
    def _check(self) -> PublishedPoint:
        if (self.role == "fit") != (self.fits is not None):
            raise spec_error("fits", self.fits, "a parameter name exactly when role is fit")
        if self.shared_with and self.fits is None:
            raise spec_error(
                "shared_with", self.shared_with, "an empty list unless the point fits a parameter"
            )
        if self.fits is not None and self.fits.split(".")[0] not in FIT_BRACKETS:
            raise spec_error("fits", self.fits, f"one of {sorted(FIT_BRACKETS)}")
        if self.fits in HARNESS_PARAMETERS and (self.harness is None or self.shared_with):
            raise spec_error(
                "harness", self.harness, "the harness whose parameter the point fits (and no shared_with)"
            )
        wanted = {
            "single-stream": ("mean", *PERCENTILES, "max", "min"),
            "fixed": ("latency",),
            "offline": ("samples_per_s",),
        }
        if self.statistic not in wanted[self.scenario]:
            raise spec_error(
                "statistic", self.statistic, f"one of {wanted[self.scenario]} for {self.scenario}"
            )
        if self.scenario == "single-stream" and self.lengths is None:
            raise spec_error("lengths", None, "a length distribution for a single-stream point")
        if self.scenario == "offline" and not self.batches:
            raise spec_error("batches", self.batches, "the batch sizes an offline point searches")
        return self

    @property
    def unit(self) -> str:
        return "samples/s" if self.statistic == "samples_per_s" else "s"


class PublishedPoints(SpecModel):
    points: list[PublishedPoint] = Field(min_length=1)


def load_points(path: str | Path = POINTS_FILE) -> list[PublishedPoint]:
    points = validate_model(PublishedPoints, read_yaml_file(Path(path)), source=str(path)).points
    ids = [p.id for p in points]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise SpecError("points.id", dup, "unique ids")
    return points


# ---- the model at a point ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _workload(name: str, seq_len: int | None, batch: int) -> Workload:
    return named_workload(name, seq_len=seq_len, batch=batch)


def _builder(point: PublishedPoint, batch: int | None = None) -> Callable[[int | None], Workload]:
    """length -> the point's workload at that length (None: its default) and `batch` (or the point's); the
    backend runs it in its stack's precision, whatever dtype it is built in."""
    b = point.batch if batch is None else batch
    return lambda n: _workload(point.workload, n, b)


@dataclass(frozen=True)
class _Latency:
    latency_s: float


#: GPU latencies by (board, stack, workload): a fit re-runs the same GPU work while it moves a harness's
#: fixed time; bounded (cleared when full)
_GPU_CACHE: dict[tuple[str, str, int], tuple[Workload, _Latency]] = {}
_GPU_CACHE_MAX = 20000


def _cached_run(backend: JetsonBackend, arch_key: str, stack_key: str) -> Callable[[Workload], _Latency]:
    def run(w: Workload) -> _Latency:
        key = (arch_key, stack_key, id(w))  # the entry holds `w`, so its id is not reused
        hit = _GPU_CACHE.get(key)
        if hit is None:
            if len(_GPU_CACHE) >= _GPU_CACHE_MAX:
                _GPU_CACHE.clear()
            hit = _GPU_CACHE[key] = (w, _Latency(backend.run(w).latency_s))
        return hit[1]

    return run


def model_value(point: PublishedPoint, stack: GPUStack, harness: Harness | None = None) -> float:
    """The model's value of `point`'s statistic on its board-mode preset, with `stack` and `harness` (default:
    the point's harness file, if it names one): the GPU model's time plus the harness's fixed time."""
    a = load_arch(point.arch)
    backend = JetsonBackend(a, stack=stack)
    if harness is None and point.harness is not None:
        harness = load_harness(point.harness)
    fixed_s = 0.0 if harness is None else harness.fixed_s_per_inference(a)
    run = _cached_run(backend, point.arch, stack.model_dump_json())  # a preset name names one board-mode
    if point.scenario == "single-stream":
        assert point.lengths is not None
        ss = single_stream(run, _builder(point), load_lengths(point.lengths), fixed_s)
        return ss.statistic(point.statistic)
    if point.scenario == "offline":
        assert point.batches is not None
        build = lambda b: _builder(point, b)(point.seq_len)  # noqa: E731
        return offline(run, build, point.batches, fixed_s).samples_per_s
    return run(_builder(point)(point.seq_len)).latency_s + fixed_s


# ---- fit -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FittedParameter:
    """A fitted value: `stack` names the file it is written to -- a stack or a harness (`kind`)."""

    stack: str
    parameter: str
    value: float
    point: str
    kind: Literal["stack", "harness"] = "stack"


def _bisect(f: Callable[[float], float], target: float, lo: float, hi: float, increasing: bool) -> float:
    """x in [lo, hi] with f(x) = target for a monotone f (clamped to the bracket)."""
    for _ in range(FIT_STEPS):
        mid = 0.5 * (lo + hi)
        above = f(mid) > target
        if above == increasing:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


def round_sig(x: float, digits: int = FIT_DIGITS) -> float:
    return 0.0 if x == 0 else round(x, digits - 1 - math.floor(math.log10(abs(x))))


def _fits_harness(p: PublishedPoint) -> bool:
    return p.fits in HARNESS_PARAMETERS


@functools.cache
def _board(arch: str) -> str:
    """The board of a board-mode preset name (cached: validation asks once per point)."""
    a = load_arch(arch)
    if not isinstance(a, GPUArch):
        raise SpecError("arch", arch, "a Jetson board-mode (kind: gpu)")
    return a.board


@dataclass(frozen=True)
class FitState:
    """The stacks and harnesses a fit has set so far (the shipped files for the rest)."""

    stacks: dict[str, GPUStack]
    harnesses: dict[str, Harness]

    @classmethod
    def shipped(cls, stack_overrides: dict[str, Any] | None = None) -> FitState:
        """The shipped files; with `stack_overrides` (e.g. `{"dram_efficiency": 0.6}`), every shipped stack
        with them (a what-if on an assumed value, before a refit)."""
        if not stack_overrides:
            return cls({}, {})
        stacks = {n: stack_with_overrides(load_stack(n), stack_overrides, "refit") for n in list_stacks()}
        return cls(stacks, {})

    def stack(self, name: str) -> GPUStack:
        return self.stacks.get(name) or load_stack(name)

    def harness(self, name: str | None) -> Harness | None:
        return None if name is None else self.harnesses.get(name) or load_harness(name)

    def set(self, p: PublishedPoint, value: float) -> FitState:
        """A copy with `p.fits` = `value` in p's harness, or in p's stack and those of `shared_with`."""
        assert p.fits is not None
        if _fits_harness(p):
            h = self.harness(p.harness)
            assert h is not None and p.harness is not None
            d = h.to_dict() | {p.fits: value}
            harness = validate_model(Harness, d, source=f"{h.name} (fit)")
            return FitState(self.stacks, self.harnesses | {p.harness: harness})
        stacks = dict(self.stacks)
        for name in (p.stack, *p.shared_with):
            stacks[name] = stack_with_overrides(self.stack(name), {p.fits: value})
        return FitState(stacks, self.harnesses)


def _value_at(p: PublishedPoint, state: FitState) -> float:
    return model_value(p, state.stack(p.stack), state.harness(p.harness))


def _fit_one(p: PublishedPoint, state: FitState, inner: list[PublishedPoint] = []) -> float:  # noqa: B006
    """The value of `p.fits` that makes the model meet `p` with the rest of `state` as it is; the harness
    parameters of `inner` are solved again at every step (they only add fixed time: no new GPU runs)."""
    assert p.fits is not None
    lo, hi = FIT_BRACKETS[p.fits.split(".")[0]]

    def f(x: float) -> float:
        s = state.set(p, x)
        for q in inner:
            s = s.set(q, _fit_one(q, s))
        return _value_at(p, s)

    # a latency grows with a slowing parameter; a throughput falls
    increasing = (FIT_DIRECTION[p.fits.split(".")[0]] > 0) == (p.statistic != "samples_per_s")
    return round_sig(_bisect(f, p.value, lo, hi, increasing))


def fit(
    points: list[PublishedPoint],
    progress: Callable[[int, str], None] | None = None,
    start: FitState | None = None,
) -> list[FittedParameter]:
    """Fit every `role: fit` point's parameter, jointly (module docstring); one row per file it sets.
    `progress(sweep, point id)` is called before each one-dimensional fit; `start`: the stacks and harnesses
    to fit from (default: the shipped files)."""
    fits = [p for p in points if p.role == "fit"]
    harness_fits = [p for p in fits if _fits_harness(p)]
    state = FitState.shipped() if start is None else start
    values: dict[str, float] = {}
    for sweep in range(FIT_SWEEPS):
        changed = False
        for p in fits:
            assert p.fits is not None
            if progress is not None:
                progress(sweep, p.id)
            inner = [] if _fits_harness(p) else [q for q in harness_fits if q.harness == p.harness]
            value = _fit_one(p, state, inner)
            changed |= values.get(p.id) != value
            values[p.id] = value
            state = state.set(p, value)
        if not changed:
            break
    else:
        raise SpecError("fit", sorted(values), f"values that settle within {FIT_SWEEPS} sweeps")
    out = []
    for p in fits:
        assert p.fits is not None
        if _fits_harness(p):
            assert p.harness is not None
            out.append(FittedParameter(p.harness, p.fits, values[p.id], p.id, "harness"))
        else:
            out += [FittedParameter(name, p.fits, values[p.id], p.id) for name in (p.stack, *p.shared_with)]
    return out


def with_fitted(points: list[PublishedPoint], fitted: list[FittedParameter], start: FitState) -> FitState:
    """`start` with the `fitted` values set (as `fit` set them, point by point)."""
    values = {fp.point: fp.value for fp in fitted}
    state = start
    for p in points:
        if p.role == "fit":
            state = state.set(p, values[p.id])
    return state


def fitted_note(fp: FittedParameter) -> str:
    return f"fitted: on published point {fp.point} by `swallowtail baseline fit` ({POINTS_FILE.name})"


def _set_value(text: str, parameter: str, value: float) -> tuple[str, int]:
    """`parameter: value` in a stack file; `top.key` sets one key of a flow mapping `top: {a: 1, key: 2}`,
    and a bare name whose value is such a mapping sets every key of it."""
    top, _, sub = parameter.partition(".")
    line = re.compile(rf"(?m)^{top}: (.*)$")
    keys = rf"\b{sub}" if sub else r"\b[a-z0-9_]+"

    def repl(m: re.Match[str]) -> str:
        if not m[1].startswith("{"):
            return f"{top}: {value!r}" if not sub else m[0]
        return f"{top}: " + re.sub(rf"({keys}): [^,}}]+", lambda k: f"{k[1]}: {value!r}", m[1])

    return line.subn(repl, text)


def write_fitted(
    fitted: list[FittedParameter],
    stack_dir: Path = STACK_DIR,
    harness_dir: Path = HARNESS_DIR,
) -> list[Path]:
    """Rewrite each fitted value and its note in the stack and harness files, leaving every other line."""
    written: list[Path] = []
    dirs = {"stack": stack_dir, "harness": harness_dir}
    for fp in fitted:
        path = dirs[fp.kind] / f"{fp.stack}.yaml"
        text, n1 = _set_value(path.read_text(encoding="utf-8"), fp.parameter, fp.value)
        note = fitted_note(fp).replace('"', "'")
        key = re.escape(fp.parameter) + ("" if "." in fp.parameter else r"(\.[a-z0-9_]+)?")
        text, n2 = re.subn(rf"(?m)^  ({key}): .*$", lambda m, note=note: f'  {m[1]}: "{note}"', text)
        if n1 != 1 or n2 < 1:
            raise SpecError(f"{path.name}.{fp.parameter}", fp.value, "one value line and its source lines")
        write_text_atomic(path, text)
        written.append(path)
    return written


# ---- validate --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One published point against the model."""

    point: PublishedPoint
    model: float

    @property
    def error(self) -> float:
        """Relative error, (model - published) / published."""
        return self.model / self.point.value - 1.0

    @property
    def within_target(self) -> bool:
        return abs(self.error) <= TARGET_ERROR


def validate(points: list[PublishedPoint] | None = None, state: FitState | None = None) -> list[Check]:
    """Every point with the shipped stacks and harnesses (which hold the fitted values), or with `state`'s."""
    pts = load_points() if points is None else points
    state = FitState.shipped() if state is None else state
    stacks: dict[str, GPUStack] = {}
    harnesses: dict[str | None, Harness | None] = {}
    out = []
    for p in pts:
        stack = stacks.setdefault(p.stack, state.stack(p.stack))
        harness = harnesses.setdefault(p.harness, state.harness(p.harness))
        out.append(Check(p, model_value(p, stack, harness)))
    return out


@dataclass(frozen=True)
class Refit:
    """The model refitted from every shipped stack with `overrides`: its fitted values, the stacks and
    harnesses that hold them, and every published point against it."""

    overrides: dict[str, Any]
    fitted: list[FittedParameter]
    state: FitState
    checks: list[Check]


def refit(
    overrides: dict[str, Any],
    points: list[PublishedPoint] | None = None,
    progress: Callable[[int, str], None] | None = None,
) -> Refit:
    """What an assumed stack value implies once the fitted ones follow it: every shipped stack with
    `overrides`, fitted again on the `role: fit` points, checked on all of them (a few minutes)."""
    pts = load_points() if points is None else points
    start = FitState.shipped(overrides)
    fitted = fit(pts, progress, start)
    state = with_fitted(pts, fitted, start)
    return Refit(dict(overrides), fitted, state, validate(pts, state))


def _fmt(value: float, unit: str) -> str:
    return f"{value * 1e3:.2f} ms" if unit == "s" else f"{value:.1f} {unit}"


def validation_rows(checks: list[Check]) -> list[dict[str, object]]:
    """One plain row per check, for tables and JSON."""
    return [
        {
            "id": c.point.id,
            "arch": c.point.arch,
            "board": _board(c.point.arch),
            "stack": c.point.stack,
            "workload": c.point.workload,
            "scenario": c.point.scenario,
            "statistic": c.point.statistic,
            "unit": c.point.unit,
            "published": c.point.value,
            "model": c.model,
            "published_text": _fmt(c.point.value, c.point.unit),
            "model_text": _fmt(c.model, c.point.unit),
            "error": c.error,
            "role": c.point.role,
            "fits": c.point.fits,
            "harness": c.point.harness,
            "source": c.point.source,
            "note": c.point.note,
        }
        for c in checks
    ]


@dataclass(frozen=True)
class Miss:
    """A predicted point outside the target, with what is known of its run (`PublishedPoint.note`)."""

    id: str
    error: float
    note: str | None


@dataclass(frozen=True)
class ValidationSummary:
    """The split a validation table ends with: how many predicted points are within the target, on which
    boards (`GPUArch.board`, every power mode of a board counted once), the worst one, and how many points
    were fitted."""

    predicted: int
    within_target: int
    boards: tuple[str, ...]
    worst_id: str | None  # None without predicted points
    worst_error: float | None
    fitted: int
    misses: tuple[Miss, ...] = ()  # every predicted point outside the target, in file order

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "boards": list(self.boards)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ValidationSummary:
        """Read back `to_dict()`; a summary written before `misses` (with the worst point's `worst_note`)
        becomes one with that point as its only miss."""
        d = dict(d)
        worst_note = d.pop("worst_note", None)
        misses = tuple(Miss(**m) for m in d.get("misses", ()))
        if "misses" not in d and worst_note and abs(d["worst_error"]) > TARGET_ERROR:
            misses = (Miss(d["worst_id"], d["worst_error"], worst_note),)
        return cls(**{**d, "boards": tuple(d["boards"]), "misses": misses})

    def miss_lines(self) -> list[str]:
        """One line per note: the misses it explains (`id (error)`), then the note; notes-less misses last."""
        by_note: dict[str | None, list[Miss]] = {}
        for m in self.misses:
            by_note.setdefault(m.note, []).append(m)
        lines = []
        for note, ms in sorted(by_note.items(), key=lambda kv: kv[0] is None):
            ids = ", ".join(f"{m.id} ({m.error:+.1%})" for m in ms)
            lines.append(f"{ids}: {note}" if note else f"{ids}: no note")
        return lines

    def line(self) -> str:
        """One sentence for a report."""
        how = "points each fitted one parameter (`swallowtail baseline validate`)."
        if self.worst_id is None or self.worst_error is None:
            return f"The Jetson model behind these denominators has no predicted point; {self.fitted} {how}"
        return (
            f"The Jetson model behind these denominators predicts {self.within_target} of {self.predicted} "
            f"published measurements within {TARGET_ERROR:.0%} without having been fitted to them (boards "
            f"{', '.join(self.boards)}; worst {self.worst_id}, {self.worst_error:+.1%}); {self.fitted} other "
            f"{how}" + "".join(f" Outside the target: {line}" for line in self.miss_lines())
        )


def summarize(checks: list[Check]) -> ValidationSummary:
    """The summary of `validate()`'s checks."""
    predicted = [c for c in checks if c.point.role == "predict"]
    worst = max(predicted, key=lambda c: abs(c.error), default=None)
    return ValidationSummary(
        predicted=len(predicted),
        within_target=sum(c.within_target for c in predicted),
        boards=tuple(sorted({_board(c.point.arch) for c in predicted})),
        worst_id=None if worst is None else worst.point.id,
        worst_error=None if worst is None else worst.error,
        fitted=len(checks) - len(predicted),
        misses=tuple(Miss(c.point.id, c.error, c.point.note) for c in predicted if not c.within_target),
    )


# ---- the evidence for a harness's fixed time ---------------------------------------------------------------


@dataclass(frozen=True)
class FixedTimeLine:
    """One SingleStream run's published mean and p90 joined by a straight line in the query length (at the
    distribution's mean and 90th-percentile lengths): where it meets zero length is the time every query
    pays whatever its length. As DRAM bytes (x the mode's DRAM bandwidth) and as host cycles (x its CPU
    clock, where the preset gives one), to see which of the two stays constant across power modes. The slope
    in GPU cycles per token (x the mode's GPU clock) says whether the per-token work scales with the SMs.
    `min_s`: the run's published minimum, where a point gives it -- a fixed time above it cannot be fixed."""

    run: str  # the points' id without the statistic
    arch: str
    harness: str | None
    intercept_s: float
    slope_s_per_token: float
    dram_bytes: float
    cpu_cycles: float | None
    gpu_cycles_per_token: float
    min_s: float | None = None


def single_stream_runs(points: list[PublishedPoint] | None) -> dict[str, dict[str, PublishedPoint]]:
    """The SingleStream points (default: the shipped file's) by run -- the id without `-<statistic>` -- and
    statistic."""
    runs: dict[str, dict[str, PublishedPoint]] = {}
    for p in load_points() if points is None else points:
        if p.scenario == "single-stream":
            runs.setdefault(p.id.removesuffix(f"-{p.statistic}"), {})[p.statistic] = p
    return runs


def fixed_time_lines(points: list[PublishedPoint] | None = None) -> list[FixedTimeLine]:
    """A line for every SingleStream run with both a mean and a p90 point (`FixedTimeLine`); the two must
    name the same board-mode, stack, harness and length distribution. A min point of the run gives `min_s`."""
    runs = single_stream_runs(points)
    return [
        replace(_line(run, st["mean"], st["p90"]), min_s=st["min"].value if "min" in st else None)
        for run, st in runs.items()
        if {"mean", "p90"} <= set(st)
    ]


#: the statistics a latency curve joins, in length order, and the quantile of each (None: the shortest length)
CURVE_STATISTICS: tuple[tuple[str, float | None], ...] = (("min", None), *PERCENTILES.items())


@dataclass(frozen=True)
class LatencyCurve:
    """One SingleStream run's published min, p50, p90 and p99 at the lengths its distribution puts them (the
    shortest length and the quantile lengths): where the latency per query rises with the length, those are
    points of one curve, and `per_token_s` is its slope over each stretch -- a curve that flattens pays most
    for the first tokens."""

    run: str
    arch: str
    lengths: tuple[int, ...]
    latency_s: tuple[float, ...]

    @property
    def per_token_s(self) -> tuple[float, ...]:
        pairs = list(zip(self.lengths, self.latency_s, strict=True))
        return tuple((t1 - t0) / (n1 - n0) for (n0, t0), (n1, t1) in zip(pairs, pairs[1:], strict=False))


def latency_curves(points: list[PublishedPoint] | None = None) -> list[LatencyCurve]:
    """A curve for every SingleStream run with a point for each of `CURVE_STATISTICS`, where its distribution
    puts them at increasing lengths (a distribution whose p90 and p99 share a length draws no curve)."""
    curves = []
    for run, st in single_stream_runs(points).items():
        if not all(s in st for s, _ in CURVE_STATISTICS):
            continue
        first, *others = (st[s] for s, _ in CURVE_STATISTICS)
        _check_one_run(first, *others)
        assert first.lengths is not None  # a single-stream point names its distribution (PublishedPoint)
        dist = load_lengths(first.lengths)
        lengths = tuple(
            dist.lengths[0] if q is None else dist.quantile_length(q) for _, q in CURVE_STATISTICS
        )
        if all(a < b for a, b in zip(lengths, lengths[1:], strict=False)):
            latency = tuple(st[s].value for s, _ in CURVE_STATISTICS)
            curves.append(LatencyCurve(run, first.arch, lengths, latency))
    return curves


def _check_one_run(first: PublishedPoint, *others: PublishedPoint) -> None:
    """Points joined as one run must name the same board-mode, stack, harness and length distribution (else
    the line or curve mixes two machines)."""
    for p in others:
        for field in ("arch", "stack", "harness", "lengths"):
            if getattr(first, field) != getattr(p, field):
                raise SpecError(
                    f"points.{p.id}.{field}",
                    getattr(p, field),
                    f"the same as {first.id}'s: {getattr(first, field)}",
                )


def _line(run: str, mean: PublishedPoint, p90: PublishedPoint) -> FixedTimeLine:
    _check_one_run(mean, p90)
    assert mean.lengths is not None  # a single-stream point names its distribution (PublishedPoint)
    dist = load_lengths(mean.lengths)
    x0, x1 = dist.mean_length, dist.quantile_length(P90)
    if x1 <= x0:
        raise SpecError(
            f"lengths.{dist.name}",
            dist.lengths,
            "a distribution whose p90 length exceeds its mean (a line needs two)",
        )
    slope = (p90.value - mean.value) / (x1 - x0)
    intercept = mean.value - slope * x0
    arch = load_arch(mean.arch)
    if not isinstance(arch, GPUArch):
        raise SpecError(f"points.{mean.id}.arch", mean.arch, "a Jetson board-mode (kind: gpu)")
    clock = arch.mode.cpu_clock_hz
    return FixedTimeLine(
        run,
        mean.arch,
        mean.harness,
        intercept,
        slope,
        intercept * arch.dram_bytes_per_s,
        None if clock is None else intercept * clock,
        slope * arch.mode.gpu_clock_hz,
    )


__all__ = [
    "FIT_BRACKETS",
    "POINTS_FILE",
    "TARGET_ERROR",
    "Check",
    "FitState",
    "FittedParameter",
    "FixedTimeLine",
    "LatencyCurve",
    "PublishedPoint",
    "Refit",
    "ValidationSummary",
    "fit",
    "fixed_time_lines",
    "latency_curves",
    "load_points",
    "model_value",
    "refit",
    "single_stream_runs",
    "summarize",
    "validate",
    "validation_rows",
    "with_fitted",
    "write_fitted",
]
