"""The wire codec: :class:`~telemetry.schemas.Message` <-> a list of ZeroMQ frames. No sockets.

Layout (``docs/telemetry-protocol.md`` is the full spec)::

    [topic]  header

* ``topic`` (published messages only) is UTF-8: ``tel.<session>``, ``evt.<session>``...
* ``header`` is one msgpack map ``{"env": {...}, "body": {...}}``.
* Numpy arrays travel as raw buffers inside the header: ``{"dtype": "<f4", "shape": [n, c],
  "data": <bin>}``, little-endian and C-ordered, never one msgpack object per sample. Keeping
  them in the one header frame (rather than in extra frames) halves the frames per message,
  which is what a batch of a few samples costs most (``docs/decisions.md``).

:func:`encode` builds the complete frame list before anything is sent, so a failure while
encoding can never leave half a multipart message on a socket. :func:`decode` checks the size
cap, the frame count, the version and the type before it validates fields, and raises one of the
:class:`~telemetry.errors.ProtocolError` subclasses with a message that names the problem.
"""

from __future__ import annotations

import time
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
from telemetry.schemas import PROTOCOL_VERSION, Envelope, Message, SampleBatch, Samples

Buffer = bytes | memoryview
"""A frame as handed to ``send_multipart`` or received from ``recv_multipart``."""

MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024
"""Default cap on one message (all frames): a mirror frame or a large batch fits well below."""
MAX_COMMAND_BYTES: Final = 64 * 1024
"""Cap on a message sent to a command or control channel: commands are small."""

