"""Byte-level text tasks of LRA: `text` (IMDB sentiment) and `retrieval` (AAN citation matching).

Both read files a user already has; nothing is downloaded. Tokens are bytes + 1 (0 = pad, vocab 257), as
tfds' `ByteTextEncoder` that LRA uses with `tokenizer='char'`; sequences are truncated / right-padded to
`seq_len` (LRA: 4000 for text, 4000 per document for retrieval; the default here is 4096).

**text** (LRA `lra_benchmarks/text_classification/input_pipeline.py`): LRA loads `imdb_reviews` from tfds
and uses its test split for validation too ("IMDb doesn't have val set"). Accepted layouts of `data_dir`:
- the original IMDB archive (Maas et al., ACL 2011) unpacked: `[aclImdb/]{train,test}/{pos,neg}/*.txt`
  (neg = 0, pos = 1, as tfds' labels);
- `train.tsv` / `test.tsv` (tab-separated) or `train.csv` / `test.csv` (comma, CSV quoting) with a header
  naming a text column (`Source` or `text`) and a label column (`Target` or `label`); an optional
  `val.*` is used as validation, else the test split is (as LRA).

**retrieval** (LRA `lra_benchmarks/matching/input_pipeline.py`): `new_aan_pairs.train.tsv`,
`new_aan_pairs.eval.tsv` (validation), `new_aan_pairs.test.tsv`; no header; each line is
`label<TAB>id1<TAB>id2<TAB>text1<TAB>text2` with a float label (1.0 = the papers cite each other), no quote
handling (LRA: `use_quote_delim=False`). LRA cuts each text to its first 10,000 bytes before encoding.
Two towers: `inputs` (= `inputs1`) holds text1, `inputs2` text2.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch

from swallowtail.errors import SpecError, check_int
from swallowtail.tasks.base import Split, TaskData, TaskShape, count_lines, pad_rows, parse_label

BYTE_OFFSET = 1  # token = byte + 1 (tfds ByteTextEncoder reserves id 0 for padding)
VOCAB_SIZE = 256 + BYTE_OFFSET
DEFAULT_SEQ_LEN = 4096  # LRA uses 4000 (text and each retrieval document)
MAX_SEQ_LEN = 1 << 20
LRA_AAN_MAX_BYTES = 10_000  # LRA matching pipeline: encoder.encode(s.numpy()[:10000])
IMDB_LABELS = {"neg": 0, "pos": 1}  # tfds imdb_reviews ClassLabel(names=['neg', 'pos'])
TEXT_COLUMNS = ("Source", "text")
LABEL_COLUMNS = ("Target", "label")
AAN_PREFIX = "new_aan_pairs"
AAN_SPLIT_FILES = {"train": "train", "val": "eval", "test": "test"}  # split -> LRA file infix


# ---- text (IMDB) ------------------------------------------------------------------------------------------
def _read_acl_split(root: Path, split: str, limit: int | None = None) -> tuple[list[bytes], list[int]]:
    texts: list[bytes] = []
    labels: list[int] = []
    for f, label in _acl_files(root, split, limit):
        texts.append(f.read_bytes())
        labels.append(label)
    return texts, labels


def _read_table(path: Path, limit: int | None = None) -> tuple[list[bytes], list[int]]:
    """A TSV/CSV with a header naming a text column and a label column -> (UTF-8 texts, labels); at most
    `limit` rows (the first ones)."""
    delim = "\t" if path.suffix == ".tsv" else ","
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter=delim)
        try:
            return _table_rows(path, reader, limit)
        except (csv.Error, UnicodeDecodeError) as exc:  # a field over csv's limit, bytes that are not UTF-8
            raise ValueError(
                f"{path}: not a readable UTF-8 table after line {reader.line_num} ({exc})"
            ) from None


def _table_rows(path: Path, reader: Any, limit: int | None) -> tuple[list[bytes], list[int]]:
    header = next(reader, None) or []
    cols = [h.strip() for h in header]
    ti = next((cols.index(c) for c in TEXT_COLUMNS if c in cols), None)
    li = next((cols.index(c) for c in LABEL_COLUMNS if c in cols), None)
    if ti is None or li is None:
        need = f"a text column {TEXT_COLUMNS} and a label column {LABEL_COLUMNS}"
        raise ValueError(f"{path}: header {header!r} needs {need}")
    texts: list[bytes] = []
    labels: list[int] = []
    for lineno, rec in enumerate(reader, start=2):
        if limit is not None and len(texts) >= limit:
            break
        if not rec:
            continue
        if len(rec) <= max(ti, li):
            raise ValueError(f"{path}:{lineno}: {len(rec)} columns, header has {len(cols)}")
        texts.append(rec[ti].encode("utf-8"))
        labels.append(parse_label(rec[li], f"{path}:{lineno}"))
    return texts, labels


def _find_table(root: Path, split: str) -> Path | None:
    cands = [root / f"{split}{ext}" for ext in (".tsv", ".csv")]
    return next((c for c in cands if c.is_file()), None)


def _split(texts: list[bytes], labels: list[int], seq_len: int, n_classes: int, what: str) -> Split:
    if not texts:
        raise ValueError(f"{what}: no examples")
    bad = [y for y in labels if not 0 <= y < n_classes]
    if bad:
        raise ValueError(f"{what}: labels must be in [0, {n_classes}), got {bad[0]}")
    return Split(pad_rows(texts, seq_len, BYTE_OFFSET), torch.tensor(labels, dtype=torch.int64))


def _text_layout(data_dir: str | Path | None) -> tuple[str, Path]:
    """("acl", root) for aclImdb folders or ("tables", root) for train/test tables; SpecError otherwise."""
    if data_dir is None:
        raise SpecError("data_dir", None, "a directory of IMDB reviews (aclImdb/ or train/test .tsv/.csv)")
    root = Path(data_dir)
    if (root / "aclImdb").is_dir():
        root = root / "aclImdb"
    if (root / "train" / "pos").is_dir():
        return "acl", root
    if _find_table(root, "train") and _find_table(root, "test"):
        return "tables", root
    layouts = "aclImdb/{train,test}/{pos,neg}/*.txt or train/test .tsv/.csv"
    raise SpecError("data_dir", str(data_dir), f"a directory with {layouts}")


def _acl_files(root: Path, split: str, limit: int | None = None) -> list[tuple[Path, int]]:
    """(review file, label) of a split, neg then pos, each sorted by name; with `limit`, the first half of
    it from each label."""
    per_label = None if limit is None else -(-limit // len(IMDB_LABELS))
    out = []
    for name, label in IMDB_LABELS.items():
        files = sorted((root / split / name).glob("*.txt"))[:per_label]
        out += [(f, label) for f in files]
    return out


def _check_max(max_examples: int | None) -> int | None:
    return None if max_examples is None else check_int("max_examples", max_examples, 1)


def text_shape(
    *, data_dir: str | Path | None = None, seq_len: int = DEFAULT_SEQ_LEN, max_examples: int | None = None
) -> TaskShape:
    """What `load_text(...)` gives, known from the files' names, sizes and line counts (a table's rows are
    counted as lines: a quoted newline counts one more). The same SpecErrors as `load_text`."""
    seq_len = check_int("seq_len", seq_len, 1, MAX_SEQ_LEN)
    limit = _check_max(max_examples)
    kind, root = _text_layout(data_dir)
    if kind == "acl":
        files = {s: _acl_files(root, s, limit) for s in ("train", "test")}
        n = {s: len(fs) for s, fs in files.items()}
        size = sum(f.stat().st_size for fs in files.values() for f, _ in fs)
        return TaskShape("text", n["train"], n["test"], n["test"], seq_len, read_bytes=size)
    tables = {s: _find_table(root, s) for s in ("train", "val", "test")}
    rows = {s: count_lines(p, None if limit is None else limit + 1) for s, p in tables.items() if p}
    n = {s: max(0, lines - 1) for s, (lines, _) in rows.items()}  # minus the header
    size = sum(b for _, b in rows.values())
    return TaskShape("text", n["train"], n.get("val", n["test"]), n["test"], seq_len, read_bytes=size)


def load_text(
    *, data_dir: str | Path | None = None, seq_len: int = DEFAULT_SEQ_LEN, max_examples: int | None = None
) -> TaskData:
    """The LRA text task (IMDB, byte level) from `data_dir` (aclImdb folders or train/test TSV/CSV); with
    `max_examples`, at most that many per split (the first of each label folder, half each, or a table's
    first rows)."""
    seq_len = check_int("seq_len", seq_len, 1, MAX_SEQ_LEN)
    limit = _check_max(max_examples)
    kind, root = _text_layout(data_dir)
    if kind == "acl":
        parts = {s: _read_acl_split(root, s, limit) for s in ("train", "test")}
        parts["val"] = parts["test"]  # LRA: "use test set for validation because IMDb doesn't have val set"
        source = f"IMDB aclImdb folders at {root} (val = test, as LRA)"
    else:
        files = {s: _find_table(root, s) for s in ("train", "val", "test")}
        parts = {s: _read_table(p, limit) for s, p in files.items() if p is not None}
        if "val" not in parts:
            parts["val"] = parts["test"]
        source = f"IMDB tables {', '.join(p.name for p in files.values() if p)} at {root}"
        source += " (val = test, as LRA)" if files["val"] is None else ""
    if limit is not None:
        source += f", at most {limit:,} examples per split"
    n_cls = len(IMDB_LABELS)
    splits = {s: _split(*parts[s], seq_len, n_cls, f"{root} {s}") for s in ("train", "val", "test")}
    return TaskData(
        name="text",
        vocab_size=VOCAB_SIZE,
        n_classes=len(IMDB_LABELS),
        seq_len=seq_len,
        source=source + f", bytes + 1, seq_len {seq_len}",
        **splits,
    )


# ---- retrieval (AAN) --------------------------------------------------------------------------------------
def read_aan_tsv(path: str | Path, seq_len: int = DEFAULT_SEQ_LEN, limit: int | None = None) -> Split:
    """One LRA AAN pairs file (`label<TAB>id1<TAB>id2<TAB>text1<TAB>text2`, no header) -> two-tower Split;
    at most `limit` pairs (the first lines)."""
    path = Path(path)
    t1: list[bytes] = []
    t2: list[bytes] = []
    labels: list[int] = []
    with path.open("rb") as f:
        for lineno, line in enumerate(f, start=1):
            if limit is not None and lineno > limit:
                break
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            fields = line.split(b"\t")
            if len(fields) != 5:
                raise ValueError(
                    f"{path}:{lineno}: expected 5 tab-separated fields (label id1 id2 text1 text2), "
                    f"got {len(fields)}"
                )
            labels.append(parse_label(fields[0], f"{path}:{lineno}"))
            t1.append(fields[3][:LRA_AAN_MAX_BYTES])
            t2.append(fields[4][:LRA_AAN_MAX_BYTES])
    if not labels:
        raise ValueError(f"{path}: no examples")
    if any(y not in (0, 1) for y in labels):
        raise ValueError(f"{path}: labels must be 0 or 1")
    return Split(
        pad_rows(t1, seq_len, BYTE_OFFSET),
        torch.tensor(labels, dtype=torch.int64),
        inputs2=pad_rows(t2, seq_len, BYTE_OFFSET),
    )


def _aan_paths(data_dir: str | Path | None, prefix: str) -> dict[str, Path]:
    if data_dir is None:
        raise SpecError("data_dir", None, f"a directory with {prefix}.{{train,eval,test}}.tsv (LRA AAN)")
    root = Path(data_dir)
    paths = {s: root / f"{prefix}.{infix}.tsv" for s, infix in AAN_SPLIT_FILES.items()}
    missing = [p.name for p in paths.values() if not p.is_file()]
    if missing:
        raise SpecError("data_dir", str(data_dir), f"a directory with the LRA AAN files; missing {missing}")
    return paths


def retrieval_shape(
    *,
    data_dir: str | Path | None = None,
    seq_len: int = DEFAULT_SEQ_LEN,
    prefix: str = AAN_PREFIX,
    max_examples: int | None = None,
) -> TaskShape:
    """What `load_retrieval(...)` gives, known from the files' line counts and sizes (two towers). The same
    SpecErrors as `load_retrieval`."""
    seq_len = check_int("seq_len", seq_len, 1, MAX_SEQ_LEN)
    limit = _check_max(max_examples)
    paths = _aan_paths(data_dir, prefix)
    rows = {s: count_lines(p, limit) for s, p in paths.items()}
    n = {s: lines for s, (lines, _) in rows.items()}
    size = sum(b for _, b in rows.values())
    return TaskShape("retrieval", n["train"], n["val"], n["test"], seq_len, towers=2, read_bytes=size)


def load_retrieval(
    *,
    data_dir: str | Path | None = None,
    seq_len: int = DEFAULT_SEQ_LEN,
    prefix: str = AAN_PREFIX,
    max_examples: int | None = None,
) -> TaskData:
    """The LRA retrieval task (AAN, bytes, two towers) from `{prefix}.{train,eval,test}.tsv` in data_dir;
    with `max_examples`, at most that many pairs per split (each file's first lines)."""
    seq_len = check_int("seq_len", seq_len, 1, MAX_SEQ_LEN)
    limit = _check_max(max_examples)
    paths = _aan_paths(data_dir, prefix)
    splits = {s: read_aan_tsv(p, seq_len, limit) for s, p in paths.items()}
    most = "" if limit is None else f", at most {limit:,} pairs per split"
    return TaskData(
        name="retrieval",
        vocab_size=VOCAB_SIZE,
        n_classes=2,
        seq_len=seq_len,
        source=f"LRA AAN pairs {prefix}.{{train,eval,test}}.tsv at {paths['train'].parent}, bytes + 1, "
        f"seq_len {seq_len}{most}",
        **splits,
    )
