"""Fuzz: no spec file and no command line crashes, hangs or eats the machine (issue 18, item 5).

Seeded (`derandomize`) and bounded, next to the table of tests/test_bad_inputs.py (whose files and clean-line
check it reuses):

- **Spec fuzz.** Valid spec documents -- `arch dump df-4x4-simd8`, a GPU board file, the accelerator presets
  (FABNet, Sanger, SpAtten, systolic), the energy table, the shipped sweep, a GPU software stack and a network
  config -- mutated (keys deleted, added, renamed; values replaced by values of other types, huge, negative,
  NaN, inf, empty, deeply nested, or copied from another field), their YAML text mutated (cut, lines
  duplicated, garbage inserted) or replaced by YAML edge cases (aliases and alias bombs, `!!python/object`
  tags, duplicate and unhashable keys, deep nesting, non-UTF-8 bytes). Each is loaded through the public
  loader of its kind from a file and, where it loads, used (derived quantities, a dump that reloads equal,
  `arch show`'s data, a small workload on the machine or with the table / stack): it succeeds or raises
  `SpecError`; any other exception is a bug.
- **CLI fuzz.** Command lines of the cheap commands (`arch`, `kernel`, `roofline`, `workload`, `baseline`,
  `dse check`, `model`, `simulate`) mixing valid and invalid option values (negative, zero, 1e9, 2**62,
  floats for ints, unknown names, empty strings, unicode, files from the bad-input table and mutated spec
  files), run one at a time in a worker process under RLIMIT_AS = 2 GiB with a time limit each: exit 0, or
  exit 2 with a one-line message (or one line per problem of one spec file); never a traceback, never
  killed, never over the time limit, peak RSS under 2 GiB.

SWALLOWTAIL_FUZZ_SCALE=N runs N times the examples (a longer hunt on a developer's machine; CI runs 1).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import resource
import select
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swallowtail.errors import SpecError, is_int
from test_bad_inputs import FILES, SPARSE_FILES, _bomb, _shipped, assert_one_clean_line, write_files

#: examples multiplier (SWALLOWTAIL_FUZZ_SCALE); 1 in CI keeps the file under a minute on 2 cores
SCALE = max(1, int(os.environ.get("SWALLOWTAIL_FUZZ_SCALE", "1")))
#: address space of a CLI worker: an allocation past it is a MemoryError (a traceback: a failure)
MEMORY_LIMIT_BYTES = 2 << 30
#: the peak RSS a command may reach
MAX_RSS_BYTES = 2 << 30
#: seconds one command may run (the cheap commands take well under a second; a hang is a failure)
COMMAND_TIMEOUT_S = 30.0
#: seconds the worker may take to start
WORKER_START_S = 60.0


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# ---- values: valid ones and every kind of wrong one -------------------------------------------------------
NAN, INF = float("nan"), float("inf")
EDGE_INTS = [0, -1, 1, 2, 3, 7, 255, 256, 257, 4096, 65536, 2**31, 2**40, 2**41, 2**62, 2**63, 2**64, 10**9]
EDGE_INTS += [10**30, 2**1000, -(2**62)]
ODD_FLOATS = [0.0, -0.0, -1.0, 0.5, 1.5, 1e9, 1e300, -1e300, 1e-300, 5e-324, NAN, INF, -INF]
ODD_TEXT = ["", " ", "1e9", "nan", "inf", "-1", "0x10", "yes", "null", "~", "fp16", "volta", "mesh", "ü"]
ODD_TEXT += ["日本語", "\u202e", "a" * 200, "*x", "&x", "!!python/object:os.system", "{a: 1}", "[1, 2]"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(EDGE_INTS),
    st.integers(),
    st.sampled_from(ODD_FLOATS),
    st.floats(),
    st.sampled_from(ODD_TEXT),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=4)
    ),
    max_leaves=8,
)


def _nested(depth: int, leaf: Any = 1, as_list: bool = True) -> Any:
    out = leaf
    for _ in range(depth):
        out = [out] if as_list else {"a": out}
    return out


deep_values = st.builds(_nested, st.integers(10, 60), scalars, st.booleans())


# ---- spec documents and their mutations --------------------------------------------------------------------
def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys / indices) to a node below `node`."""
    out: list[tuple] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        out.append((*prefix, k))
        out.extend(_paths(v, (*prefix, k)))
    return out