_BODY_MODELS: Final[dict[str, type[BaseModel]]] = {
    "stream": schemas.StreamDescriptor,
    "samples": schemas.Samples,
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
_ARRAY_KEYS: Final = frozenset({"dtype", "shape", "data"})
_HEADER_KEYS: Final = frozenset({"env", "body"})
# The models' own validators, called directly: ``model_validate`` adds a Python-level wrapper
# that costs as much as validating an envelope, twice per message on the hot path.
_VALIDATORS: Final = {kind: model.__pydantic_validator__ for kind, model in _BODY_MODELS.items()}
_ENVELOPE_VALIDATOR: Final = Envelope.__pydantic_validator__


def topic_for(kind: str, session: str, stream: str | None = None) -> bytes:
    """The topic frame of a published message: ``<kind>.<session>`` (``tel.s1``, ``evt.s1``),
    or ``<kind>.<session>.<stream>`` where a kind publishes per stream."""
    return f"{kind}.{session}.{stream}".encode() if stream else f"{kind}.{session}".encode()


# --------------------------------------------------------------------------------------------
# Encoding

def _array_to_wire(array: np.ndarray) -> dict[str, Any]:
    if array.dtype.str[0] == ">":  # rare: only big-endian arrays need converting
        array = array.astype(array.dtype.newbyteorder("<"))
    # tobytes() is C order whatever the strides; msgpack copies the bytes once more anyway.
    return {"dtype": array.dtype.str, "shape": array.shape, "data": array.tobytes()}


def _body_to_wire(body: Any) -> dict[str, Any]:
    if isinstance(body, Samples):
        return {"type": "samples", "batches": [
            {"stream": batch.stream, "timestamps_ns": _array_to_wire(batch.timestamps_ns),
             "values": _array_to_wire(batch.values)}
            for batch in body.batches
        ]}
    dumped: dict[str, Any] = body.model_dump()
    return dumped


_MAP2: Final = b"\x82"  # a msgpack map of two entries
_ENV_KEY: Final = msgpack.packb("env")
_BODY_KEY: Final = msgpack.packb("body")


def _pack(env: dict[str, Any], body: Any, topic: bytes | None) -> list[Buffer]:
    packed = msgpack.packb({"env": env, "body": _body_to_wire(body)}, use_bin_type=True)
    return [topic, packed] if topic is not None else [packed]


def encode(message: Message, topic: bytes | None = None) -> list[Buffer]:
    """Encode a message into the complete list of frames to send (topic first if given)."""
    return _pack(message.env.model_dump(), message.body, topic)


def encode_body(
    body: Any, *, session: str, seq: int, t_session_ns: int, t_wall_ns: int | None = None,
    topic: bytes | None = None,
) -> list[Buffer]:
    """Encode a body with a server-made envelope (fast path: no envelope model is built).

    With ``t_wall_ns`` None the wall clock is read after the body is packed, just before the
    envelope: the stamp then says when the message left, not when encoding began.
    """
    packed_body = msgpack.packb(_body_to_wire(body), use_bin_type=True)
    env = {"v": PROTOCOL_VERSION, "session": session, "seq": seq,
           "t_session_ns": t_session_ns,
           "t_wall_ns": time.time_ns() if t_wall_ns is None else t_wall_ns}
    # {"env": env, "body": body} assembled from its packed parts: the same bytes packb would
    # give for the whole map.
    header = b"".join((_MAP2, _ENV_KEY, msgpack.packb(env), _BODY_KEY, packed_body))
    return [topic, header] if topic is not None else [header]


# --------------------------------------------------------------------------------------------
# Decoding

def _unpack_header(raw: Buffer) -> Any:
    try:
        # unpackb bounds every container by the input length, so a hostile length prefix
        # cannot make it allocate more than the frame itself.
        return msgpack.unpackb(raw, raw=False, use_list=False, strict_map_key=True)
    except msgpack.ExtraData as exc:
        raise MalformedMessage("header has trailing bytes after the msgpack map") from exc
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise MalformedMessage(f"header is not valid msgpack: {exc}") from exc


def _array_from(spec: Any, field: str) -> np.ndarray:
    # Hot path (twice per batch): plain type checks, no generator expressions.
    if type(spec) is not dict or spec.keys() != _ARRAY_KEYS:
        raise MalformedMessage(f"{field} must be a map of dtype, shape and data")
    dtype_str, shape, data = spec["dtype"], spec["shape"], spec["data"]
    dtype = _WIRE_DTYPES.get(dtype_str) if type(dtype_str) is str else None
    if dtype is None:
        raise MalformedMessage(f"{field} has unsupported dtype {dtype_str!r}")
    if type(shape) is not tuple or not 1 <= len(shape) <= 2:
        raise MalformedMessage(f"{field} has invalid shape {shape!r}")
    count = 1
    for dim in shape:
        # Bounded by the message cap: an empty array may not claim 2**63 rows either.
        if type(dim) is not int or not 0 <= dim <= MAX_MESSAGE_BYTES:
            raise MalformedMessage(f"{field} has invalid shape {shape!r}")
        count *= dim
    if type(data) is not bytes:
        raise MalformedMessage(f"{field} data must be msgpack bin")
    if len(data) != count * dtype.itemsize:
        raise MalformedMessage(
            f"{field} data holds {len(data)} bytes; dtype {dtype_str} and shape "
            f"{list(shape)} need {count * dtype.itemsize}"
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _new_model(cls: type[Any], fields: dict[str, Any]) -> Any:
    # Build a model instance from fields already checked to satisfy every constraint of the
    # model: what pydantic's validator does at its end, without the per-field work. Only the
    # fast path below calls it, and tests/telemetry/test_wire.py holds the result equal to
    # what full validation gives.
    instance = object.__new__(cls)
    object.__setattr__(instance, "__dict__", fields)
    object.__setattr__(instance, "__pydantic_fields_set__", set(fields))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


_ENV_KEYS: Final = frozenset({"v", "session", "seq", "t_session_ns", "t_wall_ns"})
_SAMPLES_KEYS: Final = frozenset({"type", "batches"})
_BATCH_KEYS: Final = frozenset({"stream", "timestamps_ns", "values"})
_TS_DTYPE: Final = np.dtype("<i8")
_I64_MIN, _I64_MAX = schemas.INT64_MIN, schemas.INT64_MAX


def _fast_envelope(env: dict[str, Any]) -> Envelope | None:
    """The envelope checked by hand, or None if anything is out of the ordinary."""
    if env.keys() != _ENV_KEYS:
        return None
    version, session, seq = env["v"], env["session"], env["seq"]
    t_session, t_wall = env["t_session_ns"], env["t_wall_ns"]
    if (
        type(version) is not int or version != PROTOCOL_VERSION
        or type(session) is not str or not schemas.NAME_RE.fullmatch(session)
        or type(seq) is not int or not 0 <= seq <= schemas.INT64_MAX
        or type(t_session) is not int or not _I64_MIN <= t_session <= _I64_MAX
        or type(t_wall) is not int or not _I64_MIN <= t_wall <= _I64_MAX
    ):
        return None
    return _new_model(Envelope, {"v": version, "session": session, "seq": seq,  # type: ignore[no-any-return]
                                 "t_session_ns": t_session, "t_wall_ns": t_wall})


def _fast_batch(stream: Any, ts: np.ndarray, values: np.ndarray) -> SampleBatch | None:
    """One batch checked by hand (arrays already built by :func:`_array_from`)."""
    if (
        type(stream) is not str or not schemas.NAME_RE.fullmatch(stream)
        or ts.dtype != _TS_DTYPE or ts.ndim != 1 or values.ndim != 2
        or values.shape[0] != ts.shape[0] or values.shape[1] == 0
    ):
        return None
    return _new_model(SampleBatch, {"stream": stream, "timestamps_ns": ts,  # type: ignore[no-any-return]
                                    "values": values})


def _decode_samples(env: dict[str, Any], body: dict[str, Any]) -> Message:
    """The hot path: a ``samples`` message, its arrays built and its fields checked by hand.

    At the first thing out of the ordinary it falls back to full pydantic validation, which
    accepts or rejects with a message naming the field; so the hand checks may only ever accept
    what the models accept (the property tests in ``tests/telemetry/test_wire.py`` hold them to
    that on random input).
    """
    raw_batches = body.get("batches")
    if type(raw_batches) is not tuple or not 1 <= len(raw_batches) <= schemas.MAX_BATCHES:
        return _validate(env, body, "samples")  # rejects it, naming the problem
    arrays: list[tuple[np.ndarray, np.ndarray]] = []
    for i, raw in enumerate(raw_batches):
        if type(raw) is not dict:
            raise MalformedMessage(f"batches.{i} must be a map")
        arrays.append((_array_from(raw.get("timestamps_ns"), f"batches.{i}.timestamps_ns"),
                       _array_from(raw.get("values"), f"batches.{i}.values")))
    envelope = _fast_envelope(env)
    if envelope is not None and body.keys() == _SAMPLES_KEYS:
        batches = []
        for raw, (ts, values) in zip(raw_batches, arrays, strict=True):
            batch = _fast_batch(raw["stream"], ts, values) if raw.keys() == _BATCH_KEYS \
                else None
            if batch is None:
                break
            batches.append(batch)
        else:
            if len({b.stream for b in batches}) == len(batches):
                samples = _new_model(Samples, {"type": "samples", "batches": tuple(batches)})
                return Message(envelope, samples)
    # Out of the ordinary: full validation, with the arrays built, names what is wrong.
    built = tuple({**raw, "timestamps_ns": ts, "values": values}
                  for raw, (ts, values) in zip(raw_batches, arrays, strict=True))
    return _validate(env, {**body, "batches": built}, "samples")


def _validate(env: dict[str, Any], body: dict[str, Any], kind: str,
              command_id: str | None = None) -> Message:
    try:
        envelope: Envelope = _ENVELOPE_VALIDATOR.validate_python(env)
        parsed: Any = _VALIDATORS[kind].validate_python(body)
    except ValidationError as exc:
        prefix = "env" if "envelope" in exc.title.lower() else kind
        raise InvalidMessage(_describe(exc, prefix), command_id=command_id) from exc
    return Message(envelope, parsed)


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
    expected_frames = 2 if has_topic else 1
    if len(frames) != expected_frames:
        raise MalformedMessage(f"expected {expected_frames} frames, got {len(frames)}")
    raw = frames[-1]
    if len(raw) > max_bytes:
        raise MessageTooLarge(f"message is {len(raw)} bytes; the cap is {max_bytes}")
    header = _unpack_header(raw)

    if type(header) is not dict or header.keys() != _HEADER_KEYS:
        raise MalformedMessage("header must be a map with exactly the keys 'env' and 'body'")
    env, body = header["env"], header["body"]
    if type(env) is not dict or type(body) is not dict:
        raise MalformedMessage("'env' and 'body' must be maps")
    kind = body.get("type")
    command_id = body.get("id") if kind == "command" else None
    command_id = command_id if isinstance(command_id, str) and 0 < len(command_id) <= 128 else None
    version = env.get("v")
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise UnsupportedVersion(
            f"protocol version {version!r} is not supported; this side speaks {PROTOCOL_VERSION}",
            command_id=command_id,
        )
    if not isinstance(kind, str) or kind not in _VALIDATORS:
        raise UnknownMessageType(f"unknown message type {kind!r}", command_id=command_id)

    topic = frames[0] if has_topic else None
    if topic is not None and type(topic) is not bytes:
        topic = bytes(topic)
    if kind == "samples":
        return topic, _decode_samples(env, body)
    return topic, _validate(env, body, kind, command_id)
