"""An aiohttp app served from a thread, for a fake channel API: on 127.0.0.1 and a port of its own
in tests, on a given address and port when it runs as a container (docker-compose.yml)."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web


class FakeServer:
    """Subclasses add their routes in `routes`; `start` returns once the port is bound."""

    port = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def start(self, host: str = "127.0.0.1", port: int = 0):
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            app = web.Application(client_max_size=64 * 1024 * 1024)
            self.routes(app)
            self._runner = web.AppRunner(app)
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(web.TCPSite(self._runner, host, port).start())
            self.port = self._runner.addresses[0][1]
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        assert ready.wait(10), "the fake server did not start"
        return self

    def stop(self) -> None:
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