def _at(doc: Any, path: tuple) -> Any:
    for k in path:
        doc = doc[k]
    return doc


@st.composite
def mutated(draw: st.DrawFn, doc: dict[str, Any]) -> Any:
    """`doc` with 1 to 3 mutations: a key deleted, renamed or added, a value replaced (by a value of another
    type, a deep nest or another field's value)."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            return doc
        path = draw(st.sampled_from(paths))
        parent, key = _at(doc, path[:-1]), path[-1]
        op = draw(
            st.sampled_from(["delete", "replace", "replace", "number", "number", "add", "rename", "copy"])
        )
        value = parent[key]
        if op == "number" and is_int(value):  # the right type, the wrong size: where bounds are missing
            parent[key] = draw(st.sampled_from(EDGE_INTS) | st.integers(-(2**70), 2**70))
        elif op == "number" and isinstance(value, float):
            parent[key] = draw(st.sampled_from(ODD_FLOATS) | st.floats())
        elif op == "number" and isinstance(value, list) and value:  # a list: reordered, repeated, cut
            parent[key] = draw(st.lists(st.sampled_from(value), max_size=2 * len(value) + 1))
        elif op in ("delete", "number"):
            del parent[key]
        elif op == "replace":
            parent[key] = draw(st.one_of(values, deep_values))
        elif op == "copy":  # another field's value: right kind of thing, wrong place
            parent[key] = copy.deepcopy(_at(doc, draw(st.sampled_from(paths))))
        elif op == "add":
            node = parent if isinstance(parent, dict) else doc
            node[
                draw(st.sampled_from(["warp_drive", "", "sources", "kind", "1e9"]) | st.text(max_size=6))
            ] = draw(values)
        elif isinstance(parent, dict):  # rename
            new = draw(st.sampled_from([f"{key}s", str(key).upper(), f" {key}", "", "kind"]))
            parent[new] = parent.pop(key)
    return doc


def _dump(doc: Any) -> str:
    import yaml

    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


@st.composite
def mutated_text(draw: st.DrawFn, text: str) -> str:
    """YAML text cut, with a line duplicated (a duplicate key) or with garbage inserted."""
    lines = text.splitlines(keepends=True)
    op = draw(st.sampled_from(["cut", "dup", "insert"]))
    i = draw(st.integers(0, max(0, len(lines) - 1)))
    if op == "cut":
        return text[: draw(st.integers(0, len(text)))]
    if op == "dup":
        return "".join(lines[: i + 1] + lines[i:])
    junk = draw(st.sampled_from(["\t", ": :", "- x\n", "&a\n", "*nope\n", "{", "'", "\x00", "\ufeff", "%"]))
    return "".join(lines[:i]) + junk + "".join(lines[i:])


#: YAML edge cases: each is a whole document
EDGE_YAML = [
    "",
    "~",
    "42",
    "[1, 2]",
    "a: 1\na: 2\n",
    "? [1, 2]\n: x\n",
    "? {a: 1}\n: x\n",
    "? !!float nan\n: 1\n? !!float nan\n: 2\n",
    "a: !!python/object/apply:os.system [echo hi]\n",
    "a: !!python/name:os.system\n",
    "a: !!binary aGVsbG8=\n",
    "a: !!set {x, y}\n",
    "a: 2001-12-14\n",
    "a: !foo bar\n",
    "<<: {kind: dataflow}\n",
    "a: &x [1, 2]\nb: *x\n",
    "a: *undefined\n",
    "--- a\n--- b\n",
    "kind: dataflow\n" * 3,
    "kind: gpu\nname: 1e9\n",
    "\ufeffkind: dataflow\n",
    "[" * 5000,
    "a: " + "{b: " * 3000,
    "- " * 3000 + "x\n",
    "a: 1\n" + "#" * (1 << 20) + "\n",
]


EDGE_BYTES = [b"\xff\xfe\x00k\x00i\x00n\x00d", b"kind: \xc3\x28\n", b"\x80" * 10, b"\x00\x01\x02"]

edge_docs = st.one_of(
    st.sampled_from([*EDGE_YAML, _bomb()]).map(str.encode),
    st.sampled_from(EDGE_BYTES),
    st.binary(max_size=64),
    st.text(max_size=64).map(str.encode),
)


def spec_bytes(doc: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """A spec file's bytes: `doc` mutated (3 times in 5), its text mutated, or an edge case."""
    kinds = {
        "doc": mutated(doc).map(_dump).map(str.encode),
        "text": mutated_text(_dump(doc)).map(str.encode),
        "edge": edge_docs,
    }
    return st.sampled_from(["doc", "doc", "doc", "text", "edge"]).flatmap(kinds.__getitem__)


