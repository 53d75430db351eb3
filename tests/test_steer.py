"""Generation you can steer: the conditional VAE (labels through the model, the loop and the Space's
label guess), beta-VAE's per-unit statistics and latent traversals, on real MNIST and real parts."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import render_sketch, sketch_payload
from PIL import Image

from autoencoders import VARIANTS, AutoEncoder, Decoder, register
from autoencoders.bottlenecks import active_units, gaussian_kl
from autoencoders.cards import metric_name
from autoencoders.likelihood import label_scores
from autoencoders.traversals import TRAVERSAL_VALUES, analogies, traversals

BUNDLED = Path(__file__).resolve().parents[1] / "demo" / "weights"


def small_cvae() -> AutoEncoder:
    return AutoEncoder.from_variant("cvae", hidden_dims=[32], latent_dim=4)


def test_a_conditional_model_takes_labels_everywhere_and_refuses_to_run_without():
    model = small_cvae().eval()
    x = torch.rand(3, 1, 32, 32)
    labels = torch.tensor([1, 7, 7])
    assert model.conditional and model.num_classes == 10
    assert model(x, labels).logits.shape == (3, 1, 32, 32)
    codes = model.encode(x, labels)
    assert codes.shape == (3, 4) and model.decode(codes, labels).shape == (3, 1, 32, 32)
    assert torch.equal(model.decode(codes, 7), model.decode(codes, [7, 7, 7]))  # one int for all
    assert not torch.allclose(model.decode(codes, 1), model.decode(codes, 7))  # the label changes the digit
    assert not torch.allclose(model.encode(x, 1), model.encode(x, 7))  # the encoder sees it too
    for call in (lambda: model(x), lambda: model.encode(x), lambda: model.decode(codes), lambda: model.sample(2, source="prior")):
        with pytest.raises(ValueError, match="conditional: pass labels"):
            call()
    with pytest.raises(ValueError, match=r"in 0\.\.9"):
        model.encode(x, [1, 2, 10])
    with pytest.raises(ValueError, match="3 labels"):
        model.encode(x, [1, 2])
    with pytest.raises(ValueError, match="integers"):
        model.encode(x, torch.tensor([1.0, 2.0, 3.0]))
    assert model.sample(2, source="prior", labels=[3, 4]).shape == (2, 1, 32, 32)
    assert torch.equal(model.sample(2, source="prior", labels=3, temperature=0.0), model.decode(torch.zeros(2, 4), 3))
    with pytest.raises(ValueError, match="temperature"):
        model.sample(2, source="prior", labels=3, temperature=-1.0)


def test_an_unconditional_model_given_labels_says_it_takes_none():
    model = AutoEncoder.from_variant("vae", hidden_dims=[32], latent_dim=4)
    x = torch.rand(2, 1, 32, 32)
    assert not model.conditional and model.num_classes == 0
    with pytest.raises(ValueError, match="not conditional: it takes no labels"):
        model(x, [1, 2])
    with pytest.raises(ValueError, match="not conditional"):
        model.decode(torch.zeros(2, 4), 3)


def test_conditioning_is_declared_by_the_parts_not_named(tmp_path):
    """A decoder of one's own that declares takes_labels gets the one-hot labels from the model,
    and the model saves and loads like any other."""

    @register("test-steer-labelled")
    class Labelled(Decoder):
        takes_labels = True

        def __init__(self, latent_dim: int, output_shape: list[int], num_classes: int = 3) -> None:
            super().__init__()
            self.num_classes, self.shape = num_classes, output_shape
            self.layer = torch.nn.Linear(latent_dim + num_classes, 32 * 32)

        def forward(self, codes, labels):
            self.seen = labels
            return self.layer(torch.cat([codes, labels], dim=1)).view(-1, *self.shape)

    model = AutoEncoder(encoder="linear", decoder="test-steer-labelled", latent_dim=5)
    assert model.conditional and model.num_classes == 3
    model.eval().decode(torch.zeros(2, 5), [2, 0])
    assert torch.equal(model.decoder.seen, F.one_hot(torch.tensor([2, 0]), 3).float())
    model.save_pretrained(tmp_path)
    loaded = AutoEncoder.from_pretrained(tmp_path)
    x = torch.rand(2, 1, 32, 32)
    assert torch.equal(loaded.reconstruct(x, [1, 2]), model.reconstruct(x, [1, 2]))
    with pytest.raises(ValueError, match="agree on a positive num_classes"):
        AutoEncoder(
            encoder="conditional_mlp", decoder=Labelled(5, [1, 32, 32], num_classes=3), latent_dim=5, hidden_dims=[8], num_classes=4
        )


def test_a_conditional_model_fits_and_samples_one_mixture_per_label(mnist_train):
    """Each label's mixture is fitted to the codes of that label's images (its weighted mean is their
    mean, as after any EM step), and `sample(labels=d)` draws from label d's mixture only."""
    model = AutoEncoder.from_variant("cvae", hidden_dims=[32], latent_dim=4, latent_mixture=3).eval()
    images, labels = mnist_train.images[:3000], mnist_train.labels[:3000]
    model.fit_latent_stats(images, labels=labels)
    codes = model.encode(images, labels).double()
    assert model.mixture_weights.shape == (30,) and model.mixture_means.shape == (30, 4)
    drawn = []
    model.decode = lambda z, labels: drawn.append(z) or z  # look at the codes `sample` decodes
    for label in (1, 8):
        weights, means = model.mixture_weights[3 * label : 3 * label + 3], model.mixture_means[3 * label : 3 * label + 3]
        assert torch.isclose(weights.sum(), torch.tensor(1.0))
        own = codes[labels == label]
        assert torch.allclose((weights[:, None] * means).sum(0).double(), own.mean(0), atol=1e-3)
        model.sample(20000, torch.Generator().manual_seed(label), labels=label)
        assert torch.allclose(drawn[-1].double().mean(0), own.mean(0), atol=0.05 * own.std(0).max().item())
    assert not torch.allclose(codes[labels == 1].mean(0), codes[labels == 8].mean(0), atol=0.05 * codes.std(0).max().item())
    mixed = model.sample(4, torch.Generator().manual_seed(0), labels=[1, 8, 1, 8])
    assert mixed.shape == (4, 4)
    few = torch.tensor([0, 1] * 5 + [2])
    with pytest.raises(ValueError, match="3 mixture components needs at least as many images of label 2, got 1"):
        model.fit_latent_stats(images[:11], labels=few)


