"""Block-sparse and Monarch matmuls as first-class ops: the ops (FLOPs, weights, layouts, bad input), their
GEMM form for other machines, and the dataflow compiler's mapping verified by value against PyTorch (the
block-sparse product, and swallowtail.nn.monarch's own Monarch product) on two archs at three block sizes."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from swallowtail.cli import app
from swallowtail.compiler import compile
from swallowtail.compiler.dense import compile_dense, dense_layout, dense_random_data, dense_spec
from swallowtail.errors import SpecError
from swallowtail.sim import run
from swallowtail.sim.network.cache import RateCache
from swallowtail.sim.network.simulate import cycle_level_workload, simulate_network
from swallowtail.sim.values import execute_dense, verify_dense
from swallowtail.workload import GEMM, Workload
from swallowtail.workload.structured import (
    BlockSparseMatmul,
    Monarch,
    block_layout,
    expand_structured,
)

ARCHS = ["df-4x4-simd8", "df-8x8-simd8"]


def bs(block: int, pattern: str = "butterfly", m: int = 16) -> BlockSparseMatmul:
    return BlockSparseMatmul.with_pattern("bs", m, 4 * block, 8 * block, block, pattern)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("block", [16, 32, 64])
def test_block_sparse_values_match_torch(arch, block):
    out = run(compile(bs(block, m=12), arch), values=True)
    assert out.verify.ok, out.verify.describe()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("n", [64, 256, 1024], ids=["blocks-8", "blocks-16", "blocks-32"])
def test_monarch_values_match_nn_monarch(arch, n):
    """The compiled R -> P^T -> L -> P chain against swallowtail.nn.monarch.monarch_multiply (torch)."""
    out = run(compile(Monarch("mo", rows=10, n=n), arch), values=True)
    assert out.verify.ok, out.verify.describe()
    assert "monarch_multiply" in out.verify.reference


def test_monarch_stacks_and_fp32_acc():
    prog = compile(Monarch("mo", rows=9, n=128, stacks=3), "df-4x4-simd8")
    out = run(prog, values=True, precision="fp32-acc")
    assert out.verify.ok, out.verify.describe()


def test_wrong_permutation_fails():
    """The verification sees the permutation: a program whose L reads two entries of h swapped fails
    against nn.monarch (the reference does not come from the compiler's stage decomposition)."""
    spec = dense_spec(Monarch("mo", rows=8, n=64))
    r, l_ = spec.structure.stages
    perm = list(l_.in_perm)
    perm[0], perm[1] = perm[1], perm[0]
    bad = replace(spec, structure=replace(spec.structure, stages=(r, replace(l_, in_perm=tuple(perm)))))
    prog = compile_dense(bad, _arch())
    data = dense_random_data(prog, seed=1)
    assert not verify_dense(prog, data, execute_dense(prog, data)).ok
    good = compile_dense(spec, _arch())
    assert verify_dense(good, data, execute_dense(good, data)).ok


def test_only_nonzero_passes_run():
    """Passes follow the nonzero blocks: a block-diagonal op runs 1/8 of the dense op's passes and cycles
    fall with them."""
    diag = BlockSparseMatmul.with_pattern("d", 64, 256, 256, 32, "diagonal")
    dense = BlockSparseMatmul.with_pattern("f", 64, 256, 256, 32, "dense")
    ld, lf = dense_layout(diag, _arch()), dense_layout(dense, _arch())
    assert len(lf.pass_index) == 8 * len(ld.pass_index)
    cd, cf = (run(compile(o, "df-4x4-simd8")).stats.cycles for o in (diag, dense))
    assert cf > 5 * cd


def test_dense_pattern_covers_every_chunk_once():
    """Every block nonzero: each PE column block runs every k-chunk of its columns exactly once (the dense
    GEMM's work), and the values still match."""
    full = BlockSparseMatmul.with_pattern("f", 32, 128, 256, 32, "dense")
    lay = dense_layout(full, _arch())
    (g,) = lay.stages
    assert len(lay.pass_index) == g.n_chunks * g.n_tiles
    for t in range(g.n_tiles):
        per_xc = zip(
            *(lay.pass_chunks[p] for p, (_, tt) in enumerate(lay.pass_index) if tt == t), strict=True
        )
        assert all(sorted(c) == list(range(g.n_chunks)) for c in per_xc)
    assert run(compile(full, "df-4x4-simd8"), values=True).verify.ok


def test_uneven_columns_pad_with_zero_coefficients():
    """Block columns with fewer nonzero blocks than their tile's others compute with zero coefficients."""
    op = BlockSparseMatmul("u", 16, 128, 128, 16, ((0, 0), (1, 0), (2, 0), (3, 1), (5, 7)))
    for arch in ARCHS:
        assert run(compile(op, arch), values=True).verify.ok


def _arch():
    from swallowtail.arch.specs import load_arch

    return load_arch("df-4x4-simd8")


# ---- the ops ------------------------------------------------------------------------------------------
def test_flops_and_weights_count_nonzero_blocks():
    op = bs(32)
    assert op.flops == 2 * op.m * 32 * 32 * len(op.blocks)
    assert op.weight_elems == len(op.blocks) * 32 * 32
    assert 0 < op.density < 1
    mo = Monarch("mo", rows=8, n=256, stacks=2)
    assert mo.flops == 2 * (2 * 8 * 256 * 16 + 2 * 8 * 256 * 16)
    assert sum(g.flops for g in mo.as_gemms()) == mo.flops
    assert sum(g.weight_elems for g in mo.as_gemms()) == mo.weight_elems
    assert sum(g.flops for g in op.as_gemms()) == op.flops


def test_butterfly_layout_is_flat_block_butterfly():
    blocks = block_layout("butterfly", 8 * 16, 8 * 16, 16)  # 8 x 8 blocks: log2 8 + 1 = 4 per column
    per_col = {}
    for i, j in blocks:
        per_col.setdefault(j, set()).add(i)
    assert all(len(v) == 4 for v in per_col.values())
    assert per_col[0] == {0, 1, 2, 4}
    assert block_layout("diagonal", 64, 64, 16) == ((0, 0), (1, 1), (2, 2), (3, 3))


def test_expand_structured_rewires_consumers():
    ops = [
        GEMM("x", m=4, k=8, n=64),
        Monarch("mo", rows=4, n=64, deps=("x",)),
        GEMM("y", m=4, k=64, n=8, deps=("mo",)),
    ]
    out = expand_structured(ops)
    assert [o.name for o in out] == ["x", "mo.bd1", "mo.bd2", "y"]
    assert out[1].deps == ("x",) and out[3].deps == ("mo.bd2",)
    assert expand_structured(ops[:1]) == tuple(ops[:1])


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: BlockSparseMatmul("b", 4, 30, 32, 16, ((0, 0),)), "b.k"),
        (lambda: BlockSparseMatmul("b", 4, 32, 32, 16, ()), "b.blocks"),
        (lambda: BlockSparseMatmul("b", 4, 32, 32, 16, ((2, 0),)), "b.blocks"),
        (lambda: BlockSparseMatmul.with_pattern("b", 4, 32, 64, 16, "diagonal"), "pattern"),
        (lambda: BlockSparseMatmul.with_pattern("b", 4, 32, 64, 16, "nope"), "pattern"),
        (lambda: BlockSparseMatmul.with_pattern("b", 4, 32, 64, 0), "b.block"),
        (lambda: Monarch("m", rows=4, n=96), "m.n"),
        (lambda: Monarch("m", rows=0, n=64), "m.rows"),
    ],
)
def test_bad_structured_ops(make, field):
    with pytest.raises(SpecError) as e:
        make()
    assert e.value.field == field


