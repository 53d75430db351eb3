"""Shared fixtures: the real MNIST files, offline Hub, quiet threads."""

import os
import socket
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_DATASETS_CACHE", tempfile.mkdtemp(prefix="hf-datasets-"))

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

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


def render_sketch(digit: np.ndarray, path: Path, size: int = 280) -> Path:
    """Save a white-on-black digit as the browser's sketchpad sends a stroke layer: black RGB, the
    digit (enlarged to the canvas) in the alpha channel."""
    alpha = Image.fromarray(np.asarray(digit, np.uint8)).resize((size, size), Image.Resampling.BILINEAR)
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., 3] = np.asarray(alpha)
    Image.fromarray(rgba).save(path)
    return path


def sketch_payload(path: Path) -> dict:
    """A Sketchpad value for gradio_client: one stroke layer, no background."""
    from gradio_client import handle_file

    return {"background": None, "layers": [handle_file(str(path))], "composite": None}


@pytest.fixture(scope="session")
def space():
    """The Space (weights from demo/weights), served once per session on a free loopback port."""
    from demo.ui import LAUNCH_OPTIONS, build_demo

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo = build_demo()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **LAUNCH_OPTIONS)
    yield demo
    demo.close()


@pytest.fixture(scope="session")
def client(space, tmp_path_factory):
    from gradio_client import Client

    return Client(space.local_url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))
