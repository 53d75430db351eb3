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

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CELL_TIMEOUT = 300  # seconds; a whole notebook is meant to take 1-3 minutes on 2 CPU cores
MNIST = Path(os.environ.get("AUTOENCODERS_MNIST", NOTEBOOKS.parents[1] / "shared" / "data" / "mnist"))


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda path: path.stem)
def test_notebook_runs_top_to_bottom(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not MNIST.is_dir():
        pytest.skip(f"no MNIST IDX folder at {MNIST} (set AUTOENCODERS_MNIST)")
    # The kernel inherits this environment: the real MNIST, no Hub, threads that yield the cores.
    for name, value in {"AUTOENCODERS_MNIST": str(MNIST), "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE",
                        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}.items():
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
    if os.environ.get("NOTEBOOKS_WRITE") == "1":
        nbformat.write(notebook, path)
