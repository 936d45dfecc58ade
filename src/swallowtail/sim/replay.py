"""Static arbitration order: the timed event graph of a Program, recorded once at the arch it was compiled
for and replayed on any other arch (more link / SPM / DMA bandwidth, other latencies).

Why: the timing engine (`swallowtail.sim.timing`) grants shared resources greedily -- each request takes the
first free cycle of an RF port, link or SPM bank group. Greedy work-conserving arbitration is not monotone
(Graham's scheduling anomalies, 1969): with more bandwidth a request can take a cycle a later one would have
used, and a kernel can end up a few cycles *slower*. A machine whose arbiters follow a fixed order is
monotone. So the compiler's greedy schedule at the compile arch fixes, for every shared resource, the order
in which requests are granted (ties: grant order), and every DMA transfer's channel; on any other arch the
Program is executed with those orders (each arbiter grants FIFO in its recorded order).

What is recorded: one node per event -- load, store, transfer issue, each further hop of a transfer, its
arrival at the receiver, compute instruction, each iteration's completion on each PE (the tag window), each
DMA transfer -- with its timing constraints as max-plus edges `t(v) >= t(u) + w`, where `w` is symbolic
(`W_*` codes: an FU latency, the SPM latency, a hop, a vector's serialisation on a link, a DMA slot's
arrival ...) and evaluated for the arch it is replayed on. Shared resources are per-request constraints on
the resource time `t(v) + offset`:

- a unit resource held `occ` cycles (a link: ceil(vector / link bytes); an SPM bank group: ceil(vector /
  line)): not before the previous request in its order has released it;
- a capacity resource (RF read ports: demand = operands read; write ports: demand 1), `cap` per cycle: not
  before the previous request in order, and one cycle after the request holding the unit position
  `cap` before this request's last one (next-fit packing in order, written as a max-plus constraint).

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
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field

import numpy as np

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.geometry import SpmGeometry

# event kinds
K_LD, K_ST, K_XF, K_CP, K_HOP, K_ARR, K_DONE, K_DMA_LD, K_DMA_ST = range(9)
# resource classes
R_BANK, R_LINK, R_RP, R_WP = range(4)
# symbolic weights (W_LAT / W_WAR / W_II are followed by one code per FU class; W_DMA codes are appended)
W_ZERO, W_ONE, W_SPM_LAT, W_WAR_LD, W_HOP, W_ARR, W_SPM_LAT_M1 = range(7)
W_FU = 7  # W_FU + 4 f + (0 latency, 1 write-after-read slack 2 - latency, 2 initiation interval, 3 latency-1)
#: edge cause codes beyond the stall causes: keep the current cause / take the source event's cause
KEEP, INHERIT = -1, -2


#: on an arch not at least as fast as the compile arch in every duration: re-evaluations of one event after
#: which the replay gives up (a positive cycle of constraints: the recorded order would deadlock). On a
#: faster arch it never gives up (the compile-arch schedule satisfies every constraint there)
MAX_REEVALUATIONS = 2000


class OrderInfeasible(Exception):
    """The recorded arbitration order cannot be honoured on this arch (it would deadlock)."""


def w_lat(fu: int) -> int:
    return W_FU + 4 * fu


def w_war(fu: int) -> int:
    return W_FU + 4 * fu + 1


def w_ii(fu: int) -> int:
    return W_FU + 4 * fu + 2


def w_lat_m1(fu: int) -> int:
    return W_FU + 4 * fu + 3


@dataclass
class EventGraph:
    """The recorded events of one Program at its compile arch (see the module docstring)."""

    fu_names: list[str]
    n_pe: int
    kind: list[int] = field(default_factory=list)
    pe: list[int] = field(default_factory=list)
    t0: list[int] = field(default_factory=list)  # time at the compile arch (the sweep order)
    edges: list[list[tuple[int, int, int]]] = field(default_factory=list)  # (source, weight code, cause)
    # resource requests: (class, key, compile-arch resource time, offset weight code, demand)
    reqs: list[list[tuple[int, int, int, int, int]]] = field(default_factory=list)
    default_cause: list[int] = field(default_factory=list)
    iteration: list[int] = field(default_factory=list)  # completion events: the iteration, else -1
    dma: dict[int, tuple] = field(default_factory=dict)  # DMA event -> (op index, channel pred event, ...)
    dma_slot_w: list[tuple[int, int]] = field(default_factory=list)  # W_DMA code - base -> (op index, k)
    w_dma_base: int = 0  # the first W_DMA code (after the FU codes)
    n_instructions: int = 0
    iteration_batch: list[int] = field(default_factory=list)
    _order: tuple[list[int], list[int]] | None = None
    _res: dict[int, dict] = field(default_factory=dict)

    def sweep_order(self) -> tuple[list[int], list[int]]:
        """Events by compile-arch time (ties: grant order), and each event's position in that order."""
        if self._order is None:
            order = sorted(range(len(self.kind)), key=lambda v: (self.t0[v], v))
            pos = [0] * len(order)
            for k, v in enumerate(order):
                pos[v] = k
            self._order = (order, pos)
        return self._order

    def resource_orders(self, groups: int) -> dict[tuple[int, int], list[tuple[int, int, int, int]]]:
        """Per resource (class, key), its requests (time, event, offset code, demand) in compile-arch time
        order (ties: grant order), SPM bank keys mapped to `groups` bank groups."""
        got = self._res.get(groups)
        if got is None:
            got = {}
            for v, reqs in enumerate(self.reqs):
                for cls, key, rt, off, dem in reqs:
                    got.setdefault((cls, key % groups if cls == R_BANK else key), []).append(
                        (rt, v, off, dem)
                    )
            for lst in got.values():
                lst.sort()
            self._res[groups] = got
        return got

    def add(self, kind: int, pe: int, t: int, default_cause: int = KEEP, iteration: int = -1) -> int:
        v = len(self.kind)
        self.kind.append(kind)
        self.pe.append(pe)
        self.t0.append(t)
        self.edges.append([])
        self.reqs.append([])
        self.default_cause.append(default_cause)
        self.iteration.append(iteration)
        return v


