"""Turning a Plan into a Program: per-pass instruction templates, the iteration schedule, the DMA list,
the SPM layout, and the coefficient table (values come from the simulator's value mode).

Schedule (software pipeline of coarse-grained streaming)::

    for batch b (rows_per_batch rows, in SPM buffer b % buffers):          DMA: load b+1 .. / store b-1 ..
        for pass p:                                                         (in flight while PEs compute b)
            for block instance j:        <- its coefficients are loaded once (prefetched during j-1)
                for row group g:         <- one iteration = one tag on every PE; reuses j's coefficients
                    LD block positions (strided shuffle of this pass) -> stages (XFER / local) -> ST

Inside an iteration a PE: loads its P positions (x parts), then per stage either exchanges all P values with
its partner PE (XFER, one hop over the skip-hop links when the distance is in the hop set) or pairs them
locally, computes the stage's outputs as interleaved chains (`kernels.CHAINS`), and finally stores. No
stage inside a pass touches the SPM.
"""

from __future__ import annotations

import numpy as np

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.geometry import SpmGeometry
from swallowtail.compiler.kernels import KernelSpec
from swallowtail.compiler.model import ELEM_BYTES, MachineModel
from swallowtail.compiler.plan import Plan
from swallowtail.compiler.program import DMAOp, Program, Schedule, SpmLayout, split_slots
from swallowtail.compiler.template import MODE_OUTPUT, build_template, pe_coords, scatter_bits


def it_inst_of(inst_iters: list[tuple[int, int]], it_inst: list[int]) -> list[int]:
    """The block instance index j of every instance sequence number (from its first iteration)."""
    return [it_inst[first] for first, _ in inst_iters]


