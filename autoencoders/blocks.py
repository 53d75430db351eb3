"""The built-in encoders and decoders: linear (the tutorial's simple model), MLP (deep),
convolutional and the conditional MLP (`cvae`: it takes the label too), registered as parts exactly
as a user's part is.

Each is an `nn.Sequential` of plain layers. A decoder mirrors its encoder: its `hidden_dims` are the
encoder's widths, input side first, run in reverse; it returns *logits*, and the model applies the
sigmoid, so the binary cross-entropy is computed from logits (stable and fused).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .checks import check_choice
from .parts import Decoder, Encoder, register

ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
}
NORMALIZATIONS = ("none", "batch")
DEFAULT_MLP = [1000, 500, 250]  # Hinton & Salakhutdinov (2006)
DEFAULT_CONV = [32, 64, 128]
_LAYERS = (nn.Linear, nn.Conv2d)


def mlp_widths(input_dim: int, latent_dim: int, depth: int) -> list[int]:
    """Hidden widths for an MLP encoder of `depth` linear layers, narrowing geometrically.

    The tutorial divides by 3 per layer, which drops below the code size for depth >= 6 or large
    codes; a geometric series from the input size to the code size is monotone for any depth.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    ratio = (latent_dim / input_dim) ** (1 / depth)
    return [max(latent_dim, round(input_dim * ratio**i)) for i in range(1, depth)]


def _check_shape(name: str, shape: list[int]) -> list[int]:
    if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(s, int) and s > 0 for s in shape)):
        raise ValueError(f"{name} must be [channels, height, width] of positive ints, got {shape!r}")
    return shape


def _check_layers(hidden_dims: list[int], activation: str, normalization: str) -> None:
    if not all(isinstance(width, int) and width > 0 for width in hidden_dims):
        raise ValueError(f"hidden_dims must be positive ints, got {hidden_dims}")
    check_choice("activation", activation, ACTIVATIONS)
    check_choice("normalization", normalization, NORMALIZATIONS)


def _check_conv(shape: list[int], hidden_dims: list[int]) -> int:
    """The side of the smallest feature map; the image must halve evenly at every layer."""
    if not hidden_dims:
        raise ValueError("the conv parts need hidden_dims (channels per stride-2 layer)")
    factor = 2 ** len(hidden_dims)
    if shape[1] % factor or shape[2] % factor:
        raise ValueError(
            f"a {shape[1]}x{shape[2]} image must be divisible by 2**{len(hidden_dims)} = {factor} for "
            f"{len(hidden_dims)} stride-2 conv layers: use fewer layers or another image size"
        )
    return shape[1] // factor


def _hidden(layer: nn.Module, width: int, activation: str, normalization: str) -> list[nn.Module]:
    """A hidden layer followed by its normalisation (if any) and activation."""
    norm: list[nn.Module] = []
    if normalization == "batch":
        norm = [nn.BatchNorm2d(width) if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)) else nn.BatchNorm1d(width)]
    return [layer, *norm, ACTIVATIONS[activation]()]


def conv_layers(channels: int, hidden_dims: list[int], activation: str, normalization: str) -> list[nn.Module]:
    """Stride-2 4x4 convolutions of `hidden_dims` channels from `channels`, each halving the image."""
    layers: list[nn.Module] = []
    for width in hidden_dims:
        layers += _hidden(nn.Conv2d(channels, width, 4, stride=2, padding=1), width, activation, normalization)
        channels = width
    return layers


def deconv_layers(widths: list[int], out_channels: int, activation: str, normalization: str) -> list[nn.Module]:
    """`conv_layers` mirrored: stride-2 4x4 transposed convolutions from `widths[0]` channels through
    the others to `out_channels` logits, each doubling the image; the last one has no activation."""
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(widths, widths[1:]):
        layers += _hidden(nn.ConvTranspose2d(fan_in, fan_out, 4, stride=2, padding=1), fan_out, activation, normalization)
    return [*layers, nn.ConvTranspose2d(widths[-1], out_channels, 4, stride=2, padding=1)]


