"""The open core: parts of one's own, registered by name, trained by training/train.py, saved and
loaded strictly like the built-ins; every built-in part at several image sizes and channel counts."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import Tensor, nn

from autoencoders import VARIANTS, AutoEncoder, Bottleneck, Encoder, register, registered
from autoencoders.cards import card_results, metric_name, read_card_metrics
from autoencoders.data import load_images, pad_images
from autoencoders.evaluate import evaluate, score_images
from autoencoders.features import NoFilters, input_filters
from autoencoders.metrics import unpad
from autoencoders.parts import part_class

REPO = Path(__file__).resolve().parents[1]


@register("test-residual-mlp")
class ResidualMLP(Encoder):
    """An encoder the library does not have: a projection, residual blocks, a linear head."""

    def __init__(self, input_shape: list[int], out_features: int, width: int = 128, blocks: int = 1, activation: str = "gelu") -> None:
        super().__init__()
        self.activation = {"gelu": nn.GELU, "relu": nn.ReLU}[activation]()
        self.project = nn.Linear(input_shape[0] * input_shape[1] * input_shape[2], width)
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width)) for _ in range(blocks))
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, out_features))

    def forward(self, images: Tensor) -> Tensor:
        hidden = self.activation(self.project(images.flatten(1)))
        for block in self.blocks:
            hidden = hidden + self.activation(block(hidden))
        return self.head(hidden)


@register("test-tanh")
class TanhBottleneck(Bottleneck):
    """A code bounded to (-bound, bound) with an L2 penalty, and a statistic over a set of codes:
    the share of saturated units."""

    statistic_names = {"saturated_units": "Share of code units saturated (|z| > 0.99 bound) on the test set"}

    def __init__(self, latent_dim: int, bound: float = 4.0, l2_weight: float = 0.01) -> None:
        super().__init__(latent_dim)
        self.bound, self.l2_weight = bound, l2_weight

    @property
    def loss_weights(self) -> dict[str, float]:
        return {"l2": self.l2_weight}

    def forward(self, features: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        code = self.code(features)
        return code, {"l2": code.square().sum(dim=1).mean()}

    def code(self, features: Tensor) -> Tensor:
        return self.bound * torch.tanh(features / self.bound)

    def image_statistics(self, features: Tensor) -> dict[str, Tensor]:
        return {"code_norm": self.code(features).norm(dim=1)}

    def set_statistics(self, codes: Tensor) -> dict[str, float]:
        return {"saturated_units": (codes.abs() > 0.99 * self.bound).double().mean().item()}


class Unregistered(Encoder):
    def __init__(self, input_shape: list[int], out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(input_shape[0] * input_shape[1] * input_shape[2], out_features)

    def forward(self, images: Tensor) -> Tensor:
        return self.linear(images.flatten(1))


def _custom_config(path: Path) -> Path:
    config = {
        "variant": "custom",
        "epochs": 2,
        "batch_size": 64,
        "learning_rate": 3e-3,
        "lr_warmup_steps": 10,
        "model": {
            "encoder": {"name": "test-residual-mlp", "args": {"width": 128, "blocks": 2}},
            "bottleneck": {"name": "test-tanh", "args": {"bound": 8.0, "l2_weight": 0.001}},
            "decoder": "mlp",
            "hidden_dims": [128],
            "latent_dim": 16,
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_parts_of_ones_own_train_through_train_py_and_round_trip_bit_for_bit(tmp_path, mnist_dir, mnist_test):
    from training import train

    out = tmp_path / "custom"
    argv = ["--config", str(_custom_config(tmp_path / "custom.yaml")), "--dataset", str(mnist_dir), "--output_dir", str(out),
            "--max_train_samples", "6400", "--max_eval_samples", "500", "--report_to", "none"]  # fmt: skip
    metrics = train.main(argv)  # 2 epochs of 100 steps
    saved = json.loads((out / "config.json").read_text())
    assert saved["encoder"] == {
        "name": "test-residual-mlp",
        "args": {"input_shape": [1, 32, 32], "out_features": 16, "width": 128, "blocks": 2, "activation": "gelu"},
    }
    assert saved["bottleneck"] == {"name": "test-tanh", "args": {"latent_dim": 16, "bound": 8.0, "l2_weight": 0.001}}
    assert saved["decoder"]["name"] == "mlp" and saved["decoder"]["args"]["hidden_dims"] == [128]
    assert saved["padding"] == [2, 2, 2, 2] and saved["variant"] == "custom"

    loaded = AutoEncoder.from_pretrained(out)
    assert isinstance(loaded.encoder, ResidualMLP) and isinstance(loaded.bottleneck, TanhBottleneck)
    again = tmp_path / "again"
    loaded.save_pretrained(again)
    assert (again / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()
    assert (again / "config.json").read_text() == (out / "config.json").read_text()
    digits = mnist_test.images[:64]
    assert torch.equal(AutoEncoder.from_pretrained(again).reconstruct(digits), loaded.reconstruct(digits))

    # the card holds what the part reports, under the part's own names, and the model learned
    card = read_card_metrics(out / "README.md")
    assert card == pytest.approx(metrics) and {"code_norm", "saturated_units"} <= set(card)
    assert "Share of code units saturated" in (out / "README.md").read_text()
    assert card["squared_error"] == pytest.approx(score_images(loaded, mnist_test.images[:500])["squared_error"].mean().item(), rel=1e-5)
    assert card["squared_error"] < 40  # it learned: a code that carries nothing scores ~50 (the mean digit)
    assert not (out / "features.png").exists()  # its encoder has no first-layer filters to draw


def test_loading_without_the_registering_import_names_the_part(tmp_path):
    model = AutoEncoder(encoder=ResidualMLP([1, 32, 32], 8), bottleneck="test-tanh", decoder="linear", latent_dim=8)
    model.save_pretrained(tmp_path / "m")
    code = f"from autoencoders import AutoEncoder; AutoEncoder.from_pretrained({str(tmp_path / 'm')!r})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode != 0
    assert "CheckpointError" in result.stderr
    assert "config.json: unknown bottleneck 'test-tanh'; choose one of: plain, sparse, variational" in result.stderr
    assert "import the code that registers it (@register('test-tanh')) first" in result.stderr
    with_import = (
        f"import sys; sys.path.insert(0, 'tests'); import test_open_core; {code}.reconstruct(__import__('torch').zeros(1, 1, 32, 32))"
    )
    assert subprocess.run([sys.executable, "-c", with_import], capture_output=True, text=True, cwd=REPO).returncode == 0


def test_a_part_with_a_non_jsonable_argument_is_refused_when_built():
    with pytest.raises(TypeError, match=r"ResidualMLP argument 'activation' is type .*GELU.*not JSON-able"):
        ResidualMLP([1, 32, 32], 8, activation=nn.GELU)
    with pytest.raises(TypeError, match=r"TanhBottleneck argument 'l2_weight' is Tensor"):
        AutoEncoder(bottleneck={"name": "test-tanh", "args": {"l2_weight": torch.tensor(0.1)}})
    with pytest.raises(TypeError, match=r"argument 'width' is float nan"):
        ResidualMLP([1, 32, 32], 8, width=float("nan"))


def test_the_registry_holds_the_built_ins_as_it_holds_a_users_parts():
    assert list(registered("encoder"))[:3] == ["linear", "mlp", "conv"]
    assert list(registered("bottleneck"))[:3] == ["plain", "sparse", "variational"]
    assert registered("encoder")["test-residual-mlp"] is ResidualMLP
    for kind in ("encoder", "bottleneck", "decoder"):
        for name, cls in registered(kind).items():
            assert part_class(kind, name) is cls and cls.registered_name == name
    with pytest.raises(ValueError, match="the encoder name 'mlp' is taken by autoencoders.blocks.MLPEncoder"):
        register("mlp")(Unregistered)
    with pytest.raises(ValueError, match=r"Unregistered is not registered: decorate it with @autoencoders.register"):
        AutoEncoder(encoder=Unregistered([1, 32, 32], 20))
    with pytest.raises(TypeError, match="decoder must be an autoencoders.Decoder, got ResidualMLP"):
        AutoEncoder(decoder=ResidualMLP([1, 32, 32], 20))


def test_parts_that_do_not_fit_together_fail_when_the_model_is_built():
    with pytest.raises(ValueError, match=r"the test-residual-mlp encoder returns features \[2, 8\], but this model needs \[B, 40\]"):
        AutoEncoder(encoder=ResidualMLP([1, 32, 32], 8), bottleneck="variational", latent_dim=20)
    with pytest.raises(ValueError, match=r"the mlp encoder's input_shape is \[3, 32, 32\] but the model's is \[1, 32, 32\]"):
        AutoEncoder(encoder={"name": "mlp", "args": {"input_shape": [3, 32, 32]}}, input_shape=[1, 32, 32])


def test_a_built_encoder_gives_the_model_its_input_shape_and_the_issue_example_runs(tmp_path):
    ae = AutoEncoder(encoder=ResidualMLP([1, 32, 32], 30), bottleneck="plain", decoder="mlp", latent_dim=30)
    assert ae.config.input_shape == [1, 32, 32] and ae.config.decoder.args["output_shape"] == [1, 32, 32]
    ae.eval().save_pretrained(tmp_path / "my-ae")
    x = torch.rand(3, 1, 32, 32)
    assert torch.equal(AutoEncoder.from_pretrained(tmp_path / "my-ae")(x).logits, ae(x).logits)
    assert AutoEncoder.from_variant("deep").config.encoder.args["hidden_dims"] == [1000, 500, 250]


def test_an_encoder_without_filters_says_so():
    model = AutoEncoder(encoder=ResidualMLP([1, 32, 32], 8), latent_dim=8, decoder="linear")
    with pytest.raises(NoFilters, match="the test-residual-mlp encoder has no first-layer filters to show"):
        input_filters(model)


def test_a_flat_config_of_version_0_1_still_loads_and_scores_as_before(tmp_path, mnist_test):
    """The flat config.json the bundled models shipped with before the open core (with the activation
    of today's bundled conv, whose weights it is given)."""
    flat = {"activation": "silu", "architecture": "conv", "bottleneck": "plain", "channels": 1, "hidden_dims": [32, 64, 128],
            "image_size": 32, "kl_weight": 1.0, "latent_dim": 32, "latent_mixture": 20, "noise": {}, "normalization": "batch",
            "recon_loss": "bce", "sparsity_penalty": "kl", "sparsity_target": 0.05, "sparsity_weight": 3.0, "variant": "conv"}  # fmt: skip
    folder = tmp_path / "conv"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(flat))
    (folder / "model.safetensors").write_bytes((REPO / "demo/weights/conv/model.safetensors").read_bytes())
    old = AutoEncoder.from_pretrained(folder)
    bundled = AutoEncoder.from_pretrained(REPO / "demo/weights/conv")
    assert old.config == bundled.config and old.config.padding == [2, 2, 2, 2]
    card = read_card_metrics(REPO / "demo/weights/conv/README.md")
    error = score_images(old, mnist_test.images)["squared_error"].mean().item()
    assert error == pytest.approx(card["squared_error"], rel=1e-4)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_bundled_card_names_its_metrics_as_the_library_does_today(variant):
    """A card written before a metric was renamed would show the Hub a name the library no longer uses."""
    folder = REPO / "demo/weights" / variant
    names = part_class("bottleneck", AutoEncoder.from_pretrained(folder).config.bottleneck.name).statistic_names
    for result in card_results(folder):
        assert result.metric_name == metric_name(result.metric_type, names), (variant, result.metric_type)


