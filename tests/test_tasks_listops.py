"""ListOps: the evaluator and tokenizer on hand-written expressions, the vectorised generator against them and
against LRA's own recursive generator (re-typed below as the reference)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from swallowtail.errors import SpecError
from swallowtail.tasks import listops as L
from swallowtail.tasks import load_task


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SWALLOWTAIL_CACHE", str(tmp_path / "cache"))


# ---- semantics ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "expr, value",
    [
        ("[MAX 2 9 ]", 9),
        ("[MIN 4 1 7 ]", 1),
        ("[MED 1 2 3 4 ]", 2),  # median 2.5 -> floor
        ("[MED 3 9 ]", 6),
        ("[MED 5 1 9 ]", 5),  # odd count: the middle value
        ("[MED 0 1 ]", 0),  # 0.5 -> 0
        ("[SM 5 6 7 ]", 8),  # 18 mod 10
        ("[SM 9 9 9 9 9 9 9 9 9 9 ]", 0),
        ("[MIN 4 [MAX 1 3 ] 7 ]", 3),
        ("[MED 9 [SM 3 4 ] 0 ]", 7),
        ("[MAX [MIN 9 8 ] [MED 1 5 6 ] 2 ]", 8),
        ("7", 7),
    ],
)
def test_evaluator_semantics(expr, value):
    assert L.evaluate(expr) == value
    if expr != "7":
        assert L.evaluate(L.to_lra_source(expr)) == value  # same with LRA's parentheses


def test_lra_string_form_and_tokenisation():
    # LRA's to_string: t = (op, v1); t = (t, v2); t = (t, END); '( ' + a + ' ' + b + ' )'
    assert L.to_lra_source("[MAX 2 9 ]") == "( ( ( [MAX 2 ) 9 ) ] )"
    src = "( ( ( ( [MIN 4 ) ( ( ( [MAX 1 ) 3 ) ] ) ) 7 ) ] )"
    assert L.tokenize(src) == ["[MIN", "4", "[MAX", "1", "3", "]", "7", "]"]  # parentheses gone, ] kept
    ids = L.encode(src)
    assert ids == [11, 5, 12, 2, 4, 15, 8, 15]  # [MIN 11, digits 1-10, [MAX 12, ] 15
    assert L.decode(ids + [0, 0]) == L.tokenize(src)
    assert L.VOCAB_SIZE == 16
    with pytest.raises(ValueError, match="unknown ListOps token"):
        L.tokenize("[FIRST 1 2 ]")
    with pytest.raises(ValueError):
        L.evaluate("[MAX 1 2")


# ---- generator ------------------------------------------------------------------------------------------
def test_generator_bounds_labels_and_tokens():
    toks, labels, lens = L.generate(1500, min_len=50, max_len=200, seed=3)
    assert toks.shape == (1500, 200) and toks.dtype == torch.int64
    assert int(lens.min()) >= 50 and int(lens.max()) <= 200
    nonpad = (toks != 0).sum(1)
    assert torch.equal(nonpad, lens)
    assert all(bool((toks[i, lens[i] :] == 0).all()) for i in range(0, 1500, 50))  # right-padded
    for i in range(1500):  # every label is the reference evaluator's value of the decoded tokens
        assert L.evaluate(L.decode(toks[i])) == int(labels[i])
    assert len({tuple(r.tolist()) for r in toks}) == 1500  # deduplicated
    counts = np.bincount(labels.numpy(), minlength=10)
    assert (counts > 0).all(), counts
    assert counts.max() / counts.sum() < 0.35, counts  # MIN/MAX push 0 and 9 up, nothing absurd


def test_generator_lra_lengths_and_determinism():
    a = L.generate(150, seed=11)  # LRA bounds 500-2000
    assert int(a[2].min()) >= L.LRA_LISTOPS_MIN_LENGTH and int(a[2].max()) <= L.LRA_LISTOPS_MAX_LENGTH
    assert a[0].shape[1] == 2000
    b = L.generate(150, seed=11)
    c = L.generate(150, seed=12)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])
    for i in range(0, 150, 15):
        assert L.evaluate(L.decode(a[0][i])) == int(a[1][i])


def _lra_generate_tree(depth, max_depth, max_args):
    """LRA's generate_tree (lra_benchmarks/data/listops.py), re-typed as the reference."""
    r = random.random() if depth < max_depth else 1
    if r > 0.25:
        return random.choice(range(10)), 1
    length, values = 2, []
    for _ in range(random.randint(2, max_args)):
        sub, sub_len = _lra_generate_tree(depth + 1, max_depth, max_args)
        values.append(sub)
        length += sub_len
    t = (random.choice(["[MIN", "[MAX", "[MED", "[SM"]), values[0])
    for v in values[1:]:
        t = (t, v)
    return (t, "]"), length


def _lra_to_string(t):
    if isinstance(t, str | int):
        return str(t)
    return "( " + _lra_to_string(t[0]) + " " + _lra_to_string(t[1]) + " )"


def test_same_tree_distribution_as_lra_recursive_generator():
    random.seed(0)
    ref = []
    for _ in range(4000):
        tree, length = _lra_generate_tree(1, 10, 10)
        ref.append(length)
        if length > 1 and length < 300:  # LRA's string form round-trips through our tokenizer
            s = _lra_to_string(tree)
            assert len(L.tokenize(s)) == length
            assert L.to_lra_source(s) == s
    ref = np.array(ref)
    levels, count, complete = L._draw_levels(np.random.default_rng(0), 20000, 10, 10, 10**9)
    assert complete.all()
    for threshold in (2, 50, 500):  # tail probabilities agree within ~4 standard errors
        p_ref, p_ours = (ref >= threshold).mean(), (count >= threshold).mean()
        se = np.sqrt(p_ref * (1 - p_ref) / ref.size + p_ours * (1 - p_ours) / count.size)
        assert abs(p_ref - p_ours) < 4 * se + 1e-3, (threshold, p_ref, p_ours)


def test_load_task_listops_generated():
    data = load_task("listops", n_train=40, n_val=5, n_test=5, min_len=20, max_len=100, seed=1)
    assert (len(data.train), len(data.val), len(data.test)) == (40, 5, 5)
    assert data.seq_len == 100 and data.train.inputs.shape == (40, 100)
    assert data.vocab_size == 16 and data.n_classes == 10
    assert "generated ListOps (seed=1" in data.source
    assert int(data.train.inputs.max()) < data.vocab_size
    all_rows = torch.cat([data.train.inputs, data.val.inputs, data.test.inputs])
    assert len({tuple(r.tolist()) for r in all_rows}) == 50  # no duplicates across splits


def test_listops_bad_params():
    with pytest.raises(SpecError, match="min_len"):
        load_task("listops", min_len=300, max_len=200, cache=False)
    with pytest.raises(SpecError, match="n_train"):
        load_task("listops", n_train=-1, cache=False)
    with pytest.raises(SpecError, match="max_args"):
        L.generate(5, max_args=1)
