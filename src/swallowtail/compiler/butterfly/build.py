"""Turning a butterfly / FFT Plan into a Program: per-pass instruction templates, the iteration schedule,
the DMA list and the SPM layout (through the shared emitter `swallowtail.compiler.emit`), and the
coefficient table (values come from the simulator's value mode).

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
from swallowtail.compiler.butterfly.kernels import KernelSpec
from swallowtail.compiler.butterfly.plan import Plan
from swallowtail.compiler.butterfly.template import MODE_OUTPUT, PassTemplate, build_template, scatter_bits
from swallowtail.compiler.emit import (
    BatchIO,
    DmaEmitter,
    ScheduleBuilder,
    Transfer,
    align,
    spm_layout,
    stream_dma,
    table_bases,
)
from swallowtail.compiler.geometry import SpmGeometry
from swallowtail.compiler.isa import pe_coords
from swallowtail.compiler.model import ELEM_BYTES, MachineModel
from swallowtail.compiler.program import Program, SpmLayout
from swallowtail.flops import ceil_div


def build_program(spec: KernelSpec, arch: DataflowArch, plan: Plan, model: MachineModel) -> Program:
    """The Program of a chosen plan: templates, SPM layout, schedule with coefficient prefetch, DMA."""
    lanes = arch.pe.simd_lanes
    geo = SpmGeometry.of(arch)
    templates = list(plan.templates) or [
        build_template(spec, arch, pp, plan.xb, plan.yb, plan.lb, model=model) for pp in plan.passes
    ]
    coords = pe_coords(plan.xb, plan.yb)
    n_pe = len(coords)
    # SPM: one table per pass (its block instances x PEs x vectors), each on bank group 0; buffers of the
    # largest batch's row groups x parts x positions
    coef_base, _, coef_slots = table_bases(
        [t.plan.n_instances * n_pe * t.coef_vectors for t in templates], geo.groups, align_each=True
    )
    g_max = ceil_div(plan.rows_per_batch, lanes)
    spm = spm_layout(geo, coef_base, coef_slots, plan.buffers, align(g_max * spec.comps * spec.n, geo.groups))
    assert spm.used_bytes <= arch.spm.size_bytes, "plan should have checked the SPM capacity"
    sb = _schedule(spec, plan, templates, spm, lanes, n_pe)
    # coefficient sets: an instance reuses the resident set when it is the same (pass, instance) as the one
    # before it (a single-pass, single-instance kernel loads its coefficients once for all batches);
    # otherwise it takes the other set, prefetched during the previous instance (resident: one set per
    # (pass, instance), loaded once)
    schedule, inst_set = sb.finish([t.coef_vectors for t in templates], plan.coef_sets, has_coefs=True)
    em = DmaEmitter(arch.dma.channels, geo.vec_bytes, plan.buffers)
    # the first row group's data, then the first block instance's coefficients (stage by stage: the table is
    # vector-major), then the rest of the table, then the remaining loads
    first_inst = templates[0].coef_vectors * n_pe
    dma = stream_dma(em, _batch_io(spec, plan, spm, lanes), (0, first_inst), [(first_inst, coef_slots)])
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
        **sb.instance_arrays(inst_set),
        lanes=lanes,
        meta={"instance_first_iteration": np.array([f for f, _ in sb.inst_iters], dtype=np.int64)},
        compile_arch=arch,
    )


def _schedule(
    spec: KernelSpec, plan: Plan, templates: list[PassTemplate], spm: SpmLayout, lanes: int, n_pe: int
) -> ScheduleBuilder:
    """Iterations: batch -> pass -> block instance (one coefficient table) -> row group."""
    qj = [
        scatter_bits(np.arange(t.plan.n_instances, dtype=np.int64), t.plan.instance_bits) for t in templates
    ]
    sb = ScheduleBuilder()
    for b, (r0, r1) in enumerate(plan.batches):
        n_rg = ceil_div(r1 - r0, lanes)
        buf = spm.buffer_base[b % plan.buffers]
        for p, t in enumerate(templates):
            for j in range(t.plan.n_instances):
                sb.instance(spm.coef_base[p] + j * n_pe * t.coef_vectors, p, (p, j), n_rg)
                for g in range(n_rg):
                    lanes_g = min(lanes, r1 - r0 - g * lanes)
                    sb.add(b, p, g, lanes_g, buf + g * spec.comps * spec.n + int(qj[p][j]), inst=j)
    return sb


def _batch_io(spec: KernelSpec, plan: Plan, spm: SpmLayout, lanes: int) -> list[BatchIO]:
    """Per batch and row group: the input rows in (n x parts slots), the output rows out (n x output parts;
    a real-output FFT stores only the real parts)."""
    size = spec.comps * spec.n
    out_parts = 1 if spec.real_output else spec.comps
    io = []
    for b, (r0, r1) in enumerate(plan.batches):
        buf = spm.buffer_base[b % plan.buffers]
        loads, stores = [], []
        for g in range(ceil_div(r1 - r0, lanes)):
            lo = buf + g * size
            nr = min(lanes, r1 - r0 - g * lanes)
            rows = (r0 + g * lanes, r0 + g * lanes + nr)
            loads.append((g, [Transfer(lo, lo + size, nr * spec.input_elems_per_row * ELEM_BYTES, rows)]))
            out = Transfer(lo, lo + out_parts * spec.n, nr * spec.output_elems_per_row * ELEM_BYTES, rows)
            stores.append((g, [out]))
        io.append(BatchIO(loads, stores))
    return io


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
