"""Structured matmuls as first-class ops: a block-sparse matmul and a Monarch product.

- `BlockSparseMatmul(name, m, k, n, block, blocks)`: Y (m x n) = X (m x k) @ W, W (k x n) a learned weight
  that is zero outside `blocks`, the (block row, block column) coordinates of its nonzero block x block tiles.
  `block_layout(pattern, k, n, block)` makes the usual layouts: "butterfly" (the flat block butterfly of
  Pixelated Butterfly, Chen et al. 2022: block (i, j) is nonzero when i XOR (j mod nbr) is 0 or a power of
  two, nbr = block rows: log2(nbr) + 1 blocks per block column), "diagonal" (block diagonal; k = n),
  "dense" (every block).
- `Monarch(name, rows, n, stacks)`: the Monarch product of `swallowtail.nn.monarch` (Dao et al. 2022) on
  `rows` vectors of n = b1 * b2 (a power of two): R (b2 blocks of b1 x b1), the regrouping P^T, L (b1 blocks
  of b2 x b2), P; `stacks` products side by side share the input (a wider linear layer).

Both know their exact FLOPs (only the nonzero blocks count) and their weights. A machine model without its
own mapping for them costs `as_gemms()`: the batched GEMMs a GPU library runs for them (one GEMM per nonzero
block of the same shape; R and L as block-diagonal batched GEMMs), with the same names a consumer can find
(`expand_structured`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from swallowtail import flops as F
from swallowtail.errors import SpecError, check_choice, check_positive_int
from swallowtail.nn.sizes import check_power_of_two, monarch_block_sizes
from swallowtail.workload.ops import GEMM, Op

#: the layouts `block_layout` makes
BLOCK_PATTERNS = ("butterfly", "diagonal", "dense")
#: the most tiles a block layout may list (16 M: a 64 k x 64 k weight in 16 x 16 tiles; more is a typo)
MAX_BLOCKS = 1 << 24


def block_layout(pattern: str, k: int, n: int, block: int, op: str = "") -> tuple[tuple[int, int], ...]:
    """The nonzero (block row, block column) tiles of a k x n weight in `block` x `block` tiles, sorted;
    `op`: the op's name, to name its fields in an error."""
    check_choice("pattern", pattern, BLOCK_PATTERNS)
    at = f"{op}." if op else ""
    for f, v in (("k", k), ("n", n), ("block", block)):
        check_positive_int(at + f, v)
    if k % block or n % block:
        raise SpecError(at + "block", block, f"a divisor of k = {k} and n = {n}")
    nbr, nbc = k // block, n // block
    tiles = {"dense": nbr * nbc, "diagonal": nbr, "butterfly": nbc * nbr.bit_length()}[pattern]  # at most
    if tiles > MAX_BLOCKS:
        raise SpecError(
            at + "block", block, f"a tile size giving at most {MAX_BLOCKS:,} tiles (up to {tiles:,})"
        )
    if pattern == "dense":
        return tuple((i, j) for i in range(nbr) for j in range(nbc))
    if pattern == "diagonal":
        if nbr != nbc:
            raise SpecError("pattern", pattern, f"'diagonal' needs k == n (k = {k}, n = {n})")
        return tuple((i, i) for i in range(nbr))
    out = set()
    for j in range(nbc):
        i0 = j % nbr
        out.add((i0, j))
        d = 1
        while d < nbr:
            if (i0 ^ d) < nbr:
                out.add((i0 ^ d, j))
            d <<= 1
    return tuple(sorted(out))


