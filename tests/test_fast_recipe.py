"""The `ema` training option: a weight average that equals a hand computation, stands in for the
weights at the end of a run, and resumes exactly from a checkpoint; and `mixed_precision` in a config (the fast recipe trains in bf16)."""

import re
import shutil
import subprocess
import sys

import pytest
import torch
from conftest import REPO
from safetensors.torch import load_file

from autoencoders import AutoEncoder
from training.loop import WeightAverage
from training.options import parse_args
from training.train import main


def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))


@pytest.mark.parametrize("every", [1, 2])
def test_the_average_equals_a_hand_computation_with_its_warm_up(every):
    model = tiny_model()
    average = WeightAverage(model, decay=0.9, every=every)
    tensors = lambda: [*model.parameters(), model[1].running_mean, model[1].running_var]  # noqa: E731
    expected = [t.detach().clone() for t in tensors()]
    updates = 0
    for step in range(1, 9):
        with torch.no_grad():
            for t in tensors():
                t.add_(torch.randn_like(t))
        average.update(model, step)
        if step % every == 0:
            updates += 1
            decay = min(0.9**every, (1 + updates) / (10 + updates))
            expected = [decay * e + (1 - decay) * t.detach() for e, t in zip(expected, tensors())]
    assert updates == 8 // every
    live = [t.detach().clone() for t in tensors()]
    assert all(torch.allclose(a, e) for a, e in zip(average.tensors, expected))
    average.swap(model)  # the model now holds the average, the average the live weights
    assert all(torch.allclose(t, e) for t, e in zip(tensors(), expected))
    average.swap(model)
    assert all(torch.equal(t, v) for t, v in zip(tensors(), live))
    assert model[1].num_batches_tracked.dtype == torch.int64  # integer buffers are not averaged


def test_bad_decays_and_a_foreign_saved_average_are_refused():
    with pytest.raises(ValueError, match="0 < decay < 1"):
        WeightAverage(tiny_model(), decay=1.0)
    with pytest.raises(ValueError, match="not this model's tensors"):
        WeightAverage(tiny_model(), decay=0.9).load_state_dict({"weight": torch.zeros(2, 3)})


def test_a_run_with_ema_saves_the_average_and_resumes_it_exactly(train_argv, tmp_path):
    flags = ["--epochs", "2", "--checkpointing_steps", "8", "--ema", "0.9", "--ema_every", "2"]
    main(train_argv("sparse", tmp_path / "a", *flags, "--checkpoints_total_limit", "20"))
    last = tmp_path / "a-checkpoints/checkpoint-32"  # 2 epochs of 2048 images in batches of 128
    saved = AutoEncoder.from_pretrained(tmp_path / "a").state_dict()
    average, live = load_file(last / "weight_average.safetensors"), load_file(last / "model.safetensors")
    trained = [name for name in average if not name.startswith(("latent_", "mixture_"))]  # not the code statistics fitted after training
    assert all(torch.equal(saved[name], average[name]) for name in trained)  # the folder holds the average
    assert not any(torch.equal(average[name], live[name]) for name in trained)  # not the last weights
    assert "running_mean" in " ".join(average)  # batch norm's statistics are averaged too

    (tmp_path / "b-checkpoints").mkdir()
    shutil.copytree(tmp_path / "a-checkpoints/checkpoint-8", tmp_path / "b-checkpoints/checkpoint-8")  # mid-epoch
    main(train_argv("sparse", tmp_path / "b", *flags, "--resume_from_checkpoint", "latest"))
    resumed = AutoEncoder.from_pretrained(tmp_path / "b").state_dict()
    assert all(torch.equal(saved[name], resumed[name]) for name in saved)


def test_resuming_with_ema_from_a_checkpoint_without_an_average_fails_with_what_to_do(train_argv, tmp_path):
    main(train_argv("simple", tmp_path / "a", "--checkpointing_steps", "8"))
    with pytest.raises(SystemExit, match="holds no weight_average.safetensors"):
        main(train_argv("simple", tmp_path / "a", "--ema", "0.9", "--overwrite_output_dir", "--resume_from_checkpoint", "latest"))


def test_a_config_may_set_mixed_precision_and_a_flag_overrides_it(tmp_path):
    config = tmp_path / "fast.yaml"
    config.write_text("variant: deep\nmixed_precision: bf16\n")
    assert parse_args(["--config", str(config)]).mixed_precision == "bf16"
    assert parse_args(["--config", str(config), "--mixed_precision", "no"]).mixed_precision == "no"
    assert parse_args(["--variant", "simple"]).mixed_precision is None  # accelerate's own default
    config.write_text("variant: deep\nmixed_precision: fp8\n")
    with pytest.raises(SystemExit, match="mixed_precision is one of no, fp16, bf16, got 'fp8'"):
        parse_args(["--config", str(config)])


def test_the_fast_recipe_trains_the_30_d_deep_model_on_unpadded_digits_in_bf16_with_an_average(train_argv, tmp_path, script_env):
    config = REPO / "training/configs/deep-fast.yaml"
    args = parse_args(["--config", str(config)])
    assert (args.variant, args.mixed_precision, args.lr_scheduler) == ("deep", "bf16", "cosine") and args.ema > 0
    # its own process: accelerate's state, bf16 here, is fixed for a process once set
    argv = train_argv(
        "deep", tmp_path / "fast", "--config", str(config), "--mixed_precision", args.mixed_precision
    )  # over train_argv's "no"
    result = subprocess.run(
        [sys.executable, "training/train.py", *argv], cwd=REPO, env=script_env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    model = AutoEncoder.from_pretrained(tmp_path / "fast")
    assert (model.config.latent_dim, model.config.input_shape, model.config.padding) == (30, [1, 28, 28], [0, 0, 0, 0])
    card = (tmp_path / "fast/README.md").read_text()
    assert re.search(r"mixed_precision\W+bf16", card) and re.search(r"ema\W+0.998", card), card[-2000:]
