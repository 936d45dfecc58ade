"""`load_task` by name, its errors, and the on-disk cache of generated datasets."""

from __future__ import annotations

import pytest
import torch

from swallowtail.errors import SpecError
from swallowtail.tasks import TASKS, Split, TaskData, cache, listops, load_task, pathfinder, task_params

SMALL = {"n_train": 30, "n_val": 5, "n_test": 5, "min_len": 20, "max_len": 80, "seed": 4}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SWALLOWTAIL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "tasks"


def _same(a: TaskData, b: TaskData) -> None:
    for field in ("name", "vocab_size", "n_classes", "seq_len", "source"):
        assert getattr(a, field) == getattr(b, field)
    for s in ("train", "val", "test"):
        x, y = getattr(a, s), getattr(b, s)
        assert torch.equal(x.inputs, y.inputs) and torch.equal(x.labels, y.labels)
        assert x.inputs.dtype == torch.int64 and y.inputs.dtype == torch.int64


def test_registry_names_and_errors():
    assert sorted(TASKS) == ["image", "listops", "pathfinder", "retrieval", "text"]
    with pytest.raises(SpecError) as e:
        load_task("cifar100")
    assert e.value.field == "task" and "listops" in e.value.allowed
    assert isinstance(e.value, ValueError)
    with pytest.raises(SpecError) as e:
        load_task("listops", n_trian=10)
    assert e.value.field == "listops.n_trian" and "n_train" in e.value.allowed
    assert "seq_len" in task_params("text") and "contour_length" in task_params("pathfinder")
    with pytest.raises(SpecError, match="contour_length"):
        load_task("pathfinder", contour_length="long")


def test_second_load_hits_the_cache(_private_cache, monkeypatch):
    first = load_task("listops", **SMALL)
    files = list(_private_cache.glob("listops-*.pt"))
    assert len(files) == 1
    assert not list(_private_cache.glob("*.tmp"))  # the temp file was renamed into place

    def boom(*a, **k):
        raise AssertionError("generated again instead of reading the cache")

    monkeypatch.setattr(listops, "generate", boom)
    second = load_task("listops", **SMALL)
    _same(first, second)
    other = {**SMALL, "seed": 5}  # other parameters: another key, so it must generate
    with pytest.raises(AssertionError, match="generated again"):
        load_task("listops", **other)


def test_cache_rebuilds_corrupt_files_and_can_be_off(_private_cache):
    first = load_task("pathfinder", n_images=10, contour_length=6, seed=2)
    (path,) = list(_private_cache.glob("pathfinder-*.pt"))
    path.write_bytes(b"not a torch file")
    again = load_task("pathfinder", n_images=10, contour_length=6, seed=2)
    _same(first, again)
    assert path.stat().st_size > 100
    path.unlink()
    load_task("pathfinder", n_images=10, contour_length=6, seed=2, cache=False)
    assert not path.exists()
    k1 = cache.cache_key("pathfinder", pathfinder.GENERATOR_VERSION, {"a": 1})
    assert k1 == cache.cache_key("pathfinder", pathfinder.GENERATOR_VERSION, {"a": 1})
    assert k1 != cache.cache_key("pathfinder", "another-version", {"a": 1})  # the generator version is keyed
    assert k1 != cache.cache_key("pathfinder", pathfinder.GENERATOR_VERSION, {"a": 2})


def test_split_checks_shapes():
    with pytest.raises(ValueError):
        Split(torch.zeros(3, 4, dtype=torch.int64), torch.zeros(2, dtype=torch.int64))
    s = Split(torch.zeros(3, 4, dtype=torch.int64), torch.zeros(3, dtype=torch.int64))
    assert len(s) == 3 and s.inputs1 is s.inputs and s.inputs2 is None
