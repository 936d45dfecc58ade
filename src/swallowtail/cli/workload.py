"""`swallowtail workload show | list | import`: the operator graph of a network at a sequence length, with
FLOPs and bytes; the networks a `--model` may name; a PyTorch model of yours, imported.

A `--model` is a HybridConfig preset (`swallowtail model list`), a HybridConfig YAML, a named workload of
`swallowtail.workload.named` (`bert-large`, `resnet-50`, the `llama-*` decoders), or a PyTorch model of
yours, `MODULE:FACTORY` (a Python file or a dotted module, and a function building the nn.Module) that takes
token ids (batch, seq_len). For an image network `--seq-len` is the image side in pixels (`resnet-50
--seq-len 224`: 224 x 224 images); for a decoder's decode (`llama-7b@decode`: 32 new tokens,
`llama-7b@decode<N>`: N) the prompt already in the KV cache; a named workload given no `--seq-len` takes its
default (bert-large 384 tokens, resnet-50 224 pixels, llama 2048 tokens).

`workload import MODULE:FACTORY --input-shape ...` imports a model with any inputs (`swallowtail.importer`):
FACTORY() runs on the meta device, so no weight is materialised; floating-point inputs are meta tensors,
integer inputs (token ids) are filled with 1 (a token id, not the padding id 0). Importing runs code of
yours (the module, FACTORY(), its forward): after 5 minutes it is stopped with an error that names the line
it was at (`SWALLOWTAIL_IMPORT_TIMEOUT=20m` sets another limit).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from swallowtail.cli import limits
from swallowtail.cli._common import console, emit_json, si, user_errors
from swallowtail.errors import SpecError, check_choice, check_int
from swallowtail.yamlio import is_file

app = typer.Typer(help="Workloads: the operator graph of a network (what is computed).", no_args_is_help=True)

#: what --seq-len means, for the help of every command that takes a --model
SEQ_LEN_HELP = (
    "Tokens per input sequence; for an image network (resnet-50) the image side in pixels; for a decode "
    "(llama-7b@decode<N>) the prompt already in the KV cache."
)


#: the torch dtypes an --input-dtype may name
INPUT_DTYPES = (
    "float32",
    "float16",
    "bfloat16",
    "float64",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint8",
    "bool",
)
#: the integer value user inputs are filled with (a token id; 0 is the padding id of swallowtail's presets)
INT_FILL = 1


class InputDtypeOptionError(SpecError):
    """--input-dtype names an integer dtype for an input the model computes with as floating-point numbers;
    `expected`: the dtype it computes in, in words."""

    def __init__(self, value: Any, allowed: str, expected: str) -> None:
        super().__init__("--input-dtype", value, allowed)
        self.expected = expected


def _load_module(module_spec: str) -> Any:
    """A Python file (by path) or a dotted module (from the current folder or the installed packages)."""
    import hashlib
    import importlib
    import importlib.util
    import sys

    is_path = module_spec.endswith(".py") or "/" in module_spec or os.sep in module_spec
    folder = str(Path(module_spec).resolve().parent) if is_path else os.getcwd()
    if is_path and not Path(module_spec).is_file():
        raise SpecError("MODULE", module_spec, "an existing Python file (or a dotted module name)")
    sys.path.insert(0, folder)  # the file's siblings (or the current folder's modules) import, as `python -m`
    try:
        if not is_path:
            try:
                return importlib.import_module(module_spec)
            except ModuleNotFoundError as exc:
                if exc.name and module_spec.startswith(exc.name):
                    raise SpecError(
                        "MODULE", module_spec, "a Python file or a module importable from here"
                    ) from None
                raise SpecError("MODULE", module_spec, f"a module that imports; it raised {exc}") from exc
        # a name of its own per file, the same in every process (hash() of a str is salted per process)
        digest = hashlib.sha256(str(Path(module_spec).resolve()).encode()).hexdigest()[:12]
        name = f"swallowtail_user_{Path(module_spec).stem}_{digest}"
        spec = importlib.util.spec_from_file_location(name, module_spec)
        mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = mod
        try:
            spec.loader.exec_module(mod)  # type: ignore[union-attr]
        except BaseException:
            del sys.modules[name]
            raise
        return mod
    except SpecError:
        raise
    except (Exception, SystemExit) as exc:  # the user's module fails to run (or exits): say so in one line
        raise SpecError(
            "MODULE", module_spec, f"a module that runs; it raised {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        sys.path.remove(folder)


def load_model(spec: str) -> tuple[Any, str]:
    """(the nn.Module FACTORY() builds on the meta device, a label) for `MODULE:FACTORY`."""
    import torch
    from torch import nn

    module_spec, sep, factory = spec.rpartition(":")
    if not sep or not module_spec or not factory.isidentifier():
        raise SpecError(
            "MODULE:FACTORY",
            spec,
            "a Python file or dotted module, a colon and the function that builds the nn.Module "
            "(examples/fnet.py:build, mypkg.models:make_model)",
        )
    mod = _load_module(module_spec)
    fn = getattr(mod, factory, None)
    if not callable(fn):
        defined = sorted(
            n
            for n, v in vars(mod).items()
            if callable(v) and not n.startswith("_") and not isinstance(v, type)
        )
        raise SpecError("FACTORY", factory, f"a function of {module_spec}; it defines {defined}")
    try:
        with torch.device("meta"):  # no weight is materialised
            model = fn()
    except (Exception, SystemExit) as exc:  # sys.exit() in the user's code: an error, not our exit
        raise SpecError(
            "FACTORY",
            factory,
            f"a function that builds the model with no arguments (on the meta device); it raised "
            f"{type(exc).__name__}: {exc}",
        ) from exc
    if not isinstance(model, nn.Module):
        raise SpecError(
            "FACTORY", factory, f"a function returning a torch.nn.Module; it returned {type(model).__name__}"
        )
    label = Path(module_spec).stem if module_spec.endswith(".py") else module_spec
    return model, f"{label}:{factory}"


#: the most elements one --input-shape may hold (2^48: far past any inference's input; torch cannot even
#: describe a tensor of 2^63 bytes, and the op sizes of a larger one overflow what the cost models handle)
MAX_INPUT_ELEMS = 1 << 48


def parse_shape(text: str, option: str = "--input-shape") -> tuple[int, ...]:
    """'1,1024,768' -> (1, 1024, 768); a SpecError naming `option` otherwise."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or not all(p.isdecimal() and int(p) > 0 for p in parts):  # not "²": int() fails
        raise SpecError(option, text, "comma-separated positive integers, e.g. 1,1024,768")
    shape = tuple(int(p) for p in parts)
    if math.prod(shape) > MAX_INPUT_ELEMS:
        raise SpecError(option, text, f"a shape of at most 2^48 = {MAX_INPUT_ELEMS:,} elements")
    return shape


