"""Choosing the mapping: block size, stages per block (passes), placement, coefficient sets, batches.

A block of B = 2^beta positions is spread over a sub-array of 2^xb x 2^yb PEs with P = 2^lb positions per
PE: the beta "block bits" of a position index are split into x bits (the PE's column), y bits (its row) and
local bits (which of the PE's P positions). A pass runs k consecutive stages; their position bits are
*stage bits* and must all be block bits; the remaining block bits are *group bits* (independent butterfly
groups that ride along to fill the array); every other position bit is an *instance bit* (which block
instance). Example, df-4x4-simd8, n = 4096, B = 256 (P = 16), pass 0 = stages on bits 0..5::

        position bit:  11 10  9  8  7  6 | 5  4  3  2  1  0
        "stride"   :    i  i  i  i  l  l | l  l  y  y  x  x    the paper's: short strides hop horizontally
                                                               (x: distance 1, 2), middle strides vertically,
                                                               the longest stay inside a PE
        "local-first":  i  i  i  i  y  y | x  x  l  l  l  l    the first stages stay inside a PE; later
                                                               cross-PE stages swap their PE bit with an
                                                               already-processed local bit (send-half)
        x / y: PE coordinate bit, l: local bit, i: instance (16 instances of 256 positions)

        +----+----+----+----+      PE (x, y) holds the 16 positions whose x / y bits are its coordinates;
        | 00 | 10 | 20 | 30 |      a stage on an x bit of weight 2^i pairs PE x with PE x ^ 2^i: one hop of
        +----+----+----+----+      1 or 2 on the skip-hop links (hops [1, 2]); longer distances take several
        | 01 | 11 | 21 | 31 |      hops and are charged for each; a stage on a local bit stays in the PE.
        +----+----+----+----+
        | .. |    |    |    |
        +----+----+----+----+

SPM bank groups: a vector's bank group is the low bits of its position (`bank_bits`); the compiler keeps
those bits block bits in every pass (on x where it can), so every block instance has the same bank pattern
(the simulator's fast-forward relies on it) and PEs order their loads / stores to spread over the groups.

Passes: with k_max stages per pass, n > B takes ceil(L / k_max) passes (balanced). The single-layer baseline
is k = 1: every stage a pass, every stage's output written to the SPM and re-read.

Automatic knobs: for candidate blocks (the largest few whose registers fit the RF with >= MIN_TAGS tags in
flight), both placements, SPM buffers 2 | 3 and batch sizes, `estimate` computes per pass the binding
resource (compute slots, the list-scheduled exchange latency of one iteration, RF read / write ports, the
busiest NoC link, SPM bank groups) and per batch the DMA, plus pipeline fill and drain; the cheapest
candidate wins (ties within ESTIMATE_TOLERANCE go to the larger block; an exact tie between 2 and 3 SPM
buffers goes to 3 when a buffer's whole turnaround -- store, load, DRAM latency twice and the PEs' loads of
the refilled buffer -- does not fit in one batch's compute) and `Plan.reasons` says why. The
estimate only *chooses*; the simulator measures. Batches ramp 1, 2, 4, ... row groups up and down
(`batch_groups`) so that the first computation waits for one row group only and the last store is short;
coefficient sets are resident (one per block instance, loaded once) when they all fit in the RF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.butterfly.kernels import KernelSpec
from swallowtail.compiler.butterfly.template import PassTemplate, build_template
from swallowtail.compiler.geometry import PassPlan, SpmGeometry, _place, rf_vectors
from swallowtail.compiler.model import ELEM_BYTES, MachineModel
from swallowtail.compiler.plan import DATAFLOWS
from swallowtail.errors import SpecError, check_positive_int, is_int
from swallowtail.flops import ceil_div

if TYPE_CHECKING:
    from swallowtail.compiler.program import Program

PLACEMENTS = ("stride", "local-first")
#: largest number of row groups (rows / simd_lanes) a streaming batch may hold (compiler policy: beyond it
#: coefficient reuse gains little and pipeline fill grows)
MAX_ROW_GROUPS_PER_BATCH = 16
#: tags in flight per PE the automatic choice insists on (one iteration's loads / stores overlap another's
#: compute only with two or more); a user-given block may run with one
MIN_TAGS = 2
#: data register sets a tag needs at most (current, next, received values), for the block pre-filter
DATA_SETS_MAX = 3
#: compiler policy: how many of the largest feasible block sizes the automatic choice compares
MAX_BLOCK_CANDIDATES = 3
#: compiler policy: estimates within this fraction of the best count as ties, broken towards larger blocks
ESTIMATE_TOLERANCE = 0.10


def _compositions(n: int, parts: int, cap: int):
    """All ways to write n as an ordered sum of `parts` integers in 1..cap."""
    if parts == 1:
        if 1 <= n <= cap:
            yield (n,)
        return
    for first in range(min(cap, n - parts + 1), 0, -1):
        for rest in _compositions(n - first, parts - 1, cap):
            yield (first, *rest)


def split_passes(
    stage_bits: tuple[int, ...],
    log_n: int,
    xb: int,
    yb: int,
    lb: int,
    bank_bits: tuple[int, ...],
    placement: str,
    k: int | None,
) -> list[PassPlan]:
    """Split the stages into passes of consecutive stages.

    `k` given: chunks of k (the last may be shorter). Else: the fewest passes; among those the split with the
    most bank-aligned passes, then the most even one (smallest largest pass, earlier passes larger)."""
    beta = xb + yb + lb
    n = len(stage_bits)

    def build(sizes: tuple[int, ...]) -> list[PassPlan]:
        out, pos = [], 0
        for i, s in enumerate(sizes):
            p = _place(stage_bits[pos : pos + s], log_n, xb, yb, lb, bank_bits, placement, i)
            if p is None:
                raise SpecError("stages_per_block", s, f"at most log2(block) = {beta}")
            out.append(p)
            pos += s
        return out

    if k is not None:
        return build(tuple(min(k, n - i) for i in range(0, n, k)))
    n_pass = ceil_div(n, beta)
    best: tuple | None = None
    for sizes in _compositions(n, n_pass, beta):
        plans = build(sizes)
        score = (-sum(p.bank_aligned for p in plans), max(sizes), tuple(-s for s in sizes))
        if best is None or score < best[0]:
            best = (score, plans)
    assert best is not None
    return best[1]


# ---- the plan ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """Every mapping decision of one kernel on one array, with the reasons."""

    dataflow: str
    block: int
    xb: int
    yb: int
    lb: int
    placement: str
    passes: tuple[PassPlan, ...]
    rows_per_batch: int  # the largest batch (SPM buffer size)
    buffers: int
    batches: tuple[tuple[int, int], ...]  # row ranges of the streaming batches
    bank_bits: tuple[int, ...]
    coef_vectors: tuple[int, ...]  # per pass: coefficient vectors per PE per block instance (padded)
    data_regs: tuple[int, ...]  # per pass: vector registers one iteration (tag) needs per PE
    coef_set_regs: int  # vector registers of one coefficient set (max over passes)
    coef_sets: int  # coefficient sets in the RF: 2 (double-buffered) or one per block instance (resident)
    tag_slots: tuple[int, ...]  # per pass: iterations in flight per PE
    estimate: dict[str, float] = field(default_factory=dict, compare=False)
    reasons: tuple[str, ...] = ()
    user_knobs: tuple[str, ...] = ()
    templates: tuple[PassTemplate, ...] = field(default=(), compare=False, repr=False)

    @property
    def positions_per_pe(self) -> int:
        return 1 << self.lb

    def describe(self, program: Program) -> list[str]:
        """The summary's mapping lines: block, stages per pass, batches, buffers, tags, passes."""
        lines = [
            f"  block B = {self.block} positions on {program.n_active} PEs ({self.positions_per_pe} per PE), "
            f"k = {[p.k for p in self.passes]} stages per pass, {len(self.passes)} passes, "
            f"placement '{self.placement}'",
            f"  rows per batch up to {self.rows_per_batch} (batches of "
            f"{[ceil_div(b - a, program.lanes) for a, b in self.batches]} row groups of {program.lanes} "
            "lanes), "
            f"{self.buffers} SPM buffers, {len(program.schedule)} iterations, tags in flight per PE "
            f"{list(self.tag_slots)}, {self.coef_sets} coefficient register sets",
        ]
        lines.extend(f"  {p.describe()}; {p.n_instances} block instances" for p in self.passes)
        return lines

    def note(self, program: Program) -> str:
        """One line: the kernel, the dataflow and the mapping (as `swallowtail.sim.run` writes it)."""
        return (
            f"{program.spec.describe()}; dataflow {self.dataflow}; block {self.block} "
            f"({self.positions_per_pe} per PE on {program.n_active} PEs), stages per pass "
            f"{[p.k for p in self.passes]}, placement '{self.placement}', rows per batch "
            f"{self.rows_per_batch}, {self.buffers} buffers, tags in flight {list(self.tag_slots)}"
        )