# ---- the documents, each with its loader and what using it means ------------------------------------------
def _arch_doc(name: str) -> dict[str, Any]:
    from swallowtail.arch import load_arch

    return load_arch(name).to_dict()


def _file_doc(rel: str) -> Callable[[], dict[str, Any]]:
    """The document of a file shipped in the package (`rel` below swallowtail/)."""
    from swallowtail.yamlio import load_yaml

    return lambda: load_yaml(_shipped(rel, {}))


def _workload(seq_len: int = 64) -> Any:
    from swallowtail.workload.lower import lower

    return lower("fabnet-base", seq_len, 1)


#: the backend that runs each arch kind
KIND_BACKEND = {
    "dataflow": "roofline",
    "gpu": "jetson",
    "fabnet": "fabnet-be40",
    "sanger": "sanger",
    "spatten": "spatten",
    "systolic": "systolic",
}


def use_arch(path: Path) -> None:
    """Load an arch file, reload its dump, show it, run a small workload on it."""
    from swallowtail.arch import load_arch, parse_arch
    from swallowtail.backends import get_backend
    from swallowtail.cli.arch import show_dict

    a = load_arch(path)
    assert parse_arch(a.to_dict()) == a  # what loads dumps and reloads equal
    a.derived()
    show_dict(str(path))
    get_backend(KIND_BACKEND[a.kind], arch=a).run(_workload())
    if a.kind == "dataflow":
        from swallowtail.backends.dataflow import DataflowBackend

        DataflowBackend("multilayer", a).run(_workload(16))


def use_energy(path: Path) -> None:
    from swallowtail.energy import full_load_report, load_energy_table

    table = load_energy_table(path)
    table.area_mm2("df-4x4-simd8")
    table.scaled_to(12)
    full_load_report("df-4x4-simd8", table).to_dict()


def use_stack(path: Path) -> None:
    from swallowtail.baselines.jetson import JetsonBackend, load_stack

    stack = load_stack(path)
    for arch in ("xavier-nx-15w", "agx-orin-maxn"):
        JetsonBackend(arch, stack=stack).run(_workload())


def use_sweep(path: Path) -> None:
    from swallowtail.dse.execute import check_sweep
    from swallowtail.dse.spec import load_sweep

    check_sweep(load_sweep(path))


def use_model(path: Path) -> None:
    from swallowtail.backends import get_backend
    from swallowtail.nn.config import HybridConfig
    from swallowtail.nn.counts import model_counts
    from swallowtail.workload.lower import lower

    config = HybridConfig.from_yaml(path)
    model_counts(config, 64, 1)
    get_backend("roofline", arch="df-4x4-simd8").run(lower(config, 64, 1))


#: a network config: a preset and overrides of most fields
MODEL_DOC = {"preset": "fnet", "n_layers": 2, "d_model": 128, "n_heads": 4, "d_ff": 512, "max_len": 256}
MODEL_DOC |= {"attention_layers": 1, "layout": "top", "vocab_size": 1000, "pad_id": 0, "dropout": 0.1}
#: kind -> (the valid document, what loading and using a file of it means)
SPECS: dict[str, tuple[Callable[[], dict[str, Any]], Callable[[Path], None]]] = {
    "arch-dataflow": (lambda: _arch_doc("df-4x4-simd8"), use_arch),
    "arch-gpu-board": (_file_doc("arch/presets/gpu/xavier-nx.yaml"), use_arch),
    "arch-fabnet": (lambda: _arch_doc("fabnet-be40-hbm"), use_arch),
    "arch-sanger": (lambda: _arch_doc("sanger"), use_arch),
    "arch-spatten": (lambda: _arch_doc("spatten"), use_arch),
    "arch-systolic": (lambda: _arch_doc("systolic-os-16x8"), use_arch),
    "energy-table": (_file_doc("energy/tables/horowitz-45nm.yaml"), use_energy),
    "gpu-stack": (_file_doc("baselines/params/stacks/tensorrt-fp16.yaml"), use_stack),
    "sweep": (_file_doc("dse/sweeps/around-df-4x4-simd8.yaml"), use_sweep),
    "model-config": (lambda: MODEL_DOC, use_model),
}
#: examples per spec kind (x SWALLOWTAIL_FUZZ_SCALE)
SPEC_EXAMPLES = 80


