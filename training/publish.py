"""The output folder holds exactly a Hub model repo, and only that goes to the Hub.

`--output_dir` receives config.json, model.safetensors, README.md (the model card) and the card's
PNGs, written atomically. `push_folder` uploads exactly those files in one commit; checkpoints and
logs live elsewhere and could not be uploaded by mistake.
"""

from __future__ import annotations

import shlex
from fnmatch import fnmatch
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi

REPO_PATTERNS = ("config.json", "model.safetensors", "README.md", "*.png")


def is_repo_file(name: str) -> bool:
    return any(fnmatch(name, pattern) for pattern in REPO_PATTERNS)


def repo_files(folder: Path) -> list[Path]:
    """The files of `folder` that belong in the Hub repo, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and is_repo_file(p.name))


def push_folder(folder: Path, repo_id: str, *, token: str, private: bool) -> str:
    """Create the repo if needed and upload the repo files of `folder` in one commit; return its URL."""
    api = HfApi(token=token)
    repo = api.create_repo(repo_id, private=private, exist_ok=True)
    operations = [CommitOperationAdd(path_in_repo=p.name, path_or_fileobj=str(p)) for p in repo_files(folder)]
    commit = api.create_commit(repo.repo_id, operations=operations, commit_message=f"Upload {folder.name} trained with autoencoders")
    return commit.commit_url


def retry_command(folder: Path, repo_id: str, private: bool) -> str:
    """The `hf upload` command that uploads the same files (the token comes from HF_TOKEN or `hf auth login`)."""
    includes = " ".join(f"--include {shlex.quote(pattern)}" for pattern in REPO_PATTERNS)
    private_flag = " --private" if private else ""
    return f"hf upload {shlex.quote(repo_id)} {shlex.quote(str(folder))} . {includes}{private_flag}"
