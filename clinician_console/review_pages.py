"""The console's review pages: recorded sessions, each one's report, and its replay.

``/review`` lists the sessions in the console's data folder; ``/review/SESSION`` is the same
report ``vret review`` writes, with a replay section whose views (``/review/SESSION/view?t=``)
and clips (``/review/SESSION/clip?from=&to=&fps=``) the console's replay renders on demand;
``/review/client/CLIENT`` is a client's sessions over time. The pages sit behind the console's
token like everything else it serves.
"""

from __future__ import annotations

import asyncio
import html
import math
import re
import time
from pathlib import Path

from aiohttp import web

from clinician_console.replay_service import ReplayService, ReplayUnavailable
from telemetry.errors import TelemetryError
from telemetry.store import SessionStore

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
"""The report carries its own styles; scripts only from the console itself."""
CLIP_MAX_S = 60.0


class ReviewPages:
    """Routes for reviewing recorded sessions from ``data_dir``."""

    def __init__(self, data_dir: Path, replay: ReplayService | None = None) -> None:
        self.data_dir = data_dir
        self.replay = replay or ReplayService(data_dir)

    def add_routes(self, app: web.Application) -> None:
        """Register the pages on the console's application."""
        app.router.add_get("/review", self._index)
        app.router.add_get("/review/client/{client_id}", self._client)
        app.router.add_get("/review/{session}", self._report)
        app.router.add_get("/review/{session}/view", self._view)
        app.router.add_get("/review/{session}/clip", self._clip)
        app.router.add_post("/review/{session}/code", self._code)

    async def close(self) -> None:
        """Stop the replay worker."""
        await self.replay.close()

    # ------------------------------------------------------------------ pages

    def _store(self) -> SessionStore:
        try:
            return SessionStore.in_dir(self.data_dir, create=False)
        except (TelemetryError, OSError) as exc:
            raise web.HTTPNotFound(text=f"no recorded sessions here: {exc}") from exc

    def _sessions_page(self) -> str:
        with self._store() as store:
            sessions = list(reversed(store.sessions()))
        rows = []
        for s in sessions:
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.created_wall_ns / 1e9))
            ended = ("" if s.ended_wall_ns is None else
                     f"{(s.ended_wall_ns - s.created_wall_ns) / 60e9:.0f} min")
            sid, client = html.escape(s.session_id), html.escape(s.client_id)
            rows.append(f'<tr><td><a href="/review/{sid}">{sid}</a></td>'
                        f'<td><a href="/review/client/{client}">{client}</a></td>'
                        f"<td>{html.escape(s.scenario)}</td><td>{started}</td>"
                        f"<td>{ended or 'open or cut off'}</td></tr>")
        body = ("<table><thead><tr><th>Session</th><th>Client</th><th>Scenario</th>"
                "<th>Started</th><th>Length</th></tr></thead><tbody>" + "".join(rows) +
                "</tbody></table>" if rows else "<p>No sessions have been recorded yet.</p>")
        return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                f"<title>vret: recorded sessions</title><style>body{{font:14px sans-serif;"
                f"margin:24px;color:#222}}td,th{{padding:4px 12px;text-align:left}}"
                f"tr:nth-child(even){{background:#f4f4f4}}</style></head><body>"
                f'<h1>Recorded sessions</h1><p><a href="/">Back to the live console</a></p>'
                f"{body}</body></html>")

    async def _index(self, request: web.Request) -> web.StreamResponse:
        page = await asyncio.to_thread(self._sessions_page)
        return _page(page)

    async def _report(self, request: web.Request) -> web.StreamResponse:
        session = _name(request.match_info["session"])

        def build() -> str:
            from review.report import render
            from review.session import catalogue_or_none, load_session

            with self._store() as store:
                try:
                    data = load_session(store, session)
                except TelemetryError as exc:
                    raise web.HTTPNotFound(text=str(exc)) from exc
            return render(data, catalogue_or_none(), replay_base=f"/review/{session}")

        return _page(await asyncio.to_thread(build))

    async def _client(self, request: web.Request) -> web.StreamResponse:
        client = _name(request.match_info["client_id"])

        def build() -> str:
            from review.history import client_history, render_history

            with self._store() as store:
                return render_history(client, client_history(store, client))

        return _page(await asyncio.to_thread(build))

    async def _code(self, request: web.Request) -> web.StreamResponse:
        """Code the ended session's ruptures (``review.coding``): one JSON request."""
        session = _name(request.match_info["session"])
        try:
            payload = await request.json()
        except ValueError as exc:
            raise web.HTTPBadRequest(text="coding: the body must be a JSON object") from exc
        if not isinstance(payload, dict):
            raise web.HTTPBadRequest(text="coding: the body must be a JSON object")

        def record() -> dict[str, object]:
            from review.coding import CodingError, code

            with self._store() as store:
                try:
                    event = code(store, session, payload)
                except (CodingError, TelemetryError) as exc:
                    raise web.HTTPBadRequest(text=f"coding: {exc}") from exc
            return {"seq": event.seq, "kind": event.body.kind}

        return web.json_response(await asyncio.to_thread(record))

    # ------------------------------------------------------------------ replay

    async def _view(self, request: web.Request) -> web.StreamResponse:
        session = _name(request.match_info["session"])
        at = _seconds(request, "t")
        try:
            replayed = await self.replay.view(session, at)
        except ReplayUnavailable as exc:
            raise web.HTTPBadRequest(text=f"replay: {exc}") from exc
        return _image(replayed.data, replayed.content_type, replayed.seconds, replayed.frame,
                      replayed.faithful)

    async def _clip(self, request: web.Request) -> web.StreamResponse:
        session = _name(request.match_info["session"])
        start, end = _seconds(request, "from"), _seconds(request, "to")
        fps = _seconds(request, "fps", 10.0)
        if not start < end <= start + CLIP_MAX_S or not 0 < fps <= 30:
            raise web.HTTPBadRequest(text=f"replay: a clip is from < to, at most {CLIP_MAX_S:g} "
                                          "s long, at 0-30 frames a second")
        try:
            replayed = await self.replay.clip(session, start, end, fps)
        except ReplayUnavailable as exc:
            raise web.HTTPBadRequest(text=f"replay: {exc}") from exc
        return _image(replayed.data, replayed.content_type, replayed.seconds, replayed.frame,
                      replayed.faithful)


def _name(text: str) -> str:
    if not NAME.match(text):
        raise web.HTTPNotFound(text=f"no such session or client: {text[:64]!r}")
    return text


def _seconds(request: web.Request, key: str, default: float | None = None) -> float:
    raw = request.query.get(key)
    if raw is None and default is not None:
        return default
    try:
        value = float(raw or "")
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise web.HTTPBadRequest(text=f"replay: {key}={raw!r}: give seconds (0 or more)")
    return value


def _page(text: str) -> web.Response:
    response = web.Response(text=text, content_type="text/html")
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


def _image(data: bytes, content_type: str, seconds: float, frame: int,
           faithful: bool) -> web.Response:
    response = web.Response(body=data, content_type=content_type)
    response.headers["X-Replay-Seconds"] = f"{seconds:.3f}"
    response.headers["X-Replay-Frame"] = str(frame)
    response.headers["X-Replay-Faithful"] = "1" if faithful else "0"
    return response
