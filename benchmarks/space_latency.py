"""Space latency: cold start, then N concurrent clients calling every endpoint, p50/p95 per endpoint.

Starts `python app.py` as a subprocess and times it from process start to the first HTTP 200 (all
six models are loaded before the server starts listening). Then, for each N in `--clients`, N
threads each drive their own client and make `max(--calls, 100 // N)` calls, going round the six
endpoints with real MNIST digits rendered as sketches (uploaded on every call, as the browser does
on every stroke). N = 50 with 20 calls each is the load test of the hardening issue: it must end
with 0 errors. Before those calls the N clients *arrive*: each makes its first call (a new
connection, a new session on the server), all at the same instant. That burst is reported apart
(`arrival`), as the worst case of visitors arriving; the calls/s and the p50/p95 per endpoint are
those of the load that follows, N clients each calling again as soon as it has its answer. (Counted
together, the arrival was the whole tail: at 50 clients the 50 slowest of 1000 calls all started in
the first 0.8 s.) Three kinds of client are measured:

- `gradio_client`: `Client.predict`, what Python scripts use. It polls for results every 50 ms, so
  no call through it completes in under ~50 ms however fast the server is.
- `http`: Gradio's documented HTTP API (`POST /gradio_api/call/<name>`, then read the server-sent
  events as they are pushed): the queued route, which `gradio_client` also takes.
- `direct`: `POST /gradio_api/run/<name>`, answered with the outputs in the same response: the route
  the Space's own page takes, since its model events skip the queue (demo/ui.py `POOL`).

Each run also reports the CPU time the Space's process and the clients spent per call: on a shared
machine the latencies move with the neighbours' load, while the server's CPU per call (6 to 18 ms;
where it goes, about a third Gradio's serving and two thirds the calls' own work: docs/space.md)
says what a change saved. The Space is one process whose Python runs on one core at a time, so its
calls/s stay near 1000 / (server ms per call): a little above, since PNG decoding, zlib and the models'
arithmetic let go of the interpreter lock.

Latency is measured until the client holds the result (output images as URLs; fetching a 32x32
PNG is a further ~1 ms on loopback). Clients run on the same machine as the Space, so at N = 50
they compete with it for the CPU. Results go to `benchmarks/results/space_latency.json`.

    python benchmarks/space_latency.py [--clients 1 10 50] [--calls 20] [--kinds gradio_client http direct]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from demo.gallery import load_digits  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "space_latency.json"
ENDPOINTS = ("reconstruct", "denoise", "generate", "interpolate", "latent_map", "features")
KINDS = ("gradio_client", "http", "direct")
MIN_CALLS = 100  # calls per run at least, so that a single client still gives ~20 per endpoint
TIMEOUT = 60  # seconds a client waits for an HTTP answer (httpx's 5 s default fails on a saturated 2-core box)


@dataclass(frozen=True)
class Sketch:
    """A sketch argument: a stroke layer saved as PNG, uploaded by the client on every call."""

    path: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_space(port: int, timeout: float = 120, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, float]:
    """`python app.py` on `port` (with `env` added to this process's environment); returns the
    process and its cold start in seconds."""
    env = os.environ | {"GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "OMP_WAIT_POLICY": "PASSIVE"} | (env or {})
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=subprocess.DEVNULL)
    while time.perf_counter() - start < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode} before serving")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                return process, time.perf_counter() - start
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise TimeoutError(f"app.py did not serve within {timeout} s")


def write_sketches(folder: Path, count: int = 10) -> list[Sketch]:
    """Real MNIST test digits from the bundled gallery, drawn as the sketchpad sends strokes."""
    digits = load_digits().gallery()
    sketches = []
    for i in range(count):
        alpha = Image.fromarray(digits.images[i * 3 % len(digits.images)]).resize((280, 280), Image.Resampling.BILINEAR)
        rgba = np.zeros((280, 280, 4), np.uint8)
        rgba[..., 3] = np.asarray(alpha)
        path = folder / f"sketch{i}.png"
        Image.fromarray(rgba).save(path)
        sketches.append(Sketch(str(path)))
    return sketches


def arguments(endpoint: str, sketches: list[Sketch], rng: np.random.Generator) -> list[Any]:
    """Realistic arguments for one call of `endpoint`."""
    a, b = (sketches[i] for i in rng.choice(len(sketches), 2, replace=False))
    if endpoint == "reconstruct":
        return [a, "deep", "guess"]  # the digit control (cvae's label); raw HTTP sends every input
    if endpoint == "denoise":
        return [a, "masking", round(float(rng.uniform(0, 1)), 2)]
    if endpoint == "generate":
        return ["vae", *np.round(rng.uniform(-3, 3, 8), 1).tolist(), None]
    if endpoint == "interpolate":
        return [a, b, "vae", 8, "guess"]
    if endpoint == "features":
        return [a, "deep"]
    return ["deep", *np.round(rng.uniform(-3, 3, 2), 2).tolist()]


class GradioClientCaller:
    """One `gradio_client.Client`; output files are not downloaded."""

    def __init__(self, url: str) -> None:
        from gradio_client import Client

        self.client = Client(url, verbose=False, download_files=False, httpx_kwargs={"timeout": TIMEOUT})

    def close(self) -> None:
        """Stop the client's heartbeat stream, which would otherwise load the server in later runs."""
        self.client.close()

    def __call__(self, endpoint: str, args: list[Any]) -> None:
        from gradio_client import handle_file

        def convert(value: Any) -> Any:
            if isinstance(value, Sketch):
                return {"background": None, "layers": [handle_file(value.path)], "composite": None}
            return value

        self.client.predict(*map(convert, args), api_name=f"/{endpoint}")


class HttpCaller:
    """Gradio's HTTP API: upload the sketch, join the queue, read the pushed events. One session
    per caller, like a browser tab (a new session per call would make Gradio copy the config of
    every component of the page for each call)."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=f"{url.rstrip('/')}/gradio_api", timeout=TIMEOUT)
        self.session = uuid.uuid4().hex

    def close(self) -> None:
        self.http.close()

    def upload(self, sketch: Sketch) -> dict[str, Any]:
        with open(sketch.path, "rb") as file:
            response = self.http.post("/upload", files={"files": (Path(sketch.path).name, file, "image/png")})
        response.raise_for_status()
        layer = {"path": response.json()[0], "meta": {"_type": "gradio.FileData"}}
        return {"background": None, "layers": [layer], "composite": None}

    def body(self, args: list[Any]) -> dict[str, Any]:
        """The JSON body of a call with `args`, each sketch uploaded first, in this caller's session."""
        return {"data": [self.upload(a) if isinstance(a, Sketch) else a for a in args], "session_hash": self.session}

    def __call__(self, endpoint: str, args: list[Any]) -> None:
        response = self.http.post(f"/call/{endpoint}", json=self.body(args))
        response.raise_for_status()
        event = None
        with self.http.stream("GET", f"/call/{endpoint}/{response.json()['event_id']}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    if event == "error":
                        raise RuntimeError(f"{endpoint}: {line[5:].strip()}")
                    return
        raise RuntimeError(f"{endpoint}: the event stream ended without a result")


class DirectCaller(HttpCaller):
    """The route of events that skip the queue, as the Space's page calls them: upload the sketch,
    then one POST whose response holds the outputs (or the error, as HTTP 500 with a message)."""

    def __call__(self, endpoint: str, args: list[Any]) -> None:
        response = self.http.post(f"/run/{endpoint}", json=self.body(args))
        if response.status_code != 200:
            raise RuntimeError(f"{endpoint}: HTTP {response.status_code}: {response.text[:200]}")


CALLERS: dict[str, type[GradioClientCaller] | type[HttpCaller]] = {
    "gradio_client": GradioClientCaller,
    "http": HttpCaller,
    "direct": DirectCaller,
}


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of process `pid` (default: this one) so far, from /proc."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Phase:
    """What one phase of a load run measured: latencies per endpoint, failures, and its wall time."""

    latencies: dict[str, list[float]]
    errors: list[str]
    wall: float


def in_ms(seconds: list[float]) -> dict[str, float | None]:
    """p50, p95, mean and max of latencies in `seconds`, in ms (None where there are none)."""
    if not seconds:
        return dict.fromkeys(("p50_ms", "p95_ms", "mean_ms", "max_ms"))
    values = np.asarray(seconds) * 1000
    p50, p95 = np.percentile(values, [50, 95])
    return {
        name: round(float(value), 1)
        for name, value in (("p50_ms", p50), ("p95_ms", p95), ("mean_ms", values.mean()), ("max_ms", values.max()))
    }


def drive_all(callers: list[Any], calls: int, sketches: list[Sketch], seed: int) -> Phase:
    """Every caller makes `calls` calls round the endpoints, all of them starting together."""
    latencies: dict[str, list[float]] = {endpoint: [] for endpoint in ENDPOINTS}
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(len(callers))

    def drive(index: int) -> None:
        rng = np.random.default_rng([seed, index])
        ready.wait()
        for call in range(calls):
            endpoint = ENDPOINTS[(index + call) % len(ENDPOINTS)]
            args = arguments(endpoint, sketches, rng)
            start = time.perf_counter()
            try:
                callers[index](endpoint, args)
            except Exception as err:
                with lock:
                    errors.append(f"{endpoint}: {type(err).__name__}: {str(err)[:200]}")
                continue
            with lock:
                latencies[endpoint].append(time.perf_counter() - start)

    start = time.perf_counter()
    with ThreadPoolExecutor(len(callers)) as pool:
        list(pool.map(drive, range(len(callers))))
    return Phase(latencies, errors, time.perf_counter() - start)


def run_load(url: str, clients: int, calls: int, kind: str, sketches: list[Sketch], server_pid: int | None = None) -> dict[str, Any]:
    """`clients` concurrent clients of `kind`: first their arrival (each client's first call, all at
    the same instant: a new connection and a new session each), then the load itself, `calls` calls
    each round the endpoints. Returns the load's latency stats and CPU per call of the clients and
    (given its pid) of the server, and the arrival's latencies apart."""
    callers = [CALLERS[kind](url) for _ in range(clients)]
    for endpoint in ENDPOINTS:  # warm up the server: its first-call caches
        callers[0](endpoint, arguments(endpoint, sketches, np.random.default_rng(0)))
    arrival = drive_all(callers, 1, sketches, seed=0)
    server_cpu = cpu_seconds(server_pid) if server_pid else None
    client_cpu = cpu_seconds()
    load = drive_all(callers, calls, sketches, seed=1)
    client_cpu = cpu_seconds() - client_cpu
    server_cpu = cpu_seconds(server_pid) - server_cpu if server_pid else None
    for caller in callers:
        caller.close()
    first_calls = [value for values in arrival.latencies.values() for value in values]
    return {
        "client": kind,
        "clients": clients,
        "calls": clients * calls,
        "errors": len(load.errors) + len(arrival.errors),
        "error_samples": (arrival.errors + load.errors)[:5],
        "calls_per_s": round(clients * calls / load.wall, 1),
        "server_cpu_ms_per_call": round(server_cpu * 1000 / (clients * calls), 1) if server_cpu is not None else None,
        "client_cpu_ms_per_call": round(client_cpu * 1000 / (clients * calls), 1),
        "endpoints": {endpoint: {"count": len(values), **in_ms(values)} for endpoint, values in load.latencies.items() if values},
        "arrival": {"calls": len(first_calls), **in_ms(first_calls)},
    }


def machine(load_at_start: tuple[float, float, float]) -> dict[str, Any]:
    """The machine and how busy it was: clients, Space and whatever else runs share the same cores."""
    import gradio

    from benchmarks.machine import describe_machine

    return {
        **describe_machine(),
        "gradio": gradio.__version__,
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
    }


def table(results: dict[str, Any]) -> str:
    lines = [
        f"cold start (process start to serving, six models loaded): median {results['cold_start_s']:.2f} s "
        f"of {results['cold_starts_s']}; load average {results['machine']['load_average_at_start']}",
        "",
        "| client | N | endpoint | p50 ms | p95 ms | calls | errors (run) | calls/s (run) | server CPU ms/call (run) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in results["runs"]:
        for endpoint, stats in run["endpoints"].items():
            lines.append(
                f"| {run['client']} | {run['clients']} | {endpoint} | {stats['p50_ms']} | {stats['p95_ms']} | "
                f"{stats['count']} | {run['errors']} | {run['calls_per_s']} | {run['server_cpu_ms_per_call']} |"
            )
        arrival = run["arrival"]
        lines.append(
            f"| {run['client']} | {run['clients']} | *arrival: each client's first call, all at once* | {arrival['p50_ms']} | "
            f"{arrival['p95_ms']} | {arrival['calls']} | | | |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--calls", type=int, default=20, help="calls per client (at least 100 // N)")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--cold-starts", type=int, default=3, help="times to start the app (median reported)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    load_at_start = os.getloadavg()
    cold_starts = []
    for _ in range(args.cold_starts - 1):  # extra cold starts: one alone is at the mercy of the machine's load
        process, seconds = start_space(free_port())
        cold_starts.append(seconds)
        process.terminate()
        process.wait(timeout=30)
    port = free_port()
    process, seconds = start_space(port)
    cold_starts.append(seconds)
    url = f"http://127.0.0.1:{port}/"
    try:
        with tempfile.TemporaryDirectory() as folder:
            sketches = write_sketches(Path(folder))
            runs = []
            for kind in args.kinds:
                for clients in args.clients:
                    runs.append(run_load(url, clients, max(args.calls, MIN_CALLS // clients), kind, sketches, process.pid))
                    print(
                        f"{kind} N={clients}: {runs[-1]['errors']} errors, {runs[-1]['calls_per_s']} calls/s, "
                        f"server {runs[-1]['server_cpu_ms_per_call']} ms CPU per call, "
                        f"worst p95 {max(stats['p95_ms'] for stats in runs[-1]['endpoints'].values())} ms, "
                        f"arrival p95 {runs[-1]['arrival']['p95_ms']} ms",
                        flush=True,
                    )
    finally:
        process.terminate()
        process.wait(timeout=30)
    results = {
        "machine": machine(load_at_start),
        "cold_start_s": round(float(np.median(cold_starts)), 2),
        "cold_starts_s": [round(c, 2) for c in cold_starts],
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    if any(run["errors"] for run in runs):
        sys.exit(f"errors: {[run['error_samples'] for run in runs if run['errors']]}")


if __name__ == "__main__":
    main()
