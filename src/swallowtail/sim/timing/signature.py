"""Machine-state signatures for the fast-forward. At an iteration boundary the state is taken relative to the
earliest cycle any pipeline can issue next (`t_min`): values that can no longer bind are clamped, so that two
boundaries whose futures are the same compare equal. Registers are compared in canonical order -- the
boundary's tag slot first, its coefficient set first -- since the register allocation rotates with them.

Two signatures: a cheap one (pipelines, FUs, tag history and the iteration's phase) that differs whenever
the full one does, used to skip most full comparisons; and the full one (adds every register's ready / last
read / producer cause and the live reservations).
"""

from __future__ import annotations

import numpy as np

from swallowtail.sim.timing.machine import Machine
from swallowtail.sim.timing.state import State

#: tag-history entry of an iteration not simulated (before the first, or fast-forwarded past)
NO_HISTORY = -2
#: relative last-read time of a register not read since t_min (all such are equivalent)
READ_BEFORE = -1
#: producer cause of a register whose value is already ready (it can no longer cause a stall)
NO_CAUSE = 255


class Signatures:
    """Signatures of the machine state at iteration boundaries (see the module docstring)."""

    def __init__(self, m: Machine, s: State) -> None:
        self.m = m
        self.s = s

    def reg_perm(self, i: int) -> np.ndarray:
        """perm[c] = the physical register at canonical position c for iteration i's phase."""
        m = self.m
        p = m.it_pass[i]
        S = m.slots_of[p]
        D = m.program.templates[p].data_regs
        cset, n_sets = m.cset, m.n_sets
        base_d = n_sets * cset
        perm = np.arange(m.n_regs, dtype=np.int64)
        s0 = i % S
        for k in range(S):
            perm[base_d + k * D : base_d + (k + 1) * D] = base_d + ((s0 + k) % S) * D + np.arange(D)
        cur = m.inst_set[m.it_seq[i]]
        if n_sets == 2:
            order = [cur, 1 - cur]
        elif n_sets > 2:
            b0 = m.set_base_of_pass[p]
            J = m.program.templates[p].plan.n_instances
            rot = [b0 + (m.it_inst[i] + k) % J for k in range(J)]
            order = list(range(b0)) + rot + list(range(b0 + J, n_sets))
        else:
            order = list(range(n_sets))
        for k, s_ in enumerate(order):
            perm[k * cset : (k + 1) * cset] = s_ * cset + np.arange(cset)
        return perm

    def cheap(self, i: int, tm: int) -> bytes:
        """Pipeline / tag-history state and the phase: equal whenever the full state is equal."""
        m, s = self.m, self.s
        S = m.slots_of[m.it_pass[i]]
        hist = []
        for k in range(max(0, i - S), i):
            h = s.comp_hist[k]
            hist.append(
                np.maximum(h - tm, 0) if h is not None else np.full(m.n_pe, NO_HISTORY, dtype=np.int64)
            )
        return b"|".join(
            [
                np.maximum(s.pf - tm, 0).tobytes(),
                np.maximum(s.fu_free - tm, 0).tobytes(),
                np.array(hist, dtype=np.int64).tobytes(),
                repr((m.it_key(i), min(i, S))).encode(),
            ]
        )

    def full(self, i: int, tm: int) -> bytes:
        """The whole machine state relative to tm (values that can no longer bind clamped), registers in
        canonical order (the iteration's tag slot and coefficient set first)."""
        s = self.s
        perm = self.reg_perm(i)
        rr_a = s.rr[:, perm] - tm
        rl_a = s.rl[:, perm] - tm
        rc_a = s.rc[:, perm]
        live = rr_a > 0
        # reservations from tm on (earlier ones can no longer conflict; the engine may have reused those
        # before the floor)
        cal = s.res.live(max(tm, s.floor(self.m.it_pass[i])))
        cal[:, 1] -= tm
        parts = [
            self.cheap(i, tm),
            np.maximum(rr_a, 0).tobytes(),
            np.maximum(rl_a, READ_BEFORE).tobytes(),
            np.where(live, rc_a, NO_CAUSE).astype(np.uint8).tobytes(),
            cal.tobytes(),
        ]
        return b"|".join(parts)
