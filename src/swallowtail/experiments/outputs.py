"""The files of `swallowtail reproduce`: results.json, summary.md, report.html and figures/*.png.

    paths = write_outputs(run, "reproduce-out")    # {"results", "figures", "summary", "report"} -> Path
    run = load_results(paths["results"])           # the ReproduceRun back, every Result a Result

Every file is written atomically (a temp file in the same folder, then `os.replace`): a reader sees the
old file or the whole new one, never half of it. results.json is strict JSON (non-finite floats become
null), keys sorted, so two runs of the same suite write the same bytes.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from swallowtail.experiments.records import RESULTS_SCHEMA, ReproduceRun
from swallowtail.experiments.report import render_figures, render_html, render_summary
from swallowtail.procs import remove_stale_temps, temp_name_prefix

RESULTS_FILE = "results.json"
SUMMARY_FILE = "summary.md"
REPORT_FILE = "report.html"
FIGURE_DIR = "figures"
#: JSON indentation of results.json (small: the file holds every op of every run)
JSON_INDENT = 1
#: permissions of written files before the umask (mkstemp makes them private: 0o600)
FILE_MODE = 0o666


def _finite(obj: Any) -> Any:
    """JSON-safe: non-finite floats become None (strict JSON has no NaN / Infinity), tuples lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _dump_json(obj: Any, fh: Any) -> None:
    json.dump(obj, fh, indent=JSON_INDENT, sort_keys=True, allow_nan=False)
    fh.write("\n")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, write: Callable[[Any], None], mode: str = "w") -> Path:
    """Write a file through `write(fh)` into a temp file in the same folder, then `os.replace` it onto
    `path`: readers see the old file or the whole new one, never half of it. On any error the temp file
    is removed and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent, path.name)  # a killed writer's leftovers
    fd, tmp = tempfile.mkstemp(prefix=temp_name_prefix(path.name), suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, FILE_MODE & ~_umask())
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    return write_atomic(path, lambda fh: _dump_json(_finite(obj), fh))


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_atomic(path, lambda fh: fh.write(text))


def load_results(path: str | Path) -> ReproduceRun:
    """Read a results.json back as the ReproduceRun that wrote it (every run's result a `Result`)."""
    data = json.loads(Path(path).read_text())
    if data.get("schema") != RESULTS_SCHEMA:
        raise ValueError(f"{path}: schema {data.get('schema')!r} is not {RESULTS_SCHEMA!r}")
    return ReproduceRun.from_dict(data)


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
    "load_results",
    "write_atomic",
    "write_json_atomic",
    "write_outputs",
    "write_text_atomic",
]
