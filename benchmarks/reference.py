"""The baselines our loop is compared with.

- reference: the tutorial's input pipeline — torchvision's MNIST dataset on the same IDX files,
  per-image `Pad(2)` + `ToTensor()`, a shuffling `DataLoader` with batch 32, and a default (non-fused)
  Adam: how the tutorial feeds the same model;
- plain: the simplest fast loop anyone would write — the float training split in memory, a shuffled
  copy per epoch cut into slices of our batch size, default Adam — the issue's "plain slicing loop";
- pythae: pythae 0.1.2's `AE` trained by its `BaseTrainer` (its `BaseDataset` through a DataLoader,
  Adam, its squared-error loss) on our model's own encoder and decoder, at our batch size: what a
  user of the best-known autoencoder library gets (`pip install -r benchmarks/requirements.txt`).
"""

from __future__ import annotations

import gzip
import itertools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from autoencoders.data import as_float
from benchmarks.meter import Throughput


def torchvision_root(idx_folder: Path, root: Path) -> Path:
    """Lay the gzipped IDX files out as torchvision's MNIST expects them (root/MNIST/raw, unzipped)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for source in idx_folder.glob("*-ubyte.gz"):
        target = raw / source.name.removesuffix(".gz")
        if not target.exists():
            with gzip.open(source) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return root


def reference_samples_per_s(model: nn.Module, root: Path, seconds: float = 10.0, batch_size: int = 32) -> float:
    """Train `model` through the tutorial-style pipeline for about `seconds`; return samples/s."""
    from torchvision import transforms
    from torchvision.datasets import MNIST

    dataset = MNIST(root, train=True, download=False, transform=transforms.Compose([transforms.Pad(2), transforms.ToTensor()]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0)
    return adam_samples_per_s(model, (batch for _ in itertools.count() for batch in loader), seconds)


def plain_samples_per_s(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int, seconds: float = 10.0) -> float:
    """Train `model` on slices of a shuffled float copy of `images` (uint8) and their `labels` for
    about `seconds`; return samples/s."""
    images = as_float(images)

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            order = torch.randperm(len(images))
            shuffled, shuffled_labels = images[order], labels[order]
            for first in range(0, len(shuffled) - batch_size + 1, batch_size):
                yield shuffled[first : first + batch_size], shuffled_labels[first : first + batch_size]

    return adam_samples_per_s(model, batches(), seconds)


def pythae_samples_per_s(model: nn.Module, images: torch.Tensor, batch_size: int, seconds: float = 10.0) -> float:
    """Train `model`'s encoder and decoder (a deterministic autoencoder) as a pythae `AE` with its
    `BaseTrainer` for about `seconds`; the median samples/s over half-second windows, counted by a
    pythae training callback after every step."""
    from pythae.data.datasets import BaseDataset
    from pythae.models import AE, AEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    class Encoder(BaseEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> ModelOutput:
            return ModelOutput(embedding=self.model.encode(x))

    class Decoder(BaseDecoder):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, z: torch.Tensor) -> ModelOutput:
            return ModelOutput(reconstruction=self.model.decode(z))

    class Stop(Exception):
        pass

    class Meter(TrainingCallback):
        def __init__(self) -> None:
            self.meter = Throughput(seconds)

        def on_train_step_end(self, training_config: BaseTrainerConfig, **kwargs: object) -> None:
            if self.meter.tick(batch_size):
                raise Stop

    images = as_float(images)
    ae = AE(AEConfig(input_dim=tuple(images.shape[1:]), latent_dim=model.config.latent_dim), encoder=Encoder(), decoder=Decoder())
    with tempfile.TemporaryDirectory() as output_dir:
        config = BaseTrainerConfig(
            output_dir=output_dir, per_device_train_batch_size=batch_size, num_epochs=1000, learning_rate=1e-3, no_cuda=True
        )
        meter = Meter()
        dataset = BaseDataset(images, torch.zeros(len(images)))
        trainer = BaseTrainer(ae, train_dataset=dataset, training_config=config, callbacks=[meter])
        try:
            trainer.train()
        except Stop:
            return meter.meter.samples_per_s
    raise RuntimeError("unreachable: 1000 epochs in the time budget")


def adam_samples_per_s(model: nn.Module, batches: Iterator[tuple[torch.Tensor, torch.Tensor]], seconds: float) -> float:
    """Train `model` with a default Adam on (images, labels) `batches` (endless; the labels go to a
    conditional model only) for about `seconds`; the median samples/s over half-second windows."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    meter = Throughput(seconds)
    for images, labels in batches:
        loss = (model(images, labels) if model.conditional else model(images)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if meter.tick(len(images)):
            break
    return meter.samples_per_s
