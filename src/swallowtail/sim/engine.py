"""The timing engine's inner loop, compiled (numba): one iteration of a Program on every PE, instruction by
instruction, against the machine state held in arrays. `swallowtail.sim.timing` drives it (iteration order,
DMA, fast-forward, event recording); the rules it applies are described there.

Reservation tables (RF read / write ports per PE, NoC links, SPM bank groups) are rings of `RING` cycles per
resource: cycle t lives in slot t mod RING when that slot is free or holds a cycle no request can reach any
more (before `floor`, the earliest cycle any pipeline can issue next: pipelines only move forward, and every
request is at or after its pipeline's free time); otherwise it goes to a shared overflow table. A reservation
is therefore never lost, and the ring is only a fast path.

Event log: when asked, every issued instruction is written to a log (in the order the arbiters granted them),
from which the timing module feeds the event recorder and the activity trace.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: cycles per reservation ring (a power of two; only a fast path: collisions go to the overflow table)
RING_BITS = 11
RING = 1 << RING_BITS
RING_MASK = RING - 1
#: overflow keys: cycle * OVF_STRIDE + resource
OVF_STRIDE = 1 << 12

# log kinds (the activity trace's codes)
LOG_CP, LOG_XF, LOG_LD, LOG_ST = 0, 1, 2, 3
LOG_WIDTH = 11
#: per log kind: the column holding the issue cycle
LOG_TIME_COL = np.array([8, 7, 4, 4], dtype=np.int64)

# stall causes (as in timing.CAUSES)
_C_OPERAND, _C_NOC, _C_SPM, _C_DMA, _C_TAG, _C_RFPORT = 0, 1, 2, 3, 4, 5
# step kinds (the timing module maps compiler.template's step names to these)
_LD, _XF, _CP, _ST = 0, 1, 2, 3
STEP_CODES = {"ld": _LD, "xfer": _XF, "compute": _CP, "st": _ST}


class Reservations:
    """Every shared resource's reservation table: `keys` / `vals` (resources x RING: the cycle and its count
    in slot cycle mod RING, -1 when empty) and the overflow, an open-addressing hash table (`ovf_keys`: cycle
    * OVF_STRIDE + resource, -1 when empty; `ovf_n`: [entries]). Only whole-table operations live here; the
    engine reads and writes single reservations."""

    def __init__(self, n_res: int, ovf_capacity: int = 1 << 10) -> None:
        assert n_res < OVF_STRIDE
        self.keys = np.full((n_res, RING), -1, dtype=np.int64)
        self.vals = np.zeros((n_res, RING), dtype=np.int64)
        self._new_overflow(ovf_capacity)

    @property
    def tables(self) -> tuple:
        """What the engine reads and writes: (keys, vals, ovf_keys, ovf_vals, ovf_n)."""
        return self.keys, self.vals, self.ovf_keys, self.ovf_vals, self.ovf_n

    def _new_overflow(self, capacity: int) -> None:
        self.ovf_keys = np.full(capacity, -1, dtype=np.int64)
        self.ovf_vals = np.zeros(capacity, dtype=np.int64)
        self.ovf_n = np.zeros(1, dtype=np.int64)

    def _overflow_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        used = self.ovf_keys >= 0
        ok = self.ovf_keys[used]
        return ok % OVF_STRIDE, ok // OVF_STRIDE, self.ovf_vals[used]

    def live(self, tm: int) -> np.ndarray:
        """Every reservation at or after tm: (resource, cycle, count) rows sorted by resource, then cycle."""
        c, s = np.nonzero(self.keys >= tm)
        rows = [np.stack([c, self.keys[c, s], self.vals[c, s]], axis=1)]
        if self.ovf_n[0]:
            oc, ot, ov = self._overflow_rows()
            keep = ot >= tm
            rows.append(np.stack([oc[keep], ot[keep], ov[keep]], axis=1))
        out = np.concatenate(rows).astype(np.int64)
        return out[np.lexsort((out[:, 1], out[:, 0]))]

    def rebuild(self, floor: int, shift: int = 0, extra: int = 0) -> None:
        """Drop what is before `floor`, move the rest `shift` cycles later, and leave room in the overflow
        for at least `extra` more entries (it is never more than half full)."""
        dead = self.keys < floor
        self.keys[~dead] += shift
        self.keys[dead] = -1
        self.vals[dead] = 0
        if shift:  # the ring is re-laid out: slot = cycle mod RING
            c, s = np.nonzero(self.keys >= 0)
            k, v = self.keys[c, s], self.vals[c, s]
            self.keys[c, s] = -1
            self.vals[c, s] = 0
            self.keys[c, k & RING_MASK] = k
            self.vals[c, k & RING_MASK] = v
        oc, ot, ov = self._overflow_rows()
        keep = ot >= floor
        cap = self.ovf_keys.shape[0]
        need = 2 * (int(keep.sum()) + extra)
        while cap < need:
            cap *= 2
        self._new_overflow(cap)
        ovf_insert(
            self.ovf_keys, self.ovf_vals, self.ovf_n, (ot[keep] + shift) * OVF_STRIDE + oc[keep], ov[keep]
        )

    def room(self, extra: int, floor: int) -> None:
        """Make sure `extra` more overflow entries fit (the engine cannot grow the table)."""
        if 2 * (int(self.ovf_n[0]) + extra) > self.ovf_keys.shape[0]:
            self.rebuild(floor, 0, extra)


@njit(cache=True)
def _slot(ovf_keys, ok):
    """The overflow slot holding key ok, or the empty slot where it would go."""
    mask = ovf_keys.shape[0] - 1
    h = ((ok * 0x9E3779B1) ^ (ok >> 15)) & mask
    while ovf_keys[h] != -1 and ovf_keys[h] != ok:
        h = (h + 1) & mask
    return h


@njit(cache=True)
def ovf_insert(ovf_keys, ovf_vals, ovf_n, oks, vs):
    for j in range(oks.shape[0]):
        h = _slot(ovf_keys, oks[j])
        if ovf_keys[h] == -1:
            ovf_keys[h] = oks[j]
            ovf_n[0] += 1
        ovf_vals[h] += vs[j]


@njit(cache=True)
def cal_get(tab, c, t):
    keys, vals, ovf_keys, ovf_vals, ovf_n = tab
    idx = t & RING_MASK
    if keys[c, idx] == t:
        return vals[c, idx]
    if ovf_n[0] == 0:
        return 0
    h = _slot(ovf_keys, t * OVF_STRIDE + c)
    return ovf_vals[h] if ovf_keys[h] != -1 else 0


@njit(cache=True)
def cal_add(tab, c, t, inc, floor):
    keys, vals, ovf_keys, ovf_vals, ovf_n = tab
    idx = t & RING_MASK
    k = keys[c, idx]
    if k == t:
        vals[c, idx] += inc
        return
    ok = t * OVF_STRIDE + c
    if ovf_n[0] > 0:
        h = _slot(ovf_keys, ok)
        if ovf_keys[h] == ok:
            ovf_vals[h] += inc
            return
    if k < floor:
        keys[c, idx] = t
        vals[c, idx] = inc
        return
    h = _slot(ovf_keys, ok)
    ovf_keys[h] = ok
    ovf_vals[h] = inc
    ovf_n[0] += 1


@njit(cache=True)
def cal_free(tab, c, t, occ):
    """First cycle >= t with `occ` consecutive free cycles of resource c."""
    while True:
        busy = False
        for k in range(occ):
            if cal_get(tab, c, t + k) != 0:
                t = t + k + 1
                busy = True
                break
        if not busy:
            return t


@njit(cache=True)
def cal_reserve(tab, chan, occ, port, port_at, limit, t, floor):
    """Reserve resource `chan` for `occ` consecutive cycles from the first cycle s >= t at which they are free
    and port `port` has fewer than `limit` uses at cycle s + `port_at`, and that port use; returns s."""
    while True:
        t2 = cal_free(tab, chan, t, occ)
        if t2 != t:
            t = t2
            continue
        if cal_get(tab, port, t + port_at) >= limit:
            t += 1
            continue
        break
    for k in range(occ):
        cal_add(tab, chan, t + k, 1, floor)
    cal_add(tab, port, t + port_at, 1, floor)
    return t


@njit(cache=True)
def _emit(log, n, kind, v1, v2=0, v3=0, v4=0, v5=0, v6=0, v7=0, v8=0, v9=0, v10=0):
    """Write log row n: (kind, v1 .. v10); returns n + 1."""
    log[n, 0] = kind
    log[n, 1] = v1
    log[n, 2] = v2
    log[n, 3] = v3
    log[n, 4] = v4
    log[n, 5] = v5
    log[n, 6] = v6
    log[n, 7] = v7
    log[n, 8] = v8
    log[n, 9] = v9
    log[n, 10] = v10
    return n + 1


@njit(cache=True)
def run_iteration(
    program, routes, base, tag_lbs, ld_cause, pref, pcs0, pcs1, state, tab, floor, layout, out, logging
):
    """Issue one iteration on every PE (the rules: swallowtail.sim.timing). `steps` rows: (kind, index) -- LD
    / CP: the step's row of ld_ptr / cp_ptr (per-PE ranges), XF / ST: a range of rows (already in the
    arbiter's round-robin order). `pref` rows (register base, slot base, v0, v1): the coefficient loads
    appended to every load step, slots from pcs0 / pcs1. `layout`: the tuple (RD0, WR0, LINK0, BANK0,
    gmask, occ_bank, spm_lat, RP, WP, SER, HOP). `program`: a variant's tables (steps, ld_ptr, ld_rows,
    xf_rows, cp_ptr, cp_rows, st_rows); `state`: (rr, rl, rc, pf, fu_free, spm_ready); `tab`: the
    reservation tables (Reservations.tables); `out`: (stalls, comp, stw, log, hop_log). Returns (an SPM /
    DMA readiness bound a load, instructions, log rows, hops, requests before `floor`)."""
    steps = program[0]
    comp = out[1]
    for e in range(comp.shape[0]):
        comp[e] = 0
    ext = False
    bad = 0  # requests before `floor` (never, if the floor is right: the timing module raises)
    n_ins = 0
    n_log = 0
    n_hop = 0
    for si in range(steps.shape[0]):
        kind = steps[si, 0]
        if kind == _LD:
            ins, b, n_log, waited = _issue_loads(
                steps[si, 1],
                program,
                base,
                tag_lbs,
                ld_cause,
                pref,
                pcs0,
                pcs1,
                state,
                tab,
                floor,
                layout,
                out,
                logging,
                n_log,
            )
            ext = ext or waited
        elif kind == _XF:
            ins, b, n_log, n_hop = _issue_transfers(
                steps[si, 1],
                steps[si, 2],
                program,
                routes,
                tag_lbs,
                state,
                tab,
                floor,
                layout,
                out,
                logging,
                n_log,
                n_hop,
            )
        elif kind == _CP:
            ins, b, n_log = _issue_computes(
                steps[si, 1], program, tag_lbs, state, tab, floor, layout, out, logging, n_log
            )
        else:  # _ST
            ins, b, n_log = _issue_stores(
                steps[si, 1],
                steps[si, 2],
                program,
                base,
                tag_lbs,
                state,
                tab,
                floor,
                layout,
                out,
                logging,
                n_log,
            )
        n_ins += ins
        bad += b
    return ext, n_ins, n_log, n_hop, bad


@njit(cache=True)
def _issue_loads(
    r, program, base, tag_lbs, ld_cause, pref, pcs0, pcs1, state, tab, floor, layout, out, logging, n_log
):
    """A load step (`run_iteration`): row `r` of ld_ptr. Returns (instructions, requests before `floor`, log
    rows, whether a load waited for SPM / DMA data)."""
    ld_ptr, ld_rows = program[1], program[2]
    rr, rl, rc, pf, spm_ready = state[0], state[1], state[2], state[3], state[5]
    comp, log = out[1], out[3]
    RD0, WR0, LINK0, BANK0, gmask, occ_bank, spm_lat, RP, WP, SER, HOP = layout
    n_pe = rr.shape[0]
    ext = False
    bad = 0
    n_ins = 0
    # per PE: template loads, then the coefficient loads; granted round-robin over the PEs
    n_pref = 0
    for q in range(2):
        n_pref += pref[q, 3] - pref[q, 2]
    maxlen = 0
    for e in range(n_pe):
        ln = ld_ptr[r, e + 1] - ld_ptr[r, e] + n_pref
        n_ins += ln
        if ln > maxlen:
            maxlen = ln
    for k_ in range(maxlen):
        for e in range(n_pe):
            n_t = ld_ptr[r, e + 1] - ld_ptr[r, e]
            if k_ >= n_t + n_pref:
                continue
            if k_ < n_t:
                row = ld_ptr[r, e] + k_
                dst = ld_rows[row, 0]
                slot_ = base + ld_rows[row, 1]
                data_cause = ld_cause
            else:
                x = k_ - n_t
                q = 0
                nq = pref[0, 3] - pref[0, 2]
                if x >= nq:
                    x -= nq
                    q = 1
                v = pref[q, 2] + x
                dst = pref[q, 0] + v
                slot_ = pref[q, 1] + (pcs0[e, v] if q == 0 else pcs1[e, v])
                data_cause = _C_DMA
            tag_lb = tag_lbs[e]
            p0 = pf[0, e]
            t = p0 if p0 > tag_lb else tag_lb
            cause = _C_TAG if tag_lb > p0 else _C_SPM
            sr = spm_ready[slot_]
            if sr > t:
                t = sr
                cause = data_cause
                ext = True
            w = rl[e, dst] - spm_lat + 1
            if w > t:
                t = w
            if t < floor:
                bad += 1
            t = cal_reserve(tab, BANK0 + (slot_ & gmask), occ_bank, WR0 + e, spm_lat - 1, WP, t, floor)
            wk = t + spm_lat - 1
            pf[0, e] = t + 1
            rr[e, dst] = t + spm_lat
            rc[e, dst] = cause
            if t + spm_lat > comp[e]:
                comp[e] = t + spm_lat
            if logging:
                n_log = _emit(log, n_log, LOG_LD, e, dst, slot_, t, wk, data_cause)
    return n_ins, bad, n_log, ext


@njit(cache=True)
def _operand_ready(pf, pipe, e, tag_lbs, rr, src):
    """The first cycle PE e's pipeline `pipe` (a row of pf) may issue an instruction that reads register
    src: after the pipeline's previous issue, the tag window's bound and the register's arrival."""
    tag_lb = tag_lbs[e]
    p = pf[pipe, e]
    t = p if p > tag_lb else tag_lb
    x = rr[e, src]
    return x if x > t else t


