"""The VQ-VAE member: the mathematics of its bottleneck, its prior, and its code through every API
call and Space tab (a grid of tokens, not a vector)."""

import zlib

import numpy as np
import pytest
import torch

from autoencoders import VARIANTS, AutoEncoder
from autoencoders.data import as_float
from autoencoders.evaluate import evaluate
from autoencoders.traversals import traversal_units
from autoencoders.vq import VectorQuantizer
from tests.conftest import REPO

SMALL_PRIOR = {"prior_width": 32, "prior_layers": 1, "prior_heads": 2, "prior_epochs": 1, "prior_batch_size": 64}


def small_vq(**overrides) -> AutoEncoder:
    """The vq preset with a small codebook and prior, so that a test trains it in seconds."""
    return AutoEncoder.from_variant("vq", codebook_size=32, latent_dim=8, padding=[2, 2, 2, 2], **{**SMALL_PRIOR, **overrides})


def quantizer(codebook: list[list[float]], **args) -> VectorQuantizer:
    """A 1x1 grid (one vector per image) over the given codebook, with counts of 1 and sums equal
    to the entries (the state a new quantizer starts in)."""
    entries = torch.tensor(codebook)
    vq = VectorQuantizer(entries.shape[1], grid=1, codebook_size=len(entries), **SMALL_PRIOR, **args)
    vq.codebook.copy_(entries)
    vq.embed_sum.copy_(entries)
    return vq.train()


def test_the_straight_through_gradient_reaches_the_encoder(mnist_test):
    model = small_vq().train()
    images = as_float(mnist_test.images[:32])
    features = model.encoder(images)
    features.retain_grad()
    quantised = model.bottleneck.decoder_input(model.bottleneck.code(features.detach()))  # before the EMA update
    decoder_input, terms = model.bottleneck(features)
    assert torch.allclose(decoder_input.detach(), quantised, atol=1e-6)  # the forward pass is quantised
    weights = torch.randn_like(decoder_input)
    (decoder_input * weights).sum().backward()
    assert torch.equal(features.grad, weights)  # the backward pass is the identity: z + sg(e - z)
    model.zero_grad()
    model(images).loss.backward()
    first = model.encoder[0].weight.grad
    assert first is not None and first.abs().sum() > 0
    assert set(model(images).terms) == {"commitment"} and model.bottleneck.loss_weights == {"commitment": 0.25}


def test_a_training_step_under_bf16_autocast_quantises_and_updates_in_float32(mnist_test):
    model = small_vq(dead_threshold=1e9).train()  # every entry dead: the restart path runs too
    images = as_float(mnist_test.images[:32])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(images)
        assert model.encoder(images).dtype == torch.bfloat16  # the encoder does run in bf16
    output.loss.backward()
    assert model.bottleneck.codebook.dtype == torch.float32 and torch.isfinite(model.bottleneck.codebook).all()
    assert model.encoder[0].weight.grad is not None and torch.isfinite(output.loss)


def test_an_ema_codebook_update_equals_the_hand_computation():
    vq = quantizer([[0.0, 0.0], [10.0, 10.0]], decay=0.5, epsilon=1e-5, dead_threshold=0.0)
    features = torch.tensor([[1.0, 1.0], [2.0, 0.0], [9.0, 9.0]])  # three images of one cell: entries 0, 0, 1
    output, terms = vq(features)
    assert torch.equal(output, torch.tensor([[0.0, 0.0], [0.0, 0.0], [10.0, 10.0]]))  # the entries before the update
    # N = 0.5 * [1, 1] + 0.5 * [2, 1]; m = 0.5 * entries + 0.5 * [[3, 1], [9, 9]]
    counts = torch.tensor([1.5, 1.0])
    sums = torch.tensor([[1.5, 0.5], [9.5, 9.5]])
    smoothed = (counts + 1e-5) / (2.5 + 2 * 1e-5) * 2.5  # Laplace smoothing of the counts
    assert torch.allclose(vq.cluster_size, counts) and torch.allclose(vq.embed_sum, sums)
    assert torch.allclose(vq.codebook, sums / smoothed[:, None], atol=1e-6)
    assert torch.allclose(vq.codebook, torch.tensor([[1.0, 1 / 3], [9.5, 9.5]]), atol=1e-4)
    # commitment: ||z - sg(e)||^2 per image, averaged: (2 + 4 + 2) / 3
    assert torch.isclose(terms["commitment"], torch.tensor(8 / 3))
    vq.eval()(features)
    assert torch.allclose(vq.cluster_size, counts)  # evaluation never updates the codebook


