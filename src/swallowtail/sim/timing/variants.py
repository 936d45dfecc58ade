"""Pass variants: a pass template resolved for one (tag slot, coefficient-set parity) into the tables the
compiled engine (`engine.run_iteration`) reads -- the step list, and per step kind its rows: loads (register,
slot) and computes (reads, dst, a, coefficient, accumulator, latency, FU, initiation interval) per PE;
transfers (PE, src, dst, peer, route span) and stores (PE, k, src, slot) already in the arbiter's round-robin
order (the k-th of every PE before any (k+1)-th). Built on first use and cached per simulation.
"""

from __future__ import annotations

import numpy as np

from swallowtail.compiler.isa import (
    COMPUTE_OPS,
    OP_LD,
    OP_ST,
    OP_XFER,
    STEP_COMPUTE,
    STEP_LD,
    STEP_XFER,
    InstructionStream,
)
from swallowtail.sim import engine
from swallowtail.sim.timing.machine import Machine

#: columns of the engine's row tables
LD_COLS, XF_COLS, CP_COLS, ST_COLS, STEP_COLS = 2, 6, 8, 4, 3
#: reservations a compute instruction can make (an RF read and a write-back port)
CP_RESERVATIONS = 2
#: reservations a transfer can make besides one per link-cycle (its RF read and its arrival's write port)
XF_EXTRA_RESERVATIONS = 2


class Variant:
    """A pass template resolved for one (tag slot, coefficient parity), as the compiled engine's tables."""

    __slots__ = ("tables", "st_count", "n_log", "n_hops", "n_res")

    def __init__(self, tables: tuple, st_count: int, n_log: int, n_hops: int, n_res: int) -> None:
        self.tables = (
            tables  # (steps, ld_ptr, ld_rows, xf_rows, cp_ptr, cp_rows, st_rows): engine.run_iteration
        )
        self.st_count = st_count  # stores per PE
        self.n_log = n_log  # the most log rows one iteration writes
        self.n_hops = n_hops  # further hops of its transfers (the hop log)
        self.n_res = (
            n_res  # reservations one iteration can make (the most the overflow table may have to take)
        )


def _table(parts: list, width: int) -> np.ndarray:
    if not parts:
        return np.zeros((0, width), dtype=np.int64)
    return np.ascontiguousarray(np.concatenate(parts).reshape(-1, width), dtype=np.int64)


