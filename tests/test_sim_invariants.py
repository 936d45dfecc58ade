"""Invariants of the simulated kernels, over random sizes, rows, dataflows and arch variants (hypothesis):
roofline floor, utilization <= 1, every lane-op counted once, compulsory bytes moved, more link or SPM
bandwidth never slower (static arbitration order), determinism."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swallowtail.arch import load_arch
from swallowtail.compiler import compile as compile_kernel
from swallowtail.compiler.butterfly.kernels import kernel_spec
from swallowtail.sim import run
from swallowtail.sim.timing import simulate_timing
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


@SETTINGS
@given(op=kernels, arch_name=st.sampled_from(ARCHS), dataflow=st.sampled_from(["multilayer", "single-layer"]))
def test_more_link_spm_or_dram_bandwidth_is_never_slower(op, arch_name, dataflow):
    """Doubling the link, SPM or DRAM bandwidth (each, and all three) never makes a kernel slower: on an arch
    other than its compile arch a Program runs with the arbitration order recorded there (a static order)."""
    arch = load_arch(arch_name)
    p = compile_kernel(op, arch, dataflow)
    base = run(p, arch).stats.cycles
    doubled = {
        key: 2 * value
        for key, value in (
            ("noc.link_bytes_per_cycle", arch.noc.link_bytes_per_cycle),
            ("spm.bytes_per_cycle", arch.spm.bytes_per_cycle),
            ("dma.gbytes_per_s_per_channel", arch.dma.gbytes_per_s_per_channel),
        )
    }
    each = {key: run(p, arch.with_overrides({key: v})).stats.cycles for key, v in doubled.items()}
    for key, cycles in each.items():
        assert cycles <= base, key
    # and more of everything is no slower than more of one
    assert run(p, arch.with_overrides(doubled)).stats.cycles <= min(each.values())


@SETTINGS
@given(op=kernels, arch_name=st.sampled_from(ARCHS), dataflow=st.sampled_from(["multilayer", "single-layer"]))
def test_static_order_replay_at_the_compile_arch_is_the_greedy_schedule(op, arch_name, dataflow):
    """The recorded arbitration order, replayed at the compile arch, gives the greedy engine's timing exactly
    (cycles, stall attribution, per-batch completions, DMA completions, when each PE last computed, the DMA's
    busy cycles); those last two bound the run."""
    arch = load_arch(arch_name)
    p = compile_kernel(op, arch, dataflow)
    greedy = simulate_timing(p, arch)
    static = simulate_timing(p, arch, static_order=True)
    assert static.replay_sweeps >= 1
    assert (static.cycles, static.stalls, static.batch_end, static.dma_done) == (
        greedy.cycles,
        greedy.stalls,
        greedy.batch_end,
        greedy.dma_done,
    )
    assert static.pe_last_compute == greedy.pe_last_compute
    assert static.dma_busy_cycles == greedy.dma_busy_cycles
    assert len(greedy.pe_last_compute) == p.n_active and max(greedy.pe_last_compute) <= greedy.cycles
    assert 0 < greedy.dma_busy_cycles <= greedy.cycles * arch.dma.channels


def test_doubling_link_bandwidth_former_counterexample():
    """Greedy arbitration made this kernel 15 cycles slower with doubled link bandwidth (2558 -> 2573)."""
    arch = load_arch("df-4x4-simd8")
    p = compile_kernel(Butterfly("k", n=256, rows=64), arch, "multilayer")
    link = arch.with_overrides({"noc.link_bytes_per_cycle": 2 * arch.noc.link_bytes_per_cycle})
    assert run(p, link).stats.cycles <= run(p, arch).stats.cycles
    # greedy arbitration on the faster arch is the anomaly the static order rules out
    assert simulate_timing(p, link, static_order=False).cycles > run(p, arch).stats.cycles


def test_slower_arch_where_the_recorded_order_admits_no_schedule_falls_back_to_greedy():
    """Halving the SPM bandwidth under this kernel's recorded order would deadlock (a positive cycle of
    constraints): the simulator says so and arbitrates greedily instead, deterministically."""
    arch = load_arch("df-4x4-simd8")
    p = compile_kernel(FFT("k", n=512, rows=21), arch, "single-layer")
    slow = arch.with_overrides({"spm.bytes_per_cycle": arch.spm.bytes_per_cycle // 2})
    a, b = simulate_timing(p, slow), simulate_timing(p, slow)
    assert a.arbitration.startswith("greedy (the arbitration order recorded at the compile arch admits no")
    assert a.cycles == b.cycles > simulate_timing(p, arch).cycles
    assert "arbitration: greedy (" in " ".join(run(p, slow).result.notes)
    assert "arbitration: greedy" in " ".join(run(p, arch).result.notes)
