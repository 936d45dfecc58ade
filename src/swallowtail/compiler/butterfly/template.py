"""Per-PE instruction templates of one pass (one iteration = one block instance x one row group).

A PE holds P positions; a stage on position bit b is, depending on where b lives at that moment:

- *local* (b is a local bit): pairs sit on the PE; each pair runs the pair micro-program.
- *send-half* (b is a PE coordinate bit and some local bit m carries a position bit no later stage of the
  pass needs): PE with b = 0 keeps the pairs whose local bit m is 0 and sends the other half of its values
  to its partner; the partner does the mirror image. Each PE then computes *both* outputs of the pairs it
  kept and writes them to local slots l and l ^ 2^m. Afterwards the PE coordinate bit carries the old
  position bit of m and local bit m carries b: the bit roles swap. Half the NoC traffic of a full exchange
  and pair-mode arithmetic (fewer RF reads)::

        PE x=0 (b=0) holds   x0[l]: l = 0 1 2 3        PE x=1 (b=1) holds  x1[l]: l = 0 1 2 3
          keeps l with m=0 (0, 1), sends 2, 3  ---->      keeps l with m=1 (2, 3), sends 0, 1
          <---- receives x1[0], x1[1]                      receives x0[2], x0[3] ---->
          computes pairs 0, 1 -> y0 in l, y1 in l^2m       computes pairs 2, 3 -> y1 in l, y0 in l^2m

- *full exchange* (no local bit to swap, i.e. one position per PE): both PEs send everything and each
  computes the outputs of its own positions (output micro-program).

Stages never touch the SPM; the final placement (after the swaps) decides the store addresses.
Within a stage the units' micro-programs are skewed (`kernels.skewed_order`) to hide FU latency.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.butterfly.kernels import OUTPUT_COEFS, PAIR_COEFS, KernelSpec, MicroOp, skewed_order
from swallowtail.compiler.geometry import PassPlan, SpmGeometry, route_links
from swallowtail.compiler.isa import (
    COMPUTE_FU,
    COMPUTE_OPS,
    COMPUTE_READS,
    OP_LD,
    OP_ST,
    OP_XFER,
    STEP_COMPUTE,
    STEP_LD,
    STEP_ST,
    STEP_XFER,
    Instruction,
    InstructionStream,
    coef_slot_layout,
    instr_compute,
    instr_ld,
    instr_st,
    instr_xfer,
    instruction_array,
    instruction_fields,
    pe_coords,
)
from swallowtail.compiler.model import DEFAULT_MODEL, MachineModel
from swallowtail.flops import ceil_div

MODE_PAIR, MODE_OUTPUT = 0, 1
STAGE_LOCAL, STAGE_SEND_HALF, STAGE_FULL = "local", "send-half", "full-exchange"


def scatter_bits(values: np.ndarray, bits: tuple[int, ...] | list[int]) -> np.ndarray:
    """Place bit i of each value at position bits[i] (values: int array)."""
    out = np.zeros_like(values)
    for i, b in enumerate(bits):
        out |= ((values >> i) & 1) << b
    return out


@dataclass
class PassTemplate(InstructionStream):
    """The per-PE instruction stream of one iteration of one pass (same step structure on every PE).

    Instruction fields are arrays of shape (active PEs, instructions). Registers are *relative*: data
    registers count from the iteration's tag-slot base, coefficient registers (`coef`) from its
    coefficient-set base.
    """

    plan: PassPlan
    op: np.ndarray  # opcode
    dst: np.ndarray  # destination data register (LD, compute; XFER: on the peer), -1 if none
    a: np.ndarray  # first data operand (compute), source (ST, XFER), -1 if none
    coef: np.ndarray  # coefficient vector register (MUL / FMA / FMS), -1 if none
    lane: np.ndarray  # lane of the coefficient register holding the scalar
    acc: np.ndarray  # accumulator (FMA / FMS) or second operand (ADD / SUB), -1 if none
    slot: np.ndarray  # SPM slot offset from the iteration's base (LD / ST), -1 if none
    peer: np.ndarray  # destination PE index (XFER), -1 if none
    final: np.ndarray  # bool: the instruction writes a stage output (fp32-accumulate rounds here)
    steps: list[tuple[str, int, int]]  # (step kind, start, end) along the instruction axis
    stage_modes: list[str]  # per stage: local | send-half | full-exchange
    data_regs: int  # data registers per tag slot
    coef_vectors: int  # coefficient vectors per PE per block instance
    coef_slot: np.ndarray  # (PEs, coef_vectors): SPM slot offset of each vector from the instance base
    qb_in: np.ndarray  # (PEs, P): block offset (position bits) loaded into each local slot
    qb_out: np.ndarray  # (PEs, P): block offset stored from each local slot (after the bit swaps)
    # coefficient scalar records (PEs, scalars): stage bit, block offset of the unit's position (pair: x0;
    # output: the output), mode (pair / output), index within the unit's scalars
    rec_bit: np.ndarray
    rec_q: np.ndarray
    rec_mode: np.ndarray
    rec_k: np.ndarray
    static: dict[str, float] = field(default_factory=dict)


def _choose_swap(local_bits: list[int], remaining: set[int]) -> int | None:
    """Index of a local bit whose position bit no later stage of the pass uses (highest index first)."""
    for m in range(len(local_bits) - 1, -1, -1):
        if local_bits[m] not in remaining:
            return m
    return None


#: templates already built, by everything they depend on (not the rows: only the schedule sees them; of
#: the arch only `template_arch_key`); read-only once built, so compiles of the same kernel shape (the
#: network simulator's probes, the candidate search, the points of a design sweep) share them
_TEMPLATE_CACHE: dict[tuple, PassTemplate] = {}
#: most templates kept (the oldest is dropped first)
TEMPLATE_CACHE_SIZE = 64
#: the arch fields a pass template reads (`*`: every FU class), the ones `template_arch_key` keys it on
TEMPLATE_ARCH_FIELDS = (
    "pe.simd_lanes",
    "pe.fus.*.latency",
    "spm.bytes_per_cycle",
    "noc.hops",
    "noc.link_bytes_per_cycle",
    "noc.hop_latency",
)


def template_arch_key(arch: DataflowArch) -> tuple:
    """The part of `arch` a pass template depends on (`TEMPLATE_ARCH_FIELDS`), its cache key's arch part.

    - `pe.simd_lanes`: coefficient vector / lane numbering (`_PassBuilder._compute`), SPM bank groups
      (`SpmGeometry.of`) and the XFER serialisation over a link (`template_static`);
    - `pe.fus.<class>.latency`: the skew of a stage's micro-programs (`skewed_order`) and the compute span
      (`_compute_span`);
    - `spm.bytes_per_cycle`: the bank groups the LD / ST order rotates over (`SpmGeometry.of`);
    - `noc.hops`, `noc.link_bytes_per_cycle`, `noc.hop_latency`: routes, link load and transfer times of the
      exchanges (`route_links`, `template_static`, `_compute_span`).

    Nothing else: the array's shape comes in as the block bits (xb, yb), the RF size and tag window only
    bound the schedule, and name, sources, clock, SPM size, DMA and energy never reach a template; two archs
    with the same key build identical templates, so a sweep's points share them."""
    return (
        arch.pe.simd_lanes,
        tuple((fu, spec.latency) for fu, spec in sorted(arch.pe.fus.items())),
        arch.spm.bytes_per_cycle,
        tuple(arch.noc.hops),
        arch.noc.link_bytes_per_cycle,
        arch.noc.hop_latency,
    )


