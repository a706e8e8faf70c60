"""The wire codec: :class:`~telemetry.schemas.Message` <-> a list of ZeroMQ frames. No sockets.

Layout (``docs/telemetry-protocol.md`` is the full spec)::

    [topic]  header  [buffer 0] [buffer 1] ...

* ``topic`` (published messages only) is UTF-8: ``tel.<session>.<stream>``, ``evt.<session>``...
* ``header`` is one msgpack map ``{"env": {...}, "body": {...}}``.
* Numpy arrays and image bytes are not packed into the header: the header holds
  ``{"buffer": i, "dtype": "<f4", "shape": [n, c]}`` and the bytes travel as frame ``i`` after it,
  little-endian and C-ordered, so a batch of samples is one copy at most on each side.

:func:`encode` builds the complete frame list before anything is sent, so a failure while
encoding can never leave half a multipart message on a socket. :func:`decode` checks the size
cap, the frame count, the version and the type before it validates fields, and raises one of the
:class:`~telemetry.errors.ProtocolError` subclasses with a message that names the problem.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import msgpack
import numpy as np
from pydantic import BaseModel, ValidationError

from telemetry import schemas
from telemetry.errors import (
    InvalidMessage,
    MalformedMessage,
    MessageTooLarge,
    UnknownMessageType,
    UnsupportedVersion,
)
from telemetry.schemas import PROTOCOL_VERSION, Envelope, Message, SampleBatch

Buffer = bytes | memoryview
"""A frame as handed to ``send_multipart`` or received from ``recv_multipart``."""

MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024
"""Default cap on one message (all frames): a mirror frame or a large batch fits well below."""
MAX_COMMAND_BYTES: Final = 64 * 1024
"""Cap on a message sent to a command or control channel: commands are small."""
MAX_BUFFERS: Final = 4
MAX_HEADER_BYTES: Final = 256 * 1024

_BODY_MODELS: Final[dict[str, type[BaseModel]]] = {
    "stream": schemas.StreamDescriptor,
    "samples": schemas.SampleBatch,
    "event": schemas.Event,
    "command": schemas.Command,
    "ack": schemas.Ack,
    "error": schemas.ErrorReply,
    "heartbeat": schemas.Heartbeat,
    "clock_probe": schemas.ClockProbe,
    "clock_reply": schemas.ClockReply,
    "frame": schemas.Frame,
}
# Sample dtypes travel little-endian whatever the sender's byte order.
_WIRE_DTYPES: Final[dict[str, np.dtype[Any]]] = {
    np.dtype(name).newbyteorder("<").str: np.dtype(name).newbyteorder("<")
    for name in (*schemas.SAMPLE_DTYPES, "int64")
}


def topic_for(kind: str, session: str, stream: str | None = None) -> bytes:
    """The topic frame for a published message: ``tel.<session>.<stream>``, ``evt.<session>``..."""
    return f"{kind}.{session}.{stream}".encode() if stream else f"{kind}.{session}".encode()


# --------------------------------------------------------------------------------------------
# Encoding

def _array_spec(array: np.ndarray, index: int, buffers: list[Buffer]) -> dict[str, Any]:
    wire = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)
    buffers.append(np.ascontiguousarray(wire).reshape(-1).view(np.uint8).data)
    return {"buffer": index, "dtype": wire.dtype.str, "shape": list(wire.shape)}


def _body_to_wire(body: Any, buffers: list[Buffer]) -> dict[str, Any]:
    if isinstance(body, SampleBatch):
        return {
            "type": "samples",
            "stream": body.stream,
            "timestamps_ns": _array_spec(body.timestamps_ns, 0, buffers),
            "values": _array_spec(body.values, 1, buffers),
        }
    if isinstance(body, schemas.Frame):
        fields = body.model_dump(exclude={"data"})
        buffers.append(body.data)
        fields["data"] = {"buffer": 0, "nbytes": len(body.data)}
        return fields
    dumped: dict[str, Any] = body.model_dump()
    return dumped


def encode(message: Message, topic: bytes | None = None) -> list[Buffer]:
    """Encode a message into the complete list of frames to send (topic first if given)."""
    buffers: list[Buffer] = []
    header = {"env": message.env.model_dump(), "body": _body_to_wire(message.body, buffers)}
    packed = msgpack.packb(header, use_bin_type=True)
    frames: list[Buffer] = [topic] if topic is not None else []
    frames.append(packed)
    frames.extend(buffers)
    return frames


def encode_body(
    body: Any, *, session: str, seq: int, t_session_ns: int, t_wall_ns: int,
    topic: bytes | None = None,
) -> list[Buffer]:
    """Encode a body with a server-made envelope (fast path: the envelope is not re-validated)."""
    env = Envelope.model_construct(
        v=PROTOCOL_VERSION, session=session, seq=seq, t_session_ns=t_session_ns,
        t_wall_ns=t_wall_ns,
    )
    return encode(Message.model_construct(env=env, body=body), topic)


# --------------------------------------------------------------------------------------------
# Decoding

def _unpack_header(raw: Buffer) -> Any:
    if len(raw) > MAX_HEADER_BYTES:
        raise MessageTooLarge(f"header is {len(raw)} bytes; the cap is {MAX_HEADER_BYTES}")
    try:
        # unpackb bounds every container by the input length, so a hostile length prefix
        # cannot make it allocate more than the frame itself.
        return msgpack.unpackb(raw, raw=False, use_list=False, strict_map_key=True)
    except msgpack.ExtraData as exc:
        raise MalformedMessage("header has trailing bytes after the msgpack map") from exc
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise MalformedMessage(f"header is not valid msgpack: {exc}") from exc


def _array_from(spec: Any, buffers: Sequence[Buffer], field: str) -> np.ndarray:
    if not isinstance(spec, dict) or set(spec) != {"buffer", "dtype", "shape"}:
        raise MalformedMessage(f"{field} must be a map of buffer, dtype and shape")
    index, dtype_str, shape = spec["buffer"], spec["dtype"], spec["shape"]
    if not isinstance(index, int) or not 0 <= index < len(buffers):
        raise MalformedMessage(f"{field} refers to buffer {index!r}; message has {len(buffers)}")
    dtype = _WIRE_DTYPES.get(dtype_str) if isinstance(dtype_str, str) else None
    if dtype is None:
        raise MalformedMessage(f"{field} has unsupported dtype {dtype_str!r}")
    if (
        not isinstance(shape, tuple)
        or not 1 <= len(shape) <= 2
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise MalformedMessage(f"{field} has invalid shape {shape!r}")
    buffer = buffers[index]
    expected = math.prod(shape) * dtype.itemsize
    if len(buffer) != expected:
        raise MalformedMessage(
            f"{field} buffer holds {len(buffer)} bytes; dtype {dtype_str} and shape "
            f"{list(shape)} need {expected}"
        )
    return np.frombuffer(buffer, dtype=dtype).reshape(shape)


def _bytes_from(spec: Any, buffers: Sequence[Buffer], field: str) -> bytes:
    if not isinstance(spec, dict) or set(spec) != {"buffer", "nbytes"}:
        raise MalformedMessage(f"{field} must be a map of buffer and nbytes")
    index = spec["buffer"]
    if not isinstance(index, int) or not 0 <= index < len(buffers):
        raise MalformedMessage(f"{field} refers to buffer {index!r}; message has {len(buffers)}")
    data = bytes(buffers[index])
    if len(data) != spec["nbytes"]:
        raise MalformedMessage(f"{field} buffer holds {len(data)} bytes, header says "
                               f"{spec['nbytes']!r}")
    return data


def _describe(error: ValidationError, prefix: str) -> str:
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(p) for p in item["loc"] if not str(p).startswith("function-"))
        parts.append(f"{prefix}.{where}: {item['msg']}" if where else f"{prefix}: {item['msg']}")
    more = error.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def decode(
    frames: Sequence[Buffer], *, has_topic: bool = False, max_bytes: int = MAX_MESSAGE_BYTES,
) -> tuple[bytes | None, Message]:
    """Decode received frames into ``(topic, message)``; ``topic`` is None without one.

    Raises a :class:`~telemetry.errors.ProtocolError` subclass for anything unacceptable; its
    ``command_id`` is set when the frames were a command whose id could be read.
    """
    total = sum(len(f) for f in frames)
    if total > max_bytes:
        raise MessageTooLarge(f"message is {total} bytes; the cap is {max_bytes}")
    start = 1 if has_topic else 0
    if len(frames) < start + 1:
        raise MalformedMessage(f"expected at least {start + 1} frames, got {len(frames)}")
    if len(frames) > start + 1 + MAX_BUFFERS:
        raise MalformedMessage(f"too many frames: {len(frames)}")
    topic = bytes(frames[0]) if has_topic else None
    header = _unpack_header(frames[start])
    buffers = frames[start + 1:]

    if not isinstance(header, dict) or set(header) != {"env", "body"}:
        raise MalformedMessage("header must be a map with exactly the keys 'env' and 'body'")
    env, body = header["env"], header["body"]
    if not isinstance(env, dict) or not isinstance(body, dict):
        raise MalformedMessage("'env' and 'body' must be maps")
    command_id = body.get("id") if body.get("type") == "command" else None
    command_id = command_id if isinstance(command_id, str) and 0 < len(command_id) <= 128 else None
    version = env.get("v")
    if version != PROTOCOL_VERSION:
        raise UnsupportedVersion(
            f"protocol version {version!r} is not supported; this side speaks {PROTOCOL_VERSION}",
            command_id=command_id,
        )
    kind = body.get("type")
    model = _BODY_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None or not isinstance(kind, str):
        raise UnknownMessageType(f"unknown message type {kind!r}", command_id=command_id)

    if kind == "samples":
        body = dict(body)
        body["timestamps_ns"] = _array_from(body.get("timestamps_ns"), buffers, "timestamps_ns")
        body["values"] = _array_from(body.get("values"), buffers, "values")
    elif kind == "frame":
        body = dict(body)
        body["data"] = _bytes_from(body.get("data"), buffers, "data")
    elif buffers:
        raise MalformedMessage(f"a {kind!r} message carries no buffers, got {len(buffers)}",
                               command_id=command_id)

    try:
        envelope = Envelope.model_validate(env)
        parsed: Any = model.model_validate(body)
    except ValidationError as exc:
        prefix = "env" if "envelope" in exc.title.lower() else kind
        raise InvalidMessage(_describe(exc, prefix), command_id=command_id) from exc
    return topic, Message.model_construct(env=envelope, body=parsed)
