"""Hugging Face Space entry point: `python app.py` serves the Space on http://127.0.0.1:7860."""

from demo.offline import go_offline_if_hub_unreachable

go_offline_if_hub_unreachable()  # before anything imports huggingface_hub: never hang on an unreachable Hub

import gc  # noqa: E402

import torch  # noqa: E402

from demo.ui import LAUNCH_OPTIONS, build_demo  # noqa: E402

torch.set_num_threads(1)  # each request is one small batch; the queue runs two at a time, one per core
demo = build_demo()
# The models and the page (some 350,000 objects, built once) leave the garbage collector's sight:
# under load a full collection paused the whole server for 200-230 ms, 40-70 ms after (docs/space.md).
gc.collect()
gc.freeze()

if __name__ == "__main__":
    demo.launch(**LAUNCH_OPTIONS)
