"""ListOps: nested MAX / MIN / MED / SM expressions over digits, 10-way classification of their value.

Algorithm: the Long Range Arena generator (Tay et al., ICLR 2021, `lra_benchmarks/data/listops.py`),
itself the long-sequence variant of ListOps (Nangia & Bowman, NAACL-SRW 2018). A tree is drawn
recursively from depth 1: below `max_depth` a node is an operator with probability 0.25 (else a digit
0-9); an operator takes 2-`max_args` arguments, each again such a node; at `max_depth` every node is a
digit. The token length of a tree (operators, digits and closing brackets) must be within
[min_len, max_len]; trees outside are rejected; duplicates are dropped. MED is the floor of the median of
the arguments (LRA: `int(np.median(args))`), SM the sum mod 10.

Speed: instead of LRA's recursive Python (one tree at a time), whole batches of trees are drawn level by
level with numpy -- every node of one depth of thousands of trees at once -- which is the same distribution
(each node's draws are independent of its siblings' subtrees). A tree whose token count already exceeds
`max_len` (tokens so far + at least one per pending argument) is pruned at once: it would be rejected
anyway, and pruning keeps the cost of the heavy tail of huge trees down. Serialisation (token order) and
evaluation run bottom-up / top-down over the levels with segment reductions.

Tokens: LRA's `to_string` writes `( ( ( [MAX 2 ) 9 ) ] )`; the tokenizer here drops the parentheses and
keeps `[MAX`, `[MIN`, `[MED`, `[SM`, digits and `]` (as S4-style PyTorch LRA pipelines do; LRA's own tfds
`Tokenizer` keeps only alphanumerics, so it also drops `]`). Token count = LRA's `length`.
Ids: 0 pad, digits 1-10, `[MIN` 11, `[MAX` 12, `[MED` 13, `[SM` 14, `]` 15.

Bounds: LRA keeps `min_length < length < max_length` (strict); here `min_len <= length <= max_len`.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import swallowtail.tasks.cache as _cache
from swallowtail.errors import SpecError, check_int
from swallowtail.tasks.base import (
    MAX_EXAMPLES,
    Split,
    TaskData,
    TaskShape,
    count_lines,
    pad_rows,
    parse_label,
    split_rows,
)

# ---- constants of the LRA generator (lra_benchmarks/data/listops.py flags and globals) --------------------
LRA_LISTOPS_MAX_DEPTH = 10  # LRA listops generator, flag max_depth
LRA_LISTOPS_MAX_ARGS = 10  # LRA listops generator, flag max_args
LRA_LISTOPS_MIN_ARGS = 2  # LRA listops generator: random.randint(2, max_args)
LRA_LISTOPS_MIN_LENGTH = 500  # LRA listops generator, flag min_length
LRA_LISTOPS_MAX_LENGTH = 2000  # LRA listops generator, flag max_length (also the model's max_length)
#: tokens of the shortest expression, `[OP a b ]`
SHORTEST_EXPRESSION = 4
LRA_LISTOPS_VALUE_P = 0.25  # LRA listops generator, VALUE_P: a node is an operator iff random() <= 0.25
LRA_LISTOPS_N_TRAIN = 96_000  # LRA listops generator, flag num_train_samples
LRA_LISTOPS_N_VAL = 2_000  # LRA listops generator, flag num_valid_samples
LRA_LISTOPS_N_TEST = 2_000  # LRA listops generator, flag num_test_samples
LRA_LISTOPS_N_CLASSES = 10  # values are digits 0-9

#: operators in LRA's order (OPERATORS = [MIN, MAX, MED, SUM_MOD]); op code = index
OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
OP_MIN, OP_MAX, OP_MED, OP_SM = range(4)
END = "]"
#: token strings by id (id 0 is pad)
VOCAB = ("<pad>", *(str(d) for d in range(10)), *OPERATORS, END)
TOKEN_ID = {tok: i for i, tok in enumerate(VOCAB)}
DIGIT_BASE = TOKEN_ID["0"]  # id of digit d is DIGIT_BASE + d
OP_BASE = TOKEN_ID[OPERATORS[0]]  # id of operator k is OP_BASE + k
END_ID = TOKEN_ID[END]
VOCAB_SIZE = len(VOCAB)

#: bump when the generator's output for given parameters changes (part of the cache key)
GENERATOR_VERSION = "listops-1"
#: trees drawn per vectorised batch (a speed knob only; part of the cache key because it fixes the stream)
TREES_PER_BATCH = 8192


# ---- reference tokenizer and evaluator (one expression at a time) ------------------------------------------
def tokenize(expr: str | Sequence[str]) -> list[str]:
    """LRA source string (or token list) -> token strings, parentheses dropped."""
    toks = expr.split() if isinstance(expr, str) else list(expr)
    out = [t for t in toks if t not in ("(", ")")]
    for t in out:
        if t not in TOKEN_ID or t == VOCAB[0]:
            raise ValueError(f"unknown ListOps token {t!r}; allowed: {VOCAB[1:]}")
    return out


def encode(expr: str | Sequence[str]) -> list[int]:
    """LRA source string (or token list) -> token ids (no padding)."""
    return [TOKEN_ID[t] for t in tokenize(expr)]


def decode(ids: Sequence[int] | torch.Tensor | np.ndarray) -> list[str]:
    """Token ids -> token strings, padding dropped."""
    return [VOCAB[int(i)] for i in ids if int(i) != 0]


def _median_floor(args: list[int]) -> int:
    s = sorted(args)
    n = len(s)
    return (s[(n - 1) // 2] + s[n // 2]) // 2  # floor of the median (LRA: int(np.median(args)), args >= 0)


def evaluate(expr: str | Sequence[str]) -> int:
    """Value of a ListOps expression (LRA string with or without parentheses, or token list). Stack-based."""
    stack: list[list] = []  # each frame: [op, args...]
    result: int | None = None
    for t in tokenize(expr):
        if t in OPERATORS:
            stack.append([t])
            continue
        if t == END:
            if not stack or len(stack[-1]) < 2:
                raise ValueError("']' without an open operator with arguments")
            op, *args = stack.pop()
            if op == "[MIN":
                v = min(args)
            elif op == "[MAX":
                v = max(args)
            elif op == "[MED":
                v = _median_floor(args)
            else:
                v = sum(args) % 10
        else:
            v = int(t)
        if stack:
            stack[-1].append(v)
        elif result is None:
            result = v
        else:
            raise ValueError("more than one top-level expression")
    if stack or result is None:
        raise ValueError("unbalanced ListOps expression")
    return result


def to_lra_source(expr: str | Sequence[str]) -> str:
    """Tokens -> LRA's `to_string` form with its left-nested parentheses, e.g. `( ( ( [MAX 2 ) 9 ) ] )`."""
    toks = tokenize(expr)
    pos = 0

    def node() -> str:
        nonlocal pos
        t = toks[pos]
        pos += 1
        if t not in OPERATORS:
            return t
        args = []
        while toks[pos] != END:
            args.append(node())
        pos += 1  # the END
        # LRA: t = (op, v1); t = (t, v_i) ...; t = (t, END); to_string(pair) = '( ' + a + ' ' + b + ' )'
        s = "( " * (len(args) + 1) + t + " " + args[0] + " )"
        for a in args[1:]:
            s += " " + a + " )"
        return s + " " + END + " )"

    out = node()
    if pos != len(toks):
        raise ValueError("trailing tokens after the expression")
    return out


