"""`AutoEncoder`: encoder + bottleneck + decoder + reconstruction loss, built from a plain config.

It loads and saves like any Hugging Face model (`PyTorchModelHubMixin`): `config.json` holds the
config, `model.safetensors` the weights and the fitted latent statistics. Loading is strict and
safe: only safetensors are read (a pickle is never unpickled), unknown config keys, missing,
unexpected or mis-shaped tensors are errors naming the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin, hf_hub_download
from huggingface_hub.errors import LocalEntryNotFoundError, RemoteEntryNotFoundError
from torch import Tensor, nn

from .blocks import build_decoder, build_encoder, mlp_widths
from .bottlenecks import build_bottleneck
from .config import AutoEncoderConfig, RECON_LOSSES, check_choice
from .noise import random_corruption
from .variants import VARIANTS

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
SAMPLE_SOURCES = ("mixture", "prior")


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


class CheckpointError(ValueError):
    """A saved model that cannot be loaded safely and exactly: the message names the file."""


@dataclass
class AutoEncoderOutput:
    """What a forward pass returns. `penalty` is unweighted (sparsity penalty or KL, 0 for plain);
    `loss = recon_loss + weight * penalty` with the config's sparsity or KL weight. The decoder's
    logits are kept and the sigmoid applied only when `reconstruction` is read, which a training
    step never does."""

    logits: Tensor
    latent: Tensor
    recon_loss: Tensor
    penalty: Tensor
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
        return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / batch
    squared = (torch.sigmoid(logits) - target).square()
    return squared.sum() / batch if kind == "mse" else squared.mean().sqrt()


class AutoEncoder(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="autoencoders",
    license="mit",
    tags=["autoencoder", "mnist"],
):
    """An autoencoder of any preset. Build one with `AutoEncoder.from_variant("deep")`."""

    def __init__(self, config: AutoEncoderConfig | dict[str, Any] | None = None) -> None:
        super().__init__()
        if config is None:
            config = AutoEncoderConfig()
        elif isinstance(config, dict):
            config = AutoEncoderConfig.from_dict(config)
        self.config = config
        self.bottleneck = build_bottleneck(config)
        self.encoder = build_encoder(config, config.latent_dim * self.bottleneck.expansion)
        self.decoder = build_decoder(config)
        dim = config.latent_dim
        self.register_buffer("latent_mean", torch.zeros(dim))
        self.register_buffer("latent_components", torch.eye(dim))
        self.register_buffer("latent_scale", torch.ones(dim))
        self.register_buffer("latent_fitted", torch.zeros((), dtype=torch.bool))
        mixture = config.latent_mixture
        self.register_buffer("mixture_weights", torch.full((mixture,), 1 / mixture))
        self.register_buffer("mixture_means", torch.zeros(mixture, dim))
        self.register_buffer("mixture_scales", torch.eye(dim).repeat(mixture, 1, 1))

    @classmethod
    def from_variant(cls, name: str, **overrides: Any) -> AutoEncoder:
        """A preset from `VARIANTS` with config fields overridden; `depth=N` derives `hidden_dims`
        for an MLP of N encoder layers."""
        check_choice("variant", name, tuple(VARIANTS))
        values = {**VARIANTS[name], "variant": name}
        depth = overrides.pop("depth", None)
        values.update(overrides)
        if depth is not None:
            probe = AutoEncoderConfig.from_dict(values)
            values["hidden_dims"] = mlp_widths(probe.channels * probe.image_size**2, probe.latent_dim, depth)
        return cls(AutoEncoderConfig.from_dict(values))

    @property
    def is_variational(self) -> bool:
        return self.config.bottleneck == "variational"

    @property
    def penalty_weight(self) -> float:
        return {"sparse": self.config.sparsity_weight, "variational": self.config.kl_weight}.get(
            self.config.bottleneck, 0.0
        )

    def _prepare(self, images: Tensor) -> Tensor:
        """Check the shape and turn uint8 pixels into floats in [0, 1]."""
        if images.ndim != 4 or tuple(images.shape[1:]) != self.config.input_shape:
            raise ValueError(
                f"expected images of shape [B, {', '.join(map(str, self.config.input_shape))}], "
                f"got {list(images.shape)} (pad 28x28 digits with autoencoders.data.pad_images)"
            )
        if images.dtype == torch.uint8:
            return images.float().div_(255)
        return images

    def encode(self, images: Tensor) -> Tensor:
        """Images [B, C, H, W] in [0, 1] (or uint8) -> codes [B, latent_dim]; the VAE gives its mean."""
        return self.bottleneck.code(self.encoder(self._prepare(images)))

    def decode(self, codes: Tensor) -> Tensor:
        """Codes [B, latent_dim] -> images [B, C, H, W] in [0, 1]."""
        return torch.sigmoid(self.decoder(codes))

    def reconstruct(self, images: Tensor) -> Tensor:
        """Deterministic reconstruction: decode(encode(images)), no noise, no sampling."""
        return self.decode(self.encode(images))

    def forward(self, images: Tensor, target: Tensor | None = None) -> AutoEncoderOutput:
        """Reconstruct `images` and compute the loss against `target` (default: the images).

        In training mode a model whose config has `noise` corrupts its input first and is scored
        against the clean images: that is what makes it a denoising autoencoder.
        """
        inputs = self._prepare(images)
        target = inputs if target is None else self._prepare(target)
        if self.training and self.config.noise:
            inputs = random_corruption(inputs, self.config.noise)
        code, penalty = self.bottleneck(self.encoder(inputs))
        logits = self.decoder(code)
        recon = reconstruction_loss(self.config.recon_loss, logits, target)
        return AutoEncoderOutput(
            logits=logits,
            latent=code,
            recon_loss=recon,
            penalty=penalty,
            loss=recon + self.penalty_weight * penalty,
        )

    def encode_in_batches(self, images: Tensor, batch_size: int = 2048) -> Tensor:
        """Codes [N, latent_dim] of any number of `images`, on the CPU, in eval mode (the VAE: its means)."""
        device = self.latent_mean.device
        with evaluating(self):
            return torch.cat([self.encode(images[i : i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)])

    @torch.no_grad()
    def fit_latent_stats(self, images: Tensor, batch_size: int = 2048, seed: int = 0) -> AutoEncoder:
        """Fit the distribution of the codes of `images` and store it as buffers: mean and principal
        axes (for `code_from_axes`) and a `latent_mixture`-component Gaussian mixture (for
        `sample`). A plain autoencoder's codes are no N(0, I): decoding random numbers gives noise,
        one Gaussian fitted to the codes gives blurred hybrids, a mixture gives digits."""
        codes = self.encode_in_batches(images, batch_size).double()
        if len(codes) < 2:
            raise ValueError("fit_latent_stats needs at least two images")
        mean = codes.mean(dim=0)
        centred = codes - mean
        variances, axes = torch.linalg.eigh(centred.T @ centred / (len(codes) - 1))
        self.latent_mean.copy_(mean)
        self.latent_components.copy_(axes.flip(1).T)
        self.latent_scale.copy_(variances.flip(0).clamp_min(0).sqrt())
        self._fit_mixture(codes, seed)
        self.latent_fitted.fill_(True)
        return self

    def _fit_mixture(self, codes: Tensor, seed: int) -> None:
        components = self.config.latent_mixture
        if len(codes) < components:
            raise ValueError(f"fitting {components} mixture components needs at least as many images, got {len(codes)}")
        if components == 1:
            weights, means = codes.new_ones(1), codes.mean(dim=0, keepdim=True)
            covariances = torch.cov(codes.T).reshape(1, *self.mixture_scales.shape[1:])
        else:
            from sklearn.mixture import GaussianMixture

            mixture = GaussianMixture(components, covariance_type="full", reg_covar=1e-6, random_state=seed)
            mixture.fit(codes.cpu().numpy())
            weights, means, covariances = (torch.from_numpy(a) for a in (mixture.weights_, mixture.means_, mixture.covariances_))
        jitter = 1e-6 * torch.eye(codes.shape[1], dtype=covariances.dtype, device=covariances.device)
        self.mixture_weights.copy_(weights)
        self.mixture_means.copy_(means)
        self.mixture_scales.copy_(torch.linalg.cholesky(covariances + jitter))

    def code_from_axes(self, coords: Tensor, origin: Tensor | None = None) -> Tensor:
        """Codes from coordinates along the principal axes, in standard deviations ([B, k], k <=
        latent_dim; missing axes are 0), measured from `origin` (default: the centre, i.e. the mean
        of the training codes; VAE: 0). The VAE uses its prior N(0, I), the others the fitted
        distribution of their training codes."""
        dim = self.config.latent_dim
        if coords.ndim != 2 or coords.shape[1] > dim:
            raise ValueError(f"expected coordinates of shape [B, k] with k <= {dim}, got {list(coords.shape)}")
        coords = F.pad(coords.to(self.latent_mean), (0, dim - coords.shape[1]))
        if self.is_variational:
            return coords if origin is None else origin + coords
        self._require_latent_stats()
        origin = self.latent_mean if origin is None else origin
        return origin + (coords * self.latent_scale) @ self.latent_components

    def axes_from_code(self, codes: Tensor) -> Tensor:
        """The inverse of `code_from_axes`: coordinates of `codes` [B, latent_dim] along all principal
        axes, in standard deviations from the centre (so their norm says how typical a code is)."""
        if self.is_variational:
            return codes
        self._require_latent_stats()
        scale = self.latent_scale.clamp_min(1e-6 * float(self.latent_scale.max()))  # dead axes: no division by 0
        return (codes - self.latent_mean) @ self.latent_components.T / scale

    def _require_latent_stats(self) -> None:
        if not bool(self.latent_fitted):
            hint = " (or sample the VAE's prior: sample(n, source='prior'))" if self.is_variational else ""
            raise RuntimeError(f"this model has no latent statistics yet: call fit_latent_stats(train_images) first{hint}")

    def sample(self, n: int, generator: torch.Generator | None = None, *, source: str = "mixture") -> Tensor:
        """`n` new images decoded from codes drawn from the Gaussian mixture fitted to the training
        codes (`source="mixture"`, any model) or from the VAE's prior N(0, I) (`source="prior"`).

        The mixture is the default for the VAE too: its training codes do not fill N(0, I), and the
        prior's draws that land between them decode to blurs (ex-post density estimation, Ghosh et
        al. 2020). On the bundled VAE it gives far more recognisable digits (README: Sampling).
        """
        check_choice("sample source", source, SAMPLE_SOURCES)
        if source == "prior" and not self.is_variational:
            raise ValueError("only a VAE has a prior to sample; this model samples its fitted mixture (source='mixture')")
        noise = torch.randn(n, self.config.latent_dim, generator=generator, device=self.latent_mean.device)
        if source == "prior":
            return self.decode(noise)
        self._require_latent_stats()
        component = torch.multinomial(self.mixture_weights, n, replacement=True, generator=generator)
        codes = self.mixture_means[component] + (self.mixture_scales[component] @ noise.unsqueeze(-1)).squeeze(-1)
        return self.decode(codes)

    def _save_pretrained(self, save_directory: Path) -> None:
        safetensors.torch.save_model(self, str(save_directory / WEIGHTS_NAME))
        (save_directory / CONFIG_NAME).write_text(json.dumps(self.config.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | Path,
        *,
        force_download: bool = False,
        token: str | bool | None = None,
        cache_dir: str | Path | None = None,
        local_files_only: bool = False,
        revision: str | None = None,
        map_location: str | torch.device = "cpu",
    ) -> AutoEncoder:
        """Load from a local folder or a Hub repo id: config.json + model.safetensors, strictly."""
        source = str(pretrained_model_name_or_path)

        if not os.path.isdir(source) and (source.startswith(("/", ".", "~")) or source.count("/") > 1):
            raise FileNotFoundError(f"{source}: no such model folder (and not a Hub repo id)")

        def fetch(filename: str) -> str:
            if os.path.isdir(source):
                path = os.path.join(source, filename)
                if not os.path.isfile(path):
                    raise CheckpointError(_missing_message(source, filename, os.listdir(source)))
                return path
            try:
                return hf_hub_download(
                    repo_id=source,
                    filename=filename,
                    revision=revision,
                    cache_dir=cache_dir,
                    force_download=force_download,
                    token=token,
                    local_files_only=local_files_only,
                )
            except RemoteEntryNotFoundError as err:
                raise CheckpointError(_missing_message(source, filename, [])) from err

        config_path = fetch(CONFIG_NAME)
        model = cls(load_config(config_path))
        try:
            weights_path = fetch(WEIGHTS_NAME)
        except LocalEntryNotFoundError as err:  # a Hub repo whose cached snapshot has no safetensors weights
            present = os.listdir(os.path.dirname(config_path))
            raise CheckpointError(_missing_message(source, WEIGHTS_NAME, present)) from err
        load_weights(model, weights_path, map_location)
        return model.eval()


def load_config(path: str | Path) -> AutoEncoderConfig:
    """Read and validate a config.json; every problem names the file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return AutoEncoderConfig.from_dict(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({err})") from err
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: {err}") from err


def load_weights(model: nn.Module, path: str | Path, map_location: str | torch.device = "cpu") -> None:
    """Load a safetensors file into `model`, exactly: every tensor present, none extra, same shapes."""
    try:
        state = safetensors.torch.load_file(str(path), device=str(map_location))
    except (safetensors.SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k} {list(state[k].shape)} (config expects {list(v.shape)})"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = [
        f"missing tensors {missing}" if missing else "",
        f"unexpected tensors {unexpected}" if unexpected else "",
        f"wrong shapes: {'; '.join(wrong)}" if wrong else "",
    ]
    if any(problems):
        raise CheckpointError(f"{path} does not match its config.json: {', '.join(p for p in problems if p)}")
    model.load_state_dict(state, strict=True)


def _missing_message(source: str, filename: str, present: list[str]) -> str:
    pickles = [name for name in present if name.endswith(PICKLE_SUFFIXES)]
    message = f"{source}: no {filename}"
    if filename == WEIGHTS_NAME:
        message += " (autoencoders loads safetensors weights only and never unpickles a checkpoint"
        message += f"; found the pickle file(s) {pickles} and refused them)" if pickles else ")"
    return message
