"""Row-wise dense operators -- softmax, LayerNorm, elementwise (add, bias add, mul, scale, ReLU, GELU) -- as
per-PE instruction templates.

One iteration = PEs x `simd_lanes` rows: PE e owns row group e (no NoC traffic: a row sits in one lane,
element j in register j); a block instance is a chunk of w columns (w vectors) and the passes sweep the
chunks. A row that fits the RF is one pass ("row"); a longer softmax / LayerNorm row is a chunked (online)
reduction: two phases (max-sum, scale | stats, normalise), each a sweep over the chunks, with running
statistics in a per-row-group state region of the SPM. See `swallowtail.compiler.dense.spec` for the
instruction sequences.
"""

from __future__ import annotations

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.dense.spec import DenseLayout, DensePass, DenseSpec, DenseTemplate
from swallowtail.compiler.dense.stream import (
    PeStream,
    Skew,
    assemble,
    chain,
    chain_skewed,
    chains_for,
    skewed,
    tree,
)
from swallowtail.compiler.geometry import SpmGeometry, rf_vectors
from swallowtail.compiler.isa import (
    OP_ADD,
    OP_ADDK,
    OP_EXP,
    OP_MAX,
    OP_MUL,
    OP_RECIP,
    OP_RSQRT,
    OP_SUB,
    OP_TANH,
    OP_VMUL,
)
from swallowtail.errors import SpecError
from swallowtail.flops import ceil_div

#: compiler policy: widest column chunk (vectors) of a chunked row reduction (softmax / LayerNorm rows that
#: do not fit in one chunk); wider chunks mean fewer passes (less state traffic, fewer pass boundaries) but
#: fewer iterations in flight (tag slots = what the RF holds / the chunk's registers)
ROW_REDUCE_CHUNK = 64
#: compiler policy: fewest tag slots (iterations in flight per PE) a chunked reduction's chunk width must
#: leave where some width allows it (a smaller chunk is preferred to a single iteration in flight)
REDUCE_MIN_TAGS = 2
#: the phases of a chunked reduction (one pass per phase and column chunk, phase-major)
SOFTMAX_PHASES = ("max-sum", "scale")
LAYERNORM_PHASES = ("stats", "normalise")
#: state slots of a chunked reduction per row group (softmax: running max, running sum -> 1 / sum;
#: LayerNorm: running sum, running sum of squares -> mean, rstd)
REDUCE_STATE_SLOTS = 2


def _largest_divisor(n: int, cap: int) -> int:
    return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)


def _chains_regs(length: int) -> int:
    """Accumulator registers `_reduce` takes for `length` inputs."""
    return chains_for(length) if length >= 2 else 0


def _sumsq_regs(length: int) -> int:
    ch = chains_for(length)
    return ch + (ch if length > ch else 0)


def _rowwise_demand(kind: str, w: int, n: int, chunked: bool, lanes: int) -> tuple[int, int, int]:
    """(data registers per tag slot, coefficient vectors per set, coefficient sets) of the most demanding
    pass template of a row-wise op with chunk width w (`rowwise_templates` asserts that its templates
    agree)."""
    if kind == "softmax":
        return ((w + 4 + 2 * _chains_regs(w)) if chunked else (n + 2 * chains_for(n))), 0, 1
    if kind == "layernorm":
        if chunked:
            return max(w + _chains_regs(w) + _sumsq_regs(w) + 4, w + 2), ceil_div(2 * w, lanes), 2
        return n + 3 * chains_for(n) + 2, ceil_div(2 * n + 2, lanes), 1
    j = n // w
    data = {"add": 2 * w, "mul": 2 * w, "relu": w + 1, "gelu": 3 * w}.get(kind, w)
    n_coef = {"add-bias": w, "scale": 1, "relu": 1, "gelu": 4}.get(kind, 0)
    return data, ceil_div(n_coef, lanes), 2 if n_coef and j > 1 else 1