# ---- vectorised generator ---------------------------------------------------------------------------------
@dataclass
class _Level:
    tree: np.ndarray  # (n,) which tree each node belongs to
    parent: np.ndarray  # (n,) index of the parent in the previous level (-1 at depth 1)
    is_op: np.ndarray  # (n,) bool
    nargs: np.ndarray  # (n,) number of arguments (0 for digits)
    sym: np.ndarray  # (n,) digit 0-9, or operator code 0-3


def _draw_levels(
    rng: np.random.Generator, n_trees: int, max_depth: int, max_args: int, max_len: int
) -> tuple[list[_Level], np.ndarray, np.ndarray]:
    """Draw `n_trees` LRA trees level by level. Returns levels, token counts, and which trees are complete."""
    tree = np.arange(n_trees)
    parent = np.full(n_trees, -1)
    count = np.zeros(n_trees, dtype=np.int64)
    alive = np.ones(n_trees, dtype=bool)
    levels: list[_Level] = []
    for depth in range(1, max_depth + 1):
        n = tree.size
        # LRA: below max_depth an operator iff random() <= VALUE_P; at max_depth r = 1, always a value
        is_op = rng.random(n) <= LRA_LISTOPS_VALUE_P if depth < max_depth else np.zeros(n, dtype=bool)
        nargs = np.where(is_op, rng.integers(LRA_LISTOPS_MIN_ARGS, max_args + 1, n), 0)
        sym = np.where(is_op, rng.integers(0, len(OPERATORS), n), rng.integers(0, 10, n))
        levels.append(_Level(tree, parent, is_op, nargs, sym))
        count += np.bincount(tree, weights=1 + is_op, minlength=n_trees).astype(np.int64)  # op: op + END
        pending = np.bincount(tree, weights=nargs, minlength=n_trees).astype(np.int64)  # >= 1 token each
        alive &= count + pending <= max_len
        expand = np.flatnonzero(is_op & alive[tree])
        if expand.size == 0:
            break
        parent = np.repeat(expand, nargs[expand])  # children contiguous and in parent order
        tree = tree[parent]
    return levels, count, alive


