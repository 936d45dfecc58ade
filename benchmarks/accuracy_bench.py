"""Accuracy vs FLOPs of the hybrid family on ListOps, Pathfinder and Image, sized for a 2-core CPU:
`python benchmarks/accuracy_bench.py [--quick]`.

For each task it trains, with identical settings (same d_model, depth, steps, batch, learning-rate schedule,
seed), four networks: the Transformer (every block dense attention + dense FFN), the all-Fourier network
(every block FBfly: Fourier mixing + butterfly FFN) and the hybrids with 1 and 2 ABfly blocks at the top
(FABNet's placement), and prints: task, model, test accuracy, forward FLOPs per example, FLOP ratio vs the
Transformer, parameters, training samples/s, latency on the array. The issue's target: on at least two
tasks a hybrid within 1 point of the Transformer's accuracy with >= 5x fewer FLOPs.

A hybrid only counts when the Transformer itself learned the task: test accuracy at least `MIN_LEARNED`
(2 points) above the majority class of the test split; matching a Transformer stuck on that plateau is no
result (Pathfinder here is such a case).

CPU sizing, stated rather than hidden (the LRA originals are far beyond a 2-core machine in minutes):
- ListOps: generated with the LRA algorithm at lengths 64-256 (LRA: 500-2000), 256 tokens; 20,000 train /
  1,000 val / 2,000 test examples.
- Pathfinder: generated, contour length 14, 32x32, 20,000 images (16,000 train); Image: Fashion-MNIST
  (Debian `dataset-fashion-mnist`, 28x28 zero-padded to 32x32) or CIFAR-10 with --cifar-dir. Both are 2x2
  mean-pooled to 16x16 = 256 tokens by default (`--image-side 32` keeps LRA's 1024 tokens, about 10x
  slower for the Transformer). Test splits are capped at their first 2,000 examples.
- Networks: d_model 64, 4 heads, d_ff 128, 6 blocks (4 blocks give hybrid-1 only 4.8x fewer FLOPs than
  the Transformer at 256 tokens; 6 give 6.1x), dropout 0, mean pooling.
- Training, the same for every model of a task: AdamW, lr 1e-3, weight decay 0.01, 10% warmup, cosine
  decay, clip 1.0, batch 32, seed 0; steps per task: ListOps 800, Image 500, Pathfinder 400 (--quick: 30
  on small data; --steps N: N for every task); 4 validation evaluations (32 batches each) per run, test
  accuracy of the best-validation weights. One torch thread (two OpenMP threads on two cores shared with
  other work stall each other). Attention trains through the fused `scaled_dot_product_attention`
  (`swallowtail.nn.blocks`); evaluation and FLOP counts use the explicit matmuls.
Runs go to runs/accuracy_bench[_quick]/<task>/<model>/ and are resumed when the script runs again; a run
whose model or training settings changed refuses to resume (delete the directory).

Measured (2026-11-23, 1 thread, `nice -n 5`, the other core busy with other work; samples/s per model:
all-Fourier ~50, hybrid-1 ~44, hybrid-2 ~36, Transformer ~50 -- the butterfly layers are slower on this
CPU than the dense ones despite their FLOPs): hybrid-1 has 6.1x fewer FLOPs than the Transformer.
- Image (500 steps, 29 min; majority class 0.110): Transformer 0.579, all-Fourier 0.577, hybrid-1
  0.599, hybrid-2 0.603.
- ListOps (800 steps, 43 min; majority class 0.154): Transformer 0.326, all-Fourier 0.319, hybrid-1
  0.323, hybrid-2 0.289.
- Pathfinder (400 steps, 23 min; majority class 0.505): every model at chance (0.48-0.51), as at 500
  steps with 4 blocks before: not counted.
Target met on Image and ListOps (hybrid-1, 6.1x fewer FLOPs). With 2,000 test examples one accuracy has
a standard error of ~1 point, so "within 1 point" is within noise; hybrid-2 below hybrid-1 on ListOps
shows the run-to-run spread. The full run takes about 95 minutes (94 measured; run it with `nice`);
`make bench` runs --quick (~6 min).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from swallowtail.nn import HybridConfig
from swallowtail.tasks import Split, TaskData, load_task
from swallowtail.train import TrainConfig, accuracy_sweep

#: the shared network shape: everything but the block kinds is the same for every model
BASE = HybridConfig(
    d_model=64,
    n_heads=4,
    d_ff=128,
    n_layers=6,
    max_len=256,
    vocab_size=257,
    n_classes=10,
    attention_layers=1,
    layout="top",
    attention="butterfly",
    ffn="butterfly",
    pooling="mean",
    dropout=0.0,
)
ATTENTION_LAYERS = (0, 1, 2)
LR = 1e-3
BATCH = 32
THREADS = 1  # 2 cores shared with other work: two OpenMP threads stall each other
#: the target of the issue: within this much accuracy of the Transformer ...
TARGET_ACC_GAP = 0.01
#: ... with at least this many times fewer FLOPs, on at least TARGET_TASKS tasks
TARGET_FLOP_RATIO = 5.0
TARGET_TASKS = 2
#: a task counts only when the Transformer beats the majority class of the test split by this much
MIN_LEARNED = 0.02
LISTOPS_MIN_LEN, LISTOPS_MAX_LEN = 64, 256
PATHFINDER_CONTOUR = 14
FULL_SIDE = 32  # LRA's 32 x 32 images
#: table width when stdout is a file or a pipe (wide enough for every column)
PIPE_WIDTH = 150


#: per mode: optimizer steps per task (the same for every model of a task), evaluations per run, and data
#: sizes
SETTINGS = {
    "full": dict(
        steps=dict(listops=800, pathfinder=400, image=500),
        evals=4,
        eval_batches=32,
        listops_n=(20_000, 1_000, 2_000),
        pf_images=20_000,
        test_cap=2_000,
    ),
    "quick": dict(
        steps=dict(listops=30, pathfinder=30, image=30),
        evals=2,
        eval_batches=4,
        listops_n=(1_000, 128, 128),
        pf_images=1_000,
        test_cap=256,
    ),
}


def majority_rate(split: Split) -> float:
    """Accuracy of always answering the most frequent test label."""
    return float(torch.bincount(split.labels).max()) / len(split.labels)


def pool_image_task(task: TaskData, side: int) -> TaskData:
    """32x32 pixel-token images mean-pooled to side x side (tokens stay pixel + 1; no padding involved)."""
    if side == FULL_SIDE:
        return task
    k = FULL_SIDE // side

    def pool(x: torch.Tensor) -> torch.Tensor:
        px = (x - 1).view(-1, side, k, side, k)  # (N, side, k, side, k) grey levels
        return ((px.sum(dim=(2, 4)) + k * k // 2) // (k * k) + 1).reshape(len(x), side * side)  # rounded mean

    splits = {n: Split(pool(s.inputs), s.labels) for n, s in task.splits().items()}
    return TaskData(
        name=task.name,
        **splits,
        vocab_size=task.vocab_size,
        n_classes=task.n_classes,
        seq_len=side * side,
        source=f"{task.source}; {k}x{k} mean-pooled to {side}x{side} = {side * side} tokens (CPU sizing)",
    )


def cap_test(task: TaskData, n: int) -> TaskData:
    """The task with its test split cut to the first n examples (evaluation time on a CPU)."""
    if len(task.test) <= n:
        return task
    t = task.test
    test = Split(t.inputs[:n], t.labels[:n], None if t.inputs2 is None else t.inputs2[:n])
    return TaskData(
        name=task.name,
        train=task.train,
        val=task.val,
        test=test,
        vocab_size=task.vocab_size,
        n_classes=task.n_classes,
        seq_len=task.seq_len,
        source=f"{task.source}; test split: first {n} examples",
    )


def load_tasks(mode: dict, side: int, cifar_dir: str | None, wanted: list[str], say) -> dict[str, TaskData]:
    tasks: dict[str, TaskData] = {}
    if "listops" in wanted:
        n_tr, n_va, n_te = mode["listops_n"]
        tasks["listops"] = load_task(
            "listops",
            n_train=n_tr,
            n_val=n_va,
            n_test=n_te,
            min_len=LISTOPS_MIN_LEN,
            max_len=LISTOPS_MAX_LEN,
            seed=0,
        )
    if "pathfinder" in wanted:
        pf = load_task("pathfinder", contour_length=PATHFINDER_CONTOUR, n_images=mode["pf_images"], seed=0)
        tasks["pathfinder"] = pool_image_task(pf, side)
    if "image" in wanted:
        try:
            img = load_task("image", cifar_dir=cifar_dir) if cifar_dir else load_task("image")
        except (ValueError, FileNotFoundError) as exc:
            say(
                f"[yellow]image task skipped:[/] no CIFAR-10 (--cifar-dir), no IDX files and no packaged "
                f"MNIST ({exc}); install Fashion-MNIST with `apt-get install dataset-fashion-mnist`"
            )
        else:
            say(f"image: {img.source}")
            tasks["image"] = pool_image_task(img, side)
    return {name: cap_test(tasks[name], mode["test_cap"]) for name in wanted if name in tasks}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few steps on small data: checks the pipeline")
    ap.add_argument(
        "--tasks", default="image,listops,pathfinder", help="comma-separated subset, run in this order"
    )
    ap.add_argument("--steps", type=int, default=None, help="override the mode's steps")
    ap.add_argument(
        "--image-side", type=int, default=16, choices=(16, 32), help="pixel tasks: side in tokens"
    )
    ap.add_argument("--cifar-dir", default=None, help="CIFAR-10 python batches for the image task")
    ap.add_argument("--out", default=None, help="runs directory (default runs/accuracy_bench[_quick])")
    args = ap.parse_args()
    mode = dict(SETTINGS["quick" if args.quick else "full"])
    if args.steps is not None:
        mode["steps"] = {name: args.steps for name in mode["steps"]}
    out = Path(args.out or ("runs/accuracy_bench_quick" if args.quick else "runs/accuracy_bench"))
    console = Console(width=None if sys.stdout.isatty() else PIPE_WIDTH)
    say = console.print
    t0 = time.perf_counter()
    tasks = load_tasks(mode, args.image_side, args.cifar_dir, args.tasks.split(","), say)
    say(f"data ready in {time.perf_counter() - t0:.0f} s; torch threads {THREADS}, pid {os.getpid()}")
    sweeps = {}
    for name, task in tasks.items():
        steps = mode["steps"][name]
        every = max(1, steps // mode["evals"])
        tc = TrainConfig(
            steps=steps,
            batch_size=BATCH,
            lr=LR,
            eval_every=every,
            eval_batches=mode["eval_batches"],
            checkpoint_every=every,
            log_every=10,
            threads=THREADS,
            seed=0,
            out_dir=str(out / name),
        )
        say(
            f"[bold]{name}[/]: {task.source}; {len(task.train)} train examples, {task.seq_len} tokens; "
            f"{steps} steps x batch {BATCH}"
        )
        t = time.perf_counter()
        res = accuracy_sweep(
            BASE,
            task,
            tc,
            ATTENTION_LAYERS,
            include_transformer=True,
            resume=True,
        )
        sweeps[name] = (res, time.perf_counter() - t)

    first = next(iter(sweeps.values()))[0] if sweeps else None
    label, arch = (first.latency_label, first.latency_arch) if first else ("", "")
    steps = ", ".join(f"{n} {res.train_config['steps']}" for n, (res, _) in sweeps.items())
    table = Table(
        title=f"accuracy vs FLOPs: {BASE.n_layers} blocks, d_model {BASE.d_model}, batch {BATCH}, "
        f"lr {LR:g}; steps: {steps}"
    )
    cols = (
        "task",
        "model",
        "test acc",
        "best val",
        "FLOPs",
        "vs TF",
        "params",
        "train samples/s",
        "latency",
        "wall",
    )
    for col in cols:
        table.add_column(col, justify="left" if col in ("task", "model") else "right")
    order = {"transformer": 0, "all-fourier": 1, "hybrid-1": 2, "hybrid-2": 3}
    met: list[str] = []
    summary = {}
    for name, (res, wall) in sweeps.items():
        tf = res.entry("transformer")
        majority = majority_rate(tasks[name].test)
        # a Transformer that never left the majority-class plateau sets no bar: matching it is no result
        learned = tf.accuracy is not None and tf.accuracy >= majority + MIN_LEARNED
        hits = []
        for e in sorted(res.entries, key=lambda e: order.get(e.name, 9)):
            ratio = e.flop_ratio_vs_transformer
            ok = (
                e.kind == "hybrid"
                and e.accuracy is not None
                and learned
                and e.accuracy >= tf.accuracy - TARGET_ACC_GAP
                and ratio >= TARGET_FLOP_RATIO
            )
            if ok:
                hits.append(e.name)
            table.add_row(
                name,
                e.name + (" *" if ok else ""),
                f"{e.accuracy:.3f}",
                f"{e.best_val_acc:.3f}",
                f"{e.flops / 1e6:.1f} M",
                f"{ratio:.1f}x",
                f"{e.params:,}",
                f"{e.train_samples_per_s:.0f}",
                f"{e.latency_s * 1e3:.3f} ms",
                f"{e.train_wall_s:.0f} s",
            )
        table.add_section()
        if hits:
            met.append(name)
        summary[name] = {
            "source": res.source,
            "wall_s": wall,
            "majority_rate": majority,
            "transformer_learned": learned,
            "target_hits": hits,
            **res.to_dict(),
        }
    console.print(table)
    say(
        f"latency: {label} on {arch}; * = target met (hybrid within "
        f"{TARGET_ACC_GAP:.0%} of the Transformer with >= {TARGET_FLOP_RATIO:.0f}x fewer FLOPs)"
    )
    for name, (res, wall) in sweeps.items():
        s = summary[name]
        note = "" if s["transformer_learned"] else " -- Transformer at majority-class level: not counted"
        say(
            f"{name}: {res.source} -- majority class {s['majority_rate']:.3f}; "
            f"sweep wall time {wall / 60:.1f} min{note}"
        )
    verdict = "HOLDS" if len(met) >= TARGET_TASKS else "does NOT hold"
    say(
        f"target on >= {TARGET_TASKS} tasks: {verdict} (met on {met or 'no task'}); "
        f"total {(time.perf_counter() - t0) / 60:.1f} min"
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "accuracy_bench.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
