"""The tutorial's input pipeline, as the baseline our loop is compared with.

torchvision's MNIST dataset on the same IDX files, per-image `Pad(2)` + `ToTensor()`, a shuffling
`DataLoader` with batch 32, and a default (non-fused) Adam: how the tutorial feeds the same model.
"""

from __future__ import annotations

import gzip
import shutil
import time
from pathlib import Path

import torch
from torch import nn


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
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    seen, start = 0, None
    for step, (images, _) in enumerate(loader):
        loss = model(images).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step == 10:
            start = time.perf_counter()
        elif start is not None:
            seen += len(images)
            if time.perf_counter() - start > seconds:
                break
    return seen / (time.perf_counter() - start)
