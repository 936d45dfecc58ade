"""The files of `swallowtail reproduce`: results.json, summary.md, report.html and figures/*.png.

    paths = write_outputs(run, "reproduce-out")    # {"results", "figures", "summary", "report"} -> Path
    run = load_results(paths["results"])           # the ReproduceRun back, every Result a Result

Every file is written atomically (`swallowtail.atomicio`): a reader sees the old file or the whole new
one, never half of it. results.json is strict JSON (non-finite floats become
null), keys sorted, so two runs of the same suite write the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

from swallowtail.atomicio import (
    check_writable,
    check_writable_folder,
    write_atomic,
    write_json_atomic,
    write_text_atomic,
)
from swallowtail.experiments.records import RESULTS_SCHEMA, ReproduceRun
from swallowtail.experiments.report import render_figures, render_html, render_summary

RESULTS_FILE = "results.json"
SUMMARY_FILE = "summary.md"
REPORT_FILE = "report.html"
FIGURE_DIR = "figures"


def load_results(path: str | Path) -> ReproduceRun:
    """Read a results.json back as the ReproduceRun that wrote it (every run's result a `Result`)."""
    data = json.loads(Path(path).read_text())
    if data.get("schema") != RESULTS_SCHEMA:
        raise ValueError(f"{path}: schema {data.get('schema')!r} is not {RESULTS_SCHEMA!r}")
    return ReproduceRun.from_dict(data)


def check_outputs(out: str | Path, field: str = "--out") -> None:
    """A SpecError naming `field`, before any work, when a file or folder `write_outputs` writes under `out`
    could not be written (a read-only figures folder left results.json without its report)."""
    out = Path(out)
    check_writable_folder(out, field)
    check_writable_folder(out / FIGURE_DIR, field)
    for name in (RESULTS_FILE, SUMMARY_FILE, REPORT_FILE):
        check_writable(out / name, field)


def write_outputs(run: ReproduceRun, out: str | Path) -> dict[str, Path]:
    """results.json, summary.md, report.html (figures embedded) and figures/*.png into `out`."""
    out = Path(out)
    paths = {"results": write_json_atomic(out / RESULTS_FILE, run.to_dict())}
    figures = render_figures(run)
    for f in figures:
        write_atomic(out / FIGURE_DIR / f"{f.id}.png", lambda fh, png=f.png: fh.write(png), mode="wb")
    paths["figures"] = out / FIGURE_DIR
    paths["summary"] = write_text_atomic(out / SUMMARY_FILE, render_summary(run, FIGURE_DIR))
    paths["report"] = write_text_atomic(out / REPORT_FILE, render_html(run, figures))
    return paths


__all__ = [
    "FIGURE_DIR",
    "REPORT_FILE",
    "RESULTS_FILE",
    "SUMMARY_FILE",
    "check_outputs",
    "load_results",
    "write_outputs",
]
