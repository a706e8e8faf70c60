"""CurveZMQ keys, the ZAP authenticator and the loopback rule.

Keys live in the data folder, created on first use::

    <data-dir>/keys/server.key            server public key (ZeroMQ certificate format)
    <data-dir>/keys/server.key_secret     server secret key, readable by its owner only
    <data-dir>/keys/console.key[_secret]  this machine's console identity
    <data-dir>/keys/authorized/*.key      public keys of the consoles the server accepts

The local console key is authorised when it is created: whoever can read the data folder can
already read every session in it. A console on another machine is authorised by copying its
``console.key`` (public only) into ``authorized/`` (``vret keys authorize FILE``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from telemetry.errors import InsecureBindError, TransportError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyPair:
    """A Curve key pair in Z85 (40 ASCII bytes each)."""

    public: bytes
    secret: bytes | None


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: traffic that never leaves the machine."""
    if host in {"localhost", "ip6-localhost"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_local_endpoint(endpoint: str) -> bool:
    """True for ``ipc://``/``inproc://`` endpoints and tcp endpoints on a loopback address."""
    parts = urlsplit(endpoint)
    if parts.scheme in {"ipc", "inproc"}:
        return True
    return parts.scheme == "tcp" and is_loopback_host(parts.hostname or "")


def check_bind_allowed(host: str, curve: bool) -> None:
    """Refuse binding ``host`` without CurveZMQ unless it is loopback (or an ipc path)."""
    if curve or host.startswith(("ipc://", "inproc://")) or is_loopback_host(host):
        return
    raise InsecureBindError(
        f"refusing to bind {host!r} without encryption: session data is health data. "
        "Bind 127.0.0.1 (the default), or enable CurveZMQ with --curve so only authorised "
        "consoles can connect."
    )


class KeyStore:
    """The Curve keys of one data folder, created on first use."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / "keys"
        self.authorized_dir = self.dir / "authorized"

    def _ensure(self, name: str) -> KeyPair:
        public_file = self.dir / f"{name}.key"
        secret_file = self.dir / f"{name}.key_secret"
        if not secret_file.exists():
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.authorized_dir.mkdir(exist_ok=True, mode=0o700)
            old_umask = os.umask(0o077)  # the secret file is born private, never chmod'ed later
            try:
                zmq.auth.create_certificates(str(self.dir), name)
            finally:
                os.umask(old_umask)
            log.info("created Curve key pair %s in %s", name, self.dir)
            if name == "console":
                shutil.copyfile(public_file, self.authorized_dir / f"{socket.gethostname()}.key")
        try:
            public, secret = zmq.auth.load_certificate(str(secret_file))
        except (OSError, ValueError) as exc:
            raise TransportError(f"cannot read Curve key {secret_file}: {exc}") from exc
        return KeyPair(public=public, secret=secret)

    def server(self) -> KeyPair:
        """The server's key pair."""
        return self._ensure("server")

    def console(self) -> KeyPair:
        """This machine's console key pair."""
        return self._ensure("console")

    def authorize(self, public_key_file: Path) -> Path:
        """Add a console's public key to the authorised set; returns the file it went to.

        The file is named after the key itself, so two consoles' ``console.key`` files never
        overwrite each other, and a file holding a secret key is refused (it must not travel).
        """
        try:
            text = Path(public_key_file).read_text(encoding="utf-8")
            public, secret = zmq.auth.load_certificate(str(public_key_file))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise TransportError(f"{public_key_file} is not a Curve public key: {exc}") from exc
        if secret is not None or "secret-key" in text:
            raise TransportError(
                f"{public_key_file} holds a secret key: authorise the console's public "
                "console.key, never its console.key_secret")
        self.authorized_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self.authorized_dir / f"console-{hashlib.sha256(public).hexdigest()[:16]}.key"
        target.write_text(text, encoding="utf-8")
        log.info("authorised console key %s", public.decode())
        return target

    def authorized_signature(self) -> tuple[tuple[str, int, int], ...]:
        """What the authorised set looks like now (names, sizes, times), to notice changes."""
        try:
            return tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                                for p in self.authorized_dir.glob("*.key")))
        except OSError:
            return ()


def start_authenticator(
    context: zmq.Context[zmq.Socket[bytes]], keys: KeyStore
) -> ThreadAuthenticator:
    """Start ZAP on ``context``: only consoles whose public key is authorised get through."""
    keys.authorized_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    auth = ThreadAuthenticator(context, log=logging.getLogger("telemetry.zap"))
    auth.start()
    auth.configure_curve(domain="*", location=str(keys.authorized_dir))
    return auth


def make_curve_server(sock: zmq.Socket[bytes], server: KeyPair) -> None:
    """Configure a socket to be a Curve server with the given key pair (before bind)."""
    sock.curve_secretkey = server.secret
    sock.curve_publickey = server.public
    sock.curve_server = True


def make_curve_client(sock: zmq.Socket[bytes], server_public: bytes, client: KeyPair) -> None:
    """Configure a socket to be a Curve client of ``server_public`` (before connect)."""
    sock.curve_serverkey = server_public
    sock.curve_publickey = client.public
    sock.curve_secretkey = client.secret
