"""The plain-data configuration of an autoencoder: what `config.json` holds.

Every field is JSON-able, so a config round-trips through `save_pretrained` / `from_pretrained`
unchanged. Validation happens here, once, so that a bad name or a wrong type fails with a message
that names the field and the valid choices, whether it came from Python or from a `config.json`.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from .variants import VARIANTS

ARCHITECTURES = ("linear", "mlp", "conv")
ACTIVATIONS = ("relu", "gelu", "silu", "tanh", "leaky_relu", "sigmoid")
NORMALIZATIONS = ("none", "batch")
BOTTLENECKS = ("plain", "sparse", "variational")
SPARSITY_PENALTIES = ("log", "l1", "kl")
RECON_LOSSES = ("bce", "mse", "rmse")
CORRUPTIONS = ("gaussian", "masking", "salt_and_pepper")


def check_choice(kind: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise a ValueError naming the valid choices when `value` is not one of them."""
    if value not in choices:
        raise ValueError(f"unknown {kind} {value!r}; choose one of: {', '.join(choices)}")


@dataclass
class AutoEncoderConfig:
    """Encoder + bottleneck + decoder + reconstruction loss, as plain values.

    `variant` names the preset the config came from (or `custom`). `hidden_dims` are the encoder's
    layer widths (MLP) or channel counts (conv), input side first; the decoder mirrors them.
    `normalization="batch"` puts batch normalisation after every hidden layer (never on the code or
    the output). `noise` maps a corruption to its largest level: when it is set the model corrupts
    its input during training (a denoising autoencoder) and learns the clean target.
    """

    variant: str = "custom"
    channels: int = 1
    image_size: int = 32
    latent_dim: int = 20
    architecture: str = "mlp"
    hidden_dims: list[int] = field(default_factory=list)
    activation: str = "relu"
    normalization: str = "none"
    bottleneck: str = "plain"
    sparsity_penalty: str = "kl"
    sparsity_weight: float = 3.0
    sparsity_target: float = 0.05
    kl_weight: float = 1.0
    recon_loss: str = "bce"
    noise: dict[str, float] = field(default_factory=dict)
    latent_mixture: int = 20

    def __post_init__(self) -> None:
        self.hidden_dims = list(self.hidden_dims)
        self.noise = dict(self.noise)
        _check_types(self)
        check_choice("variant", self.variant, (*VARIANTS, "custom"))
        check_choice("architecture", self.architecture, ARCHITECTURES)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("normalization", self.normalization, NORMALIZATIONS)
        check_choice("bottleneck", self.bottleneck, BOTTLENECKS)
        check_choice("sparsity penalty", self.sparsity_penalty, SPARSITY_PENALTIES)
        check_choice("reconstruction loss", self.recon_loss, RECON_LOSSES)
        for kind, level in self.noise.items():
            check_choice("corruption", kind, CORRUPTIONS)
            if not 0.0 <= level <= 1.0:
                raise ValueError(f"noise level for {kind!r} must be in [0, 1], got {level}")
        for name in ("channels", "image_size", "latent_dim", "latent_mixture"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if any(width < 1 for width in self.hidden_dims):
            raise ValueError(f"hidden_dims must be positive, got {self.hidden_dims}")
        if self.architecture == "linear" and self.hidden_dims:
            raise ValueError("the linear architecture has no hidden layers: leave hidden_dims empty")
        if self.architecture == "conv":
            if not self.hidden_dims:
                raise ValueError("the conv architecture needs hidden_dims (channels per stride-2 layer)")
            if self.image_size % 2 ** len(self.hidden_dims):
                raise ValueError(
                    f"image_size {self.image_size} must be divisible by 2**{len(self.hidden_dims)} "
                    f"for {len(self.hidden_dims)} stride-2 conv layers"
                )
        if not 0.0 < self.sparsity_target < 1.0:
            raise ValueError(f"sparsity_target must be in (0, 1), got {self.sparsity_target}")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AutoEncoderConfig:
        """Build a config from a dict, refusing unknown keys (a silently dropped key is a lost setting)."""
        if not isinstance(data, dict):
            raise ValueError(f"a config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; valid keys: {', '.join(sorted(known))}")
        return cls(**data)


def _check_types(config: AutoEncoderConfig) -> None:
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if not _is_instance(value, hints[f.name]):
            raise ValueError(f"config field {f.name!r} must be {_type_name(hints[f.name])}, got {value!r}")


def _is_instance(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        return isinstance(value, list) and all(_is_instance(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            _is_instance(k, args[0]) and _is_instance(v, args[1]) for k, v in value.items()
        )
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) if typing.get_origin(hint) is None else str(hint)