def build_template(
    spec: KernelSpec,
    arch: DataflowArch,
    pp: PassPlan,
    xb: int,
    yb: int,
    lb: int,
    exchange: str = "auto",
    model: MachineModel = DEFAULT_MODEL,
) -> PassTemplate:
    """Emit the pass's per-PE template. `exchange`: "auto" (send-half where possible) or "full"."""
    key = (
        replace(spec, rows=0, op_name="", flops=0),
        template_arch_key(arch),
        pp,
        xb,
        yb,
        lb,
        exchange,
        model,
    )
    hit = _TEMPLATE_CACHE.get(key)
    if hit is None:
        hit = _build_template(spec, arch, pp, xb, yb, lb, exchange, model)
        for value in vars(hit).values():  # shared from now on: any write is a bug
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
        if len(_TEMPLATE_CACHE) >= TEMPLATE_CACHE_SIZE:
            del _TEMPLATE_CACHE[next(iter(_TEMPLATE_CACHE))]
        _TEMPLATE_CACHE[key] = hit
    return hit


def _build_template(
    spec: KernelSpec,
    arch: DataflowArch,
    pp: PassPlan,
    xb: int,
    yb: int,
    lb: int,
    exchange: str,
    model: MachineModel,
) -> PassTemplate:
    """LD the block positions, then per stage exchange (or not) and compute, then ST (`_PassBuilder`)."""
    bld = _PassBuilder(spec, arch, pp, xb, yb, lb)
    qb_in = bld.qb_now()
    bld.memory(OP_LD, qb_in)
    for t, b in enumerate(pp.stage_bits):
        bld.stage(b, set(pp.stage_bits[t + 1 :]), exchange)
    qb_out = bld.qb_now()
    bld.memory(OP_ST, qb_out)
    n_pe = len(bld.coords)
    arr = instruction_array(bld.rows)
    c_vec = max(1, ceil_div(bld.n_scalars, bld.lanes))
    rec = np.array(bld.recs, dtype=np.int64).reshape(n_pe, bld.n_scalars, 4)
    tmpl = PassTemplate(
        plan=pp,
        **instruction_fields(arr),
        steps=bld.steps,
        stage_modes=bld.modes,
        data_regs=2 * bld.set_size + bld.max_recv * spec.comps,
        coef_vectors=c_vec,
        coef_slot=coef_slot_layout(n_pe, c_vec),
        qb_in=qb_in.astype(np.int64),
        qb_out=qb_out.astype(np.int64),
        rec_bit=rec[:, :, 0],
        rec_q=rec[:, :, 1],
        rec_mode=rec[:, :, 2],
        rec_k=rec[:, :, 3],
    )
    tmpl.static = template_static(tmpl, arch, bld.coords, model.spm_latency_cycles)
    return tmpl


