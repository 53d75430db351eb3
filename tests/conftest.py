"""Shared fixtures: the real MNIST files, offline Hub, quiet threads."""

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_DATASETS_CACHE", tempfile.mkdtemp(prefix="hf-datasets-"))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from autoencoders.data import load_images  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def find_mnist() -> Path:
    """The real MNIST IDX folder: $AUTOENCODERS_MNIST, else ../shared/data/mnist beside the repo."""
    candidates = [os.environ.get("AUTOENCODERS_MNIST"), REPO.parent / "shared/data/mnist", "/work/shared/data/mnist"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "train-images-idx3-ubyte.gz").exists():
            return Path(candidate)
    raise FileNotFoundError(f"real MNIST not found in {candidates}; set AUTOENCODERS_MNIST")


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    return find_mnist()


@pytest.fixture(scope="session")
def mnist_train(mnist_dir):
    return load_images(mnist_dir, "train")


@pytest.fixture(scope="session")
def mnist_test(mnist_dir):
    return load_images(mnist_dir, "test")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
