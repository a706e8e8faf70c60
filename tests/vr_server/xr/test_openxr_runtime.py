"""The pyopenxr backend and its GL copy.

This machine has no OpenXR runtime and no headset, so the backend is tested three ways:

* against the real OpenXR loader finding nothing (the message must say how to fix that);
* against a fake runtime at the C boundary: pyopenxr's raw entry points are replaced by ctypes
  callbacks (real structures, real pointers, the runtime's side of every call written as a
  runtime writes it), so the backend's structure building, two-call enumerations, event
  casting, swapchain flow and the copy into the swapchain's GL textures all run for real;
* against a real runtime, when one is present (``-m openxr_runtime``).
"""
# The fake runtime's methods are named after the C entry points they stand in for.
# ruff: noqa: N802

from __future__ import annotations

import ctypes
import importlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from panda3d.core import (
    Camera,
    CardMaker,
    FrameBufferProperties,
    GraphicsOutput,
    NodePath,
    OrthographicLens,
    PythonCallbackObject,
    Texture,
)

from vr_server.engine import Engine
from vr_server.xr import bindings, gl_copy
from vr_server.xr.openxr_runtime import OpenXrRuntime, current_gl_context
from vr_server.xr.types import FrameTiming, XrFov, XrPose, XrUnavailable, XrView

ROOT = Path(__file__).resolve().parents[3]

# ---------------------------------------------------------------- no runtime here

_PROBE_CHILD = """
import json, sys
from vr_server.xr.openxr_runtime import OpenXrRuntime
from vr_server.xr.types import XrUnavailable
runtime = OpenXrRuntime()
try:
    info = runtime.probe()
except XrUnavailable as exc:
    runtime.close()
    runtime.close()
    print(json.dumps({"unavailable": str(exc)}))
else:
    runtime.close()
    print(json.dumps({"info": str(info)}))
"""


