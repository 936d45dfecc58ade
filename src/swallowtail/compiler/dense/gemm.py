"""GEMM as per-PE instruction templates, and the tiling of weights larger than the SPM.

C (M x N) = A (M x K) @ B (K x N), per batch (head) its own B. PE (x, y): K split over the ky PE rows (kq =
kc / ky inputs each), columns over the nx = PEs / ky PE columns (c per PE). One iteration = one row group of A
(`simd_lanes` rows) x one pass (a k-chunk of kc x a column tile of nx c columns)::

    LD   kq A vectors (+ c / ky partial sums of earlier k-chunks)
    MUL / FMA by element: c accumulators x kq inputs (B entries are the coefficient scalars)
    reduce-scatter over the ky PE rows: log2(ky) levels of "send half, ADD the received half"
    (XFER over y distance 1, 2: one skip-hop each); (+ ADD the loaded partial sum)
    ST   c / ky output vectors

For Q K^T the coefficients are K (B = K^T), for S V they are V: the other activation, DMA'd into the
coefficient table. Weights larger than the SPM (`WeightTiling`): groups of column tiles ("weight tiles")
stream through two SPM coefficient regions; every row unit streams through each weight tile::

    for weight tile w (region w % 2; the DMA meanwhile loads weight tile w + 1 into the other region):
        for batch of row units: LD A -> passes (k-chunk q, column tile t of w) -> ST C[:, columns of w]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.dense.spec import (
    GEMM_K_SPLIT,
    DenseLayout,
    DensePass,
    DenseSpec,
    DenseTemplate,
    GemmStage,
    PassGrid,
    StageGeom,
)
from swallowtail.compiler.dense.stream import PeStream, assemble
from swallowtail.compiler.emit import DmaEmitter, align
from swallowtail.compiler.geometry import SpmGeometry
from swallowtail.compiler.isa import OP_ADD, OP_FMA, OP_MUL
from swallowtail.compiler.program import SpmLayout
from swallowtail.errors import SpecError
from swallowtail.flops import ceil_div


def gemm_layout(spec: DenseSpec, arch: DataflowArch, n_pe: int, c_max: int, kc_max: int) -> DenseLayout:
    """k-chunks (balanced, at most kc_max), the k split over PE rows, columns per PE and column tiles."""
    lanes = arch.pe.simd_lanes
    if spec.structure is not None:
        return structured_layout(spec, arch, n_pe, c_max, kc_max)
    K, N = spec.k, spec.n
    n_chunks = ceil_div(K, min(K, kc_max))
    kc = ceil_div(K, n_chunks)  # balanced k-chunks; the last is padded with zero coefficients
    ky = _k_split(kc, arch)
    nx = n_pe // ky
    c = _cols_per_pe(N, nx, ky, c_max)
    tile = nx * c
    n_tiles = ceil_div(N, tile)
    kp = n_chunks * kc
    rec = kp + n_tiles * tile
    return DenseLayout(
        kind="gemm",
        rec=rec,
        unit_slots=rec,
        unit_rows=lanes,
        units_per_segment=ceil_div(spec.rows, lanes),
        segments=spec.batch,
        fields={"a": 0, "c": kp},
        ky=ky,
        nx=nx,
        cols=c,
        kc=kc,
        n_chunks=n_chunks,
        n_tiles=n_tiles,
        pass_index=PassGrid(n_chunks, n_tiles),
    )


def _cols_per_pe(n: int, nx: int, ky: int, c_max: int) -> int:
    """Columns per PE: what n needs over nx PE column blocks, a multiple of ky (the reduce-scatter halves
    them ky-fold), at most c_max (rounded down to a multiple of ky, at least ky)."""
    c_cap = max(ky, c_max - c_max % ky)
    return min(c_cap, ceil_div(ceil_div(n, nx), ky) * ky)


def _k_split(kc: int, arch: DataflowArch) -> int:
    """PE rows the k-reduction of a k-chunk is split over: the largest power of two up to GEMM_K_SPLIT and
    the array's rows that divides kc."""
    ky = 1
    while ky * 2 <= min(GEMM_K_SPLIT, arch.array.rows) and kc % (ky * 2) == 0:
        ky *= 2
    return ky


