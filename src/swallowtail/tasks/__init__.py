"""Long Range Arena-like tasks (Tay et al., ICLR 2021) as tensors: ListOps and Pathfinder generated, Image,
Text and Retrieval read from the files a user has.

    from swallowtail.tasks import load_task
    data = load_task("listops", n_train=1000, n_val=100, n_test=100, min_len=50, max_len=200)
    data.train.inputs   # (N, L) int64 token ids, 0 = pad
    data.train.labels   # (N,) int64
    data.source         # where the data came from

Tasks: listops | pathfinder | image | text | retrieval (see each module's docstring for formats).
Generated datasets are cached on disk (`swallowtail.tasks.cache`).
"""

from swallowtail.tasks.base import PAD_ID, Split, TaskData, TaskShape
from swallowtail.tasks.registry import TASKS, load_task, task_params, task_shape

__all__ = ["PAD_ID", "TASKS", "Split", "TaskData", "TaskShape", "load_task", "task_params", "task_shape"]