def _probe_in_clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """probe() in a fresh process whose environment has only what a login shell has (no
    XR_* from the developer's), plus ``extra``."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "PYTHONPATH": str(ROOT), **extra}
    done = subprocess.run([sys.executable, "-c", _PROBE_CHILD], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    if "info" in result:
        pytest.skip(f"this machine has an OpenXR runtime: {result['info']}")
    return result


def test_probe_without_a_runtime_says_how_to_install_one(tmp_path: Path) -> None:
    pytest.importorskip("xr")
    message = _probe_in_clean_env(tmp_path)["unavailable"]
    assert "no OpenXR runtime is installed or active" in message
    assert "XR_RUNTIME_JSON" in message
    assert "openxr_monado.json" in message and "steamxr_linux64.json" in message
    for runtime in ("SteamVR", "Monado", "WiVRn", "ALVR"):
        assert runtime in message


def test_probe_with_a_missing_runtime_manifest_names_it(tmp_path: Path) -> None:
    pytest.importorskip("xr")
    missing = tmp_path / "nowhere" / "openxr_monado.json"
    result = _probe_in_clean_env(tmp_path, XR_RUNTIME_JSON=str(missing))
    message = result["unavailable"]
    assert "XR_RUNTIME_JSON" in message
    assert str(missing) in message and "does not exist" in message


def test_probe_does_not_spam_stderr_and_close_is_safe(tmp_path: Path) -> None:
    pytest.importorskip("xr")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _PROBE_CHILD], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OpenXR-Loader" not in done.stderr  # XR_LOADER_DEBUG=none took effect


def test_close_without_probe_and_after_a_failed_probe(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    OpenXrRuntime().close()
    pytest.importorskip("xr")
    monkeypatch.setenv("XR_RUNTIME_JSON", str(tmp_path / "missing.json"))
    runtime = OpenXrRuntime()
    with pytest.raises(XrUnavailable, match="XR_RUNTIME_JSON"):
        runtime.probe()
    runtime.close()
    runtime.close()
    runtime.destroy_session()


def test_importing_the_module_does_not_import_pyopenxr() -> None:
    code = ("import sys, vr_server.xr.openxr_runtime, vr_server.xr.gl_copy; "
            "print('xr' in sys.modules, 'OpenGL' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


# ---------------------------------------------------------------- bindings

PATH_RE = re.compile(r"^(/[a-z0-9_.\-]+)+$")  # the OpenXR path grammar (well-formed paths)


def test_suggested_bindings_are_well_formed_paths_of_known_actions() -> None:
    for profile, hands in bindings.PROFILES.items():
        assert PATH_RE.match(profile), profile
        assert profile.startswith("/interaction_profiles/")
        pairs = bindings.suggested(profile)
        assert len(pairs) == sum(len(actions) for actions in hands.values())
        for action, path in pairs:
            assert action in bindings.ACTIONS, (profile, action)
            assert PATH_RE.match(path), path
            assert re.match(r"^/user/hand/(left|right)/input/", path), path
            kind = bindings.ACTIONS[action][0]
            if kind == "pose":
                assert path.endswith("/pose"), path
            elif kind == "vector2":
                assert path.endswith(("/thumbstick", "/trackpad")), path
        # Each hand's aim and grip are bound in every profile (the pointer and the hand).
        for hand in ("left", "right"):
            assert {"aim", "grip"} <= set(hands[hand]), (profile, hand)
    assert PATH_RE.match(bindings.EYE_GAZE_PROFILE)
    assert PATH_RE.match(bindings.EYE_GAZE_PATH)
    for name in bindings.ACTIONS:  # action names: lower case, digits, - _ . only
        assert re.match(r"^[a-z0-9_.\-]+$", name), name


# ---------------------------------------------------------------- GL helpers


@dataclass
class Target:
    """A texture a Panda3D buffer renders into: a clear colour, optionally with a card of
    another colour over its left half."""

    buffer: GraphicsOutput
    texture: Texture
    scene: NodePath | None


def make_target(engine: Engine, name: str, size: tuple[int, int], clear: tuple[float, ...],
                card: tuple[float, ...] | None = None, sort: int = -40) -> Target:
    props = FrameBufferProperties()
    props.set_rgba_bits(8, 8, 8, 8)
    texture = Texture(name)
    buffer = engine.output.make_texture_buffer(name, size[0], size[1], texture, False, props)
    assert buffer is not None
    buffer.set_sort(sort)
    buffer.set_clear_color(clear)
    scene = None
    if card is not None:
        scene = NodePath(f"{name}-scene")
        scene.set_light_off(1)
        scene.set_shader_off(1)
        maker = CardMaker(f"{name}-card")
        maker.set_frame(-1, 0, -1, 0.5)
        scene.attach_new_node(maker.generate()).set_color(*card)
        lens = OrthographicLens()
        lens.set_film_size(2, 2)
        lens.set_near_far(-10, 10)
        buffer.make_display_region().set_camera(scene.attach_new_node(Camera(f"{name}-cam",
                                                                             lens)))
    return Target(buffer, texture, scene)


def remove_targets(engine: Engine, targets: list[Target]) -> None:
    for target in targets:
        engine.graphics_engine.remove_window(target.buffer)
        if target.scene is not None:
            target.scene.remove_node()


def pixels(engine: Engine, texture: Texture) -> np.ndarray:
    """``texture`` as it is on the GPU, (h, w, 4) uint8, bottom row first."""
    gsg = engine.output.get_gsg()
    assert engine.graphics_engine.extract_texture_data(texture, gsg)
    data = np.frombuffer(memoryview(texture.get_ram_image_as("RGBA")), np.uint8)
    return data.reshape(texture.get_y_size(), texture.get_x_size(), 4)


def colours(image: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(int(c) for c in px) for px in np.unique(image.reshape(-1, 4), axis=0)}


RED, GREEN, BLUE = (255, 0, 0, 255), (0, 255, 0, 255), (0, 0, 255, 255)


def test_copy_texture_copies_on_the_gpu_inside_a_draw_callback(engine: Engine) -> None:
    size = (64, 32)
    dst = make_target(engine, "copy-dst", size, (0, 0, 1, 1), sort=-41)
    src = make_target(engine, "copy-src", size, (1, 0, 0, 1), card=(0, 1, 0, 1), sort=-40)
    gsg = engine.output.get_gsg()
    region = engine.output.make_display_region()
    region.set_sort(100)
    seen: dict[str, Any] = {}

    def draw(cbdata: Any) -> None:
        cbdata.upcall()
        try:
            seen["context"] = current_gl_context()
            ids = (gl_copy.native_texture_id(src.texture, gsg),
                   gl_copy.native_texture_id(dst.texture, gsg))
            seen["ids"] = ids
            if seen.get("copy"):
                gl_copy.copy_texture(ids[0], ids[1], *size)
                seen["copied"] = True
        except Exception as exc:  # a callback must not raise into Panda3D's draw
            seen["error"] = exc

    try:
        region.set_draw_callback(PythonCallbackObject(draw))
        engine.step()
        assert "error" not in seen, seen.get("error")
        # Before any copy the destination is its own (blue) image.
        assert colours(pixels(engine, dst.texture)) == {BLUE}
        seen["copy"] = True
        engine.step()
        assert "error" not in seen, seen.get("error")
        assert seen.get("copied")
        source, copied = pixels(engine, src.texture), pixels(engine, dst.texture)
        assert colours(source) == {RED, GREEN}
        assert np.array_equal(copied, source)
        context = seen["context"]
        assert context is not None and context.kind == "egl" and context.display
        assert context.config and context.get_proc_address
        ids = seen["ids"]
        assert ids[0] > 0 and ids[1] > 0 and ids[0] != ids[1]
    finally:
        engine.output.remove_display_region(region)
        remove_targets(engine, [src, dst])


def test_copy_texture_into_an_srgb_texture_copies_the_bytes(engine: Engine) -> None:
    """Runtimes' swapchains are GL_SRGB8_ALPHA8: the copy keeps Panda3D's (already
    sRGB-encoded) bytes as they are."""
    size = (64, 32)
    gsg = engine.output.get_gsg()
    srgb = Texture("srgb-dst")
    srgb.setup_2d_texture(*size, Texture.T_unsigned_byte, Texture.F_srgb_alpha)
    srgb.set_ram_image(bytes([77]) * (size[0] * size[1] * 4))
    src = make_target(engine, "srgb-src", size, (1, 0.5, 0.25, 1))
    # A texture made from memory gets its storage when Panda3D first draws with it.
    uploader = make_target(engine, "srgb-upload", size, (0, 0, 0, 1), card=(1, 1, 1, 1))
    assert uploader.scene is not None
    uploader.scene.set_texture(srgb, 1)
    try:
        engine.step()
        gl_copy.copy_texture(gl_copy.native_texture_id(src.texture, gsg),
                             gl_copy.native_texture_id(srgb, gsg), *size)
        srgb.clear_ram_image()
        copied = pixels(engine, srgb)
        assert srgb.get_format() == Texture.F_srgb_alpha
        assert colours(copied) == {(255, 128, 64, 255)}
        assert np.array_equal(copied, pixels(engine, src.texture))
    finally:
        remove_targets(engine, [src, uploader])


def _glx_child() -> None:
    """In a process of its own with an X display: Panda3D's window (GLX), its handles, the
    Xlib binding structure and a copy through GLX's proc addresses."""
    from vr_server.engine import DisplayConfig, current
    from vr_server.xr.openxr_runtime import graphics_binding

    engine = current(DisplayConfig(mode="window", size=(64, 32), shading="basic"))
    size = (32, 16)
    dst = make_target(engine, "glx-dst", size, (0, 0, 1, 1), sort=-41)
    src = make_target(engine, "glx-src", size, (1, 0, 0, 1), card=(0, 1, 0, 1))
    engine.step()
    dst.buffer.set_active(False)
    gsg = engine.output.get_gsg()
    handles = current_gl_context()
    assert handles is not None
    gl_copy.copy_texture(gl_copy.native_texture_id(src.texture, gsg),
                         gl_copy.native_texture_id(dst.texture, gsg), *size)
    same = bool(np.array_equal(pixels(engine, dst.texture), pixels(engine, src.texture)))
    binding: dict[str, int] = {}
    try:
        xr = importlib.import_module("xr")
    except ImportError:
        pass
    else:
        made = graphics_binding(xr, handles)
        binding = {"display": _address(made.x_display), "context": _address(made.glx_context),
                   "fbconfig": _address(made.glx_fbconfig), "drawable": int(made.glx_drawable),
                   "visualid": int(made.visualid)}
    print(json.dumps({"kind": handles.kind, "display": handles.display,
                      "context": handles.context, "drawable": handles.drawable,
                      "config": handles.config, "visualid": handles.visualid,
                      "copied": same, "binding": binding}))


