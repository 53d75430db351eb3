"""`AutoEncoder`: encoder + bottleneck + decoder + reconstruction loss, the network itself.

The three parts come from the registry (`autoencoders.parts`) by name, or are passed built; the
config records each as its name and arguments. The latent statistics and sampling live in
`autoencoders.latents`, loading and saving in `autoencoders.hub`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import blocks, bottlenecks, topk, vq  # noqa: F401 - registers the built-in parts
from .bce import bce_with_logits
from .blocks import mlp_widths
from .checks import check_choice
from .config import RECON_LOSSES, AutoEncoderConfig, from_settings
from .data import as_float
from .hub import HubMixin
from .latents import LatentStatistics
from .noise import random_corruption
from .parts import PART_BASES, PART_KINDS, Part, build_part
from .variants import VARIANTS


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """`model` in eval mode with autograd off; its previous mode is restored on exit (so evaluation
    in the middle of training leaves it training)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


@dataclass
class AutoEncoderOutput:
    """What a forward pass returns. `terms` are the bottleneck's loss terms, unweighted;
    `loss = recon_loss + sum(weight * term)` with the bottleneck's `loss_weights`. The decoder's
    logits are kept and the sigmoid applied only when `reconstruction` is read, which a training
    step never does."""

    logits: Tensor
    latent: Tensor
    recon_loss: Tensor
    terms: dict[str, Tensor]
    loss: Tensor

    @property
    def reconstruction(self) -> Tensor:
        """Images [B, C, H, W] in [0, 1]."""
        return torch.sigmoid(self.logits)


def reconstruction_loss(kind: str, logits: Tensor, target: Tensor) -> Tensor:
    """`bce` and `mse`: summed over the pixels of an image, averaged over the batch.
    `rmse`: the tutorial's root of the mean squared error over all pixels."""
    check_choice("reconstruction loss", kind, RECON_LOSSES)
    batch = target.shape[0]
    if kind == "bce":
        return bce_with_logits(logits, target).sum() / batch
    squared = (torch.sigmoid(logits) - target).square()
    return squared.sum() / batch if kind == "mse" else squared.mean().sqrt()


