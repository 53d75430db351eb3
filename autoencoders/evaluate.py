"""Evaluation of a trained autoencoder, shared by the training script, the benchmarks and the tests.

`evaluate` is the full test report a model card shows: reconstruction quality, PCA at the same code
size, a linear probe on the codes, what the bottleneck reports (the VAE's KL, the sparse code's mean
activation, a part's own statistics) and denoising PSNR at three levels of each corruption. Every
image measure scores the region inside the model's `padding`. `score_images` gives the per-image values, so that a multi-process run can gather them
(`accelerator.gather_for_metrics`) before averaging. Everything here is deterministic: the noise for
the denoising measures is drawn on the CPU from a seeded generator, the same on every device.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from .config import CORRUPTIONS
from .data import as_float
from .likelihood import binarize, label_scores, likelihood_bounds
from .metrics import image_errors, linear_probe_accuracy, pca_baseline, psnr, variance_per_image
from .model import AutoEncoder, evaluating
from .noise import corrupt

DENOISING_LEVELS = (0.1, 0.25, 0.5)
LIKELIHOOD_SAMPLES = 1000  # k of the importance-weighted bound in the cards (Burda et al. 2016 report k = 5000)
BATCH_SIZE = 1024


def denoising_key(stage: str, kind: str, level: float) -> str:
    """The metric name of a denoising measure, e.g. `psnr_denoised_masking_0.25`."""
    return f"psnr_{stage}_{kind}_{level:g}"


def _slice(labels: Tensor | None, start: int, size: int) -> Tensor | None:
    return None if labels is None else labels[start : start + size]


def score_images(model: AutoEncoder, images: Tensor, batch_size: int = BATCH_SIZE, labels: Tensor | None = None) -> dict[str, Tensor]:
    """Per image, on the model's device: `squared_error`, `bce`, `psnr` of the deterministic
    reconstruction (no noise, the VAE decodes its mean) and the bottleneck's `image_statistics`
    (a VAE: `kl` to the prior). A conditional model is given the images' `labels`."""
    device, padding = model.latent_mean.device, model.config.padding
    batches = []
    with evaluating(model):
        for start in range(0, len(images), batch_size):
            batch = as_float(images[start : start + batch_size].to(device))
            batch_labels = _slice(labels, start, batch_size)
            scores = image_errors(batch, model.reconstruct(batch, batch_labels), padding)
            scores.update(model.image_statistics(batch, batch_labels))
            batches.append(scores)
    return {name: torch.cat([scores[name] for scores in batches]) for name in batches[0]}


def noisy_batches(images: Tensor, kind: str, level: float, seed: int = 0, batch_size: int = BATCH_SIZE) -> Iterator[tuple[Tensor, Tensor]]:
    """(clean, corrupted) float batches of `images` on the CPU: the seeded noise every denoising
    measure uses, so that any denoiser is scored on exactly the same noisy images."""
    generator = torch.Generator().manual_seed(seed)
    for start in range(0, len(images), batch_size):
        clean = as_float(images[start : start + batch_size].cpu())
        yield clean, corrupt(clean, kind, level, generator)


def denoising_psnr(
    model: AutoEncoder,
    images: Tensor,
    levels: tuple[float, ...] = DENOISING_LEVELS,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
    labels: Tensor | None = None,
) -> dict[str, float]:
    """Mean PSNR against the clean images of the corrupted input (`psnr_noisy_<kind>_<level>`) and of
    the model's reconstruction of it (`psnr_denoised_<kind>_<level>`), for every corruption and level
    (a conditional model is given the images' `labels`)."""
    device, padding = model.latent_mean.device, model.config.padding
    results = {}
    with evaluating(model):
        for kind in CORRUPTIONS:
            for level in levels:
                noisy_psnr, denoised_psnr = [], []
                for index, (clean, noisy) in enumerate(noisy_batches(images, kind, level, seed, batch_size)):
                    noisy_psnr.append(psnr(clean, noisy, padding))
                    denoised = model.reconstruct(noisy.to(device), _slice(labels, index * batch_size, batch_size))
                    denoised_psnr.append(psnr(clean, denoised.cpu(), padding))
                results[denoising_key("noisy", kind, level)] = torch.cat(noisy_psnr).mean().item()
                results[denoising_key("denoised", kind, level)] = torch.cat(denoised_psnr).mean().item()
    return results


