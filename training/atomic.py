"""Write a folder so that a reader (or a resume after `kill -9`) sees either the old one or the new
one, never half of one: fill a staging folder beside the target, flush it to disk, rename it into place."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def staging_path(target: Path) -> Path:
    """The staging folder for `target`: a hidden sibling on the same filesystem, so the final
    rename is atomic. Every process of a run computes the same path."""
    return target.parent / f".{target.name}.tmp"


def fresh_staging(target: Path) -> Path:
    """An empty staging folder for `target` (leftovers of a killed run are removed)."""
    staging = staging_path(target)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def commit_dir(staging: Path, target: Path) -> None:
    """Flush `staging` to disk and rename it to `target`, replacing an existing `target`.

    A kill before the rename leaves `target` as it was; the old folder is moved aside first
    because a rename cannot replace a non-empty folder, and is removed only after the new one is
    in place.
    """
    for path in staging.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    previous = target.parent / f".{target.name}.old"
    if previous.exists() and not target.exists():  # a kill between the two renames below
        os.rename(previous, target)
    shutil.rmtree(previous, ignore_errors=True)
    if target.exists():
        os.rename(target, previous)
    os.rename(staging, target)
    _fsync_dir(target.parent)
    shutil.rmtree(previous, ignore_errors=True)


def _fsync_dir(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
