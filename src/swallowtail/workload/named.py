"""Named workloads: networks that are not a `HybridConfig` preset, found by name beside the presets.

    lower("resnet-50", 224)          # the registry is consulted by lower() and by every CLI --model
    named_workload("bert-large", seq_len=384, batch=1, dtype="int8")

| name | what | `seq_len` means | default |
|---|---|---|---|
| `bert-large` | BERT-Large (Devlin et al. 2019), 24 x 1024 / 4096, 16 heads | tokens per sequence | 384 |
| `resnet-18`, `-34`, `-50`, `-101`, `-152` | torchvision ResNets v1.5 (`workload.cnn`) | image side | 224 |
| `vgg-11`, `-13`, `-16`, `-19` (+ `-bn`) | torchvision VGGs (+ BatchNorm) | image side | 224 |
| `llama-7b`, `llama-small` (+ `-monarch`, `-swa`, `-fft`) | Llama decoders, prefill | prompt tokens | 2048 |
| `<llama name>@decode`, `@decode<N>` | decode of 32 (N) tokens, KV cache | prompt in the cache | 2048 |

A decode name is a variant's name + `@decode` (32 new tokens) or `@decode<N>` (N, any N >= 1: resolved by
`get_named_workload`, not listed in `NAMED_WORKLOADS`); variants with chunked-FFT mixing have no decode.

The rule for an image network: `seq_len` is its input size (an image of seq_len x seq_len pixels), the one
size a CLI `--seq-len` gives; each entry says what its `seq_len` means and its default (`default_seq_len`:
what a CLI uses when --seq-len is not given). A builder is `builder(seq_len=..., batch=..., dtype=...)`.
Names must differ from the HybridConfig presets (`swallowtail.nn.config`): a name means one network.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from swallowtail.errors import SpecError
from swallowtail.nn.config import get_preset
from swallowtail.workload.cnn import (
    DEFAULT_IMAGE_SIZE,
    RESNET_LAYERS,
    TORCHVISION_GMACS,
    VGG_CONFIGS,
    resnet,
    resnet_name,
    vgg,
    vgg_name,
)
from swallowtail.workload.decoder import (
    DECODE_SUFFIX,
    DECODE_TOKENS,
    LLAMA_VARIANTS,
    PREFILL_SEQ_LEN,
    LlamaVariant,
    parse_decode_name,
)
from swallowtail.workload.graph import Workload
from swallowtail.workload.hybrid import lower_hybrid

# ---- BERT-Large (Devlin et al. 2019, Table: BERT_LARGE L = 24, H = 1024, A = 16, feed-forward 4H) ---------
BERT_LARGE_NAME = "bert-large"
BERT_LARGE_LAYERS = 24
BERT_LARGE_D_MODEL = 1024
BERT_LARGE_D_FF = 4096
BERT_LARGE_HEADS = 16
#: MLPerf Inference BERT-Large (SQuAD v1.1) sequence length (docs/architecture.md)
BERT_LARGE_SEQ_LEN = 384
#: the dtype of MLPerf's edge BERT-Large submissions (INT8, docs/architecture.md)
BERT_LARGE_DTYPE = "int8"


def bert_large(
    seq_len: int = BERT_LARGE_SEQ_LEN, dtype: str = BERT_LARGE_DTYPE, *, batch: int = 1
) -> Workload:
    """BERT-Large (24 x 1024 / 4096, 16 heads, dense attention and FFN) on `batch` sequences of `seq_len`
    tokens: the `transformer` preset resized, lowered by `swallowtail.workload.lower` (MLPerf's BERT-Large
    calibration workload at seq_len 384, INT8)."""
    cfg = get_preset("transformer").replace(
        n_layers=BERT_LARGE_LAYERS,
        attention_layers=BERT_LARGE_LAYERS,
        d_model=BERT_LARGE_D_MODEL,
        d_ff=BERT_LARGE_D_FF,
        n_heads=BERT_LARGE_HEADS,
    )
    return lower_hybrid(cfg, seq_len, batch, dtype=dtype, label=BERT_LARGE_NAME)


def _image_net(build: Callable[..., Workload]) -> Callable[..., Workload]:
    """An image network's builder with `seq_len` as the image side (the registry's rule for images)."""

    def builder(seq_len: int = DEFAULT_IMAGE_SIZE, dtype: str = "fp16", *, batch: int = 1) -> Workload:
        return build(batch=batch, dtype=dtype, image_size=seq_len)

    return builder


@dataclass(frozen=True)
class NamedWorkload:
    """A registered network: how to build it and what its `seq_len` means."""

    name: str
    description: str
    builder: Callable[..., Workload]  # builder(seq_len=..., batch=..., dtype=...) -> Workload
    seq_len_means: str
    default_seq_len: int

    def build(self, seq_len: int | None = None, batch: int = 1, dtype: str = "fp16") -> Workload:
        """The workload at `seq_len` (None: `default_seq_len`), `batch`, `dtype`."""
        return self.builder(
            seq_len=self.default_seq_len if seq_len is None else seq_len, batch=batch, dtype=dtype
        )


NAMED_WORKLOADS: dict[str, NamedWorkload] = {
    BERT_LARGE_NAME: NamedWorkload(
        BERT_LARGE_NAME,
        "BERT-Large (Devlin et al. 2019): 24 x 1024 / 4096, 16 heads, dense attention (MLPerf's BERT)",
        bert_large,
        "tokens per sequence",
        BERT_LARGE_SEQ_LEN,
    )
}
IMAGE_SIDE = "image side in pixels (seq_len x seq_len RGB images)"
for _d, (_kind, _layers) in RESNET_LAYERS.items():
    NAMED_WORKLOADS[resnet_name(_d)] = NamedWorkload(
        resnet_name(_d),
        f"ResNet-{_d} v1.5 (torchvision): {_kind} blocks {list(_layers)}, "
        f"{TORCHVISION_GMACS[resnet_name(_d)]} GMACs at 224 x 224",
        _image_net(functools.partial(resnet, _d)),
        IMAGE_SIDE,
        DEFAULT_IMAGE_SIZE,
    )
for _d in VGG_CONFIGS:
    for _bn in (False, True):
        NAMED_WORKLOADS[vgg_name(_d, _bn)] = NamedWorkload(
            vgg_name(_d, _bn),
            f"VGG-{_d}{' with BatchNorm' if _bn else ''} (torchvision): {VGG_CONFIGS[_d].count('M')} pools, "
            f"fc 25088 -> 4096 -> 4096 -> 1000, {TORCHVISION_GMACS[vgg_name(_d)]} GMACs at 224 x 224",
            _image_net(functools.partial(vgg, _d, _bn)),
            IMAGE_SIDE,
            DEFAULT_IMAGE_SIZE,
        )


def _llama_entry(variant: LlamaVariant, new_tokens: int = 0, name: str | None = None) -> NamedWorkload:
    """A variant's prefill (`new_tokens=0`) or its decode of new_tokens, as a registry entry."""
    name = name or variant.name
    means = "prompt tokens in the KV cache" if new_tokens else "prompt tokens (prefill)"
    desc = variant.describe(new_tokens)
    return NamedWorkload(name, desc, variant.builder(new_tokens, name), means, PREFILL_SEQ_LEN)


