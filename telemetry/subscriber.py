"""The console side of the PUB socket: a SUB that decodes, checks and counts.

:class:`Subscriber` is used from one thread. It counts what it lost from gaps in each topic's
sequence numbers (a new publisher, seen as a sequence that goes back, starts the count afresh)
and skips, counts and logs once per kind whatever it cannot decode.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable

import zmq

from telemetry import wire
from telemetry.connection import ConnectionInfo
from telemetry.errors import ProtocolError, TransportError
from telemetry.schemas import Message
from telemetry.security import KeyPair, make_curve_client

log = logging.getLogger(__name__)


class Subscriber:
    """Receives a session's (or several sessions') published messages."""

    def __init__(
        self, infos: ConnectionInfo | Iterable[ConnectionInfo], *,
        topics: Iterable[str] = ("",), keys: KeyPair | None = None,
        context: zmq.Context[zmq.Socket[bytes]] | None = None, rcvhwm: int = 100_000,
        max_bytes: int = wire.MAX_MESSAGE_BYTES,
    ) -> None:
        infos = [infos] if isinstance(infos, ConnectionInfo) else list(infos)
        topics = tuple(topics)
        self._own_context = context is None
        self._ctx = context or zmq.Context()
        self.max_bytes = max_bytes
        self.received = 0
        self.lost = 0
        self.lost_by_topic: Counter[bytes] = Counter()
        self.rejected: Counter[str] = Counter()
        self._next_seq: dict[bytes, int] = {}
        self.sockets: list[zmq.Socket[bytes]] = []
        # One SUB for every plain endpoint (ZeroMQ fair-queues between them, and polling one
        # socket is far cheaper than polling many); a Curve server key is a socket option, so
        # each distinct server key needs a SUB of its own.
        by_key: dict[str | None, list[ConnectionInfo]] = {}
        for info in infos:
            by_key.setdefault(info.server_public_key, []).append(info)
        try:
            for server_key, group in by_key.items():
                sock = self._ctx.socket(zmq.SUB)
                self.sockets.append(sock)  # registered first, so a failure closes it
                sock.linger = 0
                sock.rcvhwm = rcvhwm
                sock.maxmsgsize = max_bytes
                if server_key:
                    if keys is None:
                        raise TransportError(
                            "the server requires CurveZMQ: pass this console's key pair")
                    make_curve_client(sock, server_key.encode(), keys)
                if any(info.pub.startswith("tcp://[") for info in group):
                    sock.ipv6 = True
                for topic in topics:
                    sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
                for info in group:
                    sock.connect(info.pub)
        except TransportError:
            self.close()
            raise
        except zmq.ZMQError as exc:
            self.close()
            raise TransportError(f"cannot subscribe: {exc}") from exc
        self._poller = zmq.Poller()
        for sock in self.sockets:
            self._poller.register(sock, zmq.POLLIN)

    def recv(self, timeout_ms: int = 100) -> tuple[bytes, Message] | None:
        """The next decodable message, or None if none arrives within ``timeout_ms``."""
        for batch in self.recv_many(timeout_ms, limit=1):
            return batch
        return None

    def recv_many(self, timeout_ms: int = 100, limit: int = 1000) -> list[tuple[bytes, Message]]:
        """What is available now (up to ``limit``), waiting ``timeout_ms`` for the first."""
        out: list[tuple[bytes, Message]] = []
        for sock, _ in self._poller.poll(timeout_ms):  # only the sockets that have data
            while len(out) < limit:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                decoded = self.decode_frames(frames)
                if decoded is not None:
                    out.append(decoded)
        return out

    def decode_frames(self, frames: list[bytes]) -> tuple[bytes, Message] | None:
        """Decode and account one received message (sequence gaps, rejects); None if rejected.

        Called by :meth:`recv_many` for every message; a subclass may extend it, for example
        to stamp the moment each message was decoded.
        """
        try:
            topic, message = wire.decode(frames, has_topic=True, max_bytes=self.max_bytes)
        except ProtocolError as exc:
            if not self.rejected[exc.code]:
                log.warning("skipping undecodable message (%s): %s; further ones are counted",
                            exc.code, exc)
            self.rejected[exc.code] += 1
            return None
        except Exception:  # a decoder bug must not take the console down with it
            if not self.rejected["internal"]:
                log.exception("skipping a message the decoder failed on")
            self.rejected["internal"] += 1
            return None
        if topic is None:  # has_topic=True always yields one; this narrows the type
            return None
        self.received += 1
        seq = message.env.seq
        expected = self._next_seq.get(topic)
        if expected is not None and seq > expected:
            gap = seq - expected
            self.lost += gap
            self.lost_by_topic[topic] += gap
        self._next_seq[topic] = seq + 1
        return topic, message

    def close(self) -> None:
        """Close the sockets (and the context if this subscriber made it)."""
        for sock in self.sockets:
            sock.close(linger=0)
        if self._own_context:
            self._ctx.term()
