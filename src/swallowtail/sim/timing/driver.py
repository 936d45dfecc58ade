"""The driver: `simulate_timing` picks the arbitration (greedy at the compile arch, the recorded static order
elsewhere: `swallowtail.sim.replay`) and, for greedy, runs the Program iteration by iteration -- DMA groups at
batch boundaries, the fast-forward's checks at iteration and batch boundaries, one compiled
`engine.run_iteration` per exactly simulated iteration, its issue log to the event recorder and the trace --
then drains the DMA and assembles the `TimingStats`.
"""

from __future__ import annotations

import time

import numpy as np

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.isa import COMPUTE_READS, OPCODE_NAMES
from swallowtail.compiler.program import Program
from swallowtail.errors import SpecError
from swallowtail.sim import engine
from swallowtail.sim.events import EventGraph
from swallowtail.sim.replay import OrderInfeasible, replay
from swallowtail.sim.stats import (
    C_DMA,
    C_SPM,
    CAUSES,
    DRAIN,
    TimingStats,
    compute_issues,
)
from swallowtail.sim.timing.dma import Dma
from swallowtail.sim.timing.fastforward import PREFETCHES, FastForward
from swallowtail.sim.timing.machine import PIPE_CP, Machine
from swallowtail.sim.timing.record import Recorder
from swallowtail.sim.timing.state import State
from swallowtail.sim.timing.trace import Trace
from swallowtail.sim.timing.variants import Variants

#: iterations between clean-ups of the reservation tables' overflow (bounds memory; no effect on results)
PRUNE_EVERY = 16
#: columns of a coefficient-load row (`pref`): register base, slot base, v0, v1
PREF_COLS = 4


def check_ports(program: Program, arch: DataflowArch) -> None:
    """An instruction that reads more registers than the RF has read ports could never issue."""
    ops = {int(o) for t in program.templates for o in np.unique(t.op[0])}
    reads = {o: COMPUTE_READS[o] for o in ops if o in COMPUTE_READS}
    rp = arch.pe.register_file.read_ports
    if reads and max(reads.values()) > rp:
        o = max(reads, key=reads.get)
        raise SpecError(
            "arch.pe.register_file.read_ports",
            rp,
            f">= {reads[o]}: the program's {OPCODE_NAMES[o]} instructions read {reads[o]} registers at once",
        )


def event_graph(program: Program) -> EventGraph:
    """The Program's event graph with its arbitration orders, recorded (once) at its compile arch."""
    g = getattr(program, "_event_graph", None)
    if g is None:
        g = simulate_timing(program, program.compile_arch, fast_forward=False, record=True).graph
        program._event_graph = g
    return g


def simulate_timing(
    program: Program,
    arch: DataflowArch,
    fast_forward: bool = True,
    trace: bool = False,
    record: bool = False,
    static_order: bool | None = None,
) -> TimingStats:
    """Time `program` on `arch`. At the arch it was compiled for: greedy arbitration, which also fixes
    the arbitration order; on any other arch (`program.compile_arch` differs): that order replayed
    (`swallowtail.sim.replay`), so that more bandwidth can never make the kernel slower. `static_order`
    forces the replay (True) or greedy arbitration (False); `record` returns the event graph."""
    check_ports(program, arch)
    if static_order is None:
        static_order = program.compile_arch is not None and arch != program.compile_arch and not record
    if static_order:
        try:
            return replay(program, arch, event_graph(program), trace=trace)
        except OrderInfeasible as exc:  # only on an arch slower than the compile arch
            ts = simulate_timing(program, arch, fast_forward, trace, static_order=False)
            ts.arbitration = f"greedy ({exc})"
            return ts
    if record:
        fast_forward = False
    return GreedyRun(program, arch, fast_forward, trace, record).run()


