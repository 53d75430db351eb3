"""Hardening (issue 6), training and loading: a run survives kill -9 and NaNs and loses nothing,
loading never runs code from a file, and the Hub token is never written anywhere."""

import json
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO
from huggingface_hub import ModelCard
from safetensors.torch import load_file, save_file

from autoencoders import AutoEncoder, CheckpointError
from autoencoders.cards import read_card_metrics
from training.checkpoints import latest_checkpoint, list_checkpoints
from training.train import main, parameter_digest


class CodeRunningPickle:
    """Unpickling this creates `marker`: proof that a loader executed code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def write_malicious_pickle(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps(CodeRunningPickle(marker), protocol=2))
    return path


def test_the_malicious_pickle_really_runs_code_when_unpickled(tmp_path):
    marker = tmp_path / "ran"
    pickle.loads(write_malicious_pickle(tmp_path / "evil.pkl", marker).read_bytes())
    assert marker.exists()  # so the tests below, where the marker stays absent, can fail


# ---------------------------------------------------------------------------- loading is safe


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "weights.ckpt"])
def test_a_folder_holding_only_a_pickle_is_refused_without_unpickling(name, tmp_path):
    AutoEncoder.from_variant("simple").save_pretrained(tmp_path / "model")
    (tmp_path / "model/model.safetensors").unlink()
    marker = tmp_path / "ran"
    write_malicious_pickle(tmp_path / "model" / name, marker)
    with pytest.raises(CheckpointError, match=rf"no model.safetensors .*never unpickles.*\['{name}'\]"):
        AutoEncoder.from_pretrained(tmp_path / "model")
    assert not marker.exists()


def test_a_hub_repo_holding_only_a_pickle_is_refused_without_unpickling(tmp_path):
    """A repo as the Hub cache stores it (offline here): config.json and pytorch_model.bin."""
    commit = "0" * 40
    snapshot = tmp_path / "cache/models--someone--pickled/snapshots" / commit
    snapshot.mkdir(parents=True)
    (tmp_path / "cache/models--someone--pickled/refs").mkdir()
    (tmp_path / "cache/models--someone--pickled/refs/main").write_text(commit)
    (snapshot / "config.json").write_text(json.dumps(AutoEncoder.from_variant("simple").config.to_dict()))
    marker = tmp_path / "ran"
    write_malicious_pickle(snapshot / "pytorch_model.bin", marker)
    with pytest.raises(CheckpointError, match=r"someone/pickled: no model.safetensors .*\['pytorch_model.bin'\] and refused them"):
        AutoEncoder.from_pretrained("someone/pickled", cache_dir=tmp_path / "cache")
    assert not marker.exists()


def _truncate(folder):
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _corrupt_header(folder):
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[8:40] = b"\xff" * 32
    weights.write_bytes(bytes(data))


def _edit_config(**changes):
    def edit(folder):
        config = json.loads((folder / "config.json").read_text())
        config.update(changes)
        (folder / "config.json").write_text(json.dumps(config))

    return edit


def _edit_weights(edit_state):
    def edit(folder):
        state = load_file(folder / "model.safetensors")
        edit_state(state)
        save_file(state, folder / "model.safetensors")

    return edit


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (_truncate, r"model.safetensors: not a readable safetensors file"),
        (_corrupt_header, r"model.safetensors: not a readable safetensors file"),
        (lambda f: (f / "config.json").write_text("{not json"), r"config.json: not valid JSON"),
        (_edit_config(latent_dim="20"), r"config.json: config field 'latent_dim' must be int, got '20'"),
        (
            _edit_config(encoder={"name": "mlp", "args": {"hidden_dims": [32, "wide"]}}),
            r"config.json: hidden_dims must be positive ints, got \[32, 'wide'\]",
        ),
        (_edit_config(encoder=5), r"config.json: encoder must be a registered name or \{'name': ..., 'args': \{...\}\}, got 5"),
        (
            _edit_config(decoder={"name": "linear", "args": {"colour": 1}}),
            r"config.json: LinearDecoder: got an unexpected keyword argument 'colour'",
        ),
        (_edit_config(variant="contractive"), r"config.json: unknown variant 'contractive'; choose one of: simple, deep"),
        (_edit_config(dropout=0.1, colour="red"), r"config.json: unknown config keys \['colour', 'dropout'\]"),
        (
            _edit_weights(lambda s: s.update(extra=torch.zeros(3))),
            r"model.safetensors does not match its config.json: unexpected tensors \['extra'\]",
        ),
        (
            _edit_weights(lambda s: s.update({"encoder.1.weight": torch.zeros(20, 1000)})),
            r"model.safetensors does not match .*wrong shapes: encoder.1.weight \[20, 1000\] \(config expects \[20, 1024\]\)",
        ),
    ],
)
def test_a_damaged_model_folder_fails_naming_the_file_and_the_problem(damage, words, tmp_path):
    AutoEncoder.from_variant("simple").save_pretrained(tmp_path)
    damage(tmp_path)
    with pytest.raises(CheckpointError, match=words):
        AutoEncoder.from_pretrained(tmp_path)


# ---------------------------------------------------------------------------- resuming is safe


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, mnist_dir):
    """A short real run of the simple preset with checkpoints every 4 steps."""
    root = tmp_path_factory.mktemp("run")
    argv = [
        "--variant", "simple", "--dataset", str(mnist_dir), "--output_dir", str(root / "out"), "--epochs", "1",
        "--batch_size", "128", "--max_train_samples", "2048", "--max_eval_samples", "500", "--report_to", "none",
        "--checkpointing_steps", "4",
    ]  # fmt: skip
    main(argv)
    return root, argv


def _resume_from_tampered_copy(finished_run, tmp_path, tamper):
    root, argv = finished_run
    checkpoint = tmp_path / "checkpoint-16"
    shutil.copytree(root / "out-checkpoints/checkpoint-16", checkpoint)
    tamper(checkpoint)
    argv = [*argv, "--output_dir", str(tmp_path / "out"), "--resume_from_checkpoint", str(checkpoint)]
    return main(argv)


@pytest.mark.parametrize("name", ["optimizer.bin", "scheduler.bin"])
def test_a_checkpoint_with_a_code_running_pickle_is_refused(name, finished_run, tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(SystemExit, match=r"cannot resume from .*checkpoint-16: UnpicklingError"):
        _resume_from_tampered_copy(finished_run, tmp_path, lambda c: write_malicious_pickle(c / name, marker))
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_a_code_running_random_state_file_is_never_executed(finished_run, tmp_path):
    # accelerate reads random states with weights_only=True and, when that fails, goes on without them
    marker = tmp_path / "ran"
    _resume_from_tampered_copy(finished_run, tmp_path, lambda c: write_malicious_pickle(c / "random_states_0.pkl", marker))
    assert not marker.exists()


def test_a_checkpoint_whose_model_is_a_pickle_is_refused(finished_run, tmp_path):
    marker = tmp_path / "ran"

    def swap_model_for_pickle(checkpoint):
        (checkpoint / "model.safetensors").unlink()
        write_malicious_pickle(checkpoint / "pytorch_model.bin", marker)

    with pytest.raises(SystemExit, match="is not a complete checkpoint of this script .*model.safetensors"):
        _resume_from_tampered_copy(finished_run, tmp_path, swap_model_for_pickle)
    assert not marker.exists()


# ---------------------------------------------------------------------------- training survives faults


def test_a_nan_loss_stops_at_the_step_it_happened_and_keeps_the_last_good_checkpoint(train_argv, tmp_path):
    # an absurd learning rate, ramped up by the warmup, overflows the weights after a few checkpoints
    flags = [
        "--epochs",
        "3",
        "--learning_rate",
        "1e36",
        "--lr_warmup_steps",
        "20",
        "--checkpointing_steps",
        "4",
        "--checkpoints_total_limit",
        "10",
    ]
    stopped = {}
    for log_every in ("50", "1"):  # the loss is read every 50 steps, or after every step
        out = tmp_path / f"every-{log_every}"
        with pytest.raises(SystemExit, match=r"loss became nan or inf at step \d+") as failure:
            main(train_argv("simple", out, *flags, "--log_every", log_every))
        stopped[log_every] = int(failure.value.code.split("at step ")[1].split()[0])
        checkpoints = list_checkpoints(tmp_path / f"every-{log_every}-checkpoints")
        last = checkpoints[-1]
        assert f"Last good checkpoint: {last}" in failure.value.code and "Lower --learning_rate" in failure.value.code
        assert all(int(c.name.split("-")[1]) < stopped[log_every] for c in checkpoints)
        assert all(torch.isfinite(t).all() for t in load_file(last / "model.safetensors").values())
        assert not out.exists()
    assert stopped["50"] == stopped["1"] > 4  # the same step, named exactly without reading the loss every step


def test_the_token_never_appears_in_any_file_or_log_of_a_run(fake_hub, monkeypatch, train_argv, tmp_path, capfd):
    token = "hf_FakeTokenForTheLeakTest0123456789"
    monkeypatch.setenv("HF_TOKEN", token)
    hub = fake_hub()
    flags = [
        "--report_to",
        "tensorboard",
        "--checkpointing_steps",
        "4",
        "--push_to_hub",
        "--hub_token",
        token,
        "--hub_model_id",
        "someone/simple",
    ]
    main(train_argv("simple", tmp_path / "out", *flags))

    assert hub.calls[-1][3] == token  # the token was used, for the push only
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    names = {p.name for p in written}
    assert {"README.md", "training_state.json", "optimizer.bin", "random_states_0.pkl", "hparams.yml"} <= names
    assert any(name.startswith("events.out.tfevents") for name in names)
    leaked = [str(p) for p in written if token.encode() in p.read_bytes()]
    assert leaked == []
    captured = capfd.readouterr()
    assert token not in captured.out and token not in captured.err
    assert "--hub_token" not in ModelCard.load(tmp_path / "out/README.md").text


def _start(argv, env, log, patch=""):
    """The training script in a subprocess writing to the file `log`, with `patch` (Python) run first."""
    code = f"import os, signal, sys\n{patch}\nfrom training.train import main\nmain(sys.argv[1:])\n"
    with open(log, "w") as output:
        return subprocess.Popen([sys.executable, "-c", code, *argv], cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)


def test_kill_9_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path, mnist_dir, script_env, capsys):
    def argv(out, *extra):
        return [
            "--variant", "deep", "--dataset", str(mnist_dir), "--output_dir", str(out), "--epochs", "2",
            "--batch_size", "32", "--max_train_samples", "2048", "--max_eval_samples", "500", "--report_to", "none",
            "--lr_warmup_steps", "10", "--checkpointing_steps", "20", *extra,
            "--mixed_precision", "no",  # as conftest's train_argv: one AcceleratorState per test process, deep.yaml asks bf16
        ]  # fmt: skip

    uninterrupted = main(argv(tmp_path / "reference"))

    run = _start(argv(tmp_path / "out"), script_env, tmp_path / "log")
    deadline = time.monotonic() + 120
    while not (tmp_path / "out-checkpoints/checkpoint-20").exists():
        assert run.poll() is None, (tmp_path / "log").read_text()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL and not (tmp_path / "out").exists()
    step = int(latest_checkpoint(tmp_path / "out-checkpoints").name.split("-")[1])
    assert step % 64 != 0  # 2048 images / batch 32: the kill came in the middle of an epoch

    capsys.readouterr()
    resumed = main(argv(tmp_path / "out", "--resume_from_checkpoint", "latest"))
    assert f"resumed from {tmp_path / 'out-checkpoints'}/checkpoint-{step} at step {step}" in capsys.readouterr().out
    metrics = read_card_metrics(tmp_path / "out/README.md")
    assert metrics == resumed and metrics.keys() == uninterrupted.keys()
    for name, value in uninterrupted.items():
        assert metrics[name] == pytest.approx(value, rel=0.01), name


DIE_DURING_SECOND_CHECKPOINT = """
import accelerate.checkpointing as checkpointing
save, saved = checkpointing.save, []
def dying_save(obj, path, *args, **kwargs):
    if str(path).endswith("optimizer.bin"):
        saved.append(path)
        if len(saved) == 2:  # the model of checkpoint-8 is written, its optimizer half-written
            open(path, "wb").write(b"half an optimizer")
            os.kill(os.getpid(), signal.SIGKILL)
    return save(obj, path, *args, **kwargs)
