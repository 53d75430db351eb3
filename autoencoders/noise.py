"""Corruptions for denoising autoencoders, applied on the tensor's own device.

- gaussian: add N(0, level^2) noise, clip to [0, 1];
- masking: set a fraction `level` of the pixels to 0 (Vincent et al. 2008);
- salt_and_pepper: set a fraction `level` of the pixels to 0 or 1 with equal odds.

`level` is a float or a tensor that broadcasts against the images (one level per image).
Pass a `torch.Generator` on the same device for reproducible noise.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .checks import check_choice
from .config import CORRUPTIONS


def corrupt(images: Tensor, kind: str, level: float | Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Return a corrupted copy of float `images` in [0, 1]."""
    check_choice("corruption", kind, CORRUPTIONS)
    if kind == "gaussian":
        noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
        return (images + level * noise).clamp(0.0, 1.0)
    hit = torch.rand(images.shape, generator=generator, device=images.device) < level
    if kind == "masking":
        return images.masked_fill(hit, 0.0)
    salt = torch.rand(images.shape, generator=generator, device=images.device) < 0.5
    return torch.where(hit, salt.to(images.dtype), images)


def random_corruption(images: Tensor, noise: dict[str, float], generator: torch.Generator | None = None) -> Tensor:
    """Corrupt each image with a corruption drawn from `noise` (kind -> largest level) at a level drawn
    uniformly in [0, largest], so one model learns every kind and strength. Every kind gets an equal,
    randomly chosen share of the batch, so a batch always looks alike to batch normalisation, in
    training as in evaluation. Noise is drawn only for the images that get each kind, and the shares
    have fixed sizes, so nothing waits on the device."""
    count = images.shape[0]
    order = torch.randperm(count, generator=generator, device=images.device)
    result = torch.empty_like(images)
    for index, (kind, largest) in enumerate(noise.items()):
        rows = order[index * count // len(noise) : (index + 1) * count // len(noise)]
        level_shape = (len(rows),) + (1,) * (images.ndim - 1)
        level = torch.rand(level_shape, generator=generator, device=images.device, dtype=images.dtype) * largest
        result[rows] = corrupt(images[rows], kind, level, generator)
    return result
