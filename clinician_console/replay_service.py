"""The console's replay: a warm :mod:`review.replay_worker` process, asked one thing at a time.

Rendering blocks and Panda3D wants a process of its own, so the console starts the worker on
the first request and keeps it. Requests wait their turn (one replay at a time); a worker that
dies or takes too long is stopped, the request gets a clear error, and the next request starts
a fresh worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TIMEOUT_S = 180.0
"""Longest a request may take: stepping a long session from its start takes a while on a
machine without a GPU (about a minute per hour of session at 90 frames a second)."""


class ReplayUnavailable(Exception):
    """The replay could not be made; the message says why (shown to the therapist)."""


@dataclass(frozen=True)
class Replayed:
    """A rendered view or clip and what it shows."""

    data: bytes
    content_type: str
    seconds: float
    frame: int
    faithful: bool


class ReplayService:
    """Asks the worker for views and clips of sessions in ``data_dir``."""

    def __init__(self, data_dir: Path, width: int = 480) -> None:
        self.data_dir = data_dir
        self.width = width
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._next_id = 0

    async def view(self, session: str, at_s: float) -> Replayed:
        """The client's view at ``at_s`` seconds from the session's start, as PNG."""
        return await self._ask({"session": session, "at": at_s}, "image/png")

    async def clip(self, session: str, start_s: float, end_s: float, fps: float) -> Replayed:
        """The stretch from ``start_s`` to ``end_s`` as an animated WebP."""
        return await self._ask({"session": session, "from": start_s, "to": end_s, "fps": fps},
                               "image/webp")

    async def _start(self) -> asyncio.subprocess.Process:
        if self._process is not None and self._process.returncode is None:
            return self._process
        log.info("starting the replay worker")
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "review.replay_worker", "--data-dir", str(self.data_dir),
            "--width", str(self.width), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)  # its log goes to the console's own stderr
        return self._process

    async def _ask(self, request: dict[str, Any], content_type: str) -> Replayed:
        async with self._lock:
            process = await self._start()
            assert process.stdin is not None and process.stdout is not None
            self._next_id += 1
            request_id = self._next_id
            process.stdin.write((json.dumps({"id": request_id, **request}) + "\n").encode())
            try:
                await process.stdin.drain()
                answer = await asyncio.wait_for(self._answer(process, request_id), TIMEOUT_S)
            except (TimeoutError, ConnectionError, ReplayUnavailable) as exc:
                await self._stop()
                if isinstance(exc, ReplayUnavailable):
                    raise
                raise ReplayUnavailable(f"the replay did not answer ({type(exc).__name__}); "
                                        "it was restarted: try again") from exc
        if not answer.get("ok"):
            raise ReplayUnavailable(str(answer.get("error", "the replay failed")))
        path = Path(str(answer["file"]))
        try:
            data = path.read_bytes()
        finally:
            path.unlink(missing_ok=True)
        return Replayed(data, content_type, float(answer["seconds"]), int(answer["frame"]),
                        bool(answer["faithful"]))

    @staticmethod
    async def _answer(process: asyncio.subprocess.Process, request_id: int) -> dict[str, Any]:
        assert process.stdout is not None
        while True:
            line = await process.stdout.readline()
            if not line:
                raise ReplayUnavailable("the replay process ended; it is started again on "
                                        "the next request")
            try:
                answer = json.loads(line)
            except ValueError:
                continue  # not an answer
            if isinstance(answer, dict) and answer.get("id") == request_id:
                return answer

    async def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.kill()
        with contextlib.suppress(ProcessLookupError):
            await process.wait()

    async def close(self) -> None:
        """Stop the worker (it removes its scenes and files as its input closes)."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