def load_or_spec_error(use: Callable[[Path], None], path: Path) -> None:
    """`use(path)` succeeds or raises SpecError; anything else fails the test with the traceback."""
    try:
        use(path)
    except SpecError:
        pass
    except BaseException as exc:  # noqa: BLE001 -- MemoryError, RecursionError ...: every one is a bug
        text = path.read_bytes()[:2000].decode("utf-8", "replace")
        pytest.fail(
            f"{type(exc).__name__} (not a SpecError) from {path.name}:\n{text}\n{traceback.format_exc()}"
        )


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_a_mutated_spec_loads_or_is_a_spec_error(kind: str, tmp_path: Path) -> None:
    doc_of, use = SPECS[kind]
    path = tmp_path / f"{kind}.yaml"

    @_settings(SPEC_EXAMPLES)
    @given(spec_bytes(doc_of()))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        load_or_spec_error(use, path)

    check()


def test_spec_loaders_refuse_files_they_must_not_read(tmp_path: Path) -> None:
    """A sparse 3 GiB file, a folder, a missing file: SpecError from every loader, before reading."""
    sparse = tmp_path / "sparse.yaml"
    with sparse.open("wb") as f:
        f.truncate(SPARSE_FILES["sparse.yaml"])
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    for _, use in SPECS.values():
        for path in (sparse, folder, tmp_path / "missing.yaml"):
            with pytest.raises(SpecError):
                use(path)


# ---- the CLI: a worker process that runs command lines one at a time ---------------------------------------
def _limit_memory() -> None:  # runs in the worker before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _worker_main() -> None:
    """Read JSON argv lines on stdin; run each through the app (CliRunner); answer one JSON line each."""
    proto_in = os.fdopen(os.dup(0), "r")
    proto_out = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # a library printing to fd 1 must not corrupt the protocol

    from typer.testing import CliRunner

    from swallowtail.cli import app

    runner = CliRunner()
    proto_out.write(json.dumps({"ready": True}) + "\n")
    proto_out.flush()
    for line in proto_in:
        argv = json.loads(line)
        with contextlib.suppress(OSError):  # reset the peak RSS (VmHWM) so each command reports its own
            Path("/proc/self/clear_refs").write_text("5")
        t0 = time.monotonic()
        out = runner.invoke(app, argv)
        exc = out.exception
        crash = None
        if exc is not None and not isinstance(exc, SystemExit):
            crash = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        answer = {
            "exit_code": out.exit_code,
            "output": out.output,
            "crash": crash,
            "wall_s": time.monotonic() - t0,
            "peak_rss_bytes": _peak_rss_bytes(),
        }
        proto_out.write(json.dumps(answer) + "\n")
        proto_out.flush()


