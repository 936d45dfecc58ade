"""DMA between DRAM and the SPM: `channels` channels of `gbytes_per_s_per_channel` each, `latency_cycles` per
transfer, FIFO per channel, through the SPM's DMA port. The Program's DMA ops are issued eagerly, in program
order: the initial group (first loads, coefficients) before any iteration; the group [store(b), load(b +
buffers)] as soon as batch b's last iteration is done. Each op takes the channel that can start it first and
streams: slot k of a load is ready in the SPM once its bytes have arrived (PE loads wait for it); a store
reads slot k once it is written (so a load into a buffer waits for the store that empties it).
"""

from __future__ import annotations

import math

import numpy as np

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.program import Program
from swallowtail.sim.events import ROUND_EPS
from swallowtail.sim.timing.record import Recorder


class Dma:
    """The DMA channels and the Program's DMA ops issued so far (see the module docstring)."""

    def __init__(
        self,
        program: Program,
        arch: DataflowArch,
        spm: np.ndarray,
        rec: Recorder | None,
    ) -> None:
        self.ops = program.dma
        self.spm = (
            spm  # the SPM slots' ready times (the machine state's array: loads write it, stores read it)
        )
        self.rec = rec
        self.rate = arch.dma.gbytes_per_s_per_channel * 1e9 / arch.clock_hz  # bytes per cycle per channel
        self.latency = arch.dma.latency_cycles
        self.ch_free = [0] * arch.dma.channels
        self.done: list[int] = [0] * len(self.ops)  # per op: when its last byte has landed
        self.busy = 0  # channel-cycles spent transferring
        self.next = 0  # next op to issue (program order)
        self.n_buf = program.plan.buffers
        first_store = next((k for k, d in enumerate(self.ops) if d.kind == "store"), len(self.ops))
        self.initial_end = first_store - 1  # the last op of the initial group
        self._after_batch: dict[int, int] = {}  # batch -> the last op of the group issued when it is done
        for idx, d in enumerate(self.ops):
            if idx >= first_store:
                owner = d.batch if d.kind == "store" else d.batch - self.n_buf
                self._after_batch[owner] = idx

    def group_end(self, batch: int) -> int:
        """The last op to issue once `batch` is done (the initial group's last for a batch that owns none)."""
        return self._after_batch.get(batch, self.initial_end)

    def issue_until(self, last: int) -> None:
        """Issue the ops up to `last` in program order: each takes the channel that can start it first and
        streams -- slot k of a load is usable once its bytes have arrived; a store reads slot k once it is
        written."""
        while self.next <= last:
            idx = self.next
            d = self.ops[idx]
            ((lo, hi),) = d.slot_ranges
            n_sl = hi - lo
            per = d.dram_bytes / n_sl / self.rate  # cycles per slot on one channel
            if d.kind == "store":
                ready = self.spm[lo:hi]
                first = int(ready.min())
            else:
                first = self.done[d.after] if d.after >= 0 else 0
            starts = [max(f, first) for f in self.ch_free]
            c = starts.index(min(starts))
            start = starts[c]
            if d.kind == "store":
                end_, done = self._store(ready, start, per)
            else:
                end_, done = self._load(lo, hi, start, per)
            self.ch_free[c] = end_
            self.done[idx] = done
            if self.rec is not None:
                self.rec.dma(idx, d.kind, c, start, lo, hi, d.after)
            self.busy += end_ - start
            self.next += 1

    def _store(self, ready: np.ndarray, start: int, per: float) -> tuple[int, int]:
        """(channel free, done) of a store streaming slots ready at `ready` (a streaming reader: slot k is
        read at t_k = max(t_{k-1}, ready_k) + per)."""
        k = np.arange(1, len(ready) + 1, dtype=np.float64)
        base_ = np.maximum(ready.astype(np.float64) - (k - 1) * per, start)
        t_k = np.maximum.accumulate(base_) + k * per
        end_ = int(math.ceil(t_k[-1] - ROUND_EPS))
        return end_, end_ + self.latency

    def _load(self, lo: int, hi: int, start: int, per: float) -> tuple[int, int]:
        """(channel free, done) of a load into slots [lo, hi); writes each slot's arrival into the SPM."""
        n_sl = hi - lo
        k = np.arange(1, n_sl + 1, dtype=np.float64)
        arrive = start + self.latency + np.ceil(k * per - ROUND_EPS).astype(np.int64)
        self.spm[lo:hi] = np.maximum(self.spm[lo:hi], arrive)
        end_ = start + int(math.ceil(n_sl * per - ROUND_EPS))
        return end_, int(arrive[-1])

    def shape(self, k: int) -> tuple:
        """What makes op k structurally what it is (kind, bytes, slots, its predecessor relative to it)."""
        d = self.ops[k]
        return (
            d.kind,
            d.dram_bytes,
            d.slot_ranges[0],
            d.after - k if d.after >= 0 else None,
        )

    def repeat(self, copies: int, ops: int, period: int, busy_per_period: int) -> None:
        """Fast-forward: the next `copies` x `ops` ops repeat the last `ops` ones, each `period` cycles on."""
        shift = copies * period
        for k in range(self.next, self.next + copies * ops):
            self.done[k] = self.done[k - ops] + period
        for c in range(len(self.ch_free)):
            self.ch_free[c] += shift
        self.next += copies * ops
        self.busy += copies * busy_per_period