def likelihood(
    model: AutoEncoder, images: Tensor, samples: int = LIKELIHOOD_SAMPLES, seed: int = 0, labels: Tensor | None = None
) -> dict[str, float]:
    """`negative_elbo` and `negative_iwae` (upper bounds of -log p(x), a conditional model's of
    -log p(x | label), nats per image) on a seeded binarisation of `images`, the same for every model."""
    binary = binarize(images.cpu(), torch.Generator().manual_seed(seed))
    bounds = likelihood_bounds(model, binary, samples, seed, labels)
    return {"negative_elbo": -bounds["elbo"].mean().item(), "negative_iwae": -bounds["iwae"].mean().item()}


def evaluate(
    model: AutoEncoder,
    train_images: Tensor,
    train_labels: Tensor,
    test_images: Tensor,
    test_labels: Tensor,
    *,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
    likelihood_samples: int = LIKELIHOOD_SAMPLES,
) -> dict[str, float]:
    """The test report of a model card, as metric name -> value.

    `squared_error` (per image, inside the padding), `bce` (per pixel), `psnr`, `fvu` (the fraction of
    the test images' variance left unexplained: squared error over `variance_per_image`); the bottleneck's
    per-image statistics (averaged) and its statistics over the set of test codes; for a model with a
    posterior (the VAE), `negative_elbo` and `negative_iwae` with `likelihood_samples` draws;
    `pca_squared_error`, `pca_bce`, `pca_psnr` for PCA with as many components as the code has
    units, fitted on the training images; `linear_probe_accuracy` of a logistic regression fitted on
    the training codes (when the labels are known and the code is a vector: token indices are
    labels, not coordinates, so a linear probe on them measures nothing); the denoising PSNRs of
    `denoising_psnr`. A conditional model (`cvae`) is given the true labels throughout, and also
    reports `label_guess_accuracy`: how often the label it finds likeliest for a test image
    (`label_scores`) is the true one.
    """
    labelled = bool((train_labels >= 0).all()) and bool((test_labels >= 0).all())
    if model.conditional and not labelled:
        raise ValueError("a conditional model is evaluated with the labels of its images, and some of these are unknown (-1)")
    given_train, given_test = (train_labels, test_labels) if model.conditional else (None, None)
    scores = score_images(model, test_images, batch_size, given_test)
    results = {name: values.mean().item() for name, values in scores.items()}
    results["fvu"] = results["squared_error"] / variance_per_image(test_images.cpu(), model.config.padding)
    test_codes = model.encode_in_batches(test_images, batch_size, labels=given_test)
    results.update(model.bottleneck.set_statistics(test_codes))
    pca = pca_baseline(train_images.cpu(), test_images.cpu(), model.config.latent_dim, model.config.padding)
    results.update({f"pca_{name}": value for name, value in pca.items()})
    if labelled and not model.bottleneck.discrete:
        results["linear_probe_accuracy"] = linear_probe_accuracy(
            model.encode_in_batches(train_images, batch_size, labels=given_train), train_labels, test_codes, test_labels
        )
    if model.bottleneck.has_posterior:
        results.update(likelihood(model, test_images, likelihood_samples, seed, given_test))
    if model.conditional and model.bottleneck.has_posterior:
        guesses = label_scores(model, test_images, seed=seed).argmax(dim=1).cpu()
        results["label_guess_accuracy"] = (guesses == test_labels.cpu()).double().mean().item()
    results.update(denoising_psnr(model, test_images, seed=seed, batch_size=batch_size, labels=given_test))
    return results
