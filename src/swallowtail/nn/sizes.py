"""Sizes and costs of the butterfly-sparse layers without building them (no torch): argument checks, Monarch
block sizes, ButterflyLinear parameter and FLOP counts. The workload lowering and the simulators use these,
so that they run without importing torch."""

from __future__ import annotations

from dataclasses import dataclass

from swallowtail import flops
from swallowtail.errors import SpecError, check_bool, check_choice, check_positive_int, is_int

#: ButterflyLinear weight kinds
LINEAR_KINDS = ("butterfly", "monarch")
#: real numbers per complex element
REALS_PER_COMPLEX = 2


def check_power_of_two(field: str, n: object) -> int:
    """log2 n for a power of two n >= 1; SpecError naming `field` otherwise."""
    if not is_int(n) or n < 1 or n & (n - 1):
        raise SpecError(field, n, "a power of two >= 1")
    return n.bit_length() - 1


def monarch_block_sizes(n: int) -> tuple[int, int]:
    """(b1, b2) for a power of two n: b1 = 2^floor(log2 n / 2), b2 = n / b1 (b1 <= b2)."""
    log_n = check_power_of_two("n", n)
    b1 = 1 << (log_n // 2)
    return b1, n // b1


@dataclass(frozen=True)
class LinearCounts:
    """Sizes and costs of a ButterflyLinear: parameters (torch numel: a complex element counts once),
    FLOPs per input row, the padded size n and the number of stacks."""

    params: int
    flops_per_row: int
    n: int
    nstacks: int


def check_linear_kind(kind: object, complex: bool) -> str:
    check_choice("kind", kind, LINEAR_KINDS)
    if complex and kind != "butterfly":
        raise SpecError("complex", complex, "False for kind='monarch' (complex weights: kind='butterfly')")
    return kind


def linear_counts(
    in_features: int, out_features: int, kind: str = "butterfly", bias: bool = True, complex: bool = False
) -> LinearCounts:
    """Parameters and FLOPs per row of ButterflyLinear(in_features, out_features, bias, kind=kind,
    complex=complex), without building it.

    FLOPs per row: nstacks structured n x n products (butterfly: flops.butterfly_flops; Monarch: two
    block-diagonal GEMMs, 2 n b1 + 2 n b2) plus one add per output for the bias (two for complex).
    """
    check_positive_int("in_features", in_features)
    check_positive_int("out_features", out_features)
    check_bool("bias", bias)
    check_bool("complex", complex)
    check_linear_kind(kind, complex)
    n = flops.next_pow2(in_features)
    nstacks = flops.ceil_div(out_features, n)
    if kind == "butterfly":
        params = nstacks * flops.log2_exact(n) * (n // 2) * 4  # a 2x2 block per pair and stage
        per_row = nstacks * flops.butterfly_flops(n, rows=1, complex=complex)
    else:
        b1, b2 = monarch_block_sizes(n)
        params = nstacks * (b2 * b1 * b1 + b1 * b2 * b2)  # b2 blocks of b1 x b1, b1 blocks of b2 x b2
        per_row = nstacks * (flops.gemm_flops(b1, b1, 1, batch=b2) + flops.gemm_flops(b2, b2, 1, batch=b1))
    if bias:
        params += out_features
        per_row += flops.elementwise_flops("add", out_features * (REALS_PER_COMPLEX if complex else 1))
    return LinearCounts(params=params, flops_per_row=per_row, n=n, nstacks=nstacks)