@dataclass(frozen=True)
class BlockSparseMatmul(Op):
    """Y (m x n) = X (m x k) @ W with W zero outside the `block` x `block` tiles `blocks` (block row, block
    column); W is a learned weight. FLOPs: 2 m block^2 per nonzero block."""

    m: int
    k: int
    n: int
    block: int
    blocks: tuple[tuple[int, int], ...] = field(repr=False)
    pattern: str = ""  # the layout's name when `block_layout` made it (a label)

    kind = "block_sparse"

    def __post_init__(self) -> None:
        super().__post_init__()
        for f in ("m", "k", "n", "block"):
            check_positive_int(f"{self.name}.{f}", getattr(self, f))
        for f in ("k", "n"):
            if getattr(self, f) % self.block:
                raise SpecError(
                    f"{self.name}.{f}", getattr(self, f), f"a multiple of the block size {self.block}"
                )
        blocks = tuple(sorted({(int(i), int(j)) for i, j in self.blocks}))
        if not blocks:
            raise SpecError(f"{self.name}.blocks", self.blocks, "at least one nonzero block")
        nbr, nbc = self.k // self.block, self.n // self.block
        bad = [b for b in blocks if not (0 <= b[0] < nbr and 0 <= b[1] < nbc)]
        if bad:
            raise SpecError(
                f"{self.name}.blocks", bad[0], f"(block row < {nbr}, block column < {nbc}) pairs of ints >= 0"
            )
        object.__setattr__(self, "blocks", blocks)

    @classmethod
    def with_pattern(
        cls, name: str, m: int, k: int, n: int, block: int, pattern: str = "butterfly", **kw: object
    ) -> BlockSparseMatmul:
        check_positive_int(f"{name}.m", m)
        return cls(name, m, k, n, block, block_layout(pattern, k, n, block, name), pattern, **kw)  # type: ignore[arg-type]

    @property
    def density(self) -> float:
        return len(self.blocks) / ((self.k // self.block) * (self.n // self.block))

    @property
    def flops(self) -> int:
        return F.gemm_flops(self.m, self.block, self.block, len(self.blocks))

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        return ((self.m, self.k),)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.m, self.n)

    @property
    def weight_elems(self) -> int:
        return len(self.blocks) * self.block * self.block

    def as_gemms(self) -> tuple[GEMM, ...]:
        """One batched GEMM over the nonzero blocks: m x block @ block x block, a weight per block."""
        g = GEMM(
            self.name,
            m=self.m,
            k=self.block,
            n=self.block,
            batch=len(self.blocks),
            b_is_weight=True,
            shared_b=False,
            deps=self.deps,
            dtype=self.dtype,
            layer=self.layer,
        )
        return (g,)

    def describe(self) -> str:
        pat = f" {self.pattern}" if self.pattern else ""
        return (
            f"BlockSparse({self.m}x{self.k} @ {self.k}x{self.n}, block {self.block}{pat}, "
            f"{len(self.blocks)} blocks, density {self.density:.3f})"
        )


@dataclass(frozen=True)
class Monarch(Op):
    """`stacks` Monarch products of size n (a power of two) on `rows` vectors: y = P L P^T R x per stack
    (`swallowtail.nn.monarch`); the stacks' outputs side by side (rows x stacks n)."""

    rows: int
    n: int
    stacks: int = 1

    kind = "monarch"

    def __post_init__(self) -> None:
        super().__post_init__()
        for f in ("rows", "n", "stacks"):
            check_positive_int(f"{self.name}.{f}", getattr(self, f))
        check_power_of_two(f"{self.name}.n", self.n)

    @property
    def b1(self) -> int:
        return monarch_block_sizes(self.n)[0]

    @property
    def b2(self) -> int:
        return monarch_block_sizes(self.n)[1]

    @property
    def flops(self) -> int:
        per = F.gemm_flops(self.rows, self.b1, self.b1, self.n // self.b1)
        return self.stacks * (per + F.gemm_flops(self.rows, self.b2, self.b2, self.n // self.b2))

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        return ((self.rows, self.n),)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.rows, self.stacks * self.n)

    @property
    def weight_elems(self) -> int:
        return self.stacks * (self.n * self.b1 + self.n * self.b2)

    def as_gemms(self) -> tuple[GEMM, ...]:
        """R and L as block-diagonal batched GEMMs (`name.bd1`, `name.bd2`), the permutations in between
        free (strided reads)."""
        kw = {"b_is_weight": True, "shared_b": False, "dtype": self.dtype, "layer": self.layer}
        b1, b2, s = self.b1, self.b2, self.stacks
        bd1 = GEMM(
            f"{self.name}.bd1", m=self.rows, k=b1, n=b1, batch=s * (self.n // b1), deps=self.deps, **kw
        )
        bd2 = GEMM(
            f"{self.name}.bd2", m=self.rows, k=b2, n=b2, batch=s * (self.n // b2), deps=(bd1.name,), **kw
        )
        return (bd1, bd2)

    def stage_ops(self) -> tuple[BlockSparseMatmul, BlockSparseMatmul]:
        """R and L as block-sparse ops (`name.bd1`, `name.bd2`; L's input regrouped by P^T and its output by
        P: addresses only): R maps input block k (b1 entries) of every stack to that stack's h block k, L is
        block diagonal in b2 x b2 blocks."""
        b1, b2, s, n = self.b1, self.b2, self.stacks, self.n
        kw = {"dtype": self.dtype, "layer": self.layer}
        r_blocks = tuple((kb, st * b2 + kb) for st in range(s) for kb in range(b2))
        r = BlockSparseMatmul(f"{self.name}.bd1", self.rows, n, s * n, b1, r_blocks, deps=self.deps, **kw)
        l_blocks = tuple((g, g) for g in range(s * b1))
        l_ = BlockSparseMatmul(
            f"{self.name}.bd2", self.rows, s * n, s * n, b2, l_blocks, "diagonal", deps=(r.name,), **kw
        )
        return r, l_

    def describe(self) -> str:
        s = f"{self.stacks} x " if self.stacks > 1 else ""
        return f"Monarch({s}{self.rows} x {self.n}, blocks {self.b1} / {self.b2})"


#: the structured op types (`as_gemms` gives their GEMM form)
STRUCTURED = (BlockSparseMatmul, Monarch)


#: what `expand_structured` turns the structured ops into: "gemm" (every structured op as its GEMMs, for a
#: machine without a mapping of its own) | "stages" (a Monarch product as its two block-sparse stages)
EXPAND_FORMS = ("gemm", "stages")


def expand_structured(ops: tuple[Op, ...] | list[Op], form: str = "gemm") -> tuple[Op, ...]:
    """`ops` with the structured ops replaced (`form`: EXPAND_FORMS); a consumer of a replaced op then
    depends on the last op of its replacement. Ops with nothing to replace come back unchanged."""
    check_choice("form", form, EXPAND_FORMS)
    kinds = STRUCTURED if form == "gemm" else (Monarch,)
    if not any(isinstance(op, kinds) for op in ops):
        return ops if isinstance(ops, tuple) else tuple(ops)  # the same tuple: callers test `is`
    renamed: dict[str, str] = {}
    out: list[Op] = []
    for op in ops:
        deps = tuple(renamed.get(d, d) for d in op.deps)
        if deps != op.deps:
            op = replace(op, deps=deps)
        if isinstance(op, kinds):
            new = op.as_gemms() if form == "gemm" else op.stage_ops()  # type: ignore[union-attr]
            renamed[op.name] = new[-1].name
            out.extend(new)
        else:
            out.append(op)
    return tuple(out)


__all__ = [
    "BLOCK_PATTERNS",
    "EXPAND_FORMS",
    "STRUCTURED",
    "BlockSparseMatmul",
    "Monarch",
    "block_layout",
    "expand_structured",
]
