"""The machine state the compiled engine (`swallowtail.sim.engine`) reads and writes in place: per register
its ready time, last read and producer's stall cause; per PE each pipeline's and FU's next free cycle; the
reservation tables of the shared resources; every SPM slot's ready time; per iteration its completion on
each PE (the tag window); the stall counters. Plus the operations on the whole state that the driver and the
fast-forward need: the tag-window clamp, the earliest next issue (`t_min`), the reservation floor and the
shift of every time by whole periods.
"""

from __future__ import annotations

import numpy as np

from swallowtail.sim import engine
from swallowtail.sim.stats import CAUSES
from swallowtail.sim.timing.machine import PIPE_CP, PIPE_LD, PIPE_ST, PIPE_XF, Machine

#: a time earlier than any cycle
NEVER = -(1 << 40)
#: pipelines whose free time the tag-window clamp may raise (load, store, transfer; not compute: its stall
#: accounting counts from its free time)
CLAMPED_PIPES = (PIPE_LD, PIPE_ST, PIPE_XF)


class State:
    """The mutable machine state of one simulation (see the module docstring)."""

    def __init__(self, m: Machine, spm_slots: int) -> None:
        self.m = m
        n_pe, n_regs = m.n_pe, m.n_regs
        self.rr = np.zeros((n_pe, n_regs), dtype=np.int64)  # ready
        self.rl = np.full((n_pe, n_regs), NEVER, dtype=np.int64)  # last read
        self.rc = np.zeros((n_pe, n_regs), dtype=np.uint8)  # cause of the producer
        self.pf = np.zeros(
            (4, n_pe), dtype=np.int64
        )  # next free cycle of the load, store, transfer, compute pipes
        self.fu_free = np.zeros((n_pe, m.n_fu), dtype=np.int64)
        # reservation tables (engine rings): RF read ports, write ports (FU results, load data and transfer
        # arrivals share them; partitioning them -- one port for loads / arrivals -- was tried and gives more
        # scheduling anomalies), links, SPM bank groups
        rd0, wr0, link0, bank0 = 0, n_pe, 2 * n_pe, 2 * n_pe + m.n_links
        self.res = engine.Reservations(bank0 + m.groups)
        # the engine's scalars, a tuple of 11 ints (engine.run_iteration unpacks it)
        self.layout = tuple(
            int(x)
            for x in (rd0, wr0, link0, bank0, m.groups - 1, m.occ_bank, m.spm_lat)
            + (m.read_ports, m.write_ports, m.ser, m.hop)
        )
        self.spm = np.zeros(spm_slots, dtype=np.int64)  # per SPM slot: when its data is ready
        self.comp_hist: list[np.ndarray | None] = [None] * m.n_it  # per iteration: completion per PE
        self.stalls = np.zeros(len(CAUSES), dtype=np.int64)
        self.pe_end = 0  # latest completion of any iteration on any PE

    @property
    def arrays(self) -> tuple:
        """The engine's view of the machine (arrays updated in place): (rr, rl, rc, pf, fu_free, spm)."""
        return self.rr, self.rl, self.rc, self.pf, self.fu_free, self.spm

    def clamp_to_tag_window(self, i: int) -> None:
        """Before iteration i: a load / store / transfer pipeline free before iteration i - S completes on its
        PE cannot delay anything (iteration i's first instruction there waits for that completion, and the
        later ones follow it in order), so its free time is raised to that completion: the same schedule,
        and states that differ only in such slack compare equal. The compute pipeline keeps its free time
        (its stall accounting counts from it)."""
        m = self.m
        p = m.it_pass[i]
        S = m.slots_of[p]
        if i < S or self.comp_hist[i - S] is None:
            return
        lb = self.comp_hist[i - S]
        pf = self.pf
        for k in CLAMPED_PIPES:
            np.maximum(pf[k], np.where(m.has_pipe[p][k], lb, pf[k]), out=pf[k])

    def t_min(self, p: int) -> int:
        """The earliest cycle any pipeline pass p uses can issue next."""
        pf = self.pf
        tm = min(pf[PIPE_LD].min(), pf[PIPE_ST].min(), pf[PIPE_CP].min())
        if self.m.uses_xfer[p]:
            tm = min(tm, pf[PIPE_XF].min())
        return int(tm)

    def floor(self, p: int) -> int:
        """No request from an iteration of pass p or later is earlier: the earliest next issue of any pipeline
        pass p uses (later requests wait for their pipeline, transfers and stores for a register the same
        iteration wrote). The engine checks it: reservations before it are reused."""
        return int(self.pf[self.m.has_pipe[p]].min())

    def shift(self, shift: int, floor: int) -> None:
        """Every time in the machine state `shift` cycles later (reservations before `floor` dropped)."""
        for a in (self.rr, self.rl, self.pf, self.fu_free):
            a += shift
        self.res.rebuild(floor, shift)

    def relabel(self, perm_old: np.ndarray, perm_new: np.ndarray) -> None:
        """Move every register's state from its old canonical position's register to the new one."""
        if np.array_equal(perm_old, perm_new):
            return
        for a in (self.rr, self.rl, self.rc):
            a[:, perm_new] = a[:, perm_old].copy()

    def copy_tag_history(self, i: int, hi_it: int, S: int, shift: int, deepest: int) -> None:
        """After skipping iterations [i, hi_it): the completions of the S iterations before hi_it are those
        of the S before i, `shift` cycles later; the latest completion follows. Iterations further back,
        up to the `deepest` tag window of any pass (a later pass with more tag slots reads further back),
        are copied too where they were skipped (never over one that was simulated)."""
        hist = self.comp_hist
        for k in range(1, max(S, deepest) + 1):
            if k > S and hi_it - k < i:
                break
            if i - k >= 0 and hist[i - k] is not None:
                hist[hi_it - k] = hist[i - k] + shift
        self.pe_end = max(
            self.pe_end,
            max(int(h.max()) for h in hist[hi_it - S : hi_it] if h is not None),
        )
