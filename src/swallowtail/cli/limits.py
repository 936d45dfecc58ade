"""Limits before work: what a command will cost, estimated before it allocates, against what this machine has.

Every command that can allocate a lot or run long builds an `Estimate` -- peak memory and wall time -- from
the sizes it was asked for (rows x length x dtype, examples x tokens and their generation time, simulated
FLOPs, cycle-level probes, sweep rows x the cost of one) and `check`s it against the machine's `Budget`
before any of the work starts. An estimate over budget raises `BudgetExceeded`, a SpecError: the CLI prints
it as its one-line error with exit status 2, giving the estimate, the budget and the `--force` flag that
runs it anyway.

    est = training_run(task_shape("listops"), [get_preset("lra-listops")], steps=1000, batch=32)
    check("train --task listops", est, force=False)      # BudgetExceeded: 48 GiB, 13 h, ...

Budget (`machine_budget()`): memory = MEMORY_FRACTION of the memory available now (MemAvailable in
/proc/meminfo, within a cgroup v2 limit; os.sysconf elsewhere), time = DEFAULT_TIME_BUDGET_S. Overrides:
SWALLOWTAIL_MEMORY_BUDGET (bytes, optionally with a K / M / G / T suffix, powers of 1024) and
SWALLOWTAIL_TIME_BUDGET (seconds, optionally with an s / m / h suffix). `LAPTOP` is the machine the defaults
are sized for: a 2-core, 8 GB laptop and a first result within a minute. Importing a PyTorch model of the
user's runs their code, which no estimate covers: it is stopped after DEFAULT_IMPORT_TIMEOUT_S (5 min;
SWALLOWTAIL_IMPORT_TIMEOUT overrides), a clear error instead of a hang.

The constants: measured on the development machine (2 cores, 24 GB, Python 3.11, CPU torch, December 2026)
as each comment says, in a fresh process per case; each is the worst case measured, rounded up. Estimates err
high on purpose: a refusal costs one flag, a kill costs the run. The helpers of one idea each take plain
numbers; the last section turns what a command was given (a task's shape, a model config, a workload, an
arch) into those numbers, importing what it needs when called.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from swallowtail.errors import SpecError

if TYPE_CHECKING:
    from swallowtail.arch.specs import DataflowArch
    from swallowtail.dse.spec import SweepSpec
    from swallowtail.experiments.suite import Suite
    from swallowtail.nn.config import HybridConfig
    from swallowtail.tasks.base import TaskShape
    from swallowtail.train.config import TrainConfig
    from swallowtail.workload import Op, Workload

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30

# ---- the budget ------------------------------------------------------------------------------------------
#: environment variables that override the budget
MEMORY_ENV = "SWALLOWTAIL_MEMORY_BUDGET"
TIME_ENV = "SWALLOWTAIL_TIME_BUDGET"
#: share of the memory available at start that a command may plan to use (the rest: the OS, other programs)
MEMORY_FRACTION = 0.8
#: the longest run a command starts without --force (policy: longer work is a decision, not a default; the
#: full `reproduce`, estimated at about an hour -- its inverse sweep measured ~40 min here, on one core beside
#: other work -- starts without it)
DEFAULT_TIME_BUDGET_S = 2 * 3600.0
#: the longest that importing a PyTorch model of the user's may take -- its module, FACTORY() and the
#: torch.export trace -- before it is stopped as a hang (a loop that never ends), and the variable that
#: overrides it. Llama-2-7B's shape (32 layers) imports in 13 s here; 5 minutes leaves room for a model
#: several times larger on a slower machine
IMPORT_TIMEOUT_ENV = "SWALLOWTAIL_IMPORT_TIMEOUT"
DEFAULT_IMPORT_TIMEOUT_S = 300.0
#: the flag that runs a command over budget (every command that checks a budget has it), and its help
FORCE_FLAG = "--force"
FORCE_HELP = (
    f"Run even when the estimated memory or time exceeds this machine's budget ({MEMORY_ENV}, {TIME_ENV})."
)


@dataclass(frozen=True)
class Budget:
    """What a command may plan to use: bytes of memory and seconds of wall time, and where each came from."""

    memory_bytes: float
    time_s: float
    memory_source: str = ""
    time_source: str = ""


#: the machine the defaults are sized for (issue 18): a 2-core laptop with 8 GB, about 5 GB of it free, and a
#: first result within a minute; tests check every default command's estimate against it
LAPTOP = Budget(4 * GIB, 60.0, "a 2-core, 8 GB laptop", "a first result within a minute")


@dataclass(frozen=True)
class Estimate:
    """Peak memory (bytes) and wall time (seconds) of some work, and what it was computed from (`detail`)."""

    memory_bytes: float = 0.0
    time_s: float = 0.0
    detail: str = ""

    def __add__(self, other: Estimate) -> Estimate:
        """Both at once (memory resident together, times one after the other)."""
        memory, seconds = self.memory_bytes + other.memory_bytes, self.time_s + other.time_s
        return Estimate(memory, seconds, _join(self.detail, other.detail))

    def then(self, other: Estimate) -> Estimate:
        """One after the other, the first one's memory freed: the larger peak, the sum of the times."""
        return Estimate(
            max(self.memory_bytes, other.memory_bytes),
            self.time_s + other.time_s,
            _join(self.detail, other.detail),
        )

    def described(self, detail: str) -> Estimate:
        return Estimate(self.memory_bytes, self.time_s, detail)

    def fits(self, budget: Budget) -> bool:
        return self.memory_bytes <= budget.memory_bytes and self.time_s <= budget.time_s


