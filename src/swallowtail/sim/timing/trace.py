"""The activity trace: every issued instruction as (PE, kind, issue cycle), kinds as the engine's log codes (0
compute, 1 transfer, 2 load, 3 store). Exactly simulated iterations append their issue log; a fast-forwarded
stretch repeats its reference period's events, shifted by whole periods. Drawn by `swallowtail.sim.trace`.
"""

from __future__ import annotations

from array import array

import numpy as np

from swallowtail.sim import engine
from swallowtail.sim.stats import KernelTrace

#: event codes are PE * LOG_KINDS + kind
LOG_KINDS = 4


class Trace:
    """Collects the activity trace of one simulation, in program order."""

    def __init__(self) -> None:
        self._codes = array("q")  # PE * LOG_KINDS + kind of the exact events not yet flushed
        self._times = array("q")  # their issue cycles
        self._mark: dict[int, int] = {}  # iteration -> number of events before it (flushed + exact)
        self._chunks: list[tuple[np.ndarray, np.ndarray]] = []  # the flushed events, in program order
        self._flushed = 0

    def mark(self, i: int) -> None:
        """Iteration i starts here (a fast-forward copies the events between two marks)."""
        self._mark[i] = self._flushed + len(self._times)

    def feed(self, rows: np.ndarray) -> None:
        """An iteration's issue log rows (`engine.run_iteration`, in grant order)."""
        self._codes.extend((rows[:, 1] * LOG_KINDS + rows[:, 0]).tolist())
        self._times.extend(rows[np.arange(len(rows)), engine.LOG_TIME_COL[rows[:, 0]]].tolist())

    def _flush(self) -> None:
        if len(self._times):
            self._chunks.append(
                (
                    np.frombuffer(self._codes, dtype=np.int64).copy(),
                    np.frombuffer(self._times, dtype=np.int64).copy(),
                )
            )
            self._flushed += len(self._times)
            del self._codes[:]
            del self._times[:]

    def _events(self) -> tuple[np.ndarray, np.ndarray]:
        """(codes, times) of every event so far."""
        self._flush()
        if not self._chunks:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate([c for c, _ in self._chunks]), np.concatenate([t for _, t in self._chunks])

    def replicate(self, prev: int, i: int, copies: int, period: int) -> None:
        """Events of fast-forwarded iterations: those of iterations [prev, i), shifted by c x period, for
        c = 1 .. copies."""
        codes, times = self._events()
        a, z = self._mark[prev], self._mark[i]
        for c in range(1, copies + 1):
            self._chunks.append((codes[a:z], times[a:z] + c * period))
            self._flushed += z - a

    def result(self, cycles: int, pes: list) -> KernelTrace:
        """The trace `swallowtail.sim.trace` draws: events as (PE, kind, cycle) rows, the cycles, the PEs."""
        codes, times = self._events()
        events = np.stack([codes // LOG_KINDS, codes % LOG_KINDS, times], axis=1).astype(np.int64)
        return KernelTrace(events, int(cycles), list(pes))
