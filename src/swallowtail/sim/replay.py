"""Static arbitration order: the timed event graph of a Program, recorded once at the arch it was compiled
for and replayed on any other arch (more link / SPM / DMA bandwidth, other latencies).

Why: the timing engine (`swallowtail.sim.timing`) grants shared resources greedily -- each request takes the
first free cycle of an RF port, link or SPM bank group. Greedy work-conserving arbitration is not monotone
(Graham's scheduling anomalies, 1969): with more bandwidth a request can take a cycle a later one would have
used, and a kernel can end up a few cycles *slower*. A machine whose arbiters follow a fixed order is
monotone. So the compiler's greedy schedule at the compile arch fixes, for every shared resource, the order
in which requests are granted (ties: grant order), and every DMA transfer's channel; on any other arch the
Program is executed with those orders (each arbiter grants FIFO in its recorded order).

What is recorded (`swallowtail.sim.events`, by `swallowtail.sim.timing.record`): one node per event with its
timing constraints as max-plus edges `t(v) >= t(u) + w` (`w` symbolic, evaluated for the arch it is
replayed on), and each shared-resource request with its compile-arch grant time, which fixes the orders.

Every constraint is `max` and `+` of event times and non-negative-slope durations, so each event's time is a
monotone function of the durations: more bandwidth (shorter occupancies) can never delay any event, and more
SPM bank groups (a refinement of the old ones) or more ports only remove constraints. At the compile arch
the replay reproduces the greedy schedule exactly: the greedy schedule satisfies every constraint (the
orders are its own time orders), and each greedy grant time equals one of its constraints (the cycle before
it was refused by a request earlier in that resource's order). Tests check both on random kernels.

Evaluation: the least fixed point of the constraints, by sweeps over the events in the order of their
compile-arch times (ties: grant order), starting from zero; an edge whose source comes later in the sweep
(a write-after-read slack, a write port's write-time order) is re-checked after the sweep, and the sweep is
repeated until no constraint is violated (typically two sweeps).

Imports: `swallowtail.sim.events` and `swallowtail.sim.stats` only (the timing engine imports this module to
dispatch to it, never the reverse).
"""

from __future__ import annotations

import heapq
import math
import time

import numpy as np

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.geometry import SpmGeometry
from swallowtail.compiler.program import Program
from swallowtail.flops import ceil_div
from swallowtail.sim.events import (
    INHERIT,
    K_CP,
    K_DONE,
    K_LD,
    K_ST,
    K_XF,
    R_BANK,
    R_LINK,
    R_RP,
    R_WP,
    ROUND_EPS,
    EventGraph,
)
from swallowtail.sim.stats import C_RFPORT, CAUSES, DRAIN, KernelTrace, TimingStats, compute_issues

#: on an arch not at least as fast as the compile arch in every duration: re-evaluations of one event after
#: which the replay gives up (a positive cycle of constraints: the recorded order would deadlock). On a
#: faster arch it never gives up (the compile-arch schedule satisfies every constraint there)
MAX_REEVALUATIONS = 2000
#: the activity trace's kind of each traced event kind (the engine's log codes)
TRACE_KIND = {K_CP: 0, K_XF: 1, K_LD: 2, K_ST: 3}

#: (weights, SPM bank groups, occupancy per unit resource class, capacity per port class) on one arch
Rates = tuple[list[int], int, dict[int, int], dict[int, int]]
#: per event: its resource constraints (source event, weight) on the replayed arch
ResourceEdges = list[list[tuple[int, int]]]


class OrderInfeasible(Exception):
    """The recorded arbitration order cannot be honoured on this arch (it would deadlock)."""