def test_a_dead_code_is_restarted_at_a_recent_encoder_output():
    vq = quantizer([[0.0, 0.0], [1.0, 1.0], [100.0, 100.0]], decay=0.9, dead_threshold=0.5)
    features = torch.tensor([[0.1, 0.0], [0.0, 0.2], [1.0, 0.9], [0.9, 1.1]])
    vq(features)  # entry 2 is used by none: its count decays to 0.9 < ... then below 0.5 after a few steps
    for _ in range(6):
        vq(features)
    assert vq.cluster_size[2] == pytest.approx(0.5)
    assert any(torch.equal(vq.codebook[2], row) for row in features)  # moved onto an encoder output of the batch
    assert torch.equal(vq.embed_sum[2], vq.codebook[2] * 0.5)
    assert (vq.codebook[:2] - torch.tensor([[0.05, 0.1], [0.95, 1.0]])).abs().max() < 0.1  # the live ones were kept


def test_the_prior_samples_grids_of_valid_tokens_and_the_model_samples_from_it(mnist_train):
    model = small_vq().eval()
    with pytest.raises(RuntimeError, match="prior is not fitted yet: call fit_latent_stats"):
        model.sample(2)
    with pytest.raises(ValueError, match=r"prior is class-conditional \(prior_classes 10\): pass the images' labels"):
        model.fit_latent_stats(mnist_train.images[:512])
    labels = mnist_train.labels[:512]
    model.fit_latent_stats(mnist_train.images[:512], labels=labels)
    frequencies = torch.bincount(labels, minlength=10).float() / 512
    assert torch.equal(model.bottleneck.prior_label_weights, frequencies)  # p(y), what a draw picks labels from
    tokens = model.bottleneck.sample_prior(6, torch.Generator().manual_seed(0))
    assert tokens.shape == (6, 8, 8) and tokens.dtype == torch.long
    assert int(tokens.min()) >= 0 and int(tokens.max()) < 32
    images = model.sample(6, torch.Generator().manual_seed(0))
    assert images.shape == (6, 1, 32, 32) and torch.equal(images, model.decode(tokens))
    sevens = model.bottleneck.sample_prior(6, torch.Generator().manual_seed(0), labels=torch.full((6,), 7))
    assert torch.equal(model.sample(6, torch.Generator().manual_seed(0), labels=7), model.decode(sevens))
    with pytest.raises(ValueError, match=r"labels must be in 0..9, got \[10\]"):
        model.sample(2, labels=10)
    uniform = model.bottleneck.uniform_code(3, torch.Generator().manual_seed(0))
    assert uniform.shape == (3, 8, 8) and int(uniform.max()) < 32
    with pytest.raises(ValueError, match=r"\) has no mixture; sample its prior"):
        model.sample(2, source="mixture")


def test_a_prior_without_labels_fits_and_samples_without_them(mnist_train):
    model = small_vq(prior_classes=0).eval()
    assert model.sample_classes == 0 and "bottleneck.prior_label_weights" not in model.state_dict()
    with pytest.raises(ValueError, match="the vq model is not conditional: it takes no labels"):
        model.fit_latent_stats(mnist_train.images[:256], labels=mnist_train.labels[:256])  # labels are never ignored
    model.fit_latent_stats(mnist_train.images[:256])
    assert model.sample(3, torch.Generator().manual_seed(0)).shape == (3, 1, 32, 32)
    with pytest.raises(ValueError, match="the vq model is not conditional"):
        model.sample(3, labels=1)


def test_a_class_conditional_prior_reports_the_likelihood_of_its_mixture_over_labels(mnist_train, mnist_test):
    """prior_nll is -log sum_y p(y) p(grid | y), computed here by hand from each label's likelihood."""
    model = small_vq().eval().fit_latent_stats(mnist_train.images[:256], labels=mnist_train.labels[:256])
    grids = model.encode(mnist_test.images[:20]).flatten(1)
    prior = model.bottleneck.token_prior
    with torch.no_grad():
        per_label = torch.stack([prior.nll(grids, torch.full((20,), label)) for label in range(10)]).double()  # [10, 20]
        weights = model.bottleneck.prior_label_weights.double()
        by_hand = -(weights.unsqueeze(1) * (-per_label).exp()).sum(dim=0).log()
        assert torch.allclose(model.bottleneck.prior_nll(grids).double(), by_hand, rtol=1e-5)
        assert (by_hand >= per_label.min(dim=0).values - 1e-4).all()  # a mixture: never likelier than its likeliest label alone


