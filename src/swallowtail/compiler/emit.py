"""The one emitter every op kind's Program goes through: SPM layout, the iteration schedule with its
coefficient sets and their prefetch, and the DMA list.

A compiler (butterfly, GEMM, row-wise) decides *what* an iteration is and which coefficient table it reads;
this module turns that into the Program's shared structures the same way for every kind:

- **SPM layout** (`table_bases`, `spm_layout`): the coefficient tables first (each table's base aligned to the
  bank groups, or only the whole area), then `buffers` streaming buffers (batch b uses buffer b % buffers);
  coefficient regions reloaded during the run (a weight-tiled GEMM) go after the buffers::

      [ coefficient tables | buffer 0 | buffer 1 (| buffer 2) ]
      [ buffer 0 | buffer 1 | coefficient region 0 | coefficient region 1 ]          (weight-tiled GEMM)

- **coefficient sets and prefetch** (`ScheduleBuilder.finish`): iterations are grouped into *instances*
  (consecutive iterations reading one coefficient table). An instance whose table is the one in use (same
  key as the instance before it) reuses the register set; otherwise it takes the other set of two, loaded
  during the previous instance's iterations (its vectors spread evenly over them); with more than two sets
  every distinct table has its own, loaded once (resident). The first instance's coefficients load in the
  first iteration.
- **DMA** (`DmaEmitter`, `stream_dma`): every transfer is split in one piece per channel (the engine
  gives each piece the channel that can start it first and streams it: a slot is usable as soon as its
  bytes arrived); DRAM bytes are prorated over the pieces. Program order (= per-channel FIFO order): the
  first row group's input, the first pass's coefficients, the rest of the first batch, the rest of the
  coefficients, the next `buffers - 1` batches; then per batch b its stores and the loads of batch
  b + buffers (a buffer's loads wait for its previous stores: `DMAOp.after`), and whatever the compiler
  adds after b (a weight-tiled GEMM: the next-but-one weight tile's coefficients).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import numpy as np

from swallowtail.compiler.geometry import SpmGeometry
from swallowtail.compiler.program import DMAOp, Schedule, SpmLayout, split_slots
from swallowtail.flops import ceil_div


def align(x: int, groups: int) -> int:
    """x rounded up to a multiple of the SPM bank groups (a base there starts in bank group 0)."""
    return ceil_div(x, groups) * groups


def table_bases(sizes: list[int], groups: int, align_each: bool) -> tuple[list[int], int, int]:
    """(base of each coefficient table, end of the last table, slots of the whole area) for tables of `sizes`
    slots laid out in order; `align_each`: every table starts on bank group 0 (else only the area's end is
    aligned)."""
    base = []
    pos = 0
    for size in sizes:
        base.append(pos)
        pos = align(pos + size, groups) if align_each else pos + size
    return base, pos, align(pos, groups)


def spm_layout(
    geo: SpmGeometry, coef_base: list[int], coef_slots: int, buffers: int, buffer_slots: int, regions: int = 1
) -> SpmLayout:
    """The SPM layout: the coefficient area, then `buffers` buffers of `buffer_slots` (aligned) slots.

    With `regions` > 1 (coefficient regions reloaded while the program runs) the area goes after the buffers
    instead, so that everything the DMA writes during the run lies above the first buffer (the timing
    engine's fast-forward compares and shifts the SPM's readiness from there); `coef_base` is then relative
    to the area's start (`SpmLayout.coef_start`)."""
    if regions > 1:
        start = buffers * buffer_slots
        return SpmLayout(
            vec_bytes=geo.vec_bytes,
            coef_base=[start + b for b in coef_base],
            coef_slots=coef_slots,
            buffer_base=[i * buffer_slots for i in range(buffers)],
            buffer_slots=buffer_slots,
            total_slots=start + coef_slots,
            groups=geo.groups,
            coef_regions=regions,
            coef_start=start,
        )
    return SpmLayout(
        vec_bytes=geo.vec_bytes,
        coef_base=coef_base,
        coef_slots=coef_slots,
        buffer_base=[coef_slots + i * buffer_slots for i in range(buffers)],
        buffer_slots=buffer_slots,
        total_slots=coef_slots + buffers * buffer_slots,
        groups=geo.groups,
        coef_regions=regions,
    )