# ---------------------------------------------------------------------------- any image size and channel count

SHAPES = {"1x28x28": [1, 28, 28], "1x32x32": [1, 32, 32], "3x32x32": [3, 32, 32], "3x64x64": [3, 64, 64]}
PARTS = {"linear": {}, "mlp": {"hidden_dims": [64]}, "conv": {"hidden_dims": [8, 16]}}


def _tinted_digits(mnist_test, shape: list[int], count: int = 256) -> tuple[Tensor, list[int]]:
    """Real MNIST test digits at the shape's size (resized to 7/8 of it, then padded), tinted per
    image for three channels; and the padding that was added."""
    digits = unpad(mnist_test.images[:count], mnist_test.padding)
    channels, size = shape[0], shape[1]
    if size == 28:
        return digits, [0, 0, 0, 0]
    inner = size * 7 // 8
    resized = F.interpolate(digits.float(), size=(inner, inner), mode="bilinear", align_corners=False).round().clamp(0, 255).to(torch.uint8)
    if channels == 3:
        tint = torch.rand(count, 3, 1, 1, generator=torch.Generator().manual_seed(0)) * 0.7 + 0.3
        resized = (resized.float() * tint).round().to(torch.uint8)
    margin = (size - inner) // 2
    return pad_images(resized, size), [margin, size - inner - margin] * 2


