import json

import pytest
import torch

from autoencoders import VARIANTS, AutoEncoder, AutoEncoderConfig, CheckpointError
from autoencoders.blocks import mlp_widths
from autoencoders.evaluate import score_images
from autoencoders.model import reconstruction_loss


def _train(model, images, steps, batch_size=64, lr=2e-3, labels=None):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        index = torch.randint(len(images), (batch_size,))
        loss = (model(images[index]) if labels is None else model(images[index], labels[index])).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def _test_error(model, images, labels=None):
    return score_images(model, images, labels=labels)["squared_error"].mean().item()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_preset_learns_on_real_mnist(name, mnist_train, mnist_test):
    train, test = mnist_train[0][:8000], mnist_test[0][:1000]
    model = AutoEncoder.from_variant(name)
    train_labels, test_labels = (mnist_train[1][:8000], mnist_test[1][:1000]) if model.conditional else (None, None)
    before = _test_error(model, test, test_labels)
    after = _test_error(_train(model, train, steps=300, labels=train_labels), test, test_labels)
    assert after < 0.5 * before, (before, after)
    assert after < 45  # an untrained model scores ~100-200; the mean digit alone ~52


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_api_shapes_and_ranges(name):
    sparsity = {"k": 4} if "k" in VARIANTS[name] else {}  # topk keeps k = 30 active latents: at most latent_dim
    model = AutoEncoder.from_variant(name, latent_dim=8, **sparsity).eval()
    x = torch.rand(5, 1, 32, 32)
    labels = torch.tensor([0, 3, 9, 3, 1]) if model.conditional else None
    z = model.encode(x, labels)
    code_shape = model.bottleneck.code_shape  # a vector of latent_dim; vq: a grid of tokens, each for a latent_dim-d vector
    assert code_shape == (8,) or (model.discrete and model.bottleneck.embedding_dim == 8)
    assert z.shape == (5, *code_shape)
    x_hat = model.decode(z, labels)
    assert x_hat.shape == x.shape and x_hat.min() >= 0 and x_hat.max() <= 1
    out = model(x, labels)
    assert out.reconstruction.shape == x.shape and out.latent.shape == (5, model.bottleneck.decoder_features)
    weights = model.bottleneck.loss_weights
    assert set(out.terms) == set(weights)
    assert torch.isclose(out.loss, out.recon_loss + sum(weights[name] * term for name, term in out.terms.items()))
    assert torch.allclose(model.reconstruct(x, labels), x_hat)
    uint8 = (x * 255).to(torch.uint8)
    assert torch.equal(model.encode(uint8, labels), model.encode(uint8.float() / 255, labels))


def test_conv_accepts_any_channel_count():
    model = AutoEncoder.from_variant("conv", channels=3, latent_dim=16)
    assert model.reconstruct(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)


def test_wrong_image_shape_is_a_clear_error():
    model = AutoEncoder.from_variant("deep")
    with pytest.raises(ValueError, match=r"expected images of shape \[B, 1, 32, 32\], got \[2, 1, 28, 28\]"):
        model.encode(torch.rand(2, 1, 28, 28))


def test_deep_widths_are_sane_for_any_depth_and_code_size():
    for depth in range(1, 12):
        for latent in (2, 20, 30, 128, 700):
            widths = [1024, *mlp_widths(1024, latent, depth), latent]
            assert len(widths) == depth + 1
            assert all(a >= b for a, b in zip(widths, widths[1:])), widths
    model = AutoEncoder.from_variant("deep", depth=8, latent_dim=200)
    assert model.encode(torch.rand(2, 1, 32, 32)).shape == (2, 200)
    assert len(model.config.encoder.args["hidden_dims"]) == 7 == len(model.config.decoder.args["hidden_dims"])


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"recon_loss": "l2"}, "choose one of: bce, mse, rmse"),
        (
            {"bottleneck": "nearest"},
            "unknown bottleneck 'nearest'; choose one of: plain, sparse, variational.* import the code that registers it",
        ),
        ({"bottleneck": "sparse", "sparsity_penalty": "l0"}, "choose one of: log, l1, kl"),
        ({"noise": {"blur": 0.1}}, "choose one of: gaussian, masking, salt_and_pepper"),
        ({"activation": "swish"}, "choose one of: relu"),
        ({"latent_dim": "30"}, "'latent_dim' must be int"),
        ({"colour": 3}, "unknown config keys \\['colour'\\]: not a config field .* nor an argument of the mlp encoder"),
        ({"hidden_dims": [64, "wide"]}, "hidden_dims must be positive ints"),
        ({"image_size": 30, "encoder": "conv"}, "30x30 image must be divisible by 2\\*\\*3"),
    ],
)
def test_unknown_names_raise_value_error_listing_choices(kwargs, words):
    with pytest.raises(ValueError, match=words):
        AutoEncoder.from_variant("deep", **kwargs)


