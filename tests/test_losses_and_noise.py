import math

import pytest
import torch
import torch.nn.functional as F

from autoencoders.bce import bce_with_logits
from autoencoders.bottlenecks import gaussian_kl, sparsity_penalty
from autoencoders.noise import corrupt, random_corruption


@pytest.mark.parametrize("level", [0.1, 0.25, 0.5, 0.9])
def test_masking_zeroes_the_requested_fraction(level):
    ones = torch.ones(64, 1, 32, 32)
    masked = corrupt(ones, "masking", level, torch.Generator().manual_seed(0))
    assert abs((masked == 0).float().mean().item() - level) < 0.01
    assert set(masked.unique().tolist()) <= {0.0, 1.0}


def test_salt_and_pepper_hits_the_fraction_with_both_values():
    grey = torch.full((64, 1, 32, 32), 0.5)
    noisy = corrupt(grey, "salt_and_pepper", 0.3, torch.Generator().manual_seed(0))
    hit = noisy != 0.5
    assert abs(hit.float().mean().item() - 0.3) < 0.01
    assert abs((noisy[hit] == 1).float().mean().item() - 0.5) < 0.02


def test_gaussian_has_the_requested_std_and_stays_in_range():
    grey = torch.full((64, 1, 32, 32), 0.5)
    noisy = corrupt(grey, "gaussian", 0.1, torch.Generator().manual_seed(0))
    assert abs((noisy - grey).std().item() - 0.1) < 0.005
    assert noisy.min() >= 0 and noisy.max() <= 1


def test_corruption_is_seedable_and_stays_on_device():
    x = torch.rand(8, 1, 32, 32)
    for kind in ("gaussian", "masking", "salt_and_pepper"):
        a = corrupt(x, kind, 0.3, torch.Generator().manual_seed(5))
        b = corrupt(x, kind, 0.3, torch.Generator().manual_seed(5))
        assert torch.equal(a, b) and a.device == x.device and not torch.equal(a, x)
    torch.manual_seed(1)
    a = random_corruption(x, {"masking": 0.5, "gaussian": 0.5})
    torch.manual_seed(1)
    assert torch.equal(a, random_corruption(x, {"masking": 0.5, "gaussian": 0.5}))


def test_per_image_levels_broadcast():
    ones = torch.ones(2, 1, 32, 32)
    masked = corrupt(ones, "masking", torch.tensor([0.0, 1.0]).view(2, 1, 1, 1))
    assert masked[0].min() == 1 and masked[1].max() == 0


@pytest.mark.parametrize("kind", ["log", "l1", "kl"])
def test_sparsity_penalties_are_finite_at_saturated_activations(kind):
    for rho_hat in (torch.zeros(30), torch.ones(30), torch.tensor([0.0, 1.0, 0.5])):
        rho_hat = rho_hat.clone().requires_grad_()
        penalty = sparsity_penalty(kind, rho_hat)
        penalty.backward()
        assert torch.isfinite(penalty) and torch.isfinite(rho_hat.grad).all()


def test_sparsity_penalty_values():
    rho_hat = torch.tensor([0.05, 0.5])
    assert sparsity_penalty("kl", rho_hat, 0.05).item() == pytest.approx(
        0.05 * math.log(0.05 / 0.5) + 0.95 * math.log(0.95 / 0.5), rel=1e-5
    )
    assert sparsity_penalty("log", rho_hat).item() == pytest.approx(math.log(1.0025) + math.log(1.25), rel=1e-5)
    assert sparsity_penalty("l1", rho_hat).item() == pytest.approx(0.55)


def test_vae_kl_is_zero_for_the_prior_and_positive_otherwise():
    assert torch.equal(gaussian_kl(torch.zeros(4, 20), torch.zeros(4, 20)), torch.zeros(4))
    assert (gaussian_kl(torch.ones(4, 20), torch.zeros(4, 20)) == 10).all()
    assert (gaussian_kl(torch.zeros(4, 20), torch.full((4, 20), -1.0)) > 0).all()


def test_random_warp_is_identity_at_zero_and_keeps_digits_in_frame(mnist_test):
    from autoencoders.augment import random_warp

    clean = mnist_test[0][:64].float() / 255
    assert torch.allclose(random_warp(clean, 0, 0, 0), clean, atol=1e-5)
    warped = random_warp(clean, generator=torch.Generator().manual_seed(0))
    assert warped.shape == clean.shape and warped.min() >= 0 and warped.max() <= 1
    assert not torch.allclose(warped, clean, atol=0.05)
    ink = lambda x: x.flatten(1).sum(1)  # noqa: E731
    assert torch.allclose(ink(warped), ink(clean), rtol=0.35)  # a warp moves ink, it does not erase it
    assert torch.equal(warped, random_warp(clean, generator=torch.Generator().manual_seed(0)))


def test_random_corruption_mixes_kinds_within_a_batch():
    grey = torch.full((400, 1, 32, 32), 0.5)
    noisy = random_corruption(grey, {"masking": 1.0, "salt_and_pepper": 1.0}, torch.Generator().manual_seed(0))
    masked = ((noisy == 0) | (noisy == 0.5)).flatten(1).all(1) & (noisy == 0).flatten(1).any(1)
    salted = (noisy == 1).flatten(1).any(1)
    assert 120 < masked.sum() < 280 and 120 < salted.sum() < 280 and not (masked & salted).any()


@pytest.mark.parametrize("binary", [False, True])
def test_fast_bce_equals_torch_in_value_and_gradient(binary):
    generator = torch.Generator().manual_seed(0)
    extremes = torch.tensor([-100.0, -30.0, -17.0, -1e-8, 0.0, 1e-8, 17.0, 30.0, 100.0])
    logits = torch.cat([torch.randn(4096, generator=generator) * 8, extremes]).requires_grad_()
    target = torch.rand(len(logits), generator=generator)
    target = (target > 0.5).float() if binary else target.requires_grad_()
    ours, theirs = bce_with_logits(logits, target), F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=2e-6)
    inputs = (logits, target) if target.requires_grad else (logits,)
    for mine, reference in zip(torch.autograd.grad(ours.sum(), inputs), torch.autograd.grad(theirs.sum(), inputs)):
        torch.testing.assert_close(mine, reference, rtol=1e-6, atol=1e-7)
    assert torch.isfinite(ours).all() and (ours >= 0).all()


def test_fast_bce_runs_in_float32_under_bf16_autocast():
    logits = torch.randn(8, 16, requires_grad=True)
    layer = torch.nn.Linear(16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden = layer(logits)
        assert hidden.dtype == torch.bfloat16
        loss = bce_with_logits(hidden, torch.rand(8, 16))
    assert loss.dtype == torch.float32
    loss.sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.dtype == torch.float32