def test_a_save_load_round_trip_is_strict_and_keeps_the_prior(tmp_path, mnist_train, mnist_test):
    model = small_vq().eval().fit_latent_stats(mnist_train.images[:256], labels=mnist_train.labels[:256])
    model.save_pretrained(tmp_path / "vq")
    loaded = AutoEncoder.from_pretrained(tmp_path / "vq")
    assert loaded.config == model.config
    assert all(torch.equal(value, loaded.state_dict()[key]) for key, value in model.state_dict().items())
    assert any(key.startswith("bottleneck.token_prior.") for key in loaded.state_dict())
    seeded = [m.sample(4, torch.Generator().manual_seed(1)) for m in (model, loaded)]
    assert torch.equal(*seeded)
    assert torch.equal(model.encode(mnist_test.images[:8]), loaded.encode(mnist_test.images[:8]))


def test_every_api_call_handles_the_grid_of_tokens_or_says_why_not(mnist_test):
    model = small_vq().eval()
    codes = model.encode(mnist_test.images[:4])
    assert codes.shape == (4, 8, 8) and codes.dtype == torch.long
    assert model.encode_in_batches(mnist_test.images[:5], batch_size=2).shape == (5, 8, 8)
    assert model.decode(codes).shape == (4, 1, 32, 32)
    assert model.decoder_input(codes).shape == (4, 8 * 64)
    with pytest.raises(ValueError, match="a vq code is a grid of integer token indices, got torch.float32"):
        model.decode(codes.float())
    with pytest.raises(ValueError, match=r"token indices must be in \[0, 32\)"):
        model.decode(codes + 32)
    with pytest.raises(ValueError, match=r"expected token grids of shape \[B, 8, 8\]"):
        model.decode(codes.flatten(1))
    for call in (lambda: model.code_from_axes(torch.zeros(1, 2)), lambda: model.axes_from_code(codes)):
        with pytest.raises(
            ValueError, match=r"code \(8x8 grid of tokens, 32 entries of 8-d vectors\) is not a vector: it has no principal axes"
        ):
            call()
    with pytest.raises(ValueError, match="a 32x32 image through 2 stride-2 layers is 8x8 at the end, not the 7x7 grid of the code"):
        AutoEncoder.from_variant("vq", grid=7)
    assert model.discrete and model.has_prior and model.image_statistics(mnist_test.images[:3]) == {}
    with pytest.raises(ValueError, match="is tokens, not a point to spread around: sample it at temperature 1"):
        model.sample(2, temperature=0.5)  # main's temperature spreads a vector code; tokens have prior_temperature
    with pytest.raises(ValueError, match="the vq model is not conditional"):
        model.decode(codes, labels=3)
    with pytest.raises(ValueError, match="is not a vector: it has no units to traverse"):
        traversal_units(model, mnist_test.images[:4])


def test_evaluate_reports_codebook_usage_perplexity_and_the_priors_likelihood(mnist_train, mnist_test):
    model = small_vq(prior_classes=0).eval().fit_latent_stats(mnist_train.images[:256])
    metrics = evaluate(model, mnist_train.images[:500], mnist_train.labels[:500], mnist_test.images[:300], mnist_test.labels[:300])
    codes = model.encode(mnist_test.images[:300])
    used = torch.unique(codes).numel()
    assert metrics["codebook_usage"] == pytest.approx(100 * used / 32)
    frequencies = torch.bincount(codes.flatten(), minlength=32).double() / codes.numel()
    entropy = -(frequencies[frequencies > 0] * frequencies[frequencies > 0].log()).sum()
    assert metrics["perplexity"] == pytest.approx(float(entropy.exp()))
    grids = codes.flatten(1)
    with torch.no_grad():
        nll = model.bottleneck.token_prior.nll(grids, torch.zeros(len(grids), dtype=torch.long)).mean()
    assert metrics["prior_nll"] == pytest.approx(float(nll), rel=1e-5)
    assert "linear_probe_accuracy" not in metrics and metrics["squared_error"] > 0


