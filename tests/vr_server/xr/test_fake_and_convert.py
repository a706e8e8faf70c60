"""The fake runtime's script format and behaviour, and the OpenXR-to-Panda3D conversions."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from panda3d.core import PerspectiveLens, Point2, Point3, Quat, Vec3

from vr_server.xr import convert
from vr_server.xr.bindings import ACTIONS, PROFILES
from vr_server.xr.fake import XR_EPOCH_OFFSET_NS, FakeScript, FakeXr
from vr_server.xr.types import XrFov, XrUnavailable

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "headset-fake.json"


def test_the_example_script_loads() -> None:
    script = FakeScript.from_json(EXAMPLE)
    assert len(script.presses) == 3 and script.eye_size == (960, 540)
    assert script.head(3.0).position != script.head(0.0).position  # interpolated


@pytest.mark.parametrize("raw, named", [
    ({"heads": []}, "unknown field(s) ['heads']"),
    ({"head": [{"t": 0}]}, "head[0]"),
    ({"head": [{"t": 0, "position": [0, 1]}]}, "position needs three numbers"),
    ({"presses": [{"hand": "middle", "button": "trigger", "at": 1}]}, "presses[0]"),
    ({"presses": [{"hand": "left", "button": "trigger"}]}, "presses[0]"),
    ({"states": [{"at": 1, "state": "asleep"}]}, "states[0]"),
    ({"aim": {"third": []}}, "aim must be"),
    ({"probe_error": "gone"}, "probe_error"),
])
def test_a_broken_script_names_the_bad_field(raw: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        FakeScript.from_dict(raw)


def test_the_fake_runtime_goes_through_a_runtimes_lifecycle() -> None:
    fake = FakeXr(FakeScript(states=((0.0, "visible"),)))
    assert fake.probe().runtime == "vret fake runtime"
    fake.create_session("stage")
    assert fake.poll_states() == ["idle", "ready", "visible"]  # the scripted one at t=0
    fake.begin_session()
    assert fake.poll_states() == ["synchronized", "visible", "focused"]
    timing = fake.wait_frame()
    assert timing.should_render
    assert fake.to_monotonic_ns(timing.display_time) == timing.display_time - XR_EPOCH_OFFSET_NS
    tracking = fake.locate(timing.display_time)
    left, right = tracking.views
    assert math.dist(left.pose.position, right.pose.position) == pytest.approx(0.063)
    fake.request_exit()
    assert fake.poll_states() == ["stopping"]
    fake.end_session()
    assert fake.poll_states() == ["idle", "exiting"]
    for error, text in (("no_runtime", "no OpenXR runtime"), ("no_headset", "no headset")):
        with pytest.raises(XrUnavailable, match=text):
            FakeXr(FakeScript(probe_error=error)).probe()  # type: ignore[arg-type]


def test_openxr_axes_become_pandas() -> None:
    assert convert.position((1.0, 2.0, -3.0)) == Point3(1, 3, 2)  # -Z forward is +Y
    half = math.radians(30) / 2
    turned_left = convert.orientation((0.0, math.sin(half), 0.0, math.cos(half)))
    assert turned_left.get_hpr()[0] == pytest.approx(30, abs=1e-4)  # about up: a heading
    forward = turned_left.xform(Vec3(0, 1, 0))
    assert forward.x == pytest.approx(-0.5, abs=1e-6)  # turning left looks toward -X
    pose = convert.xr_pose_from_hpr((1, 2, 3), 30, 10, 5)
    pos, quat = convert.pose(pose)
    assert pos == Point3(1, 2, 3)
    assert Quat(quat).get_hpr().almost_equal((30, 10, 5), 1e-3)


def test_an_asymmetric_fov_becomes_the_same_frustum() -> None:
    fov = XrFov(angle_left=-0.8, angle_right=0.6, angle_up=0.7, angle_down=-0.9)
    lens = PerspectiveLens()
    convert.set_lens_fov(lens, fov, 0.05, 100)
    film = Point2()
    for point, expected in ((Point3(math.tan(0.6), 1, 0), 1.0),
                            (Point3(math.tan(-0.8), 1, 0), -1.0)):
        assert lens.project(point, film)
        assert film.x == pytest.approx(expected, abs=1e-5)
    assert lens.project(Point3(0, 1, math.tan(0.7)), film) and film.y == pytest.approx(1)
    assert lens.project(Point3(0, 1, math.tan(-0.9)), film) and film.y == pytest.approx(-1)


def test_every_bound_action_exists_and_every_profile_binds_the_answer_and_poses() -> None:
    for profile, hands in PROFILES.items():
        for hand, actions in hands.items():
            assert set(actions) <= set(ACTIONS), profile
            assert {"trigger", "aim", "grip"} <= set(actions), (profile, hand)
            # A stop chord is possible on every controller: trigger with grip or menu.
            assert "squeeze" in actions or "menu" in actions, (profile, hand)
