"""``vret console``: follow sessions and serve the web console until interrupted.

Wires the parts: a :class:`~clinician_console.bridge.Bridge` to the sessions, the console's
:class:`~clinician_console.session_control.SessionControl` (alerts, controllers, plans) with
its client records, and the :class:`~clinician_console.web.ConsoleServer` for the pages.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from pathlib import Path

from clinician_console.bridge import Bridge, Outbox
from clinician_console.records import RecordsStore
from clinician_console.review_pages import ReviewPages
from clinician_console.session_control import SessionControl
from clinician_console.web import ConsoleServer, WebConfig
from telemetry.connection import ConnectionInfo
from telemetry.security import KeyPair

log = logging.getLogger(__name__)


async def serve_console(infos: Sequence[ConnectionInfo], web_config: WebConfig,
                        data_dir: Path | None = None, keys: KeyPair | None = None,
                        duration_s: float | None = None,
                        on_ready: Callable[[ConsoleServer], None] | None = None,
                        stop: asyncio.Event | None = None) -> None:
    """Run the console until ``stop`` is set, ``duration_s`` passes, or SIGINT/SIGTERM."""
    outbox = Outbox()
    bridge = Bridge(infos, outbox, keys=keys)
    records = RecordsStore.in_dir(data_dir) if data_dir is not None else None
    control = SessionControl(bridge, records, session_store_dir=data_dir)
    review = ReviewPages(data_dir) if data_dir is not None else None
    server = ConsoleServer(bridge, control, web_config, review)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass
    bridge.start()
    try:
        await server.start()
        bridge.on_connection = control.connection
        if on_ready is not None:
            on_ready(server)
        try:
            await asyncio.wait_for(stop.wait(), timeout=duration_s)
        except TimeoutError:
            pass
    finally:
        await server.close()
        bridge.close()
        if records is not None:
            records.close()


def run_console(infos: Sequence[ConnectionInfo], web_config: WebConfig,
                data_dir: Path | None = None, keys: KeyPair | None = None,
                duration_s: float | None = None,
                on_ready: Callable[[ConsoleServer], None] | None = None) -> None:
    """Blocking :func:`serve_console`."""
    asyncio.run(serve_console(infos, web_config, data_dir, keys, duration_s, on_ready))