def _join(a: str, b: str) -> str:
    return "; ".join(part for part in (a, b) if part)


class BudgetExceeded(SpecError):
    """An estimate over the machine's budget: one line with the estimate, the budget and the --force flag."""

    def __init__(self, what: str, estimate: Estimate, budget: Budget) -> None:
        over = []
        if estimate.memory_bytes > budget.memory_bytes:
            over.append(f"{fmt_bytes(budget.memory_bytes)} of memory ({budget.memory_source})")
        if estimate.time_s > budget.time_s:
            over.append(f"{fmt_seconds(budget.time_s)} ({budget.time_source})")
        detail = f" ({estimate.detail})" if estimate.detail else ""
        msg = (
            f"{what} needs an estimated {fmt_bytes(estimate.memory_bytes)} of memory and "
            f"{fmt_seconds(estimate.time_s)}{detail}: over this machine's budget of {' and '.join(over)}; "
            f"make it smaller or pass {FORCE_FLAG} to run it anyway"
        )
        ValueError.__init__(self, msg)
        self.field, self.value, self.allowed, self.hint = FORCE_FLAG, estimate, msg, None
        self.estimate, self.budget = estimate, budget


def check(what: str, estimate: Estimate, force: bool, budget: Budget | None = None) -> Estimate:
    """`estimate` if it fits `budget` (default: `machine_budget()`) or `force` is set; BudgetExceeded else."""
    if force:
        return estimate
    budget = machine_budget() if budget is None else budget
    if not estimate.fits(budget):
        raise BudgetExceeded(what, estimate, budget)
    return estimate


# ---- the machine -----------------------------------------------------------------------------------------
def _meminfo_available(path: Path = Path("/proc/meminfo")) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * KIB
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_headroom(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """memory.max - memory.current of this process's cgroup (v2), when it has a limit."""
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((root / "memory.current").read_text()))
    except (OSError, ValueError):
        return None


