"""The sweep spec: one strict YAML file says which machines, workloads and backends a sweep covers.

    name: around-df-4x4-simd8
    base_arch: df-4x4-simd8            # a dataflow preset or a YAML path; every point overrides it
    balance: true                      # the memory system scales with the compute unless a param pins it
    params:                            # dotted arch paths: a list (grid / categorical) or a range
      pe.simd_lanes: [4, 8, 16, 32]
      balance.dram: [0.5, 1, 2]        # x the balanced DRAM bandwidth (balance.spm: SPM bytes per cycle)
      array.rows: [2, 4, 8]
      clock_hz: {low: 0.5e9, high: 1.5e9}
    tie: {array.cols: array.rows}      # a path that always equals another
    mapping:                           # compiler / mapping knobs of the dataflow backends
      residency: [plan]
      spm_resident_fraction: [0.25, 0.5, 0.75]   # SPM share for tensors held across a layout barrier
    workloads:
      - {model: fabnet-base, seq_len: [1024], batch: [1]}
    backends:                          # run on every point (dataflow-*, roofline) or once (references)
      - dataflow-multilayer
      - {name: jetson, options: {arch: [xavier-nx-15w], stack: [tensorrt-fp16, pytorch-eager-fp32]}}
    objectives: [latency_s, energy_j]
    constraints: {max_area_mm2: 10, max_power_w: 2}
    sampling: {method: grid}           # grid | random | nsga2 | tpe (with samples: N, seed: S)

Everything is checked before any work starts (`load_sweep`): unknown keys, arch paths that do not exist,
values the arch spec refuses at the base point, backends that are not registered, workloads that do not
lower -- each problem names its field (`SpecProblems`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from swallowtail.arch.specbase import (
    MAX_POWER_W,
    NonNegInt,
    PosInt,
    Problem,
    SpecModel,
    SpecProblems,
    read_yaml_file,
    spec_error,
    validate_model,
)
from swallowtail.arch.specs import Name
from swallowtail.errors import SpecError
from swallowtail.sim.network.cache import DENSE_COST_MODELS
from swallowtail.sim.network.residency import RESIDENCIES, check_resident_fraction
from swallowtail.yamlio import is_file

#: the objectives a sweep can minimise or report (each a field of a stored row's metrics)
OBJECTIVES = ("latency_s", "energy_j", "area_mm2", "power_w", "edp_js")
#: how points are chosen
METHODS = ("grid", "random", "nsga2", "tpe")
#: the categorical mapping knobs a sweep may vary (options of the dataflow backends) and their values
MAPPING_KNOBS = {"residency": RESIDENCIES, "dense_cost_model": DENSE_COST_MODELS}
#: the numeric mapping knob: the share of the SPM whole tensors may hold across a layout barrier, in (0, 1]
RESIDENT_FRACTION_KNOB = "spm_resident_fraction"
#: the knobs a point passes to the dataflow backends as options (dense_cost_model picks their RateCache)
BACKEND_MAPPING_KNOBS = ("residency", RESIDENT_FRACTION_KNOB)
#: backends that take the mapping knobs of a point (and its RateCache): the dataflow arrays
MAPPED_BACKENDS = ("dataflow-multilayer", "dataflow-single-layer")
#: arch fields that say nothing about the machine (not swept; left out of a point's id)
NAMING_FIELDS = ("name", "description", "sources")
#: the balance factors a sweep may vary (`balance.<factor>` params: multipliers of the balanced bandwidth)
BALANCE_FACTORS = ("dram", "spm")
#: the largest balance factor (1,000x the base machine's bytes per FLOP)
MAX_BALANCE_FACTOR = 1000.0
#: a budget's range (bounds of the tool, not sources): an area of 1 um^2 (less than one SRAM bit cell: no
#: machine meets a smaller one, and every point would be silently infeasible) to 1 m^2, a power of 1 nW to
#: a megawatt
MIN_BUDGET_AREA_MM2, MAX_BUDGET_AREA_MM2 = 1e-6, 1e6
MIN_BUDGET_POWER_W = 1e-9
#: most points one sweep may hold (a grid larger than this is a mistake in the spec, said before any work)
MAX_POINTS = 100_000

Scalar = int | float | str | bool
Choices = Annotated[list[Scalar | list[int]], Field(min_length=1)]


class ParamRange(SpecModel):
    """A continuous (or integer, when both bounds are integers) range, for random and Optuna sampling."""

    low: int | float
    high: int | float
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> ParamRange:
        for bound in ("low", "high"):  # NaN was compared ("high greater than low = nan"), inf sampled
            if not math.isfinite(getattr(self, bound)):
                raise spec_error(bound, getattr(self, bound), "a finite number")
        if not self.high > self.low:
            raise spec_error("high", self.high, f"greater than low = {self.low}")
        if self.log and self.low <= 0:
            raise spec_error("low", self.low, "positive for a log range")
        return self

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)


class WorkloadAxis(SpecModel):
    """One network (a preset of `swallowtail.nn` or a named workload) at every length and batch listed."""

    model: Annotated[str, Field(min_length=1)]
    seq_len: Annotated[list[PosInt], Field(min_length=1)]
    batch: Annotated[list[PosInt], Field(min_length=1)] = [1]


class BackendAxis(SpecModel):
    """A backend with options; a list value is an axis (every value is run)."""

    name: Annotated[str, Field(min_length=1)]
    options: dict[str, Scalar | Choices] = {}


class Sampling(SpecModel):
    method: Literal["grid", "random", "nsga2", "tpe"] = "grid"
    samples: PosInt | None = None  # random / Optuna: points to draw; grid: all of them (None)
    seed: NonNegInt = 0
    batch: PosInt | None = None  # Optuna: trials asked per round (None: 4 per worker)

    @model_validator(mode="after")
    def _check(self) -> Sampling:
        if self.method != "grid" and self.samples is None:
            raise spec_error("samples", None, f"a positive integer with method {self.method!r}")
        if self.method == "grid" and self.samples is not None:
            raise spec_error("samples", self.samples, "absent with method 'grid' (a grid runs every point)")
        # a knob the method does not use would be silently ignored (by value, not by presence: a stored
        # spec, dumped with its defaults, reads back)
        if self.method == "grid" and self.seed != 0:
            raise spec_error("seed", self.seed, "absent with method 'grid' (a grid draws nothing at random)")
        if self.method in ("grid", "random") and self.batch is not None:
            raise spec_error(
                "batch",
                self.batch,
                f"absent with method {self.method!r} (the trials per round of nsga2 / tpe)",
            )
        return self


class Constraints(SpecModel):
    """Budgets a point must meet to be simulated: modelled area and on-chip full-load power (array + SPM,
    from the energy tables; `swallowtail.dse.evaluate.budget_of`)."""

    max_area_mm2: (
        Annotated[float, Field(ge=MIN_BUDGET_AREA_MM2, le=MAX_BUDGET_AREA_MM2, allow_inf_nan=False)] | None
    ) = None
    max_power_w: (
        Annotated[float, Field(ge=MIN_BUDGET_POWER_W, le=MAX_POWER_W, allow_inf_nan=False)] | None
    ) = None


class SweepSpec(SpecModel):
    name: Name
    description: str = ""
    base_arch: Annotated[str, Field(min_length=1)] = "df-4x4-simd8"
    balance: bool = True
    params: dict[str, Choices | ParamRange] = {}
    tie: dict[str, str] = {}
    mapping: dict[
        Literal["residency", "dense_cost_model", "spm_resident_fraction"],
        Annotated[list[Any], Field(min_length=1)],  # each value checked by its knob (_check_mapping_value)
    ] = {}
    workloads: Annotated[list[WorkloadAxis], Field(min_length=1)]
    backends: Annotated[list[str | BackendAxis], Field(min_length=1)] = ["dataflow-multilayer"]
    objectives: Annotated[
        list[Literal["latency_s", "energy_j", "area_mm2", "power_w", "edp_js"]], Field(min_length=1)
    ] = ["latency_s", "energy_j"]
    constraints: Constraints = Constraints()
    sampling: Sampling = Sampling()

    @model_validator(mode="after")
    def _check(self) -> SweepSpec:
        for path, target in self.tie.items():
            if path in self.params:
                raise spec_error(f"tie.{path}", target, "a path that is not also swept in params")
            if target not in self.params:  # a path tied to itself was silently a no-op
                raise spec_error(f"tie.{path}", target, f"a swept param: one of {sorted(self.params)}")
        ranges = [p for p, v in self.params.items() if isinstance(v, ParamRange)]
        if ranges and self.sampling.method == "grid":
            raise spec_error(f"params.{ranges[0]}", "a range", "a list of values with sampling.method 'grid'")
        for path, dom in self.params.items():
            if path.split(".")[0] in NAMING_FIELDS:
                raise spec_error(
                    f"params.{path}",
                    path,
                    "a machine parameter (name, description and sources name the spec)",
                )
            if path.startswith("balance."):
                _check_balance_factor(path, dom, self.balance)
            if isinstance(dom, list):
                _check_no_repeats(f"params.{path}", dom)
        for i, w in enumerate(self.workloads):
            _check_no_repeats(f"workloads.{i}.seq_len", w.seq_len)
            _check_no_repeats(f"workloads.{i}.batch", w.batch)
        for knob, values in self.mapping.items():
            _check_no_repeats(f"mapping.{knob}", values)
        _check_no_repeats("backends", self.backends)
        _check_backend_configs(self.backend_axes)
        _check_no_mapping_options(self.backend_axes)
        for knob, values in self.mapping.items():
            for v in values:
                _check_mapping_value(knob, v)
        if len(set(self.objectives)) != len(self.objectives):
            raise spec_error("objectives", self.objectives, "objectives without repeats")
        return self

    @property
    def backend_axes(self) -> list[BackendAxis]:
        return [BackendAxis(name=b) if isinstance(b, str) else b for b in self.backends]


def _check_no_mapping_options(axes: list[BackendAxis]) -> None:
    """A dataflow backend's option that a point sets (a mapping knob, its RateCache) would be overridden
    silently, its rows labelled with a value that did not run: it belongs in `mapping:`."""
    for i, axis in enumerate(axes):
        if axis.name not in MAPPED_BACKENDS:
            continue
        for key, value in axis.options.items():
            if key in (*MAPPING_KNOBS, RESIDENT_FRACTION_KNOB):
                raise spec_error(f"backends.{i}.options.{key}", value, f"absent: vary it in mapping.{key}")
            if key == "cache":
                raise spec_error(
                    f"backends.{i}.options.cache", value, "absent: the sweep gives each point its cache"
                )


def _check_mapping_value(knob: str, v: str | float) -> None:
    """A categorical knob takes one of its names; the resident fraction a number in (0, 1]."""
    if knob == RESIDENT_FRACTION_KNOB:
        if isinstance(v, str):
            raise spec_error(f"mapping.{knob}", v, "a number in (0, 1] (a fraction of the SPM)")
        try:
            check_resident_fraction(v, f"mapping.{knob}")
        except SpecError as exc:
            raise spec_error(f"mapping.{knob}", v, "a number in (0, 1] (a fraction of the SPM)") from exc
    elif v not in MAPPING_KNOBS[knob]:
        raise spec_error(f"mapping.{knob}", v, f"one of {list(MAPPING_KNOBS[knob])}")


def _check_no_repeats(path: str, values: list[Any]) -> None:
    """A list of values to sweep holds each once (a repeat would be silently run once)."""
    seen: list[Any] = []
    for v in values:
        if any(v == u and isinstance(v, bool) == isinstance(u, bool) for u in seen):  # 1e9 == 10**9
            raise spec_error(path, values, f"values without repeats ({v!r} appears twice)")
        seen.append(v)


def _check_backend_configs(axes: list[BackendAxis]) -> None:
    """No backend configuration is listed twice (`roofline` and `{name: roofline}`, a value of an option's
    list given again in an entry of its own or in the same list): it would run twice, stored once."""
    seen: dict[tuple[Any, ...], int] = {}
    for i, ax in enumerate(axes):
        combos: list[tuple[tuple[str, Any], ...]] = [()]
        for k, v in sorted(ax.options.items()):
            combos = [(*c, (k, x)) for c in combos for x in (v if isinstance(v, list) else [v])]
        for combo in combos:
            key = (ax.name, tuple((k, repr(v) if isinstance(v, bool | list) else v) for k, v in combo))
            if key in seen:
                shown = ax.name + "".join(f" {k}={v}" for k, v in combo)
                again = "its options repeat a value" if seen[key] == i else f"backends.{seen[key]} runs it"
                raise spec_error(f"backends.{i}", shown, f"a backend configuration listed once ({again})")
            seen[key] = i


def _check_balance_factor(path: str, dom: Any, balance: bool) -> None:
    """`balance.dram` / `balance.spm`: positive multipliers of the balanced bandwidth, with balance on."""
    if path.removeprefix("balance.") not in BALANCE_FACTORS:
        raise spec_error(
            f"params.{path}", path, "balance.dram or balance.spm (factors of the balanced bandwidth)"
        )
    if not balance:
        raise spec_error(f"params.{path}", path, "a balance factor only with balance: true")
    values = dom if isinstance(dom, list) else [dom.low, dom.high]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= MAX_BALANCE_FACTOR:
            raise spec_error(
                f"params.{path}",
                v,
                f"a number in (0, {MAX_BALANCE_FACTOR:g}] (1 = the base's bytes per FLOP)",
            )


def parse_sweep(data: Any, source: str | None = None) -> SweepSpec:
    """A SweepSpec from a mapping, checked (structure only; `swallowtail.dse.space.check_sweep` resolves
    arch paths, backends and workloads)."""
    return validate_model(SweepSpec, data, source)


def load_sweep(path: str | Path) -> SweepSpec:
    """A sweep spec file; a relative `base_arch` path in it is read from the file's folder (as an include
    is), falling back to the current folder where only that has it."""
    p = Path(path)
    if p.is_dir():
        raise SpecProblems([Problem("sweep", str(p), "a YAML sweep file, not a folder")])
    data = read_yaml_file(p)
    if isinstance(data, dict) and isinstance(data.get("base_arch"), str):
        base = Path(data["base_arch"])
        beside = p.parent / base
        if base.suffix in (".yaml", ".yml") and not base.is_absolute() and is_file(beside):
            data = {**data, "base_arch": str(beside)}
    return parse_sweep(data, source=str(p))


__all__ = [
    "MAX_POINTS",
    "METHODS",
    "NAMING_FIELDS",
    "OBJECTIVES",
    "BackendAxis",
    "Constraints",
    "ParamRange",
    "Sampling",
    "SweepSpec",
    "WorkloadAxis",
    "load_sweep",
    "parse_sweep",
]