class _Builder:
    """Accumulates one variant's step list and row tables, step by step."""

    def __init__(self, m: Machine, t: InstructionStream, dbase: int, cbase: int) -> None:
        self.m, self.t, self.dbase, self.cbase = m, t, dbase, cbase
        self.steps: list[tuple[int, int, int]] = []
        self.ld_ptr: list = []
        self.ld_rows: list = []
        self.xf_rows: list = []
        self.cp_ptr: list = []
        self.cp_rows: list = []
        self.st_rows: list = []
        self.n_ld = self.n_xf = self.n_cp = self.n_st_rows = self.n_st = 0
        self.pe_col = np.arange(m.n_pe, dtype=np.int64)[:, None]

    def load(self, kind: str, s0: int, s1: int) -> None:
        t, n_pe, L = self.t, self.m.n_pe, s1 - s0
        assert (t.op[:, s0:s1] == OP_LD).all()
        self.steps.append((engine.STEP_CODES[kind], len(self.ld_ptr), 0))
        self.ld_ptr.append(self.n_ld + L * np.arange(n_pe + 1))
        self.ld_rows.append(
            np.stack([self.dbase + t.dst[:, s0:s1], t.slot[:, s0:s1]], axis=-1).reshape(-1, LD_COLS)
        )
        self.n_ld += n_pe * L

    def compute(self, kind: str, s0: int, s1: int) -> None:
        t, m, L, dbase = self.t, self.m, s1 - s0, self.dbase
        op = t.op[:, s0:s1]
        assert np.isin(op, COMPUTE_OPS).all()
        self.steps.append((engine.STEP_CODES[kind], len(self.cp_ptr), 0))
        self.cp_ptr.append(self.n_cp + L * np.arange(m.n_pe + 1))
        acc = t.acc[:, s0:s1]
        cols = [
            m.op_nr[op],
            dbase + t.dst[:, s0:s1],
            dbase + t.a[:, s0:s1],
            np.where(m.op_coef[op], self.cbase + t.coef[:, s0:s1], -1),
            np.where(acc >= 0, dbase + acc, -1),
            m.op_lat[op],
            m.op_fu[op],
            m.op_ii[op],
        ]
        self.cp_rows.append(np.stack(cols, axis=-1).reshape(-1, CP_COLS))
        self.n_cp += m.n_pe * L

    def xfer(self, kind: str, s0: int, s1: int) -> None:
        t, m, L, dbase = self.t, self.m, s1 - s0, self.dbase
        assert (t.op[:, s0:s1] == OP_XFER).all()
        e_ = np.broadcast_to(self.pe_col, (m.n_pe, L))
        peer = t.peer[:, s0:s1]
        cols = [e_, dbase + t.a[:, s0:s1], dbase + t.dst[:, s0:s1], peer]
        cols += [m.span_lo[e_, peer], m.span_hi[e_, peer]]
        self.xf_rows.append(np.stack(cols, axis=-1).transpose(1, 0, 2).reshape(-1, XF_COLS))
        self.steps.append((engine.STEP_CODES[kind], self.n_xf, self.n_xf + m.n_pe * L))
        self.n_xf += m.n_pe * L

    def store(self, kind: str, s0: int, s1: int) -> None:
        t, n_pe, L = self.t, self.m.n_pe, s1 - s0
        assert (t.op[:, s0:s1] == OP_ST).all()
        e_ = np.broadcast_to(self.pe_col, (n_pe, L))
        k_ = np.broadcast_to(np.arange(L), (n_pe, L))
        cols = [e_, k_, self.dbase + t.a[:, s0:s1], t.slot[:, s0:s1]]
        self.st_rows.append(np.stack(cols, axis=-1).transpose(1, 0, 2).reshape(-1, ST_COLS))
        self.steps.append((engine.STEP_CODES[kind], self.n_st_rows, self.n_st_rows + n_pe * L))
        self.n_st_rows += n_pe * L
        self.n_st += L

    def finish(self) -> Variant:
        m = self.m
        xf = _table(self.xf_rows, XF_COLS)
        tables = (
            _table([np.array(self.steps, dtype=np.int64)], STEP_COLS),
            _table(self.ld_ptr, m.n_pe + 1),
            _table(self.ld_rows, LD_COLS),
            xf,
            _table(self.cp_ptr, m.n_pe + 1),
            _table(self.cp_rows, CP_COLS),
            _table(self.st_rows, ST_COLS),
        )
        coef_loads = (
            len(self.ld_ptr) * m.n_pe * m.max_pref
        )  # the most coefficient loads appended to load steps
        return Variant(
            tables=tables,
            st_count=self.n_st,
            n_log=self.n_ld + self.n_xf + self.n_cp + self.n_st_rows + coef_loads,
            n_hops=int((xf[:, 5] - xf[:, 4] - 1).sum()),
            n_res=(self.n_ld + coef_loads + self.n_st_rows) * (m.occ_bank + 1)
            + int((m.ser * (xf[:, 5] - xf[:, 4]) + XF_EXTRA_RESERVATIONS).sum())
            + CP_RESERVATIONS * self.n_cp,
        )


class Variants:
    """The variants of one Program on one arch, built on first use."""

    def __init__(self, m: Machine) -> None:
        self.m = m
        self._cache: dict[tuple[int, int, int], Variant] = {}

    def get(self, p: int, slot: int, par: int) -> Variant:
        """Pass p's variant for tag slot `slot` and coefficient set `par`."""
        key = (p, slot, par)
        v = self._cache.get(key)
        if v is None:
            v = self._cache[key] = self._build(p, slot, par)
        return v

    def _build(self, p: int, slot: int, par: int) -> Variant:
        m = self.m
        t = m.program.templates[p]
        b = _Builder(m, t, dbase=m.n_sets * m.cset + slot * t.data_regs, cbase=par * m.cset)
        for kind, s0, s1 in t.steps:
            if kind == STEP_LD:
                b.load(kind, s0, s1)
            elif kind == STEP_COMPUTE:
                b.compute(kind, s0, s1)
            elif kind == STEP_XFER:  # transfers and stores: round-robin over the PEs
                b.xfer(kind, s0, s1)
            else:
                b.store(kind, s0, s1)
        return b.finish()