class _PassBuilder:
    """The per-PE instruction rows of one pass template under construction, and where every position bit
    lives (`place`: the x / y / local bits, swapped by send-half exchanges).

    Data registers of a tag: [ cur (P x parts) | next (P x parts) | receive (P x parts) ]; stages alternate
    cur and next. Coefficient scalars are numbered in emission order (`n_scalars`), each with its record
    (stage bit, block offset of its unit, mode, index within the unit)."""

    def __init__(self, spec: KernelSpec, arch: DataflowArch, pp: PassPlan, xb: int, yb: int, lb: int) -> None:
        self.spec, self.arch = spec, arch
        self.coords = pe_coords(xb, yb)
        self.index_of = {c: i for i, c in enumerate(self.coords)}
        self.P = 1 << lb
        self.lanes = arch.pe.simd_lanes
        self.latency_of = {op: arch.pe.fus[COMPUTE_FU[op]].latency for op in COMPUTE_OPS}
        self.groups = SpmGeometry.of(arch).groups
        self.xs = np.array([c[0] for c in self.coords], dtype=np.int64)
        self.ys = np.array([c[1] for c in self.coords], dtype=np.int64)
        self.loc = np.arange(self.P, dtype=np.int64)
        self.place = {"x": list(pp.x_bits), "y": list(pp.y_bits), "local": list(pp.local_bits)}
        n_pe = len(self.coords)
        self.rows: list[list[Instruction]] = [[] for _ in range(n_pe)]
        self.recs: list[list[tuple[int, int, int, int]]] = [[] for _ in range(n_pe)]
        self.steps: list[tuple[str, int, int]] = []
        self.modes: list[str] = []
        self.set_size = self.P * spec.comps
        self.max_recv = 0
        self.n_scalars = 0
        self.cur, self.nxt = 0, 1

    def qb_now(self) -> np.ndarray:
        """(PEs, P): the block offset each local slot holds under the current bit placement."""
        return (
            scatter_bits(self.xs, self.place["x"])[:, None]
            | scatter_bits(self.ys, self.place["y"])[:, None]
            | scatter_bits(self.loc, self.place["local"])[None, :]
        )

    def reg(self, set_: int, l: int, c: int) -> int:
        return set_ * self.set_size + l * self.spec.comps + c

    def rreg(self, r: int, c: int) -> int:
        return 2 * self.set_size + r * self.spec.comps + c

    def close_step(self, kind: str, start: int) -> None:
        end = len(self.rows[0])
        assert all(len(r) == end for r in self.rows), "every PE runs the same step structure"
        if end > start:
            self.steps.append((kind, start, end))

    def bank_order(self, e: int, qb: np.ndarray) -> list[int]:
        """Local slots in the order PE e accesses them: rotated by the PE index over the bank groups, so
        that PEs running in lockstep touch different bank groups (matters when bank bits are local)."""
        return sorted(range(self.P), key=lambda l: ((int(qb[e, l]) - e) % self.groups, l))

    def memory(self, op: int, qb: np.ndarray) -> None:
        """The LD step (into cur) or the ST step (from cur) of every position of the block."""
        comps, n = self.spec.comps, self.spec.n
        start = len(self.rows[0])
        for e in range(len(self.coords)):
            if op == OP_LD:
                self.rows[e].extend(
                    instr_ld(self.reg(self.cur, l, c), c * n + int(qb[e, l]))
                    for l in self.bank_order(e, qb)
                    for c in range(comps)
                )
            else:
                self.rows[e].extend(
                    instr_st(self.reg(self.cur, l, c), c * n + int(qb[e, l]))
                    for l in self.bank_order(e, qb)
                    for c in range(comps)
                )
        self.close_step(STEP_LD if op == OP_LD else STEP_ST, start)

    def stage(self, b: int, remaining: set[int], exchange: str) -> None:
        """The stage on position bit b: local pairs, or a send-half / full exchange with the partner PE,
        then the micro-programs of its units; a send-half swaps b with the local bit it used."""
        qb = self.qb_now()
        dim = next(d for d in ("x", "y", "local") if b in self.place[d])
        idx = self.place[dim].index(b)
        if dim == "local":
            mode, m = STAGE_LOCAL, None
        else:
            m = _choose_swap(self.place["local"], remaining) if exchange == "auto" else None
            mode = STAGE_SEND_HALF if m is not None else STAGE_FULL
        self.modes.append(mode)
        if mode == STAGE_LOCAL:
            units = self._local_units(qb, idx)
        else:
            units = self._exchange_units(qb, b, dim, idx, m)
        self._compute(units, mode, b)
        if mode == STAGE_SEND_HALF:
            assert m is not None
            self.place[dim][idx], self.place["local"][m] = self.place["local"][m], self.place[dim][idx]
        self.cur, self.nxt = self.nxt, self.cur

    def _local_units(self, qb: np.ndarray, idx: int) -> list[list[dict]]:
        """Pairs (l, l + 2^idx) on every PE: the pair micro-program's symbol -> register maps."""
        comps, cur, nxt = self.spec.comps, self.cur, self.nxt
        units: list[list[dict]] = [[] for _ in self.coords]
        for e in range(len(self.coords)):
            for l in range(self.P):
                if (l >> idx) & 1:
                    continue
                l1 = l | (1 << idx)
                u = {("x0", c): self.reg(cur, l, c) for c in range(comps)}
                u.update({("x1", c): self.reg(cur, l1, c) for c in range(comps)})
                u.update({("y0", c): self.reg(nxt, l, c) for c in range(comps)})
                u.update({("y1", c): self.reg(nxt, l1, c) for c in range(comps)})
                u["_q"] = int(qb[e, l])
                units[e].append(u)
        return units

    def _exchange_units(self, qb: np.ndarray, b: int, dim: str, idx: int, m: int | None) -> list[list[dict]]:
        """The XFER step of a cross-PE stage and its units: send-half (keep the pairs whose local bit m
        matches this PE's coordinate bit, send the rest) or full exchange (send everything; output mode)."""
        d = 1 << idx
        start = len(self.rows[0])
        units: list[list[dict]] = [[] for _ in self.coords]
        for e, (x, y) in enumerate(self.coords):
            peer = self.index_of[(x ^ d, y) if dim == "x" else (x, y ^ d)]
            v = ((x if dim == "x" else y) >> idx) & 1
            if m is not None:
                units[e] = self._send_half(e, qb, b, m, v, peer)
            else:
                units[e] = self._full_exchange(e, qb, v, peer)
        self.close_step(STEP_XFER, start)
        return units

    def _send_half(self, e: int, qb: np.ndarray, b: int, m: int, v: int, peer: int) -> list[dict]:
        comps, cur, nxt = self.spec.comps, self.cur, self.nxt
        kept = [l for l in range(self.P) if ((l >> m) & 1) == v]
        sent = [l for l in range(self.P) if ((l >> m) & 1) != v]
        # the partner keeps exactly the slots we send; it receives them in its kept order
        self.rows[e].extend(
            instr_xfer(self.rreg(r, c), self.reg(cur, l, c), peer)
            for r, l in enumerate(sent)
            for c in range(comps)
        )
        units = []
        for r, l in enumerate(kept):
            mine = {("x0" if v == 0 else "x1", c): self.reg(cur, l, c) for c in range(comps)}
            theirs = {("x1" if v == 0 else "x0", c): self.rreg(r, c) for c in range(comps)}
            l0, l1 = (l, l ^ (1 << m)) if v == 0 else (l ^ (1 << m), l)
            outs = {("y0", c): self.reg(nxt, l0, c) for c in range(comps)}
            outs.update({("y1", c): self.reg(nxt, l1, c) for c in range(comps)})
            q0 = int(qb[e, l]) if v == 0 else int(qb[e, l]) ^ (1 << b)
            units.append({**mine, **theirs, **outs, "_q": q0})
        self.max_recv = max(self.max_recv, len(kept))
        return units

    def _full_exchange(self, e: int, qb: np.ndarray, v: int, peer: int) -> list[dict]:
        comps, cur, nxt = self.spec.comps, self.cur, self.nxt
        self.rows[e].extend(
            instr_xfer(self.rreg(l, c), self.reg(cur, l, c), peer)
            for l in range(self.P)
            for c in range(comps)
        )
        units = []
        for l in range(self.P):
            top = v == 0
            s_ = {("S", c): self.reg(cur, l, c) for c in range(comps)}
            p_ = {("P", c): self.rreg(l, c) for c in range(comps)}
            a_ = {("A", c): (s_ if top else p_)[("S" if top else "P", c)] for c in range(comps)}
            m_ = {("M", c): (p_ if top else s_)[("P" if top else "S", c)] for c in range(comps)}
            y_ = {("y", c): self.reg(nxt, l, c) for c in range(comps)}
            units.append({**s_, **p_, **a_, **m_, **y_, "_q": int(qb[e, l])})
        self.max_recv = max(self.max_recv, self.P)
        return units

    def _compute(self, units: list[list[dict]], mode: str, b: int) -> None:
        """The stage's compute step: every unit's micro-program, skewed (`kernels.skewed_order`), with its
        coefficient scalars numbered after the previous stages'."""
        spec, lanes = self.spec, self.lanes
        program: tuple[MicroOp, ...] = spec.output_program if mode == STAGE_FULL else spec.pair_program
        cpu = OUTPUT_COEFS[spec.kind] if mode == STAGE_FULL else PAIR_COEFS[spec.kind]
        rec_mode = MODE_OUTPUT if mode == STAGE_FULL else MODE_PAIR
        n_units = len(units[0])
        assert all(len(u) == n_units for u in units)
        order = skewed_order(n_units, program, self.latency_of)
        start = len(self.rows[0])
        for e in range(len(self.coords)):
            for ui, k in order:
                mop = program[k]
                u = units[e][ui]
                ci = self.n_scalars + ui * cpu + (mop.coef if mop.coef is not None else 0)
                coef, lane = divmod(ci, lanes) if mop.coef is not None else (-1, 0)
                acc = u[mop.c] if mop.c is not None else -1
                self.rows[e].append(instr_compute(mop.op, u[mop.dst], u[mop.a], coef, lane, acc, mop.final))
            for u in units[e]:
                self.recs[e].extend((b, u["_q"], rec_mode, kk) for kk in range(cpu))
        self.n_scalars += n_units * cpu
        self.close_step(STEP_COMPUTE, start)


