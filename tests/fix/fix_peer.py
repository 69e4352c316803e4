"""A raw FIX peer for tests over TCP on 127.0.0.1: hand-made messages out, decoded ones in."""

from __future__ import annotations

import asyncio
import time

from calarb.fix.codec import FixFramer, FixMessage, decode, encode
from calarb.fix.timefmt import TimestampFormatter

_now_text = TimestampFormatter()


def raw(msg_type: bytes, seq: int, *body: tuple[int, bytes], sender=b"CLIENT") -> bytes:
    header = [(35, msg_type), (34, b"%d" % seq), (49, sender), (52, _now_text(time.time_ns()))]
    return encode(b"FIX.4.4", [*header, (56, b"VENUE"), *body])


def logon(seq: int, password=b"s3cret", heartbeat=b"30", reset=False, user=b"alice") -> bytes:
    body = [(98, b"0"), (108, heartbeat)]
    if reset:
        body.append((141, b"Y"))
    body += [(553, user), (554, password)]
    return raw(b"A", seq, *body)


class Peer:
    """A raw FIX peer: bytes out, decoded messages in, and whether the acceptor closed."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.framer = reader, writer, FixFramer()

    @classmethod
    async def connect(cls, port: int) -> Peer:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def until_closed(self, timeout: float = 5.0) -> list[FixMessage]:
        """Every message received until the acceptor closes the connection."""
        received = []
        async with asyncio.timeout(timeout):
            while data := await self.reader.read(65536):
                self.framer.feed(data)
                while (frame := self.framer.next_frame()) is not None:
                    received.append(decode(frame))
        self.writer.close()
        return received

    async def next_message(self, timeout: float = 5.0) -> FixMessage:
        async with asyncio.timeout(timeout):
            while True:
                frame = self.framer.next_frame()
                if frame is not None:
                    return decode(frame)
                data = await self.reader.read(65536)
                assert data, "connection closed"
                self.framer.feed(data)


async def until(predicate, timeout=10.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
