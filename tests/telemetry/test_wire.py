"""The wire codec: round trips of every message kind, and every kind of bad input."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telemetry import errors, schemas, wire
from telemetry.schemas import Envelope, Message, SampleBatch, Samples
from tests import strategies

ENV = Envelope(session="s1", seq=7, t_session_ns=1_000, t_wall_ns=2_000)


def _frames(message: Message, topic: bytes | None = None) -> list[bytes]:
    return [bytes(f) for f in wire.encode(message, topic)]


def _header(message: Message) -> dict:  # type: ignore[type-arg]
    return msgpack.unpackb(_frames(message)[0])  # type: ignore[no-any-return]


def _samples(*batches: SampleBatch) -> Message:
    return Message(env=ENV, body=Samples(batches=batches))


def _command(**args: object) -> Message:
    return Message(env=ENV, body=schemas.Command(id="c-1", name="set_level", args=args))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(strategies.messages, st.booleans())
def test_every_message_kind_round_trips(message: Message, with_topic: bool) -> None:
    topic = b"tel.s1.x" if with_topic else None
    got_topic, decoded = wire.decode(_frames(message, topic), has_topic=with_topic)
    assert got_topic == topic
    assert decoded.env == message.env
    assert decoded.body == message.body
    assert type(decoded.body) is type(message.body)


def test_round_trip_covers_every_type_tag() -> None:
    # The union, the codec's table and the strategies must not drift apart.
    assert set(wire._BODY_MODELS) == set(schemas.MESSAGE_TYPES)


def test_samples_travel_as_raw_buffers_not_per_sample_objects() -> None:
    values = np.arange(90 * 7, dtype=np.float32).reshape(90, 7)
    batch = SampleBatch(stream="head_pose", timestamps_ns=np.arange(90, dtype=np.int64),
                        values=values)
    ecg = SampleBatch(stream="ecg", timestamps_ns=np.arange(10, dtype=np.int64),
                      values=np.ones((10, 1), np.float32))
    frames = _frames(_samples(batch, ecg), b"tel.s1")
    assert len(frames) == 2  # topic and header, as lean as a raw PUB/SUB message
    spec = msgpack.unpackb(frames[1])["body"]["batches"][0]["values"]
    assert spec["dtype"] == "<f4" and spec["shape"] == [90, 7]
    assert spec["data"] == values.tobytes()  # one bin, not 630 msgpack floats
    assert len(frames[1]) < values.nbytes + 90 * 8 + 10 * 12 + 300
    _, decoded = wire.decode(frames, has_topic=True)
    assert decoded.body.batches[0].values.dtype == np.float32
    np.testing.assert_array_equal(decoded.body.batches[0].values, values)
    assert decoded.body.batches[1] == ecg


def test_a_stream_appears_once_per_message() -> None:
    batch = SampleBatch(stream="x", timestamps_ns=np.arange(2, dtype=np.int64),
                        values=np.zeros((2, 1), np.float32))
    with pytest.raises(ValueError, match="once per message"):
        Samples(batches=(batch, batch))
    header = msgpack.unpackb(_frames(_samples(batch))[0])
    header["body"]["batches"] = header["body"]["batches"] * 2
    with pytest.raises(errors.InvalidMessage, match="once per message"):
        wire.decode([msgpack.packb(header)])
    header["body"]["batches"] = []
    with pytest.raises(errors.InvalidMessage, match=r"samples\.batches"):
        wire.decode([msgpack.packb(header)])


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries({
        "v": st.sampled_from([1, 1, 1, 2, True, 1.0]),
        "session": st.sampled_from(["s1", "s-2_x", "", "bad name", "s1\n", "é", "a" * 65]),
        "seq": st.sampled_from([0, 5, -1, "3", 2**63 - 1, 2**63, 2**64 - 1]),
        "t_session_ns": st.sampled_from([0, -5, 1.5, None, 2**62, 2**63, -(2**63)]),
        "t_wall_ns": st.sampled_from([0, 123, "now", False]),
    }, optional={"extra": st.just(1)}),
    st.sampled_from(["ecg", "head_pose", "", "bad stream", "x\n", 5]),
    st.sampled_from([(3,), (0,), (3, 1), (2,)]),
    st.sampled_from([(3, 2), (0, 1), (3, 0), (2, 2), (3,), (3, 2, 1)]),
    st.sampled_from(["<i8", "<f4", "<i4"]),
    st.sampled_from(["<f4", "<f8", "<i2", "|u1", "<i8"]),
    st.booleans(),
)
def test_fast_path_accepts_exactly_what_the_models_accept(
    env: dict, stream: object, ts_shape: tuple, values_shape: tuple,  # type: ignore[type-arg]
    ts_dtype: str, values_dtype: str, extra_body_key: bool,
) -> None:
    # The hand-checked path for sample messages must never accept what full validation
    # rejects, and what it accepts must equal what full validation builds.
    ts = np.zeros(ts_shape, np.dtype(ts_dtype))
    values = np.ones(values_shape, np.dtype(values_dtype))
    batch = {"stream": stream, "timestamps_ns": ts, "values": values}
    if extra_body_key:
        batch["unexpected"] = 1
    fast_env = wire._fast_envelope(env)
    fast_batch = None if extra_body_key else wire._fast_batch(stream, ts, values)
    try:
        full_env = schemas.Envelope.model_validate(env)
    except Exception:
        assert fast_env is None
    else:
        if fast_env is not None:
            assert fast_env == full_env and fast_env.model_dump() == full_env.model_dump()
            assert fast_env.model_fields_set == full_env.model_fields_set
    try:
        full_batch = SampleBatch.model_validate(batch)
    except Exception:
        assert fast_batch is None
    else:
        if fast_batch is not None:
            assert fast_batch == full_batch
            assert fast_batch.model_fields_set == full_batch.model_fields_set


def test_big_endian_arrays_are_sent_little_endian() -> None:
    values = np.arange(6, dtype=">f8").reshape(3, 2)
    batch = SampleBatch(stream="x", timestamps_ns=np.arange(3, dtype=np.int64), values=values)
    frames = _frames(_samples(batch))
    assert msgpack.unpackb(frames[0])["body"]["batches"][0]["values"]["dtype"] == "<f8"
    np.testing.assert_array_equal(wire.decode(frames)[1].body.batches[0].values, values)


def test_decoded_batches_are_read_only() -> None:
    batch = SampleBatch(stream="x", timestamps_ns=np.arange(2, dtype=np.int64),
                        values=np.zeros((2, 1), np.float32))
    decoded = wire.decode(_frames(_samples(batch)))[1].body.batches[0]
    with pytest.raises(ValueError):
        decoded.values[0, 0] = 1.0


# ---------------------------------------------------------------------------- bad input

@settings(max_examples=300)
@given(st.lists(st.binary(max_size=300), min_size=0, max_size=7), st.booleans())
def test_random_bytes_raise_protocol_errors_only(frames: list[bytes], has_topic: bool) -> None:
    try:
        wire.decode(frames, has_topic=has_topic)
    except errors.ProtocolError:
        pass


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(strategies.messages, st.data())
def test_truncated_frames_are_rejected(message: Message, data: st.DataObject) -> None:
    frames = _frames(message)
    index = data.draw(st.integers(0, len(frames) - 1))
    if not frames[index]:
        return
    cut = data.draw(st.integers(0, len(frames[index]) - 1))
    frames[index] = frames[index][:cut]
    with pytest.raises(errors.ProtocolError):
        wire.decode(frames)


def test_wrong_frame_count_is_malformed() -> None:
    frames = _frames(_command())
    with pytest.raises(errors.MalformedMessage, match="expected 1 frames, got 2"):
        wire.decode([*frames, b"extra"])
    with pytest.raises(errors.MalformedMessage, match="expected 2 frames, got 1"):
        wire.decode(frames, has_topic=True)


def test_array_data_must_match_dtype_and_shape() -> None:
    batch = SampleBatch(stream="x", timestamps_ns=np.arange(2, dtype=np.int64),
                        values=np.zeros((2, 1), np.float32))
    header = msgpack.unpackb(_frames(_samples(batch))[0])
    values = header["body"]["batches"][0]["values"]
    values["data"] = b"\0" * 7
    with pytest.raises(errors.MalformedMessage, match=r"batches\.0\.values data holds 7 bytes"):
        wire.decode([msgpack.packb(header)])
    values["data"] = [0.0, 0.0]
    with pytest.raises(errors.MalformedMessage, match="must be msgpack bin"):
        wire.decode([msgpack.packb(header)])
    header["body"]["batches"][0]["values"] = {"dtype": "<f4", "shape": [2, 1]}
    with pytest.raises(errors.MalformedMessage, match="dtype, shape and data"):
        wire.decode([msgpack.packb(header)])


def test_wrong_version_is_rejected_with_the_command_id() -> None:
    header = _header(_command(rung=1))
    header["env"]["v"] = 99
    with pytest.raises(errors.UnsupportedVersion, match="99") as info:
        wire.decode([msgpack.packb(header)])
    assert info.value.command_id == "c-1"
    assert info.value.code == "unsupported_version"


def test_version_must_be_the_integer_one() -> None:
    for version in (True, 1.0, "1"):
        header = _header(_command())
        header["env"]["v"] = version
        with pytest.raises(errors.UnsupportedVersion):
            wire.decode([msgpack.packb(header)])


def test_integers_beyond_int64_are_invalid() -> None:
    from telemetry.commands import parse_args

    command = schemas.Command(id="c1", name="clock_offset",
                              args={"offset_ns": 2**64 - 1, "rtt_ns": 0, "probes": 1,
                                    "t_console_ns": 0})
    decoded = wire.decode(_frames(Message(env=ENV, body=command)))[1].body
    with pytest.raises(errors.InvalidMessage, match="offset_ns"):
        parse_args(decoded)  # the server refuses it before it reaches the store
    header = _header(_command())
    header["env"]["t_wall_ns"] = 2**64 - 1
    with pytest.raises(errors.InvalidMessage, match="t_wall_ns"):
        wire.decode([msgpack.packb(header)])


def test_absurd_shapes_are_malformed_not_crashes() -> None:
    batch = SampleBatch(stream="x", timestamps_ns=np.arange(0, dtype=np.int64),
                        values=np.zeros((0, 1), np.float32))
    header = msgpack.unpackb(_frames(_samples(batch))[0])
    header["body"]["batches"][0]["values"]["shape"] = [0, 2**63 - 1]
    with pytest.raises(errors.MalformedMessage, match="invalid shape"):
        wire.decode([msgpack.packb(header)])


def test_unknown_type_is_rejected() -> None:
    header = _header(_command())
    header["body"]["type"] = "teleport"
    with pytest.raises(errors.UnknownMessageType, match="teleport"):
        wire.decode([msgpack.packb(header)])


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda h: h["env"].__setitem__("seq", "seven"), "env.seq"),
        (lambda h: h["env"].__setitem__("session", "bad session!"), "env.session"),
        (lambda h: h["body"].__setitem__("id", 5), "command.id"),
        (lambda h: h["body"].__setitem__("extra", 1), "command.extra"),
        (lambda h: h["body"]["args"].__setitem__("rung", [1, 2]), "command.args.rung"),
    ],
)
def test_wrong_field_types_name_the_field(mutate: object, field: str) -> None:
    header = _header(_command(rung=1))
    mutate(header)  # type: ignore[operator]
    with pytest.raises(errors.InvalidMessage) as info:
        wire.decode([msgpack.packb(header)])
    assert field in str(info.value)


def test_strings_are_not_coerced_to_numbers() -> None:
    body = schemas.Event(event=schemas.LevelChange(rung=1, intensity=0.5, previous_rung=0,
                                                   previous_intensity=0.0))
    header = _header(Message(env=ENV, body=body))
    header["body"]["event"]["rung"] = "1"
    with pytest.raises(errors.InvalidMessage, match="rung"):
        wire.decode([msgpack.packb(header)])


def test_inconsistent_batch_is_invalid() -> None:
    batch = SampleBatch(stream="x", timestamps_ns=np.arange(2, dtype=np.int64),
                        values=np.zeros((2, 3), np.float32))
    frames = _frames(_samples(batch))
    header = msgpack.unpackb(frames[0])
    values = header["body"]["batches"][0]["values"]
    values["shape"] = [3, 2]  # same byte count, wrong row count
    with pytest.raises(errors.InvalidMessage, match="3 rows"):
        wire.decode([msgpack.packb(header)])
    values["dtype"] = "<c16"
    with pytest.raises(errors.MalformedMessage, match="unsupported dtype"):
        wire.decode([msgpack.packb(header)])


def test_oversized_messages_are_rejected_before_parsing() -> None:
    frames = [msgpack.packb({"env": {}, "body": {"pad": b"\0" * 2048}})]
    with pytest.raises(errors.MessageTooLarge, match="cap is 1024"):
        wire.decode(frames, max_bytes=1024)
    with pytest.raises(errors.MessageTooLarge):
        wire.decode([b"\x91" + b"\0" * wire.MAX_MESSAGE_BYTES])


def test_trailing_garbage_after_header_is_malformed() -> None:
    packed = _frames(_command())[0]
    with pytest.raises(errors.MalformedMessage, match="trailing"):
        wire.decode([packed + b"\x00"])
