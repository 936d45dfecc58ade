"""Record the real-token counts of MLPerf Inference BERT's queries (tests/fixtures/squad_lengths/README.md).

Outside the package: it needs HuggingFace `tokenizers` (a scratch venv) and two files a user provides, SQuAD
v1.1's dev set and BERT's uncased WordPiece vocabulary. For every question of the dev set it builds the
features the MLPerf reference preprocessing builds (max_seq_len 384, doc_stride 128, max_query_len 64: the
context split at whitespace into words, each word cut into WordPieces, the document covered by windows of at
most 384 - query - 3 pieces that advance by 128) and counts each feature's real tokens: [CLS] + query + [SEP]
+ window + [SEP]. Prints a `length<TAB>count` histogram.

    python record.py dev-v1.1.json vocab.txt > squad-v1.1-dev-384.tsv
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys

from tokenizers import BertWordPieceTokenizer

MAX_SEQ_LEN = 384
DOC_STRIDE = 128
MAX_QUERY_LEN = 64
SPECIAL_TOKENS = 3  # [CLS], [SEP], [SEP]
#: the reference reader splits a context into words at these characters only (not all of str.isspace)
WORD_BREAK = re.compile("[ \t\r\n\u202f]+")


def window_lengths(doc_pieces: int, query_pieces: int) -> list[int]:
    """Lengths of the document windows of one feature set (the reference's sliding window)."""
    room = MAX_SEQ_LEN - query_pieces - SPECIAL_TOKENS
    spans, start = [], 0
    while start < doc_pieces:
        length = min(doc_pieces - start, room)
        spans.append(length)
        if start + length == doc_pieces:
            break
        start += min(length, DOC_STRIDE)
    return spans


def feature_lengths(squad: dict, tok: BertWordPieceTokenizer) -> list[int]:
    out = []
    for article in squad["data"]:
        for para in article["paragraphs"]:
            words = [w for w in WORD_BREAK.split(para["context"]) if w]
            pieces = sum(len(e.tokens) for e in tok.encode_batch(words, add_special_tokens=False))
            for qa in para["qas"]:
                q = len(tok.encode(qa["question"], add_special_tokens=False).tokens)
                q = min(q, MAX_QUERY_LEN)
                out += [q + SPECIAL_TOKENS + n for n in window_lengths(pieces, q)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("squad", help="SQuAD v1.1 dev-v1.1.json")
    ap.add_argument("vocab", help="BERT uncased vocab.txt")
    args = ap.parse_args()
    try:
        with open(args.squad, encoding="utf-8") as f:
            squad = json.load(f)
        tok = BertWordPieceTokenizer(args.vocab, lowercase=True)
    except Exception as exc:  # a missing file, bad JSON, or tokenizers' own error on a bad vocab
        sys.exit(f"record.py: cannot read {args.squad} / {args.vocab}: {exc}")
    counts = collections.Counter(feature_lengths(squad, tok))
    print("length\tcount")
    for n in sorted(counts):
        print(f"{n}\t{counts[n]}")


if __name__ == "__main__":
    main()
