"""training/train.py end to end on real MNIST subsets: every preset, two processes, resume, push, bad flags."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import EVAL_SUBSET, REPO, TRAIN_SUBSET
from huggingface_hub import ModelCard
from PIL import Image

import training.loop as loop
import training.preflight as preflight
import training.train as train_script
from autoencoders import VARIANTS, AutoEncoder
from autoencoders.cards import read_card_metrics
from autoencoders.evaluate import evaluate, score_images
from autoencoders.features import input_filters
from training.checkpoints import list_checkpoints
from training.loop import epoch_batches, lr_schedule
from training.train import main, parameter_digest

REPO_FILES = {"config.json", "model.safetensors", "README.md", "reconstructions.png", "samples.png", "features.png"}


def test_epoch_shards_are_disjoint_identical_on_every_rank_and_drop_only_the_ragged_tail():
    shards = [epoch_batches(1000, 32, seed=3, epoch=5, rank=r, world_size=3, accumulation=2) for r in range(3)]
    assert all(shard.shape == (10, 32) for shard in shards)  # 1000 // (32 x 3 x 2) = 5 optimizer steps of 2 micro-batches
    seen = torch.cat([shard.flatten() for shard in shards])
    assert len(seen.unique()) == len(seen) == 960  # disjoint; 40 images of the tail dropped
    assert torch.equal(shards[1], epoch_batches(1000, 32, seed=3, epoch=5, rank=1, world_size=3, accumulation=2))
    assert not torch.equal(shards[1], epoch_batches(1000, 32, seed=3, epoch=6, rank=1, world_size=3, accumulation=2))
    assert not torch.equal(shards[1], epoch_batches(1000, 32, seed=4, epoch=5, rank=1, world_size=3, accumulation=2))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cosine", [0.25, 0.5, 0.75, 1.0, 1.0, 0.75, 0.25, 0.0]),
        ("linear", [0.25, 0.5, 0.75, 1.0, 1.0, 2 / 3, 1 / 3, 0.0]),
        ("constant_with_warmup", [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0]),
        ("constant", [1.0] * 8),
    ],
)
def test_learning_rate_schedules_warm_up_then_decay_to_zero(name, expected):
    factor = lr_schedule(name, warmup_steps=4, total_steps=7)
    assert [factor(step) for step in (0, 1, 2, 3, 4, 5, 6, 7)] == pytest.approx(expected)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_preset_trains_into_a_hub_folder_whose_card_matches_a_reevaluation(variant, train_argv, tmp_path, mnist_train, mnist_test):
    out = tmp_path / variant
    returned = main(train_argv(variant, out))

    metrics = read_card_metrics(out / "README.md")
    pictures = {"denoising.png"} if variant == "denoising" else set()
    pictures |= {"traversals.png"} if metrics.get("active_units", 0) > 0 else set()  # variational models with an active unit
    pictures |= {"analogies.png"} if "label_guess_accuracy" in metrics else set()  # conditional models
    assert {p.name for p in out.iterdir()} == REPO_FILES | pictures
    assert sorted(p.name for p in tmp_path.iterdir()) == [variant, f"{variant}-checkpoints"]
    model = AutoEncoder.from_pretrained(out)
    assert model.config.variant == variant and bool(model.latent_fitted)
    assert model.sample(4, labels=3 if model.conditional else None).shape == (4, 1, 32, 32)

    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "autoencoders" and card.data.license == "mit"
    assert card.data.datasets == ["ylecun/mnist"] and card.data.pipeline_tag == "image-to-image"
    assert variant in card.data.tags
    assert f"training/train.py --variant {variant} --dataset" in card.text
    assert "![Samples](samples.png)" in card.text and "![Test digits over their reconstructions](reconstructions.png)" in card.text
    assert "(features.png)" in card.text
    features = np.asarray(Image.open(out / "features.png").convert("L"))
    units = min(100, len(input_filters(model)))
    assert features.shape == (2 + -(-units // 10) * 30, 2 + min(units, 10) * 30)  # 28x28 (kernels enlarged), 10 a row
    assert metrics == returned
    train, train_labels = mnist_train[0][:TRAIN_SUBSET], mnist_train[1][:TRAIN_SUBSET]
    test, test_labels = mnist_test[0][:EVAL_SUBSET], mnist_test[1][:EVAL_SUBSET]
    assert metrics == pytest.approx(evaluate(model, train, train_labels, test, test_labels), rel=1e-5)
    expected_keys = {
        "squared_error",
        "bce",
        "psnr",
        "pca_squared_error",
        "psnr_denoised_masking_0.25",
        "psnr_noisy_salt_and_pepper_0.25",
    }
    # A grid of tokens (vq) has no linear probe and no KL (its prior is fitted, not N(0, I)), but its codebook statistics.
    expected_keys |= {"codebook_usage", "perplexity", "prior_nll"} if model.discrete else {"linear_probe_accuracy"}
    assert expected_keys <= set(metrics) and ("kl" in metrics) == (model.has_prior and not model.discrete)
    assert ("linear_probe_accuracy" in metrics) != model.discrete
    assert ("label_guess_accuracy" in metrics) == model.conditional

    torch.manual_seed(0)
    untrained = score_images(AutoEncoder.from_variant(variant), test, labels=test_labels if model.conditional else None)
    untrained = untrained["squared_error"].mean().item()
    assert metrics["squared_error"] < 0.9 * untrained, (metrics["squared_error"], untrained)


def encoder_inputs_of_train_steps(
    variant: str, images: torch.Tensor, batches: torch.Tensor, augment, seed: int | None = None
) -> list[torch.Tensor]:
    """The batches a small `variant` model's encoder sees when `train_steps` trains it on `batches`
    of `images` through `augment` (torch seeded with `seed` right before the steps, when given)."""
    from accelerate import Accelerator

    from training.loop import LossMonitor, build_optimizer, build_scheduler, train_steps

    accelerator = Accelerator(cpu=True)
    model = AutoEncoder.from_variant(variant, hidden_dims=[64], latent_dim=8)
    seen = []
    model.encoder.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach().clone()))
    optimizer = build_optimizer(model, 1e-3, 0.0, accelerator.device)
    scheduler = build_scheduler(optimizer, "constant", 0, 1)
    if seed is not None:
        torch.manual_seed(seed)
    list(train_steps(accelerator, model, optimizer, scheduler, images, batches, LossMonitor(accelerator.device, 0, 1), augment))
    return seen


def test_the_loop_trains_on_warped_batches_when_the_config_asks(mnist_train):
    from functools import partial

    from autoencoders.augment import random_warp

    images, batches = mnist_train[0][:256], torch.arange(256).view(2, 128)
    warp = partial(random_warp, rotation=10, scale=0.1, elastic=0.05)
    seen = encoder_inputs_of_train_steps("deep", images, batches, warp, seed=3)
    torch.manual_seed(3)
    expected = warp(images[:128].float() / 255)
    assert torch.allclose(seen[0], expected, atol=1e-6)
    assert not torch.allclose(seen[0], images[:128].float() / 255, atol=0.05)


def test_binarize_trains_on_binary_draws_of_the_batch_after_the_warp(mnist_train):
    from autoencoders.augment import random_warp
    from training.options import parse_args
    from training.train import batch_transform

    images = mnist_train.images[:128].float() / 255
    assert batch_transform(parse_args(["--variant", "vae"])) is None
    binary = batch_transform(parse_args(["--variant", "vae", "--binarize"]))
    torch.manual_seed(0)
    drawn = binary(images)
    assert set(drawn.unique().tolist()) == {0.0, 1.0} and drawn.dtype == torch.float32
    assert abs(drawn.mean() - images.mean()).item() < 0.01  # each pixel on with probability its intensity
    assert (drawn[images == 0] == 0).all()
    deep = parse_args(["--variant", "deep", "--binarize"])  # deep's config warps its batches
    warped = batch_transform(deep)
    torch.manual_seed(0)
    first = warped(images)
    torch.manual_seed(0)
    assert deep.augment and torch.equal(first, torch.bernoulli(random_warp(images, **deep.augment)))


def test_binarize_draws_every_batch_afresh_in_the_training_loop(mnist_train):
    from training.options import parse_args
    from training.train import batch_transform

    images, batches = mnist_train.images[:128], torch.arange(128).repeat(3, 1)  # the same images at three steps
    binary = batch_transform(parse_args(["--config", str(REPO / "training/configs/vae-binarized.yaml")]))
    seen = encoder_inputs_of_train_steps("vae", images, batches, binary)
    assert len(seen) == 3 and all(set(batch.unique().tolist()) == {0.0, 1.0} for batch in seen)
    assert not torch.equal(seen[0], seen[1]) and not torch.equal(seen[1], seen[2])  # a new draw every step
    intensity = images.float() / 255
    assert (seen[0][intensity == 0] == 0).all() and (seen[0][intensity == 1] == 1).all()
    assert abs(torch.stack(seen).mean() - intensity.mean()).item() < 0.01


def test_augment_until_warps_the_first_epochs_and_trains_the_last_on_clean_images(train_argv, tmp_path, monkeypatch):
    from training.loop import train_steps

    transforms = []

    def recording(*args):
        transforms.append(args[7])  # train_steps' `augment`, once per epoch
        return train_steps(*args)

    monkeypatch.setattr(train_script, "train_steps", recording)
    argv = train_argv("deep", tmp_path / "out", "--epochs", "4", "--augment_until", "0.6", "--max_train_samples", "256")
    main(argv)
    images = torch.rand(4, 1, 32, 32)
    assert [transform is None for transform in transforms] == [False, False, False, True]  # ceil(0.6 x 4) warped epochs
    assert not torch.allclose(transforms[0](images), images, atol=0.05)


@pytest.mark.parametrize("started", [False, True])
def test_subnormals_are_flushed_on_every_thread_when_asked_before_the_thread_pool_starts(started, script_env):
    subnormals = "torch.ones(1 << 20, dtype=torch.int32).view(torch.float32)"  # 1.4e-45 each, split over the threads
    code = (
        f"import torch; from training.loop import flush_denormals; {'torch.ones(1 << 20).mul(2); ' * started}"
        f"print(flush_denormals(), {subnormals}.mul(3.0).count_nonzero().item())"
    )
    env = {**script_env, "OMP_NUM_THREADS": "2"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=True)
    flushed, left = result.stdout.split()
    if started:  # the workers kept their own setting: the function says so instead of pretending
        assert flushed == "False" and int(left) > 0
    else:
        assert flushed == "True" and left == "0"


def test_a_run_on_crowded_cores_gets_a_note_and_a_quiet_or_pinned_one_none(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(os, "getloadavg", lambda: (0.3, 0.0, 0.0))
    assert loop.crowded_cores_note() is None
    monkeypatch.setattr(os, "getloadavg", lambda: (1.6, 0.0, 0.0))  # another job holds a core
    assert "load average is 1.6 on 2 cores" in loop.crowded_cores_note() and "OMP_NUM_THREADS=1" in loop.crowded_cores_note()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user chose: no note
    assert loop.crowded_cores_note() is None


def test_two_processes_train_disjoint_shards_end_with_identical_weights_and_resume_exactly(tmp_path, train_argv, script_env):
    out = tmp_path / "deep"
    accelerate = Path(sys.executable).with_name("accelerate")
    command = [
        str(accelerate),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
    ]

    def launch(output_dir, *flags):
        result = subprocess.run(
            [*command, "training/train.py", *train_argv("deep", output_dir, "--checkpointing_steps", "4", *flags)],
            cwd=REPO, env={**script_env, "ACCELERATE_USE_CPU": "1"}, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        log = result.stdout + result.stderr
        assert result.returncode == 0, log[-3000:]
        return log

    log = launch(out)
    assert "subnormal" not in log  # train.py flushed them on every thread of both ranks

    shards = dict(re.findall(r"\[rank (\d)/2\] epoch 0: 1024 images in 8 micro-batches, first indices \[([\d, ]+)\]", log))
    assert set(shards) == {"0", "1"}, log[-3000:]
    for rank, first in shards.items():
        expected = epoch_batches(TRAIN_SUBSET, 128, seed=0, epoch=0, rank=int(rank), world_size=2)
        assert [int(i) for i in first.split(", ")] == expected[0, :4].tolist()
    assert "trained 8 steps" in log  # 2048 images / (2 processes x 128)

    digests = dict(re.findall(r"\[rank (\d)/2\] final weights sha256 (\w+)", log))
    assert set(digests) == {"0", "1"} and digests["0"] == digests["1"]
    assert parameter_digest(AutoEncoder.from_pretrained(out)) == digests["0"]
    checkpoint = tmp_path / "deep-checkpoints/checkpoint-8"
    assert {"model.safetensors", "optimizer.bin", "random_states_0.pkl", "random_states_1.pkl"} <= {p.name for p in checkpoint.iterdir()}
    card = ModelCard.load(out / "README.md").text
    assert "processes: 2" in card and "ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 training/train.py" in card

    # Both ranks resume from the mid-epoch checkpoint and end exactly where the uninterrupted run did.
    resumed = launch(tmp_path / "resumed", "--resume_from_checkpoint", str(tmp_path / "deep-checkpoints/checkpoint-4"))
    assert "checkpoint-4 at step 4" in resumed
    rest = dict(re.findall(r"\[rank (\d)/2\] epoch 0: 512 images in 4 micro-batches, first indices \[([\d, ]+)\]", resumed))
    assert set(rest) == {"0", "1"}, resumed[-3000:]  # each rank goes on with the second half of its shard
    for rank, first in rest.items():
        expected = epoch_batches(TRAIN_SUBSET, 128, seed=0, epoch=0, rank=int(rank), world_size=2)
        assert [int(i) for i in first.split(", ")] == expected[4, :4].tolist()
    assert dict(re.findall(r"\[rank (\d)/2\] final weights sha256 (\w+)", resumed)) == digests


@pytest.mark.parametrize("tracker", ["tensorboard", "trackio"])
def test_report_to_logs_scalars_and_a_reconstruction_grid(tracker, tmp_path, train_argv, script_env):
    logs, store = tmp_path / "logs", tmp_path / "trackio"
    env = {**script_env, "TRACKIO_DIR": str(store)}
    argv = train_argv("simple", tmp_path / "out", "--report_to", tracker, "--logging_dir", str(logs))
    result = subprocess.run([sys.executable, "training/train.py", *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    if tracker == "tensorboard":
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(next(logs.rglob("events.out.tfevents*")).parent)).Reload()
        images = set(events.Tags()["images"])
        values = {tag: events.Scalars(tag)[-1].value for tag in events.Tags()["scalars"]}
    else:  # trackio's own reader, in a fresh process: it reads TRACKIO_DIR when imported
        code = (
            "import json; from trackio.sqlite_storage import SQLiteStorage as S; p = 'autoencoders-simple'; "
            "print(json.dumps(S.get_logs(p, S.get_runs(p)[0])))"
        )
        read = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
        entries = json.loads(read.stdout.strip().splitlines()[-1])
        values = {name: v for entry in entries for name, v in entry.items() if isinstance(v, float)}
        logged = {name: v for entry in entries for name, v in entry.items() if isinstance(v, dict)}
        images = {name for name, v in logged.items() if v.get("_type") == "trackio.image"}
        assert all((store / "media" / v["file_path"]).is_file() for v in logged.values())
    assert {"train/loss", "train/lr", "val/squared_error", "val/psnr"} <= set(values)
    assert images == {"val/reconstructions"}
    assert 0 < values["val/squared_error"] < 784 and values["train/loss"] > 0


@pytest.mark.parametrize(("variant", "accumulation", "extra"), [("vae", 2, []), ("denoising", 1, []), ("vae", 2, ["--binarize"])])
def test_resume_from_a_mid_epoch_checkpoint_equals_the_uninterrupted_run(variant, accumulation, extra, train_argv, tmp_path, capsys):
    # vae samples its code, denoising corrupts its input and --binarize draws its pixels: all need the random states restored
    flags = ["--epochs", "2", "--checkpointing_steps", "3", "--gradient_accumulation_steps", str(accumulation), *extra]
    first = main(train_argv(variant, tmp_path / "a", *flags, "--checkpoints_total_limit", "20"))
    steps_per_epoch = TRAIN_SUBSET // (128 * accumulation)
    assert 9 % steps_per_epoch != 0  # checkpoint-9 is in the middle of an epoch
    (tmp_path / "b-checkpoints").mkdir()
    shutil.copytree(tmp_path / "a-checkpoints/checkpoint-9", tmp_path / "b-checkpoints/checkpoint-9")
    capsys.readouterr()

    resumed = main(train_argv(variant, tmp_path / "b", *flags, "--resume_from_checkpoint", "latest"))

    assert "resumed from" in capsys.readouterr().out
    assert resumed == first
    a, b = (AutoEncoder.from_pretrained(tmp_path / name).state_dict() for name in ("a", "b"))
    assert all(torch.equal(a[key], b[key]) for key in a)
    card = ModelCard.load(tmp_path / "b/README.md").text
    assert "--resume_from_checkpoint" not in card
    last = 2 * steps_per_epoch
    kept = [p.name for p in list_checkpoints(tmp_path / "b-checkpoints")]
    assert kept == [f"checkpoint-{s}" for s in range(3, last + 1, 3)][-2:]  # the default limit keeps the newest 2
    assert sorted(p.name for p in (tmp_path / "b-checkpoints").iterdir()) == kept  # no staging leftovers


def test_push_uploads_exactly_the_repo_files_in_one_commit(fake_hub, train_argv, tmp_path, capsys):
    hub = fake_hub()
    out = tmp_path / "simple"
    flags = [
        "--push_to_hub",
        "--hub_model_id",
        "someone/ae-simple",
        "--hub_token",
        "hf_test",
        "--hub_private_repo",
        "--checkpointing_steps",
        "4",
    ]
    main(train_argv("simple", out, *flags))

    assert [call[0] for call in hub.calls] == ["create_repo", "create_commit"]
    _, repo_id, kwargs, token = hub.calls[0]
    assert repo_id == "someone/ae-simple" and kwargs["private"] is True and kwargs["exist_ok"] is True and token == "hf_test"
    assert hub.calls[1][2] == sorted(REPO_FILES) == sorted(p.name for p in out.iterdir())
    assert list_checkpoints(tmp_path / "simple-checkpoints")  # there were checkpoints to leave out
    assert "pushed" in capsys.readouterr().out


def test_a_failed_push_keeps_the_folder_and_prints_the_retry_command(fake_hub, train_argv, tmp_path):
    fake_hub(fail=True)
    out = tmp_path / "simple"
    with pytest.raises(SystemExit, match="push to someone/ae-simple failed") as failure:
        main(train_argv("simple", out, "--push_to_hub", "--hub_model_id", "someone/ae-simple", "--hub_token", "hf_test"))

    message = str(failure.value)
    assert "ConnectionError: the Hub is unreachable" in message and "hf_test" not in message
    retry = shlex.split(message.splitlines()[-1])
    assert retry[:5] == ["hf", "upload", "someone/ae-simple", str(out), "."]
    assert [retry[i + 1] for i, arg in enumerate(retry) if arg == "--include"] == ["config.json", "model.safetensors", "README.md", "*.png"]
    assert {p.name for p in out.iterdir()} == REPO_FILES
    AutoEncoder.from_pretrained(out)


@pytest.mark.skipif(not os.environ.get("HF_TOKEN"), reason="opt-in: pushes to the live Hub only with HF_TOKEN set")
def test_live_push_then_load_from_the_hub(tmp_path, train_argv, script_env):
    import uuid

    env = {**script_env, "HF_HUB_OFFLINE": "0"}
    user = subprocess.run(
        [sys.executable, "-c", "from huggingface_hub import whoami; print(whoami()['name'])"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    repo_id = f"{user}/autoencoders-test-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "simple"
    try:
        subprocess.run(
            [
                sys.executable,
                "training/train.py",
                *train_argv("simple", out, "--push_to_hub", "--hub_model_id", repo_id, "--hub_private_repo"),
            ],
            cwd=REPO,
            env=env,
            check=True,
            timeout=600,
        )
        check = f"from autoencoders import AutoEncoder; AutoEncoder.from_pretrained({repo_id!r}); from huggingface_hub import HfApi; print(sorted(HfApi().list_repo_files({repo_id!r})))"
        listed = subprocess.run([sys.executable, "-c", check], cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout
        assert listed.strip() == str(sorted(REPO_FILES | {".gitattributes"}))
    finally:
        subprocess.run(
            [sys.executable, "-c", f"from huggingface_hub import HfApi; HfApi().delete_repo({repo_id!r}, missing_ok=True)"], env=env
        )


def _write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("unknown_variant", "unknown variant 'contractive'; choose one of: simple, deep, denoising, sparse, conv, vae"),
        ("missing_dataset", "cannot load the dataset .*does not exist"),
        ("unwritable_output", "cannot write to .*choose another --output_dir"),
        ("full_disk", "not enough free space"),
        ("smaller_model_input", "images are 1x28x28 but the conv model takes 1x16x16"),
        ("wrong_channels", "images are 1x28x28 but the deep model takes 3x32x32"),
        ("foreign_output_files", "holds \\['notes.txt'\\], which are not model-repo files"),
        ("checkpoints_inside_output", "is inside .*choose separate folders"),
        ("tracker_missing", "pip install tensorboard"),
        ("push_without_token", "--push_to_hub needs a Hub token"),
        ("token_in_config", "tokens do not belong in config files"),
        ("unknown_config_key", "unknown config keys \\['dropout'\\]"),
        ("bad_augment", "augment takes non-negative numbers for rotation, scale, elastic"),
        ("bad_augment_until", "--augment_until is a fraction of the epochs, between 0 and 1, got 1.5"),
        ("missing_checkpoint", "--resume_from_checkpoint: .* is not a complete checkpoint"),
    ],
)
def test_bad_setups_fail_before_training_with_what_to_do(case, words, train_argv, tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(train_script, "train", lambda *args: pytest.fail("training started"))
    argv = train_argv("simple", out)
    if case == "unknown_variant":
        argv[1] = "contractive"
    elif case == "missing_dataset":
        argv[3] = str(tmp_path / "no-such-folder")
    elif case == "unwritable_output":
        argv[5] = str(_write(tmp_path / "a-file", "") / "out")
    elif case == "full_disk":
        monkeypatch.setattr(preflight.shutil, "disk_usage", lambda path: SimpleNamespace(total=10**9, used=10**9, free=1000))
    elif case == "smaller_model_input":
        argv[:2] = ["--config", str(_write(tmp_path / "small.yaml", "variant: conv\nmodel: {image_size: 16}\n"))]
    elif case == "wrong_channels":
        argv[:2] = ["--config", str(_write(tmp_path / "rgb.yaml", "variant: deep\nmodel: {channels: 3}\n"))]
    elif case == "foreign_output_files":
        out.mkdir()
        _write(out / "notes.txt", "keep me")
    elif case == "checkpoints_inside_output":
        argv += ["--checkpoint_dir", str(out / "checkpoints")]
    elif case == "tracker_missing":
        monkeypatch.setitem(sys.modules, "tensorboard", None)
        argv += ["--report_to", "tensorboard"]
    elif case == "push_without_token":
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.setattr(preflight, "get_token", lambda: None)
        argv += ["--push_to_hub"]
    elif case == "token_in_config":
        argv[:2] = ["--config", str(_write(tmp_path / "t.yaml", "variant: simple\nhub_token: hf_secret\n"))]
    elif case == "unknown_config_key":
        argv[:2] = ["--config", str(_write(tmp_path / "d.yaml", "variant: simple\ndropout: 0.1\n"))]
    elif case == "bad_augment":
        argv[:2] = ["--config", str(_write(tmp_path / "a.yaml", "variant: simple\naugment: {blur: 1}\n"))]
    elif case == "bad_augment_until":
        argv += ["--augment_until", "1.5"]
    elif case == "missing_checkpoint":
        argv += ["--resume_from_checkpoint", str(tmp_path / "checkpoint-7")]

    with pytest.raises(SystemExit, match=words):
        main(argv)
    assert not (out.exists() and any(p.name != "notes.txt" for p in out.iterdir()))
    assert not list_checkpoints(tmp_path / "out-checkpoints")


def test_the_command_line_fails_with_a_message_not_a_traceback(script_env):
    result = subprocess.run(
        [sys.executable, "training/train.py", "--variant", "contractive"],
        cwd=REPO,
        env=script_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "train.py: error: unknown variant 'contractive'" in result.stderr and "Traceback" not in result.stderr


def test_a_rerun_into_a_trained_folder_is_refused_unless_asked_and_the_card_names_the_launcher(train_argv, tmp_path):
    out = tmp_path / "simple"
    main(train_argv("simple", out))
    card = (out / "README.md").read_text()
    assert "\npython training/train.py --variant simple" in card  # run in-process, not by accelerate launch
    before = (out / "model.safetensors").read_bytes()
    with pytest.raises(SystemExit, match="already holds a trained model; pass --overwrite_output_dir to replace it"):
        main(train_argv("simple", out, "--seed", "1"))
    assert (out / "model.safetensors").read_bytes() == before
    main(train_argv("simple", out, "--seed", "1", "--overwrite_output_dir"))
    assert (out / "model.safetensors").read_bytes() != before
    assert "--overwrite_output_dir" not in (out / "README.md").read_text()
