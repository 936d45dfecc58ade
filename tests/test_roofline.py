"""The backend registry and the roofline backend (the floor every simulator is tested against)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swallowtail.arch import load_arch
from swallowtail.backends import (
    describe_backends,
    get_backend,
    list_backends,
    register_backend,
    unregister_backend,
)
from swallowtail.backends.roofline import RooflineBackend
from swallowtail.energy import load_energy_table
from swallowtail.errors import SpecError
from swallowtail.result import Result
from swallowtail.workload import GEMM, Softmax, Workload

PEAK = 256e9  # df-4x4-simd8
BW = 51.2e9


def small_workload() -> Workload:
    """A 64x64 @ 64x64 weight GEMM followed by a 64x64 softmax."""
    return Workload(
        "tiny",
        (
            GEMM("proj", m=64, k=64, n=64, b_is_weight=True),
            Softmax("soft", rows=64, n=64, deps=("proj",)),
        ),
        input_elems=64 * 64,
        output_elems=64 * 64,
    )


def test_registry() -> None:
    assert "roofline" in list_backends()
    assert "roofline" in describe_backends()
    with pytest.raises(SpecError) as e:
        get_backend("no-such-backend")
    assert "roofline" in str(e.value) and "no-such-backend" in str(e.value)


def test_register_custom_backend() -> None:
    class Fixed:
        def __init__(self, arch: Any = None, latency: float = 1.0) -> None:
            self.name = "fixed-test"
            self.latency = latency

        def run(self, workload: Workload) -> Result:
            return Result("fixed-test", "none", workload.name, self.latency, 0.0, workload.flops, 1.0)

    register_backend("fixed-test", Fixed, "a test backend")
    register_backend("lazy-test", "swallowtail.backends.roofline:make_roofline", "lazy import path")
    try:
        r = get_backend("fixed-test", latency=2.0).run(small_workload())
        assert r.latency_s == 2.0
        with pytest.raises(SpecError):
            register_backend("fixed-test", lambda **_: Fixed(), "again")
        assert get_backend("lazy-test").name == "roofline"
    finally:
        unregister_backend("fixed-test")
        unregister_backend("lazy-test")
    assert "fixed-test" not in list_backends()


def test_roofline_equals_hand_arithmetic() -> None:
    w = small_workload()
    flops = 2 * 64**3 + 5 * 64 * 64  # GEMM (FMA = 2) + softmax (5 per element)
    assert w.flops == flops
    dram = (64 * 64 + 64 * 64 + 64 * 64) * 2  # weight + input + output, fp16
    assert w.compulsory_dram_bytes == dram
    b = get_backend("roofline", arch="df-4x4-simd8")
    r = b.run(w)
    t_compute, t_mem = flops / PEAK, dram / BW
    assert r.latency_s == pytest.approx(max(t_compute, t_mem))
    assert r.cycles == math.ceil(r.latency_s * 1e9 - 1e-6)
    assert r.utilization == pytest.approx(t_compute / r.latency_s)
    assert r.traffic_bytes == {"dram": dram}
    e = load_energy_table("horowitz-45nm").for_arch(load_arch("df-4x4-simd8"))
    fu = flops / 2 * 1.5e-12 * 0.13
    dram_j = dram * 1.3e-9 / 8
    leak = e.leakage_total_w * r.latency_s
    assert r.energy_breakdown_j["fu"] == pytest.approx(fu)
    assert r.energy_breakdown_j["dram"] == pytest.approx(dram_j)
    assert r.energy_j == pytest.approx(fu + dram_j + leak)
    no_leak = get_backend("roofline", arch="df-4x4-simd8", include_leakage=False).run(w)
    assert no_leak.energy_j == pytest.approx(fu + dram_j)
    # per op: each op's own bound and which bound binds
    proj, soft = r.ops
    assert proj.latency_s == pytest.approx(max(2 * 64**3 / PEAK, 3 * 64 * 64 * 2 / BW))
    assert proj.bound == "compute"
    assert soft.latency_s == pytest.approx(max(5 * 64 * 64 / PEAK, 2 * 64 * 64 * 2 / BW))
    assert soft.bound == "dram"
    assert soft.utilization == pytest.approx((5 * 64 * 64 / PEAK) / soft.latency_s)
    assert Result.from_dict(r.to_dict()) == r


def test_roofline_on_the_gpu() -> None:
    w = small_workload()
    g = load_arch("xavier-nx-15w")
    r = get_backend("roofline", arch="xavier-nx-15w").run(w)
    lat = max(w.flops / g.peak_ops_per_s, w.compulsory_dram_bytes / g.dram_bytes_per_s)
    assert r.latency_s == pytest.approx(lat)
    assert r.energy_j == pytest.approx(15.0 * lat)  # board power x latency
    assert r.cycles is None
    slow = get_backend("roofline", arch="xavier-nx-15w", power_mode="10w").run(w)
    assert slow.latency_s >= r.latency_s
    with pytest.raises(SpecError):
        get_backend("roofline", arch="xavier-nx-15w", power_mode="99w")
    with pytest.raises(SpecError):
        get_backend("roofline", arch="df-4x4-simd8", warp_speed=True)


def test_default_arch() -> None:
    assert isinstance(get_backend("roofline"), RooflineBackend)
    assert get_backend("roofline").arch.name == "df-4x4-simd8"


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 512),
    st.integers(1, 512),
    st.integers(1, 512),
    st.integers(1, 8),
    st.sampled_from(["df-4x4-simd8", "df-8x8-simd8", "xavier-nx-15w"]),
)
def test_roofline_is_a_floor(m: int, k: int, n: int, batch: int, arch: str) -> None:
    w = Workload(
        "g", (GEMM("g", m=m, k=k, n=n, batch=batch, b_is_weight=True),), input_elems=m * k, output_elems=m * n
    )
    b = get_backend("roofline", arch=arch)
    r = b.run(w)
    a = load_arch(arch)
    assert r.latency_s >= w.flops / a.peak_ops_per_s * (1 - 1e-12)
    assert r.latency_s >= w.compulsory_dram_bytes / a.dram_bytes_per_s * (1 - 1e-12)
    assert r.latency_s == pytest.approx(
        max(w.flops / a.peak_ops_per_s, w.compulsory_dram_bytes / a.dram_bytes_per_s)
    )
    assert 0 < r.utilization <= 1
    assert r.energy_j > 0
    for op in r.ops:
        assert op.bound in ("compute", "dram")
        assert op.latency_s >= op.flops / a.peak_ops_per_s * (1 - 1e-12)
