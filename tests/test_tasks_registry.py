"""`load_task` by name, its errors, the on-disk cache of generated datasets, and `task_shape`: what a load
would give, known without loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from swallowtail.errors import SpecError
from swallowtail.tasks import (
    TASKS,
    Split,
    TaskData,
    cache,
    listops,
    load_task,
    pathfinder,
    task_params,
    task_shape,
)
from swallowtail.tasks.base import count_lines

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


@pytest.mark.parametrize(
    ("task", "params", "field"),
    [
        ("listops", {"cache": "maybe"}, "cache"),  # was truthy: silently cached
        ("pathfinder", {"cache": 1}, "cache"),
        ("listops", {"data_dir": 5}, "data_dir"),  # was a TypeError from pathlib
        ("image", {"cifar_dir": 5}, "cifar_dir"),
        ("retrieval", {"data_dir": "/x", "prefix": 5}, "prefix"),
        ("listops", {"prefix": "x"}, "prefix"),  # was ignored: nothing is read without data_dir
        ("listops", {"data_dir": "/x", "prefix": 5}, "prefix"),  # was a TypeError from re.sub
    ],
)
def test_parameter_types_checked(task, params, field):
    for f in (load_task, task_shape):
        with pytest.raises(SpecError) as e:
            f(task, **params)
        assert e.value.field == field


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
    whole = path.read_bytes()
    other = []
    for obj in ([1, 2], {"train": [1]}):  # torch files of another structure
        torch.save(obj, path)
        other.append(path.read_bytes())
    for bad in (b"not a torch file", b"", whole[: len(whole) // 2], *other):  # foreign, empty, cut short
        path.write_bytes(bad)
        again = load_task("pathfinder", n_images=10, contour_length=6, seed=2)
        _same(first, again)
        assert path.read_bytes() == whole
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


# ---- task_shape: what a load would give, known without loading ------------------------------------------
FIX = Path(__file__).parent / "fixtures" / "lra"
SHAPE_CASES = [
    ("listops", dict(SMALL)),
    ("listops", {"data_dir": FIX / "listops", "max_len": 32}),
    ("pathfinder", {"n_images": 12, "seed": 1}),
    ("text", {"data_dir": FIX / "imdb", "seq_len": 64}),
    ("text", {"data_dir": FIX / "imdb_tables", "seq_len": 64}),
    ("text", {"data_dir": FIX / "imdb", "seq_len": 64, "max_examples": 2}),
    ("text", {"data_dir": FIX / "imdb_tables", "seq_len": 64, "max_examples": 1}),
    ("retrieval", {"data_dir": FIX / "aan", "seq_len": 64}),
    ("retrieval", {"data_dir": FIX / "aan", "seq_len": 64, "max_examples": 2}),
]


SHAPE_IDS = [f"{name}{i}" for i, (name, _) in enumerate(SHAPE_CASES)]


@pytest.mark.parametrize(("name", "params"), SHAPE_CASES, ids=SHAPE_IDS)
def test_task_shape_is_what_the_load_gives(name, params):
    shape = task_shape(name, **params)
    data = load_task(name, **params)
    assert (shape.n_train, shape.n_val, shape.n_test) == (len(data.train), len(data.val), len(data.test))
    assert shape.seq_len == data.seq_len and shape.towers == (2 if data.two_towers else 1)
    assert (shape.generator is None) == ("data_dir" in params)
    assert shape.read_bytes > 0 or shape.generator is not None


def test_task_shape_knows_a_cached_set_and_fails_like_the_load(tmp_path):
    assert not task_shape("listops", **SMALL).cached
    load_task("listops", **SMALL)
    assert task_shape("listops", **SMALL).cached and not task_shape("listops", **SMALL, cache=False).cached
    for name, params, field in [
        ("listops", {"n_train": 0}, "n_train"),
        ("listops", {"data_dir": tmp_path}, "data_dir"),
        ("listops", {"data_dir": FIX / "listops", "seed": 1}, "seed"),
        ("pathfinder", {"n_images": 2}, "n_images"),
        ("text", {}, "data_dir"),
        ("retrieval", {"data_dir": tmp_path}, "data_dir"),
        ("text", {"data_dir": FIX / "imdb", "max_examples": 0}, "max_examples"),
        ("image", {"idx_dir": tmp_path}, "idx_dir"),
        ("listops", {"warp": 1}, "listops.warp"),
    ]:
        with pytest.raises(SpecError, match=field):
            task_shape(name, **params)
        with pytest.raises(SpecError, match=field):
            load_task(name, **params)


def test_count_lines(tmp_path):
    f = tmp_path / "x.txt"
    f.write_bytes(b"a\nbb\nccc")  # a last line without a newline counts
    assert count_lines(f) == (3, 8)
    assert count_lines(f, 2) == (2, 5) and count_lines(f, 9) == (3, 8)
    f.write_bytes(b"")
    assert count_lines(f) == (0, 0)
