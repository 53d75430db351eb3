"""The plain-data configuration of an autoencoder: what `config.json` holds.

A config names its three parts (registered name + constructor arguments, `autoencoders.parts`) and
holds what belongs to the whole model: the input shape, the code size, the reconstruction loss, the
denoising noise, the padding around the images it was trained on, and the size of the mixture
fitted to its codes. Every field is JSON-able, so a config round-trips through `save_pretrained` /
`from_pretrained` unchanged, and validation happens here, once, whether it came from Python or
from a `config.json`.

Settings (what `from_variant` overrides and a training config's `model:` holds) are flat: a key that
is a config field sets it, `channels` / `image_size` set the input shape, `encoder` / `bottleneck` /
`decoder` choose a part, and any other key goes to every chosen part whose constructor takes it
(`hidden_dims` to the encoder and its mirrored decoder, `sparsity_weight` to the sparse
bottleneck). A key that no part takes is an error.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from .checks import check_choice
from .parts import CONTEXT, PART_KINDS, PartSpec, parameters_of, part_class, registered
from .variants import VARIANTS

RECON_LOSSES = ("bce", "mse", "rmse")
CORRUPTIONS = ("gaussian", "masking", "salt_and_pepper")
DEFAULT_PARTS = {"encoder": "mlp", "bottleneck": "plain", "decoder": "mlp"}
SHAPE_SHORTCUTS = ("channels", "image_size")
# The flat config.json of autoencoders 0.1 (before the open core): upgraded on load.
LEGACY_KEYS = frozenset({
    "variant", "channels", "image_size", "latent_dim", "architecture", "hidden_dims", "activation", "normalization",
    "bottleneck", "sparsity_penalty", "sparsity_weight", "sparsity_target", "kl_weight", "recon_loss", "noise",
    "latent_mixture",
})  # fmt: skip
LEGACY_CROP = 28  # 0.1 scored the central 28x28, where MNIST's digits live


@dataclass
class AutoEncoderConfig:
    """Encoder + bottleneck + decoder + reconstruction loss, as plain values.

    `variant` names the preset the config came from (or `custom`). `noise` maps a corruption to its
    largest level: when it is set the model corrupts its input during training (a denoising
    autoencoder) and learns the clean target. `padding` is [top, bottom, left, right]: the rows and
    columns around the images that the data loader added (2 on each side for MNIST's 28x28 in 32x32),
    which the metrics leave out.
    """

    encoder: PartSpec = field(default_factory=lambda: PartSpec(DEFAULT_PARTS["encoder"]))
    bottleneck: PartSpec = field(default_factory=lambda: PartSpec(DEFAULT_PARTS["bottleneck"]))
    decoder: PartSpec = field(default_factory=lambda: PartSpec(DEFAULT_PARTS["decoder"]))
    input_shape: list[int] = field(default_factory=lambda: [1, 32, 32])
    latent_dim: int = 20
    recon_loss: str = "bce"
    noise: dict[str, float] = field(default_factory=dict)
    padding: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    latent_mixture: int = 20
    variant: str = "custom"

    def __post_init__(self) -> None:
        for kind in PART_KINDS:
            setattr(self, kind, PartSpec.from_value(kind, getattr(self, kind)))
        self.input_shape, self.padding, self.noise = list(self.input_shape), list(self.padding), dict(self.noise)
        _check_types(self)
        check_choice("variant", self.variant, (*VARIANTS, "custom"))
        check_choice("reconstruction loss", self.recon_loss, RECON_LOSSES)
        for kind, level in self.noise.items():
            check_choice("corruption", kind, CORRUPTIONS)
            if not 0.0 <= level <= 1.0:
                raise ValueError(f"noise level for {kind!r} must be in [0, 1], got {level}")
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ValueError(f"input_shape must be [channels, height, width] of positive ints, got {self.input_shape}")
        for name in ("latent_dim", "latent_mixture"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        top, bottom, left, right = self.padding if len(self.padding) == 4 else (-1,) * 4
        height, width = self.input_shape[1:]
        if min(self.padding, default=-1) < 0 or top + bottom >= height or left + right >= width:
            raise ValueError(f"padding must be [top, bottom, left, right] inside the {height}x{width} image, got {self.padding}")

    @property
    def channels(self) -> int:
        return self.input_shape[0]

    @property
    def content_shape(self) -> list[int]:
        """[C, H, W] of the images inside the padding: the region the metrics score."""
        top, bottom, left, right = self.padding
        return [self.input_shape[0], self.input_shape[1] - top - bottom, self.input_shape[2] - left - right]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AutoEncoderConfig:
        """A config from its `config.json` form, refusing unknown keys (a silently dropped key is a
        lost setting). The flat config of autoencoders 0.1 is upgraded (`upgrade_legacy`)."""
        if not isinstance(data, dict):
            raise ValueError(f"a config must be a JSON object, got {type(data).__name__}")
        if is_legacy(data):
            return from_settings(upgrade_legacy(data), droppable=LEGACY_KEYS)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; valid keys: {', '.join(sorted(known))}")
        return cls(**data)


def is_legacy(data: dict[str, Any]) -> bool:
    """A flat config.json of autoencoders 0.1: no part specs, only its own keys."""
    return not any(isinstance(data.get(kind), dict) for kind in PART_KINDS) and "architecture" in data and set(data) <= LEGACY_KEYS


def upgrade_legacy(data: dict[str, Any]) -> dict[str, Any]:
    """The settings that rebuild a 0.1 flat config: its `architecture` names both the encoder and
    the decoder, and the metrics keep scoring the central 28x28 as 0.1 did."""
    settings = dict(data)
    architecture = settings.pop("architecture")
    size = settings.get("image_size", 32)
    margin = max(0, size - LEGACY_CROP)
    settings.update(encoder=architecture, decoder=architecture, padding=[margin // 2, margin - margin // 2] * 2)
    return settings


def from_settings(
    settings: dict[str, Any], *, droppable: frozenset[str] | set[str] = frozenset(), fixed: dict[str, PartSpec] | None = None
) -> AutoEncoderConfig:
    """A config from flat settings (see the module's docstring). Keys in `droppable` that no part
    takes are dropped instead of refused (a preset's settings for parts the user replaced); `fixed`
    holds the specs of parts that are already built, which take no settings."""
    fixed = fixed or {}
    values = dict(settings)
    specs: dict[str, PartSpec] = {}
    for kind in PART_KINDS:
        if kind in fixed:
            specs[kind] = fixed[kind]
            values.pop(kind, None)
            continue
        default = DEFAULT_PARTS[kind]
        if kind == "decoder" and specs["encoder"].name in registered("decoder"):
            default = specs["encoder"].name  # the built-ins come in mirrored pairs of one name
        specs[kind] = PartSpec.from_value(kind, values.pop(kind, default))
    fields = {f.name for f in dataclasses.fields(AutoEncoderConfig)}
    config = {key: values.pop(key) for key in list(values) if key in fields}
    shape = list(config.get("input_shape", [1, 32, 32]))
    if "channels" in values:
        shape[0] = values.pop("channels")
    if "image_size" in values:
        shape[1:] = [values.pop("image_size")] * 2
    config["input_shape"] = shape
    takes = {
        kind: set(parameters_of(part_class(kind, spec.name))) - set(CONTEXT[kind]) for kind, spec in specs.items() if kind not in fixed
    }
    unknown = []
    for key, value in values.items():
        takers = [kind for kind, accepted in takes.items() if key in accepted]
        if not takers and key not in droppable:
            unknown.append(key)
        for kind in takers:
            specs[kind].args[key] = value
    if unknown:
        arguments = ", ".join(sorted(set().union(*takes.values()))) or "none"
        raise ValueError(
            f"unknown config keys {sorted(unknown)}: not a config field ({', '.join(sorted(fields | set(SHAPE_SHORTCUTS)))}) "
            f"nor an argument of the {specs['encoder'].name} encoder, {specs['bottleneck'].name} bottleneck or "
            f"{specs['decoder'].name} decoder ({arguments})"
        )
    return AutoEncoderConfig(**specs, **config)


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
        return isinstance(value, dict) and all(_is_instance(k, args[0]) and _is_instance(v, args[1]) for k, v in value.items())
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) if typing.get_origin(hint) is None else str(hint)
