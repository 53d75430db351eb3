"""The first layer's filters and responses, on the bundled weights and real digits."""

import pytest
import torch
from conftest import REPO

from autoencoders import AutoEncoder
from autoencoders.features import input_filters, unit_responses

WEIGHTS = REPO / "demo" / "weights"


def bundled(name: str) -> AutoEncoder:
    return AutoEncoder.from_pretrained(WEIGHTS / name)


def test_a_linear_layer_gives_its_rows_as_28x28_images_scaled_to_their_largest_weight():
    model = bundled("sparse")
    filters = input_filters(model)
    assert filters.shape == (341, 1, 28, 28)
    weight = model.encoder[1].weight.detach()[7].view(32, 32)[2:30, 2:30]
    assert torch.allclose(filters[7, 0], 0.5 + 0.5 * weight / weight.abs().max())
    deviation = (filters - 0.5).abs().flatten(1).amax(dim=1)
    assert torch.allclose(deviation, torch.full((341,), 0.5))


def test_a_convolution_gives_its_kernels():
    model = bundled("conv")
    filters = input_filters(model)
    assert filters.shape == (32, 1, 4, 4) and filters.min() >= 0 and filters.max() <= 1
    kernel = model.encoder[0].weight.detach()[3]
    assert torch.allclose(filters[3], 0.5 + 0.5 * kernel / kernel.abs().max())


def test_responses_are_the_first_blocks_outputs_after_normalisation_and_activation(mnist_test):
    images = mnist_test[0][:64]
    deep = bundled("deep")
    linear, norm, activation = deep.encoder[1:4]
    with torch.no_grad():
        expected = activation(norm(linear(images.float().div(255).flatten(1))))
        assert torch.allclose(unit_responses(deep, images), expected)
        assert torch.allclose(unit_responses(deep, images.float() / 255), expected)
    assert (expected == 0).any() and (expected > 0).any()

    simple = bundled("simple")  # one linear layer: its first layer's outputs are the code
    assert torch.allclose(unit_responses(simple, images), simple.encode(images), atol=1e-6)

    conv = bundled("conv")
    with torch.no_grad():
        maps = conv.encoder[2](conv.encoder[1](conv.encoder[0](images.float().div(255))))
    assert torch.allclose(unit_responses(conv, images), maps.mean(dim=(2, 3)), atol=1e-6)


def test_responses_leave_a_training_model_in_training_mode_and_refuse_a_wrong_shape(mnist_test):
    model = bundled("vae").train()
    assert unit_responses(model, mnist_test[0][:4]).shape == (4, 512)
    assert model.training
    with pytest.raises(ValueError, match=r"expected images of shape \[B, 1, 32, 32\]"):
        unit_responses(model, torch.zeros(2, 1, 28, 28))


def test_a_unit_whose_normalisation_has_a_negative_scale_shows_the_opposite_pattern():
    model = AutoEncoder.from_variant("deep", hidden_dims=[16], latent_dim=4).eval()
    before = input_filters(model)
    with torch.no_grad():
        model.encoder[2].weight[5] = -2.0  # the BatchNorm1d after the first linear layer
    after = input_filters(model)
    assert torch.allclose(after[5], 1 - before[5])
    assert torch.equal(after[:5], before[:5]) and torch.equal(after[6:], before[6:])
