"""Shared fixtures: the real MNIST files, offline Hub, quiet threads."""

import os
import socket
import tempfile
from types import SimpleNamespace

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_DATASETS_CACHE", tempfile.mkdtemp(prefix="hf-datasets-"))

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from autoencoders.data import load_images

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


# Short real training runs: the first 2048 training images, 500 validation and test images, batch 128.
TRAIN_SUBSET, EVAL_SUBSET = 2048, 500


@pytest.fixture
def train_argv(mnist_dir):
    """The argv of a short real run of training/train.py writing to `output_dir`."""

    def build(variant: str, output_dir: Path, *flags: str) -> list[str]:
        return [
            "--variant", variant, "--dataset", str(mnist_dir), "--output_dir", str(output_dir),
            "--epochs", "1", "--batch_size", "128", "--lr_warmup_steps", "2", "--report_to", "none",
            "--max_train_samples", str(TRAIN_SUBSET), "--max_eval_samples", str(EVAL_SUBSET),
            "--mixed_precision", "no", *flags,  # one process, one AcceleratorState: deep and conv train in bf16
        ]  # fmt: skip

    return build


@pytest.fixture
def script_env():
    """Environment for running the training script as a subprocess from the repository root."""
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE"}


class FakeHub:
    """Intercepts the two HfApi calls a push makes and records them; `fail` makes the commit fail
    like a network error."""

    def __init__(self, monkeypatch, fail=False):
        from huggingface_hub import HfApi, RepoUrl

        self.calls = []
        calls = self.calls

        def create_repo(api, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs, api.token))
            return RepoUrl(f"https://huggingface.co/{repo_id}")

        def create_commit(api, repo_id, operations, **kwargs):
            calls.append(("create_commit", repo_id, sorted(op.path_in_repo for op in operations), api.token))
            if fail:
                raise ConnectionError("the Hub is unreachable")
            return SimpleNamespace(commit_url=f"https://huggingface.co/{repo_id}/commit/1")

        monkeypatch.setattr(HfApi, "create_repo", create_repo)
        monkeypatch.setattr(HfApi, "create_commit", create_commit)


@pytest.fixture
def fake_hub(monkeypatch):
    """A factory of FakeHub interceptions (the Hub is unreachable here)."""
    return lambda fail=False: FakeHub(monkeypatch, fail)


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
