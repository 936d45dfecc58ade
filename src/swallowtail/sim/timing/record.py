"""The event recorder: builds the Program's timed event graph (`swallowtail.sim.events`) from the greedy
engine's issue log, at the compile arch, in program order with fast-forward off. The static-order replay
(`swallowtail.sim.replay`) evaluates that graph on any other arch. Every event gets its timing constraints
(pipeline order, the tag window, RAW / WAR on registers, FU initiation intervals, SPM data from stores and
DMA) as edges, and its shared-resource requests (bank group, link, RF read / write port) with their greedy
grant times, which fix the arbitration orders.
"""

from __future__ import annotations

import numpy as np

from swallowtail.sim import engine
from swallowtail.sim.events import (
    INHERIT,
    K_ARR,
    K_CP,
    K_DMA_LD,
    K_DMA_ST,
    K_DONE,
    K_HOP,
    K_LD,
    K_ST,
    K_XF,
    KEEP,
    R_BANK,
    R_LINK,
    R_RP,
    R_WP,
    W_ARR,
    W_FU,
    W_HOP,
    W_ONE,
    W_SPM_LAT,
    W_SPM_LAT_M1,
    W_WAR_LD,
    W_ZERO,
    EventGraph,
    w_ii,
    w_lat,
    w_lat_m1,
    w_war,
)
from swallowtail.sim.stats import C_NOC, C_OPERAND, C_SPM, C_TAG
from swallowtail.sim.timing.machine import PIPE_CP, PIPE_LD, PIPE_ST, PIPE_XF


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
            g.edges[v].append((self.tag_src[e], W_ZERO, C_TAG))
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
        v = g.add(K_LD, e, t, default_cause=C_SPM)
        self._head(v, e, PIPE_LD, C_SPM)
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
        self._head(v, e, PIPE_ST, KEEP)
        self._raw(v, e, src)
        g.reqs[v].append((R_BANK, slot, t, W_ZERO, 1))
        g.reqs[v].append((R_RP, e, t, W_ZERO, 1))
        self.readers[e][src][PIPE_ST] = v
        self.slot_w[slot] = [(v, W_SPM_LAT)]
        self.comp[e]["st"] = (v, W_SPM_LAT)
        g.n_instructions += 1

    def xfer(
        self,
        e: int,
        src: int,
        peer: int,
        dst: int,
        route: tuple[int, ...],
        t: int,
        hops: list[int],
        arr: int,
    ) -> None:
        g = self.g
        v = g.add(K_XF, e, t)
        self._head(v, e, PIPE_XF, KEEP)
        self._raw(v, e, src)
        g.reqs[v].append((R_LINK, route[0], t, W_ZERO, 1))
        g.reqs[v].append((R_RP, e, t, W_ZERO, 1))
        self.readers[e][src][PIPE_XF] = v
        prev = v
        for lk, s in zip(route[1:], hops, strict=True):
            h = g.add(K_HOP, e, s)
            g.edges[h].append((prev, W_HOP, KEEP))
            g.reqs[h].append((R_LINK, lk, s, W_ZERO, 1))
            prev = h
        a = g.add(K_ARR, peer, arr, default_cause=C_NOC)
        g.edges[a].append((prev, W_ARR, KEEP))
        self._war(a, peer, dst, W_ONE, KEEP)
        g.reqs[a].append((R_WP, peer, arr, W_ZERO, 1))
        self._write(a, peer, dst, W_ONE)
        self.comp[e]["xf"] = (v, W_ONE)
        self.comp[peer][a] = (a, W_ONE)
        g.n_instructions += 1

    def compute(
        self,
        e: int,
        fu: int,
        nr: int,
        dst: int,
        a: int,
        cr: int,
        acc: int,
        t: int,
        wt: int,
    ) -> None:
        g = self.g
        v = g.add(K_CP, e, t, default_cause=C_OPERAND)
        self._head(v, e, PIPE_CP, C_OPERAND)
        self._raw(v, e, a)
        if cr >= 0:
            self._raw(v, e, cr)
        if acc >= 0:
            self._raw(v, e, acc)
        self._war(v, e, dst, w_war(fu), C_OPERAND)
        last = self.fu_last[e][fu]
        if last >= 0:
            g.edges[v].append((last, w_ii(fu), C_OPERAND))
        self.fu_last[e][fu] = v
        g.reqs[v].append((R_RP, e, t, W_ZERO, nr))
        g.reqs[v].append((R_WP, e, wt, w_lat_m1(fu), 1))
        self.readers[e][a][PIPE_CP] = v
        if cr >= 0:
            self.readers[e][cr][PIPE_CP] = v
        if acc >= 0:
            self.readers[e][acc][PIPE_CP] = v
        self._write(v, e, dst, w_lat(fu))
        self.comp[e][("cp", fu)] = (v, w_lat(fu))
        g.n_instructions += 1

    def dma(
        self,
        idx: int,
        kind: str,
        channel: int,
        start: int,
        lo: int,
        hi: int,
        after: int,
    ) -> None:
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

    # ---- the engine's issue log ----
    def feed(
        self,
        i: int,
        slots: int,
        batch: int,
        comp: np.ndarray,
        rows: np.ndarray,
        hops: np.ndarray,
        routes: list[int],
    ) -> None:
        """Iteration i's issued instructions (`engine.run_iteration`'s log rows, in grant order; `hops`: the
        transfers' further hop times; `routes`: the flat route table the rows index)."""
        self.begin(i, slots)
        hl = hops.tolist()
        for r in rows.tolist():
            k = r[0]
            if k == engine.LOG_LD:
                self.ld(r[1], r[2], r[3], r[4], r[5], r[6])
            elif k == engine.LOG_XF:
                self.xfer(
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    tuple(routes[r[5] : r[6]]),
                    r[7],
                    hl[r[8] : r[9]],
                    r[10],
                )
            elif k == engine.LOG_CP:
                self.compute(r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9])
            else:
                self.st(r[1], r[2], r[3], r[4])
        self.end(i, batch, comp.tolist())
