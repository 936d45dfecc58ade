"""Fast-forward of the software pipeline's periodic steady state.

At every iteration boundary the machine state (every resource's busy-until time, register ready / last-read
times, reservation tables, tag history) is taken relative to the earliest cycle any pipeline can issue next
(`t_min`); earlier values can no longer bind and are clamped (`swallowtail.sim.timing.signature`). When the
state at boundary i equals the state at an earlier boundary i' of the same (batch, pass) segment (with the
same tag slot and coefficient-set phase), and the iterations after i repeat those after i' structurally, with
no SPM data dependency able to bind, the machine provably repeats itself with period i - i' and T cycles:
the engine skips K periods (shifting every time by K T and writing the skipped stores' SPM ready times) and
simulates on exactly.

Whole batches are skipped the same way at batch boundaries, DMA included: the state then also holds the DMA
channels, the SPM buffers' ready times and the DMA position, and the DMA ops of the skipped batches must
repeat the reference's too. `fast_forward=False` simulates every instruction; tests check both give the same
cycles.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from swallowtail.sim.timing.dma import Dma
from swallowtail.sim.timing.machine import Machine
from swallowtail.sim.timing.signature import Signatures
from swallowtail.sim.timing.state import State
from swallowtail.sim.timing.trace import Trace

#: a signature of the machine state at the boundary before iteration i, relative to t_min: (i, tm) -> bytes
Signature = Callable[[int, int], bytes]
#: coefficient loads an iteration can append to its load steps (the schedule's pf_u / pf_v0 / pf_v1 columns)
PREFETCHES = 2


class FastForward:
    """Detects periodic states at iteration and batch boundaries and skips whole periods (see the module
    docstring). `skips`: (at iteration, period in iterations, copies, period in cycles) per skip."""

    def __init__(self, m: Machine, s: State, dma: Dma, trace: Trace | None) -> None:
        self.m, self.s, self.dma, self.trace = m, s, dma, trace
        self.sig = Signatures(m, s)
        self.skips: list[tuple[int, int, int, int]] = []
        self.skipped = 0  # iterations skipped
        # the current (batch, pass) segment
        self.seg_id: tuple[int, int] | None = None
        self.seg_sigs: dict[bytes, int] = {}
        self.seg_cheap: dict[bytes, int] = {}
        self.boundary: dict[int, dict] = {}  # per boundary in the current segment: t_min, stall counters
        self.it_stw: dict[
            int, np.ndarray
        ] = {}  # per iteration of the segment: store write times (PEs, stores)
        self.it_ext: dict[int, bool] = {}  # per iteration: an SPM / DMA readiness bound a load
        # batch boundaries
        self.batch_sigs: dict[bytes, int] = {}
        self.batch_cheap: dict[bytes, int] = {}
        self.batch_bd: dict[int, dict] = {}
        self.buf_lo = m.program.spm.buffer_base[0]  # the SPM's data buffers start here

    def record(self, i: int, stw: np.ndarray, ext: bool) -> None:
        """Iteration i ran exactly: its stores' write times and whether SPM / DMA readiness bound a load."""
        self.it_stw[i] = stw
        self.it_ext[i] = ext

    # ---- within a (batch, pass) segment ----
    def at_iteration(self, i: int) -> int:
        """Called at the boundary before iteration i; returns the iteration to continue from."""
        m, s = self.m, self.s
        b, p = m.it_batch[i], m.it_pass[i]
        if (b, p) != self.seg_id:
            self.seg_id = (b, p)
            self.seg_sigs = {}
            self.seg_cheap = {}
            self.boundary.clear()
            self.it_stw.clear()
            self.it_ext.clear()
        s.clamp_to_tag_window(i)
        tm = s.t_min(p)
        self.boundary[i] = {"tm": tm, "stalls": list(s.stalls)}
        prev = _match(self.seg_cheap, self.seg_sigs, self.sig.cheap, self.sig.full, i, tm)
        if prev is None:
            return i
        period = i - prev
        T = tm - self.boundary[prev]["tm"]
        if T <= 0 or any(self.it_ext.get(k, True) for k in range(prev, i)):
            return i
        K = self._segment_periods(i, prev, b, p)
        if K <= 0:
            return i
        hi_it = i + K * period
        if self._spm_binds(i, hi_it, p, tm):
            return i
        self._shift_machine(i, hi_it, K * T, p)
        self._skipped_stores(i, prev, hi_it, T, p)
        self._finish_skip(i, prev, K, T, self.boundary[prev]["stalls"])
        self.seg_sigs = {}
        self.seg_cheap = {}
        self.boundary.clear()
        return hi_it

    def _segment_periods(self, i: int, prev: int, b: int, p: int) -> int:
        """How many whole periods after i repeat the reference [prev, i) structurally, inside the segment."""
        m = self.m
        period = i - prev
        ref_keys = [m.it_key(k) for k in range(prev, i)]
        K = 0
        x = i
        while x + period <= m.n_it:
            ok = all(
                m.it_batch[x + d] == b and m.it_pass[x + d] == p and m.it_key(x + d) == ref_keys[d]
                for d in range(period)
            )
            if not ok:
                break
            K += 1
            x += period
        return K

    def _spm_binds(self, lo_it: int, hi_it: int, p: int, tm: int) -> bool:
        """Whether an SPM readiness (DMA data, an earlier pass) could bind inside the window [lo_it, hi_it):
        a slot the window's loads or coefficient loads read becomes ready after tm."""
        m, spm = self.m, self.s.spm
        bases = m.sch.base[lo_it:hi_it]
        offs = m.ld_offsets[p].reshape(-1)
        if offs.size and int(spm[(bases[:, None] + offs[None, :]).reshape(-1)].max()) > tm:
            return True
        for x in range(lo_it, hi_it):
            for q in range(PREFETCHES):
                u = m.pf_u[x][q]
                if u >= 0:
                    cs = m.coef_slot[m.inst_pass[u]][:, m.pf_v0[x][q] : m.pf_v1[x][q]]
                    if cs.size and int(spm[m.inst_cb[u] + cs].max()) > tm:
                        return True
        return False

    def _skipped_stores(self, i: int, prev: int, hi_it: int, T: int, p: int) -> None:
        """The SPM ready times the stores of the skipped iterations [i, hi_it) write, by periodicity."""
        m = self.m
        period = i - prev
        st_off = m.st_offsets[p]
        for d in range(period):
            ref = self.it_stw[prev + d]  # (PEs, stores)
            xs = np.arange(i + d, hi_it, period)
            c = (xs - (i + d)) // period + 1
            slots = m.sch.base[xs][:, None, None] + st_off[None, :, :]
            times = ref[None, :, :] + (c * T)[:, None, None]
            self.s.spm[slots.reshape(-1)] = times.reshape(-1)

    # ---- whole batches, DMA included ----
    def at_batch(self, i: int) -> int:
        """At the boundary before the first iteration of a batch (its predecessor's DMA group issued)."""
        m, s, dma = self.m, self.s, self.dma
        p = m.it_pass[i]
        s.clamp_to_tag_window(i)
        tm = s.t_min(p)
        self.batch_bd[i] = {
            "tm": tm,
            "stalls": list(s.stalls),
            "dma_next": dma.next,
            "dma_busy": dma.busy,
            "spm": s.spm[self.buf_lo :].copy(),
        }
        prev = _match(
            self.batch_cheap,
            self.batch_sigs,
            self._batch_cheap,
            self._batch_full,
            i,
            tm,
        )
        if prev is None:
            return i
        ref = self.batch_bd[prev]
        period = i - prev
        T = tm - ref["tm"]
        ops = dma.next - ref["dma_next"]
        if T <= 0:
            return i
        K = self._batch_periods(i, prev, ref["dma_next"])
        if K <= 0:
            return i
        hi_it = i + K * period
        shift = K * T
        self._shift_machine(i, hi_it, shift, p)
        buffers = s.spm[self.buf_lo :]
        changed = buffers != ref["spm"]
        buffers[changed] += shift
        dma.repeat(K, ops, T, dma.busy - ref["dma_busy"])
        self._finish_skip(i, prev, K, T, ref["stalls"])
        self.batch_sigs.clear()
        self.batch_cheap.clear()
        self.batch_bd.clear()
        return hi_it

    def _dma_state(self, tm: int) -> bytes:
        return np.maximum(np.array(self.dma.ch_free, dtype=np.int64) - tm, 0).tobytes()

    def _batch_cheap(self, i: int, tm: int) -> bytes:
        """The cheap signature, the DMA channels and the buffer phase."""
        return (
            self.sig.cheap(i, tm)
            + b"|"
            + self._dma_state(tm)
            + repr((self.m.it_batch[i] % self.dma.n_buf,)).encode()
        )

    def _batch_full(self, i: int, tm: int) -> bytes:
        """The full signature, the DMA channels, the SPM buffers' ready times and the DMA position."""
        b = self.m.it_batch[i]
        dma = self.dma
        return (
            self.sig.full(i, tm)
            + b"|"
            + self._dma_state(tm)
            + b"|"
            + np.maximum(self.s.spm[self.buf_lo :] - tm, 0).tobytes()
            + repr((b % dma.n_buf, dma.next - (dma.group_end(b - 1) + 1))).encode()
        )

    def _batch_periods(self, i: int, prev: int, ref_dma_next: int) -> int:
        """How many whole periods after i repeat [prev, i) structurally, DMA ops included, each ending at a
        batch boundary."""
        m, dma = self.m, self.dma
        period = i - prev
        ops = dma.next - ref_dma_next
        ref_keys = [m.it_key(k) for k in range(prev, i)]
        ref_ops = [dma.shape(k) for k in range(ref_dma_next, dma.next)]
        K = 0
        x = i
        xo = dma.next
        while x + period <= m.n_it and xo + ops <= len(dma.ops):
            if any(m.it_key(x + d) != ref_keys[d] for d in range(period)):
                break
            if any(dma.shape(xo + d) != ref_ops[d] for d in range(ops)):
                break
            if x + period < m.n_it and m.it_batch[x + period] == m.it_batch[x + period - 1]:
                break  # the window must end at a batch boundary
            K += 1
            x += period
            xo += ops
        return K

    # ---- applying a skip ----
    def _shift_machine(self, i: int, hi_it: int, shift: int, p: int) -> None:
        """Every time `shift` cycles later, registers relabelled for the phase of iteration hi_it."""
        s = self.s
        s.shift(shift, s.floor(p))
        if hi_it < self.m.n_it:
            s.relabel(self.sig.reg_perm(i), self.sig.reg_perm(hi_it))

    def _finish_skip(self, i: int, prev: int, K: int, T: int, ref_stalls: list) -> None:
        """After skipping K periods of [prev, i) from i: tag history, stall counters, trace, counters."""
        s = self.s
        period = i - prev
        hi_it = i + K * period
        s.copy_tag_history(i, hi_it, self.m.slots_of[self.m.it_pass[i]], K * T, max(self.m.slots_of))
        d_st = [a - b_ for a, b_ in zip(s.stalls, ref_stalls, strict=True)]
        for c_ in range(len(s.stalls)):
            s.stalls[c_] += K * d_st[c_]
        self.skips.append((i, period, K, T))
        if self.trace is not None:
            self.trace.replicate(prev, i, K, T)
        self.skipped += K * period


def _match(
    cheap_seen: dict[bytes, int],
    full_seen: dict[bytes, int],
    cheap: Signature,
    full: Signature,
    i: int,
    tm: int,
) -> int | None:
    """The earlier boundary whose signature equals boundary i's, or None; both tables remember i. The full
    signature is computed only when the cheap one has been seen."""
    c = cheap(i, tm)
    if c not in cheap_seen:
        cheap_seen[c] = i
        return None
    cheap_seen[c] = i
    sig = full(i, tm)
    prev = full_seen.get(sig)
    full_seen[sig] = i
    return prev
