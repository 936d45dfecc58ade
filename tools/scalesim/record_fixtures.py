"""Run SCALE-Sim v3 on GEMM shapes and record its compute cycles as test fixtures.

Not run by the test suite: it needs SCALE-Sim, which lives in its own virtualenv (it pins numpy < 2):

    python3 -m venv /tmp/scalesim-venv
    /tmp/scalesim-venv/bin/pip install scalesim 'numpy<2'       # recorded with scalesim 3.0.0
    /tmp/scalesim-venv/bin/python tools/scalesim/record_fixtures.py [--out tests/fixtures/scalesim]

For every array shape it writes a SCALE-Sim config (output-stationary, "os"), a GEMM topology CSV
("Layer, M, N, K," -- SCALE-Sim's `-i gemm` format) and a layout CSV (SCALE-Sim v3 always reads one; with
custom layouts off its values are not used), runs

    python -m scalesim.scale -c CONFIG -t TOPOLOGY -l LAYOUT -p OUTDIR -i gemm -s N

and reads the "Total Cycles" column (the compute cycles; the column before it includes the prefetch) of
COMPUTE_REPORT.csv. One JSON fixture per array holds the exact config, topology and layout text, the
command, the SCALE-Sim version and the per-layer results. The recorder uses only the standard library, so
it runs under SCALE-Sim's interpreter without swallowtail installed.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "tests" / "fixtures" / "scalesim"

#: arrays (rows, cols) and the GEMMs (name, M, N, K) run on each; M, N, K include values that are not
#: multiples of the array (partial folds), K below and above the array size, and transformer-like shapes
CASES: dict[tuple[int, int], list[tuple[str, int, int, int]]] = {
    (8, 8): [
        ("exact_8x8x8", 8, 8, 8),
        ("partial_20x12x5", 20, 12, 5),
        ("partial_33x17x9", 33, 17, 9),
        ("tall_100x3x7", 100, 3, 7),
        ("wide_3x100x64", 3, 100, 64),
        ("k1_16x16x1", 16, 16, 1),
    ],
    (16, 16): [
        ("proj_64x64x64", 64, 64, 64),
        ("partial_50x70x30", 50, 70, 30),
        ("attn_128x128x64", 128, 128, 64),
        ("odd_17x15x100", 17, 15, 100),
    ],
    (32, 8): [
        ("partial_100x30x20", 100, 30, 20),
        ("skinny_1x64x48", 1, 64, 48),
        ("square_64x64x64", 64, 64, 64),
        ("partial_40x9x33", 40, 9, 33),
    ],
    (16, 8): [
        ("bfly_block_64x16x16", 64, 16, 16),
        ("partial_45x23x31", 45, 23, 31),
        ("proj_96x72x80", 96, 72, 80),
    ],
}

CONFIG_TEMPLATE = """[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:    1024
FilterSramSzkB:   1024
OfmapSramSzkB:    1024
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 10
Dataflow : os
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

LAYOUT_COLUMNS = [
    "Layer name",
    "IFMAP Height Intraline Factor",
    "IFMAP Width Intraline Factor",
    "Filter Height Intraline Factor",
    "Filter Width Intraline Factor",
    "Channel Intraline Factor",
    "Num Filter Intraline Factor",
    "IFMAP Height Intraline Order",
    "IFMAP Width Intraline Order",
    "Channel Intraline Order",
    "IFMAP Height Interline Order",
    "IFMAP Width Interline Order",
    "Channel Interline Order",
    "Num Filter Intraline Order",
    "Channel Intraline Order",
    "Filter Height Intraline Order",
    "Filter Width Intraline Order",
    "Num Filter Interline Order",
    "Channel Interline Order",
    "Filter Height Interline Order",
    "Filter Width Interline Order",
]
#: the header SCALE-Sim's layout reader skips (its own layout_utils.write_layout_file writes this one)
LAYOUT_HEADER = ", ".join(LAYOUT_COLUMNS) + ","
#: one layout row per layer: unit intraline factors, identity orders (unused with custom layouts off)
LAYOUT_ROW = " 1, 1, 1, 1, 1, 1, 0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3,"


def topology_text(gemms: list[tuple[str, int, int, int]]) -> str:
    lines = ["Layer, M, N, K,"] + [f"{name}, {m}, {n}, {k}," for name, m, n, k in gemms]
    return "\n".join(lines) + "\n"


def layout_text(gemms: list[tuple[str, int, int, int]]) -> str:
    return "\n".join([LAYOUT_HEADER] + [f"{name},{LAYOUT_ROW}" for name, *_ in gemms]) + "\n"


def run_case(rows: int, cols: int, gemms: list[tuple[str, int, int, int]], python: str) -> dict:
    run_name = f"os_{rows}x{cols}"
    config = CONFIG_TEMPLATE.format(run_name=run_name, rows=rows, cols=cols)
    topology = topology_text(gemms)
    layout = layout_text(gemms)
    with tempfile.TemporaryDirectory(prefix="scalesim-") as tmp:
        t = Path(tmp)
        (t / "os.cfg").write_text(config)
        (t / "topology.csv").write_text(topology)
        (t / "layout.csv").write_text(layout)
        args = [
            "-c",
            "os.cfg",
            "-t",
            "topology.csv",
            "-l",
            "layout.csv",
            "-p",
            "out",
            "-i",
            "gemm",
            "-s",
            "N",
        ]
        cmd = [python, "-m", "scalesim.scale", *args]
        proc = subprocess.run(cmd, cwd=t, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"SCALE-Sim failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        report = t / "out" / run_name / "COMPUTE_REPORT.csv"
        with report.open() as f:
            table = [[c.strip() for c in row if c.strip() != ""] for row in csv.reader(f)]
    header, body = table[0], table[1:]
    col = {name: i for i, name in enumerate(header)}
    layers = []
    for (name, m, n, k), row in zip(gemms, body, strict=True):
        layers.append(
            {
                "name": name,
                "M": m,
                "N": n,
                "K": k,
                "compute_cycles": int(row[col["Total Cycles"]]),
                "total_cycles_incl_prefetch": int(row[col["Total Cycles (incl. prefetch)"]]),
                "stall_cycles": int(row[col["Stall Cycles"]]),
                "mapping_efficiency_pct": float(row[col["Mapping Efficiency %"]]),
                "compute_util_pct": float(row[col["Compute Util %"]]),
            }
        )
    return {
        "tool": "SCALE-Sim v3 (PyPI scalesim)",
        "scalesim_version": metadata.version("scalesim"),
        "python": sys.version.split()[0],
        "dataflow": "os",
        "array": {"rows": rows, "cols": cols},
        "command": "python -m scalesim.scale " + " ".join(args),
        "config_cfg": config,
        "topology_csv": topology,
        "layout_csv": layout,
        "compute_report_columns": header,
        "layers": layers,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="fixture directory")
    ap.add_argument("--python", default=sys.executable, help="interpreter with scalesim installed")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for (rows, cols), gemms in CASES.items():
        fixture = run_case(rows, cols, gemms, args.python)
        path = args.out / f"os_{rows}x{cols}.json"
        path.write_text(json.dumps(fixture, indent=2) + "\n")
        cycles = ", ".join(f"{la['name']}={la['compute_cycles']}" for la in fixture["layers"])
        print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: {cycles}")


if __name__ == "__main__":
    main()
