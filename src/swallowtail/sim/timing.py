"""Cycle-level timing engine: executes a Program instruction by instruction with exact resource modelling,
and fast-forwards the periodic steady state of the software pipeline. The instruction-by-instruction part of
an iteration runs compiled (`swallowtail.sim.engine`); this module drives it: iteration order, DMA,
fast-forward, the event recorder and the trace.

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
    OPCODE_NAMES,
)
from swallowtail.compiler.program import Program
from swallowtail.compiler.template import STEP_COMPUTE, STEP_LD, STEP_XFER
from swallowtail.errors import SpecError
from swallowtail.sim import engine
from swallowtail.sim.replay import EventGraph, OrderInfeasible, Recorder, replay

# stall causes (index into the stall counters)
C_OPERAND, C_NOC, C_SPM, C_DMA, C_TAG, C_RFPORT = 0, 1, 2, 3, 4, 5
CAUSES = ("operand", "noc", "spm", "dma", "tag_window", "rf_port")
DRAIN = "drain"
#: a time earlier than any cycle
NEVER = -(1 << 40)
#: iterations between clean-ups of the reservation tables' overflow (bounds memory; no effect on results)
PRUNE_EVERY = 16
#: the opcodes of each pipeline: load, store, transfer, compute
PIPE_OPS = ((OP_LD,), (OP_ST,), (OP_XFER,), tuple(COMPUTE_OPS))


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
    """A pass template resolved for one (tag slot, coefficient parity), as the compiled engine's tables."""

    __slots__ = ("tables", "st_count", "n_log", "n_hops", "n_res")

    def __init__(self, tables: tuple, st_count: int, n_log: int, n_hops: int, n_res: int) -> None:
        self.tables = (
            tables  # (steps, ld_ptr, ld_rows, xf_rows, cp_ptr, cp_rows, st_rows): engine.run_iteration
        )
        self.st_count = st_count
        self.n_log = n_log
        self.n_hops = n_hops
        self.n_res = n_res