def _weights(g: EventGraph, program: Program, arch: DataflowArch) -> list[int]:
    """Every symbolic weight code's value on `arch` (a list indexed by the code)."""
    model = program.model
    geo = SpmGeometry.of(arch)
    spm_lat = model.spm_latency_cycles
    ser = max(1, ceil_div(geo.vec_bytes, arch.noc.link_bytes_per_cycle))
    hop = arch.noc.hop_latency
    w = [0, 1, spm_lat, 1 - spm_lat, hop, ser - 1 + hop, spm_lat - 1]
    for name in g.fu_names:
        fu = arch.pe.fus[name]
        w += [fu.latency, 2 - fu.latency, fu.initiation_interval, fu.latency - 1]
    assert len(w) == g.w_dma_base
    ch_rate = arch.dma.gbytes_per_s_per_channel * 1e9 / arch.clock_hz
    for idx, k in g.dma_slot_w:
        d = program.dma[idx]
        ((lo, hi),) = d.slot_ranges
        per = d.dram_bytes / (hi - lo) / ch_rate
        w.append(arch.dma.latency_cycles + int(math.ceil(k * per - ROUND_EPS)))
    return w


def _rates(g: EventGraph, program: Program, arch: DataflowArch) -> Rates:
    """(weights, SPM bank groups, occupancy per unit resource class, capacity per port class) on `arch`."""
    geo = SpmGeometry.of(arch)
    occ = {
        R_BANK: geo.occupancy,
        R_LINK: max(1, ceil_div(geo.vec_bytes, arch.noc.link_bytes_per_cycle)),
    }
    cap = {
        R_RP: arch.pe.register_file.read_ports,
        R_WP: arch.pe.register_file.write_ports,
    }
    return _weights(g, program, arch), geo.groups, occ, cap


def _dominated(rates: Rates, compile_rates: Rates) -> bool:
    """At least as fast as the compile arch in every duration and resource: the compile-arch schedule then
    satisfies every constraint, so the least fixed point exists (and is no later); otherwise a positive
    cycle is possible and the worklist gives up after MAX_REEVALUATIONS of one event."""
    (W, G, occ, cap), (W0, G0, occ0, cap0) = rates, compile_rates
    return (
        all(a <= b for a, b in zip(W, W0, strict=True))
        and G % G0 == 0
        and all(occ[k] <= occ0[k] for k in occ)
        and all(cap[k] >= cap0[k] for k in cap)
    )


def _resource_edges(g: EventGraph, rates: Rates) -> ResourceEdges:
    """Each request after the previous one in compile-arch time order (ties: grant order), per resource of
    *this* arch (its bank groups, occupancies, port counts), as edges t(v) >= t(u) + w."""
    W, G, occ, cap = rates
    R: ResourceEdges = [[] for _ in range(len(g.kind))]
    for (cls, _key), lst in g.resource_orders(G).items():
        if cls in occ:  # not before the previous holder released it
            oc = occ[cls]
            u, ou = lst[0][1], W[lst[0][2]]
            for _, v, off, _ in lst[1:]:
                ov = W[off]
                R[v].append((u, ou + oc - ov))
                u, ou = v, ov
        else:  # next-fit packing in order, `cap` units per cycle
            c = cap[cls]
            owner: list[tuple[int, int]] = []  # unit position -> (event, offset)
            for j, (_, v, off, dem) in enumerate(lst):
                ov = W[off]
                if j:
                    R[v].append((owner[-1][0], owner[-1][1] - ov))
                p = len(owner) + dem - 1 - c
                if p >= 0:
                    u, ou = owner[p]
                    R[v].append((u, ou + 1 - ov))
                owner.extend([(v, ov)] * dem)
    return R


def _successors(g: EventGraph, R: ResourceEdges) -> list[list[int]]:
    """The constraint graph's successors (DMA transfers: their channel predecessor, the transfer they wait
    for, the stores that fill their slots)."""
    succ: list[list[int]] = [[] for _ in range(len(g.kind))]
    for v in range(len(succ)):
        for s, _c, _ in g.edges[v]:
            succ[s].append(v)
        for s, _w in R[v]:
            succ[s].append(v)
    for v, (_idx, ch_pred, ready_src, after) in g.dma.items():
        for u in (ch_pred, after):
            if u >= 0:
                succ[u].append(v)
        for lst in ready_src or ():
            for u, _c in lst:
                succ[u].append(v)
    return succ