class Layers(nn.Sequential):
    """`nn.Sequential` whose slices are plain `nn.Sequential`s: a part's constructor takes its
    arguments, not a list of layers."""

    def __getitem__(self, index: int | slice) -> nn.Module:
        if isinstance(index, slice):
            return nn.Sequential(*list(self)[index])
        return super().__getitem__(index)


class SequentialEncoder(Encoder, Layers):
    """An encoder that is a sequence of layers: its first linear or conv layer is what the
    Features view shows."""

    def _first_block(self) -> tuple[nn.Module, list[nn.Module]]:
        """(the first layer, the modules up to its output after normalisation and activation)."""
        modules = list(self)
        first = next(i for i, module in enumerate(modules) if isinstance(module, _LAYERS))
        end = first + 1
        while end < len(modules) and not isinstance(modules[end], (*_LAYERS, nn.Flatten)):
            end += 1
        return modules[first], modules[:end]

    def input_filters(self) -> Tensor:
        layer, block = self._first_block()
        weights = layer.weight.detach()[:, : math.prod(self.input_shape)] if isinstance(layer, nn.Linear) else layer.weight.detach()
        for norm in (m for m in block if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine):
            weights = weights * norm.weight.detach().sign().view(-1, *([1] * (weights.ndim - 1)))
        if isinstance(layer, nn.Linear):
            weights = weights.reshape(-1, *self.input_shape)
        return weights

    def first_layer_responses(self, images: Tensor) -> Tensor:
        outputs = self._first_input(images)
        for module in self._first_block()[1]:
            outputs = module(outputs)
        return outputs.flatten(2).mean(dim=2) if outputs.ndim == 4 else outputs

    def _first_input(self, images: Tensor) -> Tensor:
        return images


@register("linear")
class LinearEncoder(SequentialEncoder):
    """One linear layer: the tutorial's simple autoencoder, PCA's nonlinear-free twin."""

    def __init__(self, input_shape: list[int], out_features: int) -> None:
        self.input_shape = _check_shape("input_shape", input_shape)
        super().__init__(nn.Flatten(), nn.Linear(math.prod(input_shape), out_features))


@register("mlp")
class MLPEncoder(SequentialEncoder):
    """Fully connected layers of `hidden_dims` widths, each normalised and activated, then a linear
    layer into the bottleneck's features."""

    def __init__(
        self,
        input_shape: list[int],
        out_features: int,
        hidden_dims: list[int] = DEFAULT_MLP,
        activation: str = "relu",
        normalization: str = "none",
    ) -> None:
        self.input_shape = _check_shape("input_shape", input_shape)
        _check_layers(hidden_dims, activation, normalization)
        widths = [math.prod(input_shape), *hidden_dims]
        layers: list[nn.Module] = [nn.Flatten()]
        for fan_in, fan_out in zip(widths, widths[1:]):
            layers += _hidden(nn.Linear(fan_in, fan_out), fan_out, activation, normalization)
        super().__init__(*layers, nn.Linear(widths[-1], out_features))


