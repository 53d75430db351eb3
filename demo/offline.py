"""Never hang on the Hub: decide whether it is reachable before huggingface_hub is imported.

huggingface_hub reads `HF_HUB_OFFLINE` once, at import. Without it, every download from an
unreachable Hub is retried for about 20 s, so six models would keep the Space from starting for
minutes. One TCP connect with a short timeout tells us first; this module imports only the
standard library so that it can run before anything imports huggingface_hub.
"""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlsplit

DEFAULT_ENDPOINT = "https://huggingface.co"


def hub_reachable(timeout: float = 1.5) -> bool:
    """Whether a TCP connection to the Hub endpoint (`HF_ENDPOINT`) opens within `timeout` seconds."""
    url = urlsplit(os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "", port), timeout=timeout).close()
    except OSError:
        return False
    return True


def go_offline_if_hub_unreachable(timeout: float = 1.5) -> bool:
    """Set `HF_HUB_OFFLINE=1` unless it is already set or the Hub answers; returns whether offline."""
    if "HF_HUB_OFFLINE" not in os.environ and not hub_reachable(timeout):
        os.environ["HF_HUB_OFFLINE"] = "1"
        if "huggingface_hub" in sys.modules:  # imported too early: tell it too
            sys.modules["huggingface_hub"].constants.HF_HUB_OFFLINE = True
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")
