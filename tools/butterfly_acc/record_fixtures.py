"""Run the published Butterfly_Acc simulator (FABNet, Fan et al., MICRO 2022) and record its per-layer cycles
as test fixtures for the `fidelity="reference"` mode of `swallowtail.baselines.fabnet`.

Not run by the test suite. It needs a checkout (or `git archive`) of github.com/SamsungLabs/Butterfly_Acc;
pass the simulator folder:

    python3 tools/butterfly_acc/record_fixtures.py \\
        --simulator /tmp/bacc/hardware/npu_design/simulator --commit <sha> \\
        [--out tests/fixtures/butterfly_acc]

Two variants per configuration:

- `published`: the simulator exactly as published, through its own command line
  (`python3 simulator_bfly.py --num_len L --version V --fpga_board B --offchip_mem M --parallesm_be BE`),
  unmodified. Its FBfly layer costs the second (sequence-dimension) FFT with the hidden length over
  `num_len` rows -- the same geometry as the first (hidden-dimension) FFT -- a bug.
- `seq_fft_fixed`: the same model with that FFT corrected, driven from this script without editing any of
  the simulator's files: it builds the simulator's `Butterfly_Accelerator` as `simulator_bfly.py` does and,
  for the second `run_fft` call only, sets the object's `hidden_dim` (the transform length `run_fft` uses)
  to the sequence length rounded up to a power of two and its `num_len` (the rows `run_fft` tiles) to the
  padded hidden size, then restores both. The same driver also replays the published order unmodified and
  checks it reproduces the command-line numbers, so the two variants differ only in that one call.

The per-op cycles are the simulator's "Runtime cost of FFT / Butterfly takes N cycles" log lines (raw
cycles, before its efficiency derate); the overall latency is its printed "The overall latecy is:" (ms, for
all layers, divided by its efficiency). The recorder uses only the standard library.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import logging
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "tests" / "fixtures" / "butterfly_acc"

#: (our config name, FPGA board flag, off-chip memory flag, butterfly engines) -- the simulator's own
#: speed_benchmark_sim.sh runs zcu128/hbm/120 and zynq7045/ddr3/20; BE-40 on HBM is FABNet's power design
CONFIGS: list[tuple[str, str, str, int]] = [
    ("be120-hbm", "zcu128", "hbm", 120),
    ("be40-hbm", "zcu128", "hbm", 40),
    ("be20-ddr3", "zynq7045", "ddr3", 20),
]
#: model versions the simulator knows (simulator_bfly.py: base 12 x 768 / 3072, large 24 x 1024 / 4096)
VERSIONS = ("base", "large")
SEQ_LENS = (128, 256, 512, 1024, 2048)
#: order of the simulator's four cost calls in one FBfly layer
OP_KEYS = ("fft_hidden", "fft_seq", "ffn_fc1", "ffn_fc2")
#: the simulator's command-line defaults that enter the numbers (simulator_bfly.py argparse)
FREQUENCY_MHZ = 200
EFFICIENCY = 0.85
MODEL_SHAPES = {"base": (12, 768, 3072), "large": (24, 1024, 4096)}  # layers, hidden, FFN inner

RUNTIME_RE = re.compile(r"Runtime cost of (FFT|Butterfly) takes (\d+) cycles")
LATENCY_RE = re.compile(r"The overall latecy is:\s*([0-9.eE+-]+)")


def _ceil_pow2(x: int) -> int:
    return 1 << (x - 1).bit_length()


def run_published(sim: Path, version: str, board: str, mem: str, be: int, seq: int) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "simulator_bfly.py",
        "--num_len",
        str(seq),
        "--version",
        version,
        "--fpga_board",
        board,
        "--offchip_mem",
        mem,
        "--parallesm_be",
        str(be),
    ]
    p = subprocess.run(cmd, cwd=sim, capture_output=True, text=True, check=True)
    text = p.stdout + p.stderr
    costs = [int(m.group(2)) for m in RUNTIME_RE.finditer(text)]
    kinds = [m.group(1) for m in RUNTIME_RE.finditer(text)]
    assert kinds == ["FFT", "FFT", "Butterfly", "Butterfly"], kinds
    lat = LATENCY_RE.search(text)
    assert lat is not None, text
    return {
        "command": "python3 " + " ".join(cmd[1:]),
        "ops": dict(zip(OP_KEYS, costs, strict=True)),
        "latency_ms": float(lat.group(1)),
    }


def run_driver(sim: Path, version: str, mem: str, be: int, seq: int, fix_seq_fft: bool) -> dict[str, int]:
    """The FBfly layer through the simulator's own classes; `fix_seq_fft`: the second FFT at the sequence
    length over the (padded) hidden columns."""
    sys.path.insert(0, str(sim))
    try:
        from bfly_accelerator import Butterfly_Accelerator  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    _, hidden, ffn = MODEL_SHAPES[version]
    ports = {"hbm": (2048, 256, 2048), "ddr3": (64, 64, 128)}[mem]
    logging.getLogger().setLevel(logging.WARNING)
    with contextlib.redirect_stdout(io.StringIO()):
        d = Butterfly_Accelerator(
            32,  # simulator_bfly.py --head_dim default (unused by the FBfly layer)
            hidden,
            seq,
            ffn,
            parallesm_bu=4,
            parallesm_be=be,
            indata_dram_bw=ports[0],
            coef_dram_bw=ports[1],
            outdata_dram_bw=ports[2],
        )
        out = [d.run_fft(complex_input=False, complex_output=True)]
        if fix_seq_fft:
            saved = d.hidden_dim, d.num_len
            d.hidden_dim, d.num_len = _ceil_pow2(seq), saved[0]
            out.append(d.run_fft(complex_input=True, complex_output=False))
            d.hidden_dim, d.num_len = saved
        else:
            out.append(d.run_fft(complex_input=True, complex_output=False))
        out.append(d.run_bfly(d.num_len, d.hidden_dim, d.ffn_inner_dim))
        out.append(d.run_bfly(d.num_len, d.ffn_inner_dim, d.hidden_dim))
    return dict(zip(OP_KEYS, (int(c) for c in out), strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--simulator", type=Path, required=True, help="hardware/npu_design/simulator folder")
    ap.add_argument("--commit", required=True, help="the Butterfly_Acc commit the folder comes from")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    sim = args.simulator.resolve()
    runs: list[dict[str, Any]] = []
    for name, board, mem, be in CONFIGS:
        for version in VERSIONS:
            layers, hidden, ffn = MODEL_SHAPES[version]
            for seq in SEQ_LENS:
                pub = run_published(sim, version, board, mem, be, seq)
                replay = run_driver(sim, version, mem, be, seq, fix_seq_fft=False)
                assert replay == pub["ops"], (name, version, seq, replay, pub["ops"])
                fixed = run_driver(sim, version, mem, be, seq, fix_seq_fft=True)
                assert {k: v for k, v in fixed.items() if k != "fft_seq"} == {
                    k: v for k, v in pub["ops"].items() if k != "fft_seq"
                }
                layer = sum(pub["ops"].values())
                derated = pub["latency_ms"] * 1e-3 * FREQUENCY_MHZ * 1e6 / layers
                runs.append(
                    {
                        "config": name,
                        "fpga_board": board,
                        "offchip_mem": mem,
                        "butterfly_engines": be,
                        "version": version,
                        "num_layer": layers,
                        "hidden_dim": hidden,
                        "ffn_inner_dim": ffn,
                        "seq_len": seq,
                        "layer_kind": "fbfly",
                        "command": pub["command"],
                        "published": {
                            "ops": pub["ops"],
                            "layer_cycles": layer,
                            "latency_ms": pub["latency_ms"],
                            "layer_cycles_derated": round(derated, 3),
                        },
                        "seq_fft_fixed": {
                            "ops": fixed,
                            "layer_cycles": sum(fixed.values()),
                            "layer_cycles_derated": round(sum(fixed.values()) / EFFICIENCY, 3),
                        },
                    }
                )
                print(name, version, seq, pub["ops"], "fixed fft_seq:", fixed["fft_seq"])
    doc = {
        "source": {
            "repo": "https://github.com/SamsungLabs/Butterfly_Acc",
            "commit": args.commit,
            "folder": "hardware/npu_design/simulator",
            "entry": "simulator_bfly.py",
            "python": platform.python_version(),
            "recorded": datetime.date.today().isoformat(),
            "frequency_mhz": FREQUENCY_MHZ,
            "efficiency": EFFICIENCY,
            "parallesm_bu": 4,
        },
        "notes": [
            "ops: raw cycles per cost call (the simulator's 'Runtime cost of ... takes N cycles'), before "
            "the efficiency derate; layer_cycles: their sum (one FBfly layer)",
            "published.layer_cycles_derated = latency_ms x 200e3 / num_layer (the printed latency includes "
            "/ efficiency and all layers)",
            "published: the sequence-dimension FFT (fft_seq) costed at the hidden length over seq_len rows, "
            "as the simulator has it (a bug); seq_fft_fixed: the same simulator with only that call "
            "corrected (length = seq_len rounded up to a power of two, rows = the padded hidden size), "
            "driven by tools/butterfly_acc/record_fixtures.py without editing the simulator's files",
            "the simulator has no ABfly (butterfly attention) layer: simulator_bfly.py costs the FBfly layer "
            "only (simulator_att.py is a separate dense-attention accelerator)",
        ],
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "fbfly_layers.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print("wrote", path, len(runs), "runs")


if __name__ == "__main__":
    main()
