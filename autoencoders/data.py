"""Image sources -> one uint8 tensor [N, C, H, W], int64 labels [N] and the padding added.

Sources: a local folder of IDX files (gzipped or not, laid out like the MNIST distribution), local
parquet files or an image folder (through `datasets`), or a Hub dataset id (default `ylecun/mnist`).
Images are padded to 32x32 as in the tutorial, and the padding is recorded (`ImageSplit.padding`) so
that the metrics score the images, not the border. Splits: `train`, `val` (a fixed, seeded slice of the
official training set that `train` then excludes) and `test` (the official test split).

The whole set is small (MNIST is 60 MB as uint8), so training slices batches from this one tensor
on the training device instead of pushing images one at a time through a DataLoader.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .checks import check_choice

SPLITS = ("train", "val", "test")
SPLIT_FOLDERS = {"train", "test", "val", "validation"}
DEFAULT_DATASET = "ylecun/mnist"
VAL_SIZE = 5000
VAL_SEED = 0
IMAGE_SIZE = 32
_IDX_MAGIC = {2049: 1, 2051: 3}  # labels: 1 dimension; images: 3 dimensions
_IDX_PREFIXES = {"train": ("train",), "test": ("t10k", "test")}
_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
# sha256 of the canonical MNIST test images, gzipped and not: a local folder holding them is MNIST
_MNIST_TEST_IMAGES = {
    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
}


class ImageSplit(NamedTuple):
    """One split: uint8 images [N, C, H, W], int64 labels [N] (-1 where unknown), and the padding
    [top, bottom, left, right] that was added around the stored images."""

    images: Tensor
    labels: Tensor
    padding: list[int]


def as_float(images: Tensor) -> Tensor:
    """uint8 pixels -> float32 in [0, 1]; floating-point images pass through unchanged. The one
    place pixels become numbers, for the model, the metrics and the training loop alike."""
    if images.dtype == torch.uint8:
        return images.float().div_(255)
    return images if images.is_floating_point() else images.float()


def load_images(
    source: str | Path = DEFAULT_DATASET,
    split: str = "train",
    *,
    size: int | None = IMAGE_SIZE,
    val_size: int | None = None,
) -> ImageSplit:
    """Load one split as uint8 images [N, C, size, size], int64 labels [N] and the padding added.

    `size=None` keeps the stored size (no padding). Labels are -1 where the source has none.
    `val_size` (default: 5,000, or a tenth of a training split smaller than 50,000) is the seeded
    slice of the official training split that `val` takes and `train` leaves out.
    """
    check_choice("split", split, SPLITS)
    images, labels = _load_official_split(source, "test" if split == "test" else "train")
    if split != "test":
        if val_size is None:
            val_size = VAL_SIZE if len(images) >= 10 * VAL_SIZE else max(1, len(images) // 10)
        if not 0 < val_size < len(images):
            raise ValueError(
                f"the training split has {len(images)} images: too few for a validation slice of {val_size} "
                f"(val_size must be between 1 and {len(images) - 1}; at least 2 training images are needed)"
            )
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(VAL_SEED))
        keep = order[:val_size] if split == "val" else order[val_size:].sort().values
        images, labels = images[keep], labels[keep]
    if size is None:
        return ImageSplit(images, labels, [0, 0, 0, 0])
    return ImageSplit(pad_images(images, size), labels, padding_to(images.shape[-2:], size))


def padding_to(shape: tuple[int, ...] | torch.Size, size: int = IMAGE_SIZE) -> list[int]:
    """[top, bottom, left, right] that centres an image of `shape` (H, W) in size x size."""
    height, width = shape[-2:]
    if height > size or width > size:
        raise ValueError(f"images are {height}x{width}, larger than the {size}x{size} the models expect")
    top, left = (size - height) // 2, (size - width) // 2
    return [top, size - height - top, left, size - width - left]


def pad_images(images: Tensor, size: int = IMAGE_SIZE) -> Tensor:
    """Zero-pad [N, C, H, W] images symmetrically to size x size (28x28 MNIST -> 32x32)."""
    top, bottom, left, right = padding_to(images.shape, size)
    return F.pad(images, (left, right, top, bottom))


def dataset_id(source: str | Path) -> str:
    """The dataset a model card names: a Hub id as it is, `ylecun/mnist` for a local copy of the
    canonical MNIST files, else the local folder's or file's name."""
    path = Path(source)
    if not path.exists():
        return str(source)
    for candidate in sorted(path.glob("t10k-images*")) if path.is_dir() else []:
        if hashlib.sha256(candidate.read_bytes()).hexdigest() in _MNIST_TEST_IMAGES:
            return DEFAULT_DATASET
    return path.resolve().name


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped), checking its magic number and its length."""
    path = Path(path)
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 8:
        raise ValueError(f"{path}: not an IDX file (only {len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in _IDX_MAGIC:
        raise ValueError(f"{path}: bad IDX magic number {magic} (expected 2051 for images, 2049 for labels)")
    ndim = _IDX_MAGIC[magic]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise ValueError(f"{path}: truncated or oversized IDX body: header says {dims} = {expected} bytes, file holds {len(raw) - header}")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _load_official_split(source: str | Path, split: str) -> tuple[Tensor, Tensor]:
    path = Path(source)
    if path.is_dir():
        if any("idx" in p.name for p in path.iterdir()):
            return _load_idx_folder(path, split)
        if any(path.rglob("*.parquet")):
            return _load_with_datasets("parquet", split, data_dir=str(path))
        try:
            return _load_with_datasets("imagefolder", split, data_dir=str(path))
        except ValueError as err:
            if "split" not in str(err):
                raise
            raise ValueError(
                f"{path} has no {split!r} split. An image folder needs train/ and test/ subfolders, each holding "
                "images or one folder of images per class (train/3/a.png); a flat folder of images is a training "
                "split only"
            ) from err
    if path.is_file():
        if path.suffix != ".parquet":
            raise ValueError(f"{path}: unknown dataset format (expected a folder of IDX files, parquet or images)")
        return _load_with_datasets("parquet", split, data_files={split: str(path)})
    if not _HUB_ID.match(str(source)) or str(source).startswith("."):
        raise FileNotFoundError(f"dataset path {source} does not exist")
    return _load_with_datasets(str(source), split)


def _load_idx_folder(folder: Path, split: str) -> tuple[Tensor, Tensor]:
    def find(kind: str) -> Path:
        for p in sorted(folder.iterdir()):
            name = p.name.lower()
            if name.startswith(_IDX_PREFIXES[split]) and kind in name and "idx" in name:
                return p
        raise FileNotFoundError(
            f"{folder}: no {split} {kind} IDX file (expected a name like "
            f"{_IDX_PREFIXES[split][0]}-{kind}-idx{3 if kind == 'images' else 1}-ubyte[.gz])"
        )

    images, labels = read_idx(find("images")), read_idx(find("labels"))
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(f"{folder}: expected 3-D image and 1-D label IDX files for {split}")
    if len(images) != len(labels):
        raise ValueError(f"{folder}: {len(images)} {split} images but {len(labels)} labels")
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def _load_with_datasets(name: str, split: str, **kwargs: object) -> tuple[Tensor, Tensor]:
    import datasets

    try:
        dataset = datasets.load_dataset(name, split=split, **kwargs)
    except ValueError as err:
        if "split" in str(err).lower():
            raise ValueError(f"dataset {name!r} has no {split!r} split ({err})") from err
        raise
    except (FileNotFoundError, ConnectionError, OSError) as err:
        raise FileNotFoundError(f"could not load dataset {name!r} (not a local folder, and not on the Hub or offline): {err}") from err
    image_column = next((c for c, f in dataset.features.items() if isinstance(f, datasets.Image)), None)
    if image_column is None:
        raise ValueError(f"dataset {name!r} has no image column (features: {list(dataset.features)})")
    pixels = [np.asarray(image) for image in dataset[image_column]]
    shapes = {p.shape for p in pixels}
    if len(shapes) != 1:
        raise ValueError(f"dataset {name!r}: images have different shapes {sorted(shapes)[:4]}; resize them first")
    stacked = np.stack(pixels)
    images = torch.from_numpy(stacked).unsqueeze(1) if stacked.ndim == 3 else torch.from_numpy(stacked).permute(0, 3, 1, 2)
    return images.contiguous(), _labels(dataset, len(images))


def _labels(dataset: object, count: int) -> Tensor:
    """The `label` column as int64, or -1 for every image where there is none: no column, missing
    values, or the class names an image folder inferred from its split folders (train/*.png)."""
    import datasets

    feature = dataset.features.get("label")
    unknown = torch.full((count,), -1, dtype=torch.int64)
    if feature is None or (isinstance(feature, datasets.ClassLabel) and set(feature.names) <= SPLIT_FOLDERS):
        return unknown
    values = dataset["label"]
    if any(value is None for value in values):
        return unknown
    return torch.tensor(values, dtype=torch.int64)
