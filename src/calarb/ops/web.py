"""An ASGI app served by uvicorn on the running asyncio loop (the engine's own), as a task.

uvicorn's `Server.serve` normally captures SIGINT/SIGTERM for itself; here the process that
embeds it (engine, venue) owns its signals, so the capture is turned off. Access logs are off:
a scrape every 100 ms must not write a line each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class LoopWebServer:
    """`await start()` binds and returns the port (0 asks for a free one); `await stop()`."""

    def __init__(self, app: Any, host: str, port: int, name: str) -> None:
        self.name = name
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="none",
            ws="none",
            timeout_graceful_shutdown=1,
        )
        self.host = host
        self.requested_port = port
        self.server = _EmbeddedServer(config)
        self.task: asyncio.Task[None] | None = None
        self.port = 0

    def _listen(self, port: int) -> socket.socket:
        """Bind here, not in uvicorn (which exits the process when a bind fails)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise OSError(
                f"{self.name}: cannot listen on {self.host}:{port}: {exc.strerror or exc}"
            ) from None
        sock.setblocking(False)
        return sock

    async def start(self, timeout_s: float = 10.0) -> int:
        sock = self._listen(self.requested_port)
        self.task = asyncio.get_running_loop().create_task(self.server.serve(sockets=[sock]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self.server.started:
            if self.task.done():
                self.task.result()  # raises what stopped it
                raise OSError(f"{self.name}: the web server on {self.host} did not start")
            if loop.time() > deadline:
                raise OSError(f"{self.name}: the web server did not start in {timeout_s} s")
            await asyncio.sleep(0.01)
        sockets = [s for server in self.server.servers for s in server.sockets]
        self.port = sockets[0].getsockname()[1]
        return self.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        if self.task is None:
            return
        self.server.should_exit = True
        self.server.force_exit = True  # open event streams would hold a graceful stop
        try:
            await asyncio.wait_for(self.task, 5.0)
        except (TimeoutError, asyncio.CancelledError, SystemExit):
            self.task.cancel()
        self.task = None


async def start_server(app: Any, host: str, port: int, name: str) -> LoopWebServer:
    """Start `app` on host:port; a port in use is an OSError naming the host and port."""
    server = LoopWebServer(app, host, port, name)
    await server.start()
    return server
