"""The Xavier GPU clock governor (swallowtail.baselines.dvfs): nvhost_podgov's rules, replayed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swallowtail.baselines.dvfs import (
    CLOCK_STEPS_HZ,
    MIN_CLOCK_HZ,
    GovernedRun,
    Podgov,
    _c_div,
    _Governor,
    simulate,
)
from swallowtail.baselines.jetson import JetsonBackend
from swallowtail.baselines.scenarios import LengthDistribution, load_lengths
from swallowtail.baselines.validation import single_stream_runs
from swallowtail.errors import SpecError
from swallowtail.workload.named import named_workload

NX = CLOCK_STEPS_HZ["xavier-nx"]
TOP = NX[-1]
DIST = LengthDistribution(name="t", lengths=[40, 160, 380], weights=[1, 2, 1])


def gpu_cycles(per_token: float = 2e5, fixed: float = 1e7):
    """A GPU phase of fixed + per-token cycles: its time follows the clock."""
    return lambda n, f: (fixed + per_token * n) / f


def governor(**kw) -> _Governor:
    return _Governor(Podgov(**kw), NX)


def test_clock_tables_ascend_and_floors_are_steps():
    for board, steps in CLOCK_STEPS_HZ.items():
        assert list(steps) == sorted(set(steps))
        assert MIN_CLOCK_HZ[board] == 0 or MIN_CLOCK_HZ[board] in steps
    assert NX[-1] == pytest.approx(1109.25e6) and CLOCK_STEPS_HZ["agx-xavier"][-1] == pytest.approx(1377e6)


def test_it_starts_at_the_lowest_step_and_a_busy_gpu_climbs_by_a_third_of_the_top_undamped():
    gov = governor()
    assert gov.clock == round(NX[0])
    assert gov.poll(25_000, 1000) == round(NX[0])  # the start counts as a change at 0: blocked for 50 ms
    assert gov.poll(50_000, 1000) == round(510e6)  # more than 90 % busy: + max / 3 (369 MHz), rounded up
    assert gov.poll(75_000, 1000) == round(510e6)  # within the block window of that change
    assert gov.poll(100_000, 1000) == round(905.25e6)  # 50 ms after it: not blocked (strict <)


def test_the_load_max_is_strict():
    """900 per mille is not 'more than 90 % busy': the proportional rule, +26 MHz, damped below the floor."""
    assert governor().poll(50_000, 900) == round(NX[0])
    assert governor().poll(50_000, 901) == round(510e6)


def test_the_proportional_rule_truncates_like_c():
    """busyness 699 at 1109 MHz: boost (699 - 700) x 80 x 1109 / 70000 = -1.27, truncated to -1 (floor: -2),
    so the request is 1108 MHz and the running mean of requests stays at 1108."""
    assert (_c_div(-88720, 70000), _c_div(88720, -70000), _c_div(88720, 70000)) == (-1, -1, 1)
    gov = governor()
    gov.clock, gov.freq_avg = round(TOP), 1108
    gov.poll(50_000, 699)
    assert gov.freq_avg == 1108  # (1108 x 10 + 1108) // 11; a request of 1107 would give 1107


def test_the_proportional_boost_is_capped_at_a_third_of_the_top():
    """At the floor with a top-clock window in the history: busyness 9666, an uncapped boost of 1168 MHz
    (to 956.25 MHz), capped at 369 (to 408 MHz)."""
    gov = governor()
    gov.history.append(round(TOP))  # type: ignore[union-attr]
    assert gov.poll(50_000, 800) == round(408e6)


def test_a_blocked_window_still_enters_the_history():
    gov = governor()
    assert gov.poll(50_000, 1000) == round(510e6)  # a change at 50 ms
    assert gov.poll(75_000, 1000) == round(510e6)  # blocked, but its busy cycles are kept
    gov.freq_avg = 510  # as if it had held 510 MHz a while
    # idle now, but the blocked window is the busiest of the history: busyness 1000, up to 701.25 MHz
    # (without it, the first window at 114.75 MHz would be: busyness 225, down to 408 MHz)
    assert gov.poll(100_000, 0) == round(701.25e6)


def test_the_history_is_the_last_windows_and_a_kept_clock_is_not_a_change():
    gov = governor(history=2)
    gov.clock = round(TOP)
    gov.poll(50_000, 1000)  # at the top already: no change, so no block window either
    assert gov.last_scale_us == 0
    gov.poll(75_000, 0)
    assert gov.poll(100_000, 0) < round(TOP)  # the busy window has left a history of two
    assert len(gov.history) == 2  # type: ignore[arg-type]


def test_without_a_history_busyness_follows_the_smoothed_cycles():
    gov = governor(history=0)
    gov.clock = gov.cycles_avg = round(TOP)
    gov.poll(50_000, 500)
    assert gov.cycles_avg == (round(TOP) * 10 + round(TOP) * 500 // 1000) // 11


def test_a_reading_below_the_target_sinks_to_the_floor_and_one_above_climbs_to_the_top():
    below = simulate(gpu_cycles(), DIST, NX, host_s=0.0, duration_s=5, busy_fraction=0.65)
    above = simulate(gpu_cycles(), DIST, NX, host_s=0.0, duration_s=5, busy_fraction=0.75)
    assert below.share_at(NX[0]) == pytest.approx(1.0) and above.share_at(TOP) == pytest.approx(1.0)


def test_an_idle_gpu_stays_at_the_floor():
    idle = simulate(gpu_cycles(), DIST, NX, host_s=0.2, duration_s=5, busy_fraction=0.3)
    assert idle.share_at(NX[0]) == pytest.approx(1.0)


def test_latency_is_host_plus_gpu_at_the_held_clock():
    run = simulate(gpu_cycles(), DIST, NX, host_s=0.004, duration_s=5)
    assert run.share_at(TOP) == pytest.approx(1.0)  # after the warm-up
    assert run.statistic("min") == pytest.approx(0.004 + (1e7 + 2e5 * 40) / TOP)
    assert run.statistic("max") == pytest.approx(0.004 + (1e7 + 2e5 * 380) / TOP)


@settings(max_examples=15, deadline=None)
@given(host_s=st.floats(0, 0.05), busy=st.floats(0.3, 1.0), per_token=st.floats(1e4, 1e6))
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
        ({"steps_hz": [1e9, float("inf")]}, "steps_hz"),
        ({"host_s": -1.0}, "host_s"),
        ({"host_s": float("nan")}, "host_s"),
        ({"busy_fraction": 0.0}, "busy_fraction"),
        ({"busy_fraction": 1.5}, "busy_fraction"),
        ({"duration_s": 0}, "duration_s"),
        ({"warmup_s": -1}, "warmup_s"),
        ({"gpu_s": lambda n, f: 0.0}, "gpu_s"),
        ({"gpu_s": lambda n, f: float("nan")}, "gpu_s"),
        ({"gpu_s": lambda n, f: 1e-12, "host_s": 0.0}, "duration_s"),  # more queries than a replay takes
    ],
)
def test_bad_input_names_the_field(kwargs, field):
    args = {"gpu_s": gpu_cycles(), "steps_hz": NX, "host_s": 0.01, "duration_s": 1.0, **kwargs}
    with pytest.raises(SpecError, match=field):
        simulate(args.pop("gpu_s"), DIST, args.pop("steps_hz"), args.pop("host_s"), **args)


@pytest.mark.parametrize(("field", "value"), [("poll_us", 0), ("damp", 11), ("history", -1), ("bias", 0.5)])
def test_bad_tunables_name_the_field(field, value):
    with pytest.raises(SpecError, match=f"podgov.{field}"):
        Podgov(**{field: value})


def test_the_governor_holds_the_top_clock_on_a_busy_xavier_nx_run():
    """The claim of the harness file and benchmarks/dvfs_governor.py, on one run (NX 20 W, v1.1; a minute of
    it): with the time beside the GPU that the fastest query leaves at the top clock and the GPU busy through
    each query, the governor holds the top clock, so the run's median comes out far too fast -- in this
    replay, a governed clock does not make the minima fast and the rest slow."""
    run = single_stream_runs(None)["mlperf-v1.1-nx20w-bert-ss"]
    dist = load_lengths("squad-v1.1-dev-384")
    gpu = JetsonBackend(run["min"].arch, stack="tensorrt-int8")
    top = {n: gpu.run(named_workload("bert-large", seq_len=n)).latency_s for n in dist.lengths}
    host_s = run["min"].value - top[41]
    assert 5e-3 < host_s < 6e-3  # 10.7 M cycles of its 1.9 GHz CPU

    def gpu_s(n: int, f: float) -> float:  # below the top (the warm-up's first windows): as if compute-bound
        return top[n] * TOP / f

    governed = simulate(gpu_s, dist, NX, host_s, duration_s=60)
    assert governed.share_at(TOP) == pytest.approx(1.0)
    assert governed.statistic("min") == pytest.approx(run["min"].value)
    assert governed.statistic("p50") / run["p50"].value - 1 < -0.28  # -28.5 to -37.5 % on the NX runs


def test_inputs_of_other_kinds_are_refused_or_read_as_intended():
    """Found by a bad-input hunt: a generator or an array of clocks, a seed or a governor of the wrong kind
    were raw errors, and a numpy float GPU time was refused."""
    base = simulate(gpu_cycles(), DIST, NX, host_s=0.004, duration_s=1)
    as_gen = simulate(gpu_cycles(), DIST, (f for f in NX), host_s=0.004, duration_s=1)
    as_arr = simulate(gpu_cycles(), DIST, np.array(NX), host_s=0.004, duration_s=1)
    f32 = simulate(lambda n, hz: np.float32(gpu_cycles()(n, hz)), DIST, NX, host_s=0.004, duration_s=1)
    assert as_gen.latencies_s == base.latencies_s == as_arr.latencies_s and len(f32.latencies_s) > 0
    for bad, field in (({"seed": -1}, "seed"), ({"seed": "a"}, "seed"), ({"governor": "podgov"}, "governor")):
        with pytest.raises(SpecError) as e:
            simulate(gpu_cycles(), DIST, NX, host_s=0.004, duration_s=1, **bad)
        assert e.value.field == field
