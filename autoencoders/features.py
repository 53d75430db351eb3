"""What the first layer's units look for: their weights drawn as images, and how strongly each
responds to given images (the view of the learned features in Ng's sparse-autoencoder notes).

A unit of the first layer computes a weighted sum of the input pixels, so its weights, laid out like
the input, are the pattern that excites it most: strokes, blobs and edges in a trained model.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .metrics import CROP, center_crop
from .model import AutoEncoder, evaluating

_LAYERS = (nn.Linear, nn.Conv2d)


def _first_block(model: AutoEncoder) -> tuple[nn.Module, list[nn.Module]]:
    """(the encoder's first layer, the encoder's modules up to that layer's output after its
    normalisation and activation)."""
    modules = list(model.encoder)
    first = next(i for i, module in enumerate(modules) if isinstance(module, _LAYERS))
    end = first + 1
    while end < len(modules) and not isinstance(modules[end], (*_LAYERS, nn.Flatten)):
        end += 1
    return modules[first], modules[:end]


def input_filters(model: AutoEncoder) -> Tensor:
    """The input pattern that excites each first-layer unit, as images [units, C, h, w] in [0, 1]:
    0.5 is a zero weight, each unit scaled by its own largest |weight|. That is the layer's weights,
    sign-flipped for units whose batch normalisation has a negative scale (they respond to the
    opposite pattern). A linear layer's rows are shaped like the input and cropped to the 28x28 where
    MNIST's digits live (the padding's weights never see ink, so they keep their random start); a
    convolution gives its kernels."""
    layer, block = _first_block(model)
    weights = layer.weight.detach()
    for norm in (m for m in block if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine):
        weights = weights * norm.weight.detach().sign().view(-1, *([1] * (weights.ndim - 1)))
    if isinstance(layer, nn.Linear):
        weights = center_crop(weights.reshape(-1, *model.config.input_shape), min(CROP, model.config.image_size))
    scale = weights.flatten(1).abs().amax(dim=1).clamp_min(torch.finfo(weights.dtype).tiny)
    return 0.5 + 0.5 * weights / scale.view(-1, 1, 1, 1)


def unit_responses(model: AutoEncoder, images: Tensor) -> Tensor:
    """[B, units]: each first-layer unit's output for each image (uint8, or floats in [0, 1]), after
    its normalisation and activation, in eval mode; a convolution's averaged over positions."""
    _, block = _first_block(model)
    with evaluating(model):
        outputs = model._prepare(images.to(model.latent_mean.device))
        for module in block:
            outputs = module(outputs)
    return outputs.flatten(2).mean(dim=2) if outputs.ndim == 4 else outputs
