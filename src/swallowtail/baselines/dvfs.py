"""The GPU clock governor of the Jetson Xavier boards, for asking whether DVFS shaped a SingleStream run.

NVIDIA's MLPerf runs on the Xavier boards left the GPU clock to the kernel's governor (the harness file
`params/harnesses/mlperf-nvidia-bert-xavier.yaml` gives the sources). Under L4T R32.4.3-R32.6.1 the Xavier GPU
(gv11b) is scaled by `nvhost_podgov` (nvgpu `platform_gv11b_tegra.c`: `.devfreq_governor = "nvhost_podgov"`),
polled every 25 ms (nvgpu `os/linux/scale.c`, `gk20a_scale_init`: `polling_ms = 25`). Each poll
(`governor_pod_scaling.c`, `nvhost_pod_estimate_freq` and `scaling_state_check`; the file is the same blob
at tags tegra-l4t-r32.4.3 to r32.6.1 of NVIDIA's linux-4.9 tree) takes the GPU's busy fraction of the
window, keeps the busiest recent window's busy cycles (`recent_high`, the highest of the last 100 windows'
clock x busy fraction), and, unless it changed the clock within the last 50 ms, moves the clock:

- up by a third of the mode's maximum clock, undamped, if the window was more than 90 % busy;
- else by `bias (80) x clock x (busyness - 700) / (100 x 700)`, where busyness is `1000 x recent_high / clock`
  (capped at a third of the maximum, not floored), averaged with the running mean of its requests
  (`freq_avg`, smoothing 10) at damping 7 of 10;

then rounds the request up to the next step of the board's clock table. `simulate` replays this, in the C
code's integer MHz / microsecond / per-mille arithmetic, over a SingleStream run, from the state nvgpu starts
the governor in (the table's lowest step, no history) through a warm-up: each query is a host phase (the GPU
idle) and a GPU phase whose length follows the clock the governor holds, read as busy at `busy_fraction` (what
the GPU's PMU busy counters count is not documented here; 1 means busy for the whole phase). Near the 70 %
target the integer arithmetic matters: a reading a little above it (up to about 73 % on the Xavier NX table)
leaves the damped request below the next step, so a governor at its lowest step stays there. What it answers:
whether a clock the governor picks can make a run's fastest queries fast and its others slow
(benchmarks/dvfs_governor.py). The EMC (memory) clock is held at the mode's maximum (an assumption: the GPU's
postscale asks for an EMC floor of twice the GPU clock, and the activity monitor raises it with the traffic).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from swallowtail.baselines.scenarios import PERCENTILES, LengthDistribution
from swallowtail.errors import SpecError, check_int, is_int, is_real

#: the steps of the GPU clock table of each Xavier board, Hz (user-reported, not from NVIDIA's source: AGX
#: Xavier, R32.4.4, github.com/emwjacobson/JetsonPowerTesting README; Xavier NX, the L4T Development Guide's
#: "Configuring GPU clocks" page as copied in a public repository); nvgpu keeps every step of a table of 15 or
#: fewer (platform_gp10b_tegra.c, gp10b_clk_get_freqs)
CLOCK_STEPS_HZ: dict[str, tuple[float, ...]] = {
    "xavier-nx": tuple(
        f * 1e6
        for f in (114.75, 204, 306, 408, 510, 599.25, 701.25, 752.25, 803.25, 854.25, 905.25, 956.25)
        + (1007.25, 1058.25, 1109.25)
    ),
    "agx-xavier": tuple(
        f * 1e6
        for f in (114.75, 216.75, 318.75, 420.75, 522.75, 624.75, 675.75, 828.75, 905.25, 1032.75, 1198.5)
        + (1236.75, 1338.75, 1377)
    ),
}
#: the lowest GPU clock each board's MLPerf power modes allow, Hz: the Xavier NX modes set GPU MIN_FREQ 0 (the
#: table's lowest step; mlcommons/inference_results_v1.0 closed/NVIDIA/power/nvpmodel-computelab-501.conf,
#: MODE_15W_2CORE, MODE_20W_2CORE, MODE_MLPERF_V1_MAXQ), the AGX Xavier ones 318.75 MHz (v1.1
#: closed/NVIDIA/code/common/scopedPowerLimit.py, MAXN and its MaxQ template)
MIN_CLOCK_HZ: dict[str, float] = {"xavier-nx": 0.0, "agx-xavier": 318.75e6}
#: the longest run (and warm-up) replayed, and the most queries in one replay (bounds of the tool)
MAX_RUN_S = 1e5
MAX_QUERIES = 10**7


@dataclass(frozen=True)
class Podgov:
    """nvhost_podgov's tunables: the defaults of `nvhost_pod_init` (governor_pod_scaling.c), the same for
    every Tegra GPU, and nvgpu's polling period for gv11b (scale.c). Times in microseconds, as the C code
    keeps them."""

    poll_us: int = 25_000  # scale.c, gk20a_scale_init: polling_ms = 25
    block_window_us: int = 50_000  # p_block_window: no change within 50 ms of the last one
    load_max: int = 900  # p_load_max: a window more than 90 % busy steps up by max / 3
    load_target: int = 700  # p_load_target: the busyness the governor steers to, per mille
    bias: int = 80  # p_bias
    smooth: int = 10  # p_smooth: the running means of requests (freq_avg) and of busy cycles (cycles_avg)
    damp: int = 7  # p_damp, of 10
    #: p_history_buf_size = min(MAX_HISTORY_BUF_SIZE, 100): recent_high is the busiest of the last 100
    #: windows. MAX_HISTORY_BUF_SIZE is CONFIG_DEVFREQ_GOV_POD_SCALING_HISTORY_BUFFER_SIZE_MAX, a Kconfig int
    #: with no prompt and default 100 (drivers/devfreq/Kconfig), so set whenever the governor is built (an
    #: assumption: L4T's built config is not checked here); 0 takes the C code's other branch, busyness from
    #: the smoothed cycles_avg
    history: int = 100

    def __post_init__(self) -> None:
        for name in (
            "poll_us",
            "block_window_us",
            "load_max",
            "load_target",
            "bias",
            "smooth",
            "damp",
            "history",
        ):
            v = getattr(self, name)
            low = 1 if name in ("poll_us", "load_target") else 0
            if not (is_int(v) and low <= v <= 10**7):
                raise SpecError(f"podgov.{name}", v, f"an integer in [{low}, 10000000]")
        if self.damp > 10:
            raise SpecError("podgov.damp", self.damp, "an integer in [0, 10] (tenths)")


@dataclass(frozen=True)
class GovernedRun:
    """A simulated SingleStream run: each query's latency, and the share of the run's time at each clock."""

    latencies_s: tuple[float, ...]
    clock_share: tuple[tuple[float, float], ...]  # (clock Hz, fraction of the run), clocks ascending

    def statistic(self, name: str) -> float:
        """min, mean, max, or a percentile of `PERCENTILES` (nearest rank, as MLPerf's LoadGen reports)."""
        lat = sorted(self.latencies_s)
        if name in PERCENTILES:
            return lat[max(0, math.ceil(PERCENTILES[name] * len(lat)) - 1)]
        plain = {"min": lat[0], "max": lat[-1], "mean": math.fsum(lat) / len(lat)}
        if name not in plain:
            raise SpecError("statistic", name, f"one of {[*plain, *PERCENTILES]}")
        return plain[name]

    def share_at(self, clock_hz: float) -> float:
        return dict(self.clock_share).get(round(clock_hz), 0.0)


def _c_div(a: int, b: int) -> int:
    """C's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


class _Governor:
    """nvhost_podgov's state and its poll, in the C code's integer arithmetic (module docstring). It starts
    as nvgpu starts it: at the table's lowest step (scale.c, gk20a_scale_init), with no history -- as after a
    resume from railgating, whose suspend sets the minimum clock and clears the history."""

    def __init__(self, gov: Podgov, steps_hz: Sequence[float]) -> None:
        self.gov, self.steps = gov, [round(f) for f in steps_hz]
        self.clock = self.steps[0]
        self.history: deque[int] | None = deque(maxlen=gov.history) if gov.history else None
        self.cycles_avg = 0
        self.freq_avg = 0
        self.last_scale_us = 0

    def poll(self, now_us: int, busy_permille: int) -> int:
        """The clock after a poll at `now_us` of a window the GPU was busy `busy_permille` of (the PMU's
        busy_cycles_norm; rt_load is it)."""
        g = self.gov
        norm_load = self.clock * busy_permille // 1000
        self.cycles_avg = (self.cycles_avg * g.smooth + norm_load) // (g.smooth + 1)
        if self.history is not None:
            self.history.append(norm_load)
        if now_us - self.last_scale_us < g.block_window_us:
            return self.clock
        high = max(self.history) if self.history is not None else self.cycles_avg
        freq, max_boost = self.clock // 1_000_000, (self.steps[-1] // 3) // 1_000_000
        busyness = 1000 * high // self.clock
        damp = g.damp
        if busy_permille > g.load_max:
            boost, damp = max_boost, 10
        else:
            boost = min(_c_div((busyness - g.load_target) * g.bias * freq, 100 * g.load_target), max_boost)
        res = freq + boost
        self.freq_avg = (self.freq_avg * g.smooth + res) // (g.smooth + 1)
        res = _c_div(damp * res + (10 - damp) * self.freq_avg, 10) * 1_000_000
        res = min(max(res, self.steps[0]), self.steps[-1])
        new = next(f for f in self.steps if f >= res)
        if new != self.clock:
            self.clock, self.last_scale_us = new, now_us
        return self.clock


def _check(
    steps_hz: list[float], host_s: float, busy_fraction: float, durations: tuple[float, float]
) -> None:
    ok_steps = all(is_real(f) and math.isfinite(f) and 0 < f <= 1e12 for f in steps_hz)
    if not steps_hz or not ok_steps or steps_hz != sorted(set(steps_hz)):
        raise SpecError(
            "steps_hz", list(steps_hz), "a non-empty, strictly increasing list of clocks in (0, 1e12] Hz"
        )
    if not (is_real(host_s) and math.isfinite(host_s) and host_s >= 0):
        raise SpecError("host_s", host_s, "a finite number of seconds >= 0")
    if not (is_real(busy_fraction) and 0 < busy_fraction <= 1):
        raise SpecError("busy_fraction", busy_fraction, "a number in (0, 1]")
    duration_s, warmup_s = durations
    if not (is_real(duration_s) and 0 < duration_s <= MAX_RUN_S):
        raise SpecError("duration_s", duration_s, f"seconds in (0, {MAX_RUN_S:g}]")
    if not (is_real(warmup_s) and 0 <= warmup_s <= MAX_RUN_S):
        raise SpecError("warmup_s", warmup_s, f"seconds in [0, {MAX_RUN_S:g}]")


def _phase_s(gpu_s: Callable[[int, float], float], n: int, clock_hz: int) -> float:
    t = gpu_s(n, float(clock_hz))
    if not (isinstance(t, int | float | np.floating) and not isinstance(t, bool) and 0 < t < math.inf):
        raise SpecError("gpu_s", t, f"a finite GPU time > 0 s (for {n} tokens at {clock_hz} Hz)")
    return float(t)


def simulate(
    gpu_s: Callable[[int, float], float],
    dist: LengthDistribution,
    steps_hz: Sequence[float],
    host_s: float,
    *,
    busy_fraction: float = 1.0,
    duration_s: float = 600.0,
    warmup_s: float = 10.0,
    governor: Podgov = Podgov(),
    seed: int = 0,
) -> GovernedRun:
    """Replay a SingleStream run of `duration_s` (MLPerf's minimum run since v1.0: 600 s) under the governor,
    after `warmup_s` of the same query stream from the governor's start state, not recorded (an assumption:
    the GPU has been working a while when a run starts). Query lengths are drawn from `dist` (numpy's
    generator, `seed`); each query is `host_s` with the GPU idle, then a GPU phase of `gpu_s(length,
    clock_hz)` seconds at the clock it runs at (the clock may change at a poll within it; the phase's
    remaining share then runs at the new clock)."""
    steps_hz = list(steps_hz)  # a generator or an array: read once
    _check(steps_hz, host_s, busy_fraction, (duration_s, warmup_s))
    if not isinstance(governor, Podgov):
        raise SpecError("governor", type(governor).__name__, "a Podgov (its parameters)")
    check_int("seed", seed, 0)
    gov = _Governor(governor, steps_hz)
    rng = np.random.default_rng(seed)
    poll_s = governor.poll_us / 1e6
    t, busy, polls = 0.0, 0.0, 1  # polls: the index of the next poll, at polls x poll_us
    at_clock = dict.fromkeys(gov.steps, 0.0)
    latencies: list[float] = []

    def advance(until: float, busy_rate: float) -> None:
        nonlocal t, busy, polls
        while polls * poll_s <= until:
            at = polls * poll_s
            busy += (at - t) * busy_rate
            at_clock[gov.clock] += (at - t) * (t >= warmup_s)
            t = at
            gov.poll(polls * governor.poll_us, math.floor(1000 * busy / poll_s + 1e-6))
            busy, polls = 0.0, polls + 1
        busy += (until - t) * busy_rate
        at_clock[gov.clock] += (until - t) * (t >= warmup_s)
        t = until

    probs = np.asarray(dist.probabilities)
    for _ in range(MAX_QUERIES):
        if t >= warmup_s + duration_s:
            break
        n = dist.lengths[int(rng.choice(len(probs), p=probs))]
        start = t
        advance(t + host_s, 0.0)
        left = 1.0  # share of the GPU phase still to run
        while left > 0:
            phase = _phase_s(gpu_s, n, gov.clock)
            if t + left * phase <= polls * poll_s:
                advance(t + left * phase, busy_fraction)
                left = 0.0
            else:
                left -= (polls * poll_s - t) / phase
                advance(polls * poll_s, busy_fraction)
        if start >= warmup_s:
            latencies.append(t - start)
    else:
        raise SpecError(
            "duration_s", duration_s, f"a run of at most {MAX_QUERIES} queries at these GPU times"
        )
    if not latencies:
        raise SpecError(
            "duration_s", duration_s, "a run long enough for one query to start after the warm-up"
        )
    total = math.fsum(at_clock.values())
    share = tuple((f, s / total) for f, s in at_clock.items() if s > 0)
    return GovernedRun(latencies_s=tuple(latencies), clock_share=share)


__all__ = ["CLOCK_STEPS_HZ", "MIN_CLOCK_HZ", "GovernedRun", "Podgov", "simulate"]