# ---- the schedule ---------------------------------------------------------------------------------------
@dataclass
class ScheduleBuilder:
    """Collects iterations in program order, grouped into instances (each reads one coefficient table)."""

    it: dict[str, list[int]] = field(
        default_factory=lambda: {k: [] for k in ("batch", "pass", "inst", "rg", "lanes", "seq", "base")}
    )
    inst_base: list[int] = field(default_factory=list)  # per instance: SPM slot of its coefficient table
    inst_pass: list[int] = field(default_factory=list)
    inst_key: list[Hashable] = field(default_factory=list)  # equal keys: the same coefficients
    inst_iters: list[tuple[int, int]] = field(default_factory=list)  # (first iteration, iterations)

    def instance(self, coef_base: int, pass_: int, key: Hashable, iterations: int) -> int:
        """Open the next instance (its `iterations` follow with `add`); returns its sequence number."""
        self.inst_base.append(coef_base)
        self.inst_pass.append(pass_)
        self.inst_key.append(key)
        self.inst_iters.append((len(self.it["batch"]), iterations))
        return len(self.inst_base) - 1

    def add(self, batch: int, pass_: int, rg: int, lanes: int, base: int, inst: int = 0) -> None:
        """One iteration of the open instance: batch, pass, row group (or row unit) within the batch, active
        lanes, SPM base of its data, block instance index within the pass."""
        for k, v in (("batch", batch), ("pass", pass_), ("inst", inst), ("rg", rg), ("lanes", lanes)):
            self.it[k].append(v)
        self.it["seq"].append(len(self.inst_base) - 1)
        self.it["base"].append(base)

    def instance_arrays(self, sets: list[int]) -> dict[str, np.ndarray]:
        """The Program's per-instance arrays: coefficient table base, pass and coefficient set."""
        return {
            "instance_coef_base": np.array(self.inst_base, dtype=np.int64),
            "instance_pass": np.array(self.inst_pass, dtype=np.int64),
            "instance_set": np.array(sets, dtype=np.int64),
        }

    def finish(self, coef_vectors: list[int], coef_sets: int, has_coefs: bool) -> tuple[Schedule, list[int]]:
        """The Schedule (with its coefficient prefetch) and each instance's coefficient set;
        `coef_vectors`: per pass, coefficient vectors per PE of an instance's table."""
        sets, needs = coefficient_sets(self.inst_key, coef_sets, has_coefs)
        n_it = len(self.it["batch"])
        pf_u = np.full((n_it, 2), -1, dtype=np.int64)
        pf_v0 = np.zeros((n_it, 2), dtype=np.int64)
        pf_v1 = np.zeros((n_it, 2), dtype=np.int64)
        if has_coefs:  # instance 0's coefficients: all in the first iteration
            pf_u[0, 0], pf_v0[0, 0], pf_v1[0, 0] = 0, 0, coef_vectors[self.inst_pass[0]]
        for u in range(len(self.inst_base) - 1):  # instance u+1's: spread over instance u's iterations
            if not needs[u + 1]:
                continue
            first, cnt = self.inst_iters[u]
            c = coef_vectors[self.inst_pass[u + 1]]
            for g in range(cnt):
                q = 1 if first + g == 0 else 0
                pf_u[first + g, q] = u + 1
                pf_v0[first + g, q] = (g * c) // cnt
                pf_v1[first + g, q] = ((g + 1) * c) // cnt
        return Schedule.of(self.it, pf_u, pf_v0, pf_v1), sets


def coefficient_sets(keys: list[Hashable], n_sets: int, has_coefs: bool) -> tuple[list[int], list[bool]]:
    """(set, needs a load) of every instance. More than two sets: resident, one per distinct key, loaded at
    first use. Else an instance with the key of the one before it (or the only set) reuses it; any other
    takes the other set of two and loads it."""
    sets = [0] * len(keys)
    needs = [has_coefs] * len(keys)
    if n_sets > 2:
        index: dict[Hashable, int] = {}
        for u, key in enumerate(keys):
            needs[u] = has_coefs and key not in index
            sets[u] = index.setdefault(key, len(index))
        return sets, needs
    for u in range(1, len(keys)):
        if keys[u] == keys[u - 1] or n_sets == 1:
            sets[u], needs[u] = sets[u - 1], False
        else:
            sets[u] = 1 - sets[u - 1]
    return sets, needs