def test_unknown_variant_lists_the_presets():
    with pytest.raises(ValueError, match="choose one of: simple, deep, denoising, sparse, conv, vae"):
        AutoEncoder.from_variant("contractive")


def test_denoising_training_loss_sees_corrupted_inputs_and_clean_targets(mnist_test):
    model = AutoEncoder.from_variant("denoising")
    clean = mnist_test[0][:256].float() / 255
    seen = {}
    model.encoder.register_forward_pre_hook(lambda _, args: seen.__setitem__("input", args[0]))
    model.decoder.register_forward_hook(lambda _, __, out: seen.__setitem__("logits", out))
    out = model.train()(clean)
    changed = (seen["input"] != clean).float().mean().item()
    assert changed > 0.01, "training input was not corrupted"
    assert torch.allclose(out.recon_loss, reconstruction_loss("bce", seen["logits"], clean))
    assert not torch.allclose(out.recon_loss, reconstruction_loss("bce", seen["logits"], seen["input"]))
    model.eval()(clean)
    assert torch.equal(seen["input"], clean), "evaluation must not corrupt"


def test_latent_stats_and_sampling(mnist_train):
    images = mnist_train[0][:2000]
    model = _train(AutoEncoder.from_variant("deep", latent_dim=10), images, steps=100)
    with pytest.raises(RuntimeError, match="fit_latent_stats"):
        model.sample(4)
    model.fit_latent_stats(images)
    codes = model.encode(images).detach().double()
    assert torch.allclose(model.latent_mean.double(), codes.mean(0), atol=1e-4)
    axes = model.latent_components
    assert torch.allclose(axes @ axes.T, torch.eye(10), atol=1e-4)
    assert torch.all(model.latent_scale[:-1] >= model.latent_scale[1:])
    projected = (codes - codes.mean(0)) @ axes.double().T
    assert torch.allclose(projected.std(0), model.latent_scale.double(), rtol=1e-3)
    samples = model.sample(16, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (16, 1, 32, 32) and samples.min() >= 0 and samples.max() <= 1
    assert torch.equal(samples, model.sample(16, generator=torch.Generator().manual_seed(0)))
    assert torch.allclose(model.code_from_axes(torch.zeros(1, 3)), model.latent_mean)
    assert torch.isclose(model.mixture_weights.sum(), torch.tensor(1.0))
    mixture_mean = (model.mixture_weights[:, None] * model.mixture_means).sum(0)
    assert torch.allclose(mixture_mean.double(), codes.mean(0), atol=1e-3)


def test_axes_from_code_inverts_code_from_axes_and_origin_moves_the_start(mnist_train):
    images = mnist_train[0][:1000]
    model = AutoEncoder.from_variant("deep", hidden_dims=[64], latent_dim=6).eval()
    model.fit_latent_stats(images)
    codes = model.encode(images[:50])
    coords = model.axes_from_code(codes)
    assert torch.allclose(model.code_from_axes(coords), codes, atol=1e-4)
    whitened = model.axes_from_code(model.encode(images))
    assert torch.allclose(whitened.std(0), torch.ones(6), atol=0.02)  # SD units along every axis
    step = torch.tensor([[1.5, -2.0]])
    moved = model.code_from_axes(step, origin=codes[:1]) - codes[:1]
    assert torch.allclose(moved, model.code_from_axes(step) - model.latent_mean, atol=1e-5)


def test_one_mixture_component_is_the_single_gaussian_of_the_codes(mnist_train):
    images = mnist_train[0][:1000]
    model = AutoEncoder.from_variant("deep", hidden_dims=[64], latent_dim=4, latent_mixture=1).eval()
    model.fit_latent_stats(images)
    codes = model.encode(images).detach().double()
    scale = model.mixture_scales[0].double()
    assert torch.allclose(model.mixture_means[0], model.latent_mean)
    assert torch.allclose(scale @ scale.T, torch.cov(codes.T), rtol=1e-3, atol=1e-5)
    codes_drawn = []
    model.decode = lambda z: codes_drawn.append(z) or z  # look at the codes `sample` decodes
    model.sample(20000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(codes_drawn[0].double().mean(0), codes.mean(0), atol=0.05 * codes.std(0).max().item())


def test_vae_samples_its_prior_on_request_and_its_fitted_mixture_by_default(mnist_train):
    model = AutoEncoder.from_variant("vae", hidden_dims=[64], latent_dim=4).eval()
    with pytest.raises(RuntimeError, match=r"fit_latent_stats.*source='prior'"):
        model.sample(3)
    assert model.sample(3, source="prior").shape == (3, 1, 32, 32)
    coords = torch.randn(2, 4)
    assert torch.equal(model.code_from_axes(coords), coords)

    images = mnist_train[0][:1000]
    model.fit_latent_stats(images)
    decoded = {}
    model.decode = lambda z: decoded.setdefault("codes", z)  # look at the codes `sample` decodes
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    prior = model.sample(20000, gen(), source="prior")
    assert torch.equal(prior, torch.randn(20000, 4, generator=gen()))
    del decoded["codes"]
    mixture = model.sample(20000, gen())
    means = model.encode(images).double()  # the encoder's posterior means, what the mixture is fitted to
    assert torch.allclose(mixture.double().mean(0), means.mean(0), atol=0.05 * means.std(0).max().item())
    assert torch.allclose(mixture.double().std(0), means.std(0), rtol=0.1)


def test_sample_refuses_an_unknown_source_and_a_prior_without_a_vae(mnist_train):
    model = AutoEncoder.from_variant("deep", hidden_dims=[64], latent_dim=4).eval()
    model.fit_latent_stats(mnist_train[0][:500])
    with pytest.raises(ValueError, match="unknown sample source 'posterior'; choose one of: mixture, prior"):
        model.sample(2, source="posterior")
    with pytest.raises(ValueError, match="only a model whose bottleneck has a prior"):
        model.sample(2, source="prior")


def test_save_and_load_round_trip(tmp_path, mnist_test):
    model = AutoEncoder.from_variant("sparse", latent_dim=12, sparsity_penalty="kl").eval()
    model.fit_latent_stats(mnist_test[0][:500])
    model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    loaded = AutoEncoder.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config and not loaded.training
    assert json.loads((tmp_path / "m/config.json").read_text()) == model.config.to_dict()
    x = mnist_test[0][:8]
    assert torch.equal(loaded.reconstruct(x), model.reconstruct(x))
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(loaded.sample(4, generator=gen()), model.sample(4, generator=gen()))
    card = (tmp_path / "m/README.md").read_text()
    assert "library_name: autoencoders" in card


def _saved(tmp_path, name="deep"):
    model = AutoEncoder.from_variant(name, latent_dim=6, hidden_dims=[32])
    model.save_pretrained(tmp_path)
    return model


def test_missing_tensor_fails_loudly(tmp_path):
    from safetensors.torch import load_file, save_file

    _saved(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state.pop("decoder.0.bias")
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"model.safetensors does not match.*missing tensors \['decoder.0.bias'\]"):
        AutoEncoder.from_pretrained(tmp_path)


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("latent_dim", 7, r"config.json: the plain bottleneck's latent_dim is 6 but the model's is 7"),
        (
            "encoder",
            {"name": "mlp", "args": {"hidden_dims": [16]}},
            r"wrong shapes: encoder.1.weight \[32, 1024\] \(config expects \[16, 1024\]\)",
        ),
        (
            "decoder",
            {"name": "shuffled-mlp"},
            r"config.json: unknown decoder 'shuffled-mlp'; choose one of: linear, mlp, conv.*import the code that registers it",
        ),
        ("dropout", 0.1, r"config.json: unknown config keys \['dropout'\]"),
    ],
)
def test_a_config_that_does_not_fit_its_weights_names_the_file(tmp_path, key, value, words):
    _saved(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config[key] = value
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=words):
        AutoEncoder.from_pretrained(tmp_path)


