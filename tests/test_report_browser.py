"""report.html in a real browser: headless Chromium renders it (not blank) and every image decodes.

The report carries an inline script that, after `window.onload`, sets `data-images-loaded="N/M"` on <body>
(N of its M <img> elements complete with a natural width); `--dump-dom` gives the DOM after load.

Chromium comes from Debian (`apt-get install chromium`): when it is missing and we are root with apt, a
session fixture installs it once; otherwise the test is skipped with the command to run (in CI -- env
`CI` set -- a failed install is a failure, not a skip).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from swallowtail.experiments import answer_decoder, answer_inverse, get_suite, run_suite, write_outputs
from swallowtail.experiments.report import FIGURES

#: seconds allowed for apt (once per session) and for one Chromium run
APT_TIMEOUT_S = 900
BROWSER_TIMEOUT_S = 60
#: viewport of the screenshot (px)
WINDOW = "1400,4000"
#: a blank or near-blank page has almost no grey-level variance; a page with text and plots has a lot
MIN_PIXEL_VARIANCE = 200.0
#: flags for a quiet, offline, sandbox-free headless run (CI containers run as root)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def _give_up(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of the Chromium binary, installed from Debian apt when missing (root only)."""
    found = shutil.which("chromium")
    if found:
        return found
    hint = "install it with: apt-get update && apt-get install -y chromium"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        _give_up(f"chromium is not installed and cannot be installed here (needs root and apt-get); {hint}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]):
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            _give_up(f"`{' '.join(cmd)}` failed ({exc}); {hint}")
        if done.returncode != 0:
            _give_up(f"`{' '.join(cmd)}` exited {done.returncode}: {done.stderr[-500:]}; {hint}")
    found = shutil.which("chromium")
    if not found:
        _give_up(f"apt-get installed chromium but it is not on PATH; {hint}")
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    run = answer_inverse(run_suite(get_suite(quick=True)), out / "inverse.db", quick=True)
    run = answer_decoder(run, quick=True)
    return write_outputs(run, out)["report"]


def _chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S)


def test_report_renders_and_every_image_loads(chromium, report, tmp_path):
    from PIL import Image, ImageStat

    url = report.resolve().as_uri()
    shot = tmp_path / "report.png"
    done = _chromium(
        chromium, tmp_path / "profile-shot", f"--screenshot={shot}", f"--window-size={WINDOW}", url
    )
    assert shot.exists(), f"no screenshot: {done.stderr[-2000:]}"
    with Image.open(shot) as im:
        grey = im.convert("L")
        assert grey.size == tuple(int(v) for v in WINDOW.split(","))
        variance = ImageStat.Stat(grey).var[0]
    assert variance > MIN_PIXEL_VARIANCE, f"screenshot looks blank (grey variance {variance:.1f})"

    dom = _chromium(chromium, tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    m = re.search(r'<body[^>]*data-images-loaded="(\d+)/(\d+)"', dom.stdout)
    assert m, f"the load script did not run: {dom.stdout[:500]!r}"
    loaded, total = int(m.group(1)), int(m.group(2))
    assert loaded == total >= len(FIGURES), f"{loaded} of {total} images loaded"
