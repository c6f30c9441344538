"""Real peers on loopback: run an aiohttp app on 127.0.0.1 for a test."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def serve(app: web.Application, shutdown_timeout: float = 0.5) -> AsyncIterator[str]:
    """Run `app` on 127.0.0.1 with an ephemeral port; yield its base URL. A short shutdown
    timeout keeps a slow fake handler or a pending long poll from stalling the test."""
    runner = web.AppRunner(app, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
