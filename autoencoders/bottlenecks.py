"""Bottlenecks: what happens to the encoder's features before they become the code.

- plain: the features are the code.
- sparse: sigmoid activations whose batch-average activation rho_hat is penalised
  (`log`: the tutorial's sum log(1 + rho_hat^2); `l1`: sum rho_hat, the mean absolute activation;
  `kl`: Ng's sum KL(rho || rho_hat_j)).
- variational: mean and log-variance, a reparameterised sample in training, KL to N(0, I).

Each returns `(code, penalty)` where `penalty` is the unweighted term the model adds to the loss.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import AutoEncoderConfig, SPARSITY_PENALTIES, check_choice

_EPS = 1e-6


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
    return (
        target * torch.log(target / rho_hat) + (1 - target) * torch.log((1 - target) / (1 - rho_hat))
    ).sum()


def gaussian_kl(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per sample, summed over code units."""
    return 0.5 * (mean.square() + logvar.exp() - 1 - logvar).sum(dim=1)


class PlainBottleneck(nn.Module):
    expansion = 1

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        return features, features.new_zeros(())

    def code(self, features: Tensor) -> Tensor:
        return features


class SparseBottleneck(nn.Module):
    expansion = 1

    def __init__(self, penalty: str, target: float) -> None:
        super().__init__()
        self.penalty, self.target = penalty, target

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        activations = torch.sigmoid(features)
        return activations, sparsity_penalty(self.penalty, activations.mean(dim=0), self.target)

    def code(self, features: Tensor) -> Tensor:
        return torch.sigmoid(features)


class VariationalBottleneck(nn.Module):
    """The encoder emits 2 x latent_dim features: mean and log-variance."""

    expansion = 2

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        mean, logvar = self.moments(features)
        code = mean + torch.randn_like(mean) * (0.5 * logvar).exp() if self.training else mean
        return code, gaussian_kl(mean, logvar).mean()

    def code(self, features: Tensor) -> Tensor:
        return self.moments(features)[0]

    @staticmethod
    def moments(features: Tensor) -> tuple[Tensor, Tensor]:
        mean, logvar = features.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)


def build_bottleneck(config: AutoEncoderConfig) -> nn.Module:
    if config.bottleneck == "sparse":
        return SparseBottleneck(config.sparsity_penalty, config.sparsity_target)
    if config.bottleneck == "variational":
        return VariationalBottleneck()
    return PlainBottleneck()
