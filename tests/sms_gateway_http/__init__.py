"""Shared helpers for the HTTP SMS provider tests: a recording sink and a loopback server."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from dispatch.channel import InboundText, Receipt


class RecordingSink:
    """Keeps what the webhooks hand over; `fail` makes it raise like a broken store."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.inbound_texts: list[InboundText] = []
        self.receipts: list[Receipt] = []

    async def inbound(self, message: InboundText) -> None:
        if self.fail:
            raise RuntimeError("store is down")
        self.inbound_texts.append(message)

    async def receipt(self, receipt: Receipt) -> None:
        if self.fail:
            raise RuntimeError("store is down")
        self.receipts.append(receipt)

    @property
    def untouched(self) -> bool:
        return not self.inbound_texts and not self.receipts


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on 127.0.0.1 with an ephemeral port; yield its base URL."""
    runner = web.AppRunner(app, shutdown_timeout=0.5)  # slow fake handlers must not stall
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
