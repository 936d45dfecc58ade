"""The Xavier GPU clock governor (swallowtail.baselines.dvfs): nvhost_podgov's rules, replayed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swallowtail.baselines.dvfs import (
    CLOCK_STEPS_HZ,
    MIN_CLOCK_HZ,
    GovernedRun,
    Podgov,
    _Governor,
    simulate,
)
from swallowtail.baselines.scenarios import LengthDistribution
from swallowtail.errors import SpecError

NX = CLOCK_STEPS_HZ["xavier-nx"]
TOP = NX[-1]
DIST = LengthDistribution(name="t", lengths=[40, 160, 380], weights=[1, 2, 1])


def gpu_cycles(per_token: float = 2e5, fixed: float = 1e7):
    """A GPU phase of fixed + per-token cycles: its time follows the clock."""
    return lambda n, f: (fixed + per_token * n) / f


def test_clock_tables_ascend_and_floors_are_steps():
    for board, steps in CLOCK_STEPS_HZ.items():
        assert list(steps) == sorted(set(steps))
        assert MIN_CLOCK_HZ[board] == 0 or MIN_CLOCK_HZ[board] in steps
    assert NX[-1] == pytest.approx(1109.25e6) and CLOCK_STEPS_HZ["agx-xavier"][-1] == pytest.approx(1377e6)


def test_a_busy_gpu_climbs_from_the_bottom_by_a_third_of_the_top_undamped():
    gov = _Governor(Podgov(), NX, NX[0])
    # a window more than 90 % busy: + max / 3 (369 MHz), rounded up to the next step
    assert gov.poll(1.0, 0.025, 0.025) == pytest.approx(510e6)
    # within the 50 ms block window of that change: held
    assert gov.poll(1.025, 0.025, 0.025) == pytest.approx(510e6)
    assert gov.poll(1.050, 0.025, 0.025) == pytest.approx(905.25e6)


def test_the_integer_rule_below_the_load_max():
    """70 % busy at the top clock: busyness 700 equals the target, so no boost; freq_avg starts at 0, so the
    damped request is 7/10 of the clock plus 3/10 of the running mean (1109 // 11 = 100 MHz)."""
    gov = _Governor(Podgov(), NX, TOP)
    clock = gov.poll(1.0, 0.7 * 0.025, 0.025)
    request = (7 * 1109 + 3 * 100) // 10 * 1_000_000  # 806 MHz
    assert clock == min(f for f in gov.steps if f >= request)


def test_a_fully_busy_run_holds_the_top_clock_and_an_idle_one_falls_to_the_floor():
    busy = simulate(gpu_cycles(), DIST, NX, host_s=0.0, duration_s=5)
    assert busy.share_at(round(TOP)) == pytest.approx(1.0)
    idle = simulate(gpu_cycles(), DIST, NX, host_s=0.2, duration_s=5, busy_fraction=0.3)
    assert max(idle.clock_share, key=lambda fs: fs[1])[0] == round(NX[0])


def test_latency_is_host_plus_gpu_at_the_held_clock():
    run = simulate(gpu_cycles(), DIST, NX, host_s=0.004, duration_s=5)
    assert run.statistic("min") == pytest.approx(0.004 + (1e7 + 2e5 * 40) / TOP)
    # the run's first windows, before a long query fills one, steer down for a moment; then the top holds
    assert run.share_at(round(TOP)) > 0.95
    assert run.statistic("max") >= 0.004 + (1e7 + 2e5 * 380) / TOP


@settings(max_examples=15, deadline=None)
@given(
    host_s=st.floats(0, 0.05),
    busy=st.floats(0.3, 1.0),
    per_token=st.floats(1e4, 1e6),
)
def test_every_clock_is_a_step_and_shares_sum_to_one(host_s, busy, per_token):
    run = simulate(gpu_cycles(per_token), DIST, NX, host_s=host_s, duration_s=2, busy_fraction=busy)
    assert {f for f, _ in run.clock_share} <= {round(f) for f in NX}
    assert sum(s for _, s in run.clock_share) == pytest.approx(1.0)
    fastest = host_s + (1e7 + per_token * 40) / TOP
    assert run.statistic("min") >= fastest * (1 - 1e-9)  # no clock beats the top one


def test_deterministic():
    a = simulate(gpu_cycles(), DIST, NX, host_s=0.01, duration_s=3, busy_fraction=0.7)
    b = simulate(gpu_cycles(), DIST, NX, host_s=0.01, duration_s=3, busy_fraction=0.7)
    assert a == b


def test_statistics():
    run = GovernedRun(latencies_s=(0.4, 0.1, 0.2, 0.3), clock_share=((1e9, 1.0),))
    assert [run.statistic(s) for s in ("min", "p50", "p90", "p99", "max")] == [0.1, 0.2, 0.4, 0.4, 0.4]
    assert run.statistic("mean") == pytest.approx(0.25)
    with pytest.raises(SpecError, match="statistic"):
        run.statistic("p42")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"steps_hz": []}, "steps_hz"),
        ({"steps_hz": [2e9, 1e9]}, "steps_hz"),
        ({"host_s": -1.0}, "host_s"),
        ({"host_s": float("nan")}, "host_s"),
        ({"busy_fraction": 0.0}, "busy_fraction"),
        ({"busy_fraction": 1.5}, "busy_fraction"),
        ({"duration_s": 0}, "duration_s"),
    ],
)
def test_bad_input_names_the_field(kwargs, field):
    args = {"steps_hz": NX, "host_s": 0.01, **kwargs}
    with pytest.raises(SpecError, match=field):
        simulate(gpu_cycles(), DIST, args.pop("steps_hz"), args.pop("host_s"), **args)


def test_the_governor_holds_the_top_clock_on_a_busy_xavier_nx_run():
    """The claim of the harness file and benchmarks/dvfs_governor.py, on one run (NX 20 W, v1.1; a minute of
    it): with the time beside the GPU that the fastest query leaves at the top clock and the GPU busy through
    each query, the governor never leaves the top clock, so the run's median comes out far too fast -- a
    clock the governor picks cannot make the minima fast and the rest slow."""
    from swallowtail.baselines.jetson import JetsonBackend
    from swallowtail.baselines.scenarios import load_lengths
    from swallowtail.baselines.validation import single_stream_runs
    from swallowtail.workload.named import named_workload

    run = single_stream_runs(None)["mlperf-v1.1-nx20w-bert-ss"]
    dist = load_lengths("squad-v1.1-dev-384")
    gpu = JetsonBackend(run["min"].arch, stack="tensorrt-int8")
    top = {n: gpu.run(named_workload("bert-large", seq_len=n)).latency_s for n in dist.lengths}
    host_s = run["min"].value - top[41]
    assert 5e-3 < host_s < 6e-3  # 10.7 M cycles of its 1.9 GHz CPU

    def gpu_s(n: int, f: float) -> float:  # below the top (the run's first windows): as if compute-bound
        return top[n] * TOP / f

    governed = simulate(gpu_s, dist, NX, host_s, duration_s=60)
    assert governed.share_at(round(TOP)) > 0.99
    assert governed.statistic("min") == pytest.approx(run["min"].value)
    assert governed.statistic("p50") / run["p50"].value - 1 < -0.30  # -33.7 % over the full 600 s
