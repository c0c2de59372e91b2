"""A TCP proxy that a test can cut and restore, to take a server away from the app."""

from __future__ import annotations

import asyncio
import threading

from tests.addresses import free_port


class CuttableProxy:
    """Forwards 127.0.0.1:port to target; `cut()` drops every connection and refuses new ones."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target_port = target_port
        self.target_host = target_host
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.open = True
        self.writers: set[asyncio.StreamWriter] = set()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        self.ready.set()
        self.loop.run_forever()

    async def _pipe(self, reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader, writer) -> None:
        if not self.open:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.close()
            return
        self.writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self.writers.discard(writer)
        self.writers.discard(up_writer)

    def _call(self, func) -> None:
        done = threading.Event()

        def run():
            func()
            done.set()

        self.loop.call_soon_threadsafe(run)
        done.wait(5)

    def cut(self) -> None:
        def do():
            self.open = False
            for writer in list(self.writers):
                writer.transport.abort()
            self.writers.clear()

        self._call(do)

    def restore(self) -> None:
        def do():
            self.open = True

        self._call(do)

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