def check_input_dtypes(dtypes: list[str], n_inputs: int) -> list[str]:
    """One torch dtype name per input (one given for all is repeated); SpecError naming --input-dtype."""
    if len(dtypes) not in (1, n_inputs):
        raise SpecError(
            "--input-dtype", dtypes, f"one dtype for every input, or one per --input-shape ({n_inputs})"
        )
    for d in dtypes:
        if d not in INPUT_DTYPES:
            raise SpecError("--input-dtype", d, f"one of {list(INPUT_DTYPES)}")
    return dtypes * n_inputs if len(dtypes) == 1 else list(dtypes)


class _Stopped(BaseException):
    """The alarm of `time_limit`, raised in the user's code: not an Exception, so that an `except Exception`
    (the user's, torch's or ours around the user's code) lets it through."""


@contextlib.contextmanager
def time_limit(spec: str) -> Iterator[None]:
    """Stop importing the model `spec` (its module, FACTORY() and the trace: code of the user's, which may
    loop forever) after `limits.import_timeout()`: a SpecError naming the file, the line it was at and the
    limit. By SIGALRM, so only in the main thread and when no other timer is set (else no limit)."""
    seconds, source = limits.import_timeout()
    if (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
        or signal.getitimer(signal.ITIMER_REAL)[0] > 0
    ):
        yield
        return
    at: list[Any] = []

    def alarm(_signum: int, frame: Any) -> None:
        at.append(frame)
        raise _Stopped

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _Stopped:
        raise SpecError(
            "MODULE:FACTORY",
            spec,
            f"a model that imports within {limits.fmt_seconds(seconds)} ({source}); it was still "
            f"{_stopped_at(at[0])} (a loop that does not end?)",
        ) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _stopped_at(frame: Any) -> str:
    """What an import was doing at `frame`: its stage, and the innermost line of the user's code (a file that
    is not the standard library's, an installed package's or swallowtail's)."""
    import sysconfig

    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    codes = {f.f_code for f in frames}
    if _load_module.__code__ in codes:
        stage = "importing the module"
    elif not any(f.f_code.co_name == "from_torch" for f in frames):
        stage = "running FACTORY()"
    else:
        stage = "tracing the model (torch.export runs its forward)"
    paths = sysconfig.get_paths()
    libraries = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    libraries.add(str(Path(__file__).parents[1]))  # swallowtail's package
    roots = tuple(os.path.join(os.path.realpath(d), "") for d in libraries)
    for f in frames:  # innermost first
        name = f.f_code.co_filename
        if not name.startswith("<") and not os.path.realpath(name).startswith(roots):
            return f"{stage}, at {name}:{f.f_lineno}"
    return stage