#: compiler policy: most A vectors per PE per pass of a structured (block-sparse) GEMM; its k-chunk is split
#: over the fewest PE rows that keep to it. Its passes follow each block column's own nonzero k-chunks, so a
#: column tile may span block columns without waste, and a shallow split (long FMA chains, few
#: reduce-scatter ADDs and transfers) pays until the registers run short. Measured (block level, 2048 x 4096
#: -> 11008 flat block butterfly, utilization on df-4x4-simd8 / df-8x8-simd8), k split over 4 / 2 / 1 PE
#: rows: block 16: 0.67 / 0.83 / 0.91; block 32: 0.79 / 0.91 / 0.97; block 64: 0.90 / 0.95 / 0.70 (64 A
#: registers: fewer tags in flight)
STRUCTURED_KQ_MAX = 32


def _stage_geom(
    st: GemmStage, arch: DataflowArch, n_pe: int, c_max: int, kc_max: int, a_off: int, c_off: int
) -> StageGeom:
    """A stage's geometry: k-chunks within one block row (kc = the block, or its largest power-of-two divisor
    up to kc_max), split over the fewest PE rows that leave at most STRUCTURED_KQ_MAX A vectors per PE;
    columns per PE as a dense GEMM's."""
    kc = st.block
    while kc > kc_max and kc % 2 == 0:
        kc //= 2
    ky = 1
    while kc // ky > STRUCTURED_KQ_MAX and ky < _k_split(kc, arch):
        ky *= 2
    nx = n_pe // ky
    c = _cols_per_pe(st.n, nx, ky, c_max)
    return StageGeom(
        kc=kc,
        ky=ky,
        nx=nx,
        cols=c,
        n_chunks=st.k // kc,
        n_tiles=ceil_div(st.n, nx * c),
        a_off=a_off,
        c_off=c_off,
        k_slot=st.in_perm,
        c_slot=st.out_perm,
    )