class Recorder:
    """Builds the EventGraph from the greedy engine's hooks (program order, fast-forward off)."""

    def __init__(self, n_pe: int, n_regs: int, fu_names: list[str], n_it: int) -> None:
        self.g = EventGraph(fu_names=fu_names, n_pe=n_pe, w_dma_base=W_FU + 4 * len(fu_names))
        self.prod: list[list[tuple[int, int, int] | None]] = [[None] * n_regs for _ in range(n_pe)]
        # readers of a register's value since it was written: the last one per pipeline (the earlier ones
        # are dominated through pipeline order); the previous value's if the current one has none yet
        self.readers: list[list[dict[int, int]]] = [[{} for _ in range(n_regs)] for _ in range(n_pe)]
        self.old_readers: list[list[dict[int, int]]] = [[{} for _ in range(n_regs)] for _ in range(n_pe)]
        self.pipe = [[-1] * 4 for _ in range(n_pe)]  # last event of each pipeline: LD, ST, XF, CP
        self.pipe_it = [[-1] * 4 for _ in range(n_pe)]  # iteration of that event
        self.fu_last = [[-1] * len(fu_names) for _ in range(n_pe)]
        self.slot_w: dict[int, list[tuple[int, int]]] = {}
        self.done: list[list[int] | None] = [None] * n_it
        # per PE: the events that bound the iteration's completion there (the last per pipeline / FU, and
        # every arrival), as (event, weight code)
        self.comp: list[dict[object, tuple[int, int]]] = [{} for _ in range(n_pe)]
        self.it = -1
        self.tag_src: list[int] | None = None
        self.ch_last: dict[int, int] = {}
        self.dma_event: dict[int, int] = {}

    # ---- iterations ----
    def begin(self, i: int, slots: int) -> None:
        self.it = i
        self.tag_src = self.done[i - slots] if i >= slots else None
        self.comp = [{} for _ in range(self.g.n_pe)]

    def end(self, i: int, batch: int, comp: list[int]) -> None:
        g = self.g
        ids = []
        for e in range(g.n_pe):
            v = g.add(K_DONE, e, comp[e], iteration=i)
            g.edges[v] = [(s, w, KEEP) for s, w in self.comp[e].values()]
            ids.append(v)
        self.done[i] = ids
        g.iteration_batch.append(batch)

    # ---- helpers ----
    def _head(self, v: int, e: int, pipe: int, cause_pipe: int) -> None:
        """Pipeline order (+1) and, for the iteration's first event of the pipeline, the tag window."""
        g = self.g
        last = self.pipe[e][pipe]
        if last >= 0:
            g.edges[v].append((last, W_ONE, cause_pipe))
        if self.pipe_it[e][pipe] != self.it and self.tag_src is not None:
            g.edges[v].append((self.tag_src[e], W_ZERO, 4))  # C_TAG
        self.pipe[e][pipe] = v
        self.pipe_it[e][pipe] = self.it

    def _raw(self, v: int, e: int, reg: int) -> None:
        p = self.prod[e][reg]
        if p is not None:
            self.g.edges[v].append((p[0], p[1], INHERIT))

    def _war(self, v: int, e: int, reg: int, w: int, cause: int) -> None:
        rd = self.readers[e][reg] or self.old_readers[e][reg]
        for r in rd.values():
            self.g.edges[v].append((r, w, cause))

    def _write(self, v: int, e: int, reg: int, w: int) -> None:
        if self.readers[e][reg]:
            self.old_readers[e][reg] = self.readers[e][reg]
            self.readers[e][reg] = {}
        self.prod[e][reg] = (v, w, 0)

    # ---- events (called in program order with the greedy times) ----
    def ld(self, e: int, dst: int, slot: int, t: int, wt: int, spm_cause: int) -> None:
        """A load issued at t writing its register at wt; `spm_cause`: the stall cause if its data binds."""
        g = self.g
        v = g.add(K_LD, e, t, default_cause=2)  # C_SPM
        self._head(v, e, 0, 2)
        for src, w in self.slot_w.get(slot, ()):
            g.edges[v].append((src, w, spm_cause))
        self._war(v, e, dst, W_WAR_LD, KEEP)
        g.reqs[v].append((R_BANK, slot, t, W_ZERO, 1))
        g.reqs[v].append((R_WP, e, wt, W_SPM_LAT_M1, 1))
        self._write(v, e, dst, W_SPM_LAT)
        self.comp[e]["ld"] = (v, W_SPM_LAT)
        g.n_instructions += 1

    def st(self, e: int, src: int, slot: int, t: int) -> None:
        g = self.g
        v = g.add(K_ST, e, t)
        self._head(v, e, 1, KEEP)
        self._raw(v, e, src)
        g.reqs[v].append((R_BANK, slot, t, W_ZERO, 1))
        g.reqs[v].append((R_RP, e, t, W_ZERO, 1))
        self.readers[e][src][1] = v
        self.slot_w[slot] = [(v, W_SPM_LAT)]
        self.comp[e]["st"] = (v, W_SPM_LAT)
        g.n_instructions += 1

    def xfer(
        self, e: int, src: int, peer: int, dst: int, route: tuple[int, ...], t: int, hops: list[int], arr: int
    ) -> None:
        g = self.g
        v = g.add(K_XF, e, t)
        self._head(v, e, 2, KEEP)
        self._raw(v, e, src)
        g.reqs[v].append((R_LINK, route[0], t, W_ZERO, 1))
        g.reqs[v].append((R_RP, e, t, W_ZERO, 1))
        self.readers[e][src][2] = v
        prev = v
        for lk, s in zip(route[1:], hops, strict=True):
            h = g.add(K_HOP, e, s)
            g.edges[h].append((prev, W_HOP, KEEP))
            g.reqs[h].append((R_LINK, lk, s, W_ZERO, 1))
            prev = h
        a = g.add(K_ARR, peer, arr, default_cause=1)  # C_NOC
        g.edges[a].append((prev, W_ARR, KEEP))
        self._war(a, peer, dst, W_ONE, KEEP)
        g.reqs[a].append((R_WP, peer, arr, W_ZERO, 1))
        self._write(a, peer, dst, W_ONE)
        self.comp[e]["xf"] = (v, W_ONE)
        self.comp[peer][a] = (a, W_ONE)
        g.n_instructions += 1

    def compute(self, e: int, fu: int, nr: int, dst: int, a: int, cr: int, acc: int, t: int, wt: int) -> None:
        g = self.g
        v = g.add(K_CP, e, t, default_cause=0)  # C_OPERAND
        self._head(v, e, 3, 0)
        self._raw(v, e, a)
        if cr >= 0:
            self._raw(v, e, cr)
        if acc >= 0:
            self._raw(v, e, acc)
        self._war(v, e, dst, w_war(fu), 0)
        last = self.fu_last[e][fu]
        if last >= 0:
            g.edges[v].append((last, w_ii(fu), 0))
        self.fu_last[e][fu] = v
        g.reqs[v].append((R_RP, e, t, W_ZERO, nr))
        g.reqs[v].append((R_WP, e, wt, w_lat_m1(fu), 1))
        self.readers[e][a][3] = v
        if cr >= 0:
            self.readers[e][cr][3] = v
        if acc >= 0:
            self.readers[e][acc][3] = v
        self._write(v, e, dst, w_lat(fu))
        self.comp[e][("cp", fu)] = (v, w_lat(fu))
        g.n_instructions += 1

    def dma(self, idx: int, kind: str, channel: int, start: int, lo: int, hi: int, after: int) -> None:
        g = self.g
        v = g.add(K_DMA_ST if kind == "store" else K_DMA_LD, -1, start)
        self.dma_event[idx] = v
        ch_pred = self.ch_last.get(channel, -1)
        self.ch_last[channel] = v
        if kind == "store":
            ready = [list(self.slot_w.get(s, ())) for s in range(lo, hi)]
            g.dma[v] = (idx, ch_pred, ready, -1)
        else:
            g.dma[v] = (idx, ch_pred, None, self.dma_event[after] if after >= 0 else -1)
            for k, s in enumerate(range(lo, hi)):
                code = g.w_dma_base + len(g.dma_slot_w)
                g.dma_slot_w.append((idx, k + 1))
                self.slot_w.setdefault(s, []).append((v, code))