def _peak_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Worker:
    """The worker process: `run(argv)` -> its answer, or an "error" of the worker (killed, hung)."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        env = {**os.environ, "COLUMNS": "120", "TERM": "dumb", "PYTHONFAULTHANDLER": "1"}
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=self.cwd,
            env=env,
            preexec_fn=_limit_memory,  # noqa: PLW1509 -- the worker is single-purpose
        )
        ready = self._read(proc, WORKER_START_S)
        assert ready == {"ready": True}, f"the fuzz worker did not start: {ready}"
        return proc

    @staticmethod
    def _read(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready:
            proc.kill()
            proc.wait()
            return {"error": f"no answer in {timeout:.0f} s (a hang)"}
        line = proc.stdout.readline()
        if not line:
            code = proc.wait()
            return {"error": f"the worker died (exit status {code}: killed or out of memory)"}
        return json.loads(line)

    def run(self, argv: list[str]) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(argv) + "\n")
        self.proc.stdin.flush()
        answer = self._read(self.proc, COMMAND_TIMEOUT_S)
        if "error" in answer:
            self.proc = None
        return answer

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---- command lines ---------------------------------------------------------------------------------------
#: files a command line may name (`@name`: in the worker's folder): the bad-input table's, and these
EXTRA_FILES: dict[str, bytes] = {"deep.yaml": b"[" * 100_000}
FILE_NAMES = sorted([*FILES, *SPARSE_FILES, *EXTRA_FILES, "folder.yaml", "missing.yaml"])

INT_JUNK = ["0", "-1", "-7", "1e9", "1000000000", str(2**31), str(2**62), str(2**63), str(10**30), "1.5"]
INT_JUNK += ["2.0", "", " ", "abc", "٣", "0x10", "nan", "inf", "-0", "+4", "4_0", "１"]
NAME_JUNK = ["", "nope", "ü", "日本語", "-", "--", "a" * 300, " ", "\t", "../..", "/", ".", "/dev/null"]
NAME_JUNK += ["/dev/zero", "/proc/self/mem", "nope.yaml", "DF-4X4-SIMD8", "df-4x4-simd8 ", "\u202e"]
ARCHS = ["df-4x4-simd8", "df-8x8-simd8", "xavier-nx-15w", "agx-orin-maxn", "sanger", "spatten"]
ARCHS += ["fabnet-be40-hbm", "systolic-os-16x8"]
MODELS = ["fnet", "fabnet-base", "transformer", "lra-listops", "bert-large", "resnet-50", "llama-small"]
MODELS += ["llama-small@decode2", "llama-small-swa@decode3"]
TARGETS = ["jetson", "xavier-nx", "fabnet-be40", "fabnet-be120-ddr3", "sanger", "spatten", "systolic"]
#: backend options (`-o KEY=VALUE`): the factories' own and fields of the machines' specs
OPTION_KEYS = ["arch", "stack", "power_mode", "gemm_efficiency", "same_peak_as", "peak_ops_per_s", "node_nm"]
OPTION_KEYS += ["fidelity", "memory", "fusion", "dram_efficiency", "butterfly_engines", "efficiency"]
OPTION_KEYS += ["pe_rows", "rows", "clock_hz", "dram_gbytes_per_s", "butterfly_mapping", "warp", ""]
OPTION_VALUES = ["df-4x4-simd8", "xavier-nx-10w", "tensorrt-int8", "10w", "0.5", "2", "physical", "ddr3"]
OPTION_VALUES += ["none", "block", "1e9", "1e300", "1e-300", "-1", "0", str(2**62), ".nan", ".inf"]
OPTION_VALUES += ["[1]", "{a: 1}", "&a", "*a", "!!binary x", "''", "~"]
#: a value is valid VALID_IN of VALID_OF times (a command line has a few options, so most hold one or two
#: bad values, and some run)
VALID_IN, VALID_OF = 6, 7

files = st.sampled_from(FILE_NAMES).map(lambda name: f"@{name}")


def mostly(valid: st.SearchStrategy[str], invalid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`valid` VALID_IN of VALID_OF times, else `invalid`."""
    ok = st.sampled_from([True] * VALID_IN + [False] * (VALID_OF - VALID_IN))
    return ok.flatmap(lambda good: valid if good else invalid)


def either(valid: list[str], junk: list[str] = INT_JUNK) -> st.SearchStrategy[str]:
    """Mostly one of `valid`, else junk or any text."""
    return mostly(st.sampled_from(valid), st.sampled_from(junk) | st.text(max_size=8))


def names(valid: list[str]) -> st.SearchStrategy[str]:
    """Mostly one of `valid`, else a junk name or a file of the worker's folder."""
    return mostly(st.sampled_from(valid), st.sampled_from(NAME_JUNK) | files)