def _solve(
    g: EventGraph,
    program: Program,
    arch: DataflowArch,
    W: list[int],
    R: ResourceEdges,
    limit: int,
) -> tuple[list[int], dict[int, int], dict[int, int], int]:
    """The least fixed point of the constraints: (event times, DMA transfer ends, DMA transfer dones, event
    evaluations). One sweep in compile-arch time order (ties: grant order) gets almost every event right; a
    worklist (by sweep position) then re-evaluates, from the events with a violated constraint through a
    later-swept source, whatever changes, until nothing does (times only grow from zero)."""
    n = len(g.kind)
    order, pos = g.sweep_order()
    dma_nodes = g.dma
    ch_rate = arch.dma.gbytes_per_s_per_channel * 1e9 / arch.clock_hz
    dma_lat = arch.dma.latency_cycles
    T = [0] * n
    D_end: dict[int, int] = {}
    D_done: dict[int, int] = {}

    def eval_dma(v: int) -> tuple[int, int, int]:
        """(start, end, done) of a DMA transfer from the current times (the greedy engine's formulas)."""
        idx, ch_pred, ready_src, after = g.dma[v]
        d = program.dma[idx]
        ((lo, hi),) = d.slot_ranges
        n_sl = hi - lo
        per = d.dram_bytes / n_sl / ch_rate
        cf = D_end.get(ch_pred, 0) if ch_pred >= 0 else 0
        if ready_src is not None:  # a store streams its slots as they become ready
            ready = np.array(
                [max([0, *(T[s] + W[c] for s, c in lst)]) for lst in ready_src],
                dtype=np.int64,
            )
            start = max(cf, int(ready.min()))
            kk = np.arange(1, n_sl + 1, dtype=np.float64)
            base_ = np.maximum(ready.astype(np.float64) - (kk - 1) * per, start)
            t_k = np.maximum.accumulate(base_) + kk * per
            end_ = int(math.ceil(t_k[-1] - ROUND_EPS))
            return start, end_, end_ + dma_lat
        first = D_done.get(after, 0) if after >= 0 else 0
        start = max(cf, first)
        span = int(math.ceil(n_sl * per - ROUND_EPS))
        return start, start + span, start + dma_lat + span

    def evaluate(v: int) -> bool:
        """Recompute event v from its constraints; True if its time (or a DMA transfer's end) changed."""
        if v in dma_nodes:
            new = eval_dma(v)
            old = (T[v], D_end.get(v), D_done.get(v))
            T[v], D_end[v], D_done[v] = new
            return new != old
        t = 0
        for s, c, _ in g.edges[v]:
            x = T[s] + W[c]
            if x > t:
                t = x
        for s, wt in R[v]:
            x = T[s] + wt
            if x > t:
                t = x
        if t != T[v]:
            T[v] = t
            return True
        return False

    for v in order:
        evaluate(v)
    heap = []
    queued = bytearray(n)
    for v in range(n):
        p_ = pos[v]
        t = T[v]
        if v in dma_nodes:
            bad = eval_dma(v) != (t, D_end[v], D_done[v])
        else:
            bad = any(pos[s] >= p_ and T[s] + W[c] > t for s, c, _ in g.edges[v]) or any(
                pos[s] >= p_ and T[s] + w_ > t for s, w_ in R[v]
            )
        if bad:
            heap.append(p_)
            queued[v] = 1
    succ = _successors(g, R) if heap else []
    heapq.heapify(heap)
    evaluated = n
    again = [0] * n
    while heap:
        v = order[heapq.heappop(heap)]
        queued[v] = 0
        evaluated += 1
        again[v] += 1
        if again[v] > limit:
            raise OrderInfeasible(
                "the arbitration order recorded at the compile arch admits no schedule on this arch (a "
                "cycle of constraints of positive length: a slower resource would have to grant a request "
                "before one that waits for it)"
            )
        if evaluate(v):
            for u in succ[v]:
                if not queued[u]:
                    queued[u] = 1
                    heapq.heappush(heap, pos[u])
    return T, D_end, D_done, evaluated


