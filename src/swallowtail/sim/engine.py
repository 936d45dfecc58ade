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
from numba import njit, types
from numba.typed import Dict

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


def new_overflow() -> Dict:
    return Dict.empty(key_type=types.int64, value_type=types.int64)


@njit(cache=True)
def cal_get(keys, vals, ovf, c, t):
    idx = t & RING_MASK
    if keys[c, idx] == t:
        return vals[c, idx]
    if len(ovf) == 0:
        return 0
    return ovf.get(t * OVF_STRIDE + c, 0)


@njit(cache=True)
def cal_add(keys, vals, ovf, c, t, inc, floor):
    idx = t & RING_MASK
    k = keys[c, idx]
    if k == t:
        vals[c, idx] += inc
        return
    if len(ovf) > 0:
        ok = t * OVF_STRIDE + c
        if ok in ovf:
            ovf[ok] += inc
            return
    if k < floor:
        keys[c, idx] = t
        vals[c, idx] = inc
        return
    ovf[t * OVF_STRIDE + c] = inc


@njit(cache=True)
def cal_free(keys, vals, ovf, c, t, occ):
    """First cycle >= t with `occ` consecutive free cycles of resource c."""
    while True:
        busy = False
        for k in range(occ):
            if cal_get(keys, vals, ovf, c, t + k) != 0:
                t = t + k + 1
                busy = True
                break
        if not busy:
            return t


@njit(cache=True)
def cal_live(keys, vals, ovf, tm):
    """Every reservation at or after tm: (resource, cycle, value) rows sorted by resource, then cycle."""
    n_cal = keys.shape[0]
    n = 0
    for c in range(n_cal):
        for s in range(keys.shape[1]):
            if keys[c, s] >= tm:
                n += 1
    for ok in ovf:
        if ok // OVF_STRIDE >= tm:
            n += 1
    out = np.empty((n, 3), dtype=np.int64)
    j = 0
    for c in range(n_cal):
        for s in range(keys.shape[1]):
            if keys[c, s] >= tm:
                out[j, 0] = c
                out[j, 1] = keys[c, s]
                out[j, 2] = vals[c, s]
                j += 1
    for ok in ovf:
        t = ok // OVF_STRIDE
        if t >= tm:
            out[j, 0] = ok - t * OVF_STRIDE
            out[j, 1] = t
            out[j, 2] = ovf[ok]
            j += 1
    order = np.argsort(out[:, 0] * (1 << 44) + out[:, 1])
    return out[order]