def import_model(
    spec: str,
    shapes: list[tuple[int, ...]],
    dtypes: list[str],
    *,
    allow_unknown: bool = False,
    dtype: str = "fp16",
    name: str | None = None,
) -> Any:
    """The Workload of the model `MODULE:FACTORY` builds, on inputs of `shapes` and torch `dtypes`."""
    import sys

    import torch

    from swallowtail.importer import from_torch
    from swallowtail.importer.convert import INPUT_DTYPE_WHY, InputDtypeError

    dtypes = check_input_dtypes(dtypes, len(shapes))
    # the user's prints must not mix into our --json output; the user's code may loop forever
    with contextlib.redirect_stdout(sys.stderr), time_limit(spec):
        model, label = load_model(spec)
        inputs = []
        for s, d in zip(shapes, dtypes, strict=True):
            td = getattr(torch, d)
            if td.is_floating_point:
                inputs.append(torch.empty(s, dtype=td, device="meta"))
            else:
                inputs.append(torch.full(s, INT_FILL, dtype=td, device="cpu"))
        try:
            return from_torch(
                model, tuple(inputs), allow_unknown=allow_unknown, dtype=dtype, name=name or label
            )
        except InputDtypeError as exc:  # an integer input used as numbers: name the option, not the API
            which = [i for i, _ in exc.inputs if isinstance(i, int)]
            where = " or ".join(
                f"input {i + 1} (--input-shape {','.join(map(str, shapes[i]))})" for i in which
            )
            raise InputDtypeOptionError(
                dtypes[which[0]] if len(which) == 1 else [dtypes[i] for i in which],
                f"a floating-point dtype ({exc.expected}) for {where}: {INPUT_DTYPE_WHY}",
                exc.expected,
            ) from None


def resolve_model(model: str):
    """A preset name, a named workload (returned as its name, `lower` builds it) or a YAML HybridConfig."""
    from swallowtail.nn.config import HybridConfig

    if model.endswith((".yaml", ".yml")) or is_file(model):
        return HybridConfig.from_yaml(model), Path(model).stem
    return model, model


