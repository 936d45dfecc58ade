"""Pathfinder: are the two markers on the same contour? Binary classification of 32x32 grayscale images.

Task: Linsley et al., "Learning long-range spatial dependencies with horizontal gated recurrent units"
(NeurIPS 2018); LRA (Tay et al., ICLR 2021) uses its 32x32 version (`Pathfinder32` in
`lra_benchmarks/data/pathfinder.py`), whose generator settings are quoted below as named constants.
Difficulty is the contour length: 6 (`curv_baseline`), 9, 14 (`curv_contour_length_14`, the LRA default).

Generator (re-implemented, vectorised across images; the original `snakes2.py` draws one paddle at a time
with PIL/OpenCV and takes 0.07-0.5 s per image). As in the original:
- a contour is a chain of *paddles*: short straight dashes of `paddle_length` px. Consecutive pivots are
  `paddle_length + 2 * paddle_margin` px apart and each paddle fills the middle of its step, so dashes are
  separated by gaps of about 2 margins;
- each new orientation turns from the last by an angle with weight cos^2(turn * continuity), turns beyond
  90 deg / continuity impossible, and candidates that hit occupied space are excluded (the original's
  `get_coords_cmf`: cosine weight x availability over the pixel directions of a circle). Here one random
  turn per stratum of (-90, 90) deg / continuity is a candidate, and a free one is drawn with weight cos^2;
- two target contours start `seed_distance` px apart (the first seed `2 * seed_distance` px from the
  border), grow in alternation, then `20 // distractor_length` distractor contours of
  `contour_length // 3` paddles each are added where they fit (dropped if they do not);
- markers are discs of `marker_radius` at the first contour's start and at the end of the same contour
  (label 1) or of the other contour (label 0).
Differences, by design: labels are exactly balanced (a permutation of 0/1 rather than coin flips);
separation is exact: every contour owns a *cover* -- the pixels whose centre lies within 0.75 px of its
centre line, gaps included (0.75 >= sqrt(2)/2, so a cover is 8-connected) plus its markers -- and covers of
different contours never touch (not even diagonally); an image whose targets touch is redrawn, a distractor
that touches anything is dropped. So an 8-connected flood fill over the contour masks answers the label.
While growing, a step is checked against the other contours' covers dilated by one pixel (a sub-pixel
table says which pixels a point's cover may reach), so the exact check at the end seldom fails; the
target pair fails (a dead end, or touching) about 3 times in 4 at contour length 14 and is redrawn
(rejection sampling, as the original's retry loop). Antialiasing: intensity is a ramp of the distance from
a pixel centre to the paddle (or marker centre); a paddle's intensity is multiplied by LRA's contrast
(2 x 0.75) and clipped, so its core is white.

Tokens: pixel value + 1 (1-256), so 0 stays pad; vocab_size 257. (LRA feeds raw 0-255 with vocab 256.)
Splits: LRA takes 80% / 10% / 10% of each difficulty (`get_pathfinder_base_datasets`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

import swallowtail.tasks.cache as _cache
from swallowtail.errors import SpecError, check_int
from swallowtail.tasks.base import MAX_EXAMPLES, TaskData, TaskShape, check_float, parse_label, split_rows

# ---- LRA Pathfinder32 settings (lra_benchmarks/data/pathfinder.py, docstring of Pathfinder32) -------------
LRA_PF32_IMAGE_SIZE = 32  # args.window_size = [32, 32]
LRA_PF32_PADDING = 1  # args.padding = 1
LRA_PF32_PADDLE_LENGTH = 2  # args.paddle_length = 2
LRA_PF32_PADDLE_MARGIN = 1  # args.paddle_margin_list = [1]
LRA_PF32_MARKER_RADIUS = 1.5  # args.marker_radius = 1.5
LRA_PF32_SEED_DISTANCE = 7  # args.seed_distance = 7
LRA_PF32_CONTINUITY = 1.0  # args.continuity = 1.0
LRA_PF32_CONTOUR_LENGTH = 14  # args.contour_length = 14 (the "hard" split LRA reports)
LRA_PF32_CONTRAST = 2 * 0.75  # args.snake_contrast_list = [2] x args.paddle_contrast_list = [0.75]
LRA_PF32_DISTRACTOR_BUDGET = 20  # args.num_distractor_snakes = 20 // args.distractor_length
LRA_PF32_DISTRACTOR_DIVISOR = 3  # args.distractor_length = args.contour_length // 3
#: LRA's three difficulties -> folder names of the LRA release (lra_release/pathfinder32/...)
LRA_PF_FOLDERS = {6: "curv_baseline", 9: "curv_contour_length_9", 14: "curv_contour_length_14"}
#: LRA split fractions (train[:80%], [80%:90%], [90%:])
LRA_PF_SPLIT = (0.8, 0.9)
LRA_PF_N_IMAGES = 200_000  # assumption: images per difficulty in the LRA release (not verified here)
N_CLASSES = 2
VOCAB_SIZE = 257  # pixel + 1, 0 = pad

# ---- this generator's own choices (assumptions, not from LRA) ---------------------------------------------
#: px: a contour owns the pixels whose centre is this close to its centre line (>= sqrt(2)/2: 8-connected)
COVER_RADIUS = 0.75
STROKE_RAMP = 0.5  # px: width of the antialiasing ramp of a paddle's intensity (0 at COVER_RADIUS)
MARKER_RAMP = 0.5  # px: markers fade from marker_radius to marker_radius + MARKER_RAMP
N_CANDIDATES = 16  # candidate seeds (position and/or orientation) tried for a contour's first paddle
N_TURNS = 24  # candidate turns per step, one per stratum of (-90, 90) deg; chosen with weight cos^2 x free
SAMPLE_SPACING = 0.5  # px between the points a candidate step is checked at
DISTRACTOR_TRIES = 3  # fresh starts for a distractor that ran into a dead end (original: max_snake_trial)
BATCH = 256  # images drawn together
MAX_ROUNDS = 50  # batches without a single image before a configuration is declared impossible
GENERATOR_VERSION = "pathfinder-1"


@dataclass(frozen=True)
class PathfinderConfig:
    """Geometry of one Pathfinder difficulty. Defaults: LRA's 32x32, contour length 14."""

    image_size: int = LRA_PF32_IMAGE_SIZE
    contour_length: int = LRA_PF32_CONTOUR_LENGTH  # paddles per target contour
    distractor_length: int | None = None  # default contour_length // 3 (LRA)
    n_distractors: int | None = None  # default 20 // distractor_length (LRA)
    paddle_length: float = LRA_PF32_PADDLE_LENGTH
    paddle_margin: float = LRA_PF32_PADDLE_MARGIN
    seed_distance: float = LRA_PF32_SEED_DISTANCE
    marker_radius: float = LRA_PF32_MARKER_RADIUS
    continuity: float = LRA_PF32_CONTINUITY
    padding: int = LRA_PF32_PADDING
    contrast: float = LRA_PF32_CONTRAST

    def __post_init__(self) -> None:
        check_int("image_size", self.image_size, 12, 512)
        check_int("contour_length", self.contour_length, 2, 64)
        if self.distractor_length is not None:
            check_int("distractor_length", self.distractor_length, 1, 64)
        if self.n_distractors is not None:
            check_int("n_distractors", self.n_distractors, 0, 64)
        check_float("paddle_length", self.paddle_length, 0.5, 16)
        check_float("paddle_margin", self.paddle_margin, 0, 16)
        check_float("seed_distance", self.seed_distance, 1, self.image_size / 2)
        check_float("marker_radius", self.marker_radius, 0.5, 8)
        check_float("continuity", self.continuity, 0.1, 10)
        check_int("padding", self.padding, 1, 8)
        check_float("contrast", self.contrast, 0.1, 10)

    @property
    def dl(self) -> int:
        """Distractor length in paddles."""
        if self.distractor_length is not None:
            return self.distractor_length
        return max(1, self.contour_length // LRA_PF32_DISTRACTOR_DIVISOR)

    @property
    def nd(self) -> int:
        """Number of distractor contours tried."""
        return self.n_distractors if self.n_distractors is not None else LRA_PF32_DISTRACTOR_BUDGET // self.dl

    @property
    def step(self) -> float:
        """Pivot-to-pivot distance (original: new_pivot = last_pivot + (length + 2 * margin) * direction)."""
        return self.paddle_length + 2 * self.paddle_margin


@dataclass
class PathfinderImages:
    """Generated images with what a test needs to check them."""

    images: np.ndarray  # (N, H, W) uint8
    labels: np.ndarray  # (N,) int64: 1 = markers on one contour
    membership: np.ndarray  # (N, H, W) int8: 0 background, 1 and 2 the targets, 3.. the distractors kept
    markers: np.ndarray  # (N, 2, 2) float32: (y, x) of the two markers; pixel i spans [i, i + 1)
    marker_contour: np.ndarray  # (N, 2) int8: membership id of the contour each marker is on


# ---- geometry helpers -------------------------------------------------------------------------------------
def _unit(theta: np.ndarray) -> np.ndarray:
    """(..., ) angle -> (..., 2) unit vector in (y, x)."""
    return np.stack([np.sin(theta), np.cos(theta)], axis=-1)


def _seg_dist(a: np.ndarray, b: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Distance from points q (..., P, 2) to segments a-b (..., 2) -> (..., P). NaN endpoints give +inf."""
    ab = b - a  # (..., 2)
    aq = q - a[..., None, :]  # (..., P, 2)
    den = np.maximum((ab * ab).sum(-1), 1e-12)[..., None]
    t = np.clip((aq * ab[..., None, :]).sum(-1) / den, 0.0, 1.0)  # (..., P)
    d = np.sqrt(((aq - t[..., None] * ab[..., None, :]) ** 2).sum(-1))
    return np.where(np.isnan(d), np.inf, d)


_NEIGHBOURS = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])  # 3x3 offsets


def _NEIGHBOUR_FLAT(s: int) -> np.ndarray:  # noqa: N802 - a constant table per image size
    """Flat-index offsets of the 3x3 neighbourhood in an s x s image."""
    return _NEIGHBOURS[:, 0] * s + _NEIGHBOURS[:, 1]


#: a cover pixel's centre is this close to some sample point of the centre line
_REACH = math.hypot(COVER_RADIUS, SAMPLE_SPACING / 2)
_SUB = 8  # sub-pixel cells per axis in the table below


def _near_bits() -> np.ndarray:
    """(_SUB, _SUB) uint16: bit k set if neighbour k's centre is within _REACH of a point of the sub-cell."""
    table = np.zeros((_SUB, _SUB), dtype=np.uint16)
    for qy in range(_SUB):
        for qx in range(_SUB):
            for k, (dy, dx) in enumerate(_NEIGHBOURS):
                cy, cx = dy + 0.5, dx + 0.5  # neighbour centre, relative to the pixel's corner
                ny = min(max(cy, qy / _SUB), (qy + 1) / _SUB)  # nearest point of the sub-cell
                nx = min(max(cx, qx / _SUB), (qx + 1) / _SUB)
                if (cy - ny) ** 2 + (cx - nx) ** 2 <= _REACH**2:
                    table[qy, qx] |= 1 << k
    return table


_NEAR_BITS = _near_bits()


def _dilate(mask: np.ndarray) -> np.ndarray:
    """8-neighbourhood (3x3) binary dilation over the last two axes."""
    p = np.pad(mask, [(0, 0)] * (mask.ndim - 2) + [(1, 1), (1, 1)])
    h, w = mask.shape[-2:]
    out = np.zeros_like(mask)
    for dy in range(3):
        for dx in range(3):
            out |= p[..., dy : dy + h, dx : dx + w]
    return out


class _Batch:
    """State of one batch of images being drawn: contour pivots and occupancy grids, one slot per contour."""

    def __init__(self, cfg: PathfinderConfig, b: int) -> None:
        self.cfg = cfg
        self.b = b
        s = cfg.image_size
        self.n_slots = 2 + cfg.nd
        self.lengths = np.array([cfg.contour_length] * 2 + [cfg.dl] * cfg.nd)
        nmax = int(self.lengths.max())
        self.tail = np.full((b, self.n_slots, 2), np.nan)  # start of the first paddle (the origin tip)
        self.piv = np.full((b, self.n_slots, nmax + 1, 2), np.nan)  # pivots P_0..P_n
        self.theta = np.full((b, self.n_slots, nmax), np.nan)  # direction of step k
        self.slot_ok = np.zeros((b, self.n_slots), dtype=bool)
        self.halo = np.zeros((b, self.n_slots, s, s), dtype=bool)  # 3x3-dilated occupied pixels, per contour
        self.halo_count = np.zeros((b, s, s), dtype=np.int16)  # how many contours' halos cover a pixel
        self.own_old = np.zeros((b, self.n_slots, s, s), dtype=bool)  # own pixels except the last step's
        self.n_pts = max(2, int(math.ceil(cfg.step / SAMPLE_SPACING)) + 1)
        # flat pixels of each contour's last step; 0 is padding, never on a contour, so it is a safe filler
        self.last_pix = np.zeros((b, self.n_slots, self.n_pts), dtype=np.int64)
        self.lo = cfg.padding + 0.5  # centre line stays in [lo, hi] so covers stay off the padding
        self.hi = s - cfg.padding - 0.5

    # -- candidate steps -----------------------------------------------------------------------------------
    def _points(self, start: np.ndarray, theta: np.ndarray, t0: float, t1: float) -> np.ndarray:
        """Points (b, K, P, 2) along the centre line of candidate steps from `start` (b, K, 2)."""
        t = np.linspace(t0, t1, self.n_pts) * self.cfg.step  # same count for every step (denser if shorter)
        return start[:, :, None, :] + t[None, None, :, None] * _unit(theta)[:, :, None, :]

    def _cells(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat index of the pixel under each point (..., P) and the bit mask of its 3x3 neighbours whose
        centre may be within _REACH of the point (a superset of the cover of the centre line)."""
        s = self.cfg.image_size
        cell = np.floor(pts)
        sub = np.minimum(((pts - cell) * _SUB).astype(np.int32), _SUB - 1)  # sub-pixel cell of the point
        cell = np.clip(cell.astype(np.int32), 1, s - 2)  # points stay off the padding, so +-1 is in range
        return cell[..., 0] * s + cell[..., 1], _NEAR_BITS[sub[..., 0], sub[..., 1]]

    def _free(self, imgs: np.ndarray, slot: int, pts: np.ndarray) -> np.ndarray:
        """Whether each candidate's points are inside and its cover meets no other contour: (b, K)."""
        s = self.cfg.image_size
        b = imgs.size
        inside = ((pts >= self.lo) & (pts <= self.hi)).all(axis=(-1, -2))
        others = (self.halo_count[imgs] - self.halo[imgs, slot]) > 0  # (b, H, W)
        # bit k of nb[y, x]: neighbour k of pixel (y, x) belongs to another contour's halo
        padded = np.pad(others, ((0, 0), (1, 1), (1, 1)))
        nb = np.zeros((b, s, s), dtype=np.uint16)
        for k, (dy, dx) in enumerate(_NEIGHBOURS):
            nb |= padded[:, 1 + dy : 1 + dy + s, 1 + dx : 1 + dx + s].astype(np.uint16) << k
        cell, bits = self._cells(pts)  # (b, K, P)
        rows = np.arange(b)[:, None, None]
        busy = ((nb.reshape(b, s * s)[rows, cell] & bits) != 0).any(axis=-1)
        busy_own = self.own_old[imgs, slot].reshape(b, s * s)[rows, cell].any(axis=-1)
        return inside & ~busy & ~busy_own

    def _commit(self, imgs: np.ndarray, slot: int, pts: np.ndarray) -> None:
        """Occupy the pixels of the chosen steps (points (b, P, 2)): centre-line pixels, halo of the cover."""
        s = self.cfg.image_size
        b = imgs.size
        cell, bits = self._cells(pts)  # (b, P)
        # own pixels lag one step behind, so a step may touch the one before it
        own = self.own_old[imgs, slot].reshape(b, s * s)
        own[np.arange(b)[:, None], self.last_pix[imgs, slot]] = True
        self.own_old[imgs, slot] = own.reshape(b, s, s)
        self.last_pix[imgs, slot] = cell
        cover = np.zeros((b, s * s), dtype=bool)
        rows = np.broadcast_to(np.arange(b)[:, None], cell.shape)
        for k, off in enumerate(_NEIGHBOUR_FLAT(s)):
            sel = (bits >> k) & 1 == 1
            cover[rows[sel], cell[sel] + off] = True
        old = self.halo[imgs, slot]
        new = old | _dilate(cover.reshape(b, s, s))  # halo = cover dilated by one pixel (8-neighbourhood)
        self.halo[imgs, slot] = new
        self.halo_count[imgs] += new & ~old

    def clear(self, imgs: np.ndarray, slot: int) -> None:
        """Forget a contour that could not be finished (its halo no longer blocks others)."""
        self.halo_count[imgs] -= self.halo[imgs, slot]
        self.halo[imgs, slot] = False
        self.own_old[imgs, slot] = False
        self.last_pix[imgs, slot] = 0
        self.piv[imgs, slot] = np.nan
        self.theta[imgs, slot] = np.nan
        self.tail[imgs, slot] = np.nan
        self.slot_ok[imgs, slot] = False

    def reserve(self, imgs: np.ndarray, slot: int, centre: np.ndarray, radius: float) -> None:
        """Add a disc around `centre` (b, 2) to the slot's halo, so other contours keep out of it."""
        s = self.cfg.image_size
        yy, xx = np.mgrid[0:s, 0:s] + 0.5
        disc = (yy - centre[:, 0, None, None]) ** 2 + (xx - centre[:, 1, None, None]) ** 2 <= radius**2
        old = self.halo[imgs, slot]
        new = old | disc
        self.halo[imgs, slot] = new
        self.halo_count[imgs] += new & ~old

    # -- walking ---------------------------------------------------------------------------------------------
    def seed(
        self, rng: np.random.Generator, imgs: np.ndarray, slot: int, tails: np.ndarray | None
    ) -> np.ndarray:
        """First paddle of a contour: at `tails` (b, 2) if given (K angles), else K random (tail, angle)."""
        k = N_CANDIDATES
        b = imgs.size
        theta = rng.uniform(-np.pi, np.pi, (b, k))
        if tails is None:
            start = rng.uniform(self.lo, self.hi, (b, k, 2))
        else:
            start = np.broadcast_to(tails[:, None, :], (b, k, 2))
        last = self.lengths[slot] == 1
        t1 = (self.cfg.paddle_length + self.cfg.paddle_margin) / self.cfg.step if last else 1.0
        # the cover starts at the tail (a margin after the pivot P_0 = tail - margin * u)
        pts = self._points(start, theta, 0.0, t1 - self.cfg.paddle_margin / self.cfg.step)
        free = self._free(imgs, slot, pts)
        ok = free.any(axis=1)
        pick = np.argmax(free, axis=1)
        rows = np.arange(b)
        g, th, st = imgs[ok], theta[rows, pick][ok], start[rows, pick][ok]
        u = _unit(th)
        self.tail[g, slot] = st
        self.piv[g, slot, 0] = st - self.cfg.paddle_margin * u
        self.piv[g, slot, 1] = self.piv[g, slot, 0] + self.cfg.step * u
        self.theta[g, slot, 0] = th
        self._commit(g, slot, pts[rows, pick][ok])
        return ok

    def extend(self, rng: np.random.Generator, imgs: np.ndarray, slot: int, k_step: int) -> np.ndarray:
        """Step `k_step` (>= 1) of a contour from its pivot P_k: turn, check, commit. Returns success (b,)."""
        b = imgs.size
        prev = self.theta[imgs, slot, k_step - 1]
        # stratified turns over (-90, 90) deg / continuity, weighted cos^2 x free (original: get_coords_cmf)
        strata = (np.arange(N_TURNS) + rng.random((b, N_TURNS))) / N_TURNS  # (b, M) in (0, 1)
        turn = (strata - 0.5) * np.pi
        theta = prev[:, None] + turn / self.cfg.continuity
        start = np.broadcast_to(self.piv[imgs, slot, k_step][:, None, :], (b, N_TURNS, 2))
        last = k_step == self.lengths[slot] - 1
        t1 = (self.cfg.paddle_length + self.cfg.paddle_margin) / self.cfg.step if last else 1.0
        pts = self._points(start, theta, 0.0, t1)
        w = np.cos(turn) ** 2 * self._free(imgs, slot, pts)
        cw = np.cumsum(w, axis=1)
        ok = cw[:, -1] > 0
        pick = np.argmax(cw > rng.random(b)[:, None] * cw[:, -1:], axis=1)
        rows = np.arange(b)
        g, th = imgs[ok], theta[rows, pick][ok]
        self.theta[g, slot, k_step] = th
        self.piv[g, slot, k_step + 1] = self.piv[g, slot, k_step] + self.cfg.step * _unit(th)
        self._commit(g, slot, pts[rows, pick][ok])
        return ok

    def terminal(self, slot: int) -> np.ndarray:
        """End of the last paddle of a contour, (b, 2): P_{n-1} + (length + margin) u_{n-1}."""
        n = self.lengths[slot]
        return self.piv[:, slot, n - 1] + (self.cfg.paddle_length + self.cfg.paddle_margin) * _unit(
            self.theta[:, slot, n - 1]
        )

    # -- exact geometry --------------------------------------------------------------------------------------
    def fields(self, imgs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance from pixel centres to each contour's centre line and to its paddles, (n, C, H*W) x 2.

        Only pixels in a small window around each segment are computed (farther ones stay +inf: beyond
        COVER_RADIUS nothing depends on the exact distance).
        """
        cfg = self.cfg
        s = cfg.image_size
        n, c = imgs.size, self.n_slots
        nmax = self.theta.shape[2]
        th = self.theta[imgs]  # (n, C, nmax)
        u = _unit(th)  # (n, C, nmax, 2)
        piv = self.piv[imgs]  # (n, C, nmax + 1, 2)
        a_pad = piv[:, :, :-1] + cfg.paddle_margin * u
        b_pad = piv[:, :, :-1] + (cfg.paddle_margin + cfg.paddle_length) * u
        last = np.arange(nmax)[None, :] == (self.lengths - 1)[:, None]  # (C, nmax)
        a_cov = np.concatenate([a_pad[:, :, :1], piv[:, :, 1:-1]], axis=2)  # the cover starts at the tail
        b_cov = np.where(last[None, :, :, None], b_pad, piv[:, :, 1:])  # ... and ends at the terminal tip
        win = int(math.ceil(cfg.step + 2 * COVER_RADIUS + 1)) + 1
        oy, ox = np.mgrid[0:win, 0:win]
        offs = np.stack([oy.ravel(), ox.ravel()], axis=-1)  # (P, 2)
        used = np.isfinite(th)  # (n, C, nmax): steps that exist
        img_slot = (np.arange(n)[:, None] * c + np.arange(c)[None, :])[:, :, None]  # (n, C, 1)
        img_slot = np.broadcast_to(img_slot, used.shape)
        base = img_slot[used] * (s * s)  # (m,) offset of each used step's (image, contour) field
        out = []
        for a, b in ((a_cov[used], b_cov[used]), (a_pad[used], b_pad[used])):  # (m, 2) each
            origin = np.floor(np.minimum(a, b) - COVER_RADIUS - 0.5).astype(np.int64)
            pix = origin[:, None, :] + offs  # (m, P, 2)
            d = _seg_dist(a, b, pix + 0.5)  # (m, P)
            keep = ((pix >= 0) & (pix < s)).all(-1) & (d <= COVER_RADIUS)
            flat = base[:, None] + pix[..., 0] * s + pix[..., 1]
            field = np.full(n * c * s * s, np.inf)
            np.minimum.at(field, flat[keep], d[keep])
            out.append(field.reshape(n, c, s * s))
        return out[0], out[1]


def _draw(rng: np.random.Generator, cfg: PathfinderConfig, labels: np.ndarray) -> tuple[np.ndarray, dict]:
    """Try to draw one image per label. Returns which succeeded and the arrays of those (in order)."""
    b = labels.size
    s = cfg.image_size
    st = _Batch(cfg, b)
    every = np.arange(b)

    # two target seeds: the first 2 * seed_distance from the border (original), the second seed_distance away
    lo = int(round(2 * cfg.seed_distance))
    hi = s - lo
    if hi <= lo:
        lo, hi = s // 2 - 1, s // 2 + 1
    tail0 = rng.integers(lo, hi, (b, 2)) + 0.5
    ang = rng.uniform(0, 2 * np.pi, b)
    tail1 = tail0 + np.round(cfg.seed_distance * _unit(ang))
    alive = np.ones(b, dtype=bool)
    reserve_r = cfg.marker_radius + MARKER_RAMP + 1.0
    for slot, tails in ((0, tail0), (1, tail1)):
        st.reserve(every, slot, tails, reserve_r)  # keep the other contours away from a future marker
    for slot, tails in ((0, tail0), (1, tail1)):
        idx = every[alive]
        alive[idx] &= st.seed(rng, idx, slot, tails[idx])
    for k in range(1, cfg.contour_length):
        for slot in (0, 1):
            idx = every[alive]
            alive[idx] &= st.extend(rng, idx, slot, k)
    st.slot_ok[:, :2] = alive[:, None]

    # markers: origin of one target; the end of the same target (label 1) or of the other (label 0)
    origin_idx = rng.integers(0, 2, b)
    term_idx = np.where(labels == 1, origin_idx, 1 - origin_idx)
    tails = st.tail[:, :2]
    terms = np.stack([st.terminal(0), st.terminal(1)], axis=1)
    markers = np.stack([tails[every, origin_idx], terms[every, term_idx]], axis=1)  # (b, 2, 2)
    for slot in (0, 1):  # also keep distractors away from the terminal markers
        st.reserve(every[alive], slot, terms[alive, slot], reserve_r)

    # distractors, one after another, each with a few tries (original: make_many_snakes, allow_incomplete)
    for slot in range(2, st.n_slots):
        todo = every[alive]
        for _ in range(DISTRACTOR_TRIES):
            if todo.size == 0:
                break
            ok = st.seed(rng, todo, slot, None)
            for k in range(1, st.lengths[slot]):
                cur = todo[ok]
                ok[ok] &= st.extend(rng, cur, slot, k)
            st.clear(todo[~ok], slot)
            st.slot_ok[todo[ok], slot] = True
            todo = todo[~ok]

    # exact check, on the images still alive: covers (centre line within COVER_RADIUS) + marker discs
    idx = every[alive]
    n = idx.size
    d_cover, d_paddle = st.fields(idx)
    cover = (d_cover <= COVER_RADIUS).reshape(n, st.n_slots, s, s)
    yy, xx = np.mgrid[0:s, 0:s] + 0.5
    mk = markers[idx]
    d_mark = np.hypot(yy - mk[:, :, 0, None, None], xx - mk[:, :, 1, None, None])  # (n, 2, s, s)
    mark_cover = d_mark < cfg.marker_radius + MARKER_RAMP  # where a marker is visible
    on = np.stack([origin_idx, term_idx], axis=1)[idx]  # target slot of each marker
    rows = np.arange(n)
    member_t = cover[:, :2].copy()
    for m in range(2):
        member_t[rows, on[:, m]] |= mark_cover[:, m]
    fine = ~(_dilate(member_t[:, 0]) & member_t[:, 1]).any(axis=(-1, -2))  # targets must not touch
    blocked = _dilate(member_t[:, 0] | member_t[:, 1])
    keep = st.slot_ok[idx].copy()
    keep[:, :2] = True
    for slot in range(2, st.n_slots):  # a distractor that touches anything kept so far is dropped
        fits = keep[:, slot] & ~(cover[:, slot] & blocked).any(axis=(-1, -2))
        keep[:, slot] = fits
        blocked |= _dilate(cover[:, slot] & fits[:, None, None])

    # render: paddles (antialiased ramp of the distance), then markers on top (np.maximum, as the original)
    ramp = np.clip((COVER_RADIUS - d_paddle) / STROKE_RAMP, 0.0, 1.0) * keep[:, :, None]
    img = np.clip(cfg.contrast * ramp.max(axis=1), 0.0, 1.0).reshape(n, s, s)
    mark = np.clip((cfg.marker_radius + MARKER_RAMP - d_mark) / MARKER_RAMP, 0.0, 1.0).max(axis=1)
    img = np.maximum(img, mark)

    membership = np.zeros((n, s, s), dtype=np.int8)
    for slot in range(st.n_slots):
        membership[cover[:, slot] & keep[:, slot, None, None]] = slot + 1
    for m in range(2):
        sel = mark_cover[:, m]
        membership[sel] = np.broadcast_to((on[:, m] + 1)[:, None, None], sel.shape)[sel]

    alive[idx] = fine
    out = {
        "images": np.round(img * 255).astype(np.uint8)[fine],
        "membership": membership[fine],
        "markers": mk[fine].astype(np.float32),
        "marker_contour": (on[fine] + 1).astype(np.int8),
    }
    return alive, out


def generate(n: int, *, seed: int = 0, config: PathfinderConfig | None = None) -> PathfinderImages:
    """`n` Pathfinder images with exactly balanced labels (a seeded permutation of 0/1).

    Images are drawn in batches of BATCH whose labels follow what is still needed; the images that came out
    (the others are redrawn: rejection sampling) fill the label-0 and label-1 places in order.
    """
    check_int("n", n, 1)
    cfg = config or PathfinderConfig()
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 2).astype(np.int64)
    need = [int((labels == 0).sum()), int((labels == 1).sum())]
    pools: list[list[dict[str, np.ndarray]]] = [[], []]
    have = [0, 0]
    rounds = 0
    while have[0] < need[0] or have[1] < need[1]:
        rest = [max(need[i] - have[i], 0) for i in (0, 1)]
        k0 = min(BATCH, max(int(round(BATCH * rest[0] / (rest[0] + rest[1]))), 1 if rest[0] else 0))
        batch_labels = rng.permutation(np.r_[np.zeros(k0, np.int64), np.ones(BATCH - k0, np.int64)])
        ok, out = _draw(rng, cfg, batch_labels)
        got = batch_labels[ok]
        for lab in (0, 1):
            sel = got == lab
            pools[lab].append({key: arr[sel] for key, arr in out.items()})
            have[lab] += int(sel.sum())
        rounds += 1
        if rounds >= MAX_ROUNDS and sum(have) == 0:
            raise SpecError(
                "contour_length",
                cfg.contour_length,
                f"contours that fit in {cfg.image_size}x{cfg.image_size} (no image in {rounds} batches)",
            )
    s = cfg.image_size
    res = PathfinderImages(
        images=np.zeros((n, s, s), np.uint8),
        labels=labels,
        membership=np.zeros((n, s, s), np.int8),
        markers=np.zeros((n, 2, 2), np.float32),
        marker_contour=np.zeros((n, 2), np.int8),
    )
    for lab in (0, 1):
        where = np.flatnonzero(labels == lab)
        for key in pools[lab][0]:
            getattr(res, key)[where] = np.concatenate([p[key] for p in pools[lab]])[: where.size]
    return res


# ---- official LRA folders ---------------------------------------------------------------------------------
def _metadata_rows(path: Path) -> list[list[str]]:
    """Rows of one `metadata/N.npy`: text lines in the LRA release, or a saved numpy array of strings."""
    raw = path.read_bytes()
    if raw.startswith(b"\x93NUMPY"):
        arr = np.load(path, allow_pickle=False)
        return [[str(x) for x in row] for row in np.atleast_2d(arr)]
    return [line.split() for line in raw.decode("utf-8").splitlines() if line.strip()]


def read_folder(root: str | Path) -> tuple[np.ndarray, np.ndarray, int]:
    """An official Pathfinder folder (`metadata/*.npy`, `imgs/N/sample_K.png`) -> (images, labels, n_skipped).

    Metadata rows are `[subpath, filename, image_number, label, ...]` (`snakes2.accumulate_meta`); the
    image is `root/subpath/filename`; files are taken in numeric order of their names. Empty or unreadable
    PNGs are skipped (LRA filters empty images too).
    """
    from PIL import Image, UnidentifiedImageError  # pillow comes with matplotlib

    root = Path(root)
    metas = sorted((root / "metadata").glob("*.npy"), key=lambda p: (len(p.stem), p.stem))
    if not metas:
        raise SpecError("data_dir", str(root), "an LRA Pathfinder folder with metadata/*.npy")
    images: list[np.ndarray] = []
    labels: list[int] = []
    skipped = 0
    for meta in metas:
        for lineno, row in enumerate(_metadata_rows(meta), start=1):
            if len(row) < 4:
                raise ValueError(f"{meta}:{lineno}: expected [subpath, filename, n, label, ...], got {row}")
            img_path = root / row[0] / row[1]
            try:
                with Image.open(img_path) as im:
                    arr = np.asarray(im.convert("L"), dtype=np.uint8)
            except (OSError, UnidentifiedImageError):
                skipped += 1
                continue
            if images and arr.shape != images[0].shape:
                raise ValueError(f"{img_path}: size {arr.shape} differs from {images[0].shape}")
            images.append(arr)
            labels.append(parse_label(str(row[3]), f"{meta}:{lineno}"))
    if not images:
        raise SpecError("data_dir", str(root), "a Pathfinder folder with at least one readable image")
    return np.stack(images), np.asarray(labels, dtype=np.int64), skipped


def _to_task(images: np.ndarray, labels: np.ndarray, source: str) -> TaskData:
    n = len(labels)
    tokens = torch.from_numpy(images.reshape(n, -1).astype(np.int64) + 1)  # pixel + 1, 0 = pad
    y = torch.from_numpy(labels.astype(np.int64))
    n_train, n_val, _ = _split_sizes(n)
    return TaskData(
        name="pathfinder",
        **split_rows(tokens, y, n_train, n_val),
        vocab_size=VOCAB_SIZE,
        n_classes=N_CLASSES,
        seq_len=tokens.shape[1],
        source=source,
    )


def _folder(data_dir: str | Path, contour_length: int, n_images: int | None, seed: int | None) -> Path:
    """The difficulty folder under `data_dir` (SpecError: a generator parameter given too, no such folder)."""
    for k, v in (("n_images", n_images), ("seed", seed)):
        if v is not None:
            raise SpecError(k, v, "not allowed together with data_dir (files are read)")
    root = Path(data_dir)
    if not (root / "metadata").is_dir():
        if contour_length not in LRA_PF_FOLDERS:
            allowed = f"one of {sorted(LRA_PF_FOLDERS)} with data_dir"
            raise SpecError("contour_length", contour_length, allowed)
        root = root / LRA_PF_FOLDERS[contour_length]
    return root


def _split_sizes(n: int) -> tuple[int, int, int]:
    """(train, val, test) of n examples split as LRA (`LRA_PF_SPLIT`), as `_to_task` cuts them."""
    a, b = round(LRA_PF_SPLIT[0] * n), round(LRA_PF_SPLIT[1] * n)
    return a, b - a, n - b


def shape(
    *,
    data_dir: str | Path | None = None,
    contour_length: int = LRA_PF32_CONTOUR_LENGTH,
    n_images: int | None = None,
    seed: int | None = None,
    cache: bool = True,
) -> TaskShape:
    """What `load(...)` with these parameters gives, known without loading (a folder: its metadata rows,
    unreadable images included). The same SpecErrors as `load`."""
    contour_length = check_int("contour_length", contour_length, 2, 64)
    size = LRA_PF32_IMAGE_SIZE * LRA_PF32_IMAGE_SIZE
    if data_dir is not None:
        root = _folder(data_dir, contour_length, n_images, seed)
        metas = list((root / "metadata").glob("*.npy"))
        n = sum(len(_metadata_rows(m)) for m in metas)
        return TaskShape("pathfinder", *_split_sizes(n), size, read_bytes=n * size)
    n = check_int("n_images", LRA_PF_N_IMAGES if n_images is None else n_images, 3, MAX_EXAMPLES)
    params = _params(n, check_int("seed", 0 if seed is None else seed, 0), contour_length)
    cfg_size = params["image_size"] ** 2
    cached = cache and _cache.cache_path("pathfinder", _cache_version(), params).is_file()
    return TaskShape("pathfinder", *_split_sizes(n), cfg_size, generator="pathfinder", cached=cached)


def _params(n: int, seed: int, contour_length: int) -> dict:
    """The generator's parameters (the cache key): the image count, the seed and the config's geometry."""
    return {"n_images": n, "seed": seed, **asdict(PathfinderConfig(contour_length=contour_length))}


def _cache_version() -> str:
    return f"{GENERATOR_VERSION}/{BATCH}"


def load(
    *,
    data_dir: str | Path | None = None,
    contour_length: int = LRA_PF32_CONTOUR_LENGTH,
    n_images: int | None = None,
    seed: int | None = None,
    cache: bool = True,
) -> TaskData:
    """The Pathfinder task: read the LRA folder for `contour_length` under `data_dir`, else generate (cached).

    `data_dir` may be the difficulty folder itself (it has `metadata/`) or its parent (`pathfinder32/`).
    Generated: `n_images` (default 200,000, as the LRA release) split 80/10/10 like LRA.
    """
    contour_length = check_int("contour_length", contour_length, 2, 64)
    if data_dir is not None:
        root = _folder(data_dir, contour_length, n_images, seed)
        images, labels, skipped = read_folder(root)
        note = f", {skipped} unreadable skipped" if skipped else ""
        return _to_task(images, labels, f"Pathfinder PNG folder at {root} ({len(labels)} images{note})")

    n = check_int("n_images", LRA_PF_N_IMAGES if n_images is None else n_images, 3, MAX_EXAMPLES)
    seed = check_int("seed", 0 if seed is None else seed, 0)
    cfg = PathfinderConfig(contour_length=contour_length)
    params = _params(n, seed, contour_length)

    def build() -> TaskData:
        gen = generate(n, seed=seed, config=cfg)
        size = f"{cfg.image_size}x{cfg.image_size}"
        src = f"generated Pathfinder (seed={seed}, {size}, contour_length={contour_length})"
        return _to_task(gen.images, gen.labels, src)

    return _cache.cached("pathfinder", _cache_version(), params, build, use_cache=cache)
