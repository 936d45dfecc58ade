"""The discrete-event pipeline: groups of ops streamed in chunks through the SPM while the DMA moves data.

Consecutive ops that exchange no DRAM tensor form a *group*; a group runs as `chunks` pieces through a
software pipeline with `BUFFERS`-deep SPM buffering, with the DMA as the programs issue it (the loads of the
first BUFFERS chunks, then per chunk its store and the load into the freed buffer; each transfer split over
the channels, `dma.latency_cycles` per transfer): the array computes chunk i once it has arrived while the
DMA moves the others; a chunk's buffer is refilled only after its previous store. A group reading a tensor
that the previous group spilled waits for that store. A group of one op DRAM to DRAM costs what that op's own
program measured alone (`OpCost.alone`), DMA included.

This module knows cycles and bytes only: the costs come in as numbers, the residency as a Plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from swallowtail.arch.specs import DataflowArch
from swallowtail.sim.network.residency import Plan, tensor_bytes
from swallowtail.workload import Op, Workload

#: compiler policy: most chunks a group is streamed in (more: finer overlap, slower simulation)
MAX_CHUNKS = 64
#: SPM buffers per chunk stream (double buffering, docs/architecture.md)
BUFFERS = 2

#: one op's span on the array: (op, layer, start cycle, end cycle, group)
TimelineEntry = tuple[str, str, float, float, int]


@dataclass
class DramTraffic:
    """DRAM bytes per op (in workload order)."""

    weights: list[float]  # weights read
    inputs: list[float]  # spilled inputs read (+ the external input at the first op)
    outputs: list[float]  # spilled output written

    def total(self, i: int) -> float:
        """All of op i's DRAM bytes."""
        return self.weights[i] + self.inputs[i] + self.outputs[i]


def dram_traffic(workload: Workload, plan: Plan) -> DramTraffic:
    """DRAM bytes per op: weights + spilled inputs read + spilled output written + external input."""
    ops = list(workload.ops)
    index = {op.name: i for i, op in enumerate(ops)}
    dram_r = [float(op.weight_elems * op.elem_bytes) for op in ops]
    dram_in = [0.0] * len(ops)
    dram_w = [0.0] * len(ops)
    dram_in[0] += workload.input_elems * workload.elem_bytes  # the embedded tokens enter at the first op
    for i, op in enumerate(ops):
        if plan.spilled[op.name]:
            dram_w[i] = float(tensor_bytes(op))
        for d in op.deps:
            if plan.spilled[d]:
                dram_in[i] += tensor_bytes(ops[index[d]])
    return DramTraffic(dram_r, dram_in, dram_w)


@dataclass
class Group:
    """Consecutive ops streamed together (no DRAM tensor between them)."""

    ops: list[int]
    load_bytes: float  # streamed input bytes (spilled tensors read)
    weight_bytes: float
    store_bytes: float
    compute: float
    chunks: int
    reads_prev: bool


def make_groups(
    ops: Sequence[Op], plan: Plan, traffic: DramTraffic, compute: Sequence[float], chunks: Sequence[int]
) -> list[Group]:
    """Split the ops before one that reads a spilled tensor (or after a spilled output); `compute`: array
    cycles per op, `chunks`: how many chunks each op's stream can be cut into."""
    groups: list[Group] = []
    cur: list[int] = []

    def close() -> None:
        if not cur:
            return
        rows = max(1, min(MAX_CHUNKS, min(chunks[i] for i in cur)))
        groups.append(
            Group(
                ops=list(cur),
                load_bytes=sum(traffic.inputs[i] for i in cur),
                weight_bytes=sum(traffic.weights[i] for i in cur),
                store_bytes=sum(traffic.outputs[i] for i in cur),
                compute=sum(compute[i] for i in cur),
                chunks=rows,
                reads_prev=any(traffic.inputs[i] > 0 for i in cur) and bool(groups),
            )
        )
        cur.clear()

    for i in range(len(ops)):
        if cur and (traffic.inputs[i] > 0 or plan.spilled[ops[cur[-1]].name]):
            close()
        cur.append(i)
    close()
    return groups


