"""Keep Gradio's cache folder bounded while the Space serves for hours.

Gradio 6.31's `delete_cache` runs its sweep in a worker thread that iterates the components' sets of
cached files while request threads add to them; under steady load the first `Set changed size
during iteration` ends its `while True` task for good, silently. In a 30-minute soak at 20
requests/s the cache then grew linearly to 182 MB (20,000 files), since nearly every slider-fed call
returns a picture never seen before. The janitor here sweeps the folder itself instead: every
`frequency` seconds it deletes the files whose ctime is older than `age` (a picture that is shown
again has its ctime renewed by `ui.written_once`), removes the folders that empties, and forgets
the deleted paths in the components' sets, which would otherwise grow without end too.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

log = logging.getLogger(__name__)


def sweep(folder: Path, blocks: gr.Blocks, age: float) -> int:
    """Delete the files under `folder` whose ctime is more than `age` seconds old, and the folders
    left empty; forget them in `blocks`' sets of cached files. Returns how many files went."""
    deadline = time.time() - age
    deleted: set[str] = set()
    for root, _, names in os.walk(folder, topdown=False):
        for name in names:
            path = os.path.join(root, name)
            try:
                if os.lstat(path).st_ctime < deadline:
                    os.remove(path)
                    deleted.add(path)
            except FileNotFoundError:
                continue
        if root != str(folder):
            try:
                if os.stat(root).st_mtime < deadline:  # not one a request just made to write into
                    os.rmdir(root)  # only succeeds when empty
            except OSError:
                pass
    if deleted:
        for files in list(blocks.temp_file_sets):
            for path in deleted & files.copy():  # copy(): the set is not iterated while requests add to it
                files.discard(path)
    return len(deleted)


def start_janitor(blocks: gr.Blocks, frequency: float, age: float) -> threading.Thread:
    """A daemon thread that sweeps Gradio's cache folder every `frequency` seconds for as long as
    the process lives (a failed sweep is logged and the next one runs on time)."""
    folder = Path(get_upload_folder())

    def run() -> None:
        while True:
            time.sleep(frequency)
            try:
                sweep(folder, blocks, age)
            except Exception:
                log.exception("sweeping the cache folder %s failed", folder)

    thread = threading.Thread(target=run, name="cache-janitor", daemon=True)
    thread.start()
    return thread
