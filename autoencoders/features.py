"""What the first layer's units look for: their weights drawn as images, and how strongly each
responds to given images (the view of the learned features in Ng's sparse-autoencoder notes).

A unit of the first layer computes a weighted sum of the input pixels, so its weights, laid out like
the input, are the pattern that excites it most: strokes, blobs and edges in a trained model. The
encoder says what its first layer is (`Encoder.input_filters`); one without such a layer says so.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .metrics import unpad
from .model import AutoEncoder, evaluating


class NoFilters(ValueError):
    """The model's encoder has no first layer whose weights can be drawn as images."""


def input_filters(model: AutoEncoder) -> Tensor:
    """The input pattern that excites each first-layer unit, as images [units, C, h, w] in [0, 1]:
    0.5 is a zero weight, each unit scaled by its own largest |weight|. Patterns the size of the
    input are cut to the region inside the model's padding (the padding's weights never see ink, so
    they keep their random start); a convolution gives its kernels."""
    weights = model.encoder.input_filters()
    if weights is None:
        raise NoFilters(f"the {model.config.encoder.name} encoder has no first-layer filters to show")
    return _as_images(model, weights)


def decoder_atoms(model: AutoEncoder) -> Tensor:
    """What each code unit adds to the decoder's logits (a dictionary decoder's atoms), as images
    [latent_dim, C, h, w] in [0, 1] drawn like `input_filters`; NoFilters for other decoders."""
    atoms = model.decoder.atom_images()
    if atoms is None:
        raise NoFilters(f"the {model.config.decoder.name} decoder has no atoms to show")
    return _as_images(model, atoms.detach())


def _as_images(model: AutoEncoder, weights: Tensor) -> Tensor:
    """Weights laid out like images -> [0, 1]: 0.5 is 0, each scaled by its own largest |weight|;
    those the size of the input are cut to the region inside the model's padding."""
    if list(weights.shape[1:]) == model.config.input_shape:
        weights = unpad(weights, model.config.padding)
    scale = weights.flatten(1).abs().amax(dim=1).clamp_min(torch.finfo(weights.dtype).tiny)
    return 0.5 + 0.5 * weights / scale.view(-1, 1, 1, 1)


def unit_responses(model: AutoEncoder, images: Tensor) -> Tensor:
    """[B, units]: each first-layer unit's output for each image (uint8, or floats in [0, 1]), after
    its normalisation and activation, in eval mode; a convolution's averaged over positions."""
    with evaluating(model):
        responses = model.encoder.first_layer_responses(model._prepare(images.to(model.latent_mean.device)))
    if responses is None:
        raise NoFilters(f"the {model.config.encoder.name} encoder has no first-layer units to measure")
    return responses