def build_workload(
    model: str,
    seq_len: int | None,
    batch: int = 1,
    default_seq_len: int | None = None,
    force: bool = False,
) -> Any:
    """The Workload of `model` at `seq_len` x `batch`. No `seq_len`: a named workload's default, else the
    command's `default_seq_len`, else a SpecError (a preset's length must be given). A MODULE:FACTORY model's
    token ids are allocated: their size is checked against the machine's budget first (unless `force`);
    lowering a preset or a named workload allocates nothing that grows with the sizes."""
    from swallowtail.workload.graph import MAX_BATCH, MAX_CONTEXT
    from swallowtail.workload.lower import lower, resolve_config
    from swallowtail.workload.named import find_named_workload

    limits.machine_budget()  # a bad SWALLOWTAIL_*_BUDGET is an error wherever --force is offered
    if ":" in model:  # MODULE:FACTORY, a PyTorch model of the user's that takes token ids (batch, seq_len)
        seq_len = seq_len if seq_len is not None else default_seq_len
        if seq_len is None:
            raise SpecError("--seq-len", None, "a number of tokens: required for a MODULE:FACTORY model")
        shape = (check_int("--batch", batch, 1, MAX_BATCH), check_int("--seq-len", seq_len, 1, MAX_CONTEXT))
        limits.check(f"importing {model}", limits.factory_inputs([shape], ["int64"]), force)
        try:
            w = import_model(model, [shape], ["int64"])
        except InputDtypeOptionError as exc:  # the token ids are ours, not an --input-dtype of the user's
            raise SpecError(
                "--model",
                model,
                "a PyTorch model that takes token ids (int64, --batch x --seq-len), for an embedding; this "
                f"one computes with its input as floating-point numbers ({exc.expected}): import it with "
                f"`swallowtail workload import {model} --input-shape ... --input-dtype float32`",
            ) from None
        return dataclasses.replace(w, name=f"{w.name}@L{seq_len}" + (f"xB{batch}" if batch > 1 else ""))
    cfg, label = resolve_model(model)
    entry = find_named_workload(cfg) if isinstance(cfg, str) else None
    if entry is None and isinstance(cfg, str):
        resolve_config(cfg)  # an unknown name: say so (the list), before any word on --seq-len
    if seq_len is None:
        if entry is not None:
            seq_len = entry.default_seq_len
        elif default_seq_len is not None:
            seq_len = default_seq_len
        else:
            raise SpecError(
                "--seq-len",
                None,
                "a number of tokens: required for a network preset or config (named workloads have a "
                "default, see `swallowtail workload list`)",
            )
    return lower(cfg, seq_len, batch, name=label)


def _si(x: float) -> str:
    return si(x) + " " if abs(x) < 1e3 else si(x)


@app.command("show")
@user_errors
def show(
    model: str = typer.Argument(
        ..., help="Preset or named workload (see `swallowtail workload list`) or a HybridConfig YAML."
    ),
    seq_len: int | None = typer.Option(
        None, "--seq-len", "-L", help=SEQ_LEN_HELP + " Required for a preset; a named workload's default."
    ),
    batch: int = typer.Option(1, "--batch", "-b", help="Inputs per inference."),
    ops: bool = typer.Option(False, "--ops", help="List every op (default: one line per layer and op kind)."),
    as_json: bool = typer.Option(False, "--json", help="Print the workload as JSON."),
    force: bool = typer.Option(False, "--force", help=limits.FORCE_HELP),
) -> None:
    """Show the operator graph of MODEL at --seq-len: ops, FLOPs, minimum bytes, totals."""
    w = build_workload(model, seq_len, batch, force=force)
    if as_json:
        emit_json(w.to_dict())
        return
    print_workload(w, ops)


