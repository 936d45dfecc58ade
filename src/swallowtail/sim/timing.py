"""Cycle-level timing engine: executes a Program instruction by instruction with exact resource modelling,
and fast-forwards the periodic steady state of the software pipeline.

What is modelled (every number from the arch spec, plus `MachineModel`'s named assumptions):

- per PE, four decoupled in-order pipelines (load, store, transfer, compute), one issue per cycle each;
  compute issues to the FMA unit (latency `fus.fma.latency`, one issue per `initiation_interval`);
- operand readiness (RAW) and register reuse (WAR: a register is written only after its last reader issued);
- RF ports: each cycle at most `read_ports` register reads (MUL 2, FMA / FMS 3, ST 1, XFER 1) and
  `write_ports` writes (compute write-back at issue + latency - 1, load data, transfer arrival);
- the tag window: iteration i on a PE issues nothing before iteration i - tag_slots has completed there
  (tag_slots <= `active_tags`, and what the RF holds);
- NoC: dimension-ordered routes over the hop set; each link carries `link_bytes_per_cycle` per cycle per
  direction (a vector occupies it ceil(vector / link) cycles), `hop_latency` per hop, links shared and
  contended across PEs and hops;
- SPM: `banks` banks of bytes_per_cycle / banks bytes; a vector access holds its bank group for one cycle
  (vector-wide groups); loads deliver after `spm_latency_cycles`;
- DMA: `channels` channels of `gbytes_per_s_per_channel` each, `latency_cycles` per transfer, FIFO per
  channel, through the SPM's DMA port (`dma_dedicated_spm_port`); a load into a buffer waits for the store
  that empties it; PE loads wait for the DMA data (and later passes for earlier passes' stores), slot by slot.

Arbitration: shared resources (RF ports, links, bank groups) are reservation tables; requests are granted
in program order (iteration by iteration, step by step), round-robin over the PEs within a load, transfer or
store step (the k-th access of every PE before the (k+1)-th of any: a fair arbiter; granting one PE's whole
step first gave that PE priority, and faster DRAM could then make a kernel 11% slower), each taking the
first free cycle at or after the cycle it is ready. Deterministic, never over-committed. This greedy
arbitration runs at the arch a Program was compiled for and fixes each resource's grant order; on any other
arch (`Program.compile_arch` differs: more link / SPM / DMA bandwidth, ...) the Program replays those orders
(`swallowtail.sim.replay`). Greedy first-free granting alone is not monotone (more bandwidth can move a
request into a cycle a later one would have used: up to 52 cycles slower with doubled bandwidth in random
searches); the static order is, and at the compile arch it reproduces the greedy schedule exactly.

Stall attribution: every cycle a PE's compute pipeline does not issue is charged to the reason its next
compute instruction could not issue earlier: `operand` (a compute result / FU latency), `noc` (a transferred
operand), `spm` (a loaded operand: bank conflicts, load pipeline, data from an earlier pass), `dma` (data or
coefficients still on their way from DRAM), `tag_window`, `rf_port`; cycles after a PE's last compute
instruction are `drain` (the last stores and the DMA of the results).

Fast-forward: at every iteration boundary the machine state (every resource's busy-until time, register
ready / last-read times, reservation tables, tag history) is taken relative to the earliest cycle any
pipeline can issue next (`t_min`); earlier values can no longer bind and are clamped. When the state at
boundary i equals the state at an earlier boundary i' of the same (batch, pass) segment (with the same tag
slot and coefficient-set phase), and the iterations after i repeat those after i' structurally, with no
SPM data dependency able to bind, the machine provably repeats itself with period i - i' and T cycles: the
engine skips K periods (shifting every time by K T and writing the skipped stores' SPM ready times) and
simulates on exactly. `fast_forward=False` simulates every instruction; tests check both give the same cycles.
"""

from __future__ import annotations

import math
import time
from array import array
from dataclasses import dataclass, field

import numpy as np

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.geometry import SpmGeometry, route_links
from swallowtail.compiler.kernels import (
    COEF_OPS,
    COMPUTE_FU,
    COMPUTE_OPS,
    COMPUTE_READS,
    OP_LD,
    OP_ST,
    OP_XFER,
)
from swallowtail.compiler.program import Program
from swallowtail.compiler.template import STEP_COMPUTE, STEP_LD, STEP_ST, STEP_XFER
from swallowtail.sim.replay import EventGraph, OrderInfeasible, Recorder, replay

# stall causes (index into the stall counters)
C_OPERAND, C_NOC, C_SPM, C_DMA, C_TAG, C_RFPORT = 0, 1, 2, 3, 4, 5
CAUSES = ("operand", "noc", "spm", "dma", "tag_window", "rf_port")
DRAIN = "drain"
#: a time earlier than any cycle
NEVER = -(1 << 40)
#: iterations between clean-ups of the reservation tables (bounds memory; no effect on results)
PRUNE_EVERY = 16


@dataclass
class TimingStats:
    """What the timing engine measured."""

    cycles: int
    stalls: dict[str, int]  # PE-cycles without a compute issue, by cause (summed over active PEs)
    compute_issues: int  # compute vector instructions issued (all PEs)
    pe_last_compute: list[int]
    dma_busy_cycles: int
    link_busy_cycles: int
    spm_bank_busy_cycles: int
    exact_iterations: int
    skipped_iterations: int
    exact_instructions: int
    skips: list[tuple[int, int, int, int]] = field(default_factory=list)  # (at iteration, period, copies, T)
    wall_s: float = 0.0
    dma_done: list[int] = field(default_factory=list)
    trace: dict | None = None
    # per batch simulated exactly to its end: the latest completion of any iteration of it or an earlier batch
    batch_end: dict[int, int] = field(default_factory=dict)
    replay_sweeps: int = 0  # > 0: a static-order replay (swallowtail.sim.replay): event evaluations
    arbitration: str = "greedy"  # "greedy" (the compile arch) | "static order of <compile arch>" | why greedy
    graph: EventGraph | None = None  # the recorded event graph (record=True)