checkpointing.save = dying_save
"""

DIE_DURING_THE_MODEL_FOLDER = """
import safetensors.torch
def dying_save_model(model, filename, *args, **kwargs):
    open(filename, "wb").write(b"half a model")
    os.kill(os.getpid(), signal.SIGKILL)
safetensors.torch.save_model = dying_save_model
"""


def test_a_kill_during_a_checkpoint_save_leaves_the_previous_checkpoint_usable(tmp_path, train_argv, script_env):
    argv = train_argv("simple", tmp_path / "out", "--checkpointing_steps", "4")
    run = _start(argv, script_env, tmp_path / "log", DIE_DURING_SECOND_CHECKPOINT)
    assert run.wait(timeout=300) == -signal.SIGKILL, (tmp_path / "log").read_text()[-3000:]
    checkpoints = tmp_path / "out-checkpoints"
    assert (checkpoints / ".checkpoint-8.tmp/optimizer.bin").read_bytes() == b"half an optimizer"
    assert [p.name for p in list_checkpoints(checkpoints)] == ["checkpoint-4"]

    main([*argv, "--resume_from_checkpoint", "latest"])
    assert AutoEncoder.from_pretrained(tmp_path / "out").config.variant == "simple"
    assert [p.name for p in list_checkpoints(checkpoints)] == ["checkpoint-12", "checkpoint-16"]
    assert not (checkpoints / ".checkpoint-8.tmp").exists()


def test_a_kill_while_writing_the_model_folder_leaves_the_previous_model(tmp_path, train_argv, script_env):
    previous = AutoEncoder.from_variant("simple")
    previous.save_pretrained(tmp_path / "out")
    run = _start(
        train_argv("simple", tmp_path / "out", "--overwrite_output_dir"), script_env, tmp_path / "log", DIE_DURING_THE_MODEL_FOLDER
    )
    assert run.wait(timeout=300) == -signal.SIGKILL, (tmp_path / "log").read_text()[-3000:]
    assert (tmp_path / ".out.tmp/model.safetensors").read_bytes() == b"half a model"
    assert parameter_digest(AutoEncoder.from_pretrained(tmp_path / "out")) == parameter_digest(previous)
