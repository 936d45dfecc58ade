"""Invariants of the simulated kernels, over random sizes, rows, dataflows and arch variants (hypothesis):
roofline floor, utilization <= 1, every lane-op counted once, compulsory bytes moved, more link or SPM
bandwidth never slower, determinism."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swallowtail.arch import load_arch
from swallowtail.compiler import compile as compile_kernel
from swallowtail.compiler.kernels import kernel_spec
from swallowtail.sim import run
from swallowtail.workload import Workload
from swallowtail.workload.ops import FFT, Butterfly

ARCHS = ("df-4x4-simd8", "df-4x4-simd32", "df-8x8-simd8")
SETTINGS = settings(
    max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

kernels = st.builds(
    lambda kind, log_n, rows: (
        Butterfly("k", n=1 << log_n, rows=rows) if kind == "butterfly" else FFT("k", n=1 << log_n, rows=rows)
    ),
    st.sampled_from(["butterfly", "fft"]),
    st.integers(4, 10),
    st.integers(1, 40),
)


def _roofline_cycles(op, arch) -> float:
    try:
        from swallowtail.backends.roofline import RooflineBackend
    except ImportError:  # pragma: no cover - the backend ships with the package
        t = max(op.flops / arch.peak_ops_per_s, op.min_bytes / arch.dram_bytes_per_s)
        return t * arch.clock_hz
    wl = Workload("k", (op,), input_elems=op.input_elems, output_elems=op.output_elems)
    return RooflineBackend(arch).run(wl).latency_s * arch.clock_hz


@SETTINGS
@given(op=kernels, arch_name=st.sampled_from(ARCHS), dataflow=st.sampled_from(["multilayer", "single-layer"]))
def test_invariants(op, arch_name, dataflow):
    arch = load_arch(arch_name)
    p = compile_kernel(op, arch, dataflow)
    out = run(p, arch)
    r, s = out.result, out.stats
    # the roofline floor: compute at peak, compulsory DRAM bytes at the DMA bandwidth
    assert r.cycles >= math.floor(_roofline_cycles(op, arch))
    assert r.cycles >= kernel_spec(op).lane_ops / arch.peak_lane_ops_per_cycle
    assert 0 < r.utilization <= 1
    # every lane-op counted once, and exactly the op's count
    assert s.lane_ops == kernel_spec(op).lane_ops == s.actions["fma_lane_ops"] + s.actions["add_lane_ops"]
    # bytes moved >= compulsory bytes
    assert r.traffic_bytes["dram"] >= op.min_bytes
    assert r.traffic_bytes["spm"] >= op.min_bytes
    # stall accounting covers every PE-cycle of the active PEs
    assert sum(r.stalls.values()) + s.timing.compute_issues == p.n_active * r.cycles
    # same inputs, same Result, bit for bit
    assert run(p, arch).result.to_dict() == r.to_dict()


#: the largest slow-down more bandwidth may cause (see the strict xfail below: the exact property does not
#: hold): ANOMALY_REL of the cycles or ANOMALY_CYCLES, whichever is larger. Measured by three random searches
#: over these kernels with round-robin arbitration (650 kernels, n 2^4..2^10, rows 1..64, three archs, both
#: dataflows, each with doubled link / SPM / DMA bandwidth): 54 of 1,950 comparisons slower, by at most 52
#: cycles; relative, at most 2.1% except on tiny kernels (5.1% = 20 cycles on a 391-cycle one).
ANOMALY_REL = 0.03
ANOMALY_CYCLES = 48


@SETTINGS
@given(op=kernels, arch_name=st.sampled_from(ARCHS), dataflow=st.sampled_from(["multilayer", "single-layer"]))
def test_more_link_spm_or_dram_bandwidth_is_at_most_slightly_slower(op, arch_name, dataflow):
    """A regression guard, not the issue's invariant: doubling the link, SPM or DRAM bandwidth may cost a
    greedy-arbitration anomaly of a few cycles, never more than the bound above."""
    arch = load_arch(arch_name)
    p = compile_kernel(op, arch, dataflow)
    base = run(p, arch).stats.cycles
    for key, value in (
        ("noc.link_bytes_per_cycle", arch.noc.link_bytes_per_cycle),
        ("spm.bytes_per_cycle", arch.spm.bytes_per_cycle),
        ("dma.gbytes_per_s_per_channel", arch.dma.gbytes_per_s_per_channel),
    ):
        faster = arch.with_overrides({key: 2 * value})
        assert run(p, faster).stats.cycles <= base + max(ANOMALY_REL * base, ANOMALY_CYCLES), key


@pytest.mark.xfail(
    strict=True,
    reason=(
        "known violation (issue 4 stays open): shared links, RF ports and SPM banks are reservation tables "
        "filled greedily (first free cycle, in program order, round-robin over the PEs); when a transfer "
        "arrives earlier it can take a cycle a later instruction would have used (a scheduling anomaly), "
        "and a few kernels end up a few cycles later (at most 52 seen). E.g. butterfly n=256 rows=64 on "
        "df-4x4-simd8 multilayer: 2558 cycles, 2573 with doubled link bandwidth. Only a static "
        "arbitration order would make the property hold by construction"
    ),
)
def test_doubling_link_bandwidth_known_counterexample():
    arch = load_arch("df-4x4-simd8")
    p = compile_kernel(Butterfly("k", n=256, rows=64), arch, "multilayer")
    link = arch.with_overrides({"noc.link_bytes_per_cycle": 2 * arch.noc.link_bytes_per_cycle})
    assert run(p, link).stats.cycles <= run(p, arch).stats.cycles