def test_block_not_a_power_of_two_is_a_clear_compile_error():
    op = BlockSparseMatmul.with_pattern("b", 8, 48, 48, 24)
    with pytest.raises(SpecError) as e:
        compile(op, "df-4x4-simd8")
    assert e.value.field == "b.block"


def test_structured_spec_keeps_its_stages():
    spec = dense_spec(Monarch("mo", rows=4, n=64, stacks=2))
    assert spec.kind == "gemm" and spec.k == 64 and spec.n == 128
    assert [s.block for s in spec.structure.stages] == [8, 8]
    assert np.array_equal(sorted(spec.structure.stages[1].in_perm), np.arange(128))


def test_network_level_matches_cycle_level_whole():
    """The block-level model (probes of a slice, scaled by passes; a Monarch as its two stages) against every
    op compiled whole and run start to end, DRAM to DRAM."""
    ops = (
        BlockSparseMatmul.with_pattern("up", 128, 256, 512, 32),
        Monarch("mo", rows=128, n=512, deps=("up",)),
    )
    w = Workload("structured", ops)
    res = simulate_network(w, "df-4x4-simd8", residency="dram", cache=RateCache()).result
    whole = cycle_level_workload(w, "df-4x4-simd8")
    assert abs(res.cycles / whole - 1) < 0.05
    assert [o.name for o in res.ops] == ["up", "mo.bd1", "mo.bd2"]


# ---- the kernel command -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        [
            "--op",
            "block-sparse",
            "-n",
            "256",
            "--gemm-k",
            "128",
            "--sparse-block",
            "16",
            "--pattern",
            "butterfly",
        ],
        ["--op", "monarch", "-n", "64"],
    ],
)
def test_kernel_command_compiles_and_verifies_structured_ops(args):
    out = CliRunner().invoke(app, ["kernel", *args, "--rows", "16", "--verify", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["utilization"] > 0


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--op", "gemm", "--pattern", "diagonal"], "pattern"),
        (["--op", "monarch", "--sparse-block", "16"], "sparse-block"),
        (["--op", "block-sparse", "-n", "100"], "block_sparse.block"),
        (["--op", "block-sparse", "--pattern", "nope"], "pattern"),
        (["--op", "monarch", "-n", "96"], "monarch.n"),
    ],
)
def test_kernel_command_bad_structured_input(args, field):
    out = CliRunner().invoke(app, ["kernel", *args])
    assert out.exit_code == 2 and field in out.output and "Traceback" not in out.output
