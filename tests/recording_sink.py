"""An InboundSink that keeps what channels hand it, and can fail like a database that is down."""

from __future__ import annotations

from dispatch.channel import InboundText, Receipt


class RecordingSink:
    def __init__(self) -> None:
        self.texts: list[InboundText] = []
        self.receipts: list[Receipt] = []
        self.fail = False  # True: inbound raises, as when the raw row cannot be stored

    async def inbound(self, message: InboundText) -> None:
        if self.fail:
            raise RuntimeError("database down")
        self.texts.append(message)

    async def receipt(self, receipt: Receipt) -> None:
        self.receipts.append(receipt)
