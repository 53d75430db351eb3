"""The mathematics of the k-sparse autoencoder (autoencoders/topk.py), on real MNIST digits."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from autoencoders import AutoEncoder, CheckpointError
from autoencoders.data import as_float
from autoencoders.evaluate import evaluate
from autoencoders.metrics import variance_per_image
from autoencoders.model import reconstruction_loss
from autoencoders.topk import TopKBottleneck, activation_density, top_k


def small(**settings) -> AutoEncoder:
    """A linear TopK autoencoder small enough to train in a test: 64 latents, k = 5."""
    return AutoEncoder(encoder="linear", bottleneck="topk", decoder="dictionary", latent_dim=64, k=5, **settings)


@pytest.fixture
def digits(mnist_train):
    return as_float(mnist_train.images[:256])


def test_top_k_keeps_exactly_the_k_largest_per_image(digits):
    model = AutoEncoder.from_variant("topk").eval()
    features = model.encoder(digits)
    code = model.bottleneck.code(features)
    assert torch.equal((code != 0).sum(dim=1), (features.topk(30, dim=1).values > 0).sum(dim=1))  # ReLU after the selection
    shifted = features - features.min() + 1.0  # all positive: the ReLU keeps every selected one
    code = top_k(shifted, 30)
    assert torch.equal((code != 0).sum(dim=1), torch.full((len(digits),), 30))
    kept = torch.zeros_like(shifted, dtype=torch.bool).scatter(1, shifted.topk(30, dim=1).indices, True)
    assert torch.equal(code != 0, kept) and torch.equal(code[kept], shifted[kept])
    assert (top_k(-shifted, 30) == 0).all()  # all negative: the ReLU leaves nothing


def test_auxk_reaches_only_the_dead_latents(digits):
    model = small(k_aux=8, dead_after=100).train()
    dead = torch.zeros(64, dtype=torch.bool)
    dead[::3] = True
    model.bottleneck.images_since_fired.copy_(torch.where(dead, 100, 0))
    out = model(digits[:64])
    model.zero_grad()
    out.terms["auxk"].backward()
    encoder_rows = model.encoder[1].weight.grad.abs().sum(dim=1) > 0
    atom_columns = model.decoder.directions.grad.abs().sum(dim=0) > 0
    assert encoder_rows.any() and not (encoder_rows & ~dead).any()
    assert not (atom_columns & ~dead).any()
    assert model.decoder.bias.grad is None or not model.decoder.bias.grad.any()  # the atoms alone fit the residual


def test_auxk_term_is_the_loss_of_the_residual_fit_by_the_top_dead_latents(digits):
    model = small(k_aux=8, dead_after=100).train()
    model.bottleneck.images_since_fired[:20] = 100
    batch = digits[:32]
    out = model(batch)
    features = model.encoder(batch)
    aux = torch.zeros_like(features)
    values, indices = features[:, :20].topk(8, dim=1)
    aux.scatter_(1, indices, torch.nn.functional.softplus(values))
    fit = out.logits.detach() + (aux @ model.decoder.atoms().T).view_as(out.logits)
    expected = reconstruction_loss("bce", fit, batch)
    assert torch.allclose(out.terms["auxk"], expected, rtol=1e-5)
    assert torch.allclose(out.loss, out.recon_loss + out.terms["auxk"] / 32, rtol=1e-6)


def test_auxk_still_reaches_a_dead_latent_whose_pre_activations_are_all_negative(digits):
    """Through a ReLU such a latent would get no gradient at all and stay dead for good."""
    model = small(k_aux=8, dead_after=100).train()
    last = model.encoder[1]
    with torch.no_grad():
        last.bias[5] = -20.0  # latent 5: negative on every image (the dead latents of a warped run peaked at -1 to -8)
    assert (model.encoder(digits[:64])[:, 5] < 0).all()
    model.bottleneck.images_since_fired[5] = 100
    model.zero_grad()
    model(digits[:64]).terms["auxk"].backward()
    assert last.weight.grad[5].abs().sum() > 0 and model.decoder.directions.grad[:, 5].abs().sum() > 0


def test_dead_counter_counts_training_images_and_resets_on_firing():
    bottleneck = TopKBottleneck(latent_dim=6, k=2, dead_after=5)
    code = torch.tensor([[1.0, 0, 0, 2.0, 0, 0], [0, 0, 0, 3.0, 0, 0.5]])
    bottleneck.count_firing(code)
    assert bottleneck.images_since_fired.tolist() == [0, 2, 2, 0, 2, 0]
    bottleneck.count_firing(code)
    bottleneck.count_firing(torch.zeros(1, 6))
    assert bottleneck.images_since_fired.tolist() == [1, 5, 5, 1, 5, 1]
    assert bottleneck.dead().tolist() == [False, True, True, False, True, False]
    bottleneck.count_firing(torch.tensor([[0, 4.0, 0, 0, 0, 0]]))
    assert bottleneck.dead().tolist() == [False, False, True, False, True, False]


def test_dead_counter_moves_in_training_only(digits):
    model = small(dead_after=10_000)
    model.train()(digits[:100])
    counter = model.bottleneck.images_since_fired.clone()
    assert counter.max() == 100 and counter.min() == 0
    model.eval()(digits[:100])
    assert torch.equal(model.bottleneck.images_since_fired, counter)


def test_encoder_starts_as_the_decoders_transpose_and_atoms_stay_unit_norm(digits):
    model = small()
    assert torch.equal(model.encoder[1].weight, model.decoder.atoms().T)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for start in range(0, 256, 64):
        optimizer.zero_grad()
        model(digits[start : start + 64]).loss.backward()
        directions, grad = model.decoder.directions, model.decoder.directions.grad
        # the gradient of W = V / |V| has no component along each atom (Gao et al.'s projection)
        assert (grad * directions).sum(dim=0).abs().max() < 1e-4 * grad.norm(dim=0).max() * directions.norm(dim=0).max()
        optimizer.step()
    assert not torch.allclose(model.decoder.directions.norm(dim=0), torch.ones(64))  # V moved off the sphere...
    assert torch.allclose(model.decoder.atoms().norm(dim=0), torch.ones(64), atol=1e-6)  # ...its atoms did not


def test_save_load_round_trip_is_strict_and_keeps_the_counter(digits, tmp_path):
    model = small(dead_after=50)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for start in range(0, 256, 64):
        optimizer.zero_grad()
        model(digits[start : start + 64]).loss.backward()
        optimizer.step()
    model.eval().save_pretrained(tmp_path / "m")
    again = AutoEncoder.from_pretrained(tmp_path / "m")
    assert again.config == model.config
    for name, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[name], value), name
    assert again.bottleneck.images_since_fired.dtype == torch.long and again.bottleneck.images_since_fired.max() > 0
    assert torch.equal(again.encode(digits), model.encode(digits))
    weights = load_file(tmp_path / "m" / "model.safetensors")
    del weights["bottleneck.images_since_fired"]
    save_file(weights, tmp_path / "m" / "model.safetensors")
    with pytest.raises(CheckpointError, match="images_since_fired"):
        AutoEncoder.from_pretrained(tmp_path / "m")


def test_evaluate_reports_l0_dead_latents_fvu_and_density(mnist_train, mnist_test):
    model = small().eval()
    train, test = mnist_train.images[:1000], mnist_test.images[:500]
    metrics = evaluate(model, train, mnist_train.labels[:1000], test, mnist_test.labels[:500])
    codes = model.encode_in_batches(test)
    density = activation_density(codes)
    assert metrics["l0"] == pytest.approx(float((codes > 0).sum(dim=1).double().mean()))
    assert metrics["l0"] <= 5
    assert metrics["dead_latents"] == pytest.approx(100 * float((density == 0).double().mean()))
    assert metrics["density_max"] == pytest.approx(float(density.max()))
    assert metrics["fvu"] == pytest.approx(metrics["squared_error"] / variance_per_image(test, model.config.padding))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="k must be an int in \\[1, latent_dim = 64\\]"):
        AutoEncoder(encoder="linear", bottleneck="topk", decoder="dictionary", latent_dim=64, k=65)
    with pytest.raises(ValueError, match="k must be an int in \\[1, latent_dim = 8\\], got 30"):
        AutoEncoder.from_variant("topk", latent_dim=8)
    with pytest.raises(ValueError, match="dead_after"):
        TopKBottleneck(latent_dim=8, k=2, dead_after=0)
    with pytest.raises(ValueError, match="aux_weight"):
        TopKBottleneck(latent_dim=8, k=2, aux_weight=-1.0)


def test_the_decoder_starts_from_the_mean_training_image(digits):
    model = small()
    model.start_from_data(digits)
    blank = model.decode(torch.zeros(1, 64))[0]
    assert torch.allclose(blank, digits.mean(dim=0).clamp(1e-3, 1 - 1e-3), atol=1e-5)  # no latent fires: the mean digit


def test_made_up_codes_are_projected_onto_k_sparse_codes(digits):
    model = small().eval()
    model.fit_latent_stats(digits)
    dense = torch.randn(8, 64)
    projected = model.bottleneck.project(dense)
    assert ((projected > 0).sum(dim=1) <= 5).all() and (projected >= 0).all()
    assert torch.equal(projected, top_k(dense, 5))  # the nearest non-negative 5-sparse code
    moved = model.code_from_axes(torch.randn(4, 8))
    assert ((moved != 0).sum(dim=1) <= 5).all()
    codes = model.encode(digits[:16])
    assert torch.allclose(model.code_from_axes(model.axes_from_code(codes)), codes, atol=1e-4)  # still inverse on its own codes
