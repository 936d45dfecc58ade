"""swallowtail.train: train hybrid butterfly networks on the LRA-like tasks, resumably and
deterministically, on one process or data-parallel under torchrun; and sweep the hybrid family.

    from swallowtail.nn import get_preset
    from swallowtail.tasks import load_task
    from swallowtail.train import TrainConfig, train

    data = load_task("listops", n_train=2000, n_val=200, n_test=200, min_len=32, max_len=256)
    result = train(get_preset("lra-listops"), data, TrainConfig(steps=200, out_dir="runs/listops"))
    result.test_acc, result.flops, result.train_samples_per_s

`train` adapts the model config to the task (vocab, classes, max_len, padding, pooling) and says what it
changed; `accuracy_sweep` trains the all-Fourier network, the hybrids and the Transformer and reports
accuracy against FLOPs and simulated latency.
"""

from swallowtail.train.config import SCHEDULES, TrainConfig
from swallowtail.train.data import BatchStream, adapt_config, fit_length, prepare_task, sample_eval
from swallowtail.train.loop import NonFiniteLossError, TrainResult, evaluate, train
from swallowtail.train.sweep import SweepEntry, SweepResult, accuracy_sweep, sweep_models
from swallowtail.train.toy import toy_task

__all__ = [
    "SCHEDULES",
    "BatchStream",
    "NonFiniteLossError",
    "SweepEntry",
    "SweepResult",
    "TrainConfig",
    "TrainResult",
    "accuracy_sweep",
    "adapt_config",
    "evaluate",
    "fit_length",
    "prepare_task",
    "sample_eval",
    "sweep_models",
    "toy_task",
    "train",
]