def _weights(g: EventGraph, program, arch: DataflowArch) -> list[int]:  # noqa: ANN001
    """Every symbolic weight code's value on `arch` (a list indexed by the code)."""
    model = program.model
    geo = SpmGeometry.of(arch)
    spm_lat = model.spm_latency_cycles
    ser = max(1, math.ceil(geo.vec_bytes / arch.noc.link_bytes_per_cycle))
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
        w.append(arch.dma.latency_cycles + int(math.ceil(k * per - 1e-9)))
    return w


def _rates(g: EventGraph, program, arch: DataflowArch) -> tuple[list[int], int, dict, dict]:  # noqa: ANN001
    """(weights, SPM bank groups, occupancy per unit resource class, capacity per port class) on `arch`."""
    geo = SpmGeometry.of(arch)
    occ = {R_BANK: geo.occupancy, R_LINK: max(1, math.ceil(geo.vec_bytes / arch.noc.link_bytes_per_cycle))}
    cap = {R_RP: arch.pe.register_file.read_ports, R_WP: arch.pe.register_file.write_ports}
    return _weights(g, program, arch), geo.groups, occ, cap


def replay(program, arch: DataflowArch, g: EventGraph, trace: bool = False):  # noqa: ANN001, ANN201
    """Execute `program` on `arch` with the recorded arbitration orders; returns the engine's TimingStats."""
    from swallowtail.sim.timing import C_RFPORT, CAUSES, DRAIN, TimingStats

    wall0 = time.perf_counter()
    n = len(g.kind)
    W, G, occ, cap = _rates(g, program, arch)
    # at least as fast as the compile arch in every duration and resource: the compile-arch schedule then
    # satisfies every constraint, so the least fixed point exists (and is no later); otherwise a positive
    # cycle is possible and the worklist gives up after MAX_REEVALUATIONS of one event
    W0, G0, occ0, cap0 = _rates(g, program, program.compile_arch)
    dominated = (
        all(a <= b for a, b in zip(W, W0, strict=True))
        and G % G0 == 0
        and all(occ[k] <= occ0[k] for k in occ)
        and all(cap[k] >= cap0[k] for k in cap)
    )
    limit = n * n + 1 if dominated else MAX_REEVALUATIONS

    # ---- resources: each request after the previous one in compile-arch time order (ties: grant order),
    # per resource of *this* arch (its bank groups, occupancies, port counts), as edges t(v) >= t(u) + w ----
    R: list[list[tuple[int, int]]] = [[] for _ in range(n)]
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

    # ---- sweeps in compile-arch time order (ties: grant order) ----
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
            ready = np.array([max([0, *(T[s] + W[c] for s, c in lst)]) for lst in ready_src], dtype=np.int64)
            start = max(cf, int(ready.min()))
            kk = np.arange(1, n_sl + 1, dtype=np.float64)
            base_ = np.maximum(ready.astype(np.float64) - (kk - 1) * per, start)
            t_k = np.maximum.accumulate(base_) + kk * per
            end_ = int(math.ceil(t_k[-1] - 1e-9))
            return start, end_, end_ + dma_lat
        first = D_done.get(after, 0) if after >= 0 else 0
        start = max(cf, first)
        span = int(math.ceil(n_sl * per - 1e-9))
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

    # one sweep in compile-arch time order (ties: grant order) gets almost every event right; a worklist (by
    # sweep position) then re-evaluates, from the events with a violated constraint through a later-swept
    # source, whatever changes, until nothing does: the least fixed point (times only grow from zero)
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
    # the constraint graph's successors (DMA transfers: their channel predecessor, the transfer they wait
    # for, the stores that fill their slots)
    succ: list[list[int]] = [[] for _ in range(n if heap else 0)]
    for v in range(len(succ)):
        for s, _c, _ in g.edges[v]:
            succ[s].append(v)
        for s, _w in R[v]:
            succ[s].append(v)
    for v, (_idx, ch_pred, ready_src, after) in dma_nodes.items() if heap else ():
        for u in (ch_pred, after):
            if u >= 0:
                succ[u].append(v)
        for lst in ready_src or ():
            for u, _c in lst:
                succ[u].append(v)
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

    # ---- causes and stalls from the final times (the greedy engine's rules) ----
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
    cp_nodes = sorted((v for v in range(n) if g.kind[v] == K_CP), key=lambda v: (g.pe[v], v))
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
    done_nodes = [v for v in range(n) if g.kind[v] == K_DONE]
    pe_end = max([0, *(T[v] for v in done_nodes)])
    dma_done = [0] * len(program.dma)
    dma_busy = 0
    for v, (idx, *_r) in g.dma.items():
        dma_done[idx] = D_done[v]
        dma_busy += D_end[v] - T[v]
    end = max([pe_end, *dma_done])
    n_active = g.n_pe
    pf_cp = [last_cp.get(e, 0) for e in range(n_active)]
    stall_d = {c: stalls[k] for k, c in enumerate(CAUSES)}
    stall_d[DRAIN] = sum(end - pf_cp[e] for e in range(n_active))
    # per batch: the latest completion of any iteration of it or an earlier one
    it_end: dict[int, int] = {}
    for v in done_nodes:
        i = g.iteration[v]
        it_end[i] = max(it_end.get(i, 0), T[v])
    batch_end: dict[int, int] = {}
    run_max = 0
    for i, b in enumerate(g.iteration_batch):
        run_max = max(run_max, it_end.get(i, 0))
        batch_end[b] = run_max
    sch = program.schedule
    from swallowtail.compiler.kernels import COMPUTE_OPS

    per_pass = np.bincount(sch.pass_, minlength=len(program.templates))
    n_compute = sum(
        int(np.isin(t.op[0], COMPUTE_OPS).sum()) * n_active * int(c)
        for t, c in zip(program.templates, per_pass, strict=True)
    )
    trace_d = None
    if trace:
        code = {K_CP: 0, K_XF: 1, K_LD: 2, K_ST: 3}
        ev = [(g.pe[v], code[g.kind[v]], T[v]) for v in range(n) if g.kind[v] in code]
        trace_d = {
            "events": np.array(ev, dtype=np.int64).reshape(-1, 3),
            "cycles": end,
            "pes": program.pe_coords,
        }
    return TimingStats(
        cycles=int(end),
        stalls=stall_d,
        compute_issues=n_compute,
        pe_last_compute=pf_cp,
        dma_busy_cycles=dma_busy,
        link_busy_cycles=0,
        spm_bank_busy_cycles=0,
        exact_iterations=len(g.iteration_batch),
        skipped_iterations=0,
        exact_instructions=g.n_instructions,
        skips=[],
        wall_s=time.perf_counter() - wall0,
        dma_done=dma_done,
        trace=trace_d,
        batch_end=batch_end,
        replay_sweeps=evaluated,
        arbitration=f"static order recorded at the compile arch ({program.compile_arch.name})",
    )