def build_program(spec: KernelSpec, arch: DataflowArch, plan: Plan, model: MachineModel) -> Program:
    lanes = arch.pe.simd_lanes
    geo = SpmGeometry.of(arch)
    comps = spec.comps
    n = spec.n
    templates = list(plan.templates) or [
        build_template(spec, arch, pp, plan.xb, plan.yb, plan.lb, model=model) for pp in plan.passes
    ]
    coords = pe_coords(plan.xb, plan.yb)
    n_pe = len(coords)

    # ---- SPM layout (all bases multiples of the bank groups) ----
    def align(x: int) -> int:
        return -(-x // geo.groups) * geo.groups

    coef_base = []
    pos = 0
    for t in templates:
        coef_base.append(pos)
        pos = align(pos + t.plan.n_instances * n_pe * t.coef_vectors)
    coef_slots = pos
    rpb = plan.rows_per_batch
    g_max = -(-rpb // lanes)
    buf_slots = align(g_max * comps * n)
    buffer_base = [coef_slots + i * buf_slots for i in range(plan.buffers)]
    total = coef_slots + plan.buffers * buf_slots
    spm = SpmLayout(
        vec_bytes=geo.vec_bytes,
        coef_base=coef_base,
        coef_slots=coef_slots,
        buffer_base=buffer_base,
        buffer_slots=buf_slots,
        total_slots=total,
        groups=geo.groups,
    )
    assert total * geo.vec_bytes <= arch.spm.size_bytes, "plan should have checked the SPM capacity"

    # ---- schedule ----
    batches = plan.batches
    n_batches = len(batches)
    qj = [
        scatter_bits(np.arange(t.plan.n_instances, dtype=np.int64), t.plan.instance_bits) for t in templates
    ]
    it: dict[str, list[int]] = {k: [] for k in ("batch", "pass", "inst", "rg", "lanes", "seq", "base")}
    inst_base: list[int] = []
    inst_pass: list[int] = []
    inst_iters: list[tuple[int, int]] = []  # per instance seq: (first iteration, count)
    for b in range(n_batches):
        r0, r1 = batches[b]
        n_rg = -(-(r1 - r0) // lanes)
        buf = buffer_base[b % plan.buffers]
        for p, t in enumerate(templates):
            for j in range(t.plan.n_instances):
                u = len(inst_base)
                inst_base.append(coef_base[p] + j * n_pe * t.coef_vectors)
                inst_pass.append(p)
                inst_iters.append((len(it["batch"]), n_rg))
                for g in range(n_rg):
                    it["batch"].append(b)
                    it["pass"].append(p)
                    it["inst"].append(j)
                    it["rg"].append(g)
                    it["lanes"].append(min(lanes, r1 - r0 - g * lanes))
                    it["seq"].append(u)
                    it["base"].append(buf + g * comps * n + int(qj[p][j]))
    n_it = len(it["batch"])
    pf_u = np.full((n_it, 2), -1, dtype=np.int64)
    pf_v0 = np.zeros((n_it, 2), dtype=np.int64)
    pf_v1 = np.zeros((n_it, 2), dtype=np.int64)
    # coefficient sets: an instance reuses the resident set when it is the same (pass, instance) as the one
    # before it (a single-pass, single-instance kernel loads its coefficients once for all batches);
    # otherwise it takes the other set, prefetched during the previous instance
    inst_key = list(zip(inst_pass, (int(x) for x in it_inst_of(inst_iters, it["inst"])), strict=True))
    inst_set = [0] * len(inst_base)
    needs_load = [True] * len(inst_base)
    if plan.coef_sets > 2 or plan.coef_sets == 1:  # resident: one set per (pass, instance), loaded once
        index: dict[tuple[int, int], int] = {}
        for u, key in enumerate(inst_key):
            needs_load[u] = key not in index
            inst_set[u] = index.setdefault(key, len(index))
    else:
        for u in range(1, len(inst_base)):
            if inst_key[u] == inst_key[u - 1]:
                inst_set[u], needs_load[u] = inst_set[u - 1], False
            else:
                inst_set[u] = 1 - inst_set[u - 1]
    # instance 0's coefficients: all in the first iteration; instance u+1's: spread over u's iterations
    c0 = templates[inst_pass[0]].coef_vectors
    pf_u[0, 0], pf_v0[0, 0], pf_v1[0, 0] = 0, 0, c0
    for u in range(len(inst_base) - 1):
        if not needs_load[u + 1]:
            continue
        first, cnt = inst_iters[u]
        c = templates[inst_pass[u + 1]].coef_vectors
        for g in range(cnt):
            v0 = (g * c) // cnt
            v1 = ((g + 1) * c) // cnt
            q = 1 if (first + g) == 0 else 0
            pf_u[first + g, q], pf_v0[first + g, q], pf_v1[first + g, q] = u + 1, v0, v1
    schedule = Schedule.of(it, pf_u, pf_v0, pf_v1)

    # ---- DMA: per row group, split in one piece per channel; the engine gives each piece the channel
    # that can start it first and streams it (a slot is usable as soon as its bytes have arrived) ----
    dma: list[DMAOp] = []
    n_ch = arch.dma.channels

    def coef_ops(lo: int, hi: int) -> None:
        for a, z in split_slots(lo, hi, n_ch):
            nb = (z - a) * geo.vec_bytes
            dma.append(DMAOp("coef", -1, -1, -1, nb, nb, [(a, z)]))

    in_elems = spec.input_elems_per_row
    out_elems = spec.output_elems_per_row
    last_store: dict[int, int] = {}  # buffer -> index of the last store op reading it

    def loads(b: int, groups_: range | None = None) -> None:
        r0, r1 = batches[b]
        buf = buffer_base[b % plan.buffers]
        for g in groups_ if groups_ is not None else range(-(-(r1 - r0) // lanes)):
            lo = buf + g * comps * n
            nr = min(lanes, r1 - r0 - g * lanes)
            for a, z in split_slots(lo, lo + comps * n, n_ch):
                frac = (z - a) / (comps * n)
                dma.append(
                    DMAOp(
                        "load",
                        b,
                        g,
                        -1,
                        round(nr * in_elems * ELEM_BYTES * frac),
                        (z - a) * geo.vec_bytes,
                        [(a, z)],
                        rows=(r0 + g * lanes, r0 + g * lanes + nr),
                        after=last_store.get(b % plan.buffers, -1),
                    )
                )

    def stores(b: int) -> None:
        r0, r1 = batches[b]
        buf = buffer_base[b % plan.buffers]
        parts = 1 if spec.real_output else comps
        for g in range(-(-(r1 - r0) // lanes)):
            lo = buf + g * comps * n
            nr = min(lanes, r1 - r0 - g * lanes)
            for a, z in split_slots(lo, lo + parts * n, n_ch):
                frac = (z - a) / (parts * n)
                dma.append(
                    DMAOp(
                        "store",
                        b,
                        g,
                        -1,
                        round(nr * out_elems * ELEM_BYTES * frac),
                        (z - a) * geo.vec_bytes,
                        [(a, z)],
                        rows=(r0 + g * lanes, r0 + g * lanes + nr),
                    )
                )
            last_store[b % plan.buffers] = len(dma) - 1

    # the first row group's data, then the first block instance's coefficients (stage by stage: the
    # table is vector-major), then the rest of the table, then the remaining loads
    first_inst = templates[0].coef_vectors * n_pe
    loads(0, range(1))
    coef_ops(0, first_inst)
    loads(0, range(1, -(-(batches[0][1] - batches[0][0]) // lanes)))
    coef_ops(first_inst, coef_slots)
    for b in range(1, min(plan.buffers, n_batches)):
        loads(b)
    for b in range(n_batches):
        stores(b)
        if b + plan.buffers < n_batches:
            loads(b + plan.buffers)

    return Program(
        spec=spec,
        arch_name=arch.name,
        plan=plan,
        model=model,
        templates=templates,
        schedule=schedule,
        dma=dma,
        spm=spm,
        pe_coords=coords,
        instance_coef_base=np.array(inst_base, dtype=np.int64),
        instance_pass=np.array(inst_pass, dtype=np.int64),
        instance_set=np.array(inst_set, dtype=np.int64),
        lanes=lanes,
        meta={"instance_first_iteration": np.array([f for f, _ in inst_iters], dtype=np.int64)},
        compile_arch=arch,
    )


def coefficient_table(program: Program, coefs: np.ndarray | None) -> np.ndarray:
    """The SPM coefficient region's contents, (coef_slots, lanes) float64 scalars (a complex coefficient is
    two scalars, real and imaginary part), from the kernel's coefficients.

    coefs: for Butterfly, the stride-indexed (log2 n, n // 2, 2, 2) real or complex tensor of
    swallowtail.nn.butterfly's layout (only the stages the kernel applies are read); for FFT, None (the DIT
    twiddles are computed here in float64; the caller rounds them to the storage format).
    """
    spec = program.spec
    lanes = program.lanes
    out = np.zeros((program.spm.coef_slots, lanes), dtype=np.float64)
    n_pe = program.n_active
    for p, t in enumerate(program.templates):
        pp = t.plan
        J = pp.n_instances
        qj = scatter_bits(np.arange(J, dtype=np.int64), pp.instance_bits)
        n_sc = t.rec_q.shape[1]
        scal = np.zeros((J, n_pe, t.coef_vectors * lanes), dtype=np.float64)
        q = qj[:, None, None] | t.rec_q[None, :, :]  # (J, PEs, scalars)
        b = np.broadcast_to(t.rec_bit[None], q.shape)
        k = np.broadcast_to(t.rec_k[None], q.shape)
        out_mode = np.broadcast_to(t.rec_mode[None] == MODE_OUTPUT, q.shape)
        top = ((q >> b) & 1) == 0
        i0 = q & ~(1 << b)
        stride = np.left_shift(1, b)
        if spec.kind == "fft":
            w = np.exp(-2j * np.pi * (q % stride) / (2 * stride))
            c = np.where(out_mode & ~top, -w, w)
            vals = np.where(k == 0, c.real, c.imag)
        else:
            assert coefs is not None
            pair = ((i0 >> (b + 1)) << b) | (i0 & (stride - 1))
            tw = coefs[b, pair]  # (J, PEs, scalars, 2, 2)
            if spec.kind == "real":
                # pair: k = (row, col) of t; output: k = 0 self (t00 | t11), 1 partner (t01 | t10)
                row = np.where(out_mode, np.where(top, 0, 1), k // 2)
                col = np.where(out_mode, np.where(top, k, 1 - k), k % 2)
                vals = np.real(
                    np.take_along_axis(
                        np.take_along_axis(tw, row[..., None, None], axis=-2)[..., 0, :],
                        col[..., None],
                        axis=-1,
                    )[..., 0]
                )
            else:
                entry = np.where(out_mode, k // 2, k // 2)  # pair: 0 t00, 1 t01, 2 t10, 3 t11
                row = np.where(out_mode, np.where(top, 0, 1), entry // 2)
                col = np.where(out_mode, np.where(top, entry, 1 - entry), entry % 2)
                z = np.take_along_axis(
                    np.take_along_axis(tw, row[..., None, None], axis=-2)[..., 0, :], col[..., None], axis=-1
                )[..., 0]
                vals = np.where(k % 2 == 0, z.real, z.imag)
        scal[:, :, :n_sc] = vals
        vec = scal.reshape(J, n_pe, t.coef_vectors, lanes)
        base = program.spm.coef_base[p]
        slots = base + np.arange(J)[:, None, None] * n_pe * t.coef_vectors + t.coef_slot[None, :, :]
        out[slots.reshape(-1)] = vec.reshape(-1, lanes)
    return out