class GreedyRun:
    """One greedy simulation of a Program on an arch (see the module docstring)."""

    def __init__(
        self,
        program: Program,
        arch: DataflowArch,
        fast_forward: bool,
        trace: bool,
        record: bool,
    ) -> None:
        self.wall0 = time.perf_counter()
        self.program = program
        self.m = m = Machine(program, arch)
        self.s = s = State(m, program.spm.total_slots)
        self.rec = Recorder(m.n_pe, m.n_regs, m.fu_names, m.n_it) if record else None
        self.dma = Dma(program, arch, s.spm, self.rec)
        self.dma.issue_until(self.dma.initial_end)
        self.trace = Trace() if trace else None
        self.variants = Variants(m)
        self.ff = FastForward(m, s, self.dma, self.trace) if fast_forward else None
        self.logging = self.rec is not None or self.trace is not None
        # the engine's per-iteration inputs and outputs
        self.no_hist = np.zeros(m.n_pe, dtype=np.int64)
        self.pref = np.zeros(
            (PREFETCHES, PREF_COLS), dtype=np.int64
        )  # coefficient loads: (reg, slot, v0, v1)
        self.no_cs = np.zeros((m.n_pe, 1), dtype=np.int64)
        self.log = np.zeros((1, engine.LOG_WIDTH), dtype=np.int64)
        self.hop_log = np.zeros(1, dtype=np.int64)
        self.exact_iters = 0
        self.exact_instr = 0

    def run(self) -> TimingStats:
        """Every iteration in program order, fast-forwarding where the machine provably repeats itself."""
        m, s, dma, ff, tr = self.m, self.s, self.dma, self.ff, self.trace
        n_it = m.n_it
        cur_batch = m.it_batch[0] if n_it else -1
        batch_end: dict[int, int] = {}  # per batch run to its end: the latest completion so far
        i = 0
        while i < n_it:
            if tr is not None:
                tr.mark(i)
            b = m.it_batch[i]
            if b != cur_batch:
                if (
                    i > 0 and m.it_batch[i - 1] == cur_batch
                ):  # the batch ran to its end (not fast-forwarded past)
                    batch_end[cur_batch] = s.pe_end
                dma.issue_until(dma.group_end(cur_batch))
                cur_batch = b
                if ff is not None:
                    j = ff.at_batch(i)
                    if j != i:
                        i = j
                        cur_batch = m.it_batch[i] if i < n_it else cur_batch
                        continue
            if ff is not None and i > 0:
                j = ff.at_iteration(i)
                if j != i:
                    i = j
                    continue
            self._iteration(i)
            i += 1
            if i == n_it:
                batch_end[b] = s.pe_end
        dma.issue_until(len(dma.ops) - 1)  # drain: the remaining DMA (stores of the last batches)
        return self._stats(batch_end)

    def _coefficient_loads(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Fill `pref` with iteration i's coefficient loads; their slot tables (PEs, registers)."""
        m, pref = self.m, self.pref
        pref.fill(0)
        pcs = [self.no_cs, self.no_cs]
        for q in range(PREFETCHES):
            uu = m.pf_u[i][q]
            if uu >= 0:
                v0 = m.pf_v0[i][q]
                pref[q] = (
                    m.inst_set[uu] * m.cset,
                    m.inst_cb[uu],
                    v0,
                    max(v0, m.pf_v1[i][q]),
                )
                pcs[q] = m.coef_slot[m.inst_pass[uu]]
        return pcs[0], pcs[1]

    def _iteration(self, i: int) -> None:
        """Simulate iteration i exactly (the compiled engine), then its bookkeeping."""
        m, s = self.m, self.s
        p = m.it_pass[i]
        S = m.slots_of[p]
        floor = s.floor(p)
        if i % PRUNE_EVERY == 0 and s.res.ovf_n[0]:
            s.res.rebuild(floor)
        var = self.variants.get(p, i % S, m.inst_set[m.it_seq[i]])
        s.res.room(var.n_res, floor)
        tag_lbs = (
            s.comp_hist[i - S] if i >= S else self.no_hist
        )  # the tag window: iteration i - S's completion
        pcs0, pcs1 = self._coefficient_loads(i)
        if self.logging and self.log.shape[0] < var.n_log:
            self.log = np.zeros((var.n_log, engine.LOG_WIDTH), dtype=np.int64)
        if self.logging and self.hop_log.shape[0] < var.n_hops:
            self.hop_log = np.zeros(var.n_hops, dtype=np.int64)
        stw = np.zeros((m.n_pe, var.st_count), dtype=np.int64)
        comp = np.zeros(m.n_pe, dtype=np.int64)
        ext, n_ins, n_log, n_hop, bad = engine.run_iteration(
            var.tables,
            m.routes_np,
            m.it_base[i],
            tag_lbs,
            C_DMA if p == 0 else C_SPM,
            self.pref,
            pcs0,
            pcs1,
            s.arrays,
            s.res.tables,
            floor,
            s.layout,
            (s.stalls, comp, stw, self.log, self.hop_log),
            self.logging,
        )
        if bad:
            raise RuntimeError(f"timing engine: {bad} requests before the reservation floor in iteration {i}")
        self.exact_instr += n_ins
        if self.trace is not None:
            self.trace.feed(self.log[:n_log])
        if self.rec is not None:
            self.rec.feed(
                i,
                S,
                m.it_batch[i],
                comp,
                self.log[:n_log],
                self.hop_log[:n_hop],
                m.routes_flat,
            )
        s.comp_hist[i] = comp
        s.pe_end = max(s.pe_end, int(comp.max()))
        if self.ff is not None:
            self.ff.record(i, stw, ext)
        self.exact_iters += 1

    def _stats(self, batch_end: dict[int, int]) -> TimingStats:
        m, s, dma, ff = self.m, self.s, self.dma, self.ff
        end = max([s.pe_end, *dma.done])
        pf_cp = s.pf[PIPE_CP]
        stall_d = {c: int(s.stalls[k]) for k, c in enumerate(CAUSES)}
        stall_d[DRAIN] = int((end - pf_cp).sum())
        return TimingStats(
            cycles=int(end),
            stalls=stall_d,
            compute_issues=compute_issues(self.program),
            pe_last_compute=pf_cp.tolist(),
            dma_busy_cycles=dma.busy,
            exact_iterations=self.exact_iters,
            skipped_iterations=ff.skipped if ff is not None else 0,
            exact_instructions=self.exact_instr,
            skips=ff.skips if ff is not None else [],
            wall_s=time.perf_counter() - self.wall0,
            dma_done=dma.done,
            batch_end=batch_end,
            trace=self.trace.result(end, m.coords) if self.trace is not None else None,
            graph=self.rec.g if self.rec is not None else None,
        )
