"""Every notebook in notebooks/ runs top to bottom on the real MNIST, in a fresh `python3` kernel.

Each is executed with the notebooks folder as its working directory (where its relative paths to the
repository, the bundled weights and ../../shared/data/mnist hold), in memory: the committed file is not
touched. A cell that raises fails the test, and so does a cell that runs past CELL_TIMEOUT.

To refresh the committed outputs after editing a notebook, run with NOTEBOOKS_WRITE=1: each notebook
that runs through is saved with its new outputs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbclient
import nbformat
import pytest
from conftest import find_mnist
from torch._inductor.runtime.cache_dir_utils import cache_dir

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
CELL_TIMEOUT = 300  # seconds; a whole notebook is meant to take 1-3 minutes on 2 CPU cores
MNIST = find_mnist()


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda path: path.stem)
def test_notebook_runs_top_to_bottom(path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The kernel inherits this environment: the real MNIST, no Hub, threads that yield the cores, and
    # a temporary folder of its own, which the notebook must leave as it found it (torch's compile
    # cache stays where it always is, warm).
    for name, value in {
        "TMPDIR": str(tmp_path),
        "TORCHINDUCTOR_CACHE_DIR": os.environ.get("TORCHINDUCTOR_CACHE_DIR", cache_dir()),
        "AUTOENCODERS_MNIST": str(MNIST),
        "HF_HUB_OFFLINE": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HF_TOKEN", raising=False)  # the push cell must take its offline path
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}, record_timing=False
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    print(f"{path.name}: {time.perf_counter() - start:.0f} s")
    errors = [output for cell in notebook.cells for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    assert not errors
    assert not list(tmp_path.iterdir()), "the notebook left temporary files behind"
    if os.environ.get("NOTEBOOKS_WRITE") == "1":
        nbformat.write(notebook, path)


def test_the_setup_cell_clones_the_repository_when_the_notebook_is_opened_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook opened outside the repository (Colab, a downloaded file) clones it from
    AUTOENCODERS_REPO_URL beside itself and imports the library from the clone, not an installed copy."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: nothing to clone")
    monkeypatch.setenv("AUTOENCODERS_REPO_URL", REPO.as_uri())
    monkeypatch.setenv("AUTOENCODERS_MNIST", str(MNIST))
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    setup = nbformat.read(NOTEBOOKS / "01_simple_and_deep.ipynb", as_version=4).cells[1]
    check = nbformat.v4.new_code_cell(
        "import autoencoders\n"
        "assert REPO == Path('autoencoders-repo').resolve(), REPO\n"
        "assert Path(autoencoders.__file__).resolve().is_relative_to(REPO), autoencoders.__file__\n"
        "assert (WEIGHTS / 'deep' / 'model.safetensors').is_file()\n"
        "assert MNIST == os.environ['AUTOENCODERS_MNIST']"
    )
    notebook = nbformat.v4.new_notebook(cells=[setup, check])
    nbclient.NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    assert (tmp_path / "autoencoders-repo" / "notebooks").is_dir()
