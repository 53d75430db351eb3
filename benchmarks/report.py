#!/usr/bin/env python
"""Regenerate the tables of docs/benchmarks.md and docs/reliability.md from benchmarks/results/*.json.

    python benchmarks/report.py          # rewrites the part of each page between the markers

Every number in that section comes from a results file that a benchmark script wrote; this script
only formats them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BEGIN, END = "<!-- benchmarks:begin -->", "<!-- benchmarks:end -->"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def speed_section(speed: dict) -> str:
    machine = speed["machine"]
    rows = [
        [
            f"`{r['model']}`",
            f"{r['ours_samples_per_s']:,.0f}",
            f"{r['ceiling_samples_per_s']:,.0f}",
            f"{r['fraction_of_ceiling']:.0%}",
            f"{r['products_only_samples_per_s'] / r['ceiling_samples_per_s']:.0%}",
            f"{r['plain_samples_per_s']:,.0f}",
            f"{r['speedup_over_plain']:.2f}x",
            f"{r['pythae_samples_per_s']:,.0f} ({r['speedup_over_pythae']:.2f}x)" if r.get("speedup_over_pythae") else "—",
            f"{r['ours_bf16_samples_per_s']:,.0f} ({r['bf16_speedup']:.2f}x)",
            f"{r['reference_samples_per_s']:,.0f}",
            f"{r['speedup_over_reference']:.1f}x",
            f"{r['sgemm_gflops']:.0f}",
            f"{r['ours_peak_rss_mb']:.0f}",
        ]
        for r in speed["rows"]
    ]
    return (
        f"Training throughput on this machine ({machine['cpu']}, {machine['cores']} cores, "
        f"{machine['torch_threads']} torch threads, torch {machine['torch']}), batch 256, forward + backward + "
        "optimizer step. *Ceiling*: sgemm measured at the model's own matrix-product shapes, turned into samples/s "
        "from its matmul FLOPs per sample; *products alone*: the fraction of it that the step's matrix products "
        "reach when run back to back with nothing else, the most any loop could reach. *Plain loop*: the simplest "
        "fast loop (slices of a shuffled float copy of the split, default Adam, subnormals not flushed, batch 256). "
        "*pythae*: pythae 0.1.2's `AE` and `BaseTrainer` on the same encoder and decoder (plain autoencoders only). "
        "*ours, bf16*: our loop with `--mixed_precision bf16` (bf16 autocast); every other column is float32. "
        "*Reference*: the same "
        "model fed the tutorial's way (torchvision MNIST, per-image `Pad` + `ToTensor`, `DataLoader` batch 32). "
        "`deep-tutorial` is the tutorial's 1024-341-113-20 model. Loop rates are medians over half-second windows "
        "of 10 timed seconds, so that a neighbour's burst on a shared machine does not drag them down.\n\n"
        + table(
            [
                "model",
                "ours (samples/s)",
                "ceiling (samples/s)",
                "of ceiling",
                "products alone",
                "plain loop (samples/s)",
                "vs plain",
                "pythae (vs it)",
                "ours, bf16 (vs float32)",
                "reference (samples/s)",
                "vs reference",
                "sgemm GFLOP/s",
                "peak RSS (MB)",
            ],
            rows,
        )
        + "\n\nRegenerate: `python benchmarks/speed.py` (about 7 minutes, on a quiet machine)."
    )


TTQ_HEADER = [
    "recipe",
    "variant",
    "config",
    "reached (from process start)",
    "training only",
    "best",
    "samples/s",
    "OMP_NUM_THREADS",
    "load",
]


def time_to_quality_section(ttq: dict) -> str:
    machine = ttq["machine"]
    rows = []
    for name, r in ttq["recipes"].items():
        if r.get("seconds") is not None:
            reached = f"**{r['seconds']:.0f} s** (epoch {r['epoch']}, {r['reached_error']:.3f})"
        else:  # never reached, or a run from before the process-start clock
            reached = "not reached" if r.get("epoch") is None else f"epoch {r['epoch']} ({r['reached_error']:.3f}), not clocked"
        training = f"{r['training_seconds']:.0f} s" if r.get("training_seconds") is not None else "-"
        rows.append(
            [f"`{name}`", f"`{r['variant']}`", f"`{r['config']}`", reached, training, f"{r['best_error']:.3f} ({r['epochs_run']} epochs)",
             f"{r['samples_per_s']:,.0f}", str(r["threads"]), f"{r['load_average']:.1f}" if r.get("load_average") is not None else "-"]
        )  # fmt: skip
    return (
        f"Time to a test squared error per image below {ttq['target']:.2f} (Hinton & Salakhutdinov 2006's 30-d deep "
        f"autoencoder) on this machine ({machine['cpu']}, {machine['cores']} cores, {machine['torch_threads']} torch threads). "
        "*Reached*: seconds from the start of the process (imports, data loading, validation and the per-epoch test "
        "evaluations included: the clock the target counts); *training only*: the same moment without the test evaluations; "
        "*samples/s*: training images per training second; *load*: the machine's 5-minute load average at the end "
        "(above the core count, other processes shared the cores and every clock is inflated).\n\n"
        + table(TTQ_HEADER, rows)
        + "\n\nRegenerate one recipe: `python benchmarks/time_to_quality.py --variant deep --config training/configs/deep-fast.yaml "
        "--name deep-fast` (the command of each is in the results file)."
    )


def gpu_section(gpu: dict) -> str:
    rows = [[f"`{r['variant']}`", str(r["batch_size"]), f"{r['samples_per_s']:,.0f}", f"{r['seconds_per_epoch']:.3f}"] for r in gpu["rows"]]
    note = f"; {gpu['note']}" if gpu.get("note") else ""
    return (
        f"On a GPU ({gpu['device']}, torch {gpu['torch']}{note}), the whole training split resident on the GPU, "
        "fused Adam, TF32:\n\n"
        + table(["preset", "batch", "samples/s", "s per 55k-image epoch"], rows)
        + "\n\nRegenerate on a CUDA machine: `python benchmarks/gpu_throughput.py`."
    )


def quality_section(quality: dict) -> str:
    def num(value: float | None, fmt: str) -> str:
        return "" if value is None else format(value, fmt)

    recon = [
        [
            f"`{r['model']}`",
            str(r["latent_dim"]),
            num(r["squared_error"], ".3f"),
            num(r["pca_squared_error"], ".2f"),
            num(r["error_over_pca"], ".2f"),
            num(r["hinton_2006_squared_error"], ".2f"),
            num(r["bce"], ".4f"),
            num(r["keras_bce"], ".3f"),
            num(r["psnr"], ".2f"),
            num(r.get("linear_probe_accuracy"), ".2%"),
            num(r.get("kl"), ".2f"),
        ]
        for r in quality["reconstruction"]
    ]
    denoise = [
        [
            r["corruption"].replace("_", "-"),
            f"{r['level']:g}",
            f"{r['noisy']:.2f}",
            f"**{r['denoising']:.2f}**",
            f"{r['denoising'] - r['noisy']:+.2f}",
            f"{r['deep']:.2f}",
            f"{r['median_filter']:.2f}",
        ]
        for r in quality["denoising"]
    ]
    sources = {
        "mixture": "mixture fitted to its training codes",
        "prior": "its prior (the VAE: N(0, I); vq: the transformer fitted to its token grids)",
        "uniform": "uniformly random token grids (the baseline)",
    }
    samples = [
        [
            f"`{r['model']}`",
            sources[r["source"]],
            f"{r['confident_fraction']:.1%}",
            f"{r['class_evenness']:.3f}",
            f"{r['rarest_class_share']:.1%}",
            f"{r['commonest_class_share']:.1%}",
        ]
        for r in quality["samples"]
    ]
    return (
        "Every bundled model on the MNIST test set (10,000 digits; 28x28 crop). Squared error is per image, summed "
        "over 784 pixels in [0, 1]; PCA is fitted on the training split with as many components as the code.\n\n"
        + table(
            [
                "model",
                "code",
                "squared error",
                "PCA",
                "error / PCA",
                "Hinton & Salakhutdinov 2006",
                "BCE / pixel",
                "Keras tutorial BCE",
                "PSNR (dB)",
                "linear probe",
                "KL",
            ],
            recon,
        )
        + "\n\nDenoising, PSNR (dB) against the clean digit, seeded noise:\n\n"
        + table(["corruption", "level", "noisy input", "`denoising`", "gain", "`deep`", "3x3 median filter"], denoise)
        + f"\n\nSamples: {quality['num_samples']:,} per model, judged by a small CNN trained here on the training split "
        f"({quality['classifier_test_accuracy']:.2%} test accuracy): the share it names with confidence > 0.9, and how "
        "evenly the ten digits appear among those (normalised entropy, 1 = perfectly even).\n\n"
        + table(["model", "codes drawn from", "recognised", "class evenness", "rarest digit", "commonest digit"], samples)
        + steering_table(quality.get("digits", []))
        + likelihood_table(quality.get("likelihood", []))
        + "\n\nRegenerate: `python benchmarks/quality.py` (about 2 minutes)."
    )


def steering_table(rows: list[dict]) -> str:
    """Samples of each digit asked for (`cvae`; `vq`'s class-conditional prior): the share recognised as that digit."""
    if not rows:
        return ""
    keys = list(dict.fromkeys((r["model"], r["source"], r["temperature"]) for r in rows))
    digits = list(dict.fromkeys(str(r["digit"]) for r in rows))
    values = {(r["model"], r["source"], r["temperature"], str(r["digit"])): r for r in rows}
    body = [
        [
            f"`{m}`",
            source,
            f"{t:g}",
            *(f"{values[m, source, t, d]['recognised_as_asked']:.1%}" for d in digits),
            f"{values[m, source, t, 'all']['pixel_spread']:.3f}",
        ]
        for m, source, t in keys
    ]
    return (
        "\n\nSteering: samples of each digit asked for (500 each) that the classifier names as that digit with "
        "confidence > 0.9 (cvae's target: at least 95% over the ten), and their variety (pixel spread: the standard "
        "deviation of each pixel over the samples, averaged).\n\n"
        + table(["model", "codes drawn from", "temperature", *digits, "pixel spread"], body)
    )


def likelihood_table(rows: list[dict]) -> str:
    """Upper bounds of -log p(x) on binarised test digits, beside the published ones."""
    if not rows:
        return ""
    body = [
        [f"`{r['model']}`", r["trained_on"], f"{r['test_images']:,}", str(r["k"]), f"{r['negative_iwae']:.2f}", f"{r['negative_elbo']:.2f}"]
        for r in rows
        if not r.get("published")
    ]
    body += [[r["model"], "binarised MNIST", "10,000", str(r["k"]), f"{r['negative_iwae']:.2f}", ""] for r in rows if r.get("published")]
    return (
        "\n\nLikelihood: upper bounds of -log p(x) in nats per image on the seeded binarisation of the test digits "
        "(importance-weighted with k samples, Burda et al. 2016; the negative ELBO beside it). The grey-level models "
        "are scored on binary images they were not trained on; `vae --binarize` is the comparable one (target: 86.0 or "
        "less).\n\n" + table(["model", "trained on", "test digits", "k", "-log p(x) <=", "negative ELBO"], body)
    )


def latency_section(latency: dict) -> str:
    machine = latency["machine"]
    rows = []
    for run in latency["runs"]:
        cells = [f"{e['p50_ms']:.0f} / {e['p95_ms']:.0f}" for e in run["endpoints"].values()]
        server_cpu = run.get("server_cpu_ms_per_call")  # absent from results written before it was measured
        cpu = "" if server_cpu is None else f"{server_cpu:.1f}"
        arrival = run["arrival"]
        first = f"{arrival['p50_ms']:.0f} / {arrival['p95_ms']:.0f} / {arrival['max_ms']:.0f}"
        rows.append(
            [run["client"], str(run["clients"]), str(run["calls"]), str(run["errors"]), f"{run['calls_per_s']:.0f}", cpu, *cells, first]
        )
    endpoints = list(latency["runs"][0]["endpoints"])
    return (
        f"Latency of the Space as clients see it, p50 / p95 in ms, on this machine ({machine['cpu']}, "
        f"{machine['cores']} cores; clients on the same machine). Cold start (process start to first HTTP 200, "
        f"all six models loaded): **{latency['cold_start_s']:.1f} s**.\n\n"
        + table(
            ["client", "concurrent clients", "calls", "errors", "calls/s", "server CPU ms/call", *endpoints, "arrival: p50 / p95 / max"],
            rows,
        )
        + "\n\n`direct` is the route the Space's page takes: its model events skip the queue, so each call is an "
        "upload and one POST (`/gradio_api/run/<name>`) answered with the outputs. `http` is Gradio's queued HTTP API "
        "(`/call/<name>`, the result read from the server-sent events as they are pushed), which `gradio_client` "
        "takes too. `gradio_client` is `Client.predict`: it checks for the server's messages every 50 ms, "
        "which adds 60-90 ms to every call whatever the server does. At 10 and 50 clients the calls queue behind "
        "the two CPU cores (clients and server share them). The Space's one process runs its Python on one core at a "
        "time, so its calls/s stay near 1000 / (server CPU ms per call): where that time goes is in docs/space.md."
        " *Arrival*: before the timed calls, each client's first call (a new connection and a new session), all "
        "clients at the same instant, the worst case of visitors arriving together; the other columns are the load "
        "that follows, each client calling again as soon as it has its answer."
        "\n\nRegenerate: `python benchmarks/space_latency.py`."
    )


def soak_section(soak: dict) -> str:
    every = max(1, len(soak["curve"]) // 12)
    rows = [
        [f"{point['s'] / 60:.1f}", f"{point['calls']:,}", f"{point['rss_mb']:.1f}", f"{point['cache_mb']:.1f}", f"{point['cache_files']:,}"]
        for point in soak["curve"][::every] + soak["curve"][-1:]
    ]
    return (
        f"`python benchmarks/soak.py`: {soak['minutes']:g} minutes of {soak['target_rate']:g} requests/s (paced, round the six "
        f"endpoints, {soak['workers']} HTTP clients, half on the page's direct route and half through the queue) against `python app.py`: {soak['calls']:,} calls at {soak['calls_per_s']} per "
        f"second, **{soak['errors']} errors**, p50 {soak['p50_ms']} ms, p95 {soak['p95_ms']} ms. Resident memory after the "
        f"{soak['warmup_s']:g} s warm-up {soak['rss_after_warmup_mb']} MB, at the end {soak['rss_end_mb']} MB: it grew by at most "
        f"**{soak['rss_growth_mb']} MB** (limit 50). The cache folder went from {soak['cache_after_warmup_mb']} MB to "
        f"{soak['cache_end_mb']} MB, at most {soak['cache_max_files']:,} files: files older than the cache lifetime "
        "(10 minutes) are deleted every minute.\n\n"
        + table(["minutes", "calls", "resident memory (MB)", "cache (MB)", "cache files"], rows)
    )


PAGES = {
    ROOT / "docs" / "benchmarks.md": [
        ("## Training speed", "speed.json", speed_section),
        ("## Time to quality", "time_to_quality.json", time_to_quality_section),
        ("## On a GPU", "gpu_h100.json", gpu_section),
        ("## Model quality", "quality.json", quality_section),
        ("## Space latency", "space_latency.json", latency_section),
    ],
    ROOT / "docs" / "reliability.md": [("## Soak: the Space for half an hour", "soak.json", soak_section)],
}


def render(sections: list) -> str:
    parts = [f"{title}\n\n{render_section(data)}" for title, name, render_section in sections if (data := load(name))]
    return "\n\n".join(parts)


def main() -> None:
    for page, sections in PAGES.items():
        text = page.read_text()
        if BEGIN not in text or END not in text:
            sys.exit(f"{page} has no {BEGIN} ... {END} markers")
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        page.write_text(f"{head}{BEGIN}\n{render(sections)}\n{END}{tail}")
        print(f"{page.relative_to(ROOT)}: tables regenerated")


if __name__ == "__main__":
    main()