# ---- DMA ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Transfer:
    """One DRAM <-> SPM transfer before the channel split: SPM slots [lo, hi), its DRAM bytes, the op's rows
    it carries; `split`: cut over the channels (False: one piece, on one channel)."""

    lo: int
    hi: int
    dram_bytes: int
    rows: tuple[int, int]
    split: bool = True


#: one row group's (or row unit's, or record's) transfers, with its index within the batch
TransferGroup = tuple[int, list[Transfer]]


@dataclass
class DmaEmitter:
    """Appends DMA ops in program order (see the module docstring)."""

    channels: int
    vec_bytes: int
    buffers: int
    ops: list[DMAOp] = field(default_factory=list)
    last_store: dict[int, int] = field(default_factory=dict)  # buffer -> index of its last store op
    batch_last_store: dict[int, int] = field(default_factory=dict)  # batch -> index of its last store op

    def coef(self, lo: int, hi: int, batch: int = -1, after: int = -1) -> None:
        """Coefficient slots [lo, hi), split over the channels (`batch`: the load group it rides with)."""
        for a, z in split_slots(lo, hi, self.channels):
            nb = (z - a) * self.vec_bytes
            self.ops.append(DMAOp("coef", batch, -1, -1, nb, nb, [(a, z)], after=after))

    def _pieces(self, kind: str, batch: int, rg: int, tr: Transfer, after: int) -> None:
        for a, z in split_slots(tr.lo, tr.hi, self.channels if tr.split else 1):
            dram = round(tr.dram_bytes * (z - a) / (tr.hi - tr.lo))
            self.ops.append(
                DMAOp(
                    kind, batch, rg, -1, dram, (z - a) * self.vec_bytes, [(a, z)], rows=tr.rows, after=after
                )
            )

    def loads(self, batch: int, groups: list[TransferGroup]) -> None:
        """Loads of batch `batch`: each waits for its buffer's previous store."""
        after = self.last_store.get(batch % self.buffers, -1)
        for rg, transfers in groups:
            for tr in transfers:
                self._pieces("load", batch, rg, tr, after)

    def stores(self, batch: int, groups: list[TransferGroup]) -> None:
        for rg, transfers in groups:
            for tr in transfers:
                self._pieces("store", batch, rg, tr, -1)
        self.last_store[batch % self.buffers] = len(self.ops) - 1
        self.batch_last_store[batch] = len(self.ops) - 1


@dataclass(frozen=True)
class BatchIO:
    """A streaming batch's transfers: per row group (unit, record) its loads, and its stores."""

    loads: list[TransferGroup]
    stores: list[TransferGroup]


def stream_dma(
    em: DmaEmitter,
    batches: list[BatchIO],
    coef_first: tuple[int, int],
    coef_rest: list[tuple[int, int]],
    after_batch: Callable[[int], None] | None = None,
) -> list[DMAOp]:
    """The DMA program of a streamed op (order: see the module docstring); `coef_first`: the first
    instance's coefficient slots, `coef_rest`: the rest loaded up front; `after_batch(b)` may append ops
    after batch b's stores and the loads that follow them."""
    n_b = len(batches)
    em.loads(0, batches[0].loads[:1])
    em.coef(*coef_first)
    em.loads(0, batches[0].loads[1:])
    for lo, hi in coef_rest:
        em.coef(lo, hi)
    for b in range(1, min(em.buffers, n_b)):
        em.loads(b, batches[b].loads)
    for b in range(n_b):
        em.stores(b, batches[b].stores)
        if b + em.buffers < n_b:
            em.loads(b + em.buffers, batches[b + em.buffers].loads)
        if after_batch is not None:
            after_batch(b)
    return em.ops


__all__ = [
    "BatchIO",
    "DmaEmitter",
    "ScheduleBuilder",
    "Transfer",
    "align",
    "coefficient_sets",
    "spm_layout",
    "stream_dma",
    "table_bases",
]