def print_workload(w: Any, ops: bool = False) -> None:
    """The op table of a workload (one line per layer and op kind, or per op), its totals and FLOPs by kind;
    the placeholders of unsupported ops (an import with --allow-unknown), flagged."""
    table = Table(title=f"workload {w.name}: {len(w)} ops", show_lines=False)
    for col in ("op / layer", "kind", "shape", "FLOPs", "min bytes", "weights"):
        table.add_column(col, justify="right" if col in ("FLOPs", "min bytes", "weights") else "left")
    if ops:
        for op in w.ops:
            table.add_row(
                op.name,
                op.kind,
                op.describe(),
                _si(op.flops) + "FLOP",
                _si(op.min_bytes) + "B",
                _si(op.weight_elems * op.elem_bytes) + "B",
            )
    else:
        groups: dict[str, list] = {}
        for op in w.ops:
            groups.setdefault(op.layer, []).append(op)
        for layer, group in groups.items():
            kinds = sorted({o.kind for o in group})
            table.add_row(
                layer,
                ", ".join(kinds),
                f"{len(group)} ops",
                _si(sum(o.flops for o in group)) + "FLOP",
                _si(sum(o.min_bytes for o in group)) + "B",
                _si(sum(o.weight_elems * o.elem_bytes for o in group)) + "B",
            )
    console.print(table)
    kinds = ", ".join(
        f"{k} {v / w.flops:.1%}" for k, v in sorted(w.flops_by_kind().items(), key=lambda kv: -kv[1])
    )
    console.print(
        f"total: {_si(w.flops)}FLOP; weights {_si(w.weight_bytes)}B; "
        f"compulsory DRAM traffic {_si(w.compulsory_dram_bytes)}B; "
        f"unfused op traffic {_si(w.min_bytes_unfused)}B"
    )
    console.print(f"FLOPs by kind: {kinds}")
    unsupported = w.meta.get("unsupported", [])
    if unsupported:
        console.print(
            f"[bold yellow]unsupported:[/] {len(unsupported)} ops costed as element-wise placeholders "
            f"(one FLOP per output element): {', '.join(unsupported)}",
            highlight=False,
        )


@app.command("import")
@user_errors
def import_cmd(
    spec: str = typer.Argument(
        ...,
        metavar="MODULE:FACTORY",
        help="A Python file or dotted module, and the function building the model (examples/fnet.py:build).",
    ),
    input_shape: list[str] = typer.Option(
        ..., "--input-shape", help="Shape of an input, e.g. 1,1024,768; repeat for each positional input."
    ),
    input_dtype: list[str] = typer.Option(
        ["float32"],
        "--input-dtype",
        help=f"torch dtype of the inputs (one for all, or one per --input-shape): {', '.join(INPUT_DTYPES)}. "
        f"Integer inputs (token ids) are filled with {INT_FILL}.",
    ),
    dtype: str = typer.Option(
        "fp16", "--dtype", help="Storage dtype the machine computes in: fp16 | bf16 | fp32 | int8."
    ),
    allow_unknown: bool = typer.Option(
        False,
        "--allow-unknown",
        help="Cost an op with no mapping or rule as a flagged element-wise placeholder.",
    ),
    ops: bool = typer.Option(False, "--ops", help="List every op (default: one line per layer and op kind)."),
    as_json: bool = typer.Option(False, "--json", help="Print the workload as JSON."),
    force: bool = typer.Option(False, "--force", help=limits.FORCE_HELP),
) -> None:
    """Import a PyTorch model: FACTORY() from MODULE builds it (on the meta device: no weights), torch.export
    traces it on inputs of --input-shape, and its ops are shown as `workload show` shows a preset's."""
    from swallowtail.workload.ops import DTYPE_BYTES

    check_choice("--dtype", dtype, DTYPE_BYTES)
    shapes = [parse_shape(s) for s in input_shape]
    dtypes = check_input_dtypes(input_dtype, len(shapes))
    limits.check(f"workload import {spec}", limits.factory_inputs(shapes, dtypes), force)
    w = import_model(spec, shapes, dtypes, allow_unknown=allow_unknown, dtype=dtype)
    if as_json:
        emit_json(w.to_dict())
        return
    print_workload(w, ops)


@app.command("list")
@user_errors
def list_cmd(json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List every network a --model may name: the HybridConfig presets and the named workloads."""
    from swallowtail.nn.config import list_presets
    from swallowtail.workload.named import NAMED_WORKLOADS

    rows = {
        name: {"source": "preset", "seq_len": "tokens per sequence (--seq-len required)", "description": desc}
        for name, desc in list_presets().items()
    }
    for name, w in NAMED_WORKLOADS.items():
        rows[name] = {
            "source": "named workload",
            "seq_len": f"{w.seq_len_means} (default {w.default_seq_len})",
            "description": w.description,
        }
    if json_out:
        emit_json(rows)
        return
    table = Table(title="networks (--model)")
    for col in ("name", "source", "--seq-len", "description"):
        table.add_column(col, style="bold" if col == "name" else None)
    for name, r in rows.items():
        table.add_row(name, r["source"], r["seq_len"], r["description"])
    console.print(table)