def test_config_round_trips_every_field():
    model = AutoEncoder(latent_dim=7, hidden_dims=[64, 32], noise={"masking": 0.3}, padding=[1, 2, 3, 4], bottleneck="sparse")
    config = model.config
    assert config.encoder.args["hidden_dims"] == [64, 32] and config.bottleneck.args["sparsity_weight"] == 3.0
    assert AutoEncoderConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_hub_id_offline_raises_os_error_fast():
    from huggingface_hub.errors import LocalEntryNotFoundError

    with pytest.raises(LocalEntryNotFoundError):
        AutoEncoder.from_pretrained("nobody-here/autoencoders-mnist-deep")


@pytest.mark.parametrize("name", ["deep", "conv"])
def test_batch_normalization_sits_after_hidden_layers_only(name):
    model = AutoEncoder.from_variant(name, normalization="batch")
    norms = [m for m in model.modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    assert len(norms) == 2 * len(model.config.encoder.args["hidden_dims"])
    assert not isinstance(model.encoder[-1], torch.nn.modules.batchnorm._BatchNorm)
    x = torch.rand(4, 1, 32, 32)
    model.eval()
    assert torch.allclose(model.reconstruct(x[:1]), model.reconstruct(x)[:1], atol=1e-5)  # eval: per image


def test_a_missing_local_folder_is_named_not_taken_for_a_hub_id(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such-model: no such model folder"):
        AutoEncoder.from_pretrained(tmp_path / "no-such-model")
