"""Bad input, as a user types it: every case is a clean one-line error naming the field, exit status 2.

A table of (command line, text the message must contain). Files the commands read are written by the
`files` fixture first ({tmp} in a command is the folder); `NAME=value` words before the command set
environment variables for it, as in a shell. Each case checks: exit status 2, no traceback, the
named field in the message, and a message of one line.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from swallowtail.cli import app
from swallowtail.cli._common import repeated_option
from swallowtail.compiler import compile as compile_kernel
from swallowtail.compiler.dense import DenseData
from swallowtail.errors import SpecError
from swallowtail.nn.butterfly import sylvester_hadamard, twiddle_init
from swallowtail.nn.sizes import linear_counts
from swallowtail.sim import run as sim_run
from swallowtail.sim import simulate_kernel
from swallowtail.tasks import load_task
from swallowtail.train import toy_task
from swallowtail.train.data import fit_length
from swallowtail.workload import FFT

runner = CliRunner()


def _bomb(levels: int = 12, width: int = 10) -> str:
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _arch_yaml(**fields: str) -> str:
    """df-4x4-simd8 as YAML with some top-level lines replaced."""
    from swallowtail.arch import load_arch

    text = load_arch("df-4x4-simd8").to_yaml()
    for key, value in fields.items():
        head, sep, _ = key.partition(".")
        if sep:  # a nested key: replace the first `  <sub>:` line after `<head>:`
            i = text.index(f"\n{head}:")
            j = text.index(f"\n  {key.split('.', 1)[1]}:", i)
            k = text.index("\n", j + 1)
            text = text[:j] + f"\n  {key.split('.', 1)[1]}: {value}" + text[k:]
        else:
            i = text.index(f"\n{key}:")
            k = text.index("\n", i + 1)
            text = text[:i] + f"\n{key}: {value}" + text[k:]
    return text


def _spec(preset: str, changes: dict[str, object] | None = None, drop: tuple[str, ...] = ()) -> str:
    """`swallowtail arch dump <preset>` with fields set (`changes`) or removed (`drop`); a path is `a/b/c`."""
    from swallowtail.arch import load_arch

    return _edit(load_arch(preset).to_yaml(), changes, drop)


def _shipped(rel: str, changes: dict[str, object]) -> str:
    """A YAML file shipped in the package (`rel` below swallowtail/) with fields set (paths `a/b/c`)."""
    import swallowtail

    return _edit((Path(swallowtail.__file__).parent / rel).read_text(), changes)


def _edit(text: str, changes: dict[str, object] | None = None, drop: tuple[str, ...] = ()) -> str:
    import yaml

    spec = yaml.safe_load(text)
    for path, value in (changes or {}).items():
        *head, last = path.split("/")
        node = spec
        for key in head:
            node = node[key]
        node[last] = value
    for path in drop:
        *head, last = path.split("/")
        node = spec
        for key in head:
            node = node[key]
        del node[last]
    return yaml.safe_dump(spec, sort_keys=False)


def _empty_store() -> bytes:
    """The bytes of a sweep store with no rows (as `swallowtail dse run` creates it)."""
    import tempfile

    from swallowtail.dse.store import Store

    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "store.db")
        store.close()
        return (Path(d) / "store.db").read_bytes()


DF, GPU, FAB, SYS = "df-4x4-simd8", "xavier-nx-10w", "fabnet-be40-hbm", "systolic-os-16x8"
STACK, SWEEP = "baselines/params/stacks/tensorrt-fp16.yaml", "dse/sweeps/around-df-4x4-simd8.yaml"
_FU = {"latency": 1, "issue_per_cycle": 1, "ops_per_lane": 1, "initiation_interval": 1}


FILES: dict[str, str | bytes] = {
    "broken.yaml": "name: [\n",
    "bomb.yaml": _bomb(),
    "dupkey.yaml": "n_layers: 2\nn_layers: 3\n",
    "not-a-mapping.yaml": "- 1\n- 2\n",
    "unknown-field.yaml": "preset: fnet\nwarp_drive: 9\n",
    "clock.yaml": _arch_yaml(clock_hz="1.0e+300"),
    "huge-array.yaml": _arch_yaml(**{"array.rows": "1000000"}),
    "lanes.yaml": _arch_yaml(**{"pe.simd_lanes": "1000000"}),
    "spm.yaml": _arch_yaml(**{"spm.size_bytes": "1125899906842624"}),
    "node.yaml": _arch_yaml(tech_node_nm="1000000"),
    "zero-clock.yaml": _arch_yaml(clock_hz="0.0"),
    "nan-clock.yaml": _arch_yaml(clock_hz=".nan"),
    "string-clock.yaml": _arch_yaml(clock_hz="fast"),
    "big.yaml": "a: 1\n" + "#" * (1 << 20) + "\n",
    "a-file": "not a folder\n",
    "run-out/figures": "a file where reproduce writes its figures folder\n",
    "empty.yaml": "",
    "model-neg-layers.yaml": "preset: fnet\nn_layers: -1\n",
    "model-bad-preset.yaml": "preset: nope\n",
    "model-dim.yaml": "preset: fnet\nd_model: zero\n",
    # dataflow arrays: one field corrupted in `arch dump df-4x4-simd8`
    "df-neg-rows.yaml": _spec(DF, {"array/rows": -4}),
    "df-zero-cols.yaml": _spec(DF, {"array/cols": 0}),
    "df-rows-float.yaml": _spec(DF, {"array/rows": 4.5}),
    "df-str-lanes.yaml": _spec(DF, {"pe/simd_lanes": "eight"}),
    "df-nan-bw.yaml": _spec(DF, {"dma/gbytes_per_s_per_channel": float("nan")}),
    "df-inf-bw.yaml": _spec(DF, {"dma/gbytes_per_s_per_channel": float("inf")}),
    "df-neg-bw.yaml": _spec(DF, {"dma/gbytes_per_s_per_channel": -1.0}),
    "df-zero-channels.yaml": _spec(DF, {"dma/channels": 0}),
    "df-neg-latency.yaml": _spec(DF, {"dma/latency_cycles": -1}),
    "df-unknown-top.yaml": _spec(DF, {"warp_drive": 9}),
    "df-unknown-pe.yaml": _spec(DF, {"pe/warp": 9}),
    "df-unknown-fu-field.yaml": _spec(DF, {"pe/fus/fma/warp": 9}),
    "df-unknown-fu.yaml": _spec(DF, {"pe/fus/warp": _FU}),
    "df-missing-fu.yaml": _spec(DF, drop=("pe/fus/special",)),
    "df-fma-flops.yaml": _spec(DF, {"pe/fus/fma/ops_per_lane": 1}),
    "df-fma-issue.yaml": _spec(DF, {"pe/fus/fma/issue_per_cycle": 2}),
    "df-fu-zero-latency.yaml": _spec(DF, {"pe/fus/fma/latency": 0}),
    "df-fu-neg-ii.yaml": _spec(DF, {"pe/fus/special/initiation_interval": -1}),
    "df-rf-zero.yaml": _spec(DF, {"pe/register_file/entries": 0}),
    "df-rf-ports.yaml": _spec(DF, {"pe/register_file/read_ports": 0}),
    "df-ibuf.yaml": _spec(DF, {"pe/instruction_buffer": 0}),
    "df-tags.yaml": _spec(DF, {"pe/active_tags": 0}),
    "df-dtype.yaml": _spec(DF, {"pe/dtype": "fp128"}),
    "df-array-list.yaml": _spec(DF, {"array": [4, 4]}),
    "df-array-flat.yaml": _spec(DF, {"array": 4}),
    "df-pe-str.yaml": _spec(DF, {"pe": "big"}),
    "df-rows-in-pe.yaml": _spec(DF, {"pe/rows": 4}),
    "df-src-unknown.yaml": _spec(DF, {"sources/warp_drive": "x"}),
    "df-src-nested.yaml": _spec(DF, {"sources/array.depth": "x"}),
    "df-src-notstr.yaml": _spec(DF, {"sources/clock_hz": 5}),
    "df-src-list.yaml": _spec(DF, {"sources": ["a"]}),
    "df-noc-neg-hop.yaml": _spec(DF, {"noc/hops": [1, -2]}),
    "df-noc-zero-hop.yaml": _spec(DF, {"noc/hops": [0]}),
    "df-noc-big-hop.yaml": _spec(DF, {"noc/hops": [1, 7]}),
    "df-noc-empty-hops.yaml": _spec(DF, {"noc/hops": []}),
    "df-noc-str-hops.yaml": _spec(DF, {"noc/hops": "1,2"}),
    "df-noc-dup-hops.yaml": _spec(DF, {"noc/hops": [1, 1]}),
    "df-noc-topo.yaml": _spec(DF, {"noc/topology": "torus"}),
    "df-noc-link.yaml": _spec(DF, {"noc/link_bytes_per_cycle": 0}),
    "df-noc-hoplat.yaml": _spec(DF, {"noc/hop_latency": -1}),
    "df-spm-banks.yaml": _spec(DF, {"spm/banks": 3}),
    "df-spm-zero-banks.yaml": _spec(DF, {"spm/banks": 0}),
    "df-spm-bpc.yaml": _spec(DF, {"spm/bytes_per_cycle": 0}),
    "df-spm-neg.yaml": _spec(DF, {"spm/size_bytes": -1}),
    "df-energy.yaml": _spec(DF, {"energy_table": "nope-table"}),
    "df-kind.yaml": _spec(DF, {"kind": "quantum"}),
    "df-no-kind.yaml": _spec(DF, drop=("kind",)),
    "df-no-array.yaml": _spec(DF, drop=("array",)),
    "df-name-int.yaml": _spec(DF, {"name": 5}),
    "df-node-zero.yaml": _spec(DF, {"tech_node_nm": 0}),
    "df-clock-bool.yaml": _spec(DF, {"clock_hz": True}),
    # GPU boards
    "gpu-default-mode.yaml": _spec(GPU, {"default_mode": "99w"}),
    "gpu-modes-empty.yaml": _spec(GPU, {"power_modes": {}}),
    "gpu-modes-list.yaml": _spec(GPU, {"power_modes": ["10w"]}),
    "gpu-mode-clock.yaml": _spec(GPU, {"power_modes/10w/gpu_clock_hz": -1.0}),
    "gpu-mode-emc.yaml": _spec(GPU, {"power_modes/15w/emc_clock_hz": "fast"}),
    "gpu-mode-power.yaml": _spec(GPU, {"power_modes/20w/board_power_w": 0.0}),
    "gpu-mode-unknown.yaml": _spec(GPU, {"power_modes/10w/warp": 1}),
    "gpu-mode-measured.yaml": _spec(GPU, {"power_modes/15w/measured_power_w": float("nan")}),
    "gpu-flops-key.yaml": _spec(GPU, {"flops_per_clk_per_sm/fp16tensor": 3.0}),
    "gpu-flops-neg.yaml": _spec(GPU, {"flops_per_clk_per_sm/fp16_tensor": -1.0}),
    "gpu-flops-empty.yaml": _spec(GPU, {"flops_per_clk_per_sm": {}}),
    "gpu-sms.yaml": _spec(GPU, {"sms": 0}),
    "gpu-bus.yaml": _spec(GPU, {"dram_bus_bits": -128}),
    "gpu-src.yaml": _spec(GPU, {"sources/power_modes.99w.gpu_clock_hz": "x"}),
    "gpu-generation.yaml": _spec(GPU, {"generation": "kepler9"}),
    # FABNet, Sanger, SpAtten, systolic
    "fab-engines.yaml": _spec(FAB, {"butterfly_engines": 0}),
    "fab-eff.yaml": _spec(FAB, {"efficiency": 1.5}),
    "fab-eff-nan.yaml": _spec(FAB, {"efficiency": float("nan")}),
    "fab-memory.yaml": _spec(FAB, {"memory": "sram"}),
    "fab-mem-bits.yaml": _spec(FAB, {"memories/hbm/input_bits_per_cycle": 0}),
    "fab-mem-unknown.yaml": _spec(FAB, {"memories/hbm/warp": 1}),
    "fab-word.yaml": _spec(FAB, {"word_bits": "sixteen"}),
    "fab-power.yaml": _spec(FAB, {"static_power_w": -5.0}),
    "fab-clock.yaml": _spec(FAB, {"clock_hz": 1e30}),
    "sanger-rows.yaml": _spec("sanger", {"pe_rows": 0}),
    "sanger-density.yaml": _spec("sanger", {"attention_density": 1.5}),
    "sanger-lb.yaml": _spec("sanger", {"load_balance": 0.0}),
    "sanger-pred.yaml": _spec("sanger", {"prediction_relative_cost": -0.5}),
    "sanger-dram.yaml": _spec("sanger", {"dram_gbytes_per_s": float("inf")}),
    "sanger-leak.yaml": _spec("sanger", {"leakage_fraction": 2.0}),
    "sanger-unknown.yaml": _spec("sanger", {"warp_drive": 1}),
    "sanger-energy.yaml": _spec("sanger", {"energy_table": "nope"}),
    "spatten-keep.yaml": _spec("spatten", {"token_keep_per_attention_layer": 0.0}),
    "spatten-head.yaml": _spec("spatten", {"head_keep": 1.2}),
    "spatten-mult.yaml": _spec("spatten", {"qk_multipliers": -512}),
    "spatten-bits.yaml": _spec("spatten", {"kv_fetch_bits": 0}),
    "spatten-lsb.yaml": _spec("spatten", {"lsb_refetch_fraction": "some"}),
    "spatten-ops.yaml": _spec("spatten", {"reported_ops_per_s": 0.0}),
    "sys-rows.yaml": _spec(SYS, {"rows": 0}),
    "sys-dataflow.yaml": _spec(SYS, {"dataflow": "zz"}),
    "sys-sram.yaml": _spec(SYS, {"ifmap_sram_kb": -1}),
    "sys-word.yaml": _spec(SYS, {"word_bytes": 0}),
    "sys-word3.yaml": _spec(SYS, {"word_bytes": 3}),
    "sys-src.yaml": _spec(SYS, {"sources/pe_rows": "x"}),
    "sys-energy.yaml": _spec(SYS, {"energy_table": "nope"}),
    # found by tests/test_fuzz.py: each was a traceback, a hang, a huge allocation or a silent acceptance
    "unhashable-key.yaml": "? [1, 2]\n: x\n",
    "not-utf8.yaml": b"kind: \xff\xfe dataflow\n",
    "nul.yaml": "kind: dataflow\nname: \x00\n",
    "model-num-key.yaml": "preset: fnet\n1: 2\n",
    "model-layers-huge.yaml": "preset: fnet\nn_layers: 1000000000\n",
    "model-dff-huge.yaml": "preset: fnet\nd_ff: 1073741824\n",
    "df-dma-channels.yaml": _spec(DF, {"dma/channels": 2**31}),
    "df-dma-latency.yaml": _spec(DF, {"dma/latency_cycles": 2**62}),
    "df-dma-slow.yaml": _spec(DF, {"dma/gbytes_per_s_per_channel": 1e-300}),
    "df-fu-latency.yaml": _spec(DF, {"pe/fus/add/latency": 2**31}),
    "df-rf-ports-huge.yaml": _spec(DF, {"pe/register_file/read_ports": 10**30}),
    "df-hop-latency.yaml": _spec(DF, {"noc/hop_latency": 10**30}),
    "df-tags-huge.yaml": _spec(DF, {"pe/active_tags": 2**62}),
    "df-spm-groups.yaml": _spec(DF, {"spm/bytes_per_cycle": 65536}),
    "df-32x32.yaml": _spec(DF, {"array/rows": 32, "array/cols": 32}),
    "fab-eff-tiny.yaml": _spec(FAB, {"efficiency": 1e-300}),
    "fab-engines-huge.yaml": _spec(FAB, {"butterfly_engines": 2**62}),
    "gpu-flops-tiny.yaml": _spec(GPU, {"flops_per_clk_per_sm/fp16_tensor": 5e-324}),
    "gpu-sms-huge.yaml": _spec(GPU, {"sms": 2**62, "cuda_cores": 2**62, "tensor_cores": 2**62}),
    "sanger-ops-tiny.yaml": _spec("sanger", {"reported_ops_per_s": 1e-300}),
    "sanger-dram-tiny.yaml": _spec("sanger", {"dram_gbytes_per_s": 1e-300}),
    "sanger-rows-huge.yaml": _spec("sanger", {"pe_rows": 2**62}),
    "spatten-bits-huge.yaml": _spec("spatten", {"kv_fetch_bits": 2**62}),
    "sys-rows-huge.yaml": _spec(SYS, {"rows": 10**9}),
    "sys-dram-tiny.yaml": _spec(SYS, {"dram_gbytes_per_s": 1e-300}),
    "stack-overhead.yaml": _shipped(STACK, {"per_op_overhead_s": 1e300}),
    "stack-eff-tiny.yaml": _shipped(STACK, {"gemm_efficiency/volta": 5e-324}),
    "stack-generation.yaml": _shipped(
        STACK, {"gemm_efficiency": {"voltaa": 0.3, "ampere": 0.3}, "sources": {}}
    ),
    "sweep-union.yaml": _shipped(SWEEP, {"backends": [5]}),
    "sweep-grid-seed.yaml": _shipped(SWEEP, {"sampling": {"method": "grid", "seed": 3}}),
    "sweep-range-nan.yaml": _shipped(
        SWEEP,
        {
            "params/clock_hz": {"low": float("nan"), "high": 1e9},
            "sampling": {"method": "random", "samples": 4},
        },
    ),
    "sweep-twice.yaml": _shipped(SWEEP, {"backends": ["roofline", {"name": "roofline"}]}),
    # limits before work: a PyTorch model of the user's, and a sweep of 100,000 trials
    "factory.py": "import torch\n\n\ndef build():\n    return torch.nn.Embedding(16, 8)\n",
    "linear.py": "import torch\n\n\ndef build():\n    return torch.nn.Linear(8, 8)\n",
    "store.db": _empty_store(),
    "hangs.py": "import torch\n\nwhile True:\n    pass\n",
    "huge-sweep.yaml": _edit(
        "{}",
        {
            "name": "huge",
            "params": {"pe.simd_lanes": {"low": 8, "high": 32}},
            "workloads": [{"model": "fabnet-base", "seq_len": [256]}],
            "sampling": {"method": "tpe", "samples": 100_000},
        },
    ),
}
#: files of this size that take no disk (sparse): a loader must refuse them without reading them
SPARSE_FILES = {"sparse.yaml": 3 << 30}

CASES: list[tuple[str, str]] = [
    # ---- YAML files ------------------------------------------------------------------------------------
    ("model summary {tmp}/broken.yaml --seq-len 128", "YAML syntax error"),
    ("model summary {tmp}/bomb.yaml --seq-len 128", "aliases"),
    ("model summary {tmp}/dupkey.yaml --seq-len 128", "duplicate key"),
    ("model summary {tmp}/not-a-mapping.yaml --seq-len 128", "mapping"),
    ("model summary {tmp}/unknown-field.yaml --seq-len 128", "warp_drive"),
    ("model summary {tmp}/no-such-file.yaml --seq-len 128", "config"),
    ("model summary {tmp}/big.yaml --seq-len 128", "bytes"),
    ("arch show {tmp}/broken.yaml", "YAML syntax error"),
    ("arch show {tmp}/bomb.yaml", "aliases"),
    ("arch show {tmp}/no-such-file.yaml", "path"),
    # ---- physical ranges of an architecture --------------------------------------------------------------
    ("arch show {tmp}/clock.yaml", "clock_hz"),
    ("arch show {tmp}/huge-array.yaml", "array.rows"),
    ("arch show {tmp}/lanes.yaml", "pe.simd_lanes"),
    ("arch show {tmp}/spm.yaml", "spm.size_bytes"),
    ("arch show {tmp}/node.yaml", "tech_node_nm"),
    ("arch show {tmp}/zero-clock.yaml", "clock_hz"),
    ("arch show {tmp}/nan-clock.yaml", "clock_hz"),
    ("arch show {tmp}/string-clock.yaml", "clock_hz"),
    ("roofline --arch {tmp}/clock.yaml --model fnet --seq-len 128", "clock_hz"),
    ("arch show no-such-arch", "arch"),
    # ---- options -----------------------------------------------------------------------------------------
    ("baseline --target sanger --model fabnet-base --seq-len 128 --top -1", "--top"),
    ("baseline --target no-such-backend --model fabnet-base --seq-len 128", "backend"),
    ("baseline --target sanger --model no-such-model --seq-len 128", "preset"),
    # an allowed pattern is shown as it is (rich markup once ate its [a-z0-9] classes)
    ("baseline -t jetson -m fabnet-base -L 128 -o butterfly_unit=nope", "^[a-z0-9]+_[a-z0-9]+$"),
    ("baseline -t sanger -m fabnet-base -L 128 -o word_bits=7", "does not enter the cost model"),
    ("baseline -t spatten -m fabnet-base -L 128 -o foo=bar", "same_peak_as"),
    ("baseline -t roofline -m fabnet-base -L 128 -o include_leakage=maybe", "true or false"),
    ("baseline --target sanger --model fabnet-base --seq-len 0", "seq_len"),
    ("baseline --target sanger --model fabnet-base --seq-len 128 --batch 0", "batch"),
    ("baseline --target sanger --model fabnet-base --seq-len 128 -o bogus", "--option"),
    ("baseline --target jetson --model fabnet-base --seq-len 128 -o stack=~", "'stack=~'"),  # was: default
    ("baseline --target sanger --model fabnet-base --seq-len 128 -o arch=null", "~ / null is none"),
    ("baseline --target sanger --model fabnet-base --seq-len 128 -o warp=9", "warp"),
    # cache takes a RateCache from Python: the CLI listed it as allowed, then refused every value
    (
        "baseline -t dataflow-multilayer -m fabnet-base -L 64 -o bogus=1",
        "'spm_resident_fraction' (and, from Python, 'cache')",
    ),
    ("kernel --trace '' -n 16 -r 4", "an empty path names the current folder"),
    ("simulate --timeline '' -L 16", "an empty path names the current folder"),
    ("baseline --target jetson --model fabnet-base --seq-len 128 -o stack=no-such-stack", "stack"),
    ("baseline --target jetson --model fabnet-base --seq-len 128 -o arch=xavier-nx-99w", "arch"),
    ("baseline --target jetson --model fabnet-base --seq-len 128 -o gemm_efficiency=2", "gemm_efficiency"),
    ("baseline --target jetson --model fabnet-base --seq-len 128 -o power_mode=99w", "power_mode"),
    ("baseline --target xavier-nx --model fabnet-base --seq-len 128 -o fusion=all", "fusion"),
    ("roofline --arch no-such-arch --model fnet --seq-len 128", "arch"),
    ("roofline --arch df-4x4-simd8 --model fnet --seq-len 999999", "seq_len"),
    ("workload show no-such-model --seq-len 128", "preset"),
    ("workload show fnet --seq-len -5", "seq_len"),
    ("model summary no-such-preset --seq-len 128", "preset"),
    ("kernel --op butterfly --n 1024 --rows 1000000000", "--force"),
    ("kernel --op gemm --n 100000 --gemm-k 100000 --rows 100000", "--rows"),
    ("train --task listops --steps 1 --seq-len 1000000000", "seq_len"),
    # ---- every field of every arch kind: `arch dump <preset>` with one field corrupted -------------------
    ("arch show {tmp}/df-neg-rows.yaml", "array.rows"),
    ("arch show {tmp}/df-zero-cols.yaml", "array.cols"),
    ("arch show {tmp}/df-rows-float.yaml", "array.rows"),
    ("arch show {tmp}/df-str-lanes.yaml", "pe.simd_lanes"),
    ("arch show {tmp}/df-nan-bw.yaml", "dma.gbytes_per_s_per_channel"),
    ("arch show {tmp}/df-inf-bw.yaml", "dma.gbytes_per_s_per_channel"),
    ("arch show {tmp}/df-neg-bw.yaml", "dma.gbytes_per_s_per_channel"),
    ("arch show {tmp}/df-zero-channels.yaml", "dma.channels"),
    ("arch show {tmp}/df-neg-latency.yaml", "dma.latency_cycles"),
    ("arch show {tmp}/df-unknown-top.yaml", "warp_drive"),
    ("arch show {tmp}/df-unknown-pe.yaml", "pe.warp"),
    ("arch show {tmp}/df-unknown-fu-field.yaml", "pe.fus.fma.warp"),
    ("arch show {tmp}/df-unknown-fu.yaml", "pe.fus.warp"),
    ("arch show {tmp}/df-missing-fu.yaml", "pe.fus"),
    ("arch show {tmp}/df-fma-flops.yaml", "pe.fus.fma.ops_per_lane"),
    ("arch show {tmp}/df-fma-issue.yaml", "pe.fus.fma.issue_per_cycle"),
    ("arch show {tmp}/df-fu-zero-latency.yaml", "pe.fus.fma.latency"),
    ("arch show {tmp}/df-fu-neg-ii.yaml", "pe.fus.special.initiation_interval"),
    ("arch show {tmp}/df-rf-zero.yaml", "pe.register_file.entries"),
    ("arch show {tmp}/df-rf-ports.yaml", "pe.register_file.read_ports"),
    ("arch show {tmp}/df-ibuf.yaml", "pe.instruction_buffer"),
    ("arch show {tmp}/df-tags.yaml", "pe.active_tags"),
    ("arch show {tmp}/df-dtype.yaml", "pe.dtype"),
    ("arch show {tmp}/df-array-list.yaml", "array"),
    ("arch show {tmp}/df-array-flat.yaml", "array"),
    ("arch show {tmp}/df-pe-str.yaml", "pe ="),
    ("arch show {tmp}/df-rows-in-pe.yaml", "pe.rows"),
    ("arch show {tmp}/df-src-unknown.yaml", "sources.warp_drive"),
    ("arch show {tmp}/df-src-nested.yaml", "sources.array.depth"),
    ("arch show {tmp}/df-src-notstr.yaml", "sources.clock_hz"),
    ("arch show {tmp}/df-src-list.yaml", "sources"),
    ("arch show {tmp}/df-noc-neg-hop.yaml", "noc.hops"),
    ("arch show {tmp}/df-noc-zero-hop.yaml", "noc.hops"),
    ("arch show {tmp}/df-noc-big-hop.yaml", "noc.hops"),
    ("arch show {tmp}/df-noc-empty-hops.yaml", "noc.hops"),
    ("arch show {tmp}/df-noc-str-hops.yaml", "noc.hops"),
    ("arch show {tmp}/df-noc-dup-hops.yaml", "noc.hops"),
    ("arch show {tmp}/df-noc-topo.yaml", "noc.topology"),
    ("arch show {tmp}/df-noc-link.yaml", "noc.link_bytes_per_cycle"),
    ("arch show {tmp}/df-noc-hoplat.yaml", "noc.hop_latency"),
    ("arch show {tmp}/df-spm-banks.yaml", "spm.size_bytes"),
    ("arch show {tmp}/df-spm-zero-banks.yaml", "spm.banks"),
    ("arch show {tmp}/df-spm-bpc.yaml", "spm.bytes_per_cycle"),
    ("arch show {tmp}/df-spm-neg.yaml", "spm.size_bytes"),
    ("arch show {tmp}/df-energy.yaml", "energy_table"),
    ("arch show {tmp}/df-kind.yaml", "kind"),
    ("arch show {tmp}/df-no-kind.yaml", "kind"),
    ("arch show {tmp}/df-no-array.yaml", "array"),
    ("arch show {tmp}/df-name-int.yaml", "name"),
    ("arch show {tmp}/df-node-zero.yaml", "tech_node_nm"),
    ("arch show {tmp}/df-clock-bool.yaml", "clock_hz"),
    ("arch show {tmp}/gpu-default-mode.yaml", "default_mode"),
    ("arch show {tmp}/gpu-modes-empty.yaml", "power_modes"),
    ("arch show {tmp}/gpu-modes-list.yaml", "power_modes"),
    ("arch show {tmp}/gpu-mode-clock.yaml", "power_modes.10w.gpu_clock_hz"),
    ("arch show {tmp}/gpu-mode-emc.yaml", "power_modes.15w.emc_clock_hz"),
    ("arch show {tmp}/gpu-mode-power.yaml", "power_modes.20w.board_power_w"),
    ("arch show {tmp}/gpu-mode-unknown.yaml", "power_modes.10w.warp"),
    ("arch show {tmp}/gpu-mode-measured.yaml", "power_modes.15w.measured_power_w"),
    ("arch show {tmp}/gpu-flops-key.yaml", "fp16tensor"),
    ("arch show {tmp}/gpu-flops-neg.yaml", "flops_per_clk_per_sm.fp16_tensor"),
    ("arch show {tmp}/gpu-flops-empty.yaml", "flops_per_clk_per_sm"),
    ("arch show {tmp}/gpu-sms.yaml", "sms"),
    ("arch show {tmp}/gpu-bus.yaml", "dram_bus_bits"),
    ("arch show {tmp}/gpu-src.yaml", "sources.power_modes.99w"),
    ("arch show {tmp}/fab-engines.yaml", "butterfly_engines"),
    ("arch show {tmp}/fab-eff.yaml", "efficiency"),
    ("arch show {tmp}/fab-eff-nan.yaml", "efficiency"),
    ("arch show {tmp}/fab-memory.yaml", "memory"),
    ("arch show {tmp}/fab-mem-bits.yaml", "memories.hbm.input_bits_per_cycle"),
    ("arch show {tmp}/fab-mem-unknown.yaml", "memories.hbm.warp"),
    ("arch show {tmp}/fab-word.yaml", "word_bits"),
    ("arch show {tmp}/fab-power.yaml", "static_power_w"),
    ("arch show {tmp}/fab-clock.yaml", "clock_hz"),
    ("arch show {tmp}/sanger-rows.yaml", "pe_rows"),
    ("arch show {tmp}/sanger-density.yaml", "attention_density"),
    ("arch show {tmp}/sanger-lb.yaml", "load_balance"),
    ("arch show {tmp}/sanger-pred.yaml", "prediction_relative_cost"),
    ("arch show {tmp}/sanger-dram.yaml", "dram_gbytes_per_s"),
    ("arch show {tmp}/sanger-leak.yaml", "leakage_fraction"),
    ("arch show {tmp}/sanger-unknown.yaml", "warp_drive"),
    ("arch show {tmp}/spatten-keep.yaml", "token_keep_per_attention_layer"),
    ("arch show {tmp}/spatten-head.yaml", "head_keep"),
    ("arch show {tmp}/spatten-mult.yaml", "qk_multipliers"),
    ("arch show {tmp}/spatten-bits.yaml", "kv_fetch_bits"),
    ("arch show {tmp}/spatten-lsb.yaml", "lsb_refetch_fraction"),
    ("arch show {tmp}/spatten-ops.yaml", "reported_ops_per_s"),
    ("arch show {tmp}/sys-rows.yaml", "rows"),
    ("arch show {tmp}/sys-dataflow.yaml", "dataflow"),
    ("arch show {tmp}/sys-sram.yaml", "ifmap_sram_kb"),
    ("arch show {tmp}/sys-word.yaml", "word_bytes"),
    # an operand is 1, 2, 4 or 8 bytes (int8 / fp8, fp16 / bf16, fp32, fp64); 3 used to be costed
    ("arch show {tmp}/sys-word3.yaml", "word_bytes = 3"),
    ("baseline -t systolic -m fabnet-base -L 128 -o word_bytes=3", "one of [1, 2, 4, 8]"),
    ("arch show {tmp}/sys-src.yaml", "sources.pe_rows"),
    ("arch show {tmp}/empty.yaml", "mapping"),
    ("arch show {tmp}", "path"),
    ("arch show {tmp}/a-file", "mapping"),
    ("arch dump no-such-arch", "arch"),
    ("arch dump {tmp}/sanger-rows.yaml", "pe_rows"),
    ("arch dump df-4x4-simd8 --out {tmp}", "--out"),
    ("arch dump df-4x4-simd8 --out {tmp}/a-file/x.yaml", "--out"),
    # a missing folder of an output file was made silently (dse run --store and dse export refused it)
    ("arch dump df-4x4-simd8 --out {tmp}/no-such-dir/x.yaml", "no-such-dir does not exist"),
    ("kernel --op butterfly --n 64 --trace {tmp}/no-such-dir/t.png", "--trace"),
    ("simulate --model fnet --seq-len 16 --timeline {tmp}/no-such-dir/t.png", "--timeline"),
    ("baseline measure-kernels -o {tmp}/no-such-dir/k.yaml -m lra-listops -L 64 --device cpu", "--out"),
    ("dse export {tmp}/store.db {tmp}/no-such-dir/x.csv", "OUT = "),
    ("arch list --bogus", "--bogus"),
    # ---- model / workload ------------------------------------------------------------------------------
    ("model summary {tmp}/empty.yaml --seq-len 128", "mapping"),
    ("model summary {tmp}/model-neg-layers.yaml --seq-len 128", "n_layers"),
    ("model summary {tmp}/model-bad-preset.yaml --seq-len 128", "preset"),
    ("model summary {tmp}/model-dim.yaml --seq-len 128", "d_model"),
    ("model summary fnet --seq-len 0", "seq_len"),
    ("model summary fnet --seq-len 128 --batch 0", "batch"),
    ("model summary fnet --seq-len 128 --batch 99999999999", "[1, 1048576]"),  # was summed, unbounded
    ("model summary fnet --seq-len abc", "--seq-len"),
    ("model list --warp", "--warp"),
    ("workload show fnet", "--seq-len"),
    ("workload show fnet --seq-len 128 --batch -1", "batch"),
    ("workload show {tmp}/broken.yaml --seq-len 128", "YAML syntax error"),
    ("workload show resnet-50 --seq-len 0", "image_size"),
    ("workload list --bogus", "--bogus"),
    # ---- roofline --------------------------------------------------------------------------------------
    ("roofline --arch df-4x4-simd8 --model nope --seq-len 128", "preset"),
    ("roofline --arch df-4x4-simd8 --model fnet --seq-len 128 --batch 0", "batch"),
    ("roofline --arch df-4x4-simd8 --model fnet --seq-len -1", "seq_len"),
    ("roofline --arch {tmp}/gpu-default-mode.yaml --model fnet --seq-len 128", "default_mode"),
    ("roofline --arch {tmp}/sanger-rows.yaml --model fnet --seq-len 128", "pe_rows"),
    ("roofline --arch sanger --model fnet --seq-len 128", "arch"),
    ("roofline --arch fabnet-be40-hbm --model fnet --seq-len 128", "arch"),
    ("roofline --arch systolic-os-16x8 --model fnet --seq-len 128", "arch"),
    ("roofline --arch {tmp}/sanger-energy.yaml --model fnet --seq-len 128", "arch"),
    # ---- baseline: every backend with a bad option -----------------------------------------------------
    ("baseline --model fabnet-base --seq-len 128 --target sanger -o same_peak_as=nope", "same_peak_as"),
    ("baseline --model fabnet-base --seq-len 128 --target sanger -o same_peak_as=", "same_peak_as"),
    ("baseline --model fabnet-base --seq-len 128 --target sanger -o =x", "--option"),
    ("baseline --model fabnet-base --seq-len 128 --target sanger -o arch=spatten", "arch"),
    (
        "baseline --model fabnet-base --seq-len 128 --target sanger -o arch={tmp}/sanger-energy.yaml",
        "energy_table",
    ),
    ("baseline --model fabnet-base --seq-len 128 --target sanger --top abc", "--top"),
    ("baseline --model fabnet-base --seq-len 128 --target spatten -o same_peak_as=nope", "same_peak_as"),
    # a value that names no architecture is an error about same_peak_as, not about `arch` (was: arch = '5')
    ("baseline --model fabnet-base --seq-len 128 --target sanger -o same_peak_as=5", "same_peak_as = 5 "),
    ("baseline -m fabnet-base -L 128 --target spatten -o same_peak_as=true", "same_peak_as = True"),
    ("baseline --model fabnet-base --seq-len 128 --target spatten -o arch=nope", "arch"),
    ("baseline --model fabnet-base --seq-len 128 --target fabnet-be40 -o fidelity=nope", "fidelity"),
    ("baseline --model fabnet-base --seq-len 128 --target fabnet-be40 -o memory=sram", "memory"),
    ("baseline --model fabnet-base --seq-len 128 --target fabnet-be40 -o arch=sanger", "arch"),
    ("baseline --model fabnet-base --seq-len 128 --target fabnet-be120 -o memory=sram", "memory"),
    ("baseline --model fabnet-base --seq-len 128 --target fabnet-be120-ddr3 -o warp=1", "warp"),
    ("baseline --model fabnet-base --seq-len 128 --target systolic -o arch=nope", "arch"),
    ("baseline --model fabnet-base --seq-len 128 --target systolic -o arch=sanger", "arch"),
    ("baseline --model fabnet-base --seq-len 128 --target systolic -o warp=1", "warp"),
    (
        "baseline --model fabnet-base --seq-len 128 --target systolic -o arch={tmp}/sys-energy.yaml",
        "energy_table",
    ),
    ("baseline --model fabnet-base --seq-len 128 --target xavier-nx -o stack=nope", "stack"),
    ("baseline --model fabnet-base --seq-len 128 --target xavier-nx -o arch=sanger", "arch"),
    ("baseline --model fabnet-base --seq-len 128 --target jetson -o arch=df-4x4-simd8", "arch"),
    (
        "baseline --model fabnet-base --seq-len 128 --target jetson -o arch={tmp}/gpu-generation.yaml",
        "generation",
    ),
    ("baseline --model fabnet-base --seq-len 128 --target jetson -o gemm_efficiency=nan", "gemm_efficiency"),
    ("baseline --model fabnet-base --seq-len 128 --target jetson -o gemm_efficiency=0", "gemm_efficiency"),
    ("baseline --target sanger --model fabnet-base", "--seq-len"),
    ("baseline --model fabnet-base --seq-len 128", "--target"),
    ("baseline validate --bogus", "--bogus"),
    ("baseline fit --bogus", "--bogus"),
    ("baseline list --bogus", "--bogus"),
    # ---- kernel ----------------------------------------------------------------------------------------
    ("kernel --op nope", "op"),
    ("kernel --op butterfly --n 100", "butterfly.n"),
    ("kernel --op fft --n 100", "fft.n"),
    ("kernel --op butterfly --n 0", "butterfly.n"),
    ("kernel --op butterfly --n 1", "butterfly.n"),
    ("kernel --op butterfly --n -8", "butterfly.n"),
    ("kernel --op butterfly --n 64 --rows 0", "butterfly.rows"),
    ("kernel --op butterfly --n 64 --rows -1", "butterfly.rows"),
    ("kernel --op butterfly --n 64 --dataflow nope", "dataflow"),
    ("kernel --op butterfly --n 64 --verify --precision nope", "precision"),
    ("kernel --op butterfly --n 64 --precision fp32-acc", "only with --verify"),
    ("kernel --op butterfly --n 64 --seed 3", "only with --verify"),
    ("kernel --op butterfly --n 64 --json --show-program", "--show-program"),
    ("kernel --op butterfly --n 64 --trace {tmp}/t.txt", "--trace = "),  # was named 'trace', not the option
    ("kernel --op butterfly --n 64 --trace {tmp}/t", "--trace = "),
    ("kernel --op butterfly --n 64 --gemm-k 8", "gemm-k"),
    ("kernel --op fft --n 64 --complex", "complex"),
    ("kernel --op gemm --n 64 --complex", "complex"),
    ("kernel --op butterfly --n 64 --arch xavier-nx-10w", "arch"),
    ("kernel --op butterfly --n 64 --arch sanger", "arch"),
    ("kernel --op butterfly --n 64 --arch nope", "arch"),
    ("kernel --op butterfly --n 64 --arch {tmp}/a-file", "mapping"),
    ("kernel --op butterfly --n 64 --arch {tmp}/df-unknown-fu.yaml", "pe.fus.warp"),
    ("kernel --op butterfly --n 64 --block 0", "block"),
    ("kernel --op butterfly --n 64 --block 3", "block"),
    ("kernel --op butterfly --n 64 --stages-per-block 0", "stages_per_block"),
    ("kernel --op butterfly --n 64 --stages-per-block 99", "stages_per_block"),
    ("kernel --op butterfly --n 64 --placement nope", "placement"),
    ("kernel --op butterfly --n 64 --rows-per-batch 0", "rows_per_batch"),
    ("kernel --op butterfly --n 64 --units-per-batch 4", "units_per_batch"),
    ("kernel --op butterfly --n 64 --batch 4", "batch"),
    ("kernel --op butterfly --n 64 --seed -1", "--seed"),
    ("kernel --op softmax --n 64 --units-per-batch 0", "units_per_batch"),
    ("kernel --op softmax --n 64 --block 8", "block"),
    ("kernel --op softmax --n 0", "softmax.n"),
    ("kernel --op layernorm --n -4", "layernorm.n"),
    ("kernel --op gelu --n 64 --rows 0", "gelu.numel"),
    ("kernel --op gemm --n 64 --gemm-k 0", "gemm.k"),
    ("kernel --op gemm --n 64 --batch 0", "gemm.batch"),
    ("kernel --op gemm --n 64 --placement stride", "placement"),
    # ---- simulate --------------------------------------------------------------------------------------
    ("simulate --dataflow nope --model fnet --seq-len 128", "--dataflow"),
    ("simulate --arch xavier-nx-10w --model fnet --seq-len 128", "arch"),
    ("simulate --arch sanger --model fnet --seq-len 128", "arch"),
    ("simulate --arch nope --model fnet --seq-len 128", "arch"),
    ("simulate --arch {tmp}/df-spm-banks.yaml --model fnet --seq-len 128", "spm.size_bytes"),
    ("simulate --model fnet --seq-len 128 --timeline {tmp}/x.txt", "--timeline"),
    ("simulate --model nope --seq-len 128", "preset"),
    ("simulate --model fnet --seq-len 0", "seq_len"),
    ("simulate --model fnet --seq-len 128 --batch 0", "batch"),
    ("simulate --model {tmp}/a-file --seq-len 128", "mapping"),
    # ---- reproduce / train / accuracy-sweep / demo -----------------------------------------------------
    ("reproduce --jobs 0", "--jobs"),
    ("reproduce --quick --jobs -2", "--jobs"),
    ("train --task nope --steps 1", "--task"),
    ("train --task listops --steps 0", "steps"),
    ("train --task listops --steps 1 --seed 9223372036854775000", "seed"),
    ("train --task listops --steps -1", "steps"),
    ("train --task listops --steps 1 --task-param n_train", "--task-param"),
    ("train --task listops --steps 1 --task-param warp=1", "listops.warp"),
    ("train --task listops --steps 1 --task-param n_train=abc", "n_train"),
    ("train --task listops --steps 1 --task-param n_train=0", "n_train"),
    ("train --task listops --steps 1 --seq-len 0", "seq_len"),
    ("train --task listops --steps 1 --batch-size 0", "batch_size"),
    ("train --task listops --steps 1 --lr 0", "lr"),
    ("train --task listops --steps 1 --lr nan", "lr"),
    ("train --task listops --steps 1 --lr -1", "lr"),
    ("train --task listops --steps 1 --eval-every -1", "eval_every"),
    ("train --task listops --steps 1 --checkpoint-every -1", "checkpoint_every"),
    ("train --task listops --steps 1 --threads 0", "threads"),
    ("train --task listops --steps 1 --model nope", "preset"),
    ("train --task listops --steps 1 --model {tmp}/a-file", "mapping"),
    ("train --task listops --steps 1 --resume", "--resume"),
    ("accuracy-sweep --task listops --attention-layers x", "--attention-layers"),
    ("accuracy-sweep --task listops --attention-layers 1,,2", "--attention-layers"),
    ("accuracy-sweep --task listops --attention-layers ''", "--attention-layers"),
    ("accuracy-sweep --task listops --attention-layers -1", "attention_layers"),
    ("accuracy-sweep --task listops --attention-layers 99", "attention_layers"),
    ("accuracy-sweep --task nope", "--task"),
    ("accuracy-sweep --task listops --steps 0", "steps"),
    ("accuracy-sweep --task listops --seq-len 0", "seq_len"),
    ("accuracy-sweep --task listops --task-param x", "--task-param"),
    ("accuracy-sweep --task listops --lr 0", "lr"),
    ("accuracy-sweep --task listops --batch-size 0", "batch_size"),
    ("accuracy-sweep --task listops --model nope", "preset"),
    ("demo --bogus", "--bogus"),
    ("demo extra", "extra"),
    # ---- output paths ------------------------------------------------------------------------------------
    ("reproduce --quick --out {tmp}/a-file", "--out"),
    # ---- found by the third hunt: environment variables and names past the file system's limit -------------
    ("WORLD_SIZE=abc train --task listops --steps 1 --task-param n_train=8", "WORLD_SIZE = 'abc'"),
    ("SWALLOWTAIL_MEMORY_BUDGET=0.0001 reproduce --quick", "at least one byte"),
    ("SWALLOWTAIL_CACHE={tmp}/a-file train --task listops --task-param n_train=8", "SWALLOWTAIL_CACHE"),
    ("SWALLOWTAIL_TIME_BUDGET=1e308h reproduce --quick", "SWALLOWTAIL_TIME_BUDGET"),
    ("dse check " + "a" * 300, "SWEEP = 'aaa"),  # was Errno 36 naming the package's own folder
    # its figures folder was checked only when written, after results.json: one without its report
    ("reproduce --quick --out {tmp}/run-out", "run-out/figures"),
    ("train --task listops --steps 1 --out {tmp}/a-file", "--out"),
    ("accuracy-sweep --task listops --out {tmp}/a-file", "--out"),
    # ---- found by tests/test_fuzz.py (before: a traceback, a hang, gigabytes, or silently accepted) --------
    ("arch show {tmp}/unhashable-key.yaml", "a key that is a list"),
    ("arch show {tmp}/not-utf8.yaml", "UTF-8"),
    ("model summary {tmp}/not-utf8.yaml --seq-len 128", "UTF-8"),
    ("arch show {tmp}/nul.yaml", "#x0000"),
    ("arch show {tmp}/sparse.yaml", "bytes"),
    ("model summary {tmp}/sparse.yaml --seq-len 128", "bytes"),
    ("dse check {tmp}/sparse.yaml", "bytes"),
    ("model summary {tmp}/model-num-key.yaml --seq-len 128", "HybridConfig field"),
    ("model summary {tmp}/model-layers-huge.yaml --seq-len 128", "n_layers"),
    ("simulate --model {tmp}/model-dff-huge.yaml --seq-len 16", "d_ff"),
    ("simulate --arch {tmp}/df-dma-channels.yaml --model fnet --seq-len 16", "dma.channels"),
    ("kernel --n 64 --rows 4 --arch {tmp}/df-dma-latency.yaml", "dma.latency_cycles"),
    ("simulate --arch {tmp}/df-dma-slow.yaml --model fnet --seq-len 16", "dma.gbytes_per_s_per_channel"),
    ("simulate --arch {tmp}/df-fu-latency.yaml --model fabnet-base --seq-len 16", "pe.fus.add.latency"),
    ("kernel --n 64 --rows 4 --arch {tmp}/df-rf-ports-huge.yaml", "pe.register_file.read_ports"),
    ("kernel --n 64 --rows 4 --arch {tmp}/df-hop-latency.yaml", "noc.hop_latency"),
    ("arch show {tmp}/df-tags-huge.yaml", "pe.active_tags"),
    ("kernel --op gemm --n 64 --rows 4 --arch {tmp}/df-spm-groups.yaml", "spm.bytes_per_cycle"),
    ("kernel --op gemm --n 64 --rows 4 --arch {tmp}/df-32x32.yaml", "array"),
    ("simulate --arch {tmp}/df-32x32.yaml --model fnet --seq-len 16", "array"),
    ("baseline --target fabnet-be40 --model fnet --seq-len 64 -o arch={tmp}/fab-eff-tiny.yaml", "efficiency"),
    ("arch show {tmp}/fab-engines-huge.yaml", "butterfly_engines"),
    (
        "baseline --target fabnet-be40 --model fnet --seq-len 64 -o butterfly_engines=1073741824",
        "butterfly_engines",
    ),
    ("baseline --target jetson --model fnet --seq-len 64 -o arch={tmp}/gpu-flops-tiny.yaml", "fp16_tensor"),
    ("arch show {tmp}/gpu-sms-huge.yaml", "sms"),
    ("arch show {tmp}/gpu-generation.yaml", "generation"),
    (
        "baseline --target sanger --model fnet --seq-len 64 -o arch={tmp}/sanger-ops-tiny.yaml",
        "reported_ops_per_s",
    ),
    (
        "baseline --target sanger --model fnet --seq-len 64 -o arch={tmp}/sanger-dram-tiny.yaml",
        "dram_gbytes_per_s",
    ),
    ("arch show {tmp}/sanger-rows-huge.yaml", "pe_rows"),
    ("arch show {tmp}/spatten-bits-huge.yaml", "kv_fetch_bits"),
    ("arch show {tmp}/sys-rows-huge.yaml", "rows"),
    (
        "baseline --target systolic --model fnet --seq-len 64 -o arch={tmp}/sys-dram-tiny.yaml",
        "dram_gbytes_per_s",
    ),
    (
        "baseline --target jetson --model fnet --seq-len 64 -o stack={tmp}/stack-overhead.yaml",
        "per_op_overhead_s",
    ),
    (
        "baseline --target jetson --model fnet --seq-len 64 -o stack={tmp}/stack-eff-tiny.yaml",
        "gemm_efficiency.volta",
    ),
    (
        "baseline --target jetson --model fnet --seq-len 64 -o stack={tmp}/stack-generation.yaml",
        "gemm_efficiency.voltaa",
    ),
    ("dse check {tmp}/sweep-union.yaml", "backends.0 = 5 is not allowed: a string or a mapping"),
    # a knob the sampling method does not use (a grid's seed) was silently ignored
    ("dse check {tmp}/sweep-grid-seed.yaml", "sampling.seed = 3 is not allowed: absent with method 'grid'"),
    # a NaN bound of a range: was "high = 1e9 is not allowed: greater than low = nan"
    ("dse check {tmp}/sweep-range-nan.yaml", "params.clock_hz.low = nan is not allowed: a finite number"),
    # one backend configuration listed twice ran twice, and was stored once
    ("dse check {tmp}/sweep-twice.yaml", "backends.1 = 'roofline' is not allowed"),
    # an export onto its own store replaced the database with the CSV (the rows were lost)
    ("dse export {tmp}/store.db {tmp}/store.db", "a file other than the store"),
    ("dse export {tmp}/store.db {tmp}/store.db-wal --format jsonl", "a file other than the store"),
    # ---- limits before work: over any machine's budget, refused before it allocates, naming --force ------
    ("kernel --op gemm --n 65536 --gemm-k 65536 --rows 65536 --verify", "--force"),
    ("kernel --op softmax --n 1048576 --rows 1048576", "--force"),
    ("train --task listops --lra", "--force"),
    ("train --task listops --steps 100000000", "--force"),
    ("train --task listops --batch-size 10000000", "--force"),
    ("train --task listops --task-param n_train=60000000", "--force"),
    ("train --task listops --task-param n_train=1000000000", "n_train = 1000000000 is not allowed"),
    ("train --task listops --task-param max_len=65536 --task-param n_train=1000000", "--force"),
    ("train --task pathfinder --task-param n_images=60000000", "--force"),
    ("train --task pathfinder --lra", "--force"),
    ("accuracy-sweep --task listops --lra", "--force"),
    ("accuracy-sweep --task pathfinder --steps 10000000", "--force"),
    ("simulate --model llama-7b --seq-len 1000000000000", "16777216"),  # past MAX_CONTEXT
    ("roofline --model {tmp}/factory.py:build --seq-len 10000000 --batch 100000", "--force"),
    ("baseline -t sanger --model {tmp}/factory.py:build --seq-len 10000000 --batch 100000", "--force"),
    ("workload show {tmp}/factory.py:build --seq-len 10000000 --batch 100000", "--force"),
    ("workload import {tmp}/factory.py:build --input-shape 100000,1000000000 --input-dtype=int64", "--force"),
    ("dse run {tmp}/huge-sweep.yaml --store {tmp}/huge.db", "--force"),
    # an integer input a float model computes with: was "found at least two devices, cpu and meta"
    ("workload import {tmp}/linear.py:build --input-shape 8 --input-dtype int64", "--input-dtype = 'int64'"),
    ("workload import {tmp}/linear.py:build --input-shape 8 --input-dtype int8", "dtype (float32, the dtype"),
    ("roofline --model {tmp}/linear.py:build --seq-len 8", "takes token ids (int64"),
    # a model file that never finishes importing: stopped after SWALLOWTAIL_IMPORT_TIMEOUT (it hung)
    ("SWALLOWTAIL_IMPORT_TIMEOUT=1s workload import {tmp}/hangs.py:build --input-shape 4", "module, at"),
    ("SWALLOWTAIL_IMPORT_TIMEOUT=1s roofline --model {tmp}/hangs.py:build -L 8", "imports within 1.0 s"),
    ("SWALLOWTAIL_IMPORT_TIMEOUT=-1 workload import {tmp}/linear.py:build --input-shape 8", "TIMEOUT"),
    ("train --task listops --eval-examples -1", "--eval-examples"),
    ("train --task text --task-param data_dir={tmp} --task-param max_examples=0", "max_examples"),
]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    write_files(d)
    return d


def write_files(d: Path) -> None:
    """FILES and SPARSE_FILES in folder `d` (tests/test_fuzz.py writes them too)."""
    for name, text in FILES.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            (d / name).write_bytes(text)
        else:
            (d / name).write_text(text)
    for name, size in SPARSE_FILES.items():
        with (d / name).open("wb") as f:
            f.truncate(size)


@pytest.mark.parametrize(("command", "field"), CASES, ids=[c for c, _ in CASES])
def test_bad_input_is_one_clean_line(command: str, field: str, tmp: Path) -> None:
    words = shlex.split(command.format(tmp=tmp))
    env = {}
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    out = runner.invoke(app, words, env=env)
    text = out.output.strip()
    assert not isinstance(out.exception, (MemoryError, RecursionError)), out.exception
    assert_one_clean_line(out.exit_code, text, repr(out.exception))
    assert field in text, text


def assert_one_clean_line(exit_code: int, text: str, where: str = "", per_problem: bool = False) -> None:
    """Exit status 2, no traceback, one message (the check tests/test_fuzz.py applies too); `per_problem`:
    or one line per problem of one spec file, each naming the file (a spec with several things wrong)."""
    assert exit_code == 2, (exit_code, text, where)
    assert "Traceback" not in text, (where, text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    source = lines[0].removeprefix("error: ").split(": ", 1)[0] + ": " if lines else ""
    if per_problem and len(lines) > 1 and lines[0].startswith("error: ") and len(source) > 2:
        assert all(line.startswith(source) for line in lines[1:]), (where, text)
        return
    plain = [line for line in lines if line[0] not in "╭╰│"]
    boxed = any(line[0] == "│" for line in lines)  # typer's error box: one message, wrapped at 80 columns
    # one message (typer's own usage errors add a usage line and a hint)
    assert len(plain) + boxed <= 3, (where, text)


def test_version() -> None:
    from swallowtail import __version__

    out = runner.invoke(app, ["--version"])
    assert out.exit_code == 0 and out.output.strip() == f"swallowtail {__version__}"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"pe.register_file.entries": 8}, "pe.register_file.entries"),
        ({"spm.size_bytes": 1024, "spm.banks": 16}, "spm.size_bytes"),
        ({"pe.active_tags": 1}, "pe.active_tags"),
        ({"array.rows": 2}, "array.rows"),
    ],
)
def test_a_program_runs_only_on_an_arch_of_its_structure(override: dict, field: str) -> None:
    """run() on an arch whose structure differs from the compile arch is a clear error (it used to simulate
    it silently); an arch that differs only in rates runs (the static order replays)."""
    from swallowtail.arch import load_arch
    from swallowtail.compiler import compile as compile_op
    from swallowtail.errors import SpecError
    from swallowtail.sim import run
    from swallowtail.workload import Butterfly

    base = load_arch("df-4x4-simd8")
    program = compile_op(Butterfly("b", n=64, rows=8), base)
    with pytest.raises(SpecError, match=field.replace(".", r"\.")):
        run(program, base.with_overrides(override))
    assert run(program, base.with_overrides({"noc.link_bytes_per_cycle": 16})).stats.cycles > 0


def test_one_active_tag_is_named_as_the_problem() -> None:
    """With one tag in flight the automatic block choice finds nothing; the error names pe.active_tags (it
    used to blame pe.register_file.entries), and a given block still compiles."""
    from swallowtail.arch import load_arch
    from swallowtail.compiler import compile as compile_op
    from swallowtail.errors import SpecError
    from swallowtail.workload import Butterfly

    arch = load_arch("df-4x4-simd8").with_overrides({"pe.active_tags": 1})
    op = Butterfly("b", n=1024, rows=64)
    with pytest.raises(SpecError, match=r"pe\.active_tags"):
        compile_op(op, arch)
    assert compile_op(op, arch, block=128).plan.block == 128


@pytest.mark.parametrize(
    ("command", "option"),
    [
        ("roofline -L 64 -L 128 --json", "--seq-len / -L"),  # the last value silently won
        ("roofline -L64 --seq-len=128", "--seq-len / -L"),
        ("kernel -n 16 -n 32", "--n / -n"),
        ("train --steps 1 --steps 5 --task listops", "--steps"),
        ("baseline -t jetson -t systolic -m fabnet-base -L 64", "--target / -t"),  # a group's own option
        ("dse run around-df-4x4-simd8 --workers 1 -w 2", "--workers / -w"),  # a sub-command's
        ("baseline -t list -t sanger list", "--target / -t"),  # a value that is a sub-command's name
    ],
)
def test_an_option_of_one_value_given_twice_is_refused(command: str, option: str) -> None:
    out = runner.invoke(app, shlex.split(command))
    assert out.exit_code == 2, out.output
    text = " ".join(out.output.replace("│", " ").split())  # the error box may wrap the line
    assert f"Invalid value for {option}: given twice" in text, text


def test_repeatable_options_and_values_after_double_dash_still_pass() -> None:
    cmd = typer.main.get_command(app).commands["baseline"]
    assert repeated_option(cmd, ["-o", "a=1", "-o", "b=2"]) is None  # --option is repeatable
    assert repeated_option(cmd, ["-m", "x", "--", "-m", "y"]) is None
    assert repeated_option(cmd, ["-m", "-m"]) is None  # a value that looks like an option
    assert repeated_option(cmd, ["-L", "1", "-L", "2", "--help"]) is None  # help was asked for
    # a group's option and its sub-command's of the same name, through the CLI: the sub-command's own error
    out = runner.invoke(app, ["baseline", "-m", "a", "measure-kernels", "-m", "b"])
    assert "given twice" not in out.output
    out = runner.invoke(app, ["simulate", "-m", "transformer", "-L", "128", "--timeline", "-m"])
    assert "given twice" not in out.output and "--timeline" in out.output


def _api_cases() -> list[tuple[str, object]]:
    fft = FFT("f", n=16, rows=4)
    return [  # found by a bad-input hunt: accepted (a flag of any type), or a torch storage overflow
        ("nstacks", lambda: twiddle_init(8, "random", nstacks=10**18)),
        ("complex", lambda: twiddle_init(8, "random", complex=float("nan"))),
        ("normalized", lambda: sylvester_hadamard(8, normalized="abc")),
        ("bias", lambda: linear_counts(64, 64, bias="abc")),
        ("complex", lambda: linear_counts(64, 64, complex=[])),
        ("verify", lambda: simulate_kernel(fft, "df-4x4-simd8", verify="abc")),
        ("trace", lambda: simulate_kernel(fft, "df-4x4-simd8", trace=[])),
        ("fast_forward", lambda: simulate_kernel(fft, "df-4x4-simd8", fast_forward=float("nan"))),
        ("seed", lambda: simulate_kernel(fft, "df-4x4-simd8", seed="abc")),
        ("n_train", lambda: load_task("listops", n_train=10**18)),  # was a hang
        ("n_images", lambda: load_task("pathfinder", n_images=10**18)),
        ("n_train", lambda: toy_task(n_train=10**18)),  # was a torch storage-size overflow
        ("seq_len", lambda: fit_length(torch.zeros(2, 3, dtype=torch.int64), 10**18)),
        ("x", lambda: fit_length([[1, 2]], 4)),
        ("data", lambda: sim_run(compile_kernel(fft, "df-4x4-simd8"), values=True, data=DenseData())),
    ]


@pytest.mark.parametrize("case", range(15))
def test_python_api_flags_and_sizes_are_checked(case: int) -> None:
    field, call = _api_cases()[case]
    with pytest.raises(SpecError) as e:
        call()  # type: ignore[operator]
    assert e.value.field == field