def _stalls(g: EventGraph, T: list[int], W: list[int]) -> tuple[list[int], list[int]]:
    """(stall PE-cycles per cause, each PE's compute pipeline free time after its last compute) from the final
    times, by the greedy engine's rules."""
    order, _ = g.sweep_order()
    cause = list(g.default_cause)
    stalls = [0] * len(CAUSES)
    last_cp: dict[int, int] = {}
    for v in order:  # loads and arrivals first: computes inherit their causes
        if g.kind[v] == K_LD:
            t = 0
            c = g.default_cause[v]
            for s, cw, cc in g.edges[v]:
                x = T[s] + W[cw]
                if x > t:
                    t = x
                    if cc >= 0:
                        c = cc
            cause[v] = c
    cp_nodes = sorted((v for v in range(len(g.kind)) if g.kind[v] == K_CP), key=lambda v: (g.pe[v], v))
    for v in cp_nodes:
        e = g.pe[v]
        pf = last_cp.get(e, 0)
        t = pf
        c = 0
        for s, cw, cc in g.edges[v]:
            x = T[s] + W[cw]
            if x > t:
                t = x
                c = cause[s] if cc == INHERIT else (cc if cc >= 0 else c)
        if t > pf:
            stalls[c] += t - pf
        if T[v] > t:
            stalls[C_RFPORT] += T[v] - t
        last_cp[e] = T[v] + 1
    return stalls, [last_cp.get(e, 0) for e in range(g.n_pe)]


def _batch_end(g: EventGraph, T: list[int], done_nodes: list[int]) -> dict[int, int]:
    """Per batch: the latest completion of any iteration of it or an earlier one."""
    it_end: dict[int, int] = {}
    for v in done_nodes:
        i = g.iteration[v]
        it_end[i] = max(it_end.get(i, 0), T[v])
    batch_end: dict[int, int] = {}
    run_max = 0
    for i, b in enumerate(g.iteration_batch):
        run_max = max(run_max, it_end.get(i, 0))
        batch_end[b] = run_max
    return batch_end


def replay(program: Program, arch: DataflowArch, g: EventGraph, trace: bool = False) -> TimingStats:
    """Execute `program` on `arch` with the recorded arbitration orders; returns the engine's TimingStats."""
    wall0 = time.perf_counter()
    n = len(g.kind)
    rates = _rates(g, program, arch)
    W = rates[0]
    limit = n * n + 1 if _dominated(rates, _rates(g, program, program.compile_arch)) else MAX_REEVALUATIONS
    T, D_end, D_done, evaluated = _solve(g, program, arch, W, _resource_edges(g, rates), limit)
    stalls, pf_cp = _stalls(g, T, W)
    done_nodes = [v for v in range(n) if g.kind[v] == K_DONE]
    pe_end = max([0, *(T[v] for v in done_nodes)])
    dma_done = [0] * len(program.dma)
    dma_busy = 0
    for v, (idx, *_r) in g.dma.items():
        dma_done[idx] = D_done[v]
        dma_busy += D_end[v] - T[v]
    end = max([pe_end, *dma_done])
    stall_d = {c: stalls[k] for k, c in enumerate(CAUSES)}
    stall_d[DRAIN] = sum(end - pf_cp[e] for e in range(g.n_pe))
    trace_d = None
    if trace:
        ev = [(g.pe[v], TRACE_KIND[g.kind[v]], T[v]) for v in range(n) if g.kind[v] in TRACE_KIND]
        trace_d = KernelTrace(np.array(ev, dtype=np.int64).reshape(-1, 3), int(end), list(program.pe_coords))
    return TimingStats(
        cycles=int(end),
        stalls=stall_d,
        compute_issues=compute_issues(program),
        pe_last_compute=pf_cp,
        dma_busy_cycles=dma_busy,
        exact_iterations=len(g.iteration_batch),
        skipped_iterations=0,
        exact_instructions=g.n_instructions,
        skips=[],
        wall_s=time.perf_counter() - wall0,
        dma_done=dma_done,
        trace=trace_d,
        batch_end=_batch_end(g, T, done_nodes),
        replay_sweeps=evaluated,
        arbitration=f"static order recorded at the compile arch ({program.compile_arch.name})",
    )