def test_labels_reach_a_conditional_model_in_the_real_training_loop(mnist_train):
    """train.py's loop hands each micro-batch its own labels (under gradient accumulation too)."""
    from accelerate import Accelerator

    from training.loop import LossMonitor, build_optimizer, build_scheduler, epoch_batches, train_steps

    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=2)
    model = small_cvae()
    seen = []
    model.decoder.register_forward_pre_hook(lambda _, args: seen.append(args[1].argmax(dim=1)))
    optimizer = build_optimizer(model, 1e-3, 0.0, accelerator.device)
    scheduler = build_scheduler(optimizer, "constant", 0, 2)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    images, labels = mnist_train.images[:512], mnist_train.labels[:512]
    batches = epoch_batches(512, 64, seed=0, epoch=0, accumulation=2)[:4]
    monitor = LossMonitor(accelerator.device, 0, 2)
    assert len(list(train_steps(accelerator, model, optimizer, scheduler, images, batches, monitor, labels=labels))) == 2
    assert len(seen) == 4 and all(torch.equal(got, labels[indices]) for got, indices in zip(seen, batches))


def test_the_bundled_cvae_draws_the_digit_asked_for_and_guesses_labels(mnist_train, mnist_test):
    """The targets of the quality benchmark, on fewer samples and a classifier trained for less: the
    samples of each digit (from the prior at temperature 0.5: this weaker classifier misreads more of
    the temperature-1 draws than the benchmark's) are recognised as that digit, and the model's own
    label guess is right."""
    from benchmarks.digit_classifier import predict, train_classifier

    model = AutoEncoder.from_pretrained(BUNDLED / "cvae")
    classifier = train_classifier(mnist_train.images[:6000], mnist_train.labels[:6000], epochs=1)
    asked = torch.arange(200) % 10
    with torch.no_grad():
        samples = model.sample(200, torch.Generator().manual_seed(0), source="prior", labels=asked, temperature=0.5)
    _, recognised = predict(classifier, samples)
    assert (recognised == asked).double().mean() >= 0.95
    images, labels = mnist_test.images[:300], mnist_test.labels[:300]
    assert (label_scores(model, images).argmax(dim=1) == labels).double().mean() > 0.9
    grid = analogies(model, images[:20], labels[:20])
    assert grid.shape == (20, 10, 1, 32, 32)
    _, recognised = predict(classifier, grid.flatten(0, 1))
    assert (recognised == torch.arange(10).repeat(20)).double().mean() >= 0.85  # the code's style, the label's digit


