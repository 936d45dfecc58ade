"""Compiling a dense op into a Program: layout -> per-pass templates -> register budget -> streaming
batches -> schedule, SPM layout and DMA through the shared emitter (`swallowtail.compiler.emit`).

Schedule (software pipeline of coarse-grained streaming, as the butterfly kernels')::

    for weight tile w (a weight-tiled GEMM; otherwise one, every table resident):
        for batch b of row units (SPM buffer b % buffers):                  DMA: load b+buffers / store b ..
            for pass p:            <- one instance: its coefficient table (prefetched during p - 1)
                for row unit u:    <- one iteration = one tag on every PE
                    LD its record's inputs -> compute (-> XFER reduce-scatter, GEMM) -> ST

A record is one row unit's slots in a buffer (`DenseLayout.fields`): GEMM [A: K | C: N], row-wise per PE
[x: n | x2: n | y: n | running statistics]. Coefficient tables: one per (segment, pass), all resident -- or,
for a GEMM whose weights do not fit (`swallowtail.compiler.dense.gemm.WeightTiling`), one weight tile's
tables per SPM region, two regions alternating.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.dense.gemm import (
    WeightTiling,
    gemm_templates,
    plan_weight_tiling,
    tiled_coef_dma,
    untiled_gemm_fits,
)
from swallowtail.compiler.dense.layout import dense_layout, pe_grid
from swallowtail.compiler.dense.rowwise import rowwise_templates
from swallowtail.compiler.dense.spec import (
    DENSE_BUFFERS,
    GEMM_COLS_PER_PE,
    GEMM_K_CHUNK,
    GEMM_K_SPLIT,
    ROW_CHUNK,
    DenseLayout,
    DensePlan,
    DenseSpec,
    DenseTemplate,
    default_units_per_batch,
    dense_spec,
)
from swallowtail.compiler.emit import (
    BatchIO,
    DmaEmitter,
    ScheduleBuilder,
    Transfer,
    TransferGroup,
    align,
    spm_layout,
    stream_dma,
    table_bases,
)
from swallowtail.compiler.geometry import SpmGeometry, rf_vectors
from swallowtail.compiler.model import DEFAULT_MODEL, ELEM_BYTES, MachineModel
from swallowtail.compiler.program import Program, SpmLayout
from swallowtail.errors import SpecError
from swallowtail.flops import ceil_div
from swallowtail.workload.ops import Op


def compile_dense(
    op: Op | DenseSpec,
    arch: DataflowArch,
    dataflow: str = "multilayer",
    model: MachineModel = DEFAULT_MODEL,
    units_per_batch: int | None = None,
    row_chunk: int = ROW_CHUNK,
    gemm_cols_per_pe: int = GEMM_COLS_PER_PE,
    gemm_k_chunk: int = GEMM_K_CHUNK,
    tile_weights: bool = False,
) -> Program:
    """Compile a dense op (GEMM, Softmax, LayerNorm, Elementwise) into a Program for `arch`.

    `units_per_batch`: row units per streaming batch (GEMM: row groups; row-wise: PEs x row groups).
    `tile_weights`: a GEMM whose coefficient tables (all of B) and one row unit do not fit the SPM compiles
    weight-tiled (`swallowtail.compiler.compile` asks for it); False: SpecError naming the SPM size."""
    spec = op if isinstance(op, DenseSpec) else dense_spec(op)
    layout = dense_layout(
        spec, arch, dataflow, model, units_per_batch, row_chunk, gemm_cols_per_pe, gemm_k_chunk
    )
    coords = pe_grid(arch)
    tiling = None
    if spec.kind == "gemm":
        fits, need = untiled_gemm_fits(layout, arch, len(coords))
        if not fits and tile_weights:
            tiling = plan_weight_tiling(spec, layout, arch, len(coords), units_per_batch)
        elif need > arch.spm.size_bytes:  # fail fast, before building a template per pass
            raise SpecError(
                "arch.spm.size_bytes",
                arch.spm.size_bytes,
                f"room for {spec.describe()}: coefficient table + one buffer of one row unit = "
                f"{need} B, short by {need - arch.spm.size_bytes} B",
                hint="compile it with swallowtail.compiler.compile: weights larger than the SPM are tiled",
            )
        templates = gemm_templates(spec, arch, coords, tiling.layout if tiling else layout)
    else:
        templates = rowwise_templates(spec, arch, coords, layout)
    return _build(spec, arch, dataflow, model, layout, templates, coords, units_per_batch, tiling)


# ---- the Program: registers, batches, SPM layout, schedule, DMA -------------------------------------------
@dataclass(frozen=True)
class _Registers:
    """The register budget: coefficient vectors per set, sets, tag slots per pass."""

    cset: int
    coef_sets: int
    data: tuple[int, ...]
    tags: tuple[int, ...]


def _registers(
    spec: DenseSpec, arch: DataflowArch, templates: list[DenseTemplate], tables: int
) -> _Registers:
    """Two coefficient sets (one in use, one prefetched) when more than one table is read, else one; tag
    slots = what the RF holds beside them; SpecError when not one iteration fits."""
    cset = max(t.coef_vectors for t in templates)
    distinct = tables if cset else 0
    coef_sets = 1 if distinct <= 1 else 2
    cap, _ = rf_vectors(arch)
    data = tuple(t.data_regs for t in templates)
    tags = tuple(min(arch.pe.active_tags, (cap - coef_sets * cset) // d) for d in data)
    if min(tags) < 1:
        need = coef_sets * cset + max(data)
        raise SpecError(
            "arch.pe.register_file.entries",
            arch.pe.register_file.entries,
            f"room for {spec.describe()}: {need} vector registers per PE ({coef_sets} x {cset} coefficient + "
            f"{max(data)} data), short by {need - cap}",
            hint="a shorter row (n) or a smaller row_chunk / gemm_k_chunk / gemm_cols_per_pe",
        )
    return _Registers(cset, coef_sets, data, tags)


def _batching(
    spec: DenseSpec, arch: DataflowArch, rec: DenseLayout, coef_slots: int, units_per_batch: int | None
) -> tuple[int, int]:
    """(buffers, row units per streaming batch): DENSE_BUFFERS buffers when one unit fits each, else one (the
    next batch's loads then wait for this batch's stores); SpecError when not even one unit fits."""
    geo = SpmGeometry.of(arch)
    budget = arch.spm.size_bytes // geo.vec_bytes - coef_slots
    buffers = DENSE_BUFFERS if budget // (DENSE_BUFFERS * rec.unit_slots) >= 1 else 1
    fit = budget // (buffers * rec.unit_slots)
    if fit < 1:
        need = (coef_slots + rec.unit_slots) * geo.vec_bytes
        raise SpecError(
            "arch.spm.size_bytes",
            arch.spm.size_bytes,
            f"room for {spec.describe()}: coefficient table + one buffer of one row unit = "
            f"{need} B, short by {need - arch.spm.size_bytes} B",
        )
    return buffers, min(units_per_batch or default_units_per_batch(spec), fit, rec.units_per_segment)


def _build(
    spec: DenseSpec,
    arch: DataflowArch,
    dataflow: str,
    model: MachineModel,
    lay: DenseLayout,
    templates: list[DenseTemplate],
    coords: list[tuple[int, int]],
    units_per_batch: int | None,
    tiling: WeightTiling | None,
) -> Program:
    geo = SpmGeometry.of(arch)
    n_pe = len(coords)
    rec = tiling.layout if tiling else lay  # the record of one row unit in a buffer
    sizes = [t.coef_vectors * n_pe for t in templates]
    if tiling:  # two regions holding one weight tile's tables each
        bases, _, region = table_bases(sizes, geo.groups, align_each=False)
        coef_slots, n_tables, coef_end = 2 * region, len(tiling.tiles) * len(templates), region
    else:  # every (segment, pass) table resident
        bases, coef_end, coef_slots = table_bases(sizes * lay.segments, geo.groups, align_each=False)
        n_tables = lay.segments * len(templates)
    regs = _registers(spec, arch, templates, n_tables)
    buffers, g = _batching(spec, arch, rec, coef_slots, units_per_batch)
    batches = _batches(lay, g, tiling)
    spm = spm_layout(
        geo,
        bases[: len(templates)],
        coef_slots,
        buffers,
        align(g * rec.unit_slots, geo.groups),
        2 if tiling else 1,
    )
    sb, value_base = _schedule(spec, arch, rec, templates, spm, batches, bases, tiling)
    schedule, inst_set = sb.finish(
        [t.coef_vectors for t in templates], regs.coef_sets, has_coefs=regs.cset > 0
    )
    em = DmaEmitter(arch.dma.channels, geo.vec_bytes, buffers)
    io = _batch_io(spec, arch, rec, spm, batches, tiling)
    if tiling:
        dma = stream_dma(em, io, *tiled_coef_dma(tiling, templates, n_pe, spm, em, batches))
    else:
        first_tab = templates[0].coef_vectors * n_pe
        dma = stream_dma(em, io, (0, first_tab), [(first_tab, coef_end)])
    plan = DensePlan(
        dataflow=dataflow,
        passes=tuple(t.plan for t in templates),
        rows_per_batch=g * lay.unit_rows,
        buffers=buffers,
        batches=tuple((u0, u1) for _, u0, u1, _ in batches),
        coef_vectors=tuple(t.coef_vectors for t in templates),
        data_regs=regs.data,
        coef_set_regs=regs.cset,
        coef_sets=regs.coef_sets,
        tag_slots=regs.tags,
        reasons=_reasons(spec, lay, len(templates), g, buffers, tiling),
        block=lay.unit_rows,
        positions_per_pe=lay.w if lay.kind == "rowwise" else lay.cols,
    )
    meta: dict[str, Any] = {"dense_layout": lay, "batches_units": [(s_, u0, u1) for s_, u0, u1, _ in batches]}
    if tiling:
        meta.update(
            weight_tiling=tiling, batch_weight_tile=[w for *_, w in batches], value_coef_base=value_base
        )
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
        lanes=arch.pe.simd_lanes,
        meta=meta,
        compile_arch=arch,
    )


def _batches(lay: DenseLayout, g: int, tiling: WeightTiling | None) -> list[tuple[int, int, int, int]]:
    """(segment, first unit, end unit, weight tile) of every streaming batch: g row units each, never across
    segments; weight-tiled: every weight tile streams all its segment's rows (weight tile 0 otherwise)."""
    tiles = tiling.tiles if tiling else [(sgi, 0) for sgi in range(lay.segments)]
    out = []
    for w, (sgi, _) in enumerate(tiles):
        for u0 in range(0, lay.units_per_segment, g):
            out.append((sgi, u0, min(lay.units_per_segment, u0 + g), w if tiling else 0))
    return out