@register("conv")
class ConvEncoder(SequentialEncoder):
    """Stride-2 4x4 convolutions of `hidden_dims` channels (each halves the image), then a linear
    layer into the bottleneck's features."""

    first_layer_name = "first-convolution kernels"

    def __init__(
        self,
        input_shape: list[int],
        out_features: int,
        hidden_dims: list[int] = DEFAULT_CONV,
        activation: str = "relu",
        normalization: str = "none",
    ) -> None:
        self.input_shape = _check_shape("input_shape", input_shape)
        _check_layers(hidden_dims, activation, normalization)
        _check_conv(input_shape, hidden_dims)
        factor = 2 ** len(hidden_dims)
        flat = hidden_dims[-1] * (input_shape[1] // factor) * (input_shape[2] // factor)
        super().__init__(*conv_layers(input_shape[0], hidden_dims, activation, normalization), nn.Flatten(), nn.Linear(flat, out_features))


@register("linear")
class LinearDecoder(Decoder, Layers):
    """One linear layer from the code to the image's logits."""

    def __init__(self, latent_dim: int, output_shape: list[int]) -> None:
        _check_shape("output_shape", output_shape)
        super().__init__(nn.Linear(latent_dim, math.prod(output_shape)), nn.Unflatten(1, output_shape))


@register("mlp")
class MLPDecoder(Decoder, Layers):
    """The MLP encoder mirrored: `hidden_dims` as the encoder lists them, run in reverse."""

    def __init__(
        self,
        latent_dim: int,
        output_shape: list[int],
        hidden_dims: list[int] = DEFAULT_MLP,
        activation: str = "relu",
        normalization: str = "none",
    ) -> None:
        _check_shape("output_shape", output_shape)
        _check_layers(hidden_dims, activation, normalization)
        widths = [latent_dim, *hidden_dims[::-1]]
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(widths, widths[1:]):
            layers += _hidden(nn.Linear(fan_in, fan_out), fan_out, activation, normalization)
        super().__init__(*layers, nn.Linear(widths[-1], math.prod(output_shape)), nn.Unflatten(1, output_shape))


@register("conv")
class ConvDecoder(Decoder, Layers):
    """The conv encoder mirrored: a linear layer to the smallest feature map, then stride-2
    transposed convolutions back to the image."""

    def __init__(
        self,
        latent_dim: int,
        output_shape: list[int],
        hidden_dims: list[int] = DEFAULT_CONV,
        activation: str = "relu",
        normalization: str = "none",
    ) -> None:
        _check_shape("output_shape", output_shape)
        _check_layers(hidden_dims, activation, normalization)
        _check_conv(output_shape, hidden_dims)
        widths = hidden_dims[::-1]
        factor = 2 ** len(widths)
        height, width = output_shape[1] // factor, output_shape[2] // factor
        flat = widths[0] * height * width
        layers: list[nn.Module] = [
            *_hidden(nn.Linear(latent_dim, flat), flat, activation, normalization),
            nn.Unflatten(1, (widths[0], height, width)),
        ]
        super().__init__(*layers, *deconv_layers(widths, output_shape[0], activation, normalization))


def check_num_classes(num_classes: int) -> None:
    """A conditional part's number of labels: a positive int (the width of its one-hot input)."""
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")


@register("conditional_mlp")
class ConditionalMLPEncoder(MLPEncoder):
    """The MLP encoder of a conditional model (Sohn et al. 2015): the one-hot label is appended to
    the flattened image, so its first layer takes C x H x W + num_classes inputs."""

    takes_labels = True

    def __init__(
        self,
        input_shape: list[int],
        out_features: int,
        num_classes: int = 10,
        hidden_dims: list[int] = DEFAULT_MLP,
        activation: str = "relu",
        normalization: str = "none",
    ) -> None:
        check_num_classes(num_classes)
        super().__init__(input_shape, out_features, hidden_dims, activation, normalization)
        self.num_classes = num_classes
        first = self[1]
        self[1] = nn.Linear(first.in_features + num_classes, first.out_features)

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        outputs = torch.cat([images.flatten(1), labels.to(images.dtype)], dim=1)
        for module in list(self)[1:]:
            outputs = module(outputs)
        return outputs

    def _first_input(self, images: Tensor) -> Tensor:
        """The Features view has no label: the first layer sees the image with the label's inputs at 0."""
        return torch.cat([images.flatten(1), images.new_zeros(len(images), self.num_classes)], dim=1)


@register("conditional_mlp")
class ConditionalMLPDecoder(MLPDecoder):
    """The MLP decoder of a conditional model: the one-hot label is appended to the code."""

    takes_labels = True

    def __init__(
        self,
        latent_dim: int,
        output_shape: list[int],
        num_classes: int = 10,
        hidden_dims: list[int] = DEFAULT_MLP,
        activation: str = "relu",
        normalization: str = "none",
    ) -> None:
        check_num_classes(num_classes)
        super().__init__(latent_dim + num_classes, output_shape, hidden_dims, activation, normalization)
        self.num_classes = num_classes

    def forward(self, codes: Tensor, labels: Tensor) -> Tensor:
        return super().forward(torch.cat([codes, labels.to(codes.dtype)], dim=1))
