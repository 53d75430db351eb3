"""Pictures of what a code means: latent traversals (beta-VAE) and analogies (conditional models).

- `traversals`: each chosen unit of one image's code swept from -3 to +3 while the others stay fixed
  (Higgins et al. 2017). For a model with a prior N(0, I) these are prior standard deviations; the
  units worth sweeping are the active ones (`bottlenecks.active_units`).
- `analogies`: one image's code decoded as every label (Sohn et al. 2015; Kingma et al. 2014): the
  code keeps the style (slant, stroke), the label chooses the digit.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .bottlenecks import active_units
from .model import AutoEncoder, evaluating

TRAVERSAL_VALUES = tuple(float(v) for v in torch.linspace(-3, 3, 7))


def traversals(
    model: AutoEncoder, code: Tensor, units: list[int], values: tuple[float, ...] = TRAVERSAL_VALUES, label: int | None = None
) -> Tensor:
    """Images [len(units), len(values), C, H, W]: row r decodes `code` ([latent_dim]) with unit
    `units[r]` set to each of `values`, the other units as they are (`label`: a conditional model's)."""
    _require_units(model)
    if not units:
        raise ValueError("no units to traverse (a model with no active units has nothing to show)")
    device = model.latent_mean.device
    grid = code.to(device).repeat(len(units), len(values), 1)
    steps = torch.tensor(values, device=device, dtype=grid.dtype)
    for row, unit in enumerate(units):
        grid[row, :, unit] = steps
    with evaluating(model):
        images = model.decode(grid.flatten(0, 1), label)
    return images.view(len(units), len(values), *images.shape[1:])


def traversal_units(model: AutoEncoder, images: Tensor, labels: Tensor | None = None) -> list[int]:
    """The active units of `images`' codes, the most variable first: the rows of a traversal grid."""
    _require_units(model)
    return active_units(model.encode_in_batches(images, labels=labels if model.conditional else None))


def _require_units(model: AutoEncoder) -> None:
    if model.discrete:
        raise ValueError(f"this model's code ({model.bottleneck.describe_code()}) is not a vector: it has no units to traverse")


def analogies(model: AutoEncoder, images: Tensor, labels: Tensor) -> Tensor:
    """Images [B, num_classes, C, H, W]: the code of each of `images` (given its true `labels`)
    decoded as every label 0..num_classes-1."""
    if not model.conditional:
        raise ValueError("analogies need a conditional model (one that takes labels, such as cvae)")
    classes = model.num_classes
    with evaluating(model):
        codes = model.encode(images.to(model.latent_mean.device), labels)
        decoded = model.decode(codes.repeat_interleave(classes, dim=0), torch.arange(classes).repeat(len(codes)))
    return decoded.view(len(codes), classes, *decoded.shape[1:])