for _v in LLAMA_VARIANTS.values():
    NAMED_WORKLOADS[_v.name] = _llama_entry(_v)
    if _v.mixer != "fft":  # chunked-FFT mixing has no decode
        NAMED_WORKLOADS[_v.name + DECODE_SUFFIX] = _llama_entry(_v, DECODE_TOKENS, _v.name + DECODE_SUFFIX)


def list_named_workloads() -> dict[str, str]:
    """Names of the registered workloads and their one-line descriptions."""
    return {n: w.description for n, w in NAMED_WORKLOADS.items()}


def find_named_workload(name: str) -> NamedWorkload | None:
    """A registered workload by name, or a decode name `<llama variant>@decode<N>`; None for any other."""
    if name in NAMED_WORKLOADS:
        return NAMED_WORKLOADS[name]
    decode = parse_decode_name(name)
    return None if decode is None else _llama_entry(decode[0], decode[1], name)


def get_named_workload(name: str) -> NamedWorkload:
    """A registered workload by name (or a decode name); SpecError listing the names for an unknown one."""
    entry = find_named_workload(name)
    if entry is None:
        raise SpecError(
            "workload", name, f"one of {list(NAMED_WORKLOADS)} (or a llama variant + {DECODE_SUFFIX}<N>)"
        )
    return entry


def named_workload(name: str, seq_len: int | None = None, batch: int = 1, dtype: str = "fp16") -> Workload:
    """Build a registered workload: `get_named_workload(name).build(seq_len, batch, dtype)`."""
    return get_named_workload(name).build(seq_len, batch, dtype)


__all__ = [
    "BERT_LARGE_NAME",
    "NAMED_WORKLOADS",
    "NamedWorkload",
    "bert_large",
    "find_named_workload",
    "get_named_workload",
    "list_named_workloads",
    "named_workload",
]