def template_static(
    t: PassTemplate, arch: DataflowArch, coords: list[tuple[int, int]], spm_latency: int
) -> dict[str, float]:
    """Per-iteration resource demands of a template (for the compiler's estimate; PE 0 unless stated)."""
    ops = t.op[0]
    compute = int(np.isin(ops, COMPUTE_OPS).sum())
    reads = sum(int((ops == o).sum()) * r for o, r in COMPUTE_READS.items())
    n_x = int((ops == OP_XFER).sum())
    n_ld = int((ops == OP_LD).sum())
    n_st = int((ops == OP_ST).sum())
    vec = arch.pe.simd_lanes * 2
    ser = max(1, ceil_div(vec, arch.noc.link_bytes_per_cycle))
    load: dict[tuple, int] = {}
    for e in range(t.op.shape[0]):
        for k in np.nonzero(t.op[e] == OP_XFER)[0]:
            (x0, y0), (x1, y1) = coords[e], coords[int(t.peer[e, k])]
            for lk in route_links(x0, y0, x1, y1, arch.noc.hops):
                load[lk] = load.get(lk, 0) + ser
    span = _compute_span(t, arch, coords, ser, spm_latency)
    return {
        "compute": compute,
        "rf_reads": reads + n_x + n_st,
        "rf_writes": compute + n_ld + n_x,
        "xfers": n_x,
        "link_cycles": max(load.values()) if load else 0,
        "spm_vectors_pe": n_ld + n_st,
        "exchange_latency": span,
    }


