"""The log-likelihood bounds: the importance-weighted bound is at least the ELBO, is the ELBO at
k = 1 in expectation, and on a model small enough to integrate exactly both stay below log p(x)."""

import itertools
import math

import pytest
import torch
from conftest import REPO

from autoencoders import AutoEncoder
from autoencoders.evaluate import likelihood
from autoencoders.likelihood import binarize, likelihood_bounds


@pytest.fixture(scope="module")
def vae_and_digits(mnist_test):
    model = AutoEncoder.from_pretrained(REPO / "demo/weights/vae")
    return model, binarize(mnist_test.images[:64], torch.Generator().manual_seed(0))


def test_binarize_draws_each_pixel_with_its_intensity(mnist_test):
    images = mnist_test.images[:2000]
    binary = binarize(images, torch.Generator().manual_seed(0))
    assert set(binary.unique().tolist()) <= {0, 255}
    assert torch.equal(binary, binarize(images, torch.Generator().manual_seed(0)))  # seeded: a fixed binarisation
    assert abs(binary.float().mean() - images.float().mean()).item() < 0.2  # of 255: on with probability the intensity
    assert (binary[images == 0] == 0).all() and (binary[images == 255] == 255).all()


def test_the_importance_weighted_bound_is_at_least_the_elbo_and_is_it_at_one_sample(vae_and_digits):
    model, digits = vae_and_digits
    bounds = likelihood_bounds(model, digits, samples=100)
    assert (bounds["iwae"] >= bounds["elbo"] - 1e-9).all()  # log of a mean >= mean of logs, for the same draws
    assert (bounds["iwae"] > bounds["elbo"]).float().mean() > 0.9
    one = likelihood_bounds(model, digits, samples=1)
    assert torch.equal(one["iwae"], one["elbo"])
    # in expectation at k = 1: the mean of many one-sample bounds is the many-sample ELBO
    draws = torch.stack([likelihood_bounds(model, digits[:8], samples=1, seed=seed)["iwae"] for seed in range(300)])
    elbo = likelihood_bounds(model, digits[:8], samples=3000)["elbo"]
    spread = draws.std(dim=0) / math.sqrt(len(draws))
    assert (draws.mean(dim=0) - elbo).abs().max() < 4 * spread.max() + 0.05


def test_evaluate_reports_negative_bounds_in_nats_for_a_model_with_a_posterior(vae_and_digits, mnist_test):
    model, _ = vae_and_digits
    metrics = likelihood(model, mnist_test.images[:64], samples=200)
    assert 60 < metrics["negative_iwae"] < metrics["negative_elbo"] < 150  # nats per MNIST digit
    assert not AutoEncoder.from_variant("deep").bottleneck.has_posterior


def test_on_a_model_small_enough_to_integrate_both_bounds_stay_below_the_true_log_likelihood():
    torch.manual_seed(0)
    model = AutoEncoder(encoder="mlp", bottleneck="variational", decoder="mlp", input_shape=[1, 2, 2], latent_dim=1, hidden_dims=[16])
    images = torch.tensor(list(itertools.product([0, 255], repeat=4)), dtype=torch.uint8).view(16, 1, 2, 2)
    data = images[torch.tensor([0, 3, 5, 10, 12, 15] * 64)]  # a few patterns, so that the code carries something
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):  # the ELBO, so that the posterior fits and the importance weights are tame
        loss = model(data).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    z = torch.linspace(-12, 12, 40001, dtype=torch.float64).unsqueeze(1)
    with torch.no_grad():
        logits = model.decoder(z.float()).flatten(1).double()  # [grid, 4]
        pixels = images.flatten(1).double() / 255
        log_px_z = -torch.nn.functional.binary_cross_entropy_with_logits(
            logits.unsqueeze(1).expand(-1, 16, -1), pixels.expand(len(z), -1, -1), reduction="none"
        ).sum(-1)  # [grid, 16]
        log_prior = -0.5 * z.square() - 0.5 * math.log(2 * math.pi)
        exact = torch.logsumexp(log_px_z + log_prior, dim=0) + math.log(24 / 40000)  # log p(x) by quadrature
    assert torch.logsumexp(exact, dim=0).exp().item() == pytest.approx(1.0, abs=1e-6)  # p sums to 1 over the 16 images
    bounds = likelihood_bounds(model, images, samples=20000)
    assert (bounds["elbo"] < exact).all()
    assert (bounds["elbo"] <= bounds["iwae"]).all()
    assert (bounds["iwae"] - exact).max() < 0.01  # below log p(x), up to the estimate's noise
    assert (exact - bounds["iwae"]).max() < 0.05  # and close to it with many samples


def test_active_units_count_the_code_units_whose_posterior_mean_varies(vae_and_digits, mnist_test):
    model, _ = vae_and_digits
    codes = model.encode_in_batches(mnist_test.images[:2000])
    active = model.bottleneck.set_statistics(codes)["active_units"]
    assert active == (codes.var(dim=0) > 0.01).sum().item() and 0 < active <= model.config.latent_dim
    constant = torch.zeros(100, 20)
    constant[:, 3] = torch.linspace(-1, 1, 100)  # one unit varies (variance 0.34), the others not at all
    assert model.bottleneck.set_statistics(constant)["active_units"] == 1
