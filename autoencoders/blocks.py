"""Encoders and decoders: linear (the tutorial's simple model), MLP (deep) and convolutional.

Each decoder mirrors its encoder and returns *logits*; the model applies the sigmoid, so the
binary cross-entropy can be computed from logits (stable and fused).
"""

from __future__ import annotations

import math

from torch import nn

from .config import AutoEncoderConfig

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
}


def _hidden(layer: nn.Module, width: int, config: AutoEncoderConfig) -> list[nn.Module]:
    """A hidden layer followed by its normalisation (if any) and activation."""
    norm: list[nn.Module] = []
    if config.normalization == "batch":
        norm = [nn.BatchNorm2d(width) if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)) else nn.BatchNorm1d(width)]
    return [layer, *norm, _ACTIVATIONS[config.activation]()]


def mlp_widths(input_dim: int, latent_dim: int, depth: int) -> list[int]:
    """Hidden widths for an MLP encoder of `depth` linear layers, narrowing geometrically.

    The tutorial divides by 3 per layer, which drops below the code size for depth >= 6 or large
    codes; a geometric series from the input size to the code size is monotone for any depth.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    ratio = (latent_dim / input_dim) ** (1 / depth)
    return [max(latent_dim, round(input_dim * ratio**i)) for i in range(1, depth)]


def build_encoder(config: AutoEncoderConfig, out_features: int) -> nn.Sequential:
    """Images [B, C, H, W] -> features [B, out_features] (the bottleneck's input)."""
    if config.architecture == "conv":
        layers: list[nn.Module] = []
        channels = config.channels
        for width in config.hidden_dims:
            layers += _hidden(nn.Conv2d(channels, width, 4, stride=2, padding=1), width, config)
            channels = width
        side = config.image_size // 2 ** len(config.hidden_dims)
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * side * side, out_features))
    widths = [math.prod(config.input_shape), *config.hidden_dims]
    layers = [nn.Flatten()]
    for fan_in, fan_out in zip(widths, widths[1:]):
        layers += _hidden(nn.Linear(fan_in, fan_out), fan_out, config)
    return nn.Sequential(*layers, nn.Linear(widths[-1], out_features))


def build_decoder(config: AutoEncoderConfig) -> nn.Sequential:
    """Codes [B, latent_dim] -> logits [B, C, H, W], mirroring `build_encoder`."""
    if config.architecture == "conv":
        widths = config.hidden_dims[::-1]
        side = config.image_size // 2 ** len(widths)
        layers: list[nn.Module] = [
            *_hidden(nn.Linear(config.latent_dim, widths[0] * side * side), widths[0] * side * side, config),
            nn.Unflatten(1, (widths[0], side, side)),
        ]
        for fan_in, fan_out in zip(widths, widths[1:]):
            layers += _hidden(nn.ConvTranspose2d(fan_in, fan_out, 4, stride=2, padding=1), fan_out, config)
        layers.append(nn.ConvTranspose2d(widths[-1], config.channels, 4, stride=2, padding=1))
        return nn.Sequential(*layers)
    widths = [config.latent_dim, *config.hidden_dims[::-1]]
    layers = []
    for fan_in, fan_out in zip(widths, widths[1:]):
        layers += _hidden(nn.Linear(fan_in, fan_out), fan_out, config)
    layers += [nn.Linear(widths[-1], math.prod(config.input_shape)), nn.Unflatten(1, config.input_shape)]
    return nn.Sequential(*layers)