def _photo_patches(size: int, count: int = 128) -> Tensor:
    """Real colour photographs (scikit-learn's two sample images), cut into size x size patches."""
    from sklearn.datasets import load_sample_images

    photos = torch.stack([torch.tensor(image) for image in load_sample_images().images]).permute(0, 3, 1, 2)
    generator = torch.Generator().manual_seed(0)
    patches = []
    for index in range(count):
        top, left = (int(torch.randint(0, bound - size, (1,), generator=generator)) for bound in photos.shape[2:])
        patches.append(photos[index % 2, :, top : top + size, left : left + size])
    return torch.stack(patches).contiguous()


def _train_a_few_steps(model: AutoEncoder, images: Tensor, steps: int = 4) -> AutoEncoder:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for step in range(steps):
        loss = model(images[step * 32 : (step + 1) * 32]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
@pytest.mark.parametrize("bottleneck", ["plain", "sparse", "variational"])
def test_every_built_in_part_trains_at_every_size_and_scores_the_unpadded_region(shape, bottleneck, mnist_test):
    images, padding = _tinted_digits(mnist_test, SHAPES[shape])
    for part, args in PARTS.items():
        model = AutoEncoder(
            encoder=part, decoder=part, bottleneck=bottleneck, input_shape=SHAPES[shape], latent_dim=8, padding=padding, **args
        )
        model = _train_a_few_steps(model, images)
        scores = score_images(model, images[:64])
        assert all(torch.isfinite(values).all() for values in scores.values()), (part, scores)
        with torch.no_grad():
            output = model.reconstruct(images[:64])
        region = (unpad(images[:64].float() / 255, padding) - unpad(output, padding)).square().flatten(1).sum(1)
        assert torch.allclose(scores["squared_error"], region, rtol=1e-5), part
        inside = unpad(images[:64], padding)[0].numel()
        assert torch.allclose(scores["psnr"], 10 * torch.log10(inside / region), rtol=1e-5)
        if padding != [0, 0, 0, 0]:  # the border's error is left out
            whole = (images[:64].float() / 255 - output).square().flatten(1).sum(1)
            assert (whole > region).all()
        assert input_filters(model).shape[1] == SHAPES[shape][0]


@pytest.mark.parametrize("size", [32, 64])
def test_real_colour_photographs_arrive_unpadded_and_are_scored_whole(size, mnist_test):
    photos = _photo_patches(size)
    model = AutoEncoder.from_variant("conv", input_shape=[3, size, size], hidden_dims=[16, 32], latent_dim=32)
    model = _train_a_few_steps(model, photos)
    assert model.config.padding == [0, 0, 0, 0]
    metrics = evaluate(model, photos, torch.full((len(photos),), -1), photos[:64], torch.full((64,), -1))
    with torch.no_grad():
        whole = (photos[:64].float() / 255 - model.reconstruct(photos[:64])).square().flatten(1).sum(1)
    assert metrics["squared_error"] == pytest.approx(whole.mean().item(), rel=1e-5)
    assert all(torch.isfinite(torch.tensor(value)) for value in metrics.values())
    assert "linear_probe_accuracy" not in metrics  # no labels


def test_load_images_at_the_stored_size_records_no_padding(mnist_dir):
    stored = load_images(mnist_dir, "test", size=None)
    assert stored.images.shape[-2:] == (28, 28) and stored.padding == [0, 0, 0, 0]
    assert load_images(mnist_dir, "test", size=40).padding == [6, 6, 6, 6]


def test_a_training_config_imports_the_file_that_registers_its_parts(tmp_path):
    from training.options import parse_args
    from training.preflight import build_model

    (tmp_path / "my_parts.py").write_text(
        "from torch import nn\nfrom autoencoders import Encoder, register\n\n"
        "@register('test-file-encoder')\nclass FileEncoder(Encoder):\n"
        "    def __init__(self, input_shape: list[int], out_features: int, scale: float = 1.0) -> None:\n"
        "        super().__init__()\n        self.linear = nn.Linear(input_shape[0] * input_shape[1] * input_shape[2], out_features)\n"
        "    def forward(self, images):\n        return self.linear(images.flatten(1))\n"
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "variant": "custom",
                "imports": ["my_parts.py"],
                "model": {"encoder": {"name": "test-file-encoder"}, "scale": 2.0, "decoder": "linear", "latent_dim": 5},
            }
        )
    )
    model = build_model(parse_args(["--config", str(config)]))
    assert type(model.encoder).__name__ == "FileEncoder" and model.config.encoder.args["scale"] == 2.0
    config.write_text(yaml.safe_dump({"variant": "custom", "imports": ["no_such_parts_module"], "model": {}}))
    with pytest.raises(SystemExit, match="cannot import 'no_such_parts_module' \\(named in the config's imports\\): ModuleNotFoundError"):
        build_model(parse_args(["--config", str(config)]))
    with pytest.raises(SystemExit, match="--variant custom builds the model that a config's `model:` names: pass --config too"):
        parse_args(["--variant", "custom"])