@njit(cache=True)
def _issue_transfers(lo, hi, program, routes, tag_lbs, state, tab, floor, layout, out, logging, n_log, n_hop):
    """A transfer step (`run_iteration`): rows lo..hi of xf_rows, each a register sent over its NoC route.
    Returns (instructions, requests before `floor`, log rows, hops)."""
    xf_rows = program[3]
    rr, rl, rc, pf = state[0], state[1], state[2], state[3]
    comp, log, hop_log = out[1], out[3], out[4]
    RD0, WR0, LINK0, BANK0, gmask, occ_bank, spm_lat, RP, WP, SER, HOP = layout
    bad = 0
    for row in range(lo, hi):
        e = xf_rows[row, 0]
        src = xf_rows[row, 1]
        dst = xf_rows[row, 2]
        peer = xf_rows[row, 3]
        r0 = xf_rows[row, 4]
        r1 = xf_rows[row, 5]
        t = _operand_ready(pf, 2, e, tag_lbs, rr, src)
        if t < floor:
            bad += 1
        t = cal_reserve(tab, LINK0 + routes[r0], SER, RD0 + e, 0, RP, t, floor)
        s_ = t
        h0 = n_hop
        for j in range(r0 + 1, r1):
            c2 = LINK0 + routes[j]
            s_ = cal_free(tab, c2, s_ + HOP, SER)
            for k in range(SER):
                cal_add(tab, c2, s_ + k, 1, floor)
            if logging:
                hop_log[n_hop] = s_
                n_hop += 1
        arr = s_ + SER - 1 + HOP
        if rl[peer, dst] >= arr:
            arr = rl[peer, dst] + 1
        while cal_get(tab, WR0 + peer, arr) >= WP:
            arr += 1
        cal_add(tab, WR0 + peer, arr, 1, floor)
        rr[peer, dst] = arr + 1
        rc[peer, dst] = _C_NOC
        if t > rl[e, src]:
            rl[e, src] = t
        pf[2, e] = t + 1
        if t + 1 > comp[e]:
            comp[e] = t + 1
        if arr + 1 > comp[peer]:
            comp[peer] = arr + 1
        if logging:
            n_log = _emit(log, n_log, LOG_XF, e, src, peer, dst, r0, r1, t, h0, n_hop, arr)
    return hi - lo, bad, n_log, n_hop


