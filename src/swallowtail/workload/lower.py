"""`lower()`: a network -- a HybridConfig, a preset name or a named workload -- at a sequence length and batch
-> a Workload of typed ops. Hybrid Transformers are lowered by `swallowtail.workload.hybrid`, named workloads
(`bert-large`, `resnet-50`, ...) by their builders in `swallowtail.workload.named`.
"""

from __future__ import annotations

import dataclasses

from swallowtail.errors import SpecError
from swallowtail.nn.config import HybridConfig, get_preset, list_presets
from swallowtail.workload.graph import Workload
from swallowtail.workload.hybrid import lower_hybrid
from swallowtail.workload.named import NAMED_WORKLOADS, find_named_workload


def resolve_config(config_or_preset: HybridConfig | str) -> HybridConfig:
    """The HybridConfig of a config or a network preset's name; SpecError listing the presets and named
    workloads for any other name."""
    if isinstance(config_or_preset, HybridConfig):
        return config_or_preset
    if isinstance(config_or_preset, str):
        if config_or_preset in list_presets():
            return get_preset(config_or_preset)
        raise SpecError(
            "preset",
            config_or_preset,
            f"one of the network presets {list(list_presets())} or the named workloads "
            f"{list(NAMED_WORKLOADS)} (or a llama name + @decode<N>, N >= 1)",
        )
    raise SpecError("config", type(config_or_preset).__name__, "a HybridConfig or a preset name")


def lower(
    config_or_preset: HybridConfig | str,
    seq_len: int,
    batch: int = 1,
    dtype: str = "fp16",
    name: str | None = None,
) -> Workload:
    """The Workload of one inference of `config` on `batch` inputs of `seq_len` tokens.

    A name of `swallowtail.workload.named` (`bert-large`, `resnet-50`, `llama-7b`, `llama-7b@decode64`, ...)
    is built by its builder instead; `seq_len` means what that entry says (the image side for an image
    network, the prompt for a decoder)."""
    entry = find_named_workload(config_or_preset) if isinstance(config_or_preset, str) else None
    if entry is not None:
        w = entry.build(seq_len, batch, dtype)
        if name is None or name == entry.name:
            return w
        return dataclasses.replace(w, name=name + w.name.removeprefix(entry.name))
    label = name or (config_or_preset if isinstance(config_or_preset, str) else "custom")
    return lower_hybrid(resolve_config(config_or_preset), seq_len, batch, dtype, label)


__all__ = ["lower", "resolve_config"]
