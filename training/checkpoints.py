"""Training checkpoints: `accelerator.save_state` (model.safetensors, optimizer.bin, scheduler.bin,
random_states_<rank>.pkl) plus our own `training_state.json` and, for a run that averages its
weights, `weight_average.safetensors`, written atomically into
`<checkpoint_dir>/checkpoint-<step>`; the oldest are removed beyond a limit.

A checkpoint folder exists only once it is complete (it is renamed into place after every file is
flushed), so `latest` is simply the highest step. Our code never unpickles anything: accelerate's
`load_state` reads optimizer.bin, scheduler.bin and the random states with `torch.load(weights_only=True)`,
which refuses any pickle that would build an arbitrary object.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
from pathlib import Path
from typing import Any

from accelerate import Accelerator
from safetensors.torch import load_file, save_file
from torch import Tensor

from training.atomic import commit_dir, fresh_staging, staging_path

PROGRESS_NAME = "training_state.json"
MODEL_NAME = "model.safetensors"
AVERAGE_NAME = "weight_average.safetensors"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints in `folder`, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CHECKPOINT.match(p.name)) and p.is_dir()]
    return [path for _, path in sorted(found)]


def latest_checkpoint(folder: Path) -> Path | None:
    checkpoints = list_checkpoints(folder)
    return checkpoints[-1] if checkpoints else None


def save_checkpoint(
    accelerator: Accelerator,
    folder: Path,
    step: int,
    progress: dict[str, Any],
    limit: int | None,
    average: dict[str, Tensor] | None = None,
) -> Path:
    """Save the full training state at `step` atomically, with the weight `average` when there is one;
    every process must call this."""
    target = folder / f"checkpoint-{step}"
    staging = staging_path(target)
    if accelerator.is_main_process:
        fresh_staging(target)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (staging / PROGRESS_NAME).write_text(json.dumps(progress, indent=2, sort_keys=True) + "\n")
        if average is not None:
            save_file(average, str(staging / AVERAGE_NAME))
        commit_dir(staging, target)
        if limit is not None:
            for old in list_checkpoints(folder)[:-limit]:
                doomed = old.with_name(f".{old.name}.old")  # renamed first: never a half-deleted checkpoint-N
                os.rename(old, doomed)
                shutil.rmtree(doomed)
    accelerator.wait_for_everyone()
    return target


def read_progress(checkpoint: Path) -> dict[str, Any]:
    """The `training_state.json` of a checkpoint, checking that the folder is one of ours."""
    progress_file = checkpoint / PROGRESS_NAME
    if not checkpoint.is_dir() or not progress_file.is_file() or not (checkpoint / MODEL_NAME).is_file():
        raise ValueError(f"{checkpoint} is not a complete checkpoint of this script (it needs {PROGRESS_NAME} and {MODEL_NAME})")
    return json.loads(progress_file.read_text())


def load_checkpoint(accelerator: Accelerator, checkpoint: Path) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and random states from `checkpoint`; return its progress."""
    progress = read_progress(checkpoint)
    if not (checkpoint / f"random_states_{accelerator.process_index}.pkl").is_file():
        print(
            f"warning: {checkpoint} has no random states for process {accelerator.process_index}: "
            "the resumed run will not repeat the original one exactly",
            flush=True,
        )
    try:
        accelerator.load_state(str(checkpoint))
    except (pickle.UnpicklingError, RuntimeError, OSError, ValueError, KeyError) as err:
        raise ValueError(f"cannot resume from {checkpoint}: {type(err).__name__}: {err}") from err
    return progress


def load_average(checkpoint: Path) -> dict[str, Tensor]:
    """The weight average saved in `checkpoint` (a run with `ema`)."""
    path = checkpoint / AVERAGE_NAME
    if not path.is_file():
        raise ValueError(f"cannot resume from {checkpoint}: it holds no {AVERAGE_NAME} (saved by a run without ema)")
    return load_file(str(path))