def _stage_passes(st: GemmStage, g: StageGeom) -> list[tuple[int, int, tuple[int, ...]]]:
    """(r, column tile t, k-chunk of each PE column block) of a stage's passes, r-major: in pass (r, t) the
    PE column block xc runs the r-th nonzero k-chunk of the block column its columns lie in (-1: that
    column has fewer; it computes with zero coefficients). A tile runs as many passes as its block columns
    have nonzero k-chunks at most (one when none: its outputs are 0)."""
    rows_of = st.nonzero_rows()
    per_block = st.block // g.kc
    chunks = {
        j: [i * per_block + u for i in sorted(rows) for u in range(per_block)] for j, rows in rows_of.items()
    }
    by_tile: dict[int, list[tuple[int, ...]]] = {}
    for t in range(g.n_tiles):
        cols = [chunks.get((t * g.tile + xc * g.cols) // st.block, []) for xc in range(g.nx)]
        depth = max(1, *(len(c) for c in cols))
        by_tile[t] = [tuple(c[r] if r < len(c) else -1 for c in cols) for r in range(depth)]
    depth = max(len(v) for v in by_tile.values())
    return [(r, t, by_tile[t][r]) for r in range(depth) for t in range(g.n_tiles) if r < len(by_tile[t])]


def structured_layout(spec: DenseSpec, arch: DataflowArch, n_pe: int, c_max: int, kc_max: int) -> DenseLayout:
    """The layout of a structured GEMM (`DenseSpec.structure`): a record [A | stage outputs ...], each stage
    its own geometry, only the passes the nonzero blocks need."""
    assert spec.structure is not None
    lanes = arch.pe.simd_lanes
    for st in spec.structure.stages:
        if st.block & (st.block - 1) or st.block < 2:
            raise SpecError(f"{spec.op_name}.block", st.block, "a power of two >= 2 on a dataflow array")
    geoms: list[StageGeom] = []
    a_off = 0
    off = spec.structure.stages[0].k
    for st in spec.structure.stages:
        g = _stage_geom(st, arch, n_pe, c_max, kc_max, a_off, off)
        geoms.append(g)
        a_off, off = off, off + g.n_tiles * g.tile
    passes = [
        (s_, r, t, qs)
        for s_, st in enumerate(spec.structure.stages)
        for r, t, qs in _stage_passes(st, geoms[s_])
    ]
    g0 = geoms[0]
    return DenseLayout(
        kind="gemm",
        rec=off,
        unit_slots=off,
        unit_rows=lanes,
        units_per_segment=ceil_div(spec.rows, lanes),
        segments=1,
        fields={"a": 0, "c": geoms[-1].c_off},
        ky=g0.ky,
        nx=g0.nx,
        cols=g0.cols,
        kc=g0.kc,
        n_chunks=g0.n_chunks,
        n_tiles=geoms[-1].n_tiles,
        pass_index=tuple((r, t) for _, r, t, _ in passes),
        stages=tuple(geoms),
        pass_stage=tuple(s_ for s_, *_ in passes),
        pass_first=tuple(r == 0 for _, r, _, _ in passes),
        pass_chunks=tuple(qs for *_, qs in passes),
    )


def gemm_templates(
    spec: DenseSpec, arch: DataflowArch, coords: list[tuple[int, int]], layout: DenseLayout
) -> list[DenseTemplate]:
    """One template per pass (k-chunk q, column tile t) of `layout.pass_index` (weight-tiled: the passes of
    one weight tile, t its column tile within it; structured: of its stage)."""
    n_pe = len(coords)
    lanes = arch.pe.simd_lanes
    groups = SpmGeometry.of(arch).groups
    templates = []
    for p, (q, t) in enumerate(layout.pass_index):
        g = layout.stage_geom(p)
        first = layout.is_first(p)
        cvec = ceil_div(g.kc // g.ky * g.cols, lanes)
        streams = [
            _pe_stream(g, arch, coords, lanes, layout.k_chunk(p, xc_of(g, arch, x, y)), t, first, x, y)
            for x, y in coords
        ]
        stage = f"stage {layout.pass_stage[p]} nonzero k-chunk {q}" if layout.stages else f"k-chunk {q}"
        name = f"gemm {stage} tile {t}"
        templates.append(assemble(streams, DensePass(p, name, 1, int(g.ky > 1)), cvec, n_pe, groups))
    return templates


def xc_of(g: StageGeom, arch: DataflowArch, x: int, y: int) -> int:
    """Which of the nx PE column blocks PE (x, y) is in (a column block = ky PE rows of one array column)."""
    return (y // g.ky) * arch.array.cols + x


def _pe_stream(
    g: StageGeom,
    arch: DataflowArch,
    coords: list[tuple[int, int]],
    lanes: int,
    q: int,
    t: int,
    first: bool,
    x: int,
    y: int,
) -> PeStream:
    """PE (x, y)'s instructions for pass (q, t): LD its A slice (and partial sums unless `first`), MUL / FMA
    by element, reduce-scatter over the ky PE rows of its column, ADD the partial sums, ST its columns."""
    ky, c, kc = g.ky, g.cols, g.kc
    kq = kc // ky
    yk = y % ky
    s = PeStream(lanes)
    a_regs = s.reg(kq)
    acc = s.reg(c)
    rot = [(kk + x) % kq for kk in range(kq)]
    for kk in rot:
        s.ld(a_regs + kk, g.a_slot(q * kc + yk * kq + kk))
    # the c / ky columns this PE ends up with after the reduce-scatter
    held = list(range(c))
    for lvl in range(ky.bit_length() - 1):
        half = len(held) // 2
        held = held[:half] if ((yk >> lvl) & 1) == 0 else held[half:]
    xc = xc_of(g, arch, x, y)
    cslot = [g.out_slot(t * g.tile + xc * c + j) for j in held]
    part = -1
    if not first:
        part = s.reg(len(held))
        for i in range(len(held)):
            s.ld(part + i, cslot[i])
    for step, kk in enumerate(rot):
        for j in range(c):
            last = step == kq - 1 and ky == 1 and first
            if step == 0:
                s.op(OP_MUL, acc + j, a_regs + kk, k=j * kq + kk, final=last)
            else:
                s.op(OP_FMA, acc + j, a_regs + kk, acc + j, k=j * kq + kk, final=last)
    cur = list(range(c))
    for lvl in range(ky.bit_length() - 1):
        d = 1 << lvl
        half = len(cur) // 2
        keep, send = (cur[:half], cur[half:]) if ((yk >> lvl) & 1) == 0 else (cur[half:], cur[:half])
        peer = coords.index((x, y ^ d))
        recv = s.reg(half)
        for i, j in enumerate(send):
            s.xfer(acc + j, recv + i, peer)
        lastlvl = 2 * d >= ky and first
        for i, j in enumerate(keep):
            s.op(OP_ADD, acc + j, acc + j, recv + i, final=lastlvl)
        cur = keep
    assert cur == held
    if not first:
        for i, j in enumerate(held):
            s.op(OP_ADD, acc + j, acc + j, part + i, final=True)
    for i, j in enumerate(held):
        s.st(acc + j, cslot[i])
    return s


# ---- weights larger than the SPM ------------------------------------------------------------------------
def _coef_vectors(layout: DenseLayout, p: int, arch: DataflowArch) -> int:
    """Coefficient vectors per PE of pass p's table."""
    g = layout.stage_geom(p)
    return ceil_div(g.kc // g.ky * g.cols, arch.pe.simd_lanes)


def untiled_gemm_fits(layout: DenseLayout, arch: DataflowArch, n_pe: int) -> tuple[bool, int]:
    """(whether every pass's coefficient table -- all of B, per segment -- and one buffer of one row unit fit
    the SPM, the bytes they need)."""
    geo = SpmGeometry.of(arch)
    tables = (
        layout.segments * sum(_coef_vectors(layout, p, arch) for p in range(len(layout.pass_index))) * n_pe
    )
    need = (tables + layout.unit_slots) * geo.vec_bytes
    fits = align(tables, geo.groups) + layout.unit_slots <= arch.spm.size_bytes // geo.vec_bytes
    return fits, need


@dataclass(frozen=True)
class WeightTiling:
    """A GEMM whose weights (B) do not fit the SPM, as *weight tiles*: groups of `tiles_per_group` column
    tiles with all their k-chunks. A weight tile's coefficient tables fill one of two SPM regions; every row
    unit of its segment streams through it (A is loaded once per weight tile, C's columns of the tile stored);
    meanwhile the DMA loads the next weight tile into the other region. A weight tile's region is reloaded
    only after the last store of the weight tile before it in that region (`DMAOp.after`): that store covers
    every PE's outputs, which follow every read of the old tables."""

    full: DenseLayout  # the whole op's layout (all column tiles)
    layout: DenseLayout  # one weight tile's record [A: K | C: its columns] and passes (its column tiles)
    tiles_per_group: int
    tiles: tuple[tuple[int, int], ...]  # (segment, group of column tiles) of each weight tile, in order
    n: int  # columns of C

    @property
    def tile_cols(self) -> int:
        return self.full.nx * self.full.cols

    def group_tiles(self, w: int) -> int:
        """Column tiles in weight tile w (the last group of a segment may hold fewer)."""
        g = self.tiles[w][1]
        return min(self.tiles_per_group, self.full.n_tiles - g * self.tiles_per_group)

    def passes_of(self, w: int) -> list[int]:
        """The templates weight tile w runs (q-major, as `layout.pass_index`)."""
        tg = self.tiles_per_group
        return [q * tg + t for q in range(self.full.n_chunks) for t in range(self.group_tiles(w))]

    def columns(self, w: int) -> tuple[int, int]:
        """(first column, columns) of C that weight tile w computes."""
        first = self.tiles[w][1] * self.tiles_per_group * self.tile_cols
        return first, min(self.n, first + self.group_tiles(w) * self.tile_cols) - first

    def value_table(self, w: int, p: int) -> int:
        """The index of weight tile w's pass p among all (segment, pass) tables of the untiled order."""
        sgi, g = self.tiles[w]
        q, t = divmod(p, self.tiles_per_group)
        return sgi * len(self.full.pass_index) + q * self.full.n_tiles + g * self.tiles_per_group + t

    def table_ranges(self, w: int, spm: SpmLayout, table: int) -> list[tuple[int, int]]:
        """The SPM slots of weight tile w's tables (`table` slots each) in its region: a run per k-chunk."""
        rb = spm.coef_start + (w % 2) * (spm.coef_slots // 2)
        tg, used = self.tiles_per_group, self.group_tiles(w)
        if used == tg:
            return [(rb, rb + self.full.n_chunks * tg * table)]
        return [(rb + q * tg * table, rb + (q * tg + used) * table) for q in range(self.full.n_chunks)]

    def describe(self, vec_bytes: int) -> str:
        return (
            f"tiled: {len(self.tiles)} weight tiles of {self.tiles_per_group} column tiles "
            f"({self.tiles_per_group * self.tile_cols} columns) x all {self.full.n_chunks} k-chunks, "
            "double-buffered in 2 SPM coefficient regions; A reloaded per weight tile"
        )

    def note(self) -> str:
        cols = self.tiles_per_group * self.tile_cols
        return f"weights tiled: {len(self.tiles)} weight tiles of {cols} columns"

    def reason(self) -> str:
        return (
            "B's coefficient tables do not fit the SPM with a row unit: weight tiles of "
            f"{self.tiles_per_group} column tiles, the most whose two regions take at most "
            f"{WEIGHT_REGIONS_SPM_SHARE:.0%} of the SPM "
            "(the rest streams the rows); the next weight tile loads while this one computes"
        )


#: compiler policy: the two coefficient regions of a weight-tiled GEMM take at most this share of the SPM (the
#: rest holds the row buffers: larger weight tiles mean fewer reloads of A, smaller batches mean less reuse of
#: each coefficient load)
WEIGHT_REGIONS_SPM_SHARE = 0.5


def plan_weight_tiling(
    spec: DenseSpec, layout: DenseLayout, arch: DataflowArch, n_pe: int, units_per_batch: int | None
) -> WeightTiling:
    """The weight tiles of a GEMM whose weights do not fit: the most column tiles per weight tile whose two
    regions fit WEIGHT_REGIONS_SPM_SHARE of the SPM; SpecError when not even one column tile and one row
    unit fit."""
    geo = SpmGeometry.of(arch)
    if layout.stages:
        _, need = untiled_gemm_fits(layout, arch, n_pe)
        raise SpecError(
            "arch.spm.size_bytes",
            arch.spm.size_bytes,
            f"room for every coefficient table of {spec.describe()} and one row unit ({need} B): weight "
            "tiling of structured GEMMs is not implemented",
            hint="a larger SPM or a smaller op; the network-level model probes a slice of it",
        )
    spm_slots = arch.spm.size_bytes // geo.vec_bytes
    table = ceil_div(layout.kc // layout.ky * layout.cols, arch.pe.simd_lanes) * n_pe
    kp = layout.fields["c"]
    tile = layout.nx * layout.cols

    def region(tg: int) -> int:
        return align(layout.n_chunks * tg * table, geo.groups)

    tg = max(
        [t for t in range(1, layout.n_tiles + 1) if 2 * region(t) <= WEIGHT_REGIONS_SPM_SHARE * spm_slots]
        or [1]
    )
    if 2 * region(1) + kp + tile > spm_slots:
        need = (2 * region(1) + kp + tile) * geo.vec_bytes
        raise SpecError(
            "arch.spm.size_bytes",
            arch.spm.size_bytes,
            f"room for {spec.describe()} weight-tiled: two regions of one column tile's weights "
            f"(K = {spec.k} x {tile} columns) + one row unit = {need} B",
            hint="a larger SPM, or narrower column tiles (a smaller gemm_cols_per_pe)",
        )
    groups = ceil_div(layout.n_tiles, tg)
    rec = kp + tg * tile
    group_layout = replace(
        layout,
        rec=rec,
        unit_slots=rec,
        n_tiles=tg,
        pass_index=PassGrid(layout.n_chunks, tg),
    )
    tiles = tuple((sgi, g) for sgi in range(layout.segments) for g in range(groups))
    return WeightTiling(full=layout, layout=group_layout, tiles_per_group=tg, tiles=tiles, n=spec.n)


def tiled_coef_dma(
    tiling: WeightTiling,
    templates: list[DenseTemplate],
    n_pe: int,
    spm: SpmLayout,
    em: DmaEmitter,
    batches: list[tuple[int, int, int, int]],
) -> tuple[tuple[int, int], list[tuple[int, int]], Callable[[int], None]]:
    """The coefficient DMA of a weight-tiled GEMM for `emit.stream_dma`: (the first pass's table, the rest of
    weight tiles 0 and 1 up front, after batch b: the next-but-one weight tile's tables when b is the last
    batch of a weight tile -- into the region that weight tile frees, after its last store)."""
    table = templates[0].coef_vectors * n_pe
    assert all(t.coef_vectors * n_pe == table for t in templates)
    first = (spm.coef_start, spm.coef_start + table)
    rest = [(max(lo, first[1]), hi) for lo, hi in tiling.table_ranges(0, spm, table) if hi > first[1]]
    if len(tiling.tiles) > 1:
        rest += tiling.table_ranges(1, spm, table)
    last_batch = {w: max(b for b, bt in enumerate(batches) if bt[3] == w) for w in range(len(tiling.tiles))}

    def after_batch(b: int) -> None:
        w = batches[b][3]
        if b == last_batch[w] and w + 2 < len(tiling.tiles):
            for lo, hi in tiling.table_ranges(w + 2, spm, table):
                em.coef(lo, hi, batch=b + em.buffers, after=em.batch_last_store[b])

    return first, rest, after_batch