class AutoEncoder(nn.Module, LatentStatistics, HubMixin):
    """An autoencoder of registered parts.

        AutoEncoder.from_variant("deep")                                  # a preset
        AutoEncoder(encoder="conv", bottleneck="variational", latent_dim=16, hidden_dims=[32, 64])
        AutoEncoder(encoder=MyEncoder([1, 32, 32], 30), decoder="mlp", latent_dim=30)

    Parts are given by registered name, as `{"name": ..., "args": {...}}`, or built; other keyword
    settings are config fields or arguments of the parts that take them (`autoencoders.config`).
    A new model is in training mode, as every `nn.Module` is; `from_pretrained` returns it in eval mode.
    """

    def __init__(self, config: AutoEncoderConfig | dict[str, Any] | None = None, **settings: Any) -> None:
        super().__init__()
        built, settings = _split_built(settings)
        if config is not None and settings:
            raise ValueError(f"pass either a config or settings, not both (got a config and {sorted(settings)})")
        if isinstance(config, dict):
            config = AutoEncoderConfig.from_dict(config)
        if config is None:
            config = _config_from(settings, built)
        context = {"bottleneck": {"latent_dim": config.latent_dim}}
        self.bottleneck = (
            built["bottleneck"] if "bottleneck" in built else build_part("bottleneck", config.bottleneck, context["bottleneck"])
        )
        context["encoder"] = {"input_shape": config.input_shape, "out_features": self.bottleneck.in_features}
        context["decoder"] = {"latent_dim": self.bottleneck.decoder_features, "output_shape": config.input_shape}
        for kind in ("encoder", "decoder"):
            setattr(self, kind, built[kind] if kind in built else build_part(kind, getattr(config, kind), context[kind]))
        parts: dict[str, Part] = {"encoder": self.encoder, "bottleneck": self.bottleneck, "decoder": self.decoder}
        self.config = AutoEncoderConfig(**{**config.__dict__, **{kind: part.spec for kind, part in parts.items()}})
        for part in parts.values():
            part.connect(parts)
        self._check_labels(parts)
        self.register_latent_buffers(config.latent_dim, config.latent_mixture, max(1, self.num_classes))
        self._check_shapes()

    def _check_labels(self, parts: dict[str, Part]) -> None:
        """The parts that take labels: encoders and decoders only, all of one number of classes."""
        if self.bottleneck.takes_labels:
            raise ValueError(
                f"the {self.config.bottleneck.name} bottleneck declares takes_labels, but only encoders and decoders take labels"
            )
        classes = {part.num_classes for part in parts.values() if part.takes_labels}
        if len(classes) > 1 or min(classes, default=1) < 1:
            raise ValueError(f"the parts that take labels must agree on a positive num_classes, got {sorted(classes)}")

    @property
    def conditional(self) -> bool:
        """Whether the model takes labels: its encoder or decoder does (`cvae`)."""
        return self.encoder.takes_labels or self.decoder.takes_labels

    @property
    def num_classes(self) -> int:
        """How many labels a conditional model knows (0 for a model that takes none)."""
        return max(
            self.encoder.num_classes if self.encoder.takes_labels else 0, self.decoder.num_classes if self.decoder.takes_labels else 0
        )

    @property
    def sample_classes(self) -> int:
        """How many labels `sample(n, labels=...)` can draw (0: none): a conditional model's, or those
        its bottleneck's fitted prior is conditioned on (`vq`). Fitting such a model needs its images' labels."""
        return self.num_classes or self.bottleneck.prior_classes

    def one_hot(self, labels: Tensor | int | list[int] | None, batch: int) -> Tensor | None:
        """The labels a conditional model's parts get, one-hot [batch, num_classes], from ints [batch]
        (or one int for all); None for a model that takes none. A conditional model without labels,
        or an unconditional one with labels, is a ValueError (labels are never silently ignored)."""
        name = self.config.variant if self.config.variant != "custom" else "this"
        if not self.conditional:
            if labels is not None:
                raise ValueError(
                    f"the {name} model is not conditional: it takes no labels (only a model whose encoder or decoder "
                    "takes labels, such as cvae, does); call it without labels"
                )
            return None
        classes = self.num_classes
        if labels is None:
            raise ValueError(f"the {name} model is conditional: pass labels, one int in 0..{classes - 1} per image (or one int for all)")
        return F.one_hot(self.label_indices(labels, batch, classes), classes).to(self.latent_mean.dtype)

    def label_indices(self, labels: Tensor | int | list[int], batch: int, classes: int) -> Tensor:
        """Labels as int64 [batch] on the model's device, from ints [batch] or one int for all; a
        ValueError that says what is wrong when they are not integers in 0..classes - 1."""
        labels = torch.as_tensor(labels, device=self.latent_mean.device)
        if labels.is_floating_point() or labels.dtype == torch.bool or labels.is_complex():
            raise ValueError(f"labels must be integers in 0..{classes - 1}, got a {labels.dtype} tensor")
        if labels.ndim == 0:
            labels = labels.expand(batch)
        if tuple(labels.shape) != (batch,):
            raise ValueError(f"expected {batch} labels (one per image) or one int, got labels of shape {list(labels.shape)}")
        if batch and not (int(labels.min()) >= 0 and int(labels.max()) < classes):
            raise ValueError(f"labels must be in 0..{classes - 1}, got {sorted(set(labels.tolist()))}")
        return labels.long()

    def features(self, images: Tensor, labels: Tensor | None = None) -> Tensor:
        """The encoder's features of float images, given one-hot `labels` when it takes them."""
        return self.encoder(images, labels) if self.encoder.takes_labels else self.encoder(images)

    def logits(self, codes: Tensor, labels: Tensor | None = None) -> Tensor:
        """The decoder's logits of `codes` (through `Bottleneck.decoder_input`: a discrete code's
        codebook vectors), given one-hot `labels` when it takes them."""
        return self.decoder_logits(self.bottleneck.decoder_input(codes), labels)

    def decoder_logits(self, features: Tensor, labels: Tensor | None = None) -> Tensor:
        """The decoder's logits of its input [B, decoder_features], given one-hot `labels` when it takes them."""
        return self.decoder(features, labels) if self.decoder.takes_labels else self.decoder(features)

    def _check_shapes(self) -> None:
        """Run two blank images through the parts once, so that parts that do not fit together fail
        here, naming the part, rather than in the first training step."""
        code_shape, shape = tuple(self.bottleneck.code_shape), self.config.input_shape
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                labels = self.one_hot(0, 2) if self.conditional else None
                features = self.features(torch.zeros(2, *shape), labels)
                expected = self.bottleneck.in_features
                if tuple(features.shape) != (2, expected):
                    raise ValueError(self._mismatch("encoder", f"returns features {list(features.shape)}", f"[B, {expected}]"))
                code = self.bottleneck.code(features)
                if tuple(code.shape) != (2, *code_shape):
                    raise ValueError(
                        self._mismatch("bottleneck", f"returns codes {list(code.shape)}", f"[B, {', '.join(map(str, code_shape))}]")
                    )
                logits = self.logits(code, labels)
                if list(logits.shape[1:]) != shape:
                    raise ValueError(self._mismatch("decoder", f"returns {list(logits.shape)}", f"[B, {', '.join(map(str, shape))}]"))
        finally:
            self.train(was_training)

    def _mismatch(self, kind: str, got: str, expected: str) -> str:
        return f"the {getattr(self.config, kind).name} {kind} {got}, but this model needs {expected} (latent_dim {self.config.latent_dim}, input_shape {self.config.input_shape})"

    @classmethod
    def from_variant(cls, name: str, **overrides: Any) -> AutoEncoder:
        """A preset from `VARIANTS` with settings overridden; `depth=N` derives `hidden_dims` for an
        MLP encoder of N layers. The preset's own settings that the chosen parts do not take are dropped."""
        check_choice("variant", name, tuple(VARIANTS))
        preset = {**VARIANTS[name], "variant": name}
        depth = overrides.pop("depth", None)
        settings = {**preset, **overrides}
        if depth is not None:
            probe = from_settings(settings, droppable=set(preset))
            settings["hidden_dims"] = mlp_widths(
                probe.input_shape[0] * probe.input_shape[1] * probe.input_shape[2], probe.latent_dim, depth
            )
        built, settings = _split_built(settings)
        return cls(_config_from(settings, built, droppable=set(preset) - set(overrides)), **built)

    @torch.no_grad()
    def start_from_data(self, images: Tensor) -> None:
        """Let each part start from training `images` (uint8 or floats in [0, 1]): what the training
        script calls once before a fresh run (`Part.start_from_data`)."""
        inputs = self._prepare(images.to(self.latent_mean.device))
        for part in (self.encoder, self.bottleneck, self.decoder):
            part.start_from_data(inputs)

    @property
    def has_prior(self) -> bool:
        """Whether the bottleneck's codes have a prior to sample from (the VAE's N(0, I), the prior
        fitted over a VQ-VAE's token grids)."""
        return self.bottleneck.has_prior

    @property
    def discrete(self) -> bool:
        """Whether the code is a grid of token indices rather than a vector (a VQ-VAE's): then it has
        no principal axes, no fitted mixture and no straight line between two codes."""
        return self.bottleneck.discrete

    def _prepare(self, images: Tensor) -> Tensor:
        """Check the shape and turn uint8 pixels into floats in [0, 1]."""
        if images.ndim != 4 or list(images.shape[1:]) != self.config.input_shape:
            raise ValueError(
                f"expected images of shape [B, {', '.join(map(str, self.config.input_shape))}], "
                f"got {list(images.shape)} (pad 28x28 digits with autoencoders.data.pad_images)"
            )
        return as_float(images)

    def encode(self, images: Tensor, labels: Tensor | int | list[int] | None = None) -> Tensor:
        """Images [B, C, H, W] in [0, 1] (or uint8) -> codes [B, latent_dim]; the VAE gives its mean, a
        discrete bottleneck its grid of token indices [B, *code_shape]. A conditional model (`cvae`)
        needs the images' `labels` (ints [B], or one int for all)."""
        x = self._prepare(images)
        return self.bottleneck.code(self.features(x, self.one_hot(labels, len(x))))

    def decode(self, codes: Tensor, labels: Tensor | int | list[int] | None = None) -> Tensor:
        """Codes [B, latent_dim] (a discrete bottleneck: token grids [B, *code_shape]) -> images [B, C,
        H, W] in [0, 1]; a conditional model decodes each code as the digit of its label."""
        return self.decode_features(self.bottleneck.decoder_input(codes), labels)

    def decoder_input(self, codes: Tensor) -> Tensor:
        """What the decoder takes for `codes`: the codes themselves, or a discrete code's codebook
        vectors [B, decoder_features] (which, unlike tokens, can be blended)."""
        return self.bottleneck.decoder_input(codes)

    def decode_features(self, features: Tensor, labels: Tensor | int | list[int] | None = None) -> Tensor:
        """The decoder's input [B, decoder_features] (with the `labels` of a conditional model) -> images [B, C, H, W] in [0, 1]."""
        return torch.sigmoid(self.decoder_logits(features, self.one_hot(labels, len(features))))

    def reconstruct(self, images: Tensor, labels: Tensor | int | list[int] | None = None) -> Tensor:
        """Deterministic reconstruction: decode(encode(images)), no noise, no sampling."""
        return self.decode(self.encode(images, labels), labels)

    def image_statistics(self, images: Tensor, labels: Tensor | int | list[int] | None = None) -> dict[str, Tensor]:
        """What the bottleneck reports per image (a VAE: its KL to the prior), in the current mode."""
        x = self._prepare(images)
        return self.bottleneck.image_statistics(self.features(x, self.one_hot(labels, len(x))))

    def encode_in_batches(self, images: Tensor, batch_size: int = 2048, *, labels: Tensor | None = None) -> Tensor:
        """Codes [N, *code_shape] of any number of `images` (with their `labels` for a conditional
        model), on the CPU, in eval mode (the VAE: its means)."""
        device = self.latent_mean.device
        with evaluating(self):
            return torch.cat([
                self.encode(images[i : i + batch_size].to(device), None if labels is None else labels[i : i + batch_size])
                .cpu()
                for i in range(0, len(images), batch_size)
            ])  # fmt: skip

    def forward(self, images: Tensor, labels: Tensor | int | list[int] | None = None, target: Tensor | None = None) -> AutoEncoderOutput:
        """Reconstruct `images` (given their `labels` for a conditional model) and compute the loss
        against `target` (default: the images).

        In training mode a model whose config has `noise` corrupts its input first and is scored
        against the clean images: that is what makes it a denoising autoencoder.
        """
        inputs = self._prepare(images)
        target = inputs if target is None else self._prepare(target)
        one_hot = self.one_hot(labels, len(inputs))
        if self.training and self.config.noise:
            inputs = random_corruption(inputs, self.config.noise)
        features = self.features(inputs, one_hot)
        code, terms = self.bottleneck(features)  # what the decoder takes: a discrete code's quantised vectors
        logits = self.decoder_logits(code, one_hot)
        recon = reconstruction_loss(self.config.recon_loss, logits, target)
        terms = {
            **terms,
            **self.bottleneck.decoded_terms(
                features, code, logits, self.decoder, lambda fit: reconstruction_loss(self.config.recon_loss, fit, target)
            ),
        }
        weights = self.bottleneck.loss_weights
        loss = recon
        for name, term in terms.items():
            loss = loss + weights.get(name, 1.0) * term
        return AutoEncoderOutput(logits=logits, latent=code, recon_loss=recon, terms=terms, loss=loss)


def _split_built(settings: dict[str, Any]) -> tuple[dict[str, Part], dict[str, Any]]:
    """(the parts passed built, checked against their kind; the other settings)."""
    built = {kind: settings[kind] for kind in PART_KINDS if isinstance(settings.get(kind), nn.Module)}
    for kind, part in built.items():
        if not isinstance(part, PART_BASES[kind]):
            raise TypeError(f"{kind} must be an autoencoders.{PART_BASES[kind].__name__}, got {type(part).__name__}")
    return built, {key: value for key, value in settings.items() if key not in built}


def _config_from(settings: dict[str, Any], built: dict[str, Part], droppable: set[str] | frozenset[str] = frozenset()) -> AutoEncoderConfig:
    """The config of `settings` around the `built` parts; a built encoder's input shape is the model's."""
    encoder_args = built["encoder"].spec.args if "encoder" in built else {}
    if "input_shape" in encoder_args and not {"input_shape", "channels", "image_size"} & set(settings):
        settings = {**settings, "input_shape": encoder_args["input_shape"]}
    return from_settings(settings, droppable=droppable, fixed={kind: part.spec for kind, part in built.items()})
