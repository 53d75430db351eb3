"""A short soak of the served Space (the 30-minute one is `python benchmarks/soak.py`): paced mixed
requests through the page's direct route and the queued HTTP API, no errors, memory flat after warm-up, the cache folder bounded."""

import json
import subprocess
import sys

from conftest import REPO


def test_a_short_soak_ends_without_errors_with_flat_memory_and_a_bounded_cache(tmp_path, script_env):
    out = tmp_path / "soak.json"
    env = {**script_env, "AUTOENCODERS_CACHE_MINUTES": "0.25"}  # 15 s: the cache must stop growing within the run
    command = [sys.executable, "benchmarks/soak.py", "--minutes", "1", "--warmup", "15", "--every", "3", "--out", str(out)]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]  # 0 errors, memory growth <= 50 MB
    report = json.loads(out.read_text())
    assert report["errors"] == 0 and report["calls"] > 200
    curve = report["curve"]
    early = max(point["cache_files"] for point in curve if 15 <= point["s"] < 35)
    late = max(point["cache_files"] for point in curve if point["s"] >= 40)
    assert late <= 1.3 * early, curve  # files older than 15 s are deleted: the cache does not keep growing
    assert any(b["cache_files"] < a["cache_files"] for a, b in zip(curve, curve[1:])), curve  # deletions happened


def test_the_janitor_deletes_old_cached_files_and_forgets_them_keeping_new_ones(tmp_path):
    import time
    from types import SimpleNamespace

    from demo.cache import sweep

    old = tmp_path / "aaa" / "image.png"
    old.parent.mkdir()
    old.write_bytes(b"old picture")
    time.sleep(1.2)
    new = tmp_path / "bbb" / "image.png"
    new.parent.mkdir()
    new.write_bytes(b"new picture")
    registered = {str(old), str(new)}
    blocks = SimpleNamespace(temp_file_sets=[registered])
    assert sweep(tmp_path, blocks, age=1.0) == 1
    assert not old.exists() and new.exists() and registered == {str(new)}
    time.sleep(1.2)  # a folder goes once it has been empty for the age (a request may be about to write into a new one)
    new.touch()
    assert sweep(tmp_path, blocks, age=1.0) == 0
    assert not old.parent.exists() and new.exists()
