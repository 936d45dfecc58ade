"""The design space of a sweep: its points (grid or random draws), balanced machines, stable point ids.

A *point* is one machine and mapping: the sampled values of the sweep's params (dotted arch paths and
mapping knobs), resolved into a full, validated `DataflowArch`. Its id is a hash of what it is -- the
machine's numbers and the mapping -- not of how the sweep reached it, so two sweeps (or two samplers) that
land on the same machine share its stored rows.

**Balance** (`balanced_overrides`): a point that grows the compute (PEs x SIMD lanes x clock) grows the
memory system with it, unless the sweep sets that field itself (a pinned field). The rules keep the base
machine's bytes per FLOP -- the roofline argument docs/architecture.md makes for `df-4x4-simd32` and
`df-8x8-simd8`, which the rules reproduce exactly (tested):

- SPM bytes per cycle, banks and capacity scale with lanes x PEs (streaming buffers hold row groups of
  lanes x PEs rows; banks keep their width and size);
- DRAM bandwidth scales with lanes x PEs x clock, in channels of at most `MAX_CHANNEL_GBYTES_PER_S` (one
  LPDDR5-6400 x64 channel) -- never fewer channels than the base machine;
- NoC link width scales with the lanes of a PE (a link carries its PE's bytes per FLOP), and so does a
  register-file entry (an entry holds one SIMD vector);
- skip hops that no longer fit the mesh (a hop of 2 on a 2-wide mesh) are dropped (a skip-hop NoC left
  with none is a plain mesh).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from swallowtail.arch.specbase import Problem, SpecProblems, apply_overrides
from swallowtail.arch.specs import DataflowArch, load_arch
from swallowtail.dse.spec import MAX_POINTS, NAMING_FIELDS, ParamRange, SweepSpec
from swallowtail.errors import SpecError, is_real

#: largest DRAM bandwidth of one channel when balance adds channels (GB/s): a 64-bit LPDDR5-6400 channel
#: (JEDEC JESD209-5: 6400 MT/s x 8 B) -- the channel df-4x4-simd32's preset uses
MAX_CHANNEL_GBYTES_PER_S = 51.2
#: a compute field at or above this is not balanced (the arch spec refuses it; no overflow on the way)
MAX_BALANCE_INPUT = 1e15
#: the arch fields balance sets (unless the sweep pins them)
BALANCED_FIELDS = (
    "spm.bytes_per_cycle",
    "spm.banks",
    "spm.size_bytes",
    "dma.channels",
    "dma.gbytes_per_s_per_channel",
    "noc.link_bytes_per_cycle",
    "noc.hops",
    "noc.topology",
    "pe.register_file.bytes_per_entry",
)
#: the prefix of a mapping knob among a point's params
MAPPING_PREFIX = "mapping."
#: the prefix of a balance factor among a sweep's params: `balance.dram` / `balance.spm` multiply the
#: balanced DRAM bandwidth / SPM bytes per cycle (1: the base machine's bytes per FLOP)
BALANCE_PREFIX = "balance."


@dataclass(frozen=True)
class DesignPoint:
    """One machine + mapping of a sweep: its sampled params, the resolved arch and a stable id."""

    point_id: str
    params: dict[str, Any]  # dotted path -> value, as sampled (arch paths and mapping.<knob>)
    arch: DataflowArch
    mapping: dict[str, str | float]  # the mapping knobs sampled (absent: the backend's default)


# ---- balance -------------------------------------------------------------------------------------------
def balanced_overrides(
    base: DataflowArch, params: Mapping[str, Any], factors: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """`params` plus the memory-system fields that keep `base`'s bytes per FLOP (fields in `params` win),
    times `factors` (`dram`, `spm`: 1 keeps the base's bytes per FLOP). A compute field that is not a
    positive number below MAX_BALANCE_INPUT is left to the arch spec to refuse (nothing balanced)."""
    f = {"dram": 1.0, "spm": 1.0, **(factors or {})}
    compute = {
        p: params.get(p, default)
        for p, default in (
            ("array.rows", base.array.rows),
            ("array.cols", base.array.cols),
            ("pe.simd_lanes", base.pe.simd_lanes),
            ("clock_hz", base.clock_hz),
        )
    }
    if not all(is_real(v) and 0 < v < MAX_BALANCE_INPUT for v in compute.values()):
        return dict(params)
    rows, cols = compute["array.rows"], compute["array.cols"]
    lanes = compute["pe.simd_lanes"] / base.pe.simd_lanes
    lanes_pes = rows * cols * lanes / base.n_pes
    clock = compute["clock_hz"] / base.clock_hz
    out: dict[str, Any] = {
        "spm.bytes_per_cycle": max(1, round(base.spm.bytes_per_cycle * lanes_pes * f["spm"])),
        "spm.banks": max(1, round(base.spm.banks * lanes_pes)),
        "spm.size_bytes": max(1, round(base.spm.size_bytes * lanes_pes)),
        "noc.link_bytes_per_cycle": max(1, round(base.noc.link_bytes_per_cycle * lanes)),
        "pe.register_file.bytes_per_entry": max(1, round(base.pe.register_file.bytes_per_entry * lanes)),
    }
    total = base.dram_bytes_per_s / 1e9 * lanes_pes * clock * f["dram"]
    if total <= base.dram_bytes_per_s / 1e9:
        channels = base.dma.channels
    else:
        channels = max(base.dma.channels, math.ceil(total / MAX_CHANNEL_GBYTES_PER_S - 1e-9))
    out["dma.channels"] = channels
    out["dma.gbytes_per_s_per_channel"] = total / channels
    span = max(rows, cols)
    out["noc.hops"] = [h for h in base.noc.hops if h == 1 or h < span]
    if base.noc.topology == "skip-hop" and max(out["noc.hops"]) == 1:
        out["noc.topology"] = "mesh"  # no skip fits: a plain mesh
    for path in BALANCED_FIELDS:  # a pinned field keeps the sweep's value
        if path in params:
            del out[path]
    return {**out, **params}


# ---- points ---------------------------------------------------------------------------------------------
def point_id(arch: DataflowArch, mapping: Mapping[str, str]) -> str:
    """A hash of the machine's numbers and the mapping (not its name, description or notes)."""
    d = {k: v for k, v in arch.model_dump(mode="json").items() if k not in NAMING_FIELDS}
    blob = json.dumps({"arch": d, "mapping": dict(sorted(mapping.items()))}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def make_point(spec: SweepSpec, base: DataflowArch, params: Mapping[str, Any]) -> DesignPoint:
    """The point of sampled `params` (tied paths filled in, balanced unless `spec.balance` is off)."""
    full = dict(params)
    for path, target in spec.tie.items():
        if target in full:
            full[path] = full[target]
    arch_params = {k: v for k, v in full.items() if not k.startswith((MAPPING_PREFIX, BALANCE_PREFIX))}
    factors = {k.removeprefix(BALANCE_PREFIX): v for k, v in full.items() if k.startswith(BALANCE_PREFIX)}
    overrides = balanced_overrides(base, arch_params, factors) if spec.balance else arch_params
    arch = base.with_overrides(overrides)
    assert isinstance(arch, DataflowArch)
    mapping = {k.removeprefix(MAPPING_PREFIX): v for k, v in full.items() if k.startswith(MAPPING_PREFIX)}
    pid = point_id(arch, mapping)
    arch = arch.model_copy(update={"name": f"{spec.name}-{pid[:8]}"})
    return DesignPoint(pid, dict(params), arch, mapping)


def axes(spec: SweepSpec) -> dict[str, Any]:
    """Every swept dimension: arch params, then mapping knobs (as `mapping.<knob>`), in spec order."""
    out: dict[str, Any] = dict(spec.params)
    out.update({MAPPING_PREFIX + k: v for k, v in spec.mapping.items()})
    return out


def grid_size(spec: SweepSpec) -> int:
    return math.prod(len(v) for v in axes(spec).values() if isinstance(v, list))


def grid_params(spec: SweepSpec) -> Iterator[dict[str, Any]]:
    """Every combination, the first param varying slowest."""
    ax = axes(spec)
    for values in itertools.product(*ax.values()):
        yield dict(zip(ax, values, strict=True))


def random_params(spec: SweepSpec, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` draws (numpy's PCG64 with `seed`): a list param uniformly, a range uniformly (in log if `log`)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        p: dict[str, Any] = {}
        for path, dom in axes(spec).items():
            p[path] = _draw(rng, dom)
        out.append(p)
    return out


def _draw(rng: np.random.Generator, dom: Any) -> Any:
    if isinstance(dom, list):
        return dom[int(rng.integers(len(dom)))]
    assert isinstance(dom, ParamRange)
    lo, hi = (math.log(dom.low), math.log(dom.high)) if dom.log else (dom.low, dom.high)
    x = float(rng.uniform(lo, hi))
    x = math.exp(x) if dom.log else x
    return int(round(x)) if dom.integer else x


# ---- checking a sweep before any work -----------------------------------------------------------------
def load_base(spec: SweepSpec) -> DataflowArch:
    try:
        base = load_arch(spec.base_arch)
    except SpecError as exc:  # a path that is not there: name the field, not load_arch's own argument
        if exc.field != "path":
            raise
        raise SpecError("base_arch", spec.base_arch, exc.allowed) from None
    if not isinstance(base, DataflowArch):
        raise SpecError("base_arch", spec.base_arch, "a dataflow array (kind: dataflow)")
    return base


def check_points(spec: SweepSpec, base: DataflowArch) -> None:
    """Every arch path exists and every listed value is one the arch spec accepts at the base point."""
    problems: list[Problem] = []
    for path, target in spec.tie.items():  # a tied arch path must exist as the params' do
        if path.startswith((MAPPING_PREFIX, BALANCE_PREFIX)):
            continue  # not fields of the arch (make_point applies them)
        try:
            apply_overrides(base.to_dict(), {path: None})
        except SpecError:
            problems.append(
                Problem(f"tie.{path}", target, "a dotted path of an existing field of the base arch")
            )
    if problems:  # every point would fail on the tie: say that only
        raise SpecProblems(problems, spec.name)
    for path, dom in spec.params.items():
        values = dom if isinstance(dom, list) else [dom.low, dom.high]
        for v in values:
            try:
                make_point(spec, base, {path: v})
            except SpecError as exc:
                problems.append(Problem(f"params.{path}", v, _first_line(exc)))
                break
    if spec.sampling.method == "grid" and grid_size(spec) > MAX_POINTS:
        problems.append(Problem("params", f"{grid_size(spec)} grid points", f"at most {MAX_POINTS}"))
    if spec.sampling.samples is not None and spec.sampling.samples > MAX_POINTS:
        problems.append(Problem("sampling.samples", spec.sampling.samples, f"at most {MAX_POINTS}"))
    if problems:
        raise SpecProblems(problems, spec.name)


def _first_line(exc: SpecError) -> str:
    text = str(exc).strip().splitlines()
    return (text[1] if len(text) > 1 else text[0]).strip() if text else exc.allowed


__all__ = [
    "BALANCED_FIELDS",
    "MAX_CHANNEL_GBYTES_PER_S",
    "DesignPoint",
    "axes",
    "balanced_overrides",
    "check_points",
    "grid_params",
    "grid_size",
    "load_base",
    "make_point",
    "point_id",
    "random_params",
]