def available_memory_bytes() -> int | None:
    """Memory this process could still use: MemAvailable, capped by a cgroup limit; None when unknown."""
    found = [v for v in (_meminfo_available(), _cgroup_headroom()) if v is not None]
    if not found:
        try:
            found = [os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")]
        except (ValueError, OSError, AttributeError):
            return None
    return min(found)


_SIZE_SUFFIX = {"": 1, "k": KIB, "m": MIB, "g": GIB, "t": 1 << 40}
_TIME_SUFFIX = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_size(field: str, text: str) -> float:
    """'2G' / '512M' / '1e9' -> bytes (K, M, G, T are powers of 1024); SpecError naming `field` otherwise
    (a size under one byte too: it would read as a budget of 0 B)."""
    expected = "a size of at least one byte, e.g. 4G, 512M or 1e9"
    size = _parse_scaled(field, text, r"([kKmMgGtT]?)i?[bB]?", _SIZE_SUFFIX, expected)
    if size < 1:
        raise SpecError(field, text, expected)
    return size


def parse_duration(field: str, text: str) -> float:
    """'3600' / '90s' / '10m' / '2h' -> seconds; SpecError naming `field` otherwise."""
    return _parse_scaled(
        field, text, r"([smhSMH]?)", _TIME_SUFFIX, "a positive duration, e.g. 3600, 90s, 10m or 2h"
    )


def _parse_scaled(field: str, text: str, unit: str, scale: Mapping[str, float], expected: str) -> float:
    """A positive number, then a unit (`unit`: a regex whose one group, lower-cased, is a key of `scale`) ->
    the number x its scale; SpecError naming `field` with `expected` otherwise."""
    m = re.fullmatch(rf"\s*([0-9.]+(?:[eE][+-]?[0-9]+)?)\s*{unit}\s*", text)
    value = _number(m.group(1)) if m else None
    scaled = value * scale[m.group(2).lower()] if m and value is not None else None
    if scaled is None or not 0 < scaled < math.inf:  # 1e308h overflows to inf: not a budget
        raise SpecError(field, text, expected)
    return scaled


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def machine_budget() -> Budget:
    """This machine's budget now: the environment's overrides, else MEMORY_FRACTION of the available memory
    and DEFAULT_TIME_BUDGET_S."""
    raw_mem, raw_time = os.environ.get(MEMORY_ENV), os.environ.get(TIME_ENV)
    if raw_mem:
        memory, mem_src = parse_size(MEMORY_ENV, raw_mem), MEMORY_ENV
    else:
        avail = available_memory_bytes()
        memory = math.inf if avail is None else MEMORY_FRACTION * avail
        mem_src = f"{MEMORY_FRACTION:.0%} of the memory available; {MEMORY_ENV} overrides"
    if raw_time:
        seconds, time_src = parse_duration(TIME_ENV, raw_time), TIME_ENV
    else:
        seconds, time_src = DEFAULT_TIME_BUDGET_S, f"{TIME_ENV} overrides"
    return Budget(memory, seconds, mem_src, time_src)


def import_timeout() -> tuple[float, str]:
    """(seconds, where they came from) that importing a model of the user's may take: the environment's
    SWALLOWTAIL_IMPORT_TIMEOUT (seconds, with an optional s / m / h suffix), else DEFAULT_IMPORT_TIMEOUT_S."""
    raw = os.environ.get(IMPORT_TIMEOUT_ENV)
    if raw:
        return parse_duration(IMPORT_TIMEOUT_ENV, raw), IMPORT_TIMEOUT_ENV
    return DEFAULT_IMPORT_TIMEOUT_S, f"{IMPORT_TIMEOUT_ENV} overrides"


# ---- formatting ------------------------------------------------------------------------------------------
def fmt_bytes(n: float) -> str:
    """1.5e9 -> '1.4 GiB' (powers of 1024, as the budget's suffixes)."""
    if not math.isfinite(n):
        return "unlimited"
    for unit, scale in (("TiB", 1 << 40), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def fmt_seconds(s: float) -> str:
    """90 -> '1.5 min'; 5400 -> '1.5 h'; 3e6 -> '35 days'."""
    if not math.isfinite(s):
        return "unlimited time"
    if s >= 2 * 86400:
        return f"{s / 86400:,.0f} days"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 90:
        return f"{s / 60:.1f} min"
    return f"{s:.1f} s"


# ---- data: token matrices, generated and read tasks ----------------------------------------------------
#: bytes of one token id in memory: int64, the index dtype of torch's embeddings (every task's tensors)
TOKEN_BYTES = 8
#: ListOps generation time: LISTOPS_S_PER_EXAMPLE + LISTOPS_S_PER_TOKEN x max_len per example. Measured:
#: `tasks.listops.load(n_train=4000, n_val=0, n_test=0, max_len=L, cache=False)` at L = 128 / 256 / 512 /
#: 1,000 / 2,000: 0.043 / 0.058 / 0.067 / 0.108 / 0.177 ms per example; 20,000 at 2,000: 0.178 ms (a line
#: through them, rounded up)
LISTOPS_S_PER_EXAMPLE = 5e-5
LISTOPS_S_PER_TOKEN = 8e-8
#: ListOps generation peak memory: LISTOPS_GEN_BYTES_PER_TOKEN per token of the result (int8 batches, their
#: concatenation and the int64 tensor) + LISTOPS_GEN_BYTES_PER_MAX_LEN x max_len (one batch of 8,192 trees'
#: levels). Measured (ru_maxrss growth in the runs above): 12-15 B per token at 20,000 examples, 186 MB of
#: batch at max_len 2,000 (39 B per token at 4,000 examples)
LISTOPS_GEN_BYTES_PER_TOKEN = 16
LISTOPS_GEN_BYTES_PER_MAX_LEN = 100 * KIB
#: Pathfinder generation: seconds per 32x32 image. Measured: `tasks.pathfinder.load(n_images=N, cache=False)`,
#: 3.8 ms per image at N = 500, 3.4 ms at N = 2,000
PATHFINDER_S_PER_IMAGE = 4e-3
#: Pathfinder generation peak memory: PATHFINDER_GEN_FIXED_BYTES (a batch of 256 images being drawn) +
#: PATHFINDER_GEN_BYTES_PER_IMAGE (the uint8 image and two int64 token copies while they convert). Measured:
#: 37 MB at 500 images, 43 MB at 2,000
PATHFINDER_GEN_FIXED_BYTES = 48 * MIB
PATHFINDER_GEN_BYTES_PER_IMAGE = 17 * KIB
#: loading a cached dataset (int16 on disk, int64 in memory): seconds per token. Measured: 20,000 ListOps
#: examples of 2,000 tokens loaded from the cache in 0.38 s (9.5e-9 s per token), ~10 B per token held
CACHE_LOAD_S_PER_TOKEN = 1e-8
#: reading task files: seconds per byte read and parsed (the slowest format: LRA ListOps TSVs, tokenized in
#: Python), and the peak memory of what is read, per byte, besides the token matrix. Measured on 20,000
#: examples written like the test fixtures (tasks.load_task with data_dir, seq_len 256): IMDB folders (40 MB)
#: 1.75 s, AAN pairs TSV (48 MB) 1.03 s, ListOps TSV (51 MB) 7.3 s: 4.4e-8 / 2.1e-8 / 1.4e-7 s per byte; at
#: most 1.0 byte of memory per byte read besides the tokens
READ_S_PER_BYTE = 1.5e-7
READ_BYTES_PER_BYTE = 2


def token_matrix(rows: int, length: int, towers: int = 1) -> Estimate:
    """int64 token ids of `rows` examples of `length` tokens (x `towers`): memory only."""
    n = rows * length * towers
    return Estimate(n * TOKEN_BYTES, 0.0, f"{rows:,} examples x {length:,} tokens" + _x(towers, "towers"))


def _x(k: int, what: str) -> str:
    return f" x {k} {what}" if k != 1 else ""


def listops_generation(n: int, max_len: int) -> Estimate:
    """Generating `n` ListOps examples of at most `max_len` tokens."""
    seconds = n * (LISTOPS_S_PER_EXAMPLE + LISTOPS_S_PER_TOKEN * max_len)
    memory = n * max_len * LISTOPS_GEN_BYTES_PER_TOKEN + max_len * LISTOPS_GEN_BYTES_PER_MAX_LEN
    return Estimate(memory, seconds, f"generating {n:,} ListOps examples")


def pathfinder_generation(n: int) -> Estimate:
    """Generating `n` Pathfinder images."""
    memory = PATHFINDER_GEN_FIXED_BYTES + n * PATHFINDER_GEN_BYTES_PER_IMAGE
    return Estimate(memory, n * PATHFINDER_S_PER_IMAGE, f"generating {n:,} Pathfinder images")


def cache_load(tokens: int) -> Estimate:
    """Loading `tokens` token ids from the on-disk dataset cache (int16 read, int64 kept)."""
    return Estimate(tokens * (TOKEN_BYTES + 2), tokens * CACHE_LOAD_S_PER_TOKEN, "from the dataset cache")


def file_read(read_bytes: int) -> Estimate:
    """Reading and parsing `read_bytes` of task files (the token matrix they become is apart)."""
    return Estimate(
        read_bytes * READ_BYTES_PER_BYTE, read_bytes * READ_S_PER_BYTE, f"reading {fmt_bytes(read_bytes)}"
    )


# ---- training ----------------------------------------------------------------------------------------------
#: a training process besides its data and activations: python, torch, swallowtail, matplotlib. Measured:
#: 318-330 MB with torch imported; `train --steps 1` of a tiny model on 24 ListOps examples: 370 MB peak RSS
PROCESS_BYTES = 400 * MIB
#: fixed seconds of a training command besides its steps: imports, model build, the run's files and plot.
#: Measured: the same tiny run, 4.3 s wall
TRAIN_FIXED_S = 6.0
#: bytes kept for the backward pass per token x d_model x block of a step's batch: a block with butterfly or
#: Monarch linears or Fourier mixing (they keep every stage's input), and a dense one (attention scores
#: apart). Measured: peak RSS growth over 4 AdamW steps (a fresh process per case) of the LRA presets adapted
#: to a task: lra-listops L 128 / 256 x batch 8 / 16: 566-592, its all-Fourier variant 459, lra-pathfinder /
#: -image at 1,024 x 4 / 8: 559-618, lra-text / -retrieval 256 x 8: 582-595; dense Transformers of the same
#: shapes, their scores subtracted: 169-202
TRAIN_ACT_BYTES_BUTTERFLY = 640
TRAIN_ACT_BYTES_DENSE = 240
#: bytes kept per attention score (heads x L x L per attention block of a step's batch: the scores, softmax,
#: dropout mask and their gradients). Measured: lra-text's dense Transformer at L 512 x 8, 1,024 x 4,
#: 2,048 x 2 (the same tokens, 2x the scores each time): 433 MB and 896 MB more, 12.9-13.4 B per score
TRAIN_BYTES_PER_SCORE = 16
#: bytes per parameter while training: the fp32 weight, its gradient and AdamW's two moments
TRAIN_BYTES_PER_PARAM = 16
#: a step's time: 3 x forward FLOPs x batch / TRAIN_FLOPS_PER_S + its activation bytes x TRAIN_S_PER_ACT_BYTE
#: (butterfly layers are bound by memory traffic, dense ones by FLOPs). Measured: the cases above, dense
#: Transformers at 128-2,048 tokens and lra-listops at 2,000 x 4 (15 cases, 0.23-3.8 s a step; least squares:
#: 98 GFLOP/s and 0.46 ns per byte); these constants predict 0.94-1.85x the measured step
TRAIN_FLOPS_PER_S = 100e9
TRAIN_S_PER_ACT_BYTE = 0.6e-9
#: an evaluation example costs this share of a training example's predicted cost (forward only, explicit
#: attention matmuls); measured in the same cases: 0.08-0.36
EVAL_FRACTION = 0.4


@dataclass(frozen=True)
class ModelSize:
    """What a training step's cost depends on, for one example at the run's sequence length."""

    flops: float  # forward FLOPs per example
    params: int
    butterfly_tdb: int  # tokens x d_model x blocks with butterfly / Monarch / Fourier layers (both towers)
    dense_tdb: int  # tokens x d_model x the other blocks
    scores: int  # attention scores: heads x L x L over the attention blocks (and towers)

    @property
    def activation_bytes(self) -> float:
        """Bytes one example keeps for the backward pass."""
        return (
            self.butterfly_tdb * TRAIN_ACT_BYTES_BUTTERFLY
            + self.dense_tdb * TRAIN_ACT_BYTES_DENSE
            + self.scores * TRAIN_BYTES_PER_SCORE
        )


def training_step(size: ModelSize, batch: int) -> Estimate:
    """One optimizer step of `batch` examples: the activations and weights it holds, and its time."""
    act = batch * size.activation_bytes
    seconds = 3 * size.flops * batch / TRAIN_FLOPS_PER_S + act * TRAIN_S_PER_ACT_BYTE
    return Estimate(act + size.params * TRAIN_BYTES_PER_PARAM, seconds, f"steps of {batch:,}")


def training(step: Estimate, steps: int, batch: int, eval_examples: int) -> Estimate:
    """`steps` steps like `step`, and `eval_examples` forward passes for validation and test (the process
    and its fixed time apart: `training_run`)."""
    per_example = step.time_s / batch
    seconds = steps * step.time_s + eval_examples * per_example * EVAL_FRACTION
    detail = f"{steps:,} steps of {batch:,}, {eval_examples:,} examples evaluated"
    return Estimate(PROCESS_BYTES + step.memory_bytes, seconds, detail)


# ---- one kernel on the cycle-level simulator (`kernel`) ----------------------------------------------------
#: timing mode: seconds per SIMD instruction compiled and simulated (instructions ~ FLOPs / (2 x SIMD lanes):
#: one FMA per lane). Measured on df-4x4-simd8 (`kernel --json`, wall minus the 1.3 s of a 64-row butterfly):
#: gemm 1,024^3 (2.1 GFLOP) 27.4 s, gemm M 256 x K 512 x N 512 2.3 s, butterfly n 1,024 x 8,192 rows 3.4 s:
#: 1.3-1.7e-8 s per FLOP, i.e. 2.1-2.7e-7 s per instruction
KERNEL_S_PER_INSTRUCTION = 3e-7
#: value mode (--verify) adds KERNEL_VALUE_S_PER_FLOP per FLOP and KERNEL_VALUE_S_PER_ELEMENT per data
#: element. Measured: gemm M 256 x K 1,024 x N 1,024 51.6 s (9.3e-8 s per FLOP); softmax 4,096 x 4,096
#: 19.6 s, gelu 4,096 x 8,192 37.2 s, butterfly 1,024 x 8,192 11.1 s: at most 3.1e-7 s per element after the
#: FLOPs
KERNEL_VALUE_S_PER_FLOP = 1e-7
KERNEL_VALUE_S_PER_ELEMENT = 3.5e-7
#: bytes of host memory per data element (input + output): value mode holds complex128 inputs, outputs, the
#: reference and the simulator's buffers; timing mode only schedules. Measured (peak RSS growth): value mode
#: butterfly 1,024 x 8,192 55 B, softmax 4,096 x 4,096 38 B, gelu 4,096 x 8,192 48 B; timing mode 1.3 B
KERNEL_VALUE_BYTES_PER_ELEMENT = 64
KERNEL_TIMING_BYTES_PER_ELEMENT = 2
#: a kernel run's fixed memory (python, numpy, the compiler): peak RSS of a 64-row butterfly, 175 MB
KERNEL_FIXED_BYTES = 200 * MIB


def kernel(flops: int, elements: int, simd_lanes: int, values: bool) -> Estimate:
    """Compiling and simulating one op of `flops` FLOPs over `elements` data elements (`values`: value
    mode)."""
    seconds = flops / (2 * simd_lanes) * KERNEL_S_PER_INSTRUCTION
    per_elem = KERNEL_VALUE_BYTES_PER_ELEMENT if values else KERNEL_TIMING_BYTES_PER_ELEMENT
    if values:
        seconds += flops * KERNEL_VALUE_S_PER_FLOP + elements * KERNEL_VALUE_S_PER_ELEMENT
    mode = "values" if values else "timing"
    detail = f"{elements:,} data elements, {flops:.3g} FLOP, {mode} mode"
    return Estimate(KERNEL_FIXED_BYTES + elements * per_elem, seconds, detail)


#: measure-kernels' fixed memory (python, torch, the cases): peak RSS of lra-listops at L = 64 with a
#: 2^20-element stream case, 317 MB
KERNEL_MEASURE_FIXED_BYTES = 400 * MIB
#: a timed case's peak over its inputs, weights and output in FP32: the per-stage butterfly holds its input, a
#: transposed copy, two stage buffers and its output (5 activations against 2). Measured: fabnet-base at
#: L = 4096, 2.28 GB peak, its largest case (softmax over 12 x 4096^2) 1.61 GB in and out; a 2^26-element
#: stream adds 0.50 GB (8 bytes an element)
KERNEL_MEASURE_TEMPORARIES = 2.5


def kernel_measurement(case_elements: Iterable[int], flush_bytes: int) -> Estimate:
    """Timing kernels on the CPU (`measure-kernels --device cpu`): `case_elements`, each case's input, weight
    and output elements; the cases run one after another, so the largest sets the peak."""
    biggest = max(case_elements, default=0)
    memory = KERNEL_MEASURE_FIXED_BYTES + flush_bytes + biggest * 4 * KERNEL_MEASURE_TEMPORARIES
    return Estimate(memory, 0.0, f"largest case {biggest:,} elements in FP32")


def kernel_run(op: Op, arch: DataflowArch, values: bool) -> Estimate:
    """Compiling and simulating the workload op `op` on `arch` (`values`: value mode, --verify)."""
    return kernel(op.flops, op.input_elems + op.output_elems, arch.pe.simd_lanes, values)


# ---- a network on the block-level simulator (`simulate`, sweeps, reproduce) --------------------------------
#: seconds of cycle-level probes per distinct op shape (kind and sizes but rows) per square root of the
#: array's PEs (a probe's time grows about as the square root of the array: 2.1-2.5x from 16 to 64 PEs).
#: Measured (`DataflowBackend("multilayer", arch, cache=RateCache()).run`, cold cache): fabnet-base L 1,024
#: on df-4x4-simd8 16 shapes in 1.29 s, fabnet-large 4,096 1.66 s on 4x4 / 4.10 s on 8x8, llama-7b 2,048 13
#: shapes 0.91 s on 4x4, 4,096 1.89 s on 8x8, transformer 4,096 on df-4x4-simd32 0.63 s: 10-32 ms per shape
#: and square root of the PEs
SIM_S_PER_SHAPE_ROOT_PE = 0.035
#: seconds and bytes of probes per unit of their shapes' sizes (each shape's row or reduction length, n or k:
#: the dense compiler's layout search walks it). Measured (as above, llama-7b on df-4x4-simd8): L 16M 8.5 s,
#: 645 MB over the process; L 134M 8.0 s, 496 MB; `simulate --seq-len 1e9` 53 s, 3.4 GB peak RSS, where the
#: sizes sum to 1.5e9 (causal attention's L / 2 in three shapes): 3.5e-8 s and 2.3 B per unit
SIM_S_PER_SHAPE_SIZE = 4e-8
SIM_BYTES_PER_SHAPE_SIZE = 3
#: seconds per op of the workload (residency, pipeline, energy; probes apart): 610 ops of llama-7b, < 0.1 s
SIM_S_PER_OP = 2e-4
#: peak memory of a network simulation: SIM_FIXED_BYTES (the process) + SIM_BYTES_PER_PE (a probe's tables).
#: Measured: 175-250 MB peak RSS; growth over the process 55-74 MB on 16 PEs, 139 MB on 64 PEs
SIM_FIXED_BYTES = 200 * MIB
SIM_BYTES_PER_PE = 5 * MIB


def network_simulation(shapes: int, shape_sizes: int, pes: int, ops: int) -> Estimate:
    """Simulating a network of `ops` ops with `shapes` distinct op shapes, whose largest sizes (rows apart)
    sum to `shape_sizes`, on an array of `pes` PEs."""
    seconds = (
        shapes * math.sqrt(pes) * SIM_S_PER_SHAPE_ROOT_PE
        + shape_sizes * SIM_S_PER_SHAPE_SIZE
        + ops * SIM_S_PER_OP
    )
    memory = SIM_FIXED_BYTES + pes * SIM_BYTES_PER_PE + shape_sizes * SIM_BYTES_PER_SHAPE_SIZE
    return Estimate(memory, seconds, f"{ops:,} ops, {shapes:,} op shapes probed on {pes:,} PEs")


# ---- sweeps: design points x rows (`dse run`, reproduce's inverse question) --------------------------------
#: seconds per stored row of a sweep besides its probes (an analytic backend's run, the pipeline of a
#: simulated one, the store). Measured: `dse run around-df-4x4-simd8` (108 points, 110 rows, 2 workers) 153 s
#: (the estimate: 155 s); reproduce's inverse sweep (81 points x 17 workloads, 4,471 rows, 1 process) 0.2 s
#: per row over its first 2,000 rows (4x4 arrays), ~0.5 s per row over all of them (~40 min, estimated 59)
SWEEP_S_PER_ROW = 0.25
#: peak memory per worker process of a sweep: `dse run` peak RSS 239 MB per worker
SWEEP_BYTES_PER_WORKER = 320 * MIB


def _workers(n: int) -> str:
    return f"{n} worker" + ("s" if n != 1 else "")


def sweep(probes: Estimate, rows: int, workers: int) -> Estimate:
    """A sweep of `rows` rows whose points' probes cost `probes` (one process), over `workers` processes."""
    seconds = (probes.time_s + rows * SWEEP_S_PER_ROW) / workers
    detail = f"{rows:,} rows on {_workers(workers)}"
    return Estimate(workers * max(SWEEP_BYTES_PER_WORKER, probes.memory_bytes), seconds, detail)


# ---- a PyTorch model imported (`workload import`, --model FILE.py:FACTORY) ---------------------------------
#: copies of an integer input the import holds (the tensor filled with token ids; floating-point inputs live
#: on the meta device and take nothing)
IMPORT_INPUT_COPIES = 2
#: seconds to export and map a model of the example size (examples/llama_decoder.py, 7B shape: 3-5 s)
IMPORT_FIXED_S = 10.0


def import_inputs(int_bytes: int) -> Estimate:
    """Importing a model whose integer inputs (materialised on the CPU) take `int_bytes`."""
    detail = f"{fmt_bytes(int_bytes)} of integer inputs"
    return Estimate(PROCESS_BYTES + int_bytes * IMPORT_INPUT_COPIES, IMPORT_FIXED_S, detail)


# ---- from what a command was given to the numbers above ---------------------------------------------------
def task_loading(shape: TaskShape) -> Estimate:
    """Loading a task of `shape` (generating it, reading its cache or its files): the peak while it loads."""
    if shape.cached:
        return cache_load(shape.tokens)
    if shape.generator == "listops":
        return listops_generation(shape.n_examples, shape.seq_len)
    if shape.generator == "pathfinder":
        return pathfinder_generation(shape.n_examples)
    tokens = token_matrix(shape.n_examples, shape.seq_len, shape.towers).described("")
    return file_read(shape.read_bytes) + tokens


def resident_tokens(shape: TaskShape, seq_len: int) -> Estimate:
    """The task's token matrices while training: as loaded, and a second copy when cut / padded to `seq_len`
    (plus the one-byte padding mask `adapt_config` builds)."""
    est = token_matrix(shape.n_examples, shape.seq_len, shape.towers)
    if seq_len != shape.seq_len:
        est = est + token_matrix(shape.n_examples, seq_len, shape.towers).described("")
    return est + Estimate(shape.tokens, 0.0)


#: op kinds of swallowtail.nn.counts whose layers keep every stage's input for the backward pass
STAGED_KINDS = ("butterfly_linear", "monarch_linear", "fourier")


def model_size(config: HybridConfig, seq_len: int, towers: int = 1) -> ModelSize:
    """The ModelSize of `config` trained on `seq_len` tokens (`towers` inputs per example), as `train` adapts
    it (max_len = seq_len, mean pooling, a dual tower for two)."""
    from swallowtail.nn.counts import model_counts

    cfg = _as_trained(config, seq_len, towers)
    counts = model_counts(cfg, seq_len, batch=1)
    scores = sum(
        o.dims.get("batch", 1) * o.dims.get("m", 0) * o.dims.get("n", 0)
        for _, o in counts.ops()
        if o.kind == "attention_scores"
    )
    blocks = [layer for layer in counts.layers if layer.index is not None]
    staged = sum(any(o.kind in STAGED_KINDS for o in layer.ops) for layer in blocks)
    per_block = seq_len * towers * cfg.d_model
    return ModelSize(
        counts.flops, counts.params, staged * per_block, (len(blocks) - staged) * per_block, scores
    )


def eval_examples(n_val: int, n_test: int, steps: int, eval_every: int) -> int:
    """Examples `train` evaluates: the validation split every `eval_every` steps and at the end, the test
    split twice (the best and the final weights)."""
    evals = 1 + (steps // eval_every if eval_every else 0)
    return evals * n_val + 2 * n_test


def training_run(
    shape: TaskShape,
    configs: Iterable[HybridConfig],
    steps: int,
    batch: int,
    seq_len: int | None = None,
    eval_every: int = 0,
    eval_sample: int = 0,
) -> Estimate:
    """Loading the task of `shape`, then training each of `configs` in turn on it: `steps` steps of `batch`
    at `seq_len` tokens (None: the task's), validating every `eval_every` steps on at most `eval_sample`
    examples of the validation and the test split (0: all of them)."""
    seq = shape.seq_len if seq_len is None else seq_len
    n_val, n_test = shape.n_val, shape.n_test
    if eval_sample:
        n_val, n_test = min(n_val, eval_sample), min(n_test, eval_sample)
    evals = eval_examples(n_val, n_test, steps, eval_every)
    runs = [
        training(training_step(model_size(c, seq, shape.towers), batch), steps, batch, evals) for c in configs
    ]
    total = Estimate()
    for r in runs:
        total = total.then(r.described(""))
    models = f"{len(runs)} models, each " if len(runs) > 1 else ""
    total = Estimate(total.memory_bytes, TRAIN_FIXED_S + total.time_s, models + runs[0].detail)
    return task_loading(shape).then(resident_tokens(shape, seq) + total)


#: op fields that are not part of a probe's shape (names, and the rows a probe's rate is multiplied by)
ROWLESS_FIELDS = frozenset({"name", "deps", "layer", "dtype", "rows", "m", "numel"})
#: op fields that size a probe's work: the row length and the reduction length
SIZE_FIELDS = ("n", "k")


def op_shapes(ops: Iterable[Op]) -> tuple[int, int]:
    """(distinct op shapes -- kind and sizes but rows -- of `ops`, the sum of each shape's row or reduction
    length): an upper bound on the cycle-level probes a network simulation runs, and how large they are."""
    keys = {
        (
            type(o).__name__,
            tuple((f.name, getattr(o, f.name)) for f in fields(o) if f.name not in ROWLESS_FIELDS),
        )
        for o in ops
    }
    sizes = sum(max([v for k, v in key if k in SIZE_FIELDS], default=1) for _, key in keys)
    return len(keys), sizes


def workload_simulation(workload: Workload, arch: DataflowArch) -> Estimate:
    """Simulating `workload` on the dataflow array `arch` (its probes and its ops)."""
    pes = arch.array.rows * arch.array.cols
    return network_simulation(*op_shapes(workload.ops), pes, len(workload.ops))


def _as_trained(config: HybridConfig, seq_len: int, towers: int) -> HybridConfig:
    """`config` as `train` adapts it to a task of `seq_len` tokens and `towers` inputs (what sizes it)."""
    return config.replace(max_len=seq_len, pooling="mean", dual_tower=towers == 2)


def model_simulation(config: HybridConfig, seq_len: int, towers: int, arch: str) -> Estimate:
    """Simulating one inference of `config` (as trained on `seq_len` tokens) on the dataflow array `arch`."""
    from swallowtail.arch import load_arch
    from swallowtail.workload.lower import lower

    return workload_simulation(lower(_as_trained(config, seq_len, towers), seq_len), load_arch(arch))


def factory_inputs(shapes: Iterable[tuple[int, ...]], dtypes: Iterable[str]) -> Estimate:
    """Importing a model on inputs of `shapes` x torch `dtypes`: integer inputs are materialised (token ids),
    floating-point ones are meta tensors."""
    import torch

    int_bytes = 0
    for s, d in zip(shapes, dtypes, strict=True):
        td = getattr(torch, d)
        if not td.is_floating_point:
            int_bytes += math.prod(s) * td.itemsize
    return import_inputs(int_bytes)


def _simulated(backend: str) -> bool:
    """Whether `backend` simulates the array (its probes: `network_simulation`) rather than a formula."""
    from swallowtail.sim.network import DATAFLOWS

    return backend in {f"dataflow-{d}" for d in DATAFLOWS}


def _probes(ops: list[Op], pes: Iterable[int], dataflows: int) -> Estimate:
    """The probes of `ops` on arrays of each of `pes` PEs (one machine each), for `dataflows` dataflows."""
    shapes, sizes = op_shapes(ops)
    per = [network_simulation(shapes, sizes, p, 0) for p in pes]
    seconds = dataflows * sum(e.time_s for e in per)
    return Estimate(max((e.memory_bytes for e in per), default=0.0), seconds)


def sweep_spec(spec: SweepSpec, workers: int) -> Estimate:
    """Running the sweep `spec` on `workers` processes: every row (none assumed stored yet), every point's
    probes."""
    from swallowtail.arch import load_arch
    from swallowtail.dse.evaluate import backend_keys, workload_keys
    from swallowtail.dse.execute import sample_points

    if spec.sampling.method in ("grid", "random"):
        pes = [p.arch.array.rows * p.arch.array.cols for p in sample_points(spec)[0]]
    else:  # optuna: the points are not known before it runs; each as large as the base machine
        base = load_arch(spec.base_arch)
        pes = [base.array.rows * base.array.cols] * (spec.sampling.samples or 0)
    wls = workload_keys(spec.workloads)
    ops = [op for w in wls for op in w.lower().ops]
    bks = backend_keys(spec.backend_axes)
    on_point = [b for b in bks if b.on_point]
    rows = len(pes) * len(wls) * len(on_point) + len(wls) * (len(bks) - len(on_point))
    probes = _probes(ops, pes, sum(_simulated(b.name) for b in on_point))
    return sweep(probes, rows, workers).described(
        f"{len(pes):,} points, {rows:,} rows on {_workers(workers)}"
    )


def suite_runs(suite: Suite, jobs: int) -> Estimate:
    """Running `suite` (workloads x targets) on `jobs` processes: the simulated targets' probes on the array,
    every run as a sweep row."""
    from swallowtail.arch import load_arch
    from swallowtail.experiments.suite import ARRAY_ARCH
    from swallowtail.workload.lower import lower

    pes = [load_arch(ARRAY_ARCH).array.rows * load_arch(ARRAY_ARCH).array.cols]
    probes = Estimate()
    for t in suite.targets:
        if _simulated(t.backend):
            ops = [op for w in suite.workloads for op in lower(w.config(t.network), w.seq_len).ops]
            probes = probes.then(_probes(ops, pes, 1))
    runs = len(suite.workloads) * len(suite.targets)
    return sweep(probes, runs, jobs).described(f"{runs:,} runs on {_workers(jobs)}")


def training_sweep(
    config: HybridConfig,
    shape: TaskShape,
    counts: list[int],
    include_transformer: bool,
    tc: TrainConfig,
    eval_sample: int,
) -> Estimate:
    """`accuracy-sweep`: training every model of the family of `config` (`sweep_models`, which also checks
    the counts) on the task of `shape` one after the other with `tc`, then simulating each on the latency
    array."""
    from swallowtail.train import sweep_models
    from swallowtail.train.sweep import LATENCY_ARCH

    configs = [m.config for m in sweep_models(config, counts, include_transformer)]
    seq = shape.seq_len if tc.seq_len is None else tc.seq_len
    est = training_run(shape, configs, tc.steps, tc.batch_size, seq, tc.eval_every, eval_sample)
    for c in configs:
        est = est.then(model_simulation(c, seq, shape.towers, LATENCY_ARCH).described(""))
    return est


#: seconds of `reproduce` after its runs: the decoder study and the report (figures, HTML); measured 9 s with
#: --quick
REPORT_S = 15.0


def reproduce(suite: Suite, quick: bool, jobs: int, inverse: bool) -> Estimate:
    """`reproduce`: the suite's runs, then (with `inverse`) the inverse sweep, then the report."""
    from swallowtail.experiments.inverse import inverse_spec

    est = suite_runs(suite, jobs)
    if inverse:
        est = est.then(sweep_spec(inverse_spec(suite, quick), jobs))
    return est.then(Estimate(0.0, REPORT_S))