def _geometry(block: int, arch: DataflowArch) -> tuple[int, int, int]:
    beta = block.bit_length() - 1
    xmax = arch.array.cols.bit_length() - 1
    ymax = arch.array.rows.bit_length() - 1
    xb = min(beta, xmax)
    yb = min(beta - xb, ymax)
    lb = beta - xb - yb
    return xb, yb, lb


def batch_groups(total_rgs: int, g_max: int) -> list[int]:
    """Row groups per streaming batch: a ramp 1, 2, 4, .. up to g_max, then g_max, then the ramp down.

    The first batch is small so that computing starts after one row group has arrived (pipeline fill); the
    last batch is small so that only one row group's results are stored after the last computation
    (drain); the full-size batches in the middle reuse each block's coefficients g_max times."""
    while g_max > 1:
        up = []
        g = 1
        while g < g_max:
            up.append(g)
            g *= 2
        rest = total_rgs - 2 * sum(up)
        if rest >= g_max:
            middle = [g_max] * (rest // g_max)
            if rest % g_max:
                middle.append(rest % g_max)
            return up + middle + up[::-1]
        g_max //= 2
    return [1] * total_rgs


def batch_rows(rows: int, lanes: int, g_max: int) -> tuple[tuple[int, int], ...]:
    """Row ranges [r0, r1) of the streaming batches (`batch_groups` row groups of `lanes` rows each)."""
    total = ceil_div(rows, lanes)
    out = []
    r = 0
    for g in batch_groups(total, g_max):
        out.append((r, min(rows, r + g * lanes)))
        r += g * lanes
    return tuple(out)


def _tag_slots(arch: DataflowArch, coef_set: int, data: tuple[int, ...], sets: int = 2) -> tuple[int, ...]:
    cap, _ = rf_vectors(arch)
    return tuple(min(arch.pe.active_tags, (cap - sets * coef_set) // d) for d in data)


def coefficient_sets(
    arch: DataflowArch, templates: list[PassTemplate], cset: int, data: tuple[int, ...]
) -> int:
    """Coefficient register sets: every block instance's own set when all of them fit beside MIN_TAGS
    tags (coefficients then load once for the whole kernel, whatever the batch size); else 2 (one in use,
    one prefetched for the next block instance)."""
    cap, _ = rf_vectors(arch)
    distinct = sum(t.plan.n_instances for t in templates)
    if distinct > 2 and distinct * cset + MIN_TAGS * max(data) <= cap:
        return distinct
    return min(2, distinct) if distinct > 1 else 1


def estimate(
    spec: KernelSpec,
    arch: DataflowArch,
    templates: list[PassTemplate],
    active: int,
    rows_per_batch: int,
    buffers: int,
    resident: bool = False,
) -> dict[str, float]:
    """Analytic cycle estimate of a candidate mapping (used only to choose knobs; the simulator measures).

    Per iteration and pass: the largest of compute slots, the exchange latency of cross-PE stages, RF read
    and write port demand, the busiest NoC link, the SPM bank groups; per batch: the DMA (a buffer is
    refilled only after its previous batch was stored); plus pipeline fill (first loads) and drain."""
    geo = SpmGeometry.of(arch)
    lanes = arch.pe.simd_lanes
    rf = arch.pe.register_file
    single = resident
    in_b = spec.input_elems_per_row * ELEM_BYTES
    out_b = spec.output_elems_per_row * ELEM_BYTES
    dma_bw = arch.dram_bytes_per_cycle
    lat = arch.dma.latency_cycles
    binds: dict[str, float] = {}

    def per_row_group(g: int) -> float:
        total = 0.0
        for t in templates:
            st = t.static
            c = t.coef_vectors / (ceil_div(spec.rows, lanes) if single else g)
            terms = {
                "compute": st["compute"],
                "exchange_latency": st["exchange_latency"],
                "rf_read_ports": st["rf_reads"] / rf.read_ports,
                "rf_write_ports": (st["rf_writes"] + c) / rf.write_ports,
                "noc": st["link_cycles"],
                "spm": active * (st["spm_vectors_pe"] + c) * geo.occupancy / geo.groups,
            }
            for k_, v in terms.items():
                binds[k_] = binds.get(k_, 0.0) + v * t.plan.n_instances * g
            total += max(terms.values()) * t.plan.n_instances
        return total

    batches = batch_rows(spec.rows, lanes, max(1, ceil_div(rows_per_batch, lanes)))
    # the PEs load one row group's input (n x comps vectors) through the SPM bank groups
    pe_load = spec.n * spec.comps * geo.occupancy / geo.groups
    slack = math.inf
    # fill: the first row group's input and the first block's coefficients; drain: the last batch's output
    first_coefs = templates[0].coef_vectors * active * geo.vec_bytes
    fill = lat + (min(spec.rows, lanes) * in_b + first_coefs) / dma_bw
    last = batches[-1][1] - batches[-1][0]
    drain = last * out_b / dma_bw + lat
    total = fill + drain
    for bi, (r0, r1) in enumerate(batches):
        g = ceil_div(r1 - r0, lanes)
        comp = per_row_group(g) * g
        # a buffer is refilled only after its previous batch was stored: store + load (each with the
        # DRAM latency) must fit in the (buffers - 1) batches computed meanwhile
        nxt = batches[bi + 1] if bi + 1 < len(batches) else (r0, r0)
        dma_bytes = ((r1 - r0) * out_b + (nxt[1] - nxt[0]) * in_b) / dma_bw
        dma = dma_bytes + 2 * lat / (buffers - 1)
        total += max(comp, dma) if bi + 1 < len(batches) else comp
        if bi + 1 < len(batches):
            # the whole turnaround of a buffer, the PEs' loads of the refilled buffer included (not in
            # `cycles`: used to break exact ties between buffer counts)
            slack = min(slack, (buffers - 1) * comp - (dma_bytes + 2 * lat + pe_load))
    per_rg = per_row_group(max(1, ceil_div(rows_per_batch, lanes)))
    ideal = spec.lane_ops / (arch.n_pes * lanes)
    bound = max(binds, key=lambda k_: binds[k_])
    return {
        "cycles": total,
        "per_row_group": per_rg,
        "fill": fill,
        "drain": drain,
        "utilization": ideal / total if total else 0.0,
        "bound": bound,  # type: ignore[dict-item]
        "turnaround_slack": slack,
        **{f"load_{k_}": v for k_, v in binds.items()},
    }


@dataclass(frozen=True)
class _Candidate:
    """One candidate mapping the automatic choice compares."""

    key: tuple  # (estimated cycles, passes, placement index, buffers, -rows per batch, block): sorted by it
    placement: str
    plans: tuple[PassPlan, ...]
    rows_per_batch: int
    est: dict[str, float]
    coef: tuple[int, ...]
    data: tuple[int, ...]
    cset: int
    slots: tuple[int, ...]
    geometry: tuple[int, int, int]  # xb, yb, lb
    templates: tuple[PassTemplate, ...]
    n_sets: int

    @property
    def cycles(self) -> float:
        return self.key[0]

    @property
    def buffers(self) -> int:
        return self.key[3]

    @property
    def block(self) -> int:
        return self.key[5]


def _check_knobs(
    spec: KernelSpec,
    arch: DataflowArch,
    dataflow: str,
    block: int | None,
    stages_per_block: int | None,
    placement: str | None,
    rows_per_batch: int | None,
    buffers: int | None,
) -> list[str]:
    """SpecError naming the first knob (or arch field) the mapping cannot honour; the knobs given, as text."""
    if dataflow not in DATAFLOWS:
        raise SpecError("dataflow", dataflow, f"one of {list(DATAFLOWS)}")
    if placement is not None and placement not in PLACEMENTS:
        raise SpecError("placement", placement, f"one of {list(PLACEMENTS)}")
    lanes = arch.pe.simd_lanes
    for dim, size in (("array.cols", arch.array.cols), ("array.rows", arch.array.rows)):
        if size & (size - 1):
            raise SpecError(f"arch.{dim}", size, "a power of two (the mapping splits position bits over PEs)")
    user = []
    if block is not None:
        user.append(f"block={block}")
        if not is_int(block) or block < 2 or block & (block - 1):
            raise SpecError("block", block, "a power of two >= 2")
        if block > spec.n:
            raise SpecError("block", block, f"at most n = {spec.n}")
    if stages_per_block is not None:
        user.append(f"stages_per_block={stages_per_block}")
        check_positive_int("stages_per_block", stages_per_block)
        if dataflow == "single-layer" and stages_per_block != 1:
            raise SpecError("stages_per_block", stages_per_block, "1 for the single-layer dataflow")
        if stages_per_block > len(spec.stage_bits):
            raise SpecError(
                "stages_per_block", stages_per_block, f"at most the kernel's {len(spec.stage_bits)} stages"
            )
    if rows_per_batch is not None:
        user.append(f"rows_per_batch={rows_per_batch}")
        check_positive_int("rows_per_batch", rows_per_batch)
        if rows_per_batch % lanes and rows_per_batch < spec.rows:
            raise SpecError(
                "rows_per_batch", rows_per_batch, f"a multiple of simd_lanes = {lanes} (rows share a vector)"
            )
    if buffers is not None:
        user.append(f"buffers={buffers}")
        if buffers not in (2, 3):
            raise SpecError("buffers", buffers, "2 (double buffering) or 3")
    if placement is not None:
        user.append(f"placement={placement}")
    return user


def _candidate_blocks(spec: KernelSpec, arch: DataflowArch, block: int | None) -> list[int]:
    """The given block, or every power of two from the array size up to n whose data registers (about 2.5
    sets of P positions x parts) leave room for MIN_TAGS tags; at most MAX_BLOCK_CANDIDATES of the largest
    (the tie-break prefers large blocks anyway)."""
    if block is not None:
        return [block]
    cap0, _ = rf_vectors(arch)
    n_pes = arch.n_pes
    blocks = []
    b = min(spec.n, n_pes)
    while b <= spec.n:
        p_ = max(1, b // n_pes)
        if b == min(spec.n, n_pes) or MIN_TAGS * DATA_SETS_MAX * p_ * spec.comps <= cap0:
            blocks.append(b)
        b *= 2
    return blocks[-MAX_BLOCK_CANDIDATES:]


@dataclass
class _Search:
    """The candidates of the automatic choice, and why blocks were left out (for the error when none fit)."""

    candidates: list[_Candidate] = field(default_factory=list)
    rf_fail: list[tuple[int, int]] = field(default_factory=list)  # (block, vector registers it needs)
    k_fail: int | None = None  # log2 of a block too small for the stages per block asked for


def _search(
    spec: KernelSpec,
    arch: DataflowArch,
    model: MachineModel,
    blocks: list[int],
    placements: list[str],
    k: int | None,
    block: int | None,
    rows_per_batch: int | None,
    buffer_options: list[int],
    shrink: bool = False,
) -> _Search:
    """Every (block, placement, buffers, rows per batch) whose registers fit the RF and whose batch fits the
    SPM, with its estimate (`shrink`: see `_batch_sizes`)."""
    geo = SpmGeometry.of(arch)
    bank_bits = tuple(range(geo.groups.bit_length() - 1))
    out = _Search()
    for blk in blocks:
        xb, yb, lb = _geometry(blk, arch)
        beta = xb + yb + lb
        if k is not None and k > beta:
            out.k_fail = beta
            continue
        for plc in placements:
            plans = split_passes(spec.stage_bits, spec.log_n, xb, yb, lb, bank_bits, plc, k)
            templates = [build_template(spec, arch, pp, xb, yb, lb, model=model) for pp in plans]
            coef = tuple(t.coef_vectors for t in templates)
            data = tuple(t.data_regs for t in templates)
            cset = max(coef)
            n_sets = coefficient_sets(arch, templates, cset, data)
            slots = _tag_slots(arch, cset, data, n_sets)
            if min(slots) < MIN_TAGS and (block is None and len(blocks) > 1):
                out.rf_fail.append((blk, 2 * cset + MIN_TAGS * max(data)))
                continue
            if min(slots) < 1:
                out.rf_fail.append((blk, 2 * cset + max(data)))
                continue
            active = 1 << (xb + yb)
            coef_table = sum(
                c * t.plan.n_instances * active * geo.vec_bytes for t, c in zip(templates, coef, strict=True)
            )
            for nbuf in buffer_options:
                free = arch.spm.size_bytes - coef_table
                for rpb in _batch_sizes(spec, arch, free, nbuf, rows_per_batch, shrink):
                    est = estimate(
                        spec, arch, templates, active, rpb, nbuf, resident=n_sets > 2 or n_sets == 1
                    )
                    out.candidates.append(
                        _Candidate(
                            (est["cycles"], len(plans), PLACEMENTS.index(plc), nbuf, -rpb, blk),
                            plc,
                            tuple(plans),
                            rpb,
                            est,
                            coef,
                            data,
                            cset,
                            slots,
                            (xb, yb, lb),
                            tuple(templates),
                            n_sets,
                        )
                    )
    return out


def _batch_sizes(
    spec: KernelSpec,
    arch: DataflowArch,
    free: int,
    nbuf: int,
    rows_per_batch: int | None,
    shrink: bool = False,
) -> list[int]:
    """The rows per batch to try (the given one, or 1 .. MAX_ROW_GROUPS_PER_BATCH row groups) whose `nbuf`
    buffers fit the `free` SPM bytes beside the coefficient table.

    `shrink`: a given batch that does not fit falls back to the largest whole number of row groups below it
    that does (`choose_plan` asks for it only when the given batch fits no candidate; `_reasons` says so);
    none when even one row group does not fit."""
    lanes = arch.pe.simd_lanes
    max_rows = free // (nbuf * spec.n * spec.comps * ELEM_BYTES) if free > 0 else 0
    if rows_per_batch is not None:
        rpb = min(rows_per_batch, spec.rows)
        if shrink and rpb > max_rows:
            rpb = min(rpb, max_rows // lanes * lanes)
        rpbs = [rpb] if rpb > 0 else []
    else:
        top = min(MAX_ROW_GROUPS_PER_BATCH, ceil_div(spec.rows, lanes))
        rpbs = sorted({min(spec.rows, m * lanes) for m in range(1, top + 1)})
    return [rpb for rpb in rpbs if rpb <= max_rows]


def _no_candidate(
    spec: KernelSpec,
    arch: DataflowArch,
    found: _Search,
    block: int | None,
    k: int | None,
    rows_per_batch: int | None,
    buffer_options: list[int],
) -> SpecError:
    """The error that says why no mapping fits: the block's registers, the RF, the stages per block, the
    batch, or the SPM."""
    cap, _ = rf_vectors(arch)
    lanes = arch.pe.simd_lanes
    if found.rf_fail and block is not None:
        blk, need = found.rf_fail[0]
        return SpecError(
            "block",
            block,
            f"a block whose registers fit the RF: this one needs {need} vector registers per PE, "
            f"the RF holds {cap}",
            hint="use a smaller block or fewer stages per block",
        )
    if found.rf_fail and arch.pe.active_tags < MIN_TAGS:  # the tag window, not the RF, is what is short
        return SpecError(
            "arch.pe.active_tags",
            arch.pe.active_tags,
            f">= {MIN_TAGS} for the automatic block choice (one iteration's loads and stores overlap "
            "another's compute only with two tags in flight)",
            hint="raise pe.active_tags, or give a block to run with one tag",
        )
    if found.rf_fail:
        blk, need = min(found.rf_fail, key=lambda t: t[1])
        return SpecError(
            "arch.pe.register_file.entries",
            arch.pe.register_file.entries,
            f"enough entries for one block: the smallest block ({blk} positions) needs {need} vector "
            f"registers per PE, the RF holds {cap}",
            hint="raise pe.register_file.entries",
        )
    if found.k_fail is not None:
        return SpecError("stages_per_block", k, f"at most log2(block) = {found.k_fail}", hint="raise block")
    nbuf = buffer_options[0]
    need_b = lanes * nbuf * spec.n * spec.comps * ELEM_BYTES
    row_bytes = max(spec.input_elems_per_row, spec.n * spec.comps) * ELEM_BYTES
    if rows_per_batch is not None:
        return SpecError(
            "rows_per_batch",
            rows_per_batch,
            f"a batch whose {nbuf} SPM buffers ({nbuf} x rows x {row_bytes} B) and coefficient table "
            f"fit the {arch.spm.size_bytes} B SPM: not even the smallest batch, one row group of {lanes} "
            "rows, fits",
        )
    return SpecError(
        "arch.spm.size_bytes",
        arch.spm.size_bytes,
        f"room for {nbuf} buffers of one row group ({need_b} B) plus the coefficient table",
        hint="a larger SPM or a smaller n",
    )


def _best(candidates: list[_Candidate]) -> _Candidate:
    """The cheapest estimate; within ESTIMATE_TOLERANCE of it the largest block (the estimate misses latency
    effects that cost small blocks more: few independent pairs per stage to hide FU and exchange latency
    behind); an exact tie between 2 and 3 SPM buffers (same estimate, batch and block: compute-bound either
    way) goes to 3 when the whole turnaround of a buffer, which `cycles` leaves out, does not fit with 2."""
    candidates = sorted(candidates, key=lambda c: c.key)
    floor = candidates[0].cycles * (1 + ESTIMATE_TOLERANCE)
    near = [c for c in candidates if c.cycles <= floor]
    best = max(near, key=lambda c: (c.block, -c.cycles))
    if best.buffers == 2 and best.est["turnaround_slack"] < 0:
        three = [
            c
            for c in candidates
            if c.buffers == 3 and c.key[:3] == best.key[:3] and c.key[4:6] == best.key[4:6]
        ]
        if three and three[0].est["turnaround_slack"] >= 0:
            best = three[0]
    return best


def _reasons(
    spec: KernelSpec,
    arch: DataflowArch,
    dataflow: str,
    best: _Candidate,
    candidates: list[_Candidate],
    given: dict[str, object],
) -> list[str]:
    """Why each knob was chosen (only those not given), and the estimate."""
    lanes = arch.pe.simd_lanes
    cap, _ = rf_vectors(arch)
    blk, plans, est = best.block, best.plans, best.est
    xb, yb, lb = best.geometry
    bank_bits = tuple(range(SpmGeometry.of(arch).groups.bit_length() - 1))
    reasons = []
    if given["block"] is None:
        others = sorted({c.block for c in candidates})
        reasons.append(
            f"block {blk} ({1 << lb} positions per PE on {1 << (xb + yb)} PEs): "
            f"the largest of blocks {others} "
            f"(those that fit the RF, {cap} vector registers per PE) within {ESTIMATE_TOLERANCE:.0%} of the "
            "lowest estimated cycles (more positions per PE hide FU and exchange latency)"
        )
    if given["k"] is None:
        reasons.append(
            f"stages per pass {[p.k for p in plans]}: the fewest passes ({len(plans)}) for "
            f"{len(spec.stage_bits)} "
            f"stages on {blk}-position blocks (bank bits {list(bank_bits)} ride along as group bits)"
        )
    if given["placement"] is None and dataflow == "multilayer":
        alt = [
            c
            for c in sorted(candidates, key=lambda c: c.key)
            if c.placement != best.placement and c.block == blk and c.rows_per_batch == best.rows_per_batch
        ]
        why = f" (vs {alt[0].cycles:.0f} estimated cycles for '{alt[0].placement}')" if alt else ""
        reasons.append(
            f"placement '{best.placement}': fewer estimated cycles{why}; stage exchanges per pass "
            f"{[t.stage_modes for t in best.templates]}"
        )
    asked = given["rows_per_batch"]
    if isinstance(asked, int) and best.rows_per_batch < min(asked, spec.rows):
        reasons.append(
            f"rows per batch {best.rows_per_batch} instead of the {asked} asked for: the largest whole "
            f"number of row groups ({lanes} rows) whose {best.buffers} SPM buffers fit beside the "
            "coefficient table"
        )
    if asked is None:
        chosen = batch_rows(spec.rows, lanes, max(1, ceil_div(best.rows_per_batch, lanes)))
        reuse = max(ceil_div(b - a, lanes) for a, b in chosen)
        reasons.append(
            f"rows per batch up to {best.rows_per_batch}: each block's coefficients reused by up to x{reuse} "
            "row groups vs SPM space; "
            f"batches ramp 1, 2, 4, .. row groups up and down so that pipeline fill (the first row group's "
            f"load) and drain (the last row group's store) stay short; {best.buffers} SPM buffers"
        )
    reasons.append(
        f"estimate: {est['cycles']:.0f} cycles, utilization ~{est['utilization']:.2f}, busiest resource "
        f"'{est['bound']}'; tags in flight per PE {list(best.slots)} (RF {cap} vectors: {best.n_sets} "
        f"coefficient sets of {best.cset} + "
        f"{list(best.data)} per tag)"
    )
    return reasons


def choose_plan(
    spec: KernelSpec,
    arch: DataflowArch,
    model: MachineModel,
    dataflow: str,
    block: int | None = None,
    stages_per_block: int | None = None,
    placement: str | None = None,
    rows_per_batch: int | None = None,
    buffers: int | None = None,
) -> Plan:
    """Pick (or validate) every knob; SpecError naming the knob when the arch cannot honour it."""
    user = _check_knobs(spec, arch, dataflow, block, stages_per_block, placement, rows_per_batch, buffers)
    lanes = arch.pe.simd_lanes
    buffer_options = [buffers] if buffers else [2, 3]
    k = 1 if dataflow == "single-layer" else stages_per_block
    blocks = _candidate_blocks(spec, arch, block)
    placements = (
        [placement] if placement else (["local-first"] if dataflow == "single-layer" else list(PLACEMENTS))
    )
    found = _search(spec, arch, model, blocks, placements, k, block, rows_per_batch, buffer_options)
    if not found.candidates and rows_per_batch is not None and not found.rf_fail and found.k_fail is None:
        # the given batch fits no candidate's SPM: the largest smaller batch that does (a streaming batch is a
        # capacity choice, not a result; the error stays for when even one row group does not fit)
        found = _search(spec, arch, model, blocks, placements, k, block, rows_per_batch, buffer_options, True)
    if not found.candidates:
        raise _no_candidate(spec, arch, found, block, k, rows_per_batch, buffer_options)
    best = _best(found.candidates)
    given = {"block": block, "k": k, "placement": placement, "rows_per_batch": rows_per_batch}
    reasons = _reasons(spec, arch, dataflow, best, found.candidates, given)
    xb, yb, lb = best.geometry
    return Plan(
        dataflow=dataflow,
        block=best.block,
        xb=xb,
        yb=yb,
        lb=lb,
        placement=best.placement,
        passes=best.plans,
        rows_per_batch=best.rows_per_batch,
        buffers=best.buffers,
        batches=batch_rows(spec.rows, lanes, max(1, ceil_div(best.rows_per_batch, lanes))),
        bank_bits=tuple(range(SpmGeometry.of(arch).groups.bit_length() - 1)),
        coef_vectors=best.coef,
        data_regs=best.data,
        coef_set_regs=best.cset,
        coef_sets=best.n_sets,
        tag_slots=best.slots,
        estimate=best.est,
        reasons=tuple(reasons),
        user_knobs=tuple(user),
        templates=best.templates,
    )
