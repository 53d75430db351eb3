import gzip
import shutil

import numpy as np
import pytest
import torch

from autoencoders.data import load_images, pad_images, read_idx

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_idx_files_match_published_facts(mnist_dir):
    train = read_idx(mnist_dir / "train-images-idx3-ubyte.gz")
    labels = read_idx(mnist_dir / "train-labels-idx1-ubyte.gz")
    test_labels = read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")
    assert train.shape == (60000, 28, 28) and labels.shape == (60000,)
    assert list(labels[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert list(test_labels[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(labels).tolist() == TRAIN_COUNTS
    assert np.bincount(test_labels).tolist() == TEST_COUNTS
    assert abs(train.mean() / 255 - 0.1307) < 1e-4


def test_splits_are_padded_disjoint_and_cover_the_official_sets(mnist_train, mnist_test, mnist_dir):
    val_images, val_labels, val_padding = load_images(mnist_dir, "val")
    train_images, train_labels, train_padding = mnist_train
    test_images, test_labels, test_padding = mnist_test
    assert train_padding == val_padding == test_padding == [2, 2, 2, 2]  # recorded: 28x28 centred in 32x32
    assert load_images(mnist_dir, "test", size=None).padding == [0, 0, 0, 0]
    assert train_images.shape == (55000, 1, 32, 32) and train_images.dtype == torch.uint8
    assert val_images.shape == (5000, 1, 32, 32) and test_images.shape == (10000, 1, 32, 32)
    assert train_labels.dtype == torch.int64
    assert torch.bincount(torch.cat([train_labels, val_labels])).tolist() == TRAIN_COUNTS
    assert torch.bincount(test_labels).tolist() == TEST_COUNTS
    # padding: a 2-pixel zero border around the 28x28 digit
    assert train_images[:, :, :2].sum() == 0 and train_images[:, :, -2:].sum() == 0
    # no image is in both train and val
    hashes = {hash(img.numpy().tobytes()) for img in val_images}
    overlap = sum(hash(img.numpy().tobytes()) in hashes for img in train_images[:5000])
    assert overlap <= 2  # MNIST has a couple of exact duplicate digits, no more
    again = load_images(mnist_dir, "val").images
    assert torch.equal(again, val_images)


def test_matches_torchvision_pixel_for_pixel(mnist_dir, mnist_test, tmp_path):
    from torchvision.datasets import MNIST

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        with gzip.open(mnist_dir / f"{name}.gz") as src, open(raw / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    reference = MNIST(tmp_path, train=False, download=False)
    images, labels, _ = mnist_test
    assert torch.equal(images, pad_images(reference.data.unsqueeze(1)))
    assert torch.equal(labels, reference.targets)


def test_uncompressed_idx_folder_loads_the_same(mnist_dir, mnist_test, tmp_path):
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(gzip.open(mnist_dir / f"{name}.gz").read())
    images, labels, _ = load_images(tmp_path, "test")
    assert torch.equal(images, mnist_test[0]) and torch.equal(labels, mnist_test[1])


def _write_parquet_and_imagefolder(tmp_path, mnist_test):
    import datasets
    from PIL import Image

    images, labels, _ = mnist_test
    digits = images[:12, 0, 2:30, 2:30].numpy()
    folder = tmp_path / "imagefolder"
    for split in ("train", "test"):
        for i, (digit, label) in enumerate(zip(digits, labels[:12].tolist())):
            path = folder / split / str(label) / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(digit).save(path)
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(num_classes=10)})
    table = datasets.Dataset.from_dict({"image": [Image.fromarray(d) for d in digits], "label": labels[:12].tolist()}, features=features)
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    table.to_parquet(str(parquet / "test.parquet"))
    return folder, parquet / "test.parquet", images[:12]


def test_parquet_and_imagefolder_through_datasets(tmp_path, mnist_test):
    folder, parquet_file, expected = _write_parquet_and_imagefolder(tmp_path, mnist_test)
    images, labels, _ = load_images(parquet_file, "test")
    assert torch.equal(images, expected) and torch.equal(labels, mnist_test[1][:12])
    images, labels, _ = load_images(folder, "test")
    assert images.shape == (12, 1, 32, 32)
    assert sorted(map(bytes, images.numpy().reshape(12, -1))) == sorted(map(bytes, expected.numpy().reshape(12, -1)))


@pytest.mark.parametrize(
    ("make", "split", "error", "words"),
    [
        (lambda p: p / "nope", "train", FileNotFoundError, "does not exist"),
        (lambda p: (p / "x.csv").write_text("a") and p / "x.csv", "train", ValueError, "unknown dataset format"),
        (lambda p: p, "validation", ValueError, "choose one of: train, val, test"),
    ],
)
def test_bad_sources_fail_clearly(tmp_path, make, split, error, words):
    with pytest.raises(error, match=words):
        load_images(make(tmp_path), split)


def test_bad_magic_and_truncated_idx(tmp_path, mnist_dir):
    body = gzip.open(mnist_dir / "t10k-labels-idx1-ubyte.gz").read()
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x99" + body[4:])
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(body)
    with pytest.raises(ValueError, match="bad IDX magic number"):
        load_images(tmp_path, "test")
    images = gzip.open(mnist_dir / "t10k-images-idx3-ubyte.gz").read()
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(images[:-100])
    with pytest.raises(ValueError, match="truncated"):
        load_images(tmp_path, "test")


def test_missing_split_file_names_the_expected_file(tmp_path, mnist_dir):
    shutil.copy(mnist_dir / "t10k-images-idx3-ubyte.gz", tmp_path)
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_images(tmp_path, "test")


def test_hub_dataset_offline_fails_clearly():
    with pytest.raises((FileNotFoundError, ConnectionError), match="could not load dataset"):
        load_images("nobody-here/no-such-dataset", "test")


def test_images_larger_than_the_model_input_are_refused():
    with pytest.raises(ValueError, match="larger than the 32x32"):
        pad_images(torch.zeros(1, 1, 40, 40, dtype=torch.uint8))


def _save_pngs(folder, digits):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, digit in enumerate(digits):
        Image.fromarray(digit).save(folder / f"{i}.png")


def test_a_flat_folder_of_images_is_a_training_split_with_a_validation_slice_that_fits(tmp_path, mnist_test):
    digits = mnist_test.images[:20, 0, 2:30, 2:30].numpy()
    _save_pngs(tmp_path / "flat", digits)
    train, val = load_images(tmp_path / "flat", "train"), load_images(tmp_path / "flat", "val")
    assert len(train.images) == 18 and len(val.images) == 2  # a tenth for validation, not 5,000
    assert (train.labels == -1).all() and train.padding == [2, 2, 2, 2]
    with pytest.raises(ValueError, match=r"flat has no 'test' split. An image folder needs train/ and test/ subfolders"):
        load_images(tmp_path / "flat", "test")
    _save_pngs(tmp_path / "one", digits[:1])
    with pytest.raises(ValueError, match="the training split has 1 images: too few for a validation slice"):
        load_images(tmp_path / "one", "train")


def test_split_folders_without_class_folders_load_without_labels(tmp_path, mnist_test):
    digits = mnist_test.images[:24, 0, 2:30, 2:30].numpy()
    _save_pngs(tmp_path / "split/train", digits[:12])
    _save_pngs(tmp_path / "split/test", digits[12:])
    test = load_images(tmp_path / "split", "test")
    assert len(test.images) == 12 and (test.labels == -1).all()  # not the split names taken for classes
    assert {tuple(image.flatten().tolist()) for image in test.images[:, 0, 2:30, 2:30]} == {
        tuple(d.flatten().tolist()) for d in digits[12:]
    }
