"""Real MNIST test digits bundled with the Space: a small gallery to denoise and interpolate, and a
few hundred digits for the latent map. Regenerate with `python -m demo.gallery <mnist-idx-folder>`."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GALLERY_FILE = Path(__file__).with_name("mnist_test_digits.npz")
PER_CLASS = 40
GALLERY_PER_CLASS = 3


@dataclass(frozen=True)
class Digits:
    """uint8 digits [N, 32, 32] (white ink on black, padded like the training data) and labels [N]."""

    images: np.ndarray
    labels: np.ndarray

    def gallery(self) -> Digits:
        """The first `GALLERY_PER_CLASS` digits of each class, in class order."""
        picks = np.concatenate([np.flatnonzero(self.labels == c)[:GALLERY_PER_CLASS] for c in range(10)])
        return Digits(self.images[picks], self.labels[picks])


def load_digits(path: Path = GALLERY_FILE) -> Digits:
    """The bundled digits (a plain .npz of uint8 arrays: nothing is unpickled)."""
    with np.load(path, allow_pickle=False) as data:
        return Digits(data["images"], data["labels"])


def build_digits(mnist_dir: str | Path, path: Path = GALLERY_FILE, per_class: int = PER_CLASS) -> Digits:
    """Take the first `per_class` test digits of each class and save them to `path`."""
    from autoencoders.data import load_images

    images, labels, _ = load_images(mnist_dir, "test")
    picks = np.sort(np.concatenate([np.flatnonzero(labels.numpy() == c)[:per_class] for c in range(10)]))
    digits = Digits(images[picks, 0].numpy(), labels[picks].numpy().astype(np.uint8))
    np.savez_compressed(path, images=digits.images, labels=digits.labels)
    return digits


if __name__ == "__main__":
    build_digits(sys.argv[1])
