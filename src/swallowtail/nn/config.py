"""HybridConfig: the one description of a hybrid butterfly-sparsity network, and its named presets.

A hybrid network (FABNet, Fan et al., MICRO 2022) stacks `n_layers` post-LN encoder blocks. `attention_layers`
of them keep multi-head softmax attention -- ABfly blocks (butterfly Q/K/V/out projections, dense QK^T and
SV) or vanilla dense blocks -- and the rest replace attention by FNet's Fourier token mixing (FBfly blocks;
FNet: Lee-Thorp et al. 2021). `layout` says where the attention blocks sit. The presets reproduce BERT-base
shaped networks (dense Transformer, FNet, FABNet) and small networks for the Long Range Arena tasks (LRA:
Tay et al. 2021).

Token conventions shared with `swallowtail.tasks` (used by the token presets):
`PAD_ID` = 0 is padding (masked out of attention and of mean pooling when `pad_id` is set), `CLS_ID` = 1
is the classification token that the task puts at position 0 when `pooling = "cls"`, and byte / character
tokens are shifted by `N_SPECIAL_TOKENS` (byte b -> token b + 2). Pixel-token tasks (image, pathfinder)
have no padding and use the raw intensity 0..255 as the token (`pad_id = None`).

The config is frozen and validated on construction: every bad field raises `SpecError` naming the field.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swallowtail.errors import SpecError, check_choice, check_int, is_int, is_real
from swallowtail.yamlio import load_yaml, read_yaml_text

PAD_ID = 0
CLS_ID = 1
N_SPECIAL_TOKENS = 2
BYTE_VOCAB = 256 + N_SPECIAL_TOKENS  # byte-level text: 256 byte values + pad + cls
PIXEL_VOCAB = 256  # 8-bit grey levels

LAYOUTS = ("bottom", "top", "middle")
ATTENTION_KINDS = ("butterfly", "dense")
FFN_KINDS = ("butterfly", "monarch", "dense")
POOLINGS = ("cls", "mean")
#: pooled vectors the dual-tower head concatenates: [u, v, u*v, u-v] (LRA's "NLI" interaction)
DUAL_FEATURES = 4

# ---- physical ranges of a network (bounds of the tool, not of any design: past them a value is a typo, and
# counting, lowering or simulating the network takes hours or all the memory) -------------------------------
#: at most 1,024 blocks (the deepest published transformers have about a hundred)
MAX_LAYERS = 1024
#: widths (d_model, d_ff, heads, input_dim) of at most 2^18 (the widest published layers are about 2^16)
MAX_WIDTH = 2**18
#: positions, classes and vocabulary entries: at most 2^24
MAX_ENTRIES = 2**24
#: the largest value of each size field
MAX_SIZE = {
    "d_model": MAX_WIDTH,
    "n_heads": MAX_WIDTH,
    "d_ff": MAX_WIDTH,
    "n_layers": MAX_LAYERS,
    "max_len": MAX_ENTRIES,
    "n_classes": MAX_ENTRIES,
    "vocab_size": MAX_ENTRIES,
    "input_dim": MAX_WIDTH,
}


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise SpecError(name, value, "true or false")


@dataclass(frozen=True)
class HybridConfig:
    """Shape of a hybrid network. Exactly one of `vocab_size` (token input) or `input_dim` (continuous input).

    attention_layers: how many of the `n_layers` blocks keep softmax attention (0 = FNet, n_layers = all).
    layout: where they sit -- "bottom" (first blocks, next to the embedding), "top" (last blocks), "middle"
        (centred, rounded towards the bottom) or an explicit tuple of block indices.
    attention: "butterfly" = ABfly blocks (butterfly Q/K/V/out projections); "dense" = vanilla blocks.
    ffn: the FFN of every block: "butterfly" | "monarch" (ButterflyLinear kinds) | "dense" (nn.Linear).
    pooling: "cls" = the state at position 0 (the task puts CLS_ID there; no token is prepended) | "mean".
    dual_tower: retrieval -- two inputs through the same encoder, classified from [u, v, u*v, u-v].
    pad_id: token id masked out of attention keys and mean pooling; None = no padding mask.
    emulate_fp16: round every activation to float16 (see `swallowtail.nn.precision`).
    """

    d_model: int = 256
    n_heads: int = 4
    d_ff: int = 1024
    n_layers: int = 4
    max_len: int = 1024
    n_classes: int = 2
    vocab_size: int | None = None
    input_dim: int | None = None
    attention_layers: int = 1
    layout: str | tuple[int, ...] = "top"
    attention: str = "butterfly"
    ffn: str = "butterfly"
    pooling: str = "cls"
    dual_tower: bool = False
    pad_id: int | None = None
    dropout: float = 0.1  # BERT / LRA default
    emulate_fp16: bool = False
    layer_norm_eps: float = 1e-12  # BERT / FNet

    def __post_init__(self) -> None:
        for name in ("d_model", "n_heads", "d_ff", "n_layers", "max_len", "n_classes"):
            check_int(name, getattr(self, name), 1, MAX_SIZE[name])
        if self.vocab_size is not None:  # each value on its own first, then the pair
            check_int("vocab_size", self.vocab_size, 1, MAX_SIZE["vocab_size"])
        if self.input_dim is not None:
            check_int("input_dim", self.input_dim, 1, MAX_SIZE["input_dim"])
        if (self.vocab_size is None) == (self.input_dim is None):
            raise SpecError(
                "vocab_size",
                self.vocab_size,
                "exactly one of vocab_size (token input) and input_dim (continuous input) must be set"
                + ("; set vocab_size: null for continuous input" if self.input_dim is not None else ""),
                hint=f"input_dim = {self.input_dim!r}",
            )
        if self.d_model % self.n_heads:
            raise SpecError("n_heads", self.n_heads, f"a divisor of d_model = {self.d_model}")
        check_int("attention_layers", self.attention_layers, 0)
        if self.attention_layers > self.n_layers:
            raise SpecError(
                "attention_layers", self.attention_layers, f"an integer in 0..n_layers = 0..{self.n_layers}"
            )
        self._check_layout()
        check_choice("attention", self.attention, ATTENTION_KINDS)
        check_choice("ffn", self.ffn, FFN_KINDS)
        check_choice("pooling", self.pooling, POOLINGS)
        _check_bool("dual_tower", self.dual_tower)
        _check_bool("emulate_fp16", self.emulate_fp16)
        if self.pad_id is not None:
            if self.vocab_size is None:
                raise SpecError("pad_id", self.pad_id, "None for continuous input (input_dim)")
            check_int("pad_id", self.pad_id, 0)
            if self.pad_id >= self.vocab_size:
                raise SpecError(
                    "pad_id", self.pad_id, f"a token id in 0..vocab_size-1 = 0..{self.vocab_size - 1}"
                )
        if not (is_real(self.dropout) and 0 <= self.dropout < 1):
            raise SpecError("dropout", self.dropout, "a number in [0, 1)")
        if not (is_real(self.layer_norm_eps) and 0 < self.layer_norm_eps < math.inf):
            raise SpecError("layer_norm_eps", self.layer_norm_eps, "a positive finite number")

    def _check_layout(self) -> None:
        layout = self.layout
        if isinstance(layout, str):
            check_choice("layout", layout, LAYOUTS)
            return
        if not isinstance(layout, list | tuple):
            raise SpecError("layout", layout, f"one of {list(LAYOUTS)} or a list of block indices")
        for i in layout:
            if not is_int(i) or not 0 <= i < self.n_layers:
                raise SpecError("layout", layout, f"block indices are integers in 0..{self.n_layers - 1}")
        if len(set(layout)) != len(layout):
            raise SpecError("layout", layout, "distinct block indices")
        if len(layout) != self.attention_layers:
            raise SpecError(
                "layout", layout, f"{self.attention_layers} indices (its length must equal attention_layers)"
            )
        object.__setattr__(self, "layout", tuple(sorted(layout)))  # frozen: normalise list -> sorted tuple

    # ---- derived -------------------------------------------------------------------------------------------
    @property
    def head_size(self) -> int:
        return self.d_model // self.n_heads

    @property
    def token_input(self) -> bool:
        return self.vocab_size is not None

    @property
    def towers(self) -> int:
        """Inputs per example that go through the encoder: 2 for a dual tower, else 1."""
        return 2 if self.dual_tower else 1

    def attention_indices(self) -> tuple[int, ...]:
        """Indices of the blocks that keep softmax attention, ascending."""
        n, a = self.n_layers, self.attention_layers
        if isinstance(self.layout, tuple):
            return self.layout
        start = {"bottom": 0, "top": n - a, "middle": (n - a) // 2}[self.layout]
        return tuple(range(start, start + a))

    def block_kinds(self) -> list[str]:
        """Per block: "abfly" | "dense" (attention blocks, by `attention`) or "fbfly" (Fourier mixing)."""
        attn = set(self.attention_indices())
        attn_kind = "abfly" if self.attention == "butterfly" else "dense"
        return [attn_kind if i in attn else "fbfly" for i in range(self.n_layers)]

    # ---- (de)serialisation --------------------------------------------------------------------------------
    def replace(self, **changes: Any) -> HybridConfig:
        """A copy with `changes` applied (validated). Unknown names raise SpecError."""
        _check_keys(changes)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if isinstance(self.layout, tuple):
            d["layout"] = list(self.layout)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HybridConfig:
        if not isinstance(d, dict):
            raise SpecError("config", d, "a mapping of HybridConfig fields")
        _check_keys(d)
        return cls(**d)

    @classmethod
    def from_yaml(cls, path: str | Path) -> HybridConfig:
        """Read a YAML mapping of fields. An optional `preset: NAME` key starts from that preset and the
        other keys override it."""
        path = Path(path)
        if not path.is_file():
            what = "does not exist" if not path.exists() else "is a folder" if path.is_dir() else "is special"
            raise SpecError("config", str(path), f"an existing YAML file (this one {what})")
        data = load_yaml(read_yaml_text(path), source=str(path))
        if not isinstance(data, dict):
            raise SpecError(str(path), data, "a YAML mapping of HybridConfig fields")
        data = dict(data)
        base = data.pop("preset", None)
        _check_keys(data)  # before replace(**data): a key that is not a name (`1e9: x`) is a TypeError there
        if base is not None:
            return get_preset(base).replace(**data)
        return cls.from_dict(data)


def _check_keys(d: dict[str, Any]) -> None:
    known = [f.name for f in dataclasses.fields(HybridConfig)]
    for key in d:
        if key not in known:
            raise SpecError(key, d[key], f"not a HybridConfig field; fields are {known}")


# ---- presets ---------------------------------------------------------------------------------------------
#: BERT-base WordPiece vocabulary (Devlin et al. 2019), used by the BERT-shaped presets.
BERT_VOCAB = 30522
#: Assumption: the BERT-shaped presets take positions up to LRA's longest input (4K) so that every
#: evaluation length of the paper's attention workloads fits; BERT itself has 512 positions.
LONG_MAX_LEN = 4096
#: Assumption: FABNet's block counts are not given in the sources we have. We follow FNet's hybrid finding
#: (Lee-Thorp et al. 2021: replacing the *final two* Fourier sublayers by self-attention works best) --
#: two ABfly blocks at the top, the rest FBfly.
FABNET_ATTENTION_LAYERS = 2
FABNET_LAYOUT = "top"
#: ListOps tokens: pad, cls, digits 0-9, [MAX [MIN [MED [SM, ] = 17, and 3 spare ids (assumption: 20).
LISTOPS_VOCAB = 20

_BERT_BASE = dict(d_model=768, n_heads=12, d_ff=3072, n_layers=12, max_len=LONG_MAX_LEN)
_BERT_TOKENS = dict(vocab_size=BERT_VOCAB, pad_id=PAD_ID, n_classes=2)  # n_classes = 2: assumption
#: LRA base configs (Tay et al. 2021, google-research/long-range-arena): text 4 x 256 / 1024, 4 heads;
#: retrieval ("matching") 4 x 128 / 512, 4 heads; pathfinder32 d 128, 4 heads, mlp 128 (1 layer in LRA:
#: we use 2 so that the hybrid has one FBfly and one ABfly block -- assumption).
_LRA_TEXT = dict(n_layers=4, d_model=256, n_heads=4, d_ff=1024)
_LRA_MATCH = dict(n_layers=4, d_model=128, n_heads=4, d_ff=512)
_LRA_IMAGE = dict(n_layers=2, d_model=128, n_heads=4, d_ff=128)
#: LRA hybrids: one ABfly block at the top (FABNet keeps few ABfly blocks; assumption: one), butterfly FFN.
_LRA_HYBRID = dict(attention_layers=1, layout="top", attention="butterfly", ffn="butterfly")

_PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "transformer": (
        "BERT-base shaped dense Transformer: 12 x 768 / 3072, 12 heads, all attention",
        dict(**_BERT_BASE, **_BERT_TOKENS, attention_layers=12, attention="dense", ffn="dense"),
    ),
    "fnet": (
        "FNet-base (Lee-Thorp et al. 2021): 12 x 768 / 3072, Fourier mixing everywhere, dense FFN",
        dict(**_BERT_BASE, **_BERT_TOKENS, attention_layers=0, attention="dense", ffn="dense"),
    ),
    "fabnet-base": (
        "FABNet-base (Fan et al. 2022): 12 x 768 / 3072, butterfly FFN, 2 ABfly blocks at the top",
        dict(
            **_BERT_BASE,
            **_BERT_TOKENS,
            attention_layers=FABNET_ATTENTION_LAYERS,
            layout=FABNET_LAYOUT,
            attention="butterfly",
            ffn="butterfly",
        ),
    ),
    "fabnet-large": (
        "FABNet-large: 24 x 1024 / 4096, 16 heads, butterfly FFN, 2 ABfly blocks at the top",
        dict(
            d_model=1024,
            n_heads=16,
            d_ff=4096,
            n_layers=24,
            max_len=LONG_MAX_LEN,
            **_BERT_TOKENS,
            attention_layers=FABNET_ATTENTION_LAYERS,
            layout=FABNET_LAYOUT,
            attention="butterfly",
            ffn="butterfly",
        ),
    ),
    "lra-listops": (
        "LRA ListOps hybrid: 4 x 256 / 1024 (LRA text base size), 2K tokens, 10 classes",
        dict(**_LRA_TEXT, **_LRA_HYBRID, vocab_size=LISTOPS_VOCAB, pad_id=PAD_ID, max_len=2048, n_classes=10),
    ),
    "lra-text": (
        "LRA byte-level text classification hybrid: 4 x 256 / 1024, 4K bytes, 2 classes",
        dict(**_LRA_TEXT, **_LRA_HYBRID, vocab_size=BYTE_VOCAB, pad_id=PAD_ID, max_len=4096, n_classes=2),
    ),
    "lra-retrieval": (
        "LRA byte-level document retrieval: dual tower 4 x 128 / 512, 4K bytes per document, 2 classes",
        dict(
            **_LRA_MATCH,
            **_LRA_HYBRID,
            vocab_size=BYTE_VOCAB,
            pad_id=PAD_ID,
            max_len=4096,
            n_classes=2,
            dual_tower=True,
        ),
    ),
    "lra-image": (
        "LRA image (CIFAR-10 grey, 32 x 32 pixel tokens): 2 x 128 / 128, 1024 tokens, mean pool, 10 classes",
        # mean pooling (LRA's CIFAR config pools CLS): 1024 pixels fill max_len, no room for a CLS token
        dict(**_LRA_IMAGE, **_LRA_HYBRID, vocab_size=PIXEL_VOCAB, max_len=1024, n_classes=10, pooling="mean"),
    ),
    "lra-pathfinder": (
        "LRA Pathfinder-32 (pixel tokens): 2 x 128 / 128, 1024 tokens, mean pooling (as LRA), 2 classes",
        dict(**_LRA_IMAGE, **_LRA_HYBRID, vocab_size=PIXEL_VOCAB, max_len=1024, n_classes=2, pooling="mean"),
    ),
}


def list_presets() -> dict[str, str]:
    """Preset names and their one-line descriptions, in a fixed order."""
    return {name: desc for name, (desc, _) in _PRESETS.items()}


def get_preset(name: str) -> HybridConfig:
    """The HybridConfig of a named preset; SpecError listing the names for an unknown one."""
    check_choice("preset", name, _PRESETS)
    return HybridConfig(**_PRESETS[name][1])