def test_pca_from_the_gram_matrix_equals_pca_from_the_covariance(mnist_test):
    from autoencoders.metrics import PCA

    wide = mnist_test.images[:300]  # 1024 pixels, 300 images: the Gram path
    tall = wide.flatten(1)[:, :250].reshape(300, 1, 10, 25)  # 250 pixels: the covariance path
    for images in (wide, tall):
        pca = PCA(images, 20)
        flat = images.flatten(1).double() / 255
        _, _, vh = torch.linalg.svd(flat - flat.mean(0), full_matrices=False)
        reference = (flat - flat.mean(0)) @ vh[:20].T @ vh[:20] + flat.mean(0)
        assert torch.allclose(pca.reconstruct(images).flatten(1).double(), reference, atol=1e-4)


def _readme_files() -> dict[str, str]:
    """The files of the README's "Write your own part" and of docs/parts.md: each fenced block after
    `<!-- own-part-example: NAME -->`."""
    text = "".join((REPO / page).read_text(encoding="utf-8") for page in ("README.md", "docs/parts.md"))
    files = {}
    for chunk in text.split("<!-- own-part-example: ")[1:]:
        name, rest = chunk.split(" -->\n", 1)
        body = rest.split("```", 2)[1]
        files[name] = body.split("\n", 1)[1]
    return files