def rowwise_layout(spec: DenseSpec, arch: DataflowArch, n_pe: int, chunk_max: int) -> DenseLayout:
    lanes = arch.pe.simd_lanes
    groups = SpmGeometry.of(arch).groups
    n = spec.n
    kind = spec.kind
    reduce_ = kind in ("softmax", "layernorm")
    cap, _ = rf_vectors(arch)

    def tags(w: int, chunked: bool) -> int:
        data, cvec, sets = _rowwise_demand(kind, w, n, chunked, lanes)
        return min(arch.pe.active_tags, (cap - sets * cvec) // data)

    chunked = False
    if not reduce_:
        w = _largest_divisor(n, chunk_max)
        phases: tuple[str, ...] = ("map",)
    else:
        if n < 2:
            raise SpecError(f"{kind}.n", n, "a row length >= 2")
        if n <= ROW_REDUCE_CHUNK and tags(n, False) >= 1:
            w, phases = n, ("row",)  # the whole row in registers: one pass
        else:
            # chunked: the widest divisor of n up to the policy cap that leaves REDUCE_MIN_TAGS tag slots,
            # else the widest that leaves one
            divs = [d for d in range(min(n // 2, ROW_REDUCE_CHUNK), 0, -1) if n % d == 0]
            fit = [d for d in divs if tags(d, True) >= REDUCE_MIN_TAGS] or [
                d for d in divs if tags(d, True) >= 1
            ]
            if not fit:
                data, cvec, sets = _rowwise_demand(kind, 1, n, True, lanes)
                raise SpecError(
                    "arch.pe.register_file.entries",
                    arch.pe.register_file.entries,
                    f"room for {spec.describe()}: {data + sets * cvec} vector registers per PE even with "
                    f"one-vector chunks, have {cap}",
                )
            w, chunked = fit[0], True
            phases = SOFTMAX_PHASES if kind == "softmax" else LAYERNORM_PHASES
    J = n // w
    data, cvec, _ = _rowwise_demand(kind, w, n, chunked, lanes)
    fields = {"x": 0}
    pos = n
    if kind in ("add", "mul"):
        fields["x2"] = pos
        pos += n
    if chunked:
        # in place (y over x: every pass that stores y has loaded what it overwrites), then the state
        fields["y"] = 0
        fields["s"] = pos
        pos += REDUCE_STATE_SLOTS
    else:
        fields["y"] = pos
        pos += n
    rec = pos + ((1 - pos) % groups)  # rec = 1 mod bank groups: PEs' records start in different groups
    return DenseLayout(
        kind="rowwise",
        rec=rec,
        unit_slots=n_pe * rec,
        unit_rows=n_pe * lanes,
        units_per_segment=ceil_div(spec.rows, n_pe * lanes),
        segments=1,
        fields=fields,
        w=w,
        n_cchunks=J,
        pass_index=tuple((j, ph) for ph in range(len(phases)) for j in range(J)),
        phases=phases,
        data_regs=data,
        coef_vectors=cvec,
    )


def rowwise_templates(
    spec: DenseSpec, arch: DataflowArch, coords: list[tuple[int, int]], layout: DenseLayout
) -> list[DenseTemplate]:
    n_pe = len(coords)
    lanes = arch.pe.simd_lanes
    groups = SpmGeometry.of(arch).groups
    n = spec.n
    kind = spec.kind
    w, J, rec, fields = layout.w, layout.n_cchunks, layout.rec, layout.fields
    n_coef = {"add-bias": w, "scale": 1, "relu": 1, "gelu": 4, "layernorm": 2 * n + 2}.get(kind, 0)
    sk = Skew.of(arch)
    templates = []
    for p, (j, ph) in enumerate(layout.pass_index):
        phase = layout.phases[ph]
        streams = []
        for e in range(n_pe):
            X = e * rec + fields["x"] + j * w
            Y = e * rec + fields["y"] + j * w
            X2 = e * rec + fields.get("x2", 0) + j * w
            s = PeStream(lanes)
            x = s.reg(w)
            for i in range(w):
                s.ld(x + i, X + i)
            if layout.chunked:
                S = e * rec + fields["s"]
                if kind == "softmax":
                    _softmax_chunk(s, phase, x, w, j, J, S, Y, sk)
                else:
                    _layernorm_chunk(s, phase, x, w, j, J, S, Y, sk)
                streams.append(s)
                continue
            if kind == "softmax":
                _softmax(s, x, w, sk)
            elif kind == "layernorm":
                _layernorm(s, x, w, sk)
            else:
                _elementwise(s, kind, x, w, X2, sk)
            for i in range(w):
                s.st(x + i, Y + i)
            streams.append(s)
        # chunked LayerNorm: the last stats pass reads 1 / n, eps; a normalise pass its chunk's gamma, beta
        chunk_coef = {"stats": 2 if j == J - 1 else 0, "normalise": 2 * w}.get(phase, 0)
        nc = chunk_coef if layout.chunked else n_coef
        name = f"{kind} {phase} chunk {j}" if layout.chunked else f"{kind} chunk {j}"
        templates.append(assemble(streams, DensePass(p, name, 1, 0), ceil_div(nc, lanes), n_pe, groups))
    assert max(t.data_regs for t in templates) == layout.data_regs, (layout.data_regs, kind, w)
    assert max(t.coef_vectors for t in templates) == layout.coef_vectors
    return templates


def _reduce(s: PeStream, o: int, regs: list[int], final: bool) -> int:
    """Reduce `regs` with opcode o (MAX / ADD) over `chains_for` chains (inputs kept); `final`: the
    result is stored (rounded to fp16). One register: itself, no instruction (it was loaded: fp16)."""
    if len(regs) == 1:
        return regs[0]
    r = chain(s, o, regs, [s.reg() for _ in range(chains_for(len(regs)))], final=False)
    if final:
        s.mark_final()
    return r


def _sumsq(s: PeStream, regs: list[int], final: bool, lag: int = 0) -> int:
    """sum of squares of `regs` (VMUL, ADD chains; each square `lag` elements ahead of its ADD, at most
    chains - 1 so that a temporary is read before it is reused); the register holding it."""
    w = len(regs)
    ch = chains_for(w)
    acc2 = s.reg(ch)
    tmp = s.reg(ch) if w > ch else -1

    def square(i: int) -> None:
        s.op(OP_VMUL, acc2 + i if i < ch else tmp + i % ch, regs[i], regs[i])

    def accumulate(i: int) -> None:
        if i >= ch:
            s.op(OP_ADD, acc2 + i % ch, acc2 + i % ch, tmp + i % ch)

    skewed(w, [(0, square), (max(0, min(lag, ch - 1)), accumulate)])
    out = tree(s, OP_ADD, list(range(acc2, acc2 + ch)))
    if final:
        s.mark_final()
    return out


def _softmax_chunk(s: PeStream, phase: str, x: int, w: int, j: int, J: int, S: int, Y: int, sk: Skew) -> None:
    """One pass of a chunked (online) softmax over chunk j (of J) of w vectors; state S+0 = running max m,
    S+1 = running sum of exp(x - m) (the last max-sum pass stores 1 / sum instead).
      max-sum  m' = max(m, MAX over the chunk);  s = s EXP(m - m') + sum EXP(x - m')  (last chunk: RECIP)
      scale    y = EXP(x - m) (1 / s)
    Two sweeps over x (one load per element each, one store), against three for max / exp-sum / scale with
    the exponentials stored. SUB, EXP and what consumes the EXP are software-pipelined (`Skew`)."""
    xs = list(range(x, x + w))
    if phase == "max-sum":
        m_old = s_old = -1
        if j > 0:
            m_old, s_old = s.reg(), s.reg()
            s.ld(m_old, S)
            s.ld(s_old, S + 1)
        m = _reduce(s, OP_MAX, xs, final=False)
        if j > 0 or m in xs:  # the running max in a register of its own (the x registers are overwritten)
            mn = s.reg()
            s.op(OP_MAX, mn, m, m_old if j > 0 else m, final=True)
            m = mn
        else:
            s.mark_final()
        stages = [
            (0, lambda i: s.op(OP_EXP, xs[i], xs[i], final=j == 0 and w == 1)),
            (-sk.lead, lambda i: s.op(OP_SUB, xs[i], xs[i], m)),
        ]
        t = xs[0]
        if w >= 2:
            acc = [s.reg() for _ in range(chains_for(w))]
            stages.append((sk.lag, chain_skewed(s, OP_ADD, xs, acc)))
        skewed(w, stages)
        if w >= 2:
            t = tree(s, OP_ADD, acc)
            if j == 0:
                s.mark_final()
        if j > 0:
            d = s.reg()
            s.op(OP_SUB, d, m_old, m)
            s.op(OP_EXP, d, d)
            s.op(OP_VMUL, s_old, s_old, d)
            s.op(OP_ADD, t, t, s_old, final=j < J - 1)
        if j == J - 1:
            s.op(OP_RECIP, t, t, final=True)
        s.st(m, S)
        s.st(t, S + 1)
    else:
        assert phase == "scale"
        m, r = s.reg(), s.reg()
        s.ld(m, S)
        s.ld(r, S + 1)
        skewed(
            w,
            [
                (0, lambda i: s.op(OP_EXP, xs[i], xs[i])),
                (-sk.lead, lambda i: s.op(OP_SUB, xs[i], xs[i], m)),
                (sk.lag, lambda i: s.op(OP_VMUL, xs[i], xs[i], r, final=True)),
            ],
        )
        for i, q in enumerate(xs):
            s.st(q, Y + i)


def _layernorm_chunk(
    s: PeStream, phase: str, x: int, w: int, j: int, J: int, S: int, Y: int, sk: Skew
) -> None:
    """One pass of a chunked LayerNorm over chunk j (of J); state S+0, S+1 = running sum, sum of squares
    (the last stats pass stores mean, rstd). Coefficient scalars: stats (last chunk) 1 / n, eps;
    normalise gamma[chunk], beta[chunk].
      stats      s1 += sum x, s2 += sum x^2; last: mean = s1 / n, rstd = RSQRT(s2 / n - mean^2 + eps)
      normalise  y = (x - mean) rstd gamma + beta"""
    xs = list(range(x, x + w))
    last = j == J - 1
    if phase == "stats":
        p1 = p2 = -1
        if j > 0:
            p1, p2 = s.reg(), s.reg()
            s.ld(p1, S)
            s.ld(p2, S + 1)
        t1 = _reduce(s, OP_ADD, xs, final=j == 0 and not last)
        t2 = _sumsq(s, xs, final=j == 0 and not last, lag=sk.sq_lag)
        if j > 0:
            s.op(OP_ADD, t1, t1, p1, final=not last)
            s.op(OP_ADD, t2, t2, p2, final=not last)
        if last:
            mean, msq = s.reg(), s.reg()
            s.op(OP_MUL, mean, t1, k=0, final=True)  # s1 / n (stored)
            s.op(OP_MUL, t2, t2, k=0)  # s2 / n
            s.op(OP_VMUL, msq, mean, mean)
            s.op(OP_SUB, t2, t2, msq)
            s.op(OP_ADDK, t2, t2, k=1)  # + eps
            s.op(OP_RSQRT, t2, t2, final=True)
            t1 = mean
        s.st(t1, S)
        s.st(t2, S + 1)
    else:
        assert phase == "normalise"
        mean, rstd = s.reg(), s.reg()
        s.ld(mean, S)
        s.ld(rstd, S + 1)
        for r in xs:
            s.op(OP_SUB, r, r, mean)
        for r in xs:
            s.op(OP_VMUL, r, r, rstd)
        for i, r in enumerate(xs):
            s.op(OP_MUL, r, r, k=i)
        for i, r in enumerate(xs):
            s.op(OP_ADDK, r, r, k=w + i, final=True)
        for i, r in enumerate(xs):
            s.st(r, Y + i)


def _softmax(s: PeStream, x: int, w: int, sk: Skew) -> None:
    """max (MAX chains), x - max (SUB), exp (EXP), sum (ADD chains; these three software-pipelined around
    the EXPs: `Skew`), 1 / sum (RECIP), scale (VMUL)."""
    if w < 2:
        raise SpecError("softmax.n", w, "a row length >= 2")
    ch = chains_for(w)
    xs = list(range(x, x + w))
    m = chain(s, OP_MAX, xs, [s.reg() for _ in range(ch)], final=False)
    acc = [s.reg() for _ in range(ch)]
    skewed(
        w,
        [
            (0, lambda i: s.op(OP_EXP, x + i, x + i)),
            (-sk.lead, lambda i: s.op(OP_SUB, x + i, x + i, m)),
            (sk.lag, chain_skewed(s, OP_ADD, xs, acc)),
        ],
    )
    tot = tree(s, OP_ADD, acc)
    s.op(OP_RECIP, tot, tot)
    for i in range(w):
        s.op(OP_VMUL, x + i, x + i, tot, final=True)


def _layernorm(s: PeStream, x: int, w: int, sk: Skew) -> None:
    """Coefficient scalars: gamma[0..n), beta[0..n), 1 / n, eps.  s1 = sum x, s2 = sum x^2 (ADD chains),
    mean = s1 / n, var = s2 / n - mean^2, rstd = RSQRT(var + eps), y = (x - mean) rstd gamma + beta."""
    n = w
    if w < 2:
        raise SpecError("layernorm.n", w, "a row length >= 2")
    ch = chains_for(w)
    s1 = chain(s, OP_ADD, list(range(x, x + w)), [s.reg() for _ in range(ch)], final=False)
    s2 = _sumsq(s, list(range(x, x + w)), final=False, lag=sk.sq_lag)
    mean, msq = s.reg(), s.reg()
    s.op(OP_MUL, mean, s1, k=2 * n)  # s1 / n
    s.op(OP_MUL, s2, s2, k=2 * n)  # s2 / n
    s.op(OP_VMUL, msq, mean, mean)
    s.op(OP_SUB, s2, s2, msq)
    s.op(OP_ADDK, s2, s2, k=2 * n + 1)  # + eps
    s.op(OP_RSQRT, s2, s2)
    for i in range(w):
        s.op(OP_SUB, x + i, x + i, mean)
    for i in range(w):
        s.op(OP_VMUL, x + i, x + i, s2)
    for i in range(w):
        s.op(OP_MUL, x + i, x + i, k=i)
    for i in range(w):
        s.op(OP_ADDK, x + i, x + i, k=n + i, final=True)


def _elementwise(s: PeStream, kind: str, x: int, w: int, x2_slot: int, sk: Skew) -> None:
    if kind in ("add", "mul"):
        x2 = s.reg(w)
        for i in range(w):
            s.ld(x2 + i, x2_slot + i)
        for i in range(w):
            s.op(OP_ADD if kind == "add" else OP_VMUL, x + i, x + i, x2 + i, final=True)
    elif kind == "add-bias":  # coefficient scalars: the chunk's biases
        for i in range(w):
            s.op(OP_ADDK, x + i, x + i, k=i, final=True)
    elif kind == "scale":  # coefficient scalar: the scale
        for i in range(w):
            s.op(OP_MUL, x + i, x + i, k=0, final=True)
    elif kind == "relu":  # coefficient scalar: 0
        z = s.reg()
        s.op(OP_MUL, z, x, k=0)
        for i in range(w):
            s.op(OP_MAX, x + i, x + i, z, final=True)
    else:
        assert kind == "gelu"  # coefficient scalars: c1 k, k, 1 / 2, 1
        a, b = s.reg(w), s.reg(w)
        for i in range(w):
            s.op(OP_VMUL, a + i, x + i, x + i)  # x^2
        for i in range(w):
            s.op(OP_MUL, a + i, a + i, k=0)  # c1 k x^2
        for i in range(w):
            s.op(OP_ADDK, a + i, a + i, k=1)  # + k
        for i in range(w):
            s.op(OP_VMUL, a + i, a + i, x + i)  # u = x (k + c1 k x^2)
        # software-pipelined around the TANHs (`Skew`)
        skewed(
            w,
            [
                (0, lambda i: s.op(OP_TANH, a + i, a + i)),
                (0, lambda i: s.op(OP_MUL, b + i, x + i, k=2)),  # x / 2
                (sk.lag, lambda i: s.op(OP_ADDK, a + i, a + i, k=3)),  # 1 + tanh u
                (sk.lag + sk.lead, lambda i: s.op(OP_VMUL, x + i, b + i, a + i, final=True)),
            ],
        )
