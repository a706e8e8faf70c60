"""The telemetry package's exception tree.

Everything the package raises on purpose is a :class:`TelemetryError`; ZeroMQ, msgpack and
SQLite errors are mapped into it at the boundary where they occur, so callers catch one tree::

    TelemetryError
    ├── ProtocolError              a message that cannot be accepted
    │   ├── MalformedMessage       not msgpack, wrong frame count, not a map, truncated buffer
    │   ├── UnsupportedVersion     protocol version this side does not speak
    │   ├── UnknownMessageType     a ``type`` tag nobody defined
    │   ├── InvalidMessage         right shape, wrong field names / types / ranges
    │   ├── MessageTooLarge        over the size cap
    │   └── UnknownCommand         a command name the server does not have
    ├── CommandRejected            a valid command that cannot be applied now (range, state)
    ├── TransportError             sockets: bind, connect, security
    │   ├── InsecureBindError      non-loopback bind without CurveZMQ
    │   └── ConnectionFileError    missing, unreadable or invalid connection file
    ├── CommandFailed              the server answered a command with an error reply
    ├── CommandTimeout             no answer after every retry
    └── StoreError                 the session store
        ├── StoreVersionError      store written by a newer vret
        └── StoreCorruptError      not a vret store, or damaged
"""

from __future__ import annotations


class TelemetryError(Exception):
    """Base of every error the telemetry package raises on purpose."""


class ProtocolError(TelemetryError):
    """A message that cannot be accepted.

    ``code`` is the error code sent back in an error reply; ``command_id`` is the id of the
    command the bad message carried, when it could be read, so the reply can name it.
    """

    code = "malformed"

    def __init__(self, message: str, *, command_id: str | None = None) -> None:
        super().__init__(message)
        self.command_id = command_id


class MalformedMessage(ProtocolError):
    """Bytes that are not a message: not msgpack, wrong frames, truncated buffers."""

    code = "malformed"


class UnsupportedVersion(ProtocolError):
    """A protocol version this side does not speak."""

    code = "unsupported_version"


class UnknownMessageType(ProtocolError):
    """A ``type`` tag that no message kind has."""

    code = "unknown_type"


class InvalidMessage(ProtocolError):
    """A well-formed message whose fields are wrong (names, types, ranges)."""

    code = "invalid"


class MessageTooLarge(ProtocolError):
    """A message over the size cap."""

    code = "too_large"


class UnknownCommand(ProtocolError):
    """A command name the server does not know."""

    code = "unknown_command"


class CommandRejected(TelemetryError):
    """A well-formed command that cannot be applied: out of range, not allowed in this state,
    busy. Raised by command handlers; the server turns it into an error reply."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TransportError(TelemetryError):
    """Socket set-up or use failed."""


class InsecureBindError(TransportError):
    """Refusal to bind a non-loopback address without CurveZMQ."""


class ConnectionFileError(TransportError):
    """A connection file that is missing, unreadable or not valid."""


class CommandFailed(TelemetryError):
    """The server answered a command with an error reply."""

    def __init__(self, code: str, message: str, command_id: str | None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.command_id = command_id


class CommandTimeout(TelemetryError):
    """No reply to a command after every retry."""


class StoreError(TelemetryError):
    """The session store could not do what was asked."""


class StoreVersionError(StoreError):
    """The store was written by a newer vret than this one."""


class StoreCorruptError(StoreError):
    """The file is not a vret store, or it is damaged."""
