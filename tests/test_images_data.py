"""Image data loaders (lowdim.images.data): canonical counts and first labels, checksum errors name the fix."""

import shutil

import pytest
import torch

from lowdim.images.data import (DATA_DIR, FIX_COMMAND, DatasetMissingError, load_dataset, load_digits_dataset,
                                load_idx_dataset, recorded_sha256)


@pytest.mark.parametrize("name, first_train, first_test, train_counts0", [
    ("fashion-mnist", [9, 0, 0, 3, 0, 2, 7, 2, 5, 5], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7], 6000),
    ("mnist", [5, 0, 4, 1, 9, 2, 1, 3, 1, 4], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9], 5923),
])
def test_idx_datasets_have_canonical_counts_and_labels(name, first_train, first_test, train_counts0):
    ds = load_dataset(name)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.y_train[:10].tolist() == first_train and ds.y_test[:10].tolist() == first_test
    assert int((ds.y_train == 0).sum()) == train_counts0
    assert float(ds.x_train.min()) == -1.0 and float(ds.x_train.max()) == 1.0
    assert ds.num_classes == 10


def test_mnist_mean_pixel_is_canonical():
    ds = load_dataset("mnist")  # mean pixel / 255 = 0.1307 (data.md §1); images are 2 v/255 - 1
    assert abs(float((ds.x_train.double().mean() + 1) / 2) - 0.1307) < 1e-4


def _copy_data(tmp_path, name):
    (tmp_path / "raw").mkdir()
    shutil.copytree(DATA_DIR / "raw" / name, tmp_path / "raw" / name)
    shutil.copy(DATA_DIR / "raw.sha256", tmp_path / "raw.sha256")
    return tmp_path


def test_corrupted_file_names_the_data_command(tmp_path):
    root = _copy_data(tmp_path, "mnist")
    path = root / "raw" / "mnist" / "t10k-labels-idx1-ubyte"
    raw = bytearray(path.read_bytes())
    raw[100] ^= 1
    path.write_bytes(bytes(raw))
    load_idx_dataset.cache_clear()
    with pytest.raises(DatasetMissingError, match=FIX_COMMAND):
        load_idx_dataset("mnist", root)


def test_missing_file_names_the_data_command(tmp_path):
    root = _copy_data(tmp_path, "mnist")
    (root / "raw" / "mnist" / "train-images-idx3-ubyte").unlink()
    load_idx_dataset.cache_clear()
    with pytest.raises(DatasetMissingError, match=f"missing.*{FIX_COMMAND}"):
        load_idx_dataset("mnist", root)


def test_sha256_list_covers_both_datasets():
    sums = recorded_sha256(DATA_DIR)
    assert len(sums) == 8 and all(len(v) == 64 for v in sums.values())


def test_digits_split_is_seeded_and_disjoint():
    a, b = load_digits_dataset(seed=3), load_digits_dataset(seed=3)
    assert torch.equal(a.x_test, b.x_test) and a.x_train.shape == (1200, 1, 8, 8) and a.x_test.shape == (597, 1, 8, 8)
    assert float(a.x_train.min()) == -1.0 and float(a.x_train.max()) == 1.0
    with pytest.raises(ValueError, match="num_test"):
        load_digits_dataset(num_test=0)


def test_unknown_dataset_is_rejected():
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_dataset("svhn")