def opt(flag: str, value: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    """`[]` or `[flag, value]`."""
    return st.one_of(st.just([]), value.map(lambda v: [flag, v]))


def flag(name: str) -> st.SearchStrategy[list[str]]:
    return st.sampled_from([[], [name]])


def arg(value: st.SearchStrategy[str], flag: str | None = None) -> st.SearchStrategy[list[str]]:
    """`[value]` or `[flag, value]`: always there."""
    return value.map(lambda v: [v] if flag is None else [flag, v])


def command(*parts: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    """The parts in order (each a list of words), joined."""
    return st.tuples(*parts).map(lambda ps: [w for p in ps for w in p])


def words(*ws: str) -> st.SearchStrategy[list[str]]:
    return st.just(list(ws))


seq_lens = either(["16", "64", "128"])
batches = either(["1", "2"])
models = names(MODELS)
backend_options = st.lists(
    st.tuples(st.sampled_from(OPTION_KEYS), st.sampled_from(OPTION_VALUES) | names(ARCHS)).map(
        lambda kv: ["-o", f"{kv[0]}={kv[1]}"]
    ),
    max_size=2,
).map(lambda os_: [w for o in os_ for w in o])

CLI_COMMANDS: dict[str, st.SearchStrategy[list[str]]] = {
    "arch": st.one_of(
        command(words("arch", "show"), arg(names(ARCHS)), flag("--json")),
        command(words("arch", "dump"), arg(names(ARCHS)), opt("--out", names(["out.yaml"]))),
        command(words("arch", "list"), flag("--json")),
    ),
    "kernel": command(
        words("kernel"),
        opt("--op", either(["butterfly", "fft", "gemm", "softmax", "layernorm", "gelu"], NAME_JUNK)),
        opt("--n", either(["16", "64", "256"])),
        arg(either(["1", "4", "8"]), "--rows"),  # the default 64 rows are slower to simulate
        opt("--gemm-k", either(["16", "64"])),
        opt("--batch", either(["1", "2"])),
        opt("--dataflow", either(["multilayer", "single-layer"], NAME_JUNK)),
        opt("--block", either(["8", "16", "64"])),
        opt("--stages-per-block", either(["1", "2", "4"])),
        opt("--placement", either(["stride", "local-first"], NAME_JUNK)),
        opt("--rows-per-batch", either(["1", "4"])),
        opt("--units-per-batch", either(["1", "2"])),
        opt("--precision", either(["fp16", "fp32-acc"], NAME_JUNK)),
        opt("--seed", either(["0", "3"])),
        opt("--arch", names(["df-4x4-simd8", "df-8x8-simd8"])),
        flag("--complex"),
        flag("--json"),
    ),
    "roofline": command(
        words("roofline"),
        opt("--arch", names(ARCHS)),
        opt("--model", models),
        opt("--seq-len", seq_lens),
        opt("--batch", batches),
        flag("--json"),
    ),
    "workload": st.one_of(
        command(
            words("workload", "show"),
            arg(models),
            opt("--seq-len", seq_lens),
            opt("--batch", batches),
            flag("--ops"),
            flag("--json"),
        ),
        command(words("workload", "list"), flag("--json")),
    ),
    "baseline": st.one_of(
        command(
            words("baseline"),
            arg(either(TARGETS, NAME_JUNK), "--target"),
            arg(models, "--model"),
            arg(seq_lens, "--seq-len"),
            opt("--batch", batches),
            backend_options,
            opt("--top", either(["0", "3"])),
            flag("--json"),
        ),
        command(words("baseline", "list"), flag("--json")),
    ),
    "dse": st.one_of(
        command(words("dse", "check"), arg(names(["around-df-4x4-simd8"])), flag("--json")),
        command(words("dse", "check"), flag("--list")),
    ),
    "model": st.one_of(
        command(words("model", "list"), flag("--json")),
        command(
            words("model", "summary"),
            arg(names(MODELS[:4])),
            opt("--seq-len", seq_lens),
            opt("--batch", batches),
            flag("--json"),
        ),
    ),
    "simulate": command(  # small models and lengths only
        words("simulate"),
        arg(names(["fnet", "fabnet-base", "bert-large"]), "--model"),
        arg(either(["16", "32", "64"]), "--seq-len"),
        opt("--batch", batches),
        opt("--dataflow", either(["multilayer", "single-layer"], NAME_JUNK)),
        opt("--arch", names(["df-4x4-simd8", "df-8x8-simd8"])),
        words("--json"),
    ),
    "junk": st.lists(
        st.sampled_from(["--", "-", "--help", "-x", "arch", "kernel", "--json", "--version"])
        | st.text(max_size=6),
        max_size=4,
    ),
}
#: examples per command family (x SWALLOWTAIL_FUZZ_SCALE)
CLI_EXAMPLES = 30


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("fuzz-cli")
    write_files(d)
    for name, data in EXTRA_FILES.items():
        (d / name).write_bytes(data)
    (d / "folder.yaml").mkdir()
    return d


@pytest.fixture(scope="module")
def worker(cli_dir: Path):  # noqa: ANN201 -- a generator fixture
    w = Worker(cli_dir)
    yield w
    w.close()


def _resolve(argv: list[str], folder: Path) -> list[str]:
    """`@name` -> a path in the worker's folder; `-o key=@name` too."""
    out = []
    for word in argv:
        head, sep, tail = word.rpartition("=@")
        if sep and "/" not in tail:
            word = f"{head}={folder / tail}"
        elif word.startswith("@") and word[1:] in FILE_NAMES:
            word = str(folder / word[1:])
        out.append(word)
    return out


def check_command(worker: Worker, argv: list[str]) -> dict[str, Any]:
    """Run `argv`; assert: exit 0, or exit 2 with one clean line; no traceback, no hang, RSS < 2 GiB."""
    argv = _resolve(argv, worker.cwd)
    answer = worker.run(argv)
    where = f"swallowtail {' '.join(repr(a) if not a or ' ' in a else a for a in argv)}"
    assert "error" not in answer, f"{where}: {answer['error']}"
    assert answer["crash"] is None, f"{where}: a traceback\n{answer['crash']}"
    assert answer["peak_rss_bytes"] < MAX_RSS_BYTES, (
        f"{where}: peak RSS {answer['peak_rss_bytes'] / 2**30:.1f} GiB"
    )
    text = answer["output"].strip()
    assert answer["exit_code"] in (0, 2), f"{where}: exit status {answer['exit_code']}\n{text}"
    if answer["exit_code"] == 2:
        assert_one_clean_line(answer["exit_code"], text, where, per_problem=True)
    else:
        assert "Traceback" not in text, f"{where}\n{text}"
    return answer


@pytest.mark.parametrize("family", list(CLI_COMMANDS))
def test_a_command_line_exits_cleanly(family: str, worker: Worker) -> None:
    @_settings(CLI_EXAMPLES)
    @given(CLI_COMMANDS[family])
    def check(argv: list[str]) -> None:
        check_command(worker, argv)

    check()


@pytest.mark.parametrize("kind", ["arch-dataflow", "arch-gpu-board", "arch-systolic", "sweep"])
def test_a_command_on_a_mutated_spec_exits_cleanly(kind: str, worker: Worker) -> None:
    """`arch show` / `kernel --arch` / `dse check` on a mutated spec file written for the command."""
    doc_of, _ = SPECS[kind]
    path = worker.cwd / f"cli-{kind}.yaml"
    argvs = {
        "arch-dataflow": [
            ["arch", "show", str(path)],
            ["kernel", "--n", "64", "--rows", "4", "--arch", str(path)],
        ],
        "arch-gpu-board": [["arch", "show", str(path)], ["roofline", "--arch", str(path), "--seq-len", "64"]],
        "arch-systolic": [
            ["arch", "show", str(path)],
            ["baseline", "--target", "systolic", "--model", "fnet", "--seq-len", "64", "-o", f"arch={path}"],
        ],
        "sweep": [["dse", "check", str(path)]],
    }[kind]

    @_settings(CLI_EXAMPLES // 2)
    @given(spec_bytes(doc_of()), st.sampled_from(argvs))
    def check(data: bytes, argv: list[str]) -> None:
        path.write_bytes(data)
        check_command(worker, argv)

    check()


if __name__ == "__main__" and sys.argv[1:] == ["--worker"]:
    _worker_main()