@pytest.mark.skipif(not shutil.which("Xvfb"), reason="needs Xvfb (.ci/run installs it)")
def test_glx_handles_binding_and_copy_in_a_window(tmp_path: Path) -> None:
    for number in range(131, 160):
        if not Path(f"/tmp/.X11-unix/X{number}").exists():
            break
    xvfb = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "640x480x24",
                             "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            assert time.monotonic() < deadline and xvfb.poll() is None, "Xvfb did not start"
            time.sleep(0.05)
        code = ("from tests.vr_server.xr.test_openxr_runtime import _glx_child; "
                "_glx_child()")
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                              text=True, timeout=120,
                              env={**os.environ, "DISPLAY": f":{number}"})
    finally:
        xvfb.terminate()
        xvfb.wait(10)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["kind"] == "opengl-xlib"
    assert result["display"] and result["context"] and result["drawable"]
    assert result["config"] and result["visualid"]
    assert result["copied"]
    if result["binding"]:
        assert result["binding"] == {"display": result["display"],
                                     "context": result["context"],
                                     "fbconfig": result["config"],
                                     "drawable": result["drawable"],
                                     "visualid": result["visualid"]}


def test_copy_texture_errors_are_clear(engine: Engine) -> None:
    # Panda3D leaves its context current on this thread between frames (single-threaded).
    assert current_gl_context() is not None
    with pytest.raises(RuntimeError, match=r"glCopyImageSubData.*GL error"):
        gl_copy.copy_texture(987654, 987655, 4, 4)  # no such textures