def _compute_span(
    t: PassTemplate, arch: DataflowArch, coords: list[tuple[int, int]], ser: int, spm_latency: int
) -> float:
    """Steady-state cycles per iteration of the compute pipeline on PE 0, from a list schedule of three
    back-to-back iterations with FU and exchange latencies and in-order pipelines shared between iterations
    (a partner runs the same program at the same time, so a value arrives a transfer time after the
    matching send). RF ports, links and banks are separate bounds in `plan.estimate`."""
    lat = {o: arch.pe.fus[COMPUTE_FU[o]].latency for o in COMPUTE_OPS}
    hop = arch.noc.hop_latency
    hops = {}
    for i in np.nonzero(t.op[0] == OP_XFER)[0]:
        (x0, y0), (x1, y1) = coords[0], coords[int(t.peer[0, i])]
        hops[int(i)] = len(route_links(x0, y0, x1, y1, arch.noc.hops))
    pf = {"ld": 0, "xf": 0, "cp": 0, "st": 0}
    ends = []
    for _it in range(3):
        ready: dict[int, int] = {}
        last = 0
        for _kind, s0, s1 in t.steps:
            for i in range(s0, s1):
                o = int(t.op[0, i])
                if o == OP_LD:
                    ready[int(t.dst[0, i])] = pf["ld"] + spm_latency
                    pf["ld"] += 1
                elif o == OP_ST:
                    pf["st"] = max(pf["st"], ready.get(int(t.a[0, i]), 0)) + 1
                elif o == OP_XFER:
                    start = max(pf["xf"], ready.get(int(t.a[0, i]), 0))
                    pf["xf"] = start + ser
                    ready[int(t.dst[0, i])] = start + ser + hops[i] * hop
                else:
                    start = max(pf["cp"], ready.get(int(t.a[0, i]), 0), ready.get(int(t.acc[0, i]), 0))
                    pf["cp"] = start + 1
                    ready[int(t.dst[0, i])] = start + lat[o]
                    last = start
        ends.append(last)
    return float(ends[2] - ends[1])


__all__ = [
    "MODE_OUTPUT",
    "MODE_PAIR",
    "STAGE_FULL",
    "STAGE_LOCAL",
    "STAGE_SEND_HALF",
    "TEMPLATE_ARCH_FIELDS",
    "TEMPLATE_CACHE_SIZE",
    "PassTemplate",
    "build_template",
    "scatter_bits",
    "template_arch_key",
    "template_static",
]
