"""A small independent MNIST classifier, trained in the benchmark, that judges generated samples.

A sample "looks like a digit" when the classifier names a class with confidence > 0.9; how evenly
the ten classes appear (normalised entropy of the predicted labels, 1.0 = perfectly even) tells
whether a model generates all digits or collapses onto a few.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from autoencoders.data import as_float


def build_classifier() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 8 * 8, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def train_classifier(images: Tensor, labels: Tensor, epochs: int = 2, batch_size: int = 128, seed: int = 0) -> nn.Sequential:
    """Train on uint8 images [N, 1, 32, 32]; about 99% test accuracy after two epochs."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = build_classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images) - batch_size + 1, batch_size):
            batch = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(model(as_float(images[batch])), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, images: Tensor) -> tuple[Tensor, Tensor]:
    """(confidence, label) per image; float images in [0, 1] or uint8."""
    images = as_float(images)
    probabilities = torch.cat([model(images[i : i + 2048]).softmax(dim=1) for i in range(0, len(images), 2048)])
    return probabilities.max(dim=1)


def sample_quality(model: nn.Module, samples: Tensor, threshold: float = 0.9) -> dict[str, float]:
    """Share of confidently recognised samples and how evenly the ten digits appear among them."""
    confidence, label = predict(model, samples)
    counts = torch.bincount(label[confidence > threshold], minlength=10).double()
    shares = counts / counts.sum().clamp_min(1)
    entropy = -(shares[shares > 0] * shares[shares > 0].log()).sum().item()
    return {
        "confident_fraction": (confidence > threshold).double().mean().item(),
        "class_evenness": entropy / math.log(10),
        "rarest_class_share": shares.min().item(),
        "commonest_class_share": shares.max().item(),
    }