def test_copy_texture_without_a_context_says_so() -> None:
    code = ("from vr_server.xr import gl_copy\n"
            "try:\n    gl_copy.copy_texture(1, 2, 4, 4)\n"
            "except RuntimeError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "needs an OpenGL context current" in done.stdout


# ---------------------------------------------------------------- a fake runtime, in ctypes


def _address(handle: Any) -> int:
    return int(ctypes.cast(handle, ctypes.c_void_p).value or 0)


def _write_handle(out: Any, value: int) -> None:
    ctypes.cast(out, ctypes.POINTER(ctypes.c_void_p))[0] = value


@dataclass
class FakeRuntime:
    """The runtime's side of the calls the backend makes, written against the C ABI.

    It knows one headset (two 64x32 eyes, eye tracking), offers EGL and Xlib bindings, and
    moves the session through its states as a runtime does. ``images`` supplies the GL
    texture names its swapchains hand out (real textures, so the copy can be checked).
    """

    xr: Any
    images: Callable[[int], list[int]]
    extensions: tuple[str, ...] = (
        "XR_KHR_opengl_enable", "XR_MNDX_egl_enable", "XR_KHR_convert_timespec_time",
        "XR_EXT_eye_gaze_interaction", "XR_EXT_debug_utils")
    formats: tuple[int, ...] = (0x8C41, 0x8058, 0x8C43)
    stage: bool = True
    headset: bool = True
    rejected_profile: str = "/interaction_profiles/microsoft/motion_controller"
    time_offset_ns: int = 5_000_000_000_000
    errors: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    handles: dict[int, str] = field(default_factory=dict)
    destroyed: list[str] = field(default_factory=list)
    paths: dict[str, int] = field(default_factory=dict)
    events: list[Any] = field(default_factory=list)
    suggested: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    actions: dict[int, str] = field(default_factory=dict)
    binding: dict[str, int] = field(default_factory=dict)
    swapchains: dict[int, list[int]] = field(default_factory=dict)
    swapchain_info: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)
    acquired: dict[int, int] = field(default_factory=dict)
    submitted: list[dict[str, Any]] = field(default_factory=list)
    wait_result: int = 0
    state: str = "UNKNOWN"
    _next: int = 0x1000
    session_handle: int = 0
    instance_lost: bool = False
    _keep: list[Any] = field(default_factory=list)

    # -------------------------------------------------------- plumbing

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Replace pyopenxr's raw entry points with this runtime's."""
        raw = self.xr.raw_functions
        for name in dir(self):
            if not name.startswith("xr") or name == "xr" or not hasattr(raw, name):
                continue
            original = getattr(raw, name)
            # char* as a plain address: ctypes hands a callback a *copy* of a c_char_p as
            # bytes, and the runtime must write into the caller's buffer (xrPathToString).
            argtypes = [ctypes.c_void_p if t is ctypes.c_char_p else t
                        for t in original.argtypes]
            prototype = ctypes.CFUNCTYPE(ctypes.c_int, *argtypes)
            pointer = prototype(self._guard(name, getattr(self, name)))
            self._keep.append(pointer)
            monkeypatch.setattr(raw, name, self._caller(pointer))

    def _caller(self, pointer: Any) -> Callable[..., Any]:
        result = self.xr.Result
        return lambda *args: result(pointer(*args))

    def _guard(self, name: str, fn: Callable[..., int | None]) -> Callable[..., int]:
        """A callback that cannot fail silently (ctypes would return 0, XR_SUCCESS)."""
        def call(*args: Any) -> int:
            self.calls.append(name)
            try:
                return fn(*args) or 0
            except Exception as exc:  # recorded, and the test asserts there are none
                self.errors.append(f"{name}: {type(exc).__name__}: {exc}")
                return -2  # XR_ERROR_RUNTIME_FAILURE
        return call

    def _handle(self, kind: str) -> int:
        self._next += 0x10
        self.handles[self._next] = kind
        return self._next

    def _destroy(self, handle: Any) -> int:
        address = _address(handle)
        if address not in self.handles:
            return -12  # XR_ERROR_HANDLE_INVALID
        self.destroyed.append(self.handles.pop(address))
        return 0

    def _two_call(self, capacity: int, count_out: Any, items: list[Any],
                  write: Callable[[int, Any], None]) -> int:
        count_out[0] = len(items)
        if capacity == 0:
            return 0
        if capacity < len(items):
            return -11  # XR_ERROR_SIZE_INSUFFICIENT
        for i, item in enumerate(items):
            write(i, item)
        return 0

    def _queue_state(self, name: str) -> None:
        xr = self.xr
        self.state = name
        # Real runtimes name the session an event is about (stale ones are ignored).
        event = xr.EventDataSessionStateChanged(
            session=ctypes.cast(ctypes.c_void_p(self.session_handle), xr.Session),
            state=getattr(xr.SessionState, name), time=self.now())
        self.events.append(event)

    def now(self) -> int:
        return time.monotonic_ns() + self.time_offset_ns

    def path_name(self, path: int) -> str:
        return next(name for name, value in self.paths.items() if value == path)

    # -------------------------------------------------------- instance

    def xrEnumerateInstanceExtensionProperties(self, layer: Any, capacity: int, count: Any,
                                               props: Any) -> int:
        def write(i: int, name: str) -> None:
            props[i].extension_name = name.encode()
            props[i].extension_version = 1
        return self._two_call(capacity, count, list(self.extensions), write)

    def xrCreateInstance(self, info: Any, out: Any) -> int:
        create = info.contents
        names = [create.enabled_extension_names[i].decode()
                 for i in range(create.enabled_extension_count)]
        self.binding["extensions"] = len(names)
        self.enabled = names
        self.app_name = create.application_info.application_name.decode()
        _write_handle(out, self._handle("instance"))
        return 0

    def xrDestroyInstance(self, instance: Any) -> int:
        return self._destroy(instance)

    def xrGetInstanceProperties(self, instance: Any, out: Any) -> int:
        out.contents.runtime_name = b"Fake Runtime"
        out.contents.runtime_version = self.xr.Version(2, 5, 1)
        return 0

    def xrGetInstanceProcAddr(self, instance: Any, name_p: int, out: Any) -> int:
        xr = self.xr
        name = ctypes.string_at(name_p)
        table = {b"xrGetOpenGLGraphicsRequirementsKHR": (
                     xr.PFN_xrGetOpenGLGraphicsRequirementsKHR, self.gl_requirements),
                 b"xrConvertTimeToTimespecTimeKHR": (
                     xr.PFN_xrConvertTimeToTimespecTimeKHR, self.to_timespec)}
        if name not in table:
            return -7  # XR_ERROR_FUNCTION_UNSUPPORTED
        prototype, fn = table[name]
        pointer = prototype(self._guard(name.decode(), fn))
        self._keep.append(pointer)
        _write_handle(out, _address(pointer))
        return 0

    def gl_requirements(self, instance: Any, system: int, out: Any) -> int:
        self.binding["requirements_before_session"] = int("xrCreateSession" not in self.calls)
        out.contents.min_api_version_supported = self.xr.Version(3, 3, 0)
        out.contents.max_api_version_supported = self.xr.Version(4, 6, 0)
        return 0

    def to_timespec(self, instance: Any, xr_time: int, out: Any) -> int:
        monotonic = xr_time - self.time_offset_ns
        out.contents.tv_sec = monotonic // 1_000_000_000
        out.contents.tv_nsec = monotonic % 1_000_000_000
        return 0

    def xrGetSystem(self, instance: Any, info: Any, out: Any) -> int:
        if not self.headset:
            return -35  # XR_ERROR_FORM_FACTOR_UNAVAILABLE
        out[0] = 42
        return 0

    def xrGetSystemProperties(self, instance: Any, system: int, out: Any) -> int:
        xr = self.xr
        props = out.contents
        props.system_name = b"Fake Headset"
        props.system_id = system
        if props.next:
            eye = ctypes.cast(props.next,
                              ctypes.POINTER(xr.SystemEyeGazeInteractionPropertiesEXT)).contents
            assert eye.type == xr.StructureType.SYSTEM_EYE_GAZE_INTERACTION_PROPERTIES_EXT
            eye.supports_eye_gaze_interaction = 1
        return 0

    def xrEnumerateViewConfigurationViews(self, instance: Any, system: int, kind: int,
                                          capacity: int, count: Any, views: Any) -> int:
        def write(i: int, _: Any) -> None:
            views[i].recommended_image_rect_width = 64
            views[i].recommended_image_rect_height = 32
            views[i].recommended_swapchain_sample_count = 1
        return self._two_call(capacity, count, [0, 1], write)

    def xrEnumerateEnvironmentBlendModes(self, instance: Any, system: int, kind: int,
                                         capacity: int, count: Any, modes: Any) -> int:
        def write(i: int, mode: int) -> None:
            modes[i] = mode
        return self._two_call(capacity, count, [1], write)  # XR_..._OPAQUE

    def xrStringToPath(self, instance: Any, text: int, out: Any) -> int:
        name = ctypes.string_at(text).decode()
        if not PATH_RE.match(name):
            return -21  # XR_ERROR_PATH_FORMAT_INVALID
        out[0] = self.paths.setdefault(name, len(self.paths) + 1)
        return 0

    def xrPathToString(self, instance: Any, path: int, capacity: int, count: Any,
                       buffer: int) -> int:
        text = self.path_name(path).encode() + b"\0"
        count[0] = len(text)
        if capacity:
            if capacity < len(text):
                return -11  # XR_ERROR_SIZE_INSUFFICIENT
            ctypes.memmove(buffer, text, len(text))
        return 0

    # -------------------------------------------------------- session

    def xrCreateSession(self, instance: Any, info: Any, out: Any) -> int:
        xr = self.xr
        create = info.contents
        binding = ctypes.cast(create.next, ctypes.POINTER(xr.GraphicsBindingEGLMNDX)).contents
        self.binding.update(type=int(binding._type), display=_address(binding.display),
                            context=_address(binding.context), config=_address(binding.config),
                            get_proc_address=_address(binding.get_proc_address))
        self.session_handle = self._handle("session")
        _write_handle(out, self.session_handle)
        self._queue_state("IDLE")
        self._queue_state("READY")
        return 0

    def xrDestroySession(self, session: Any) -> int:
        return self._destroy(session)

    def xrEnumerateReferenceSpaces(self, session: Any, capacity: int, count: Any,
                                   out: Any) -> int:
        kinds = [1, 2, 3] if self.stage else [1, 2]  # VIEW, LOCAL, STAGE

        def write(i: int, kind: int) -> None:
            out[i] = kind
        return self._two_call(capacity, count, kinds, write)

    def xrCreateReferenceSpace(self, session: Any, info: Any, out: Any) -> int:
        kind = {1: "view", 2: "local", 3: "stage"}[info.contents._reference_space_type]
        if kind == "stage" and not self.stage:
            return -31  # XR_ERROR_REFERENCE_SPACE_UNSUPPORTED
        _write_handle(out, self._handle(f"space:{kind}"))
        return 0

    def xrCreateActionSpace(self, session: Any, info: Any, out: Any) -> int:
        create = info.contents
        action = self.actions[_address(create.action)]
        hand = self.path_name(create.subaction_path) if create.subaction_path else ""
        _write_handle(out, self._handle(f"space:{action}:{hand}"))
        return 0

    def xrDestroySpace(self, space: Any) -> int:
        return self._destroy(space)

    def xrEnumerateSwapchainFormats(self, session: Any, capacity: int, count: Any,
                                    out: Any) -> int:
        def write(i: int, fmt: int) -> None:
            out[i] = fmt
        return self._two_call(capacity, count, list(self.formats), write)

    def xrCreateSwapchain(self, session: Any, info: Any, out: Any) -> int:
        xr = self.xr
        create = info.contents
        usage = int(create._usage_flags)
        assert usage & int(xr.SwapchainUsageFlags.TRANSFER_DST_BIT)
        handle = self._handle("swapchain")
        self.swapchains[handle] = self.images(int(create.format))
        self.swapchain_info[handle] = (int(create.format), create.width, create.height,
                                       create.sample_count)
        _write_handle(out, handle)
        return 0

    def xrDestroySwapchain(self, swapchain: Any) -> int:
        return self._destroy(swapchain)

    def xrEnumerateSwapchainImages(self, swapchain: Any, capacity: int, count: Any,
                                   out: Any) -> int:
        images = ctypes.cast(out, ctypes.POINTER(self.xr.SwapchainImageOpenGLKHR))

        def write(i: int, name: int) -> None:
            assert images[i].type == self.xr.StructureType.SWAPCHAIN_IMAGE_OPENGL_KHR
            images[i].image = name
        return self._two_call(capacity, count, self.swapchains[_address(swapchain)], write)

    def xrAcquireSwapchainImage(self, swapchain: Any, info: Any, out: Any) -> int:
        handle = _address(swapchain)
        index = (self.acquired.get(handle, -1) + 1) % len(self.swapchains[handle])
        self.acquired[handle] = index
        out[0] = index
        return 0

    def xrWaitSwapchainImage(self, swapchain: Any, info: Any) -> int:
        assert info.contents.timeout == 100_000_000
        return self.wait_result

    def xrReleaseSwapchainImage(self, swapchain: Any, info: Any) -> int:
        return 0

    # -------------------------------------------------------- actions

    def xrCreateActionSet(self, instance: Any, info: Any, out: Any) -> int:
        self.action_set_name = info.contents.action_set_name.decode()
        _write_handle(out, self._handle("action_set"))
        return 0

    def xrDestroyActionSet(self, action_set: Any) -> int:
        for handle in [h for h, kind in self.handles.items() if kind.startswith("action:")]:
            self.destroyed.append(self.handles.pop(handle))
        return self._destroy(action_set)

    def xrCreateAction(self, action_set: Any, info: Any, out: Any) -> int:
        create = info.contents
        name = create.action_name.decode()
        hands = sorted(self.path_name(create._subaction_paths[i])
                       for i in range(create.count_subaction_paths))
        handle = self._handle(f"action:{name}")
        self.actions[handle] = name
        self.binding[f"action:{name}"] = len(hands)
        _write_handle(out, handle)
        return 0

    def xrSuggestInteractionProfileBindings(self, instance: Any, info: Any) -> int:
        suggestion = info.contents
        profile = self.path_name(suggestion.interaction_profile)
        if profile == self.rejected_profile:
            return -22  # XR_ERROR_PATH_UNSUPPORTED
        self.suggested[profile] = [
            (self.actions[_address(suggestion._suggested_bindings[i].action)],
             self.path_name(suggestion._suggested_bindings[i].binding))
            for i in range(suggestion.count_suggested_bindings)]
        return 0

    def xrAttachSessionActionSets(self, session: Any, info: Any) -> int:
        self.binding["attached"] = info.contents.count_action_sets
        return 0

    def xrSyncActions(self, session: Any, info: Any) -> int:
        return 0 if self.state == "FOCUSED" else 8  # XR_SESSION_NOT_FOCUSED

    def _action_name(self, info: Any) -> tuple[str, str]:
        get = info.contents
        hand = self.path_name(get.subaction_path) if get.subaction_path else ""
        return self.actions[_address(get.action)], hand

    def xrGetActionStateFloat(self, session: Any, info: Any, out: Any) -> int:
        action, hand = self._action_name(info)
        value = {("trigger", "/user/hand/right"): 0.9,
                 ("squeeze", "/user/hand/right"): 0.25}.get((action, hand), 0.0)
        out.contents.current_state = value
        out.contents.is_active = 1
        return 0

    def xrGetActionStateBoolean(self, session: Any, info: Any, out: Any) -> int:
        action, hand = self._action_name(info)
        out.contents.current_state = int((action, hand) == ("menu", "/user/hand/left"))
        out.contents.is_active = 1
        return 0

    def xrGetActionStateVector2f(self, session: Any, info: Any, out: Any) -> int:
        _action, hand = self._action_name(info)
        if hand == "/user/hand/right":
            out.contents.current_state = self.xr.Vector2f(-0.5, 0.25)
            out.contents.is_active = 1
        return 0

    def xrGetActionStatePose(self, session: Any, info: Any, out: Any) -> int:
        action, hand = self._action_name(info)
        out.contents.is_active = int(hand != "/user/hand/left" or action == "aim")
        return 0

    def xrGetCurrentInteractionProfile(self, session: Any, hand: int, out: Any) -> int:
        out.contents.interaction_profile = (
            self.paths["/interaction_profiles/oculus/touch_controller"]
            if self.path_name(hand) == "/user/hand/right" else 0)
        return 0

    # -------------------------------------------------------- frames

    def xrPollEvent(self, instance: Any, out: Any) -> int:
        if self.instance_lost:
            return -13  # XR_ERROR_INSTANCE_LOST
        if not self.events:
            return 4  # XR_EVENT_UNAVAILABLE
        event = self.events.pop(0)
        ctypes.memmove(out, ctypes.byref(event), ctypes.sizeof(event))
        return 0

    def xrBeginSession(self, session: Any, info: Any) -> int:
        assert info.contents.primary_view_configuration_type == \
            self.xr.ViewConfigurationType.PRIMARY_STEREO
        for state in ("SYNCHRONIZED", "VISIBLE", "FOCUSED"):
            self._queue_state(state)
        return 0

    def xrRequestExitSession(self, session: Any) -> int:
        self._queue_state("STOPPING")
        return 0

    def xrEndSession(self, session: Any) -> int:
        self._queue_state("IDLE")
        self._queue_state("EXITING")
        return 0

    def xrWaitFrame(self, session: Any, info: Any, out: Any) -> int:
        out.contents.predicted_display_time = self.now() + 11_111_111
        out.contents.predicted_display_period = 11_111_111
        out.contents.should_render = int(self.state in ("VISIBLE", "FOCUSED"))
        return 3 if self.binding.get("loss_pending") else 0  # XR_SESSION_LOSS_PENDING

    def xrBeginFrame(self, session: Any, info: Any) -> int:
        return 9 if self.binding.get("discard") else 0  # XR_FRAME_DISCARDED

    def xrLocateViews(self, session: Any, info: Any, state: Any, capacity: int, count: Any,
                      views: Any) -> int:
        xr = self.xr
        self.binding["views_space"] = _address(info.contents.space)
        state.contents._view_state_flags = 0xF

        def write(i: int, side: float) -> None:
            views[i].pose = xr.Posef(orientation=xr.Quaternionf(0.0, 0.0, 0.0, 1.0),
                                     position=xr.Vector3f(side * 0.032, 1.6, 0.0))
            views[i].fov = xr.Fovf(-0.8, 0.7, 0.75, -0.85)
        return self._two_call(capacity, count, [-1.0, 1.0], write)

    def xrLocateSpace(self, space: Any, base: Any, time_: int, out: Any) -> int:
        xr = self.xr
        kind = self.handles[_address(space)]
        location = out.contents
        location._location_flags = 0xF
        y = {"space:view": 1.6, "space:gaze:": 1.55}.get(kind, 1.0)
        x = -0.2 if kind.endswith("left") else 0.2 if kind.endswith("right") else 0.0
        location.pose = xr.Posef(orientation=xr.Quaternionf(0.0, 0.7071068, 0.0, 0.7071068),
                                 position=xr.Vector3f(x, y, -0.3))
        return 0

    def xrEndFrame(self, session: Any, info: Any) -> int:
        xr = self.xr
        end = info.contents
        layers = []
        for i in range(end.layer_count):
            header = end._layers[i].contents
            assert header.type == xr.StructureType.COMPOSITION_LAYER_PROJECTION
            layer = ctypes.cast(end._layers[i],
                                ctypes.POINTER(xr.CompositionLayerProjection)).contents
            views = []
            for j in range(layer.view_count):
                view = layer._views[j]
                rect = view.sub_image.image_rect
                views.append({
                    "position": (view.pose.position.x, view.pose.position.y,
                                 view.pose.position.z),
                    "orientation": (view.pose.orientation.x, view.pose.orientation.y,
                                    view.pose.orientation.z, view.pose.orientation.w),
                    "fov": (view.fov.angle_left, view.fov.angle_right, view.fov.angle_up,
                            view.fov.angle_down),
                    "swapchain": _address(view.sub_image.swapchain),
                    "rect": (rect.offset.x, rect.offset.y, rect.extent.width,
                             rect.extent.height)})
            layers.append({"space": self.handles[_address(layer.space)], "views": views})
        self.submitted.append({"display_time": end.display_time,
                               "blend": int(end._environment_blend_mode), "layers": layers})
        return 0


@pytest.fixture
def fake_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., FakeRuntime]]:
    """A factory of fake runtimes installed in pyopenxr for this test."""
    xr = pytest.importorskip("xr")
    made: list[FakeRuntime] = []

    def make(images: Callable[[int], list[int]] = lambda _fmt: [1, 2, 3],
             **options: Any) -> FakeRuntime:
        runtime = FakeRuntime(xr, images, **options)
        runtime.install(monkeypatch)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        assert runtime.errors == [], runtime.errors


def test_probe_reports_the_runtime_headset_and_graphics(
        engine: Engine, fake_runtime: Callable[..., FakeRuntime]) -> None:
    fake = fake_runtime()
    runtime = OpenXrRuntime()
    try:
        info = runtime.probe()
        assert info.runtime == "Fake Runtime 2.5.1"
        assert info.system == "Fake Headset"
        assert info.eye_size == (64, 32)
        assert info.eye_gaze is True
        assert info.graphics == "egl"  # Panda3D renders offscreen through EGL here
        assert runtime.probe() is info  # probed once
        assert fake.app_name == "vret"
        assert sorted(fake.enabled) == sorted(
            ["XR_KHR_opengl_enable", "XR_MNDX_egl_enable", "XR_KHR_convert_timespec_time",
             "XR_EXT_eye_gaze_interaction"])  # only those vret uses
    finally:
        runtime.close()
    assert fake.destroyed == ["instance"]
    runtime.close()


def test_probe_without_a_headset_says_to_connect_it(
        fake_runtime: Callable[..., FakeRuntime]) -> None:
    fake = fake_runtime(headset=False)
    runtime = OpenXrRuntime()
    with pytest.raises(XrUnavailable, match="not connected or not switched on"):
        runtime.probe()
    assert fake.destroyed == ["instance"]  # the failed probe cleaned up
    runtime.close()


def test_probe_without_an_opengl_binding_says_so(
        fake_runtime: Callable[..., FakeRuntime]) -> None:
    fake_runtime(extensions=("XR_KHR_vulkan_enable2", "XR_KHR_convert_timespec_time"))
    with pytest.raises(XrUnavailable, match="offers no OpenGL binding vret can use"):
        OpenXrRuntime().probe()


def test_a_session_from_creation_to_exit(engine: Engine, caplog: pytest.LogCaptureFixture,
                                         fake_runtime: Callable[..., FakeRuntime]) -> None:
    size = (64, 32)
    gsg = engine.output.get_gsg()
    # The swapchains' images (three per eye) and the eyes, drawn once so that each texture
    # has its storage before its GL name is taken (Panda3D sizes a render target's texture
    # when it first renders into it).
    targets = [make_target(engine, f"swapchain-{i}", size, (0, 0, 1, 1)) for i in range(6)]
    eyes = [make_target(engine, "eye-left", size, (1, 0, 0, 1), card=(0, 1, 0, 1)),
            make_target(engine, "eye-right", size, (0, 1, 0, 1), card=(1, 0, 0, 1))]
    engine.step()
    for target in targets:
        target.buffer.set_active(False)  # from now on only the copies write them
    handed_out: list[Target] = []

    def images(_fmt: int) -> list[int]:
        made = targets[len(handed_out):len(handed_out) + 3]
        handed_out.extend(made)
        return [gl_copy.native_texture_id(t.texture, gsg) for t in made]

    fake = fake_runtime(images)
    runtime = OpenXrRuntime()
    try:
        runtime.probe()
        runtime.create_session("stage")
        context = current_gl_context()
        assert context is not None
        assert fake.binding["type"] == fake.xr.StructureType.GRAPHICS_BINDING_EGL_MNDX.value
        assert fake.binding["display"] == context.display
        assert fake.binding["context"] == context.context
        assert fake.binding["config"] == context.config != 0
        assert fake.binding["get_proc_address"] == context.get_proc_address != 0
        assert fake.binding["requirements_before_session"] == 1
        assert [info[0] for info in fake.swapchain_info.values()] == [0x8C43, 0x8C43]
        assert all(info[1:] == (64, 32, 1) for info in fake.swapchain_info.values())
        assert fake.action_set_name == "vret"
        assert all(fake.binding[f"action:{name}"] == 2 for name in bindings.ACTIONS)
        assert fake.binding["action:gaze"] == 0
        assert fake.binding["attached"] == 1
        for profile in bindings.PROFILES:
            if profile != fake.rejected_profile:
                assert sorted(fake.suggested[profile]) == sorted(bindings.suggested(profile))
        assert fake.rejected_profile not in fake.suggested  # rejected, and carried on
        assert fake.suggested[bindings.EYE_GAZE_PROFILE] == [("gaze", bindings.EYE_GAZE_PATH)]

        assert runtime.poll_states() == ["idle", "ready"]
        runtime.begin_session()
        assert runtime.poll_states() == ["synchronized", "visible", "focused"]
        assert runtime.poll_states() == []

        timing = runtime.wait_frame()
        assert timing.should_render and timing.period_ns == 11_111_111
        runtime.begin_frame()
        tracking = runtime.locate(timing.display_time)
        assert fake.handles[fake.binding["views_space"]] == "space:stage"
        assert [v.pose.position for v in tracking.views] == [
            pytest.approx((-0.032, 1.6, 0.0)), pytest.approx((0.032, 1.6, 0.0))]
        fov = tracking.views[0].fov
        assert (fov.angle_left, fov.angle_right, fov.angle_up, fov.angle_down) == \
            pytest.approx((-0.8, 0.7, 0.75, -0.85))
        assert tracking.head is not None
        assert tracking.head.position == pytest.approx((0.0, 1.6, -0.3))
        assert tracking.head.orientation == pytest.approx((0.0, 0.7071068, 0.0, 0.7071068))
        assert tracking.gaze is not None and tracking.gaze.position[1] == pytest.approx(1.55)
        right, left = tracking.hands["right"], tracking.hands["left"]
        assert right.trigger == pytest.approx(0.9) and right.squeeze == pytest.approx(0.25)
        assert right.thumbstick == pytest.approx((-0.5, 0.25))
        assert right.aim is not None and right.aim.position[0] == pytest.approx(0.2)
        assert right.grip is not None and not right.menu
        assert right.profile == "/interaction_profiles/oculus/touch_controller"
        assert left.menu and left.trigger == 0.0 and left.thumbstick == (0.0, 0.0)
        assert left.aim is not None and left.grip is None  # the grip pose is inactive
        assert left.profile == ""

        views = [XrView(XrPose((-0.03, 1.5, 0.1), (0.0, 0.0, 0.3826834, 0.9238795)),
                        XrFov(-0.8, 0.7, 0.75, -0.85)),
                 XrView(XrPose((0.03, 1.5, 0.1)), XrFov(-0.7, 0.8, 0.75, -0.85))]
        eye_ids = [gl_copy.native_texture_id(eye.texture, gsg) for eye in eyes]
        runtime.end_frame(timing, views, eye_ids)
        submitted = fake.submitted[-1]
        assert submitted["display_time"] == timing.display_time and submitted["blend"] == 1
        (layer,) = submitted["layers"]
        assert layer["space"] == "space:stage"
        assert layer["views"][0]["position"] == pytest.approx((-0.03, 1.5, 0.1))
        assert layer["views"][0]["orientation"] == pytest.approx(
            (0.0, 0.0, 0.3826834, 0.9238795))
        assert layer["views"][1]["fov"] == pytest.approx((-0.7, 0.8, 0.75, -0.85))
        assert [v["rect"] for v in layer["views"]] == [(0, 0, 64, 32)] * 2
        chains = list(fake.swapchains)
        assert [v["swapchain"] for v in layer["views"]] == chains
        # Each eye's image is now in the swapchain image the runtime handed out.
        for k, (eye, chain) in enumerate(zip(eyes, chains, strict=True)):
            assert fake.acquired[chain] == 0  # the first image of each swapchain
            image = targets[k * 3 + fake.acquired[chain]]
            assert colours(pixels(engine, eye.texture)) >= {RED, GREEN}
            assert np.array_equal(pixels(engine, image.texture), pixels(engine, eye.texture))
        untouched = [t for i, t in enumerate(targets) if i % 3 != 0]
        assert all(colours(pixels(engine, t.texture)) == {BLUE} for t in untouched)

        # Nothing to show: the frame is ended without a layer.
        runtime.end_frame(FrameTiming(timing.display_time, timing.period_ns, False), views,
                          eye_ids)
        runtime.end_frame(timing, views, None)
        assert [s["layers"] for s in fake.submitted[-2:]] == [[], []]

        # A compositor that holds an image too long: that frame goes empty, the next works.
        fake.wait_result = 1  # XR_TIMEOUT_EXPIRED
        with caplog.at_level(logging.WARNING, "vr_server.xr.openxr_runtime"):
            runtime.end_frame(timing, views, eye_ids)
        assert fake.submitted[-1]["layers"] == [] and "not free" in caplog.text
        fake.wait_result = 0
        runtime.end_frame(timing, views, eye_ids)
        assert len(fake.submitted[-1]["layers"]) == 1

        # A copy that fails (no such texture): the frame is still ended, empty, said once.
        caplog.clear()
        with caplog.at_level(logging.ERROR, "vr_server.xr.openxr_runtime"):
            runtime.end_frame(timing, views, [987654, 987655])
            runtime.end_frame(timing, views, [987654, 987655])
        assert [s["layers"] for s in fake.submitted[-2:]] == [[], []]
        assert caplog.text.count("could not hand the eyes") == 1
        runtime.end_frame(timing, views, eye_ids)
        assert len(fake.submitted[-1]["layers"]) == 1

        # Successes pyopenxr raises for: the frame goes on.
        fake.binding["loss_pending"] = fake.binding["discard"] = 1
        assert runtime.wait_frame().should_render
        runtime.begin_frame()
        fake.binding["loss_pending"] = fake.binding["discard"] = 0

        runtime.set_reference("local")
        runtime.locate(timing.display_time)
        assert fake.handles[fake.binding["views_space"]] == "space:local"

        now = time.monotonic_ns()
        assert runtime.to_monotonic_ns(now + fake.time_offset_ns) == now

        runtime.request_exit()
        assert runtime.poll_states() == ["stopping"]
        runtime.end_session()
        assert runtime.poll_states() == ["idle", "exiting"]
        runtime.destroy_session()
        runtime.destroy_session()
        assert sorted(fake.destroyed) == sorted(
            ["swapchain"] * 2 + ["space:view", "space:local", "space:stage", "space:gaze:"]
            + [f"space:{a}:/user/hand/{h}" for a in ("aim", "grip") for h in ("left", "right")]
            + [f"action:{a}" for a in [*bindings.ACTIONS, "gaze"]]
            + ["action_set", "session"])
    finally:
        runtime.close()
        remove_targets(engine, targets + eyes)
    assert set(fake.handles.values()) == set()  # everything the runtime handed out was freed
    assert "xrSyncActions" in fake.calls


def test_a_session_without_stage_or_unfocused(
        engine: Engine, caplog: pytest.LogCaptureFixture,
        fake_runtime: Callable[..., FakeRuntime]) -> None:
    fake = fake_runtime(stage=False)
    runtime = OpenXrRuntime()
    try:
        runtime.probe()
        with caplog.at_level(logging.WARNING, "vr_server.xr.openxr_runtime"):
            runtime.create_session("stage")
        assert "no STAGE space" in caplog.text
        assert runtime.poll_states() == ["idle", "ready"]
        runtime.begin_session()
        assert runtime.poll_states()[-1] == "focused"
        fake._queue_state("VISIBLE")  # focus goes to the runtime's own menu
        assert runtime.poll_states() == ["visible"]
        calls = len([c for c in fake.calls if c == "xrSyncActions"])
        tracking = runtime.locate(runtime.wait_frame().display_time)
        assert fake.handles[fake.binding["views_space"]] == "space:local"
        assert len([c for c in fake.calls if c == "xrSyncActions"]) == calls  # not synced
        assert tracking.views and tracking.head is not None
        assert tracking.hands["right"].trigger == 0.0 and tracking.hands["right"].aim is None
        assert tracking.hands["right"].profile.endswith("touch_controller")
        assert tracking.gaze is None
    finally:
        runtime.close()
    assert set(fake.handles.values()) == set()


def test_a_lost_runtime_is_said_once_and_reconnecting_makes_a_new_instance(
        engine: Engine, fake_runtime: Callable[..., FakeRuntime]) -> None:
    """The spec's loss handling: after XR_ERROR_INSTANCE_LOST the instance is destroyed and a
    new one created (a new system too); the loss is reported once, not every frame."""
    fake = fake_runtime()
    runtime = OpenXrRuntime()
    try:
        runtime.probe()
        runtime.create_session("stage")
        assert runtime.poll_states() == ["idle", "ready"]
        runtime.begin_session()
        runtime.poll_states()
        stale = fake.session_handle
        fake.instance_lost = True
        assert runtime.poll_states() == ["loss_pending"]
        assert runtime.poll_states() == []  # said once, not every frame
        assert runtime.is_lost(fake.xr.InstanceLostError())
        assert not runtime.is_lost(fake.xr.ValidationFailureError())
        runtime.destroy_session()
        runtime.close()  # what the headset does on a loss
        fake.instance_lost = False
        runtime.create_session("stage")  # probes again: a new instance and system
        assert fake.calls.count("xrCreateInstance") == 2
        assert fake.calls.count("xrGetSystem") == 2
        # A state change still queued for the old session is not taken for the new one's.
        fresh = fake.session_handle
        fake.session_handle = stale
        fake._queue_state("STOPPING")
        fake.session_handle = fresh
        assert runtime.poll_states() == ["idle", "ready"]
    finally:
        runtime.close()
    assert set(fake.handles.values()) == set()


def test_a_runtime_without_a_usable_swapchain_format_is_named(
        engine: Engine, fake_runtime: Callable[..., FakeRuntime]) -> None:
    fake = fake_runtime(formats=(0x8C41, 0x881A))
    runtime = OpenXrRuntime()
    try:
        runtime.probe()
        with pytest.raises(XrUnavailable, match=r"0x8C41, 0x881A"):
            runtime.create_session("stage")
        assert "session" in fake.destroyed  # the half-made session was destroyed
    finally:
        runtime.close()
    assert set(fake.handles.values()) == set()


def test_to_monotonic_ns_without_the_extension_takes_xrtime_as_monotonic(
        fake_runtime: Callable[..., FakeRuntime], caplog: pytest.LogCaptureFixture) -> None:
    fake_runtime(extensions=("XR_KHR_opengl_enable", "XR_MNDX_egl_enable"))
    runtime = OpenXrRuntime()
    try:
        runtime.probe()
        with caplog.at_level(logging.INFO, "vr_server.xr.openxr_runtime"):
            assert runtime.to_monotonic_ns(123_456_789) == 123_456_789
            assert runtime.to_monotonic_ns(5) == 5
        assert caplog.text.count("CLOCK_MONOTONIC") == 1  # said once
    finally:
        runtime.close()


# ---------------------------------------------------------------- a real runtime


@pytest.mark.openxr_runtime
def test_a_real_runtime_opens_a_session(engine: Engine) -> None:
    """Against the runtime this machine has (skipped without one, or without a headset)."""
    pytest.importorskip("xr")
    runtime = OpenXrRuntime()
    try:
        try:
            info = runtime.probe()
        except XrUnavailable as exc:
            pytest.skip(f"no OpenXR runtime or headset: {exc}")
        assert info.eye_size[0] > 0 and info.eye_size[1] > 0
        try:
            runtime.create_session("stage")
        except XrUnavailable as exc:
            if "no OpenGL binding" not in str(exc):
                raise
            # E.g. SteamVR, which has no EGL binding, with this process's offscreen engine.
            pytest.skip(f"the runtime cannot use this process's GL context: {exc}")
        deadline = time.monotonic() + 5.0
        states: list[str] = []
        while "ready" not in states and time.monotonic() < deadline:
            states += runtime.poll_states()
            time.sleep(0.05)
        assert "ready" in states, states
        runtime.begin_session()
        timing = runtime.wait_frame()
        runtime.begin_frame()
        runtime.locate(timing.display_time)
        runtime.end_frame(timing, (), None)
        runtime.request_exit()
    finally:
        runtime.close()