def _serialise(levels: list[_Level], keep_tree: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (n_kept, max_len) int8 and values (n_kept,) of the kept trees, from their levels."""
    n_out = int(keep_tree.sum())
    new_tree = np.cumsum(keep_tree) - 1
    # compact: drop the nodes of trees not kept; remap parents
    comp: list[_Level] = []
    prev_map: np.ndarray | None = None
    for lv in levels:
        keep = keep_tree[lv.tree]
        idx_map = np.cumsum(keep) - 1
        parent = prev_map[lv.parent[keep]] if prev_map is not None else np.full(int(keep.sum()), -1)
        comp.append(_Level(new_tree[lv.tree[keep]], parent, lv.is_op[keep], lv.nargs[keep], lv.sym[keep]))
        prev_map = idx_map
    while comp and comp[-1].tree.size == 0:
        comp.pop()

    # bottom-up: subtree token sizes and values
    sizes: list[np.ndarray] = [np.empty(0, np.int64)] * len(comp)
    values: list[np.ndarray] = [np.empty(0, np.int64)] * len(comp)
    groups: list[tuple[np.ndarray, np.ndarray]] = [(np.empty(0, np.int64), np.empty(0, np.int64))] * len(comp)
    for d in range(len(comp) - 1, -1, -1):
        lv = comp[d]
        size = np.where(lv.is_op, 2, 1).astype(np.int64)
        val = np.where(lv.is_op, 0, lv.sym).astype(np.int64)
        if d + 1 < len(comp):
            p, vch, sch = comp[d + 1].parent, values[d + 1], sizes[d + 1]
            first = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])  # first child of each operator
            cnt = np.diff(np.r_[first, p.size])
            ops = p[first]  # the operators of this level, in order
            size[ops] += np.add.reduceat(sch, first)
            vs = vch[np.lexsort((vch, p))]  # children values sorted within each operator
            med = (vs[first + (cnt - 1) // 2] + vs[first + cnt // 2]) // 2
            kind = lv.sym[ops]
            val[ops] = np.select(
                [kind == OP_MIN, kind == OP_MAX, kind == OP_MED],
                [np.minimum.reduceat(vch, first), np.maximum.reduceat(vch, first), med],
                np.add.reduceat(vch, first) % 10,  # OP_SM
            )
            groups[d + 1] = (first, cnt)
        sizes[d], values[d] = size, val

    # top-down: start position of every node in its tree's token sequence
    tokens = np.zeros((n_out, max_len), dtype=np.int8)
    start = np.zeros(comp[0].tree.size, dtype=np.int64)
    starts_prev = start
    for d, lv in enumerate(comp):
        if d > 0:
            p, sch = lv.parent, sizes[d]
            first, cnt = groups[d]
            excl = np.cumsum(sch) - sch  # exclusive prefix sum over the whole level
            base = np.repeat(excl[first], cnt)  # ... made relative to each sibling group
            start = starts_prev[p] + 1 + (excl - base)
        tok = np.where(lv.is_op, OP_BASE + lv.sym, DIGIT_BASE + lv.sym)
        tokens[lv.tree, start] = tok
        op = lv.is_op
        tokens[lv.tree[op], start[op] + sizes[d][op] - 1] = END_ID
        starts_prev = start
    return tokens, values[0]


def generate(
    n: int,
    *,
    min_len: int = LRA_LISTOPS_MIN_LENGTH,
    max_len: int = LRA_LISTOPS_MAX_LENGTH,
    max_depth: int = LRA_LISTOPS_MAX_DEPTH,
    max_args: int = LRA_LISTOPS_MAX_ARGS,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`n` distinct ListOps expressions with min_len <= tokens <= max_len.

    Returns (tokens (n, max_len) int64 with 0 pad, labels (n,) int64, lengths (n,) int64).
    """
    check_int("n", n, 1)
    check_int("min_len", min_len, 1)
    check_int("max_len", max_len, max(min_len, SHORTEST_EXPRESSION))
    check_int("max_depth", max_depth, 2, 64)
    check_int("max_args", max_args, LRA_LISTOPS_MIN_ARGS)
    rng = np.random.default_rng(seed)
    seen: set[bytes] = set()
    toks_out: list[np.ndarray] = []
    vals_out: list[np.ndarray] = []
    lens_out: list[np.ndarray] = []
    total = 0
    draws = 0
    while total < n:
        levels, count, complete = _draw_levels(rng, TREES_PER_BATCH, max_depth, max_args, max_len)
        draws += 1
        ok = complete & (count >= min_len) & (count <= max_len)
        if ok.any():
            toks, vals = _serialise(levels, ok, max_len)
            lens = count[ok]
            fresh = np.zeros(len(vals), dtype=bool)
            for i in range(len(vals)):
                key = hashlib.blake2b(toks[i, : lens[i]].tobytes(), digest_size=16).digest()
                if key not in seen:
                    seen.add(key)
                    fresh[i] = True
            take = np.flatnonzero(fresh)[: n - total]
            toks_out.append(toks[take])
            vals_out.append(vals[take])
            lens_out.append(lens[take])
            total += take.size
        if draws > 10_000 and total == 0:
            raise SpecError(
                "min_len", min_len, f"a length that LRA trees reach (none in {draws * TREES_PER_BATCH} draws)"
            )
    tokens = torch.from_numpy(np.concatenate(toks_out).astype(np.int64))
    labels = torch.from_numpy(np.concatenate(vals_out).astype(np.int64))
    lengths = torch.from_numpy(np.concatenate(lens_out).astype(np.int64))
    return tokens, labels, lengths


# ---- LRA TSV files ----------------------------------------------------------------------------------------
#: split file names of the LRA release (lra_release/listops-1000/basic_{train,val,test}.tsv)
LRA_LISTOPS_FILES = {"train": "{prefix}_train.tsv", "val": "{prefix}_val.tsv", "test": "{prefix}_test.tsv"}


def read_tsv(path: str | Path, seq_len: int = LRA_LISTOPS_MAX_LENGTH) -> Split:
    """One LRA ListOps TSV (header `Source<TAB>Target`) -> Split; sequences truncated to `seq_len`."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        try:
            rows, labels = _tsv_rows(path, reader)
        except (csv.Error, UnicodeDecodeError) as exc:  # a field over csv's limit, bytes that are not UTF-8
            raise ValueError(
                f"{path}: not a readable UTF-8 TSV after line {reader.line_num} ({exc})"
            ) from None
    if any(not 0 <= y < LRA_LISTOPS_N_CLASSES for y in labels):
        raise ValueError(f"{path}: labels must be digits 0-9")
    return Split(pad_rows(rows, seq_len), torch.tensor(labels, dtype=torch.int64))


def _tsv_rows(path: Path, reader: Any) -> tuple[list[list[int]], list[int]]:
    header = next(reader, None)
    if header is None or [h.strip() for h in header[:2]] != ["Source", "Target"]:
        raise ValueError(f"{path}: expected a header 'Source<TAB>Target', got {header!r}")
    rows: list[list[int]] = []
    labels: list[int] = []
    for lineno, rec in enumerate(reader, start=2):
        if not rec:
            continue
        if len(rec) < 2:
            raise ValueError(f"{path}:{lineno}: expected 2 tab-separated columns, got {len(rec)}")
        labels.append(parse_label(rec[1], f"{path}:{lineno}"))
        try:
            rows.append(encode(rec[0]))
        except ValueError as e:
            raise ValueError(f"{path}:{lineno}: {e}") from None
    return rows, labels


def _split_token(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _default_min_len(max_len: int) -> int:
    """LRA's 500 tokens, or, for a shorter `max_len`, LRA's ratio min_length / max_length = 500 / 2000 of it
    (at least the 4 tokens of the shortest expression): `max_len=256` alone asks for something possible."""
    if max_len >= LRA_LISTOPS_MAX_LENGTH:
        return LRA_LISTOPS_MIN_LENGTH
    return max(SHORTEST_EXPRESSION, max_len * LRA_LISTOPS_MIN_LENGTH // LRA_LISTOPS_MAX_LENGTH)


def _prefix(data_dir: str | Path | None, prefix: str | None) -> str:
    """The TSV files' prefix (LRA's "basic" unless given); SpecError when given with no data_dir to read."""
    if prefix is not None and data_dir is None:
        raise SpecError("prefix", prefix, "only together with data_dir (the name of the TSV files read)")
    return "basic" if prefix is None else prefix


def _read_paths(data_dir: str | Path, prefix: str, gen_params: dict[str, object]) -> dict[str, Path]:
    """The three TSVs of `data_dir` (SpecError: a generator parameter given too, or a file missing)."""
    given = [k for k, v in gen_params.items() if v is not None]
    if given:
        raise SpecError(given[0], gen_params[given[0]], "not allowed with data_dir (files are read)")
    root = Path(data_dir)
    paths = {s: root / pat.format(prefix=_split_token(prefix)) for s, pat in LRA_LISTOPS_FILES.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise SpecError("data_dir", str(data_dir), f"a directory of LRA ListOps TSVs; missing {missing}")
    return paths


def _generator_params(max_len: int, **given: int | None) -> dict[str, int]:
    """The generator's parameters, checked: LRA's where not given (min_len: see `_default_min_len`)."""
    p = {
        "n_train": check_int("n_train", _given(given["n_train"], LRA_LISTOPS_N_TRAIN), 1, MAX_EXAMPLES),
        "n_val": check_int("n_val", _given(given["n_val"], LRA_LISTOPS_N_VAL), 0, MAX_EXAMPLES),
        "n_test": check_int("n_test", _given(given["n_test"], LRA_LISTOPS_N_TEST), 0, MAX_EXAMPLES),
        "min_len": check_int("min_len", _given(given["min_len"], _default_min_len(max_len)), 1),
        "max_len": max_len,
        "max_depth": _given(given["max_depth"], LRA_LISTOPS_MAX_DEPTH),
        "max_args": _given(given["max_args"], LRA_LISTOPS_MAX_ARGS),
        "seed": check_int("seed", _given(given["seed"], 0), 0),
    }
    if p["min_len"] > max_len:
        raise SpecError("min_len", p["min_len"], f"<= max_len ({max_len})")
    return p


def _given(value: int | None, default: int) -> int:
    return default if value is None else value


def _cache_version() -> str:
    return f"{GENERATOR_VERSION}/{TREES_PER_BATCH}"


def shape(
    *,
    data_dir: str | Path | None = None,
    prefix: str | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    min_len: int | None = None,
    max_len: int = LRA_LISTOPS_MAX_LENGTH,
    max_depth: int | None = None,
    max_args: int | None = None,
    seed: int | None = None,
    cache: bool = True,
) -> TaskShape:
    """What `load(...)` with these parameters gives, known without loading: split sizes (TSV rows counted),
    length, and whether it is generated (and already cached). The same SpecErrors as `load`."""
    max_len = check_int("max_len", max_len, 1)
    prefix = _prefix(data_dir, prefix)
    gen = {"n_train": n_train, "n_val": n_val, "n_test": n_test, "min_len": min_len}
    gen |= {"max_depth": max_depth, "max_args": max_args, "seed": seed}
    if data_dir is not None:
        paths = _read_paths(data_dir, prefix, gen)
        n = {s: max(0, count_lines(p)[0] - 1) for s, p in paths.items()}  # minus the header
        size = sum(p.stat().st_size for p in paths.values())
        return TaskShape("listops", n["train"], n["val"], n["test"], max_len, read_bytes=size)
    p = _generator_params(max_len, **gen)
    cached = cache and _cache.cache_path("listops", _cache_version(), p).is_file()
    return TaskShape(
        "listops", p["n_train"], p["n_val"], p["n_test"], max_len, generator="listops", cached=cached
    )


def load(
    *,
    data_dir: str | Path | None = None,
    prefix: str | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    min_len: int | None = None,
    max_len: int = LRA_LISTOPS_MAX_LENGTH,
    max_depth: int | None = None,
    max_args: int | None = None,
    seed: int | None = None,
    cache: bool = True,
) -> TaskData:
    """The ListOps task: read LRA TSVs from `data_dir` if given, else generate (LRA defaults; cached).

    `max_len` is the sequence length either way (LRA pads/truncates to 2000); `min_len` defaults to LRA's 500,
    or to a quarter of a shorter `max_len` (LRA's ratio). Generator parameters
    (n_train, n_val, n_test, min_len, max_depth, max_args, seed) cannot be combined with `data_dir`.
    """
    max_len = check_int("max_len", max_len, 1)
    prefix = _prefix(data_dir, prefix)
    gen = {"n_train": n_train, "n_val": n_val, "n_test": n_test, "min_len": min_len}
    gen |= {"max_depth": max_depth, "max_args": max_args, "seed": seed}
    if data_dir is not None:
        paths = _read_paths(data_dir, prefix, gen)
        splits = {s: read_tsv(p, max_len) for s, p in paths.items()}
        return TaskData(
            name="listops",
            vocab_size=VOCAB_SIZE,
            n_classes=LRA_LISTOPS_N_CLASSES,
            seq_len=max_len,
            source=f"LRA ListOps TSV files {prefix}_{{train,val,test}}.tsv at {Path(data_dir)}",
            **splits,
        )
    p = _generator_params(max_len, **gen)
    return _cache.cached("listops", _cache_version(), p, lambda: _build(p), use_cache=cache)


def _build(p: dict[str, int]) -> TaskData:
    """Generate the task of the checked parameters `p` (`_generator_params`)."""
    n = p["n_train"] + p["n_val"] + p["n_test"]
    max_len = p["max_len"]
    toks, labels, _ = generate(
        n,
        min_len=p["min_len"],
        max_len=max_len,
        max_depth=p["max_depth"],
        max_args=p["max_args"],
        seed=p["seed"],
    )
    return TaskData(
        name="listops",
        **split_rows(toks, labels, p["n_train"], p["n_val"]),
        vocab_size=VOCAB_SIZE,
        n_classes=LRA_LISTOPS_N_CLASSES,
        seq_len=max_len,
        source=(
            f"generated ListOps (seed={p['seed']}, lengths {p['min_len']}-{max_len}, "
            f"max_depth={p['max_depth']}, max_args={p['max_args']}, LRA algorithm)"
        ),
    )