def test_per_unit_kl_sums_to_the_kl_and_active_units_follow_burda():
    model = AutoEncoder.from_variant("beta_vae").eval()
    assert model.bottleneck.kl_weight == 4.0 and VARIANTS["beta_vae"]["kl_weight"] == 4.0
    x = torch.rand(5, 1, 32, 32)
    stats = model.image_statistics(x)
    per_unit = torch.stack([stats[f"kl_unit_{u}"] for u in range(model.config.latent_dim)], dim=1)
    mean, logvar = model.bottleneck.moments(model.encoder(x))
    assert torch.allclose(per_unit.sum(dim=1), stats["kl"]) and torch.allclose(stats["kl"], gaussian_kl(mean, logvar))
    assert metric_name("kl_unit_9", model.bottleneck.statistic_names) == "KL of code unit 9 to N(0, 1) per image (nats)"
    codes = torch.randn(1000, 4) * torch.tensor([0.05, 1.0, 0.2, 0.001])  # variances 0.0025, 1, 0.04, 1e-6
    assert active_units(codes) == [1, 2]  # variance > 0.01, the most variable first


def test_traversals_sweep_one_unit_and_keep_the_others():
    model = AutoEncoder.from_variant("beta_vae").eval()
    code = torch.randn(10)
    grid = traversals(model, code, [3, 0])
    assert grid.shape == (2, len(TRAVERSAL_VALUES), 1, 32, 32) and TRAVERSAL_VALUES[0] == -3 and TRAVERSAL_VALUES[-1] == 3
    expected = code.clone()
    expected[0] = TRAVERSAL_VALUES[5]
    with torch.no_grad():
        assert torch.allclose(grid[1, 5], model.decode(expected[None])[0], atol=1e-6)
    with pytest.raises(ValueError, match="no units"):
        traversals(model, code, [])


# --- the Space, through gradio_client ------------------------------------------------------------


def grid_cells(grid: np.ndarray, size: int = 32, gap: int = 2) -> list[np.ndarray]:
    rows, cols = (grid.shape[0] - gap) // (size + gap), (grid.shape[1] - gap) // (size + gap)
    return [grid[gap + r * (size + gap) :][:size, gap + c * (size + gap) :][:, :size] for r in range(rows) for c in range(cols)]


def test_the_space_guesses_the_label_of_a_drawing_for_cvae_and_says_so(client, mnist_test, tmp_path):
    images, labels, _ = mnist_test
    right = 0
    for i in range(3000, 3010):
        sketch = sketch_payload(render_sketch(images[i, 0, 2:30, 2:30].numpy(), tmp_path / f"digit{i}.png"))
        _, output, code, details = client.predict(sketch, "cvae", "guess", api_name="/reconstruct")
        guessed = int(re.search(r"guessed: read as an? (\d)", details).group(1))
        right += guessed == int(labels[i])
        assert len(code["data"]) == VARIANTS["cvae"]["latent_dim"]
    assert right >= 9
    _, picked, _, details = client.predict(sketch, "cvae", "4", api_name="/reconstruct")
    assert "read as a 4 (picked)" in details and not np.array_equal(np.asarray(Image.open(picked)), np.asarray(Image.open(output)))
    _, strip, _, details = client.predict(sketch, "all", "guess", api_name="/reconstruct")
    assert len(grid_cells(np.asarray(Image.open(strip)))) == len(VARIANTS) and "| cvae (guessed" in details
    _, details = client.predict(sketch, sketch, "cvae", 4, "3", api_name="/interpolate")
    assert "read as a 3 (picked)" in details


def test_the_space_draws_the_digit_picked_for_cvae_and_sweeps_variational_units(client):
    three, eight = (np.asarray(Image.open(client.predict("cvae", 1.0, 0, 0, 0, 0, 0, 0, 0, d, api_name="/generate")[0])) for d in "38")
    assert np.abs(three.astype(int) - eight).mean() > 5  # the picker changes the digit
    moved = np.asarray(Image.open(client.predict("cvae", -2.0, 0, 0, 0, 0, 0, 0, 0, "3", api_name="/generate")[0]))
    assert np.abs(three.astype(int) - moved).mean() > 2  # the style sliders still move it
    grid = np.asarray(Image.open(client.predict("cvae", "5", api_name="/sample_grid")))
    assert len(grid_cells(grid)) == 16
    sweeps, caption = client.predict("beta_vae", None, api_name="/traversals")
    rows = int(re.search(r"its (\d+) active units", caption).group(1))
    assert len(grid_cells(np.asarray(Image.open(sweeps)))) == 7 * rows and rows >= 1
    none, caption = client.predict("deep", None, api_name="/traversals")
    assert none is None and "variational" in caption