def _schedule(
    spec: DenseSpec,
    arch: DataflowArch,
    rec: DenseLayout,
    templates: list[DenseTemplate],
    spm: SpmLayout,
    batches: list[tuple[int, int, int, int]],
    bases: list[int],
    tiling: WeightTiling | None,
) -> tuple[ScheduleBuilder, list[int]]:
    """Iterations: batch -> pass (one instance, one coefficient table) -> row unit; and, weight-tiled, each
    instance's table in the all-resident order (where the value engine finds its coefficients)."""
    lanes = arch.pe.simd_lanes
    n_pass = len(templates)
    n_pe = templates[0].op.shape[0]
    sb = ScheduleBuilder()
    value_base: list[int] = []

    def unit_rows(u: int) -> int:
        return max(0, min(rec.unit_rows, spec.rows - u * rec.unit_rows))

    for b, (sgi, u0, u1, w) in enumerate(batches):
        buf = spm.buffer_base[b % len(spm.buffer_base)]
        for p in tiling.passes_of(w) if tiling else range(n_pass):
            if tiling:
                region = spm.coef_start + (w % 2) * (spm.coef_slots // 2)
                sb.instance(region + bases[p], p, (w, p), u1 - u0)
                value_base.append(tiling.value_table(w, p) * templates[p].coef_vectors * n_pe)
            else:
                sb.instance(bases[sgi * n_pass + p], p, (sgi, p), u1 - u0)
            for u in range(u0, u1):
                rows = unit_rows(u)
                lanes_u = ceil_div(rows * lanes, rec.unit_rows) if rec.kind == "rowwise" else rows
                sb.add(b, p, u - u0, lanes_u, buf + (u - u0) * rec.unit_slots)
    return sb, value_base


def _batch_io(
    spec: DenseSpec,
    arch: DataflowArch,
    rec: DenseLayout,
    spm: SpmLayout,
    batches: list[tuple[int, int, int, int]],
    tiling: WeightTiling | None,
) -> list[BatchIO]:
    """Per batch, per record (a GEMM row unit; a row-wise unit's row group of each PE): the input fields in,
    the output field out. GEMM's A field includes the zero padding of the last k-chunk; weight-tiled, a
    record's C field holds its weight tile's columns only, and the last record of a weight tile's last batch
    is stored in one piece (the next-but-one tile's coefficients wait for it: `gemm.tiled_coef_dma`)."""
    lanes = arch.pe.simd_lanes
    if rec.kind == "gemm":
        in_fields = [("a", rec.kc * rec.n_chunks, spec.k)]
    else:
        in_fields = [(f, spec.n, spec.n) for f in ("x", "x2") if f in rec.fields]
    out_field = "c" if rec.kind == "gemm" else "y"
    last_of_tile = {max(b for b, bt in enumerate(batches) if bt[3] == w) for w in {bt[3] for bt in batches}}
    io = []
    for b, (sgi, u0, u1, w) in enumerate(batches):
        buf = spm.buffer_base[b % len(spm.buffer_base)]
        out_len = tiling.columns(w)[1] if tiling else spec.n
        loads: list[TransferGroup] = []
        stores: list[TransferGroup] = []
        recs = list(_records(spec, rec, lanes, buf, sgi, u0, u1))
        for k_, (r0, nr, base) in enumerate(recs):
            rows = (r0, r0 + nr)
            ins = [
                Transfer(base + rec.fields[f], base + rec.fields[f] + length, nr * real * ELEM_BYTES, rows)
                for f, length, real in in_fields
            ]
            lo = base + rec.fields[out_field]
            whole = tiling is not None and b in last_of_tile and k_ == len(recs) - 1
            out = Transfer(lo, lo + out_len, nr * out_len * ELEM_BYTES, rows, split=not whole)
            loads.append((k_, ins))
            stores.append((k_, [out]))
        io.append(BatchIO(loads, stores))
    return io


def _records(
    spec: DenseSpec, rec: DenseLayout, lanes: int, buf: int, sgi: int, u0: int, u1: int
) -> list[tuple[int, int, int]]:
    """(first row, rows, record base slot) of every record of a batch that holds rows."""
    out = []
    for u in range(u0, u1):
        rows_u = max(0, min(rec.unit_rows, spec.rows - u * rec.unit_rows))
        base = buf + (u - u0) * rec.unit_slots
        if rec.kind == "gemm":
            out.append((sgi * spec.rows + u * lanes, rows_u, base))
            continue
        for e in range(rec.unit_slots // rec.rec):
            r = min(lanes, rows_u - e * lanes)
            if r > 0:
                out.append((u * rec.unit_rows + e * lanes, r, base + e * rec.rec))
    return out


def _reasons(
    spec: DenseSpec, lay: DenseLayout, n_pass: int, g: int, buffers: int, tiling: WeightTiling | None
) -> tuple[str, ...]:
    """Why the program looks as it does (the first reason is the one-line mapping the network model shows)."""
    out = [f"{lay.kind} mapping: {n_pass} passes, {g} row units of {lay.unit_rows} rows per streaming batch"]
    if lay.kind == "gemm":
        out.append(
            f"k split over {lay.ky} PE rows (at most GEMM_K_SPLIT = {GEMM_K_SPLIT}, a power of two dividing "
            f"the k-chunk of {lay.kc}), {lay.cols} columns per PE (at most GEMM_COLS_PER_PE, a multiple of "
            "the k split); the FMA chains of one accumulator stay further apart than the FMA latency"
        )
    elif lay.chunked:
        out.append(
            f"a row of {lay.n_cchunks * lay.w} elements (one register each) does not fit one iteration's "
            f"registers: chunks of {lay.w} (the widest divisor up to ROW_REDUCE_CHUNK that leaves >= 2 tags "
            "in flight)"
        )
    out.append(
        f"{buffers} SPM buffers ({'double buffering' if buffers == 2 else 'a row unit too large for two'}); "
        f"{g} row units per batch: each pass's coefficients are loaded into the RF once per batch"
    )
    if tiling:
        out.append(tiling.reason())
    if spec.source:
        out.append(
            f"{spec.source}: A is the im2col patch matrix (M x K), DMA'd as a matrix -- the DMA's gather of "
            "patches from the NCHW input is not modelled, so the DRAM bytes are those of the lowered GEMM"
        )
    return tuple(out)
