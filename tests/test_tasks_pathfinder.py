"""Pathfinder generator: the label is what an 8-connected flood fill over the contour masks says, contours
never touch, labels are balanced, the same seed gives the same images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from swallowtail.errors import SpecError
from swallowtail.tasks import load_task
from swallowtail.tasks import pathfinder as P

N = 300


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SWALLOWTAIL_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module", params=[14, 6], ids=["contour14", "contour6"])
def gen(request):
    return P.generate(N, seed=5, config=P.PathfinderConfig(contour_length=request.param))


def flood_fill(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """8-connected flood fill of `mask` (N, H, W) from `seeds` (N, H, W): 3x3 dilations inside the mask."""
    reach = seeds & mask
    while True:
        p = np.pad(reach, ((0, 0), (1, 1), (1, 1)))
        h, w = mask.shape[1:]
        grown = np.zeros_like(reach)
        for dy in range(3):
            for dx in range(3):
                grown |= p[:, dy : dy + h, dx : dx + w]
        grown &= mask
        if (grown == reach).all():
            return reach
        reach = grown


def _marker_pixels(gen: P.PathfinderImages) -> tuple[np.ndarray, np.ndarray]:
    pix = np.floor(gen.markers).astype(int)  # (N, 2, 2): the pixel under each marker centre
    rows = np.arange(len(gen.labels))
    seeds = [np.zeros(gen.membership.shape, bool) for _ in range(2)]
    for m in range(2):
        seeds[m][rows, pix[:, m, 0], pix[:, m, 1]] = True
    return seeds[0], seeds[1]


def test_labels_balanced(gen):
    assert np.bincount(gen.labels).tolist() == [N // 2, N // 2]


def test_markers_sit_on_their_contours(gen):
    pix = np.floor(gen.markers).astype(int)
    rows = np.arange(N)
    for m in range(2):
        on = gen.membership[rows, pix[:, m, 0], pix[:, m, 1]]
        assert (on == gen.marker_contour[:, m]).all()
        assert (gen.images[rows, pix[:, m, 0], pix[:, m, 1]] == 255).all()  # a marker centre is bright
    same = gen.marker_contour[:, 0] == gen.marker_contour[:, 1]
    assert (same == (gen.labels == 1)).all()
    assert set(np.unique(gen.marker_contour)) <= {1, 2}  # markers only on the two target contours


def test_flood_fill_answers_the_label(gen):
    m0, _ = _marker_pixels(gen)
    rows = np.arange(N)
    pix = np.floor(gen.markers).astype(int)
    own = gen.membership == gen.marker_contour[:, 0, None, None]  # mask of the first marker's contour
    reached_own = flood_fill(own, m0)[rows, pix[:, 1, 0], pix[:, 1, 1]]
    anything = gen.membership > 0  # all contours together: touching contours would merge here
    reached_any = flood_fill(anything, m0)[rows, pix[:, 1, 0], pix[:, 1, 1]]
    pos, neg = gen.labels == 1, gen.labels == 0
    assert reached_own[pos].all()  # label 1: one connected contour joins the markers
    assert not reached_any[neg].any()  # label 0: no path between the markers over any contour
    assert (reached_any == pos).all()


def test_each_contour_is_connected_and_contours_never_touch(gen):
    mem = gen.membership
    p = np.pad(mem, ((0, 0), (1, 1), (1, 1)))
    h, w = mem.shape[1:]
    for dy in range(3):
        for dx in range(3):
            nb = p[:, dy : dy + h, dx : dx + w]
            touching = (mem > 0) & (nb > 0) & (nb != mem)
            assert not touching.any(), (dy, dx)
    for i in range(0, N, 37):  # every contour (target or distractor) is one 8-connected piece
        for cid in np.unique(mem[i])[1:]:
            mask = mem[i : i + 1] == cid
            seed = np.zeros_like(mask)
            seed.flat[np.flatnonzero(mask)[0]] = True
            assert (flood_fill(mask, seed) == mask).all(), (i, cid)


def test_everything_visible_lies_on_a_contour(gen):
    assert ((gen.images > 0) <= (gen.membership > 0)).all()
    ink = (gen.images > 0).reshape(N, -1).sum(1)
    assert ink.min() > 40  # two contours and markers are drawn
    # distractors: on average some survive (LRA: 20 // distractor_length are tried)
    assert (gen.membership.reshape(N, -1).max(1) > 2).mean() > 0.5


def test_deterministic_with_seed():
    cfg = P.PathfinderConfig(contour_length=9)
    a, b = P.generate(40, seed=1, config=cfg), P.generate(40, seed=1, config=cfg)
    c = P.generate(40, seed=2, config=cfg)
    for key in ("images", "labels", "membership", "markers"):
        assert np.array_equal(getattr(a, key), getattr(b, key))
    assert not np.array_equal(a.images, c.images)


def test_load_task_pathfinder_generated():
    data = load_task("pathfinder", n_images=30, contour_length=6, seed=3)
    assert (len(data.train), len(data.val), len(data.test)) == (24, 3, 3)  # LRA 80 / 10 / 10
    assert data.seq_len == 1024 and data.vocab_size == 257 and data.n_classes == 2
    x = data.train.inputs
    assert x.dtype == torch.int64 and int(x.min()) >= 1 and int(x.max()) <= 256  # pixel + 1
    assert "generated Pathfinder (seed=3" in data.source


def test_bad_config():
    with pytest.raises(SpecError, match="contour_length"):
        P.PathfinderConfig(contour_length=1)
    with pytest.raises(SpecError, match="n_images"):
        load_task("pathfinder", n_images=0)