def test_the_readmes_write_your_own_part_section_runs_as_written(tmp_path, mnist_dir, script_env):
    files = _readme_files()
    assert set(files) == {"my_parts.py", "use.py", "my-ae.yaml", "my_bottleneck.py"}
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    used = subprocess.run([sys.executable, "use.py"], cwd=tmp_path, env=script_env, capture_output=True, text=True)
    assert used.returncode == 0, used.stderr
    assert "PartSpec(name='residual-mlp', args={'input_shape': [1, 32, 32], 'out_features': 32, 'width': 128, 'blocks': 2})" in used.stdout
    assert "{'kl': tensor(" in used.stdout and (tmp_path / "my-ae/config.json").exists()
    bottleneck = subprocess.run([sys.executable, "my_bottleneck.py"], cwd=tmp_path, env=script_env, capture_output=True, text=True)
    assert bottleneck.returncode == 0, bottleneck.stderr
    assert "PartSpec(name='bounded', args={'latent_dim': 16, 'bound': 4.0, 'l2_weight': 0.001})" in bottleneck.stdout
    assert "{'l2': tensor(" in bottleneck.stdout
    short = ["--epochs", "1", "--batch_size", "128", "--max_train_samples", "1024", "--max_eval_samples", "200", "--report_to", "none"]
    trained = subprocess.run(
        [sys.executable, str(REPO / "training/train.py"), "--config", "my-ae.yaml", "--dataset", str(mnist_dir), "--output_dir", "out/my-ae", *short],
        cwd=tmp_path, env=script_env, capture_output=True, text=True,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    config = json.loads((tmp_path / "out/my-ae/config.json").read_text())
    assert config["encoder"]["name"] == "residual-mlp" and config["bottleneck"]["args"]["sparsity_penalty"] == "kl"
    assert "Mean activation of the code's sigmoid units" in (tmp_path / "out/my-ae/README.md").read_text()


def _run_example(page: str, marker: str, tmp_path: Path, mnist_dir: Path, env: dict) -> str:
    """Run the python block after `marker` in `page` as a script in `tmp_path`, with the repository's
    relative paths (MNIST, the bundled weights) pointed at where they are; return its output."""
    text = (REPO / page).read_text(encoding="utf-8")
    example = text.split(f"<!-- {marker} -->\n```python\n", 1)[1].split("```", 1)[0]
    example = example.replace('"../shared/data/mnist"', repr(str(mnist_dir))).replace('"demo/weights/', f'"{REPO}/demo/weights/')
    (tmp_path / "example.py").write_text(example)
    result = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env={**env, "HF_TOKEN": ""}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_readmes_use_example_runs_as_written(tmp_path, mnist_dir, script_env):
    output = _run_example("README.md", "use-example", tmp_path, mnist_dir, script_env)
    assert "deep: 2.26 squared error per test digit" in output
    assert AutoEncoder.from_pretrained(tmp_path / "my-deep").config.latent_dim == 16


def test_the_librarys_reference_listing_runs_as_written(tmp_path, mnist_dir, script_env):
    output = _run_example("docs/library.md", "library-example", tmp_path, mnist_dir, script_env)
    assert f"{list(VARIANTS)} [2, 2, 2, 2]" in output
    assert (tmp_path / "my-deep-ae/model.safetensors").exists()


def test_a_card_names_the_dataset_the_model_was_trained_on(tmp_path, mnist_dir):
    from autoencoders.data import dataset_id

    assert dataset_id(mnist_dir) == "ylecun/mnist"  # the canonical files, by checksum
    assert dataset_id("someone/fashion-mnist") == "someone/fashion-mnist"
    (tmp_path / "my-digits").mkdir()
    assert dataset_id(tmp_path / "my-digits") == "my-digits"


def test_the_space_serves_a_model_of_ones_own_parts_and_says_what_does_not_apply():
    from demo.endpoints import Endpoints
    from demo.gallery import load_digits
    from demo.models import LoadedModel

    own = AutoEncoder(
        encoder=ResidualMLP([1, 32, 32], 12), bottleneck="test-tanh", decoder="mlp", latent_dim=12, hidden_dims=[64], padding=[2, 2, 2, 2]
    )
    models = {
        name: LoadedModel(name, AutoEncoder.from_pretrained(REPO / "demo/weights" / name), "bundled") for name in ("deep", "denoising")
    }
    models["own"] = LoadedModel("own", own.eval(), "test")
    endpoints = Endpoints(models, load_digits())  # fits the latent statistics of a model that has none
    digit = endpoints.digits.gallery().images[0]
    sketch = {"background": 255 - digit, "layers": [], "composite": None}
    grid, caption = endpoints.features(sketch, "own")
    assert grid is None and caption == "own: its test-residual-mlp encoder has no first layer of weights to draw."
    seen, output, code, details = endpoints.reconstruct(sketch, "own")
    assert output.shape == (32, 32) and len(code) == 12 and "| own |" in details
    image, _ = endpoints.generate("own", 1.0, -1.0)
    assert image.shape == (32, 32)
    assert endpoints.sample_grid("own").ndim == 2