@njit(cache=True)
def _issue_computes(r, program, tag_lbs, state, tab, floor, layout, out, logging, n_log):
    """A compute step (`run_iteration`): row `r` of cp_ptr, in order on each PE. Returns (instructions,
    requests before `floor`, log rows)."""
    cp_ptr, cp_rows = program[4], program[5]
    rr, rl, rc, pf, fu_free = state[0], state[1], state[2], state[3], state[4]
    stalls, comp, log = out[0], out[1], out[3]
    RD0, WR0, LINK0, BANK0, gmask, occ_bank, spm_lat, RP, WP, SER, HOP = layout
    n_pe = rr.shape[0]
    bad = 0
    n_ins = 0
    for e in range(n_pe):
        tag_lb = tag_lbs[e]
        p3 = pf[3, e]
        ce = comp[e]
        lo, hi = cp_ptr[r, e], cp_ptr[r, e + 1]
        for row in range(lo, hi):
            nr = cp_rows[row, 0]
            dst = cp_rows[row, 1]
            a = cp_rows[row, 2]
            cr = cp_rows[row, 3]
            acc = cp_rows[row, 4]
            lat = cp_rows[row, 5]
            fu = cp_rows[row, 6]
            ii = cp_rows[row, 7]
            t = p3
            cause = _C_OPERAND
            if tag_lb > t:
                t = tag_lb
                cause = _C_TAG
            x = rr[e, a]
            if x > t:
                t = x
                cause = rc[e, a]
            if cr >= 0:
                x = rr[e, cr]
                if x > t:
                    t = x
                    cause = rc[e, cr]
            if acc >= 0:
                x = rr[e, acc]
                if x > t:
                    t = x
                    cause = rc[e, acc]
            x = rl[e, dst] - lat + 2
            if x > t:
                t = x
                cause = _C_OPERAND
            x = fu_free[e, fu]
            if x > t:
                t = x
                cause = _C_OPERAND
            t0 = t
            if t < floor:
                bad += 1
            while cal_get(tab, RD0 + e, t) + nr > RP or cal_get(tab, WR0 + e, t + lat - 1) >= WP:
                t += 1
            cal_add(tab, RD0 + e, t, nr, floor)
            wk = t + lat - 1
            cal_add(tab, WR0 + e, wk, 1, floor)
            if t0 > p3:
                stalls[cause] += t0 - p3
            if t > t0:
                stalls[_C_RFPORT] += t - t0
            p3 = t + 1
            fu_free[e, fu] = t + ii
            rr[e, dst] = t + lat
            rc[e, dst] = _C_OPERAND
            if t > rl[e, a]:
                rl[e, a] = t
            if cr >= 0 and t > rl[e, cr]:
                rl[e, cr] = t
            if acc >= 0 and t > rl[e, acc]:
                rl[e, acc] = t
            if t + lat > ce:
                ce = t + lat
            if logging:
                n_log = _emit(log, n_log, LOG_CP, e, fu, nr, dst, a, cr, acc, t, wk)
        n_ins += hi - lo
        pf[3, e] = p3
        comp[e] = ce
    return n_ins, bad, n_log


