"""The distribution of a trained model's codes, and sampling from it.

A plain autoencoder's codes are no N(0, I): decoding random numbers gives noise, one Gaussian fitted
to the codes gives blurred hybrids, a mixture gives digits. So after training the codes of the
training images are fitted once (mean, principal axes, a Gaussian mixture) and saved as buffers
beside the weights. A bottleneck with a prior (the VAE's N(0, I)) can sample that too. A discrete
code (VQ-VAE's grid of tokens) has neither axes nor a mixture: its bottleneck fits a prior over the
token grids instead (`fit_prior`), and `sample` draws from that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from .checks import check_choice

if TYPE_CHECKING:
    from .config import AutoEncoderConfig
    from .parts import Bottleneck

SAMPLE_SOURCES = ("mixture", "prior")


class LatentStatistics:
    """Mixed into `AutoEncoder`: the fitted code distribution as buffers, and what uses it."""

    config: AutoEncoderConfig
    bottleneck: Bottleneck
    latent_mean: Tensor
    latent_components: Tensor
    latent_scale: Tensor
    latent_fitted: Tensor
    mixture_weights: Tensor
    mixture_means: Tensor
    mixture_scales: Tensor
    encode_in_batches: Callable[..., Tensor]
    decode: Callable[..., Tensor]
    one_hot: Callable[..., Tensor | None]
    label_indices: Callable[..., Tensor]
    conditional: bool
    num_classes: int

    def register_latent_buffers(self, dim: int, mixture: int, groups: int = 1) -> None:
        """The buffers (saved with the weights): principal axes and `groups` mixtures of `mixture`
        components each, stored one group after the other (a conditional model: one per label)."""
        self.register_buffer("latent_mean", torch.zeros(dim))
        self.register_buffer("latent_components", torch.eye(dim))
        self.register_buffer("latent_scale", torch.ones(dim))
        self.register_buffer("latent_fitted", torch.zeros((), dtype=torch.bool))
        self.register_buffer("mixture_weights", torch.full((groups * mixture,), 1 / mixture))
        self.register_buffer("mixture_means", torch.zeros(groups * mixture, dim))
        self.register_buffer("mixture_scales", torch.eye(dim).repeat(groups * mixture, 1, 1))

    @torch.no_grad()
    def fit_latent_stats(self, images: Tensor, batch_size: int = 2048, seed: int = 0, *, labels: Tensor | None = None) -> LatentStatistics:
        """Fit the distribution of the codes of `images` (encoded with their `labels` for a conditional
        model) and store it as buffers: mean and principal axes (for `code_from_axes`) and a
        `latent_mixture`-component Gaussian mixture (for `sample`); a conditional model one mixture per
        label, to the codes of that label's images (in a trained cvae the codes still depend on the
        label: a "1"'s slant decoded as a 5 is a poor 5). A discrete bottleneck fits its prior over
        the token grids of `images` instead, given their `labels` when it is class-conditional."""
        prior_classes = self.bottleneck.prior_classes
        codes = self.encode_in_batches(images, batch_size, labels=labels if self.conditional or not prior_classes else None)
        if self.bottleneck.discrete:
            if prior_classes and labels is None:
                raise ValueError(
                    f"this model's prior is class-conditional (prior_classes {prior_classes}): pass the images' labels, "
                    "fit_latent_stats(images, labels=labels)"
                )
            given = None if not prior_classes else self.label_indices(labels, len(codes), prior_classes)
            self.bottleneck.fit_prior(codes.to(self.latent_mean.device), seed, given)
            self.latent_fitted.fill_(True)
            return self
        codes = codes.double()
        if len(codes) < 2:
            raise ValueError("fit_latent_stats needs at least two images")
        mean = codes.mean(dim=0)
        centred = codes - mean
        variances, axes = torch.linalg.eigh(centred.T @ centred / (len(codes) - 1))
        self.latent_mean.copy_(mean)
        self.latent_components.copy_(axes.flip(1).T)
        self.latent_scale.copy_(variances.flip(0).clamp_min(0).sqrt())
        if labels is None:
            groups = {"images": codes}
        else:
            groups = {f"images of label {label}": codes[labels.to(codes.device) == label] for label in range(self.num_classes)}
        fits = [self._fit_mixture(group, seed, name) for name, group in groups.items()]
        for buffer, fitted in zip((self.mixture_weights, self.mixture_means, self.mixture_scales), zip(*fits)):
            buffer.copy_(torch.cat(fitted))
        self.latent_fitted.fill_(True)
        return self

    def _fit_mixture(self, codes: Tensor, seed: int, name: str) -> tuple[Tensor, Tensor, Tensor]:
        """(weights, means, Cholesky factors of the covariances) of a `latent_mixture`-component fit to
        `codes`, the codes of the `name` (for the error when they are too few)."""
        components = self.config.latent_mixture
        if len(codes) < components:
            raise ValueError(f"fitting {components} mixture components needs at least as many {name}, got {len(codes)}")
        if components == 1:
            weights, means = codes.new_ones(1), codes.mean(dim=0, keepdim=True)
            covariances = torch.cov(codes.T).reshape(1, *self.mixture_scales.shape[1:])
        else:
            from sklearn.mixture import GaussianMixture

            mixture = GaussianMixture(components, covariance_type="full", reg_covar=1e-6, random_state=seed)
            mixture.fit(codes.cpu().numpy())
            weights, means, covariances = (torch.from_numpy(a) for a in (mixture.weights_, mixture.means_, mixture.covariances_))
        jitter = 1e-6 * torch.eye(codes.shape[1], dtype=covariances.dtype, device=covariances.device)
        return weights, means, torch.linalg.cholesky(covariances + jitter)

    def code_from_axes(self, coords: Tensor, origin: Tensor | None = None) -> Tensor:
        """Codes from coordinates along the principal axes, in standard deviations ([B, k], k <=
        latent_dim; missing axes are 0), measured from `origin` (default: the centre, i.e. the mean
        of the training codes; a model with a prior: 0). A model with a prior N(0, I) uses its
        units, the others the fitted distribution of their training codes, projected onto the codes
        their bottleneck can produce (`Bottleneck.project`: TopK's k-sparse codes)."""
        self._require_vector_code("principal axes to move along")
        dim = self.config.latent_dim
        if coords.ndim != 2 or coords.shape[1] > dim:
            raise ValueError(f"expected coordinates of shape [B, k] with k <= {dim}, got {list(coords.shape)}")
        coords = F.pad(coords.to(self.latent_mean), (0, dim - coords.shape[1]))
        if self.bottleneck.has_prior:
            return coords if origin is None else origin + coords
        self._require_latent_stats()
        origin = self.latent_mean if origin is None else origin
        return self.bottleneck.project(origin + (coords * self.latent_scale) @ self.latent_components)

    def axes_from_code(self, codes: Tensor) -> Tensor:
        """The inverse of `code_from_axes`: coordinates of `codes` [B, latent_dim] along all principal
        axes, in standard deviations from the centre (so their norm says how typical a code is)."""
        self._require_vector_code("principal axes to measure along")
        if self.bottleneck.has_prior:
            return codes
        self._require_latent_stats()
        scale = self.latent_scale.clamp_min(1e-6 * float(self.latent_scale.max()))  # dead axes: no division by 0
        return (codes - self.latent_mean) @ self.latent_components.T / scale

    def _require_vector_code(self, what: str) -> None:
        if self.bottleneck.discrete:
            raise ValueError(
                f"this model's code ({self.bottleneck.describe_code()}) is not a vector: it has no {what}. "
                "Sample its prior with sample(n), or edit the tokens and decode them"
            )

    def _require_latent_stats(self) -> None:
        if not bool(self.latent_fitted):
            hint = " (or sample its prior: sample(n, source='prior'))" if self.bottleneck.has_prior else ""
            raise RuntimeError(f"this model has no latent statistics yet: call fit_latent_stats(train_images) first{hint}")

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        *,
        source: str | None = None,
        labels: Tensor | int | list[int] | None = None,
        temperature: float = 1.0,
    ) -> Tensor:
        """`n` new images decoded from codes drawn from the Gaussian mixture fitted to the training
        codes (`source="mixture"`, the default of a model with a vector code; a conditional model: the
        mixture of each sample's label) or from the
        bottleneck's prior (`source="prior"`; the default of a discrete code, whose prior is fitted).
        A conditional model (`cvae`) draws the digits of `labels` (one int per image, or one for all),
        and so does a class-conditional prior (the `vq` preset's), which without them draws each
        sample's label from the training labels' frequencies. `temperature` scales the spread of the draws around the prior's or each component's mean
        (below 1: typical, sharper images with less variety, as Glow's and BigGAN's samples are drawn);
        a discrete code's tokens have no mean to spread around: its bottleneck's `prior_temperature` sharpens them.

        The mixture is the default for the VAE too: its training codes do not fill N(0, I), and the
        prior's draws that land between them decode to blurs (ex-post density estimation, Ghosh et
        al. 2020). On the bundled VAE it gives far more recognisable digits (README: Sampling).
        """
        if source is None:
            source = "prior" if self.bottleneck.discrete else "mixture"
        check_choice("sample source", source, SAMPLE_SOURCES)
        if source == "mixture" and self.bottleneck.discrete:
            raise ValueError(f"this model's code ({self.bottleneck.describe_code()}) has no mixture; sample its prior (source='prior')")
        if not 0.0 <= temperature < float("inf"):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
        if self.bottleneck.discrete and temperature != 1.0:
            raise ValueError(
                f"this model's code ({self.bottleneck.describe_code()}) is tokens, not a point to spread around: "
                "sample it at temperature 1 and set its bottleneck's prior_temperature instead"
            )
        if source == "prior" and not self.bottleneck.has_prior:
            raise ValueError(
                "only a model whose bottleneck has a prior (the VAE) can sample it; this model samples its fitted mixture (source='mixture')"
            )
        if self.conditional and labels is None:
            raise ValueError("this model is conditional: pass labels, the digit of each sample (sample(n, labels=7) for n sevens)")
        device = self.latent_mean.device
        if source == "prior" and self.bottleneck.prior_classes:  # the prior draws the labels' codes; the decoder takes none
            given = None if labels is None else self.label_indices(labels, n, self.bottleneck.prior_classes)
            return self.decode(self.bottleneck.sample_prior(n, generator, device, given))
        if source == "prior":
            codes = self.bottleneck.sample_prior(n, generator, device)
            codes = codes if self.bottleneck.discrete else temperature * codes
            return self.decode(codes) if labels is None else self.decode(codes, labels)
        noise = temperature * torch.randn(n, self.config.latent_dim, generator=generator, device=device)
        self._require_latent_stats()
        components = self.config.latent_mixture
        weights = self.mixture_weights.view(-1, components)
        if self.conditional:  # each sample from its label's mixture
            group = self.one_hot(labels, n).argmax(dim=1).to(device)
            component = group * components + torch.multinomial(weights[group], 1, generator=generator).squeeze(1)
        else:
            component = torch.multinomial(weights[0], n, replacement=True, generator=generator)
        codes = self.mixture_means[component] + (self.mixture_scales[component] @ noise.unsqueeze(-1)).squeeze(-1)
        codes = self.bottleneck.project(codes)
        return self.decode(codes) if labels is None else self.decode(codes, labels)
