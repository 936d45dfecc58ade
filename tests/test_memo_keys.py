"""Memo keys of a design sweep: the pass-template cache is keyed on the arch fields a template reads
(`template_arch_key`), the RateCache on the arch without labels and energy fields (`probe_arch_key`); archs
that differ only elsewhere share the work, and sharing gives exactly what building afresh gives."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

import swallowtail.compiler.butterfly.template as template_mod
from swallowtail.arch import load_arch
from swallowtail.arch.specs import DEFAULT_ENERGY_TABLE
from swallowtail.compiler import compile as compile_kernel
from swallowtail.compiler.butterfly.template import (
    _TEMPLATE_CACHE,
    TEMPLATE_ARCH_FIELDS,
    template_arch_key,
)
from swallowtail.compiler.dense import dense_spec
from swallowtail.energy.tables import TABLE_DIR
from swallowtail.sim import simulate_kernel
from swallowtail.sim.network import RateCache, simulate_network
from swallowtail.sim.network.probes import PROBE_KEY_EXCLUDED, _dense_key, kernel_key, probe_arch_key
from swallowtail.workload import FFT, GEMM, Butterfly
from swallowtail.workload.lower import lower

ARCH = "df-4x4-simd8"
#: fields no cached value reads: labels and energy (energy_table: see the `labels` fixture; `sources`
#: changes with every override: each overridden field's note becomes "override: ...")
LABELS = {
    "name": "sweep-point-7",
    "description": "another point of the sweep",
    "tech_node_nm": 22,
}
#: fields the compiler reads (to plan, to schedule) but no pass template does
TEMPLATE_FREE = {
    "pe.register_file.entries": 4096,
    "pe.active_tags": 3,
    "pe.instruction_buffer": 4096,
    "array.rows": 8,
    "dma.channels": 4,
}
#: fields only the simulator and the DMA / SPM layout read: a compile on an arch that differs in them asks
#: for the same templates
RATES = {
    "dma.gbytes_per_s_per_channel": 51.2,
    "dma.latency_cycles": 3,
    "clock_hz": 2.5e9,
    "spm.size_bytes": 4 * 1024 * 1024,
}
#: fields each template depends on, with a value other than the preset's
TEMPLATE_FIELDS_CHANGED = {
    "pe.simd_lanes": 16,
    "pe.fus.fma.latency": 7,
    "pe.fus.add.latency": 5,
    "pe.fus.special.latency": 11,
    "spm.bytes_per_cycle": 512,
    "noc.link_bytes_per_cycle": 4,
    "noc.hop_latency": 3,
}
GEMM_OP = GEMM("g", m=64, k=64, n=64)
#: the preset's NoC as a plain mesh
MESH = {"noc.topology": "mesh", "noc.hops": [1]}
KERNELS = (
    Butterfly("b", n=256, rows=32),
    FFT("f", n=256, rows=16),
)


@pytest.fixture
def base():
    return load_arch(ARCH)


@pytest.fixture(scope="module")
def labels(tmp_path_factory):
    """LABELS and energy_table: a copy of the shipped table under another name (a path, as a sweep over
    tables gives)."""
    table = tmp_path_factory.mktemp("tables") / "copy.yaml"
    table.write_text((TABLE_DIR / f"{DEFAULT_ENERGY_TABLE}.yaml").read_text())
    return {**LABELS, "energy_table": str(table)}


@pytest.fixture
def clean_templates():
    """An empty template cache during the test, the one before it afterwards."""
    saved = dict(_TEMPLATE_CACHE)
    _TEMPLATE_CACHE.clear()
    yield _TEMPLATE_CACHE
    _TEMPLATE_CACHE.clear()
    _TEMPLATE_CACHE.update(saved)


# ---- (a) the keys ------------------------------------------------------------------------------------------
def test_every_override_changes_the_arch(base, labels):
    for overrides in (labels, TEMPLATE_FREE, RATES, TEMPLATE_FIELDS_CHANGED):
        for path, value in overrides.items():
            assert base.with_overrides({path: value}).model_dump(exclude={"sources"}) != base.model_dump(
                exclude={"sources"}
            ), path
    assert base.with_overrides(MESH) != base


def test_template_key_ignores_what_templates_do_not_read(base, labels):
    assert template_arch_key(base.with_overrides(labels)) == template_arch_key(base)
    assert template_arch_key(base.with_overrides(TEMPLATE_FREE)) == template_arch_key(base)
    assert template_arch_key(base.with_overrides(RATES)) == template_arch_key(base)


@pytest.mark.parametrize(("path", "value"), sorted(TEMPLATE_FIELDS_CHANGED.items()))
def test_template_key_follows_what_templates_read(base, path, value):
    assert template_arch_key(base.with_overrides({path: value})) != template_arch_key(base)


def test_every_template_field_is_tested():
    changed = {re.sub(r"^pe\.fus\.\w+\.", "pe.fus.*.", p) for p in TEMPLATE_FIELDS_CHANGED}
    assert changed | {"noc.hops"} == set(TEMPLATE_ARCH_FIELDS)


def test_template_key_follows_noc_hops(base):
    assert base.noc.hops != [1]
    mesh = base.with_overrides(MESH)
    assert template_arch_key(mesh) != template_arch_key(base)


def test_probe_keys_ignore_labels_and_energy(base, labels):
    other = base.with_overrides(labels)
    assert set(labels) | {"sources"} == PROBE_KEY_EXCLUDED
    assert other.sources != base.sources
    assert probe_arch_key(other) == probe_arch_key(base)
    op = KERNELS[0]
    assert kernel_key(op, other, "multilayer") == kernel_key(op, base, "multilayer")
    assert _dense_key_arch(other) == _dense_key_arch(base)


def _dense_key_arch(arch: Any) -> Any:
    return _dense_key(arch, dense_spec(GEMM_OP))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("dma.gbytes_per_s_per_channel", 51.2),
        ("dma.latency_cycles", 3),
        ("clock_hz", 2.5e9),
        ("spm.size_bytes", 4 * 1024 * 1024),
        ("pe.simd_lanes", 16),
        ("noc.link_bytes_per_cycle", 4),
    ],
)
def test_probe_keys_follow_everything_else(base, path, value):
    other = base.with_overrides({path: value})
    assert probe_arch_key(other) != probe_arch_key(base)
    op = KERNELS[0]
    assert kernel_key(op, other, "multilayer") != kernel_key(op, base, "multilayer")
    assert _dense_key_arch(other) != _dense_key_arch(base)


# ---- the key covers every field a template reads --------------------------------------------------------
class _Recorder:
    """`obj` (an arch or a part of it), recording the dotted path of every value read through it (a dict's
    keys as `*`)."""

    def __init__(self, obj: Any, path: str, seen: set[str]) -> None:
        self._obj, self._path, self._seen = obj, path, seen

    def _wrap(self, value: Any, path: str) -> Any:
        if isinstance(value, BaseModel | dict):
            return _Recorder(value, path, self._seen)
        self._seen.add(path)
        return value

    def __getattr__(self, name: str) -> Any:
        path = f"{self._path}.{name}" if self._path else name
        value = getattr(self._obj, name)
        if isinstance(self._obj, dict):  # items(), keys(), ...: the whole mapping is read
            self._seen.add(self._path)
        return self._wrap(value, path)

    def __getitem__(self, key: Any) -> Any:
        return self._wrap(self._obj[key], f"{self._path}.*")

    def __iter__(self) -> Any:
        self._seen.add(self._path)
        return iter(self._obj)


@pytest.mark.parametrize("dataflow", ["multilayer", "single-layer"])
@pytest.mark.parametrize("exchange_arch", [{}, MESH], ids=["preset", "mesh"])
def test_templates_read_only_the_key_fields(base, clean_templates, monkeypatch, dataflow, exchange_arch):
    seen: set[str] = set()
    build = template_mod._build_template

    def recorded(spec: Any, arch: Any, *rest: Any) -> Any:
        return build(spec, _Recorder(arch, "", seen), *rest)

    monkeypatch.setattr(template_mod, "_build_template", recorded)
    arch = base.with_overrides(exchange_arch)
    for op in KERNELS:
        compile_kernel(op, arch, dataflow)
    assert clean_templates and seen
    assert seen <= set(TEMPLATE_ARCH_FIELDS), sorted(seen - set(TEMPLATE_ARCH_FIELDS))
    if dataflow == "multilayer":  # and every key field is read: the key is no wider than it must be
        assert seen == set(TEMPLATE_ARCH_FIELDS)


# ---- (b), (c) sharing is sound and happens --------------------------------------------------------------
def _instructions(program: Any) -> list[dict[str, Any]]:
    keys = ("op", "dst", "a", "coef", "lane", "acc", "slot", "peer", "final", "qb_in", "qb_out", "coef_slot")
    return [
        {k: np.asarray(getattr(t, k)).tolist() for k in keys} | {"static": t.static}
        for t in program.templates
    ]


def _schedule(program: Any) -> dict[str, Any]:
    return {k: np.asarray(v).tolist() for k, v in vars(program.schedule).items() if isinstance(v, np.ndarray)}


@pytest.mark.parametrize("differ", ["labels", "rates"])
@pytest.mark.parametrize("op", KERNELS, ids=lambda o: o.name)
def test_shared_templates_give_what_fresh_ones_give(base, labels, clean_templates, differ, op):
    other = base.with_overrides(labels if differ == "labels" else RATES)
    fresh = simulate_kernel(op, other, "multilayer")  # B alone
    clean_templates.clear()
    simulate_kernel(op, base, "multilayer")  # A first, then B on A's templates
    built = len(clean_templates)
    shared = simulate_kernel(op, other, "multilayer")
    assert built > 0 and len(clean_templates) == built  # B built nothing: every template was a hit
    assert shared.program is not None and fresh.program is not None
    assert all(any(t is u for u in clean_templates.values()) for t in shared.program.templates)
    assert shared.stats.cycles == fresh.stats.cycles
    assert shared.stats.actions == fresh.stats.actions
    assert _instructions(shared.program) == _instructions(fresh.program)
    assert _schedule(shared.program) == _schedule(fresh.program)


def test_changed_template_field_builds_new_templates(base, clean_templates):
    simulate_kernel(KERNELS[0], base, "multilayer")
    built = len(clean_templates)
    simulate_kernel(KERNELS[0], base.with_overrides({"noc.hop_latency": 3}), "multilayer")
    assert len(clean_templates) > built


def test_probes_shared_between_archs_differing_in_labels(base, labels):
    other = base.with_overrides(labels)
    workload = lower("lra-image", 64)
    fresh = simulate_network(workload, other, "multilayer", cache=RateCache())
    cache = RateCache()
    base_run = simulate_network(workload, base, "multilayer", cache=cache)
    misses = cache.misses
    shared = simulate_network(workload, other, "multilayer", cache=cache)
    assert cache.misses == misses and cache.hits > 0  # every probe of B was A's
    assert shared.result == fresh.result  # energy included: B's own tech node, from the shared counts
    assert shared.timeline == fresh.timeline
    assert shared.result.energy_j != base_run.result.energy_j  # the tech node did reach the energy
    assert shared.result.cycles == base_run.result.cycles
