"""Soak: the Space under a steady mixed load for a long time, watching its memory and its cache.

Starts `python app.py` with its own Gradio cache folder, then sends `--rate` requests per second
(paced, not as fast as possible) round the six endpoints from `--workers` clients, for `--minutes`:
half of them take the page's direct route (`POST /run/<name>`), half Gradio's queued HTTP API
(`/call/<name>` and its event stream, as `gradio_client` does). Every `--every` seconds it records the server's
resident memory (VmRSS of the process) and the size of the cache folder (uploaded sketches and
output pictures). After the warm-up (`--warmup` seconds: first calls, caches, allocator arenas) the
memory may grow by at most `MAX_GROWTH_MB`, and the run must end with 0 errors; the script exits
non-zero otherwise. Results, with the memory curve, go to `benchmarks/results/soak.json`.

    python benchmarks/soak.py [--minutes 30] [--rate 20] [--workers 8] [--warmup 120]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.space_latency import ENDPOINTS, DirectCaller, HttpCaller, arguments, free_port, machine, start_space, write_sketches  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "soak.json"
MAX_GROWTH_MB = 50.0


def resident_mb(pid: int) -> float:
    """Resident memory of process `pid` in MB (Linux: VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def folder_mb(folder: Path) -> tuple[float, int]:
    """(size in MB, number of files) of everything under `folder`."""
    sizes = [path.stat().st_size for path in folder.rglob("*") if path.is_file()]
    return sum(sizes) / 1e6, len(sizes)


def soak(url: str, pid: int, cache: Path, args: argparse.Namespace, sketches: list[Any]) -> dict[str, Any]:
    """Paced calls from `args.workers` clients for `args.minutes`, sampling memory and cache size."""
    seconds = args.minutes * 60
    callers = [(DirectCaller if index % 2 else HttpCaller)(url) for index in range(args.workers)]
    for endpoint in ENDPOINTS:  # first calls of each endpoint, before the clock starts
        callers[0](endpoint, arguments(endpoint, sketches, np.random.default_rng(0)))
    tickets, lock, done = itertools.count(), threading.Lock(), threading.Event()
    latencies: list[float] = []
    errors: list[str] = []
    curve: list[dict[str, float]] = []
    start = time.perf_counter()

    def work(index: int) -> None:
        rng = np.random.default_rng(index + 1)
        while True:
            with lock:
                ticket = next(tickets)
            due = start + ticket / args.rate
            if due - start >= seconds:
                return
            time.sleep(max(0.0, due - time.perf_counter()))
            endpoint = ENDPOINTS[ticket % len(ENDPOINTS)]
            began = time.perf_counter()
            try:
                callers[index](endpoint, arguments(endpoint, sketches, rng))
            except Exception as err:
                with lock:
                    errors.append(f"{endpoint}: {type(err).__name__}: {str(err)[:200]}")
                continue
            with lock:
                latencies.append(time.perf_counter() - began)

    def sample() -> None:
        while True:
            cache_mb, files = folder_mb(cache)
            curve.append(
                {
                    "s": round(time.perf_counter() - start, 1),
                    "rss_mb": round(resident_mb(pid), 1),
                    "cache_mb": round(cache_mb, 2),
                    "cache_files": files,
                    "calls": len(latencies) + len(errors),
                }
            )
            if done.wait(args.every):
                return

    sampler = threading.Thread(target=sample)
    sampler.start()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(args.workers)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    after_warmup = [point for point in curve if point["s"] >= args.warmup] or curve[-1:]
    baseline = after_warmup[0]
    return {
        "minutes": args.minutes,
        "target_rate": args.rate,
        "workers": args.workers,
        "warmup_s": args.warmup,
        "calls": len(latencies) + len(errors),
        "calls_per_s": round((len(latencies) + len(errors)) / wall, 2),
        "errors": len(errors),
        "error_samples": errors[:5],
        "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1),
        "p95_ms": round(float(np.percentile(latencies, 95)) * 1000, 1),
        "rss_after_warmup_mb": baseline["rss_mb"],
        "rss_end_mb": curve[-1]["rss_mb"],
        "rss_growth_mb": round(max(point["rss_mb"] for point in after_warmup) - baseline["rss_mb"], 1),
        "cache_after_warmup_mb": baseline["cache_mb"],
        "cache_end_mb": curve[-1]["cache_mb"],
        "cache_max_files": max(point["cache_files"] for point in curve),
        "curve": curve,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=20, help="requests per second, paced")
    parser.add_argument("--workers", type=int, default=8, help="concurrent clients")
    parser.add_argument("--warmup", type=float, default=120, help="seconds before memory growth is counted")
    parser.add_argument("--every", type=float, default=10, help="seconds between memory samples")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder) / "gradio-cache"
        cache.mkdir()
        port = free_port()
        process, cold_start = start_space(port, env={"GRADIO_TEMP_DIR": str(cache)})
        url = f"http://127.0.0.1:{port}/"
        try:
            sketches = write_sketches(Path(folder))
            results = soak(url, process.pid, cache, args, sketches)
        finally:
            process.terminate()
            process.wait(timeout=30)
    results = {"machine": machine(load_at_start), "cold_start_s": round(cold_start, 2), **results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"{results['calls']} calls in {args.minutes} min ({results['calls_per_s']}/s), {results['errors']} errors, "
        f"p95 {results['p95_ms']} ms; memory {results['rss_after_warmup_mb']} -> {results['rss_end_mb']} MB "
        f"(growth after warm-up {results['rss_growth_mb']} MB); cache {results['cache_after_warmup_mb']} -> "
        f"{results['cache_end_mb']} MB, at most {results['cache_max_files']} files"
    )
    problems = [f"{results['errors']} errors: {results['error_samples']}"] if results["errors"] else []
    if results["rss_growth_mb"] > MAX_GROWTH_MB:
        problems.append(f"memory grew {results['rss_growth_mb']} MB after warm-up (at most {MAX_GROWTH_MB})")
    if problems:
        sys.exit("; ".join(problems))


if __name__ == "__main__":
    main()