def run_group(
    g: Group, t0: float, ch: list[float], dep_ready: float, arch: DataflowArch
) -> tuple[float, float, float]:
    """Run one group; returns (array end, last store end, array idle cycles waiting). `ch`: when each DMA
    channel is free (updated). The DMA as the programs issue it: in program order (the loads of the first
    BUFFERS chunks, then per chunk i: its store, the load of chunk i + BUFFERS into the buffer it frees),
    each chunk's transfer cut into many (one per record or row group) over every channel. The array starts a
    chunk once it has arrived; its store streams out behind the array and ends no earlier than the array."""
    bw = arch.dma.gbytes_per_s_per_channel * 1e9 / arch.clock_hz
    lat = arch.dma.latency_cycles
    c = g.chunks
    comp = g.compute / c
    ld = g.load_bytes / c
    st = g.store_bytes / c
    load_last: list[float] = []  # last bytes of the chunk in the SPM
    store_done: list[float] = []  # data written to DRAM (+ latency)

    def issue(ready: float, nbytes: float) -> None:
        start = max(min(ch), ready)
        for q in range(len(ch)):
            ch[q] = max(ch[q], start) + nbytes / bw / len(ch)

    def do_load(j: int, ready: float) -> None:
        nbytes = ld + (g.weight_bytes if j == 0 else 0.0)
        if nbytes == 0:
            load_last.append(-math.inf)
            return
        issue(max(ready, dep_ready if g.reads_prev else -math.inf), nbytes)
        load_last.append(max(ch) + lat)

    idle = 0.0
    array = t0
    for j in range(min(BUFFERS, c)):
        do_load(j, -math.inf)
    for i in range(c):
        start = max(array, load_last[i])
        idle += start - array
        array = start + comp
        if st:
            issue(start, st)  # the store streams out behind the array ...
            for q in range(len(ch)):  # ... and cannot end before its last result
                ch[q] = max(ch[q], array)
            store_done.append(max(ch) + lat)
        else:
            store_done.append(array)
        if i + BUFFERS < c:
            do_load(i + BUFFERS, store_done[i] if st else array)
    return array, max(store_done) if store_done else array, idle


@dataclass
class PipelineRun:
    """What the pipeline did: per op its wall cycles and span, the array's idle wait, the end times."""

    groups: list[Group]
    timeline: list[TimelineEntry] = field(default_factory=list)
    op_wall: dict[int, float] = field(default_factory=dict)
    idle_cycles: float = 0.0
    array_end: float = 0.0
    last_store: float = 0.0

    @property
    def total_cycles(self) -> float:
        """The run ends when both the array and the last store are done."""
        return max(self.array_end, self.last_store)


def run_pipeline(
    ops: Sequence[Op],
    groups: list[Group],
    compute: Sequence[float],
    alone: Sequence[Callable[[], float] | None],
    arch: DataflowArch,
) -> PipelineRun:
    """Run the groups one after the other on the array and the DMA channels; each op's wall time is its
    share (by compute cycles) of its group's."""
    run = PipelineRun(groups)
    t_array = last_store = 0.0
    channels = [0.0] * arch.dma.channels
    for gi, g in enumerate(groups):
        start = t_array
        own = alone[g.ops[0]] if len(g.ops) == 1 else None
        if own is not None and g.load_bytes + g.weight_bytes > 0 and g.store_bytes > 0:
            # one op DRAM to DRAM: its own program's measured cost, DMA included
            s0 = max(t_array, min(channels), last_store if g.reads_prev else t_array)
            end = st_end = s0 + own()
            idle = s0 - t_array
            channels = [end] * len(channels)
        else:
            end, st_end, idle = run_group(g, t_array, channels, last_store, arch)
        run.idle_cycles += idle
        wall = max(end, st_end) - start if gi == len(groups) - 1 else end - start
        t = start
        for i in g.ops:
            share = compute[i] / g.compute if g.compute else 1.0 / len(g.ops)
            run.op_wall[i] = wall * share
            run.timeline.append((ops[i].name, ops[i].layer, t, t + wall * share, gi))
            t += wall * share
        t_array = end
        last_store = st_end
    run.array_end, run.last_store = t_array, last_store
    return run
