"""Log-likelihood bounds of a model whose bottleneck has a posterior and a prior (the VAE), in nats.

For binary images x and z_1..z_k drawn from the posterior q(z | x), with w_i = p(x | z_i) p(z_i) / q(z_i | x):

    log p(x) >= IWAE_k = E[log (1/k) sum_i w_i] >= ELBO = E[log w_1]      (Burda et al. 2016)

and IWAE_1 is the ELBO. The decoder's sigmoid outputs are Bernoulli means per pixel, so these are
likelihoods only of binary images: `binarize` draws a fixed, seeded binarisation (each pixel on with
probability its intensity), the convention of the literature's MNIST numbers. Pixels in the padding
are left out, so an MNIST model is scored over its 784 pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .bce import bce_with_logits
from .data import as_float
from .metrics import unpad
from .model import AutoEncoder, evaluating

MAX_ROWS = 16384  # decoder rows per pass (samples x images)


def binarize(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """uint8 images with each pixel drawn on (255) with probability its intensity, else off (0)."""
    return torch.bernoulli(as_float(images), generator=generator).mul_(255).to(torch.uint8)


def log_weights(model: AutoEncoder, images: Tensor, samples: int, padding: Sequence[int], labels: Tensor | None = None) -> Tensor:
    """log w_i for `samples` draws from the posterior of each image: [B, samples]. A conditional
    model's weights are those of p(x | label), given the images' `labels`."""
    x = as_float(images)
    one_hot = model.one_hot(labels, len(x))
    features = model.features(x, one_hot)
    posterior = model.bottleneck.posterior(features)
    z = posterior.sample((samples,))  # [k, B, latent_dim]
    log_q = posterior.log_prob(z)
    log_prior = model.bottleneck.prior(z.device).log_prob(z)
    logits = model.logits(z.flatten(0, 1), None if one_hot is None else one_hot.repeat(samples, 1))
    target = unpad(x, padding).repeat(samples, *([1] * (x.ndim - 1)))
    log_px = -bce_with_logits(unpad(logits, padding), target).flatten(1).sum(1)
    return (log_px.view(samples, -1) + log_prior - log_q).T


def likelihood_bounds(
    model: AutoEncoder, images: Tensor, samples: int = 1000, seed: int = 0, labels: Tensor | None = None
) -> dict[str, Tensor]:
    """Per image, in nats: `elbo` (the mean of the `samples` log weights) and `iwae` (the log of
    their mean), on the model's device, in eval mode, with the posterior draws seeded. `images`
    should be binary (`binarize`); a conditional model's bounds are of log p(x | `labels`)."""
    padding = model.config.padding
    device = model.latent_mean.device
    per_pass = max(1, MAX_ROWS // samples)
    elbo, iwae = [], []
    with evaluating(model), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for start in range(0, len(images), per_pass):
            batch_labels = None if labels is None else labels[start : start + per_pass]
            weights = log_weights(model, images[start : start + per_pass].to(device), samples, padding, batch_labels).double()
            elbo.append(weights.mean(dim=1))
            iwae.append(torch.logsumexp(weights, dim=1) - math.log(samples))
    return {"elbo": torch.cat(elbo), "iwae": torch.cat(iwae)}


GUESS_SAMPLES = 16


def label_scores(model: AutoEncoder, images: Tensor, samples: int = GUESS_SAMPLES, seed: int = 0) -> Tensor:
    """A conditional model as a Bayes classifier, with no weights of its own: [B, num_classes] of the
    importance-weighted bound of log p(x | y) for every label y (so `argmax` is the label whose
    digit the model finds likeliest; the prior over labels is uniform). Any float images in [0, 1]."""
    if not model.conditional:
        raise ValueError("label_scores needs a conditional model (one that takes labels, such as cvae)")
    scores = [likelihood_bounds(model, images, samples, seed, torch.full((len(images),), y))["iwae"] for y in range(model.num_classes)]
    return torch.stack(scores, dim=1)