def _check_ports(program: Program, arch: DataflowArch) -> None:
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
    _check_ports(program, arch)
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

    # ---- variants ----
    variants: dict[tuple[int, int, int], _Variant] = {}

    # per opcode: registers read, latency, FU index, initiation interval, reads a coefficient
    n_ops = max(COMPUTE_OPS) + 1
    op_nr = np.zeros(n_ops, dtype=np.int64)
    op_lat_a, op_fu_a, op_ii_a = op_nr.copy(), op_nr.copy(), op_nr.copy()
    op_coef = np.zeros(n_ops, dtype=bool)
    for o in COMPUTE_OPS:
        op_nr[o], op_lat_a[o], op_fu_a[o], op_ii_a[o] = (
            COMPUTE_READS[o],
            op_lat[o],
            fu_index[COMPUTE_FU[o]],
            op_ii[o],
        )
        op_coef[o] = o in COEF_OPS
    pe_col = np.arange(n_pe, dtype=np.int64)[:, None]

    def variant(p: int, slot: int, par: int) -> _Variant:
        key = (p, slot, par)
        v = variants.get(key)
        if v is not None:
            return v
        t = program.templates[p]
        dbase = plan.coef_sets * cset + slot * t.data_regs
        cbase = par * cset
        steps, ld_ptr, ld_rows, xf_rows, cp_ptr, cp_rows, st_rows = [], [], [], [], [], [], []
        n_ld = n_xf = n_cp = n_st_rows = 0
        n_st = 0
        for kind, s0, s1 in t.steps:
            L = s1 - s0
            op = t.op[:, s0:s1]
            if kind == STEP_LD:
                assert (op == OP_LD).all()
                steps.append((engine.STEP_CODES[kind], len(ld_ptr), 0))
                ld_ptr.append(n_ld + L * np.arange(n_pe + 1))
                ld_rows.append(np.stack([dbase + t.dst[:, s0:s1], t.slot[:, s0:s1]], axis=-1).reshape(-1, 2))
                n_ld += n_pe * L
            elif kind == STEP_COMPUTE:
                assert np.isin(op, COMPUTE_OPS).all()
                steps.append((engine.STEP_CODES[kind], len(cp_ptr), 0))
                cp_ptr.append(n_cp + L * np.arange(n_pe + 1))
                acc = t.acc[:, s0:s1]
                cols = [
                    op_nr[op],
                    dbase + t.dst[:, s0:s1],
                    dbase + t.a[:, s0:s1],
                    np.where(op_coef[op], cbase + t.coef[:, s0:s1], -1),
                    np.where(acc >= 0, dbase + acc, -1),
                    op_lat_a[op],
                    op_fu_a[op],
                    op_ii_a[op],
                ]
                cp_rows.append(np.stack(cols, axis=-1).reshape(-1, 8))
                n_cp += n_pe * L
            else:  # transfers and stores: round-robin over the PEs (the k-th of every PE before any (k+1)-th)
                e_ = np.broadcast_to(pe_col, (n_pe, L))
                if kind == STEP_XFER:
                    assert (op == OP_XFER).all()
                    peer = t.peer[:, s0:s1]
                    cols = [e_, dbase + t.a[:, s0:s1], dbase + t.dst[:, s0:s1], peer]
                    cols += [span_lo[e_, peer], span_hi[e_, peer]]
                    xf_rows.append(np.stack(cols, axis=-1).transpose(1, 0, 2).reshape(-1, 6))
                    steps.append((engine.STEP_CODES[kind], n_xf, n_xf + n_pe * L))
                    n_xf += n_pe * L
                else:
                    assert (op == OP_ST).all()
                    k_ = np.broadcast_to(np.arange(L), (n_pe, L))
                    cols = [e_, k_, dbase + t.a[:, s0:s1], t.slot[:, s0:s1]]
                    st_rows.append(np.stack(cols, axis=-1).transpose(1, 0, 2).reshape(-1, 4))
                    steps.append((engine.STEP_CODES[kind], n_st_rows, n_st_rows + n_pe * L))
                    n_st_rows += n_pe * L
                    n_st += L

        def arr(parts: list, width: int) -> np.ndarray:
            if not parts:
                return np.zeros((0, width), dtype=np.int64)
            return np.ascontiguousarray(np.concatenate(parts).reshape(-1, width), dtype=np.int64)

        n_ld_steps = len(ld_ptr)
        xf = arr(xf_rows, 6)
        tables = (
            arr([np.array(steps, dtype=np.int64)], 3),
            arr(ld_ptr, n_pe + 1),
            arr(ld_rows, 2),
            xf,
            arr(cp_ptr, n_pe + 1),
            arr(cp_rows, 8),
            arr(st_rows, 4),
        )
        v = variants[key] = _Variant(
            tables=tables,
            st_count=n_st,
            n_log=n_ld + n_xf + n_cp + n_st_rows + n_ld_steps * n_pe * max_pref,
            n_hops=int((xf[:, 5] - xf[:, 4] - 1).sum()),
            # reservations one iteration can make (the most the overflow table may have to take)
            n_res=(n_ld + n_ld_steps * n_pe * max_pref + n_st_rows) * (occ_bank + 1)
            + int((SER * (xf[:, 5] - xf[:, 4]) + 2).sum())
            + 2 * n_cp,
        )
        return v

    # every route, so that the link table is complete: routes_flat[r0:r1] are the links of (e, peer)
    routes_flat: list[int] = []
    route_span: dict[tuple[int, int], tuple[int, int]] = {}
    for t in program.templates:
        for e in range(n_pe):
            for i in np.nonzero(t.op[e] == OP_XFER)[0]:
                peer = int(t.peer[e, i])
                if (e, peer) not in route_span:
                    r = route_ids(e, peer)
                    route_span[(e, peer)] = (len(routes_flat), len(routes_flat) + len(r))
                    routes_flat.extend(r)
    routes_np = np.array(routes_flat, dtype=np.int64)
    span_lo = np.zeros((n_pe, n_pe), dtype=np.int64)
    span_hi = np.zeros((n_pe, n_pe), dtype=np.int64)
    for (e, peer), (r0, r1) in route_span.items():
        span_lo[e, peer], span_hi[e, peer] = r0, r1
    n_links = len(link_index)
    # the most coefficient loads one iteration appends to a load step on one PE
    max_pref = int(
        np.where(sch.pf_u >= 0, np.clip(sch.pf_v1 - sch.pf_v0, 0, None), 0).sum(axis=1).max(initial=0)
    )

    # ---- state ----
    n_regs = plan.coef_sets * cset + max(
        s * t.data_regs for s, t in zip(plan.tag_slots, program.templates, strict=True)
    )
    rr = np.zeros((n_pe, n_regs), dtype=np.int64)  # ready
    rl = np.full((n_pe, n_regs), NEVER, dtype=np.int64)  # last read
    rc = np.zeros((n_pe, n_regs), dtype=np.uint8)  # cause of the producer
    pf = np.zeros(
        (4, n_pe), dtype=np.int64
    )  # next free cycle of the load, store, transfer, compute pipelines
    pf_ld, pf_st, pf_xf, pf_cp = pf[0], pf[1], pf[2], pf[3]
    fu_free = np.zeros((n_pe, n_fu), dtype=np.int64)
    # reservation tables (engine rings): RF read ports, write ports (FU results, load data and transfer
    # arrivals share them; partitioning them -- one port for loads / arrivals -- was tried and gives more
    # scheduling anomalies), links, SPM bank groups
    RD0, WR0, LINK0, BANK0 = 0, n_pe, 2 * n_pe, 2 * n_pe + n_links
    n_cal = BANK0 + G
    res = engine.Reservations(n_cal)
    layout = np.array([RD0, WR0, LINK0, BANK0, G - 1, occ_bank, spm_lat, RP, WP, SER, HOP], dtype=np.int64)
    spm_np = np.zeros(program.spm.total_slots, dtype=np.int64)
    state = (rr, rl, rc, pf, fu_free, spm_np)  # the engine's view of the machine (arrays updated in place)
    comp_hist: list[np.ndarray | None] = [None] * n_it  # per iteration: completion per PE
    stalls = np.zeros(len(CAUSES), dtype=np.int64)
    pe_end = [0]  # latest completion of any iteration on any PE
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
    # per pass: (PEs, coefficient registers) -> SPM slot offset of the coefficient
    coef_slot = [
        np.ascontiguousarray(t.coef_slot, dtype=np.int64).reshape(n_pe, -1) for t in program.templates
    ]
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

    # per pass: the (pipeline, PE) pairs that issue in its iterations (load, store, transfer, compute)
    has_pipe = [
        np.array(
            [[bool(np.isin(t.op[e], ops).any()) for e in range(n_pe)] for ops in PIPE_OPS],
            dtype=bool,
        )
        for t in program.templates
    ]

    def clamp_to_tag_window(i: int) -> None:
        """Before iteration i: a load / store / transfer pipeline free before iteration i - S completes on its
        PE cannot delay anything (iteration i's first instruction there waits for that completion, and the
        later ones follow it in order), so its free time is raised to that completion: the same schedule,
        and states that differ only in such slack compare equal. The compute pipeline keeps its free time
        (its stall accounting counts from it)."""
        p = it_pass[i]
        S = slots_of[p]
        if i < S or comp_hist[i - S] is None:
            return
        lb = comp_hist[i - S]
        for k in range(3):
            np.maximum(pf[k], np.where(has_pipe[p][k], lb, pf[k]), out=pf[k])

    def t_min_of(p: int) -> int:
        tm = min(pf_ld.min(), pf_st.min(), pf_cp.min())
        if uses_xfer[p]:
            tm = min(tm, pf_xf.min())
        return int(tm)

    def floor_of(p: int) -> int:
        """No request from an iteration of pass p or later is earlier: the earliest next issue of any pipeline
        pass p uses (later requests wait for their pipeline, transfers and stores for a register the same
        iteration wrote). The engine checks it: reservations before it are reused."""
        return int(pf[has_pipe[p]].min())

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
        for a in (rr, rl, rc):
            a[:, perm_new] = a[:, perm_old].copy()

    def cheap_signature(i: int, tm: int) -> bytes:
        """Pipeline / tag-history state and the phase: equal whenever the full state is equal."""
        p = it_pass[i]
        S = slots_of[p]
        hist = []
        for k in range(max(0, i - S), i):
            h = comp_hist[k]
            hist.append(np.maximum(h - tm, 0) if h is not None else np.full(n_pe, -2, dtype=np.int64))
        return b"|".join(
            [
                np.maximum(pf - tm, 0).tobytes(),
                np.maximum(fu_free - tm, 0).tobytes(),
                np.array(hist, dtype=np.int64).tobytes(),
                repr((it_key(i), min(i, S))).encode(),
            ]
        )

    def signature(i: int, tm: int) -> bytes:
        """The whole machine state relative to tm (values that can no longer bind clamped), registers in
        canonical order (the iteration's tag slot and coefficient set first)."""
        perm = reg_perm(i)
        rr_a = rr[:, perm] - tm
        rl_a = rl[:, perm] - tm
        rc_a = rc[:, perm]
        live = rr_a > 0
        # reservations from tm on (earlier ones can no longer conflict; the engine may have reused those
        # before the floor)
        cal = res.live(max(tm, floor_of(it_pass[i])))
        cal[:, 1] -= tm
        parts = [
            cheap_signature(i, tm),
            np.maximum(rr_a, 0).tobytes(),
            np.maximum(rl_a, -1).tobytes(),
            np.where(live, rc_a, 255).astype(np.uint8).tobytes(),
            cal.tobytes(),
        ]
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
        clamp_to_tag_window(i)
        tm = t_min_of(p)
        boundary[i] = {"tm": tm, "stalls": list(stalls)}
        cheap = cheap_signature(i, tm)
        if cheap not in seg_cheap:
            seg_cheap[cheap] = i
            return i
        seg_cheap[cheap] = i
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
                    cs = coef_slot[inst_pass[u]][:, pf_v0[x][q] : pf_v1[x][q]]
                    if cs.size and int(spm_np[inst_cb[u] + cs].max()) > tm:
                        return i
        shift = K * T
        _apply_shift(shift, floor_of(p))
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
                comp_hist[dst] = comp_hist[src] + shift
        d_st = [a - b_ for a, b_ in zip(stalls, boundary[prev]["stalls"], strict=True)]
        for c_ in range(len(stalls)):
            stalls[c_] += K * d_st[c_]
        pe_end[0] = max(pe_end[0], max(int(h.max()) for h in comp_hist[hi_it - S : hi_it] if h is not None))
        skips.append((i, m, K, T))
        replicate_trace(prev, i, K, T)
        skipped_iters += K * m
        seg_sigs = {}
        seg_cheap = {}
        boundary.clear()
        return hi_it

    def _apply_shift(shift: int, floor: int) -> None:
        """Every time in the machine state `shift` cycles later (reservations before `floor` dropped)."""
        for a in (rr, rl, pf, fu_free):
            a += shift
        res.rebuild(floor, shift)

    # ---- batch-level fast-forward (whole batches, DMA included) ----
    batch_sigs: dict[bytes, int] = {}
    batch_cheap: dict[bytes, int] = {}
    batch_bd: dict[int, dict] = {}
    buf_lo = program.spm.buffer_base[0]

    def try_batch_skip(i: int) -> int:
        """At the boundary before the first iteration of a batch (its predecessor's DMA group issued)."""
        nonlocal skipped_iters, dma_busy
        p = it_pass[i]
        clamp_to_tag_window(i)
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
        _apply_shift(shift, floor_of(p))
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
                comp_hist[hi_it - k] = comp_hist[i - k] + shift
        d_st = [a - b_ for a, b_ in zip(stalls, ref["stalls"], strict=True)]
        for c_ in range(len(stalls)):
            stalls[c_] += K * d_st[c_]
        pe_end[0] = max(pe_end[0], max(int(h.max()) for h in comp_hist[hi_it - S : hi_it] if h is not None))
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

    # ---- the engine's per-iteration inputs ----
    no_hist = np.zeros(n_pe, dtype=np.int64)
    pref = np.zeros((2, 4), dtype=np.int64)  # coefficient loads: (register base, slot base, v0, v1) x 2
    no_cs = np.zeros((n_pe, 1), dtype=np.int64)
    logging = rec is not None or tracing
    log = np.zeros((1, engine.LOG_WIDTH), dtype=np.int64)
    hop_log = np.zeros(1, dtype=np.int64)

    def feed_log(i: int, S: int, b: int, comp: np.ndarray, rows: np.ndarray, hops: np.ndarray) -> None:
        """The iteration's issued instructions, in grant order: to the event recorder and the trace."""
        if tracing:
            tr_c.extend((rows[:, 1] * 4 + rows[:, 0]).tolist())
            tr_t.extend(rows[np.arange(len(rows)), engine.LOG_TIME_COL[rows[:, 0]]].tolist())
        if rec is None:
            return
        rec.begin(i, S)
        hl = hops.tolist()
        for r in rows.tolist():
            k = r[0]
            if k == engine.LOG_LD:
                rec.ld(r[1], r[2], r[3], r[4], r[5], r[6])
            elif k == engine.LOG_XF:
                rec.xfer(
                    r[1], r[2], r[3], r[4], tuple(routes_flat[r[5] : r[6]]), r[7], hl[r[8] : r[9]], r[10]
                )
            elif k == engine.LOG_CP:
                rec.compute(r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9])
            else:
                rec.st(r[1], r[2], r[3], r[4])
        rec.end(i, b, comp.tolist())

    # ---- main loop ----
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
        floor = floor_of(p)
        if i % PRUNE_EVERY == 0 and res.ovf_n[0]:
            res.rebuild(floor)
        slot = i % S
        u = it_seq[i]
        var = variant(p, slot, inst_set[u])
        res.room(var.n_res, floor)
        tag_lbs = comp_hist[i - S] if i >= S else no_hist  # the tag window: iteration i - S's completion
        pref.fill(0)
        pcs = [no_cs, no_cs]
        for q in range(2):
            uu = pf_u[i][q]
            if uu >= 0:
                v0 = pf_v0[i][q]
                pref[q] = (inst_set[uu] * cset, inst_cb[uu], v0, max(v0, pf_v1[i][q]))
                pcs[q] = coef_slot[inst_pass[uu]]
        if logging and log.shape[0] < var.n_log:
            log = np.zeros((var.n_log, engine.LOG_WIDTH), dtype=np.int64)
        if logging and hop_log.shape[0] < var.n_hops:
            hop_log = np.zeros(var.n_hops, dtype=np.int64)
        stw = np.zeros((n_pe, var.st_count), dtype=np.int64)
        comp = np.zeros(n_pe, dtype=np.int64)
        ext, n_ins, n_log, n_hop, bad = engine.run_iteration(
            var.tables,
            routes_np,
            it_base[i],
            tag_lbs,
            C_DMA if p == 0 else C_SPM,
            pref,
            pcs[0],
            pcs[1],
            state,
            res.tables,
            floor,
            layout,
            (stalls, comp, stw, log, hop_log),
            logging,
        )
        if bad:
            raise RuntimeError(f"timing engine: {bad} requests before the reservation floor in iteration {i}")
        exact_instr += n_ins
        if logging:
            feed_log(i, S, b, comp, log[:n_log], hop_log[:n_hop])
        comp_hist[i] = comp
        m_ = int(comp.max())
        if m_ > pe_end[0]:
            pe_end[0] = m_
        if fast_forward:
            it_stw[i] = stw
            it_ext[i] = ext
        exact_iters += 1
        i += 1
        if i == n_it:
            batch_end[b] = pe_end[0]

    # ---- drain: remaining DMA (stores of the last batches) ----
    issue_dma_until(len(program.dma) - 1)
    end = max([pe_end[0], *dma_done])
    drain = int((end - pf_cp).sum())
    stall_d = {c: int(stalls[k]) for k, c in enumerate(CAUSES)}
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
        pe_last_compute=pf_cp.tolist(),
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