class _Variant:
    """A pass template resolved for one (tag slot, coefficient parity): per step, per PE tuple lists."""

    __slots__ = ("steps", "st_count", "compute_count")

    def __init__(self, steps: list, st_count: int, compute_count: int) -> None:
        self.steps = steps
        self.st_count = st_count
        self.compute_count = compute_count


def _calendar_free(cal: dict, t: int, occ: int) -> int:
    """First cycle >= t with `occ` consecutive free cycles in `cal`."""
    while True:
        for k in range(occ):
            if t + k in cal:
                t = t + k + 1
                break
        else:
            return t


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
    wall0 = time.perf_counter()
    model = program.model
    plan = program.plan
    sch = program.schedule
    n_it = len(sch)
    coords = program.pe_coords
    n_pe = len(coords)
    geo = SpmGeometry.of(arch)
    G = geo.groups
    occ_bank = geo.occupancy
    spm_lat = model.spm_latency_cycles
    RP = arch.pe.register_file.read_ports
    WP = arch.pe.register_file.write_ports
    fu_names = sorted({COMPUTE_FU[o] for o in COMPUTE_OPS})
    fu_index = {name: k for k, name in enumerate(fu_names)}
    n_fu = len(fu_names)
    op_lat = {o: arch.pe.fus[COMPUTE_FU[o]].latency for o in COMPUTE_OPS}
    op_ii = {o: arch.pe.fus[COMPUTE_FU[o]].initiation_interval for o in COMPUTE_OPS}
    link_bw = arch.noc.link_bytes_per_cycle
    SER = max(1, math.ceil(geo.vec_bytes / link_bw))
    HOP = arch.noc.hop_latency
    cset = plan.coef_set_regs

    # ---- links ----
    link_index: dict[tuple, int] = {}

    def route_ids(e_src: int, e_dst: int) -> tuple[int, ...]:
        (x0, y0), (x1, y1) = coords[e_src], coords[e_dst]
        ids = []
        for lk in route_links(x0, y0, x1, y1, arch.noc.hops):
            if lk not in link_index:
                link_index[lk] = len(link_index)
            ids.append(link_index[lk])
        return tuple(ids)

    route_cache: dict[tuple[int, int], tuple[int, ...]] = {}

    # ---- variants ----
    variants: dict[tuple[int, int, int], _Variant] = {}

    def variant(p: int, slot: int, par: int) -> _Variant:
        key = (p, slot, par)
        v = variants.get(key)
        if v is not None:
            return v
        t = program.templates[p]
        dbase = plan.coef_sets * cset + slot * t.data_regs
        cbase = par * cset
        steps = []
        n_st = 0
        n_cp = 0
        for kind, s0, s1 in t.steps:
            per_pe = []
            for e in range(n_pe):
                lst = []
                for i in range(s0, s1):
                    o = int(t.op[e, i])
                    if o == OP_LD:
                        lst.append((dbase + int(t.dst[e, i]), int(t.slot[e, i])))
                    elif o == OP_ST:
                        lst.append((dbase + int(t.a[e, i]), int(t.slot[e, i])))
                    elif o == OP_XFER:
                        peer = int(t.peer[e, i])
                        r = route_cache.get((e, peer))
                        if r is None:
                            r = route_cache[(e, peer)] = route_ids(e, peer)
                        lst.append((dbase + int(t.a[e, i]), dbase + int(t.dst[e, i]), peer, r))
                    else:
                        assert o in COMPUTE_OPS
                        acc = int(t.acc[e, i])
                        lst.append(
                            (
                                COMPUTE_READS[o],
                                dbase + int(t.dst[e, i]),
                                dbase + int(t.a[e, i]),
                                cbase + int(t.coef[e, i]) if o in COEF_OPS else -1,
                                dbase + acc if acc >= 0 else -1,
                                op_lat[o],
                                fu_index[COMPUTE_FU[o]],
                                op_ii[o],
                            )
                        )
                per_pe.append(lst)
            if kind == STEP_ST:
                n_st += s1 - s0
            if kind == STEP_COMPUTE:
                n_cp += s1 - s0
            if kind in (STEP_XFER, STEP_ST):  # round-robin over the PEs: (PE, index on the PE, *instruction)
                rounds = max(map(len, per_pe), default=0)
                per_pe = [
                    (e, k, *per_pe[e][k]) for k in range(rounds) for e in range(n_pe) if k < len(per_pe[e])
                ]
            steps.append((kind, per_pe))
        v = variants[key] = _Variant(steps, n_st, n_cp)
        return v

    # pre-create every route so that the link table is complete
    for t in program.templates:
        for e in range(n_pe):
            for i in np.nonzero(t.op[e] == OP_XFER)[0]:
                peer = int(t.peer[e, i])
                if (e, peer) not in route_cache:
                    route_cache[(e, peer)] = route_ids(e, peer)
    n_links = len(link_index)

    # ---- state ----
    n_regs = plan.coef_sets * cset + max(
        s * t.data_regs for s, t in zip(plan.tag_slots, program.templates, strict=True)
    )
    rr = [array("q", [0]) * n_regs for _ in range(n_pe)]  # ready
    rl = [array("q", [NEVER]) * n_regs for _ in range(n_pe)]  # last read
    rc = [bytearray(n_regs) for _ in range(n_pe)]  # cause of the producer
    pf_ld = [0] * n_pe
    pf_st = [0] * n_pe
    pf_xf = [0] * n_pe
    pf_cp = [0] * n_pe
    fu_free = [[0] * n_fu for _ in range(n_pe)]
    rdc: list[dict[int, int]] = [{} for _ in range(n_pe)]
    wrc: list[dict[int, int]] = [{} for _ in range(n_pe)]  # write ports of compute results
    # all writes (FU results, load data, transfer arrivals) share the write ports; partitioning them (one
    # port for loads / arrivals) was tried and gives more scheduling anomalies (see the report)
    WP_FU, WP_IN = WP, WP
    wic = wrc
    links: list[dict[int, int]] = [{} for _ in range(n_links)]
    banks: list[dict[int, int]] = [{} for _ in range(G)]
    calendars = (rdc, wrc, wic, links, banks) if wic is not wrc else (rdc, wrc, links, banks)
    spm_ready = array("q", [0]) * program.spm.total_slots
    spm_np = np.frombuffer(spm_ready, dtype=np.int64)
    comp_hist: list[list[int] | None] = [None] * n_it  # per iteration: completion per PE
    stalls = [0] * len(CAUSES)
    pe_end = [0]  # latest completion of any iteration on any PE
    gmask = G - 1  # a power of two (SpmGeometry)
    rec = Recorder(n_pe, n_regs, fu_names, n_it) if record else None

    # ---- DMA ----
    ch_rate = arch.dma.gbytes_per_s_per_channel * 1e9 / arch.clock_hz
    ch_free = [0] * arch.dma.channels
    dma_done: list[int] = [0] * len(program.dma)
    dma_busy = 0
    dma_next = [0]  # next DMA op to issue (program order)
    # DMA ops are issued eagerly, in program order: the initial group (first loads, coefficients) before
    # any iteration; the group [store(b), load(b + buffers)] as soon as batch b's last iteration is done
    n_buf = plan.buffers
    first_store = next((k for k, d in enumerate(program.dma) if d.kind == "store"), len(program.dma))
    initial_end = first_store - 1
    after_batch_end: dict[int, int] = {}
    for idx, d in enumerate(program.dma):
        if idx >= first_store:
            owner = d.batch if d.kind == "store" else d.batch - n_buf
            after_batch_end[owner] = idx

    def issue_dma_until(last: int) -> None:
        """Issue DMA ops in program order: each takes the channel that can start it first and streams --
        slot k of a load is usable once its bytes have arrived; a store reads slot k once it is written."""
        nonlocal dma_busy
        lat = arch.dma.latency_cycles
        while dma_next[0] <= last:
            idx = dma_next[0]
            d = program.dma[idx]
            ((lo, hi),) = d.slot_ranges
            n_sl = hi - lo
            per = d.dram_bytes / n_sl / ch_rate  # cycles per slot on one channel
            if d.kind == "store":
                ready = spm_np[lo:hi]
                first = int(ready.min())
            else:
                first = dma_done[d.after] if d.after >= 0 else 0
            starts = [max(f, first) for f in ch_free]
            c = starts.index(min(starts))
            start = starts[c]
            k = np.arange(1, n_sl + 1, dtype=np.float64)
            if d.kind == "store":
                # t_k = max(t_{k-1}, ready_k) + per  (a streaming reader)
                base_ = np.maximum(ready.astype(np.float64) - (k - 1) * per, start)
                t_k = np.maximum.accumulate(base_) + k * per
                end_ = int(math.ceil(t_k[-1] - 1e-9))
                done = end_ + lat
            else:
                arrive = start + lat + np.ceil(k * per - 1e-9).astype(np.int64)
                spm_np[lo:hi] = np.maximum(spm_np[lo:hi], arrive)
                end_ = start + int(math.ceil(n_sl * per - 1e-9))
                done = int(arrive[-1])
            ch_free[c] = end_
            dma_done[idx] = done
            if rec is not None:
                rec.dma(idx, d.kind, c, start, lo, hi, d.after)
            dma_busy += end_ - start
            dma_next[0] += 1

    issue_dma_until(initial_end)

    def dma_shape(k: int) -> tuple:
        d = program.dma[k]
        return (d.kind, d.dram_bytes, d.slot_ranges[0], d.after - k if d.after >= 0 else None)

    # ---- per-iteration static info ----
    it_pass = sch.pass_.tolist()
    it_batch = sch.batch.tolist()
    it_seq = sch.seq.tolist()
    it_base = sch.base.tolist()
    it_lanes = sch.lanes.tolist()
    pf_u = sch.pf_u.tolist()
    pf_v0 = sch.pf_v0.tolist()
    pf_v1 = sch.pf_v1.tolist()
    slots_of = plan.tag_slots
    inst_cb = program.instance_coef_base.tolist()
    inst_pass = program.instance_pass.tolist()
    inst_set = program.instance_set.tolist()
    coef_slot = [t.coef_slot.tolist() for t in program.templates]
    uses_xfer = [t.plan.cross_stages > 0 for t in program.templates]
    st_offsets = [
        np.array(
            [[int(t.slot[e, i]) for i in range(t.n_instr) if t.op[e, i] == OP_ST] for e in range(n_pe)],
            dtype=np.int64,
        )
        for t in program.templates
    ]
    ld_offsets = [
        np.array(
            [[int(t.slot[e, i]) for i in range(t.n_instr) if t.op[e, i] == OP_LD] for e in range(n_pe)],
            dtype=np.int64,
        )
        for t in program.templates
    ]

    def it_key(i: int) -> tuple:
        u = it_seq[i]
        pfk = tuple((pf_u[i][q] - u if pf_u[i][q] >= 0 else None, pf_v0[i][q], pf_v1[i][q]) for q in range(2))
        return (it_pass[i], it_lanes[i], pfk, i == 0)

    # ---- fast-forward bookkeeping ----
    seg_sigs: dict[bytes, int] = {}
    seg_cheap: dict[bytes, int] = {}
    seg_id: tuple[int, int] | None = None
    boundary: dict[int, dict] = {}  # per boundary in the current segment: tmin, counters
    it_stw: dict[int, np.ndarray] = {}  # per iteration of the segment: store write times (PEs, stores)
    it_ext: dict[int, bool] = {}  # per iteration: an SPM / DMA readiness bound a load
    skips: list[tuple[int, int, int, int]] = []
    exact_iters = 0
    exact_instr = 0
    skipped_iters = 0

    def t_min_of(p: int) -> int:
        tm = min(min(pf_ld), min(pf_st), min(pf_cp))
        if uses_xfer[p]:
            tm = min(tm, min(pf_xf))
        return tm

    def prune(tm: int) -> None:
        """Drop reservations before tm (they can no longer conflict): bounds memory, changes nothing."""
        for group in calendars:
            for idx in range(len(group)):
                cal = group[idx]
                if cal:
                    group[idx] = {k: v for k, v in cal.items() if k >= tm}

    # ---- canonical register labelling: iteration i's tag slot first, its coefficient set first ----
    n_sets = plan.coef_sets
    set_base_of_pass: dict[int, int] = {}
    if n_sets > 2:  # resident sets are numbered in first-use order: pass-major, instances in order
        off = 0
        for p_, t_ in enumerate(program.templates):
            set_base_of_pass[p_] = off
            off += t_.plan.n_instances
    it_inst = sch.instance.tolist()

    def reg_perm(i: int) -> np.ndarray:
        """perm[c] = the physical register at canonical position c for iteration i's phase."""
        p = it_pass[i]
        S = slots_of[p]
        D = program.templates[p].data_regs
        base_d = n_sets * cset
        perm = np.arange(n_regs, dtype=np.int64)
        s0 = i % S
        for k in range(S):
            perm[base_d + k * D : base_d + (k + 1) * D] = base_d + ((s0 + k) % S) * D + np.arange(D)
        cur = inst_set[it_seq[i]]
        if n_sets == 2:
            order = [cur, 1 - cur]
        elif n_sets > 2:
            b0 = set_base_of_pass[p]
            J = program.templates[p].plan.n_instances
            rot = [b0 + (it_inst[i] + k) % J for k in range(J)]
            order = list(range(b0)) + rot + list(range(b0 + J, n_sets))
        else:
            order = list(range(n_sets))
        for k, s_ in enumerate(order):
            perm[k * cset : (k + 1) * cset] = s_ * cset + np.arange(cset)
        return perm

    def relabel(perm_old: np.ndarray, perm_new: np.ndarray) -> None:
        """Move every register's state from its old canonical position's register to the new one."""
        if np.array_equal(perm_old, perm_new):
            return
        for group in (rr, rl):
            for a in group:
                v = np.frombuffer(a, dtype=np.int64)
                tmp = v[perm_old].copy()
                v[perm_new] = tmp
        for a in rc:
            v = np.frombuffer(a, dtype=np.uint8)
            tmp = v[perm_old].copy()
            v[perm_new] = tmp

    def cheap_signature(i: int, tm: int) -> bytes:
        """Pipeline / tag-history state and the phase: equal whenever the full state is equal."""
        p = it_pass[i]
        S = slots_of[p]
        hist = []
        for k in range(max(0, i - S), i):
            h = comp_hist[k]
            hist.append([max(v - tm, 0) for v in h] if h is not None else [-2] * n_pe)
        return b"|".join(
            [
                np.maximum(np.array([pf_ld, pf_st, pf_xf, pf_cp], dtype=np.int64) - tm, 0).tobytes(),
                np.maximum(np.array(fu_free, dtype=np.int64) - tm, 0).tobytes(),
                np.array(hist, dtype=np.int64).tobytes(),
                repr((it_key(i), min(i, S))).encode(),
            ]
        )

    def signature(i: int, tm: int) -> bytes:
        """The whole machine state relative to tm (values that can no longer bind clamped), registers in
        canonical order (the iteration's tag slot and coefficient set first)."""
        perm = reg_perm(i)
        rr_a = np.stack([np.frombuffer(a, dtype=np.int64) for a in rr])[:, perm] - tm
        rl_a = np.stack([np.frombuffer(a, dtype=np.int64) for a in rl])[:, perm] - tm
        rc_a = np.stack([np.frombuffer(a, dtype=np.uint8) for a in rc])[:, perm]
        live = rr_a > 0
        parts = [
            cheap_signature(i, tm),
            np.maximum(rr_a, 0).tobytes(),
            np.maximum(rl_a, -1).tobytes(),
            np.where(live, rc_a, 255).astype(np.uint8).tobytes(),
        ]
        for group in calendars:
            for cal in group:
                k = np.fromiter(cal.keys(), dtype=np.int64, count=len(cal))
                v = np.fromiter(cal.values(), dtype=np.int64, count=len(cal))
                keep = k >= tm  # earlier reservations can no longer conflict
                k, v = k[keep], v[keep]
                o = np.argsort(k, kind="stable")
                parts.append((k[o] - tm).tobytes() + b"/" + v[o].tobytes())
        return b"|".join(parts)

    def try_skip(i: int) -> int:
        """Called at the boundary before iteration i; returns the iteration to continue from."""
        nonlocal seg_id, seg_sigs, seg_cheap, skipped_iters
        b, p = it_batch[i], it_pass[i]
        if (b, p) != seg_id:
            seg_id = (b, p)
            seg_sigs = {}
            seg_cheap = {}
            boundary.clear()
            it_stw.clear()
            it_ext.clear()
        tm = t_min_of(p)
        boundary[i] = {"tm": tm, "stalls": list(stalls)}
        cheap = cheap_signature(i, tm)
        if cheap not in seg_cheap:
            seg_cheap[cheap] = i
            return i
        seg_cheap[cheap] = i
        prune(tm)
        sig = signature(i, tm)
        prev = seg_sigs.get(sig)
        seg_sigs[sig] = i
        if prev is None:
            return i
        m = i - prev
        T = tm - boundary[prev]["tm"]
        if T <= 0 or any(it_ext.get(k, True) for k in range(prev, i)):
            return i
        ref_keys = [it_key(k) for k in range(prev, i)]
        # how many whole periods after i repeat the reference structurally, inside the segment
        K = 0
        x = i
        while x + m <= n_it:
            ok = all(
                it_batch[x + d] == b and it_pass[x + d] == p and it_key(x + d) == ref_keys[d]
                for d in range(m)
            )
            if not ok:
                break
            K += 1
            x += m
        S = slots_of[p]
        if K <= 0:
            return i
        # no SPM readiness (DMA data, an earlier pass) may bind inside the skipped window
        lo_it, hi_it = i, i + K * m
        bases = sch.base[lo_it:hi_it]
        offs = ld_offsets[p].reshape(-1)
        if offs.size and int(spm_np[(bases[:, None] + offs[None, :]).reshape(-1)].max()) > tm:
            return i
        for x in range(lo_it, hi_it):
            for q in range(2):
                u = pf_u[x][q]
                if u >= 0:
                    cs = coef_slot[inst_pass[u]]
                    for e in range(n_pe):
                        for v in range(pf_v0[x][q], pf_v1[x][q]):
                            if spm_ready[inst_cb[u] + cs[e][v]] > tm:
                                return i
        shift = K * T
        _apply_shift(shift)
        if i + K * m < n_it:
            relabel(reg_perm(i), reg_perm(i + K * m))
        # stores of the skipped iterations: their SPM ready times, by periodicity
        st_off = st_offsets[p]
        for d in range(m):
            ref = it_stw[prev + d]  # (PEs, stores)
            xs = np.arange(i + d, hi_it, m)
            c = (xs - (i + d)) // m + 1
            slots = sch.base[xs][:, None, None] + st_off[None, :, :]
            times = ref[None, :, :] + (c * T)[:, None, None]
            spm_np[slots.reshape(-1)] = times.reshape(-1)
        # tag history of the last S iterations before the new boundary
        for k in range(1, S + 1):
            src = i - k
            dst = hi_it - k
            if src >= 0 and comp_hist[src] is not None:
                comp_hist[dst] = [v + shift for v in comp_hist[src]]
        d_st = [a - b_ for a, b_ in zip(stalls, boundary[prev]["stalls"], strict=True)]
        for c_ in range(len(stalls)):
            stalls[c_] += K * d_st[c_]
        pe_end[0] = max(pe_end[0], max(max(h) for h in comp_hist[hi_it - S : hi_it] if h is not None))
        skips.append((i, m, K, T))
        replicate_trace(prev, i, K, T)
        skipped_iters += K * m
        seg_sigs = {}
        seg_cheap = {}
        boundary.clear()
        return hi_it

    def _apply_shift(shift: int) -> None:
        for a in rr:
            v = np.frombuffer(a, dtype=np.int64)
            v += shift
        for a in rl:
            v = np.frombuffer(a, dtype=np.int64)
            v += shift
        for lst in (pf_ld, pf_st, pf_xf, pf_cp):
            for e in range(n_pe):
                lst[e] += shift
        for ff_ in fu_free:
            for k in range(n_fu):
                ff_[k] += shift
        for group in calendars:
            for idx in range(len(group)):
                group[idx] = {k + shift: v for k, v in group[idx].items()}

    # ---- batch-level fast-forward (whole batches, DMA included) ----
    batch_sigs: dict[bytes, int] = {}
    batch_cheap: dict[bytes, int] = {}
    batch_bd: dict[int, dict] = {}
    buf_lo = program.spm.buffer_base[0]

    def try_batch_skip(i: int) -> int:
        """At the boundary before the first iteration of a batch (its predecessor's DMA group issued)."""
        nonlocal skipped_iters, dma_busy
        p = it_pass[i]
        tm = t_min_of(p)
        cheap = (
            cheap_signature(i, tm)
            + b"|"
            + np.maximum(np.array(ch_free, dtype=np.int64) - tm, 0).tobytes()
            + repr((it_batch[i] % n_buf,)).encode()
        )
        batch_bd[i] = {
            "tm": tm,
            "stalls": list(stalls),
            "dma_next": dma_next[0],
            "dma_busy": dma_busy,
            "spm": spm_np[buf_lo:].copy(),
        }
        if cheap not in batch_cheap:
            batch_cheap[cheap] = i
            return i
        batch_cheap[cheap] = i
        prune(tm)
        sig = (
            signature(i, tm)
            + b"|"
            + np.maximum(np.array(ch_free, dtype=np.int64) - tm, 0).tobytes()
            + b"|"
            + np.maximum(spm_np[buf_lo:] - tm, 0).tobytes()
            + repr(
                (it_batch[i] % n_buf, dma_next[0] - (after_batch_end.get(it_batch[i] - 1, initial_end) + 1))
            ).encode()
        )
        prev = batch_sigs.get(sig)
        batch_sigs[sig] = i
        if prev is None:
            return i
        ref = batch_bd[prev]
        m = i - prev
        T = tm - ref["tm"]
        ops_m = dma_next[0] - ref["dma_next"]
        if T <= 0:
            return i
        ref_keys = [it_key(k) for k in range(prev, i)]
        ref_ops = [dma_shape(k) for k in range(ref["dma_next"], dma_next[0])]
        K = 0
        x = i
        xo = dma_next[0]
        while x + m <= n_it and xo + ops_m <= len(program.dma):
            if any(it_key(x + d) != ref_keys[d] for d in range(m)):
                break
            if any(dma_shape(xo + d) != ref_ops[d] for d in range(ops_m)):
                break
            if x + m < n_it and it_batch[x + m] == it_batch[x + m - 1]:
                break  # the window must end at a batch boundary
            K += 1
            x += m
            xo += ops_m
        if K <= 0:
            return i
        shift = K * T
        _apply_shift(shift)
        if i + K * m < n_it:
            relabel(reg_perm(i), reg_perm(i + K * m))
        changed = spm_np[buf_lo:] != ref["spm"]
        spm_np[buf_lo:][changed] += shift
        for k in range(dma_next[0], dma_next[0] + K * ops_m):
            dma_done[k] = dma_done[k - ops_m] + T
        for c in range(len(ch_free)):
            ch_free[c] += shift
        dma_next[0] += K * ops_m
        dma_busy += K * (dma_busy - ref["dma_busy"])
        hi_it = i + K * m
        S = slots_of[p]
        for k in range(1, S + 1):
            if i - k >= 0 and comp_hist[i - k] is not None:
                comp_hist[hi_it - k] = [v + shift for v in comp_hist[i - k]]
        d_st = [a - b_ for a, b_ in zip(stalls, ref["stalls"], strict=True)]
        for c_ in range(len(stalls)):
            stalls[c_] += K * d_st[c_]
        pe_end[0] = max(pe_end[0], max(max(h) for h in comp_hist[hi_it - S : hi_it] if h is not None))
        skips.append((i, m, K, T))
        replicate_trace(prev, i, K, T)
        skipped_iters += K * m
        batch_sigs.clear()
        batch_cheap.clear()
        batch_bd.clear()
        return hi_it

    # ---- trace ----
    tracing = trace
    tr_c = array("q")  # PE * 4 + kind (0 compute, 1 xfer, 2 load, 3 store), exact events not yet flushed
    tr_t = array("q")  # issue cycle
    tr_mark: dict[int, int] = {}  # iteration -> number of events before it (flushed + exact)
    tr_chunks: list[tuple[np.ndarray, np.ndarray]] = []  # all events so far, in program order
    tr_flushed = [0]

    def flush_trace() -> None:
        if len(tr_t):
            tr_chunks.append(
                (np.frombuffer(tr_c, dtype=np.int64).copy(), np.frombuffer(tr_t, dtype=np.int64).copy())
            )
            tr_flushed[0] += len(tr_t)
            del tr_c[:]
            del tr_t[:]

    def replicate_trace(prev: int, i: int, K: int, T: int) -> None:
        """Events of fast-forwarded iterations: the reference period's, shifted by c T."""
        if not tracing:
            return
        flush_trace()
        codes = np.concatenate([c for c, _ in tr_chunks]) if tr_chunks else np.zeros(0, dtype=np.int64)
        times = np.concatenate([t for _, t in tr_chunks]) if tr_chunks else np.zeros(0, dtype=np.int64)
        a, z = tr_mark[prev], tr_mark[i]
        for c in range(1, K + 1):
            tr_chunks.append((codes[a:z], times[a:z] + c * T))
            tr_flushed[0] += z - a

    # ---- main loop ----
    no_hist = [0] * n_pe
    cur_batch = it_batch[0] if n_it else -1
    batch_end: dict[int, int] = {}
    i = 0
    while i < n_it:
        if tracing:
            tr_mark[i] = tr_flushed[0] + len(tr_t)
        b = it_batch[i]
        if b != cur_batch:
            if i > 0 and it_batch[i - 1] == cur_batch:  # the batch ran to its end (not fast-forwarded past)
                batch_end[cur_batch] = pe_end[0]
            issue_dma_until(after_batch_end.get(cur_batch, initial_end))
            cur_batch = b
            if fast_forward:
                j = try_batch_skip(i)
                if j != i:
                    i = j
                    cur_batch = it_batch[i] if i < n_it else cur_batch
                    continue
        if fast_forward and i > 0:
            j = try_skip(i)
            if j != i:
                i = j
                continue
        p = it_pass[i]
        S = slots_of[p]
        if i % PRUNE_EVERY == 0:
            prune(t_min_of(p))
        slot = i % S
        u = it_seq[i]
        var = variant(p, slot, inst_set[u])
        base = it_base[i]
        tag_lbs = comp_hist[i - S] if i >= S else no_hist  # the tag window: iteration i - S's completion
        if rec is not None:
            rec.begin(i, S)
        comp = [0] * n_pe
        ext = False
        first_pass = p == 0
        ld_cause = C_DMA if first_pass else C_SPM
        stw = np.zeros((n_pe, var.st_count), dtype=np.int64) if fast_forward else None
        for kind, per_pe in var.steps:
            if kind == STEP_LD:
                # shared banks are granted round-robin over the PEs (one request per PE per round), each PE's
                # load pipeline in order
                work = []
                for e in range(n_pe):
                    lst = [(dst, base + off, C_SPM) for dst, off in per_pe[e]]
                    for q in range(2):
                        uu = pf_u[i][q]
                        if uu >= 0:
                            cs = coef_slot[inst_pass[uu]][e]
                            cb = inst_cb[uu]
                            rb = inst_set[uu] * cset
                            lst.extend((rb + v, cb + cs[v], C_DMA) for v in range(pf_v0[i][q], pf_v1[i][q]))
                    work.append(lst)
                    exact_instr += len(lst)
                for k_ in range(max(map(len, work))):
                    for e in range(n_pe):
                        lst = work[e]
                        if k_ >= len(lst):
                            continue
                        dst, slot_, pref_cause = lst[k_]
                        tag_lb = tag_lbs[e]
                        rr_e, wr = rr[e], wic[e]
                        pf = pf_ld[e]
                        t = pf if pf > tag_lb else tag_lb
                        cause = C_TAG if tag_lb > pf else C_SPM
                        sr = spm_ready[slot_]
                        if sr > t:
                            t = sr
                            cause = ld_cause if pref_cause == C_SPM else C_DMA
                            ext = True
                        w = rl[e][dst] - spm_lat + 1
                        if w > t:
                            t = w
                        bg = banks[slot_ & gmask]
                        while True:
                            if occ_bank == 1:
                                if t in bg:
                                    t += 1
                                    continue
                            else:
                                t2 = _calendar_free(bg, t, occ_bank)
                                if t2 != t:
                                    t = t2
                                    continue
                            if wr.get(t + spm_lat - 1, 0) >= WP_IN:
                                t += 1
                                continue
                            break
                        for k in range(occ_bank):
                            bg[t + k] = 1
                        wk = t + spm_lat - 1
                        wr[wk] = wr.get(wk, 0) + 1
                        pf_ld[e] = t + 1
                        rr_e[dst] = t + spm_lat
                        rc[e][dst] = cause
                        if t + spm_lat > comp[e]:
                            comp[e] = t + spm_lat
                        if rec is not None:
                            rec.ld(e, dst, slot_, t, wk, ld_cause if pref_cause == C_SPM else C_DMA)
                        if tracing:
                            tr_c.append(e * 4 + 2)
                            tr_t.append(t)
            elif kind == STEP_XFER:
                # shared links (and the receivers' write ports) are granted round-robin over the PEs
                for e, _, src, dst, peer, route in per_pe:
                    tag_lb = tag_lbs[e]
                    rr_e, rl_e, rd = rr[e], rl[e], rdc[e]
                    pf = pf_xf[e]
                    t = pf if pf > tag_lb else tag_lb
                    x = rr_e[src]
                    if x > t:
                        t = x
                    cal = links[route[0]]
                    while True:
                        busy = False
                        for k in range(SER):
                            if t + k in cal:
                                t = t + k + 1
                                busy = True
                                break
                        if busy:
                            continue
                        if rd.get(t, 0) >= RP:
                            t += 1
                            continue
                        break
                    for k in range(SER):
                        cal[t + k] = 1
                    rd[t] = rd.get(t, 0) + 1
                    s_ = t
                    hops = [] if rec is not None else None
                    for lk in route[1:]:
                        s_ = _calendar_free(links[lk], s_ + HOP, SER)
                        c2 = links[lk]
                        for k in range(SER):
                            c2[s_ + k] = 1
                        if hops is not None:
                            hops.append(s_)
                    arr = s_ + SER - 1 + HOP
                    rl2 = rl[peer]
                    if rl2[dst] >= arr:
                        arr = rl2[dst] + 1
                    wr2 = wic[peer]
                    while wr2.get(arr, 0) >= WP_IN:
                        arr += 1
                    wr2[arr] = wr2.get(arr, 0) + 1
                    rr[peer][dst] = arr + 1
                    rc[peer][dst] = C_NOC
                    if t > rl_e[src]:
                        rl_e[src] = t
                    pf_xf[e] = t + 1
                    if t + 1 > comp[e]:
                        comp[e] = t + 1
                    if arr + 1 > comp[peer]:
                        comp[peer] = arr + 1
                    if rec is not None:
                        rec.xfer(e, src, peer, dst, route, t, hops, arr)
                    if tracing:
                        tr_c.append(e * 4 + 1)
                        tr_t.append(t)
                exact_instr += len(per_pe)
            elif kind == STEP_COMPUTE:
                for e in range(n_pe):
                    tag_lb = tag_lbs[e]
                    rr_e, rl_e, rc_e, rd, wr = rr[e], rl[e], rc[e], rdc[e], wrc[e]
                    pf = pf_cp[e]
                    ff = fu_free[e]
                    ce = comp[e]
                    for nr, dst, a, cr, acc, lat, fu, ii in per_pe[e]:
                        t = pf
                        cause = C_OPERAND
                        if tag_lb > t:
                            t = tag_lb
                            cause = C_TAG
                        x = rr_e[a]
                        if x > t:
                            t = x
                            cause = rc_e[a]
                        if cr >= 0:
                            x = rr_e[cr]
                            if x > t:
                                t = x
                                cause = rc_e[cr]
                        if acc >= 0:
                            x = rr_e[acc]
                            if x > t:
                                t = x
                                cause = rc_e[acc]
                        x = rl_e[dst] - lat + 2
                        if x > t:
                            t = x
                            cause = C_OPERAND
                        x = ff[fu]
                        if x > t:
                            t = x
                            cause = C_OPERAND
                        t0 = t
                        while rd.get(t, 0) + nr > RP or wr.get(t + lat - 1, 0) >= WP_FU:
                            t += 1
                        rd[t] = rd.get(t, 0) + nr
                        wk = t + lat - 1
                        wr[wk] = wr.get(wk, 0) + 1
                        if t0 > pf:
                            stalls[cause] += t0 - pf
                        if t > t0:
                            stalls[C_RFPORT] += t - t0
                        pf = t + 1
                        ff[fu] = t + ii
                        rr_e[dst] = t + lat
                        rc_e[dst] = C_OPERAND
                        if t > rl_e[a]:
                            rl_e[a] = t
                        if cr >= 0 and t > rl_e[cr]:
                            rl_e[cr] = t
                        if acc >= 0 and t > rl_e[acc]:
                            rl_e[acc] = t
                        if t + lat > ce:
                            ce = t + lat
                        if rec is not None:
                            rec.compute(e, fu, nr, dst, a, cr, acc, t, wk)
                        if tracing:
                            tr_c.append(e * 4 + 0)
                            tr_t.append(t)
                    exact_instr += len(per_pe[e])
                    pf_cp[e] = pf
                    comp[e] = ce
            else:  # STEP_ST: shared banks granted round-robin over the PEs
                for e, k_, src, off in per_pe:
                    slot_ = base + off
                    tag_lb = tag_lbs[e]
                    rr_e, rl_e, rd = rr[e], rl[e], rdc[e]
                    pf = pf_st[e]
                    t = pf if pf > tag_lb else tag_lb
                    x = rr_e[src]
                    if x > t:
                        t = x
                    bg = banks[slot_ & gmask]
                    while True:
                        t2 = _calendar_free(bg, t, occ_bank) if occ_bank > 1 else t
                        if occ_bank == 1 and t2 in bg:
                            t += 1
                            continue
                        t = t2
                        if rd.get(t, 0) >= RP:
                            t += 1
                            continue
                        break
                    for k in range(occ_bank):
                        bg[t + k] = 1
                    rd[t] = rd.get(t, 0) + 1
                    spm_ready[slot_] = t + spm_lat
                    if stw is not None:
                        stw[e, k_] = t + spm_lat
                    if t > rl_e[src]:
                        rl_e[src] = t
                    pf_st[e] = t + 1
                    if t + spm_lat > comp[e]:
                        comp[e] = t + spm_lat
                    if rec is not None:
                        rec.st(e, src, slot_, t)
                    if tracing:
                        tr_c.append(e * 4 + 3)
                        tr_t.append(t)
                exact_instr += len(per_pe)
        comp_hist[i] = comp
        if rec is not None:
            rec.end(i, b, comp)
        m_ = max(comp)
        if m_ > pe_end[0]:
            pe_end[0] = m_
        if stw is not None:
            it_stw[i] = stw
            it_ext[i] = ext
        exact_iters += 1
        i += 1
        if i == n_it:
            batch_end[b] = pe_end[0]

    # ---- drain: remaining DMA (stores of the last batches) ----
    issue_dma_until(len(program.dma) - 1)
    end = max([pe_end[0], *dma_done])
    drain = sum(end - pf_cp[e] for e in range(n_pe))
    stall_d = {c: stalls[k] for k, c in enumerate(CAUSES)}
    stall_d[DRAIN] = drain
    per_pass = np.bincount(sch.pass_, minlength=len(program.templates))
    n_compute = sum(
        int(np.isin(t.op[0], COMPUTE_OPS).sum()) * n_pe * int(c)
        for t, c in zip(program.templates, per_pass, strict=True)
    )
    link_busy = 0
    bank_busy = 0
    trace_d = None
    if tracing:
        flush_trace()
        codes = np.concatenate([c for c, _ in tr_chunks]) if tr_chunks else np.zeros(0, dtype=np.int64)
        times = np.concatenate([t for _, t in tr_chunks]) if tr_chunks else np.zeros(0, dtype=np.int64)
        trace_d = {
            "events": np.stack([codes // 4, codes % 4, times], axis=1),
            "cycles": end,
            "pes": coords,
        }
    return TimingStats(
        cycles=int(end),
        stalls=stall_d,
        compute_issues=n_compute,
        pe_last_compute=list(pf_cp),
        dma_busy_cycles=dma_busy,
        link_busy_cycles=link_busy,
        spm_bank_busy_cycles=bank_busy,
        exact_iterations=exact_iters,
        skipped_iterations=skipped_iters,
        exact_instructions=exact_instr,
        skips=skips,
        wall_s=time.perf_counter() - wall0,
        dma_done=dma_done,
        batch_end=batch_end,
        trace=trace_d,
        graph=rec.g if rec is not None else None,
    )
