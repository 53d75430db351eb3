"""A first-come, first-served gate in front of the page's model calls.

Under load, Gradio runs each call's steps (every input's preprocess, the function, every output's
postprocess) as separate tasks on one small thread pool, first come first served *per step*, so a call
with many inputs (Generate: ten) waits in that line many times: at 50 clients Generate waited 0.85 s
at the median while Features waited 0.36 s. Letting only `limit` calls in at a time, in arrival order,
makes every call wait once, as long as any other (docs/space.md, "Throughput under load").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class FirstComeGate:
    """ASGI middleware: HTTP requests whose path starts with one of `prefixes` run at most `limit` at
    a time, the others waiting in the order they arrived; every other request passes straight through."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...], limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the gate must let at least one request in, not {limit}")
        self.app = app
        self.prefixes = prefixes
        self.limit = limit
        self._slots: asyncio.Semaphore | None = None  # made on the server's event loop, at its first request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)  # asyncio's semaphore wakes its waiters in order
        async with self._slots:
            await self.app(scope, receive, send)
