"""The built-in bottlenecks, registered as parts exactly as a user's part is.

- plain: the features are the code.
- sparse: sigmoid activations whose batch-average activation rho_hat is penalised
  (`log`: the tutorial's sum log(1 + rho_hat^2); `l1`: sum rho_hat, the mean absolute activation;
  `kl`: Ng's sum KL(rho || rho_hat_j)).
- variational: mean and log-variance, a reparameterised sample in training, KL to N(0, I).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Independent, Normal

from .checks import check_choice
from .parts import Bottleneck, register

SPARSITY_PENALTIES = ("log", "l1", "kl")
_EPS = 1e-6
ACTIVE_VARIANCE = 0.01


def sparsity_penalty(kind: str, rho_hat: Tensor, target: float = 0.05) -> Tensor:
    """Penalty on the batch-average activations `rho_hat` in (0, 1), summed over code units.

    `rho_hat` is clamped away from 0 and 1 so that `kl` stays finite for saturated units.
    """
    check_choice("sparsity penalty", kind, SPARSITY_PENALTIES)
    if kind == "log":
        return torch.log1p(rho_hat.square()).sum()
    if kind == "l1":
        return rho_hat.abs().sum()
    rho_hat = rho_hat.clamp(_EPS, 1 - _EPS)
    return (target * torch.log(target / rho_hat) + (1 - target) * torch.log((1 - target) / (1 - rho_hat))).sum()


def unit_kl(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)) of each code unit: [B, latent_dim]."""
    return 0.5 * (mean.square() + logvar.exp() - 1 - logvar)


def gaussian_kl(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per sample, summed over code units."""
    return unit_kl(mean, logvar).sum(dim=1)


def active_units(codes: Tensor) -> list[int]:
    """The units of posterior means `codes` [N, latent_dim] whose variance over the N images exceeds
    0.01 (Burda et al. 2016), the most variable first."""
    variances = codes.double().var(dim=0)
    order = variances.argsort(descending=True)
    return [int(u) for u in order if variances[u] > ACTIVE_VARIANCE]


@register("plain")
class PlainBottleneck(Bottleneck):
    """The encoder's features are the code; no loss of its own."""

    def code(self, features: Tensor) -> Tensor:
        return features


@register("sparse")
class SparseBottleneck(Bottleneck):
    """Sigmoid units whose average activation over the batch is pushed towards sparsity."""

    statistic_names = {"mean_activation": "Mean activation of the code's sigmoid units"}

    def __init__(self, latent_dim: int, sparsity_penalty: str = "kl", sparsity_weight: float = 3.0, sparsity_target: float = 0.05) -> None:
        super().__init__(latent_dim)
        check_choice("sparsity penalty", sparsity_penalty, SPARSITY_PENALTIES)
        if not 0.0 < sparsity_target < 1.0:
            raise ValueError(f"sparsity_target must be in (0, 1), got {sparsity_target}")
        self.penalty, self.weight, self.target = sparsity_penalty, float(sparsity_weight), float(sparsity_target)

    @property
    def loss_weights(self) -> dict[str, float]:
        return {"sparsity": self.weight}

    def forward(self, features: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        activations = torch.sigmoid(features)
        return activations, {"sparsity": sparsity_penalty(self.penalty, activations.mean(dim=0), self.target)}

    def code(self, features: Tensor) -> Tensor:
        return torch.sigmoid(features)

    def image_statistics(self, features: Tensor) -> dict[str, Tensor]:
        return {"mean_activation": torch.sigmoid(features).mean(dim=1)}


@register("variational")
class VariationalBottleneck(Bottleneck):
    """The encoder emits 2 x latent_dim features: mean and log-variance of q(z|x)."""

    has_prior = True
    has_posterior = True
    statistic_names = {
        "kl": "KL(q(z|x) || N(0, I)) per image",
        "kl_unit_<u>": "KL of code unit <u> to N(0, 1) per image (nats)",
        "active_units": "Active units: code units whose posterior mean varies over the test set with variance > 0.01 (Burda et al. 2016)",
        "negative_elbo": "Negative ELBO (nats per image, seeded binarisation of the test images)",
        "negative_iwae": "Negative importance-weighted bound, k = 1000 (nats per image, seeded binarisation of the test images)",
    }

    def __init__(self, latent_dim: int, kl_weight: float = 1.0) -> None:
        super().__init__(latent_dim)
        if kl_weight < 0:
            raise ValueError(f"kl_weight must not be negative, got {kl_weight}")
        self.kl_weight = float(kl_weight)

    @property
    def in_features(self) -> int:
        return 2 * self.latent_dim

    @property
    def loss_weights(self) -> dict[str, float]:
        return {"kl": self.kl_weight}

    def forward(self, features: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        mean, logvar = self.moments(features)
        code = mean + torch.randn_like(mean) * (0.5 * logvar).exp() if self.training else mean
        return code, {"kl": gaussian_kl(mean, logvar).mean()}

    def code(self, features: Tensor) -> Tensor:
        return self.moments(features)[0]

    def image_statistics(self, features: Tensor) -> dict[str, Tensor]:
        """Per image: `kl` to the prior and its share `kl_unit_<u>` of each code unit (the KL of a
        diagonal Gaussian is a sum over units), which says what each unit carries."""
        per_unit = unit_kl(*self.moments(features))
        return {"kl": per_unit.sum(dim=1), **{f"kl_unit_{u}": per_unit[:, u] for u in range(self.latent_dim)}}

    def set_statistics(self, codes: Tensor) -> dict[str, float]:
        """`active_units` over the posterior means `codes` of a set of images (Burda et al. 2016: a
        unit is active when Cov_x(E_q[z_u | x]) > 0.01; an inactive one carries nothing about x)."""
        return {"active_units": float(len(active_units(codes)))}

    def sample_prior(self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> Tensor:
        return torch.randn(n, self.latent_dim, generator=generator, device=device)

    def posterior(self, features: Tensor) -> torch.distributions.Distribution:
        mean, logvar = self.moments(features)
        return Independent(Normal(mean, (0.5 * logvar).exp()), 1)

    def prior(self, device: torch.device | str = "cpu") -> torch.distributions.Distribution:
        zeros = torch.zeros(self.latent_dim, device=device)
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    @staticmethod
    def moments(features: Tensor) -> tuple[Tensor, Tensor]:
        mean, logvar = features.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)