@njit(cache=True)
def ovf_prune(ovf, floor):
    """Drop overflow reservations before `floor` (no request reaches them any more)."""
    dead = [ok for ok in ovf if ok // OVF_STRIDE < floor]
    for ok in dead:
        del ovf[ok]


@njit(cache=True)
def cal_rebuild(keys, vals, ovf, floor, shift):
    """Keep the reservations at or after `floor`, each moved `shift` cycles later; the ring re-laid out."""
    live = cal_live(keys, vals, ovf, floor)
    keys[:, :] = -1
    vals[:, :] = 0
    ovf.clear()
    for j in range(live.shape[0]):
        cal_add(keys, vals, ovf, live[j, 0], live[j, 1] + shift, live[j, 2], floor + shift)


@njit(cache=True)
def run_iteration(
    steps,
    ld_ptr,
    ld_rows,
    xf_rows,
    routes,
    cp_ptr,
    cp_rows,
    st_rows,
    base,
    tag_lbs,
    ld_cause,
    pref,
    pcs0,
    pcs1,
    rr,
    rl,
    rc,
    pf,
    fu_free,
    spm_ready,
    keys,
    vals,
    ovf,
    floor,
    layout,
    stalls,
    comp,
    stw,
    log,
    hop_log,
    logging,
):
    """Issue one iteration on every PE (the rules: swallowtail.sim.timing). `steps` rows: (kind, index) --
    LD / CP: the step's row of ld_ptr / cp_ptr (per-PE ranges), XF / ST: a range of rows (already in the
    arbiter's round-robin order). `pref` rows (register base, slot base, v0, v1): the coefficient loads
    appended to every load step, slots from pcs0 / pcs1. `layout`: RD0, WR0, LINK0, BANK0, gmask, occ_bank,
    spm_lat, RP, WP, SER, HOP. Returns (an SPM / DMA readiness bound a load, instructions, log rows, hops,
    requests before `floor`)."""
    RD0, WR0, LINK0, BANK0 = layout[0], layout[1], layout[2], layout[3]
    gmask, occ_bank, spm_lat, RP, WP, SER, HOP = (
        layout[4],
        layout[5],
        layout[6],
        layout[7],
        layout[8],
        layout[9],
        layout[10],
    )
    n_pe = rr.shape[0]
    for e in range(n_pe):
        comp[e] = 0
    ext = False
    bad = 0  # requests before `floor` (never, if the floor is right: the timing module raises)
    n_ins = 0
    n_log = 0
    n_hop = 0
    for si in range(steps.shape[0]):
        kind = steps[si, 0]
        if kind == _LD:
            r = steps[si, 1]
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
                    bg = BANK0 + (slot_ & gmask)
                    while True:
                        t2 = cal_free(keys, vals, ovf, bg, t, occ_bank)
                        if t2 != t:
                            t = t2
                            continue
                        if cal_get(keys, vals, ovf, WR0 + e, t + spm_lat - 1) >= WP:
                            t += 1
                            continue
                        break
                    for k in range(occ_bank):
                        cal_add(keys, vals, ovf, bg, t + k, 1, floor)
                    wk = t + spm_lat - 1
                    cal_add(keys, vals, ovf, WR0 + e, wk, 1, floor)
                    pf[0, e] = t + 1
                    rr[e, dst] = t + spm_lat
                    rc[e, dst] = cause
                    if t + spm_lat > comp[e]:
                        comp[e] = t + spm_lat
                    if logging:
                        log[n_log, 0] = LOG_LD
                        log[n_log, 1] = e
                        log[n_log, 2] = dst
                        log[n_log, 3] = slot_
                        log[n_log, 4] = t
                        log[n_log, 5] = wk
                        log[n_log, 6] = data_cause
                        n_log += 1
        elif kind == _XF:
            lo, hi = steps[si, 1], steps[si, 2]
            for row in range(lo, hi):
                e = xf_rows[row, 0]
                src = xf_rows[row, 1]
                dst = xf_rows[row, 2]
                peer = xf_rows[row, 3]
                r0 = xf_rows[row, 4]
                r1 = xf_rows[row, 5]
                tag_lb = tag_lbs[e]
                p2 = pf[2, e]
                t = p2 if p2 > tag_lb else tag_lb
                x = rr[e, src]
                if x > t:
                    t = x
                if t < floor:
                    bad += 1
                c0 = LINK0 + routes[r0]
                while True:
                    t2 = cal_free(keys, vals, ovf, c0, t, SER)
                    if t2 != t:
                        t = t2
                        continue
                    if cal_get(keys, vals, ovf, RD0 + e, t) >= RP:
                        t += 1
                        continue
                    break
                for k in range(SER):
                    cal_add(keys, vals, ovf, c0, t + k, 1, floor)
                cal_add(keys, vals, ovf, RD0 + e, t, 1, floor)
                s_ = t
                h0 = n_hop
                for j in range(r0 + 1, r1):
                    c2 = LINK0 + routes[j]
                    s_ = cal_free(keys, vals, ovf, c2, s_ + HOP, SER)
                    for k in range(SER):
                        cal_add(keys, vals, ovf, c2, s_ + k, 1, floor)
                    if logging:
                        hop_log[n_hop] = s_
                        n_hop += 1
                arr = s_ + SER - 1 + HOP
                if rl[peer, dst] >= arr:
                    arr = rl[peer, dst] + 1
                while cal_get(keys, vals, ovf, WR0 + peer, arr) >= WP:
                    arr += 1
                cal_add(keys, vals, ovf, WR0 + peer, arr, 1, floor)
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
                    log[n_log, 0] = LOG_XF
                    log[n_log, 1] = e
                    log[n_log, 2] = src
                    log[n_log, 3] = peer
                    log[n_log, 4] = dst
                    log[n_log, 5] = r0
                    log[n_log, 6] = r1
                    log[n_log, 7] = t
                    log[n_log, 8] = h0
                    log[n_log, 9] = n_hop
                    log[n_log, 10] = arr
                    n_log += 1
            n_ins += hi - lo
        elif kind == _CP:
            r = steps[si, 1]
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
                    while (
                        cal_get(keys, vals, ovf, RD0 + e, t) + nr > RP
                        or cal_get(keys, vals, ovf, WR0 + e, t + lat - 1) >= WP
                    ):
                        t += 1
                    cal_add(keys, vals, ovf, RD0 + e, t, nr, floor)
                    wk = t + lat - 1
                    cal_add(keys, vals, ovf, WR0 + e, wk, 1, floor)
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
                        log[n_log, 0] = LOG_CP
                        log[n_log, 1] = e
                        log[n_log, 2] = fu
                        log[n_log, 3] = nr
                        log[n_log, 4] = dst
                        log[n_log, 5] = a
                        log[n_log, 6] = cr
                        log[n_log, 7] = acc
                        log[n_log, 8] = t
                        log[n_log, 9] = wk
                        n_log += 1
                n_ins += hi - lo
                pf[3, e] = p3
                comp[e] = ce
        else:  # _ST
            lo, hi = steps[si, 1], steps[si, 2]
            for row in range(lo, hi):
                e = st_rows[row, 0]
                k_ = st_rows[row, 1]
                src = st_rows[row, 2]
                slot_ = base + st_rows[row, 3]
                tag_lb = tag_lbs[e]
                p1 = pf[1, e]
                t = p1 if p1 > tag_lb else tag_lb
                x = rr[e, src]
                if x > t:
                    t = x
                if t < floor:
                    bad += 1
                bg = BANK0 + (slot_ & gmask)
                while True:
                    t = cal_free(keys, vals, ovf, bg, t, occ_bank)
                    if cal_get(keys, vals, ovf, RD0 + e, t) >= RP:
                        t += 1
                        continue
                    break
                for k in range(occ_bank):
                    cal_add(keys, vals, ovf, bg, t + k, 1, floor)
                cal_add(keys, vals, ovf, RD0 + e, t, 1, floor)
                spm_ready[slot_] = t + spm_lat
                stw[e, k_] = t + spm_lat
                if t > rl[e, src]:
                    rl[e, src] = t
                pf[1, e] = t + 1
                if t + spm_lat > comp[e]:
                    comp[e] = t + spm_lat
                if logging:
                    log[n_log, 0] = LOG_ST
                    log[n_log, 1] = e
                    log[n_log, 2] = src
                    log[n_log, 3] = slot_
                    log[n_log, 4] = t
                    n_log += 1
            n_ins += hi - lo
    return ext, n_ins, n_log, n_hop, bad