def test_the_space_tabs_handle_the_grid_of_tokens(mnist_train):
    from demo.endpoints import AXES, Endpoints, to_uint8
    from demo.gallery import load_digits
    from demo.models import LoadedModel
    from demo.preprocess import InputError

    models = {
        name: LoadedModel(name, AutoEncoder.from_pretrained(REPO / "demo/weights" / name), "bundled") for name in ("deep", "denoising")
    }
    vq = small_vq().eval().fit_latent_stats(mnist_train.images[:256], labels=mnist_train.labels[:256])
    models["vq"] = LoadedModel("vq", vq, "test")
    endpoints = Endpoints(models, load_digits())
    digit = endpoints.digits.gallery().images[0]
    sketch = {"background": 255 - digit, "layers": [], "composite": None}
    seen, output, code, details = endpoints.reconstruct(sketch, "vq")
    assert output.shape == (32, 32) and len(code) == 64 and code["value"].between(0, 31).all()
    assert "**vq**: its code (8x8 grid of tokens, 32 entries of 8-d vectors)" in details and details.count("\n|") >= 10
    _, strip, code, details = endpoints.reconstruct(sketch, "all")
    assert set(code["variant"]) == {"deep", "denoising"} and "8x8 grid of tokens" in details  # tokens as a grid, not bars among codes
    (image, caption), (same, _), (other, _) = (endpoints.generate("vq", *coords) for coords in ([1.0], [1.0, 0.0], [-2.0]))
    assert image.shape == (32, 32) and np.array_equal(image, same) and not np.array_equal(image, other)  # a seed per position
    assert "is not a vector, so it has no axes" in caption and "drawn from the prior" in caption
    three, caption = endpoints.generate("vq", 1.0, digit="3")  # its prior is class-conditional: the picked digit
    seed = zlib.crc32(" ".join(["1.0"] + ["0.0"] * (AXES - 1)).encode())
    assert np.array_equal(three, to_uint8(vq.sample(1, torch.Generator().manual_seed(seed), labels=3))) and "drawn as a 3 from" in caption
    assert endpoints.sample_grid("vq").ndim == 2
    strip, caption = endpoints.interpolate(sketch, sketch, "vq", 4)
    assert strip.shape[1] > 4 * 32 and "codebook vectors of their tokens" in caption
    atlas, decoded, caption = endpoints.latent_map("vq", 0.0, 0.0)
    assert atlas is None and decoded is None and "no map" in caption
    grid, caption = endpoints.features(sketch, "vq")
    assert grid is not None and "first-convolution kernels" in caption
    assert endpoints.traversal_grid("vq")[0] is None  # a variational model's traversals; vq's prior has no units
    grids = models["vq"].model.encode(torch.from_numpy(endpoints.digits.images).unsqueeze(1)).flatten(1)
    token = int(grids[0, 27])  # a unit of a discrete code is a codebook entry: the digits holding it in the most cells
    counts = (grids == token).sum(dim=1)
    grid, caption = endpoints.top_digits("vq", token)
    assert f"{int((counts > 0).sum())} of the {len(grids)} bundled test digits activate it" in caption
    assert np.array_equal(grid[2:34, 2:34], endpoints.digits.images[int(counts.argmax())])
    with pytest.raises(InputError, match="code unit must be a number between 0 and 31"):
        endpoints.top_digits("vq", 32)
    assert "**vq** (8x8 grid of tokens, 32 entries of 8-d vectors)" in endpoints.models_markdown()


def test_the_vq_preset_is_registered_through_the_open_core():
    assert VARIANTS["vq"]["bottleneck"] == "vq" and VARIANTS["vq"]["encoder"] == "conv-grid"
    model = AutoEncoder.from_variant("vq")
    assert model.bottleneck.code_shape == (8, 8) and model.bottleneck.codebook_size == 256
    assert model.config.decoder.name == "conv-grid" and model.config.decoder.args["latent_dim"] == 64 * 64


def test_the_bundled_vq_draws_the_digit_asked_for(mnist_train):
    """Its class-conditional prior: the quality benchmark's 81.8% recognised as asked with confidence
    > 0.9, on fewer samples and a classifier trained for less (so judged by its best guess)."""
    from benchmarks.digit_classifier import predict, train_classifier

    model = AutoEncoder.from_pretrained(REPO / "demo/weights/vq")
    assert model.sample_classes == 10 and float(model.bottleneck.prior_label_weights.sum()) == pytest.approx(1.0)
    classifier = train_classifier(mnist_train.images[:6000], mnist_train.labels[:6000], epochs=1)
    asked = torch.arange(100) % 10
    with torch.no_grad():
        samples = model.sample(100, torch.Generator().manual_seed(0), labels=asked)
    _, recognised = predict(classifier, samples)
    assert (recognised == asked).double().mean() >= 0.8
