"""Geometry shared by the compiler's modules: SPM bank groups, RF capacity, passes (which position bit
lives where), NoC routes. No mapping decisions here (see `plan`)."""

from __future__ import annotations

from dataclasses import dataclass

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.model import ELEM_BYTES
from swallowtail.flops import ceil_div


# ---- geometry of the SPM --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SpmGeometry:
    """How a vector access maps onto the SPM's banks (all numbers from the arch spec)."""

    vec_bytes: int  # one SIMD vector (lanes x fp16)
    # vector-wide bank groups, selected by the low bits of a vector's slot address: the largest power of two
    # <= line / vec (1 when a vector spans every bank; a line that is not a power-of-two multiple of a vector
    # leaves the rest unused), so that more SPM bandwidth only ever splits groups
    groups: int
    occupancy: int  # cycles one vector access holds its group (> 1 when a vector is wider than a line)

    @classmethod
    def of(cls, arch: DataflowArch) -> SpmGeometry:
        vec = arch.pe.simd_lanes * ELEM_BYTES
        line = arch.spm.bytes_per_cycle
        groups = 1 << (max(1, line // vec).bit_length() - 1)
        occ = max(1, ceil_div(vec, line))
        return cls(vec_bytes=vec, groups=groups, occupancy=occ)


def rf_vectors(arch: DataflowArch) -> tuple[int, int]:
    """(vector registers a PE's RF holds, RF entries per vector)."""
    vec = arch.pe.simd_lanes * ELEM_BYTES
    per = max(1, ceil_div(vec, arch.pe.register_file.bytes_per_entry))
    return arch.pe.register_file.entries // per, per


# ---- passes -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PassPlan:
    """One pass: k stages folded into a closed block; where every block bit lives."""

    index: int
    stage_bits: tuple[int, ...]  # application order
    x_bits: tuple[int, ...]  # x_bits[i]: the position bit carried by PE x-coordinate bit i (distance 2^i)
    y_bits: tuple[int, ...]
    local_bits: tuple[int, ...]  # local_bits[i]: position bit carried by local-index bit i
    instance_bits: tuple[int, ...]  # ascending
    bank_aligned: bool  # the bank bits sit on x in this pass (conflict-free, instance-invariant banks)

    @property
    def k(self) -> int:
        return len(self.stage_bits)

    @property
    def block_bits(self) -> tuple[int, ...]:
        return self.x_bits + self.y_bits + self.local_bits

    @property
    def group_bits(self) -> tuple[int, ...]:
        return tuple(b for b in self.block_bits if b not in self.stage_bits)

    @property
    def n_instances(self) -> int:
        return 1 << len(self.instance_bits)

    def where(self, bit: int) -> tuple[str, int]:
        """('x' | 'y' | 'local', index of the coordinate bit) of a block bit."""
        for dim, bits in (("x", self.x_bits), ("y", self.y_bits), ("local", self.local_bits)):
            if bit in bits:
                return dim, bits.index(bit)
        raise KeyError(bit)

    @property
    def cross_stages(self) -> int:
        return sum(1 for b in self.stage_bits if self.where(b)[0] != "local")

    def describe(self) -> str:
        st = ",".join(str(b) for b in self.stage_bits)
        where = []
        for b in self.stage_bits:
            dim, i = self.where(b)
            where.append(f"b{b}:{dim}" + (f"+{1 << i}" if dim != "local" else ""))
        groups = list(self.group_bits)
        return f"pass {self.index}: stages on bits [{st}] ({' '.join(where)}); group bits {groups}"


def _place(
    stage_bits: tuple[int, ...],
    log_n: int,
    xb: int,
    yb: int,
    lb: int,
    bank_bits: tuple[int, ...],
    placement: str,
    index: int,
) -> PassPlan | None:
    """Assign one pass's block bits to x / y / local; None if the stages do not fit the block."""
    beta = xb + yb + lb
    k = len(stage_bits)
    if k > beta:
        return None
    want_bank = bool(bank_bits) and len(bank_bits) <= xb
    extra_bank = [b for b in bank_bits if b not in stage_bits] if want_bank else []
    aligned = want_bank and k + len(extra_bank) <= beta
    if not aligned:
        extra_bank = []
    others = [b for b in range(log_n) if b not in stage_bits and b not in extra_bank]
    n_group = beta - k - len(extra_bank)
    groups = extra_bank + others[:n_group]
    x: list[int] = list(bank_bits) if aligned else []
    stages_left = [b for b in sorted(stage_bits) if b not in x]  # shortest stride first
    groups_left = [g for g in groups if g not in x]
    y: list[int] = []
    loc: list[int] = []
    if placement == "stride":
        # short strides hop horizontally, middle strides vertically, the longest stay inside a PE
        for dim, size in ((x, xb), (y, yb), (loc, lb)):
            while len(dim) < size and stages_left:
                dim.append(stages_left.pop(0))
            while len(dim) < size and groups_left:
                dim.append(groups_left.pop(0))
    else:  # local-first: the earliest stages stay inside a PE; later cross-PE stages can then swap their PE
        # bit with an already-processed local bit (the send-half exchange, `template`)
        x = [b for b in x if b not in stage_bits[:lb]]
        stages_left = [b for b in stage_bits if b not in x]
        groups_left = [g for g in groups if g not in x]
        while len(loc) < lb and stages_left:
            loc.append(stages_left.pop(0))
        for dim, size in ((x, xb), (y, yb)):
            while len(dim) < size and stages_left:
                dim.append(stages_left.pop(0))
        for dim, size in ((x, xb), (y, yb), (loc, lb)):
            while len(dim) < size and groups_left:
                dim.append(groups_left.pop(0))
    assert not stages_left and not groups_left
    block = set(x) | set(y) | set(loc)
    inst = tuple(b for b in range(log_n) if b not in block)
    return PassPlan(
        index=index,
        stage_bits=tuple(stage_bits),
        x_bits=tuple(x),
        y_bits=tuple(y),
        local_bits=tuple(loc),
        instance_bits=inst,
        bank_aligned=aligned,
    )


def route_links(x0: int, y0: int, x1: int, y1: int, hops: list[int]) -> list[tuple[int, int, str, int]]:
    """Links of the dimension-ordered route (X first, then Y; greedy longest hop first) from (x0, y0) to
    (x1, y1). A link is (x, y, direction, distance) of its sending router."""
    links: list[tuple[int, int, str, int]] = []
    x, y = x0, y0
    for axis in ("x", "y"):
        while (x if axis == "x" else y) != (x1 if axis == "x" else y1):
            cur, dst = (x, x1) if axis == "x" else (y, y1)
            d = abs(dst - cur)
            h = max(hh for hh in hops if hh <= d)
            sign = 1 if dst > cur else -1
            links.append((x, y, ("+" if sign > 0 else "-") + axis, h))
            if axis == "x":
                x += sign * h
            else:
                y += sign * h
    return links
