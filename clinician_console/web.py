"""The console's web server: the page, its assets, and one WebSocket per open page.

Served on 127.0.0.1 by default. Every request and WebSocket must carry the access token
printed at start (as Jupyter does: in the URL once, then in a cookie the page keeps) and, for
WebSockets and commands, come from this server's own origin, so another site open in the same
browser cannot drive a session. Another interface than loopback is refused unless TLS is
configured. The assets ship in the package (``static/``): no build step, nothing fetched from
the network at run time.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import ssl
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from clinician_console.bridge import Bridge, Update
from clinician_console.review_pages import ReviewPages
from clinician_console.session_control import SessionControl

log = logging.getLogger(__name__)

COOKIE = "vret_console_token"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
FLUSH_S = 0.02
"""Updates go to the pages in batches at most this often (50 Hz)."""
STATIC = resources.files("clinician_console") / "static"


@dataclass(frozen=True)
class WebConfig:
    """Where and how the console listens."""

    host: str = "127.0.0.1"
    port: int = 0
    """0: a free port is chosen."""
    token: str | None = None
    """The access token (None: a random one)."""
    tls_cert: Path | None = None
    tls_key: Path | None = None

    def check(self) -> None:
        """Refuse to listen beyond loopback without TLS (the page carries health data)."""
        if self.host not in LOOPBACK and (self.tls_cert is None or self.tls_key is None):
            raise ValueError(f"the console listens on {self.host!r} only with TLS "
                             "(--tls-cert and --tls-key); without, use 127.0.0.1")


class ConsoleServer:
    """The web side: serves the page and relays between pages and the :class:`Bridge`."""

    def __init__(self, bridge: Bridge, control: SessionControl, config: WebConfig,
                 review: ReviewPages | None = None) -> None:
        config.check()
        self.review = review
        """The recorded sessions' pages (with the console's data folder)."""
        self.bridge = bridge
        self.control = control
        self.config = config
        self.token = config.token or secrets.token_urlsafe(24)
        self.pages: set[web.WebSocketResponse] = set()
        self.sent = 0
        self.dropped = 0
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nudge: asyncio.Event | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Future[None]] = set()

    # ---------------------------------------------------------------- addresses

    @property
    def scheme(self) -> str:
        return "https" if self.config.tls_cert else "http"

    @property
    def origin(self) -> str:
        host = self.config.host if self.config.host not in {"::1"} else "[::1]"
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The address to open, with the token (print it; do not log it anywhere else)."""
        return f"{self.origin}/?token={self.token}"

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Listen; the port is known afterwards (:attr:`port`, :attr:`url`)."""
        self._loop = asyncio.get_running_loop()
        self._nudge = asyncio.Event()
        loop, nudge = self._loop, self._nudge
        def wake() -> None:
            loop.call_soon_threadsafe(nudge.set)

        self.bridge.outbox.wake = wake
        app = web.Application(middlewares=[self._guard], client_max_size=256 * 1024)
        app.router.add_get("/", self._index)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/api/sessions", self._sessions)
        app.router.add_get("/api/stats", self._stats)
        self.control.add_routes(app)
        if self.review is not None:
            self.review.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        context = None
        if self.config.tls_cert is not None and self.config.tls_key is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.config.tls_cert, self.config.tls_key)
        site = web.TCPSite(self._runner, self.config.host, self.config.port,
                           ssl_context=context)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._flusher = asyncio.create_task(self._flush_forever())

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        for page in list(self.pages):
            await page.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.review is not None:
            await self.review.close()

    # ---------------------------------------------------------------- checks

    def _token_ok(self, request: web.Request) -> bool:
        given = request.query.get("token") or request.cookies.get(COOKIE) or ""
        return hmac.compare_digest(given.encode(), self.token.encode())

    def _origin_ok(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return request.method == "GET"  # a plain navigation or asset, not a script's call
        allowed = {self.origin, f"{self.scheme}://localhost:{self.port}",
                   f"{self.scheme}://127.0.0.1:{self.port}"}
        return origin in allowed

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not self._token_ok(request):
            log.warning("refused %s %s: no valid token", request.method, request.path)
            raise web.HTTPForbidden(text="vret console: a valid token is required (use the "
                                         "address printed when the console started)")
        if not self._origin_ok(request):
            log.warning("refused %s %s from origin %s", request.method, request.path,
                        request.headers.get("Origin"))
            raise web.HTTPForbidden(text="vret console: requests from another site are "
                                         "refused")
        response: web.StreamResponse = await handler(request)
        if request.query.get("token"):
            # The token moves from the address bar into a cookie only this site sends.
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict",
                                secure=self.scheme == "https")
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    # ---------------------------------------------------------------- handlers

    async def _index(self, request: web.Request) -> web.StreamResponse:
        response = web.Response(text=(STATIC / "index.html").read_text("utf-8"),
                                content_type="text/html")
        # Only our own scripts, styles and images; nothing from elsewhere.
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data: blob:; connect-src 'self' ws: wss:; "
            "style-src 'self'; script-src 'self'; frame-ancestors 'none'")
        return response

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
        suffix = Path(name).suffix
        asset = STATIC / name
        if "/" in name or suffix not in types or not asset.is_file():
            raise web.HTTPNotFound()
        return web.Response(body=asset.read_bytes(), content_type=types[suffix])

    async def _sessions(self, request: web.Request) -> web.StreamResponse:
        return web.json_response([{"session": v.session_id, "scenario": v.scenario,
                                   "state": v.state, "connected": v.connected}
                                  for v in self.bridge.sessions.values()])

    async def _stats(self, request: web.Request) -> web.StreamResponse:
        """What was lost on the way, and message ages on arrival (the benchmark reads it;
        ``?reset=1`` starts a new window)."""
        ages = sorted(self.bridge.ages_ms)
        body = {"lost": self.bridge.lost, "outbox_dropped": self.bridge.outbox.dropped,
                "sent": self.sent, "send_failed": self.dropped, "pages": len(self.pages),
                "arrival_ages_ms": ages}
        if request.query.get("reset"):
            self.bridge.ages_ms.clear()
        return web.json_response(body)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        page = web.WebSocketResponse(heartbeat=10.0, max_msg_size=256 * 1024)
        await page.prepare(request)
        self.pages.add(page)
        try:
            await page.send_str(json.dumps([
                {"type": "hello", "sessions": list(self.bridge.sessions)},
                *(v.history() for v in self.bridge.sessions.values()),
                *self.control.snapshot()]))
            async for message in page:
                if message.type == WSMsgType.TEXT:
                    await self._from_page(page, message.data)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            self.pages.discard(page)
        return page

    async def _from_page(self, page: web.WebSocketResponse, text: str) -> None:
        try:
            request = json.loads(text)
            kind = request["type"]
        except (ValueError, KeyError, TypeError):
            await page.send_str(json.dumps([{"type": "error",
                                             "error": "malformed message from the page"}]))
            return
        if kind == "command":
            self._command(page, request)
        else:
            replies = self.control.handle(request)
            if replies:
                await page.send_str(json.dumps(replies))

    def _command(self, page: web.WebSocketResponse, request: dict[str, Any]) -> None:
        loop = self._loop
        assert loop is not None
        request_id = request.get("id")
        session = str(request.get("session", ""))
        name = str(request.get("name", ""))
        args = request.get("args") or {}

        def done(result: Update) -> None:
            reply = {"type": "result", "id": request_id, "session": session, "name": name,
                     **result}
            loop.call_soon_threadsafe(self._send_soon, page, reply)

        if not isinstance(args, dict):
            done({"ok": False, "error": "invalid: args must be an object"})
            return
        self.bridge.command(session, name, args, done)

    def _send_soon(self, page: web.WebSocketResponse, reply: Update) -> None:
        if not page.closed:
            task = asyncio.ensure_future(page.send_str(json.dumps([reply])))
            self._sending.add(task)  # held until done (the loop keeps only weak references)
            task.add_done_callback(self._sending.discard)

    # ---------------------------------------------------------------- pushing

    async def _flush_forever(self) -> None:
        assert self._nudge is not None
        while True:
            await self._nudge.wait()
            self._nudge.clear()
            updates = self.bridge.outbox.drain()
            if updates and self.pages:
                text = json.dumps(updates)
                for page in list(self.pages):
                    if page.closed:
                        continue
                    try:
                        await page.send_str(text)
                        self.sent += len(updates)
                    except ConnectionError:
                        self.dropped += len(updates)
            await asyncio.sleep(FLUSH_S)