@njit(cache=True)
def _issue_stores(lo, hi, program, base, tag_lbs, state, tab, floor, layout, out, logging, n_log):
    """A store step (`run_iteration`): rows lo..hi of st_rows, each a register written to its SPM slot.
    Returns (instructions, requests before `floor`, log rows)."""
    st_rows = program[6]
    rr, rl, pf, spm_ready = state[0], state[1], state[3], state[5]
    comp, stw, log = out[1], out[2], out[3]
    RD0, WR0, LINK0, BANK0, gmask, occ_bank, spm_lat, RP, WP, SER, HOP = layout
    bad = 0
    for row in range(lo, hi):
        e = st_rows[row, 0]
        k_ = st_rows[row, 1]
        src = st_rows[row, 2]
        slot_ = base + st_rows[row, 3]
        t = _operand_ready(pf, 1, e, tag_lbs, rr, src)
        if t < floor:
            bad += 1
        t = cal_reserve(tab, BANK0 + (slot_ & gmask), occ_bank, RD0 + e, 0, RP, t, floor)
        spm_ready[slot_] = t + spm_lat
        stw[e, k_] = t + spm_lat
        if t > rl[e, src]:
            rl[e, src] = t
        pf[1, e] = t + 1
        if t + spm_lat > comp[e]:
            comp[e] = t + spm_lat
        if logging:
            n_log = _emit(log, n_log, LOG_ST, e, src, slot_, t)
    return hi - lo, bad, n_log
