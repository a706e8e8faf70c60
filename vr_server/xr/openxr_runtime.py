"""The real OpenXR backend: pyopenxr (``import xr``) talking to the runtime the OpenXR loader
finds (SteamVR, Monado, WiVRn, ALVR, ...).

It implements :class:`vr_server.xr.types.XrBackend` and reports everything in OpenXR's own
conventions; :mod:`vr_server.xr.convert` does the axis conversion.

Two things about pyopenxr shape the code:

* it raises an exception for every result other than ``XR_SUCCESS``, including the *success*
  codes ``XR_EVENT_UNAVAILABLE``, ``XR_SESSION_NOT_FOCUSED``, ``XR_FRAME_DISCARDED``,
  ``XR_SESSION_LOSS_PENDING`` and ``XR_TIMEOUT_EXPIRED``: those are caught where they can occur
  and treated as the successes they are;
* ``import xr`` loads the OpenXR loader and PyOpenGL (forcing PyOpenGL onto GLX), so it is
  imported only when a runtime is actually probed: importing this module costs nothing and
  works without pyopenxr installed.

The GL handles of Panda3D's context (EGL for offscreen rendering, GLX for an X11 window) are
read with ctypes from the context current on the calling thread, never through PyOpenGL.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vr_server.xr import bindings, gl_copy
from vr_server.xr.types import (
    HANDS,
    SESSION_STATES,
    FrameTiming,
    Hand,
    HandInput,
    Reference,
    SessionState,
    SystemInfo,
    Tracking,
    XrFov,
    XrPose,
    XrUnavailable,
    XrView,
)

log = logging.getLogger(__name__)

APP_NAME = "vret"
WANTED_EXTENSIONS: tuple[str, ...] = (
    "XR_KHR_opengl_enable", "XR_MNDX_egl_enable", "XR_KHR_convert_timespec_time",
    "XR_EXT_eye_gaze_interaction")
"""Instance extensions enabled when the runtime offers them (none is required by itself:
either OpenGL one is, depending on the context Panda3D renders with)."""
GL_SRGB8_ALPHA8 = 0x8C43
GL_RGBA8 = 0x8058
SWAPCHAIN_FORMATS: tuple[int, ...] = (GL_SRGB8_ALPHA8, GL_RGBA8)
"""Swapchain formats in order of preference. Panda3D's eye images hold sRGB-encoded bytes in
RGBA8 textures (``framebuffer-srgb false``: simplepbr encodes in its shader), and
``glCopyImageSubData`` copies bytes as they are, so an sRGB swapchain makes the compositor
read them as what they are; a linear RGBA8 one is the fallback runtimes nearly all offer."""
SWAPCHAIN_WAIT_NS = 100_000_000
"""How long to wait for the compositor to free a swapchain image before skipping a frame."""

# EGL and GLX enumerants (from egl.h and glx.h; ctypes has no headers).
EGL_CONFIG_ID = 0x3028
EGL_NONE = 0x3038
GLX_SCREEN = 0x800C
GLX_FBCONFIG_ID = 0x8013
GLX_VISUAL_ID = 0x800B

NO_RUNTIME_HELP = (
    "Install an OpenXR runtime and make it the active one: SteamVR, Monado, WiVRn and ALVR "
    "each set themselves active when started (SteamVR: Settings > OpenXR > Set SteamVR as "
    "OpenXR runtime). Or point XR_RUNTIME_JSON at a runtime's manifest, e.g. "
    "XR_RUNTIME_JSON=/usr/share/openxr/1/openxr_monado.json for Monado or "
    "XR_RUNTIME_JSON=~/.steam/steam/steamapps/common/SteamVR/steamxr_linux64.json for SteamVR.")


def _import_xr() -> Any:
    """pyopenxr, imported on first use (see the module's docstring for why so late)."""
    # Without this the loader prints every failed manifest search to stderr; the reason for
    # a failure is in the exception and in XrUnavailable's message anyway.
    os.environ.setdefault("XR_LOADER_DEBUG", "none")
    try:
        # importlib rather than ``import xr``: pyopenxr has no type stubs, and the module is
        # used as ``Any`` throughout.
        return importlib.import_module("xr")
    except ImportError as exc:
        raise XrUnavailable(
            f"pyopenxr is not installed or could not load ({exc}): "
            "pip install pyopenxr") from exc
    except Exception as exc:  # the loader or libGL failing to load raises OSError and others
        raise XrUnavailable(f"pyopenxr could not load the OpenXR loader: {exc}") from exc


# ---------------------------------------------------------------- GL context handles


@dataclass(frozen=True)
class GlContextHandles:
    """The window-system handles of the GL context current on this thread (addresses as
    ints; 0: unknown)."""

    kind: str
    """``egl`` or ``opengl-xlib`` (the values of :attr:`SystemInfo.graphics`)."""
    display: int
    context: int
    config: int = 0
    """EGLConfig, or GLXFBConfig."""
    drawable: int = 0
    """GLX only."""
    visualid: int = 0
    """GLX only."""
    get_proc_address: int = 0
    """EGL only: the address of ``eglGetProcAddress``."""


def _cdll(name: str) -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def _egl_handles() -> GlContextHandles | None:
    egl = _cdll("libEGL.so.1")
    if egl is None:
        return None
    egl.eglGetCurrentContext.restype = ctypes.c_void_p
    egl.eglGetCurrentContext.argtypes = []
    context = egl.eglGetCurrentContext()
    if not context:
        return None
    egl.eglGetCurrentDisplay.restype = ctypes.c_void_p
    egl.eglGetCurrentDisplay.argtypes = []
    display = egl.eglGetCurrentDisplay()
    # The runtime creates its own context sharing ours, and needs our context's config for it.
    egl.eglQueryContext.restype = ctypes.c_uint
    egl.eglQueryContext.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                    ctypes.POINTER(ctypes.c_int)]
    config_id = ctypes.c_int(0)
    config = ctypes.c_void_p(None)
    if egl.eglQueryContext(display, context, EGL_CONFIG_ID, ctypes.byref(config_id)) \
            and config_id.value:
        egl.eglChooseConfig.restype = ctypes.c_uint
        egl.eglChooseConfig.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                        ctypes.POINTER(ctypes.c_void_p), ctypes.c_int,
                                        ctypes.POINTER(ctypes.c_int)]
        attributes = (ctypes.c_int * 3)(EGL_CONFIG_ID, config_id.value, EGL_NONE)
        count = ctypes.c_int(0)
        if not egl.eglChooseConfig(display, attributes, ctypes.byref(config), 1,
                                   ctypes.byref(count)) or count.value < 1:
            config = ctypes.c_void_p(None)
    if not config.value:
        # A context made without a config (EGL_KHR_no_config_context) has none to give.
        log.warning("openxr: the EGL context has no config (id %d); the runtime gets none",
                    config_id.value)
    get_proc_address = ctypes.cast(egl.eglGetProcAddress, ctypes.c_void_p).value or 0
    return GlContextHandles("egl", display=int(display or 0), context=int(context),
                            config=int(config.value or 0),
                            get_proc_address=int(get_proc_address))


def _glx_handles() -> GlContextHandles | None:
    gl = _cdll("libGL.so.1")
    if gl is None:
        return None
    for name in ("glXGetCurrentContext", "glXGetCurrentDisplay"):
        getattr(gl, name).restype = ctypes.c_void_p
        getattr(gl, name).argtypes = []
    context = gl.glXGetCurrentContext()
    if not context:
        return None
    display = gl.glXGetCurrentDisplay()
    gl.glXGetCurrentDrawable.restype = ctypes.c_ulong
    gl.glXGetCurrentDrawable.argtypes = []
    drawable = gl.glXGetCurrentDrawable()
    # The FBConfig and visual are part of the Xlib binding; runtimes mostly use only the
    # display and context, so failing to find them is logged, not fatal.
    fbconfig, visualid = 0, 0
    try:
        gl.glXQueryContext.restype = ctypes.c_int
        gl.glXQueryContext.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                       ctypes.POINTER(ctypes.c_int)]
        config_id, screen = ctypes.c_int(0), ctypes.c_int(0)
        gl.glXQueryContext(display, context, GLX_FBCONFIG_ID, ctypes.byref(config_id))
        gl.glXQueryContext(display, context, GLX_SCREEN, ctypes.byref(screen))
        gl.glXChooseFBConfig.restype = ctypes.POINTER(ctypes.c_void_p)
        gl.glXChooseFBConfig.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                         ctypes.POINTER(ctypes.c_int),
                                         ctypes.POINTER(ctypes.c_int)]
        attributes = (ctypes.c_int * 3)(GLX_FBCONFIG_ID, config_id.value, 0)
        count = ctypes.c_int(0)
        configs = gl.glXChooseFBConfig(display, screen.value, attributes, ctypes.byref(count))
        if configs and count.value > 0:
            fbconfig = int(configs[0] or 0)
            gl.glXGetFBConfigAttrib.restype = ctypes.c_int
            gl.glXGetFBConfigAttrib.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                                ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
            visual = ctypes.c_int(0)
            gl.glXGetFBConfigAttrib(display, fbconfig, GLX_VISUAL_ID, ctypes.byref(visual))
            visualid = visual.value
            x11 = _cdll("libX11.so.6")
            if x11 is not None:
                x11.XFree.argtypes = [ctypes.c_void_p]
                x11.XFree(configs)
    except (AttributeError, OSError) as exc:
        log.warning("openxr: could not read the GLX context's FBConfig: %s", exc)
    return GlContextHandles("opengl-xlib", display=int(display or 0), context=int(context),
                            config=fbconfig, drawable=int(drawable), visualid=visualid)


def current_gl_context() -> GlContextHandles | None:
    """The handles of the GL context current on this thread: EGL first (Panda3D's offscreen
    buffers), then GLX (its X11 windows); ``None`` when neither has one current."""
    return _egl_handles() or _glx_handles()


def _as_field(struct: Any, name: str, address: int) -> Any:
    """``address`` as a value of ``struct``'s field ``name`` (pointer types differ between
    PyOpenGL's opaque types and plain ``c_void_p`` depending on what PyOpenGL offers)."""
    field_type = dict(struct._fields_)[name]
    if issubclass(field_type, ctypes._Pointer | ctypes._CFuncPtr):  # type: ignore[attr-defined]
        return ctypes.cast(ctypes.c_void_p(address or None), field_type)
    return field_type(address)


def graphics_binding(xr: Any, handles: GlContextHandles) -> Any:
    """The ``XrGraphicsBinding*`` structure for ``handles`` (keep it alive while the session
    is created: the create info points at it)."""
    if handles.kind == "egl":
        cls = xr.GraphicsBindingEGLMNDX
        return cls(get_proc_address=_as_field(cls, "get_proc_address", handles.get_proc_address),
                   display=_as_field(cls, "display", handles.display),
                   config=_as_field(cls, "config", handles.config),
                   context=_as_field(cls, "context", handles.context))
    cls = xr.GraphicsBindingOpenGLXlibKHR
    return cls(x_display=_as_field(cls, "x_display", handles.display),
               visualid=handles.visualid,
               glx_fbconfig=_as_field(cls, "glx_fbconfig", handles.config),
               glx_drawable=handles.drawable,
               glx_context=_as_field(cls, "glx_context", handles.context))


# ---------------------------------------------------------------- conversions


def _pose(posef: Any) -> XrPose:
    p, q = posef.position, posef.orientation
    return XrPose((float(p.x), float(p.y), float(p.z)),
                  (float(q.x), float(q.y), float(q.z), float(q.w)))


def _posef(xr: Any, pose: XrPose) -> Any:
    return xr.Posef(orientation=xr.Quaternionf(*pose.orientation),
                    position=xr.Vector3f(*pose.position))


def _fov(fovf: Any) -> XrFov:
    return XrFov(float(fovf.angle_left), float(fovf.angle_right), float(fovf.angle_up),
                 float(fovf.angle_down))


def _fovf(xr: Any, fov: XrFov) -> Any:
    return xr.Fovf(angle_left=fov.angle_left, angle_right=fov.angle_right,
                   angle_up=fov.angle_up, angle_down=fov.angle_down)


def _address(struct: Any) -> ctypes.c_void_p:
    """A ``next`` pointer to ``struct`` (which the caller keeps alive)."""
    return ctypes.cast(ctypes.pointer(struct), ctypes.c_void_p)


def _enum_name(enum: Any, value: int) -> str:
    """The name of ``value`` in pyopenxr's ``enum`` (a newer runtime may send a value this
    pyopenxr does not know: its number then)."""
    try:
        return str(enum(value).name)
    except ValueError:
        return str(value)


def _flags(value: Any) -> int:
    return int(getattr(value, "value", value))


@dataclass
class _Swapchain:
    handle: Any
    width: int
    height: int
    images: list[int]
    """The swapchain's GL texture names, by image index."""
    acquired: int | None = None
    """An image acquired but not yet released (its wait timed out in an earlier frame)."""


@dataclass
class _Session:
    """Everything that lives and dies with one XrSession."""

    handle: Any
    binding: Any
    """The graphics binding the create info pointed at (kept alive with the session)."""
    spaces: dict[str, Any] = field(default_factory=dict)
    """Reference spaces: ``view`` (the head), ``local``, ``stage``."""
    swapchains: list[_Swapchain] = field(default_factory=list)
    action_set: Any = None
    actions: dict[str, Any] = field(default_factory=dict)
    action_spaces: dict[tuple[str, Hand], Any] = field(default_factory=dict)
    gaze_action: Any = None
    gaze_space: Any = None
    profiles: dict[Hand, str] = field(default_factory=dict)
    profiles_stale: bool = True
    running: bool = False
    located_space: Any = None
    """The reference space of the last ``locate`` (the submitted views are in it)."""


class OpenXrRuntime:
    """An :class:`~vr_server.xr.types.XrBackend` on the system's OpenXR runtime."""

    def __init__(self) -> None:
        self._xr: Any = None
        self._instance: Any = None
        self._system_id: Any = None
        self._extensions: set[str] = set()
        self._info: SystemInfo | None = None
        self._blend_mode: Any = None
        self._session: _Session | None = None
        self._state: SessionState = "unknown"
        self._reference: Reference = "stage"
        self._hand_paths: dict[Hand, Any] = {}
        self._to_timespec: Any = None
        self._clock_warned = False
        self._copy_failed = False
        self._eye_size: tuple[int, int] | None = None
        """The size of the first probe: vret's eye buffers keep it across reconnections."""

    # ------------------------------------------------------------ instance

    def probe(self) -> SystemInfo:
        """Create the instance, find the headset; see :class:`XrUnavailable` for failures."""
        if self._info is not None:
            return self._info
        xr = _import_xr()
        self._xr = xr
        try:
            info = self._probe(xr)
            if self._eye_size is None:
                self._eye_size = info.eye_size
            elif info.eye_size != self._eye_size:
                log.warning("openxr: the headset now recommends %dx%d per eye; vret keeps "
                            "%dx%d", *info.eye_size, *self._eye_size)
                self._info = info = SystemInfo(info.runtime, info.system, self._eye_size,
                                               info.eye_gaze, info.graphics)
            return info
        except XrUnavailable:
            self.close()
            raise
        except xr.XrException as exc:
            self.close()
            raise XrUnavailable(f"the OpenXR runtime failed while vret looked for the "
                                f"headset: {type(exc).__name__}: {exc}") from exc

    def _probe(self, xr: Any) -> SystemInfo:
        try:
            offered = {p.extension_name.decode()
                       for p in xr.enumerate_instance_extension_properties()}
        except xr.RuntimeUnavailableError as exc:
            raise XrUnavailable(self._no_runtime_message()) from exc
        if not {"XR_KHR_opengl_enable", "XR_MNDX_egl_enable"} & offered:
            raise XrUnavailable(
                "the OpenXR runtime offers no OpenGL binding vret can use (it needs "
                "XR_KHR_opengl_enable, or XR_MNDX_egl_enable for offscreen EGL rendering); it "
                f"offers: {', '.join(sorted(offered)) or 'no extensions'}. Use a runtime with "
                "OpenGL support (SteamVR, Monado, WiVRn, ALVR on Linux).")
        self._extensions = {name for name in WANTED_EXTENSIONS if name in offered}
        try:
            self._instance = xr.create_instance(xr.InstanceCreateInfo(
                application_info=xr.ApplicationInfo(application_name=APP_NAME,
                                                    engine_name=APP_NAME),
                enabled_extension_names=sorted(self._extensions)))
        except xr.RuntimeUnavailableError as exc:
            raise XrUnavailable(self._no_runtime_message()) from exc
        properties = xr.get_instance_properties(self._instance)
        runtime = (f"{properties.runtime_name.decode(errors='replace')} "
                   f"{properties.runtime_version}")
        try:
            self._system_id = xr.get_system(self._instance, xr.SystemGetInfo(
                form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY))
        except xr.FormFactorUnavailableError as exc:
            raise XrUnavailable(
                f"the OpenXR runtime ({runtime}) found no headset: it is not connected or "
                "not switched on (or, for a standalone headset streaming over Wi-Fi or USB, "
                "its streaming app is not connected). Connect it, switch it on, and start "
                "again.") from exc
        except xr.FormFactorUnsupportedError as exc:
            raise XrUnavailable(f"the OpenXR runtime ({runtime}) does not support "
                                "head-mounted displays") from exc
        eye_gaze = False
        eye_properties = None
        system_properties = xr.SystemProperties()
        if "XR_EXT_eye_gaze_interaction" in self._extensions:
            eye_properties = xr.SystemEyeGazeInteractionPropertiesEXT()
            # A c_void_p: pyopenxr's ``next`` helper takes a ctypes pointer object for the
            # structure to point at, and would chain a pointer to the pointer.
            system_properties.next = _address(eye_properties)
        # The raw call, because pyopenxr's get_system_properties builds its own structure
        # and so cannot chain the eye-gaze properties.
        self._check(xr.raw_functions.xrGetSystemProperties(
            self._instance, self._system_id, ctypes.byref(system_properties)))
        if eye_properties is not None:
            eye_gaze = bool(eye_properties.supports_eye_gaze_interaction)
        system = system_properties.system_name.decode(errors="replace")
        try:
            views = xr.enumerate_view_configuration_views(
                self._instance, self._system_id, xr.ViewConfigurationType.PRIMARY_STEREO)
        except xr.ViewConfigurationTypeUnsupportedError as exc:
            raise XrUnavailable(f"the headset {system!r} ({runtime}) has no stereo view "
                                "configuration") from exc
        eye_size = (int(views[0].recommended_image_rect_width),
                    int(views[0].recommended_image_rect_height))
        blend_modes = list(xr.enumerate_environment_blend_modes(
            self._instance, self._system_id, xr.ViewConfigurationType.PRIMARY_STEREO))
        opaque = xr.EnvironmentBlendMode.OPAQUE
        if not blend_modes or opaque.value in [_flags(m) for m in blend_modes]:
            self._blend_mode = opaque
        else:
            # A see-through headset (additive or alpha blend) shows the room behind the
            # scene: exposure scenes were made for an opaque one, so say so.
            self._blend_mode = xr.EnvironmentBlendMode(_flags(blend_modes[0]))
            log.warning("openxr: the headset has no opaque blend mode; using %s",
                        self._blend_mode.name)
        graphics = self._choose_graphics(current_gl_context())
        self._info = SystemInfo(runtime=runtime, system=system, eye_size=eye_size,
                                eye_gaze=eye_gaze, graphics=graphics)
        log.info("openxr: %s, headset %s, %dx%d per eye, eye gaze %s, graphics %s, "
                 "extensions %s", runtime, system, eye_size[0], eye_size[1],
                 "yes" if eye_gaze else "no", graphics, ", ".join(sorted(self._extensions)))
        return self._info

    def _no_runtime_message(self) -> str:
        path = os.environ.get("XR_RUNTIME_JSON")
        if path:
            where = ("which does not exist" if not os.path.exists(path)
                     else "but the runtime it names could not be loaded")
            return (f"no OpenXR runtime could be loaded: XR_RUNTIME_JSON is set to {path!r}, "
                    f"{where}. {NO_RUNTIME_HELP}")
        return ("no OpenXR runtime is installed or active (the OpenXR loader found no active "
                f"runtime, and XR_RUNTIME_JSON is not set). {NO_RUNTIME_HELP}")

    def _choose_graphics(self, handles: GlContextHandles | None) -> str:
        """The binding for ``handles`` (or, with no context current yet, the one the engine
        will most likely have), checked against what the runtime offers."""
        egl_ok = "XR_MNDX_egl_enable" in self._extensions
        glx_ok = "XR_KHR_opengl_enable" in self._extensions
        if handles is None:
            # Panda3D renders offscreen through EGL without a display, and through GLX with one.
            wanted = "opengl-xlib" if os.environ.get("DISPLAY") else "egl"
            if wanted == "egl" and not egl_ok:
                wanted = "opengl-xlib"
            if wanted == "opengl-xlib" and not glx_ok:
                wanted = "egl"
            return wanted
        if handles.kind == "egl" and not egl_ok:
            raise XrUnavailable(
                "the OpenXR runtime offers no OpenGL binding vret can use for offscreen (EGL) "
                "rendering: it lacks XR_MNDX_egl_enable. Start vret on an X display (DISPLAY "
                "set: it then renders through GLX), or use Monado or WiVRn, which offer EGL.")
        if handles.kind == "opengl-xlib" and not glx_ok:
            raise XrUnavailable(
                "the OpenXR runtime offers no OpenGL binding vret can use with an X11 (GLX) "
                "context: it lacks XR_KHR_opengl_enable.")
        return handles.kind

    def _check(self, result: Any) -> None:
        """Raise pyopenxr's exception for a raw call's error result (successes pass)."""
        xr = self._xr
        checked = xr.check_result(xr.Result(result))
        if isinstance(checked, xr.ErrorResult):
            raise checked

    # ------------------------------------------------------------ session

    def create_session(self, reference: Reference) -> None:
        """Open the session on the GL context current on this thread, with its spaces,
        swapchains and actions."""
        if self._instance is None and self._eye_size is not None:
            # After a lost runtime: a new instance and system (the spec's loss handling). The
            # swapchains keep the size vret's eye buffers were made at.
            self.probe()
        if self._instance is None or self._info is None:
            raise XrUnavailable("create_session before a successful probe()")
        if self._session is not None:
            raise RuntimeError("create_session: a session is already open")
        xr = self._xr
        handles = current_gl_context()
        if handles is None:
            raise XrUnavailable(
                "create_session needs Panda3D's OpenGL context current on this thread (EGL or "
                "GLX), and none is: call it from the render thread after the engine opened")
        graphics = self._choose_graphics(handles)
        if graphics != self._info.graphics:
            log.info("openxr: graphics binding %s (probe expected %s)", graphics,
                     self._info.graphics)
            self._info = SystemInfo(self._info.runtime, self._info.system,
                                    self._info.eye_size, self._info.eye_gaze, graphics)
        self._graphics_requirements()
        binding = graphics_binding(xr, handles)
        handle = xr.create_session(self._instance, xr.SessionCreateInfo(
            system_id=self._system_id, next=_address(binding)))
        self._session = session = _Session(handle=handle, binding=binding)
        self._state = "unknown"
        self._reference = reference
        try:
            self._create_spaces(session)
            self._create_swapchains(session)
            self._create_actions(session)
        except BaseException:
            self.destroy_session()
            raise
        log.info("openxr: session created (%s, %d swapchains %dx%d, reference %s)", graphics,
                 len(session.swapchains), *self._info.eye_size, reference)

    def _graphics_requirements(self) -> None:
        """``xrGetOpenGLGraphicsRequirementsKHR``, which the spec requires before
        ``xrCreateSession`` (for the EGL binding too), and a check of our GL version."""
        xr = self._xr
        if "XR_KHR_opengl_enable" not in self._extensions:
            log.warning("openxr: the runtime lacks XR_KHR_opengl_enable: no graphics "
                        "requirements to ask for")
            return
        requirements = xr.get_opengl_graphics_requirements_khr(self._instance, self._system_id)
        low = requirements.min_api_version_supported
        high = requirements.max_api_version_supported
        try:
            have = gl_copy.current_gl_version()
        except RuntimeError:
            have = (0, 0)
        if have != (0, 0) and have < (low.major, low.minor):
            raise XrUnavailable(f"the OpenXR runtime needs OpenGL {low.major}.{low.minor} or "
                                f"newer; Panda3D's context is {have[0]}.{have[1]}")
        log.debug("openxr: runtime supports OpenGL %s to %s; context is %d.%d", low, high,
                  *have)

    def _create_spaces(self, session: _Session) -> None:
        xr = self._xr
        offered = {_flags(t) for t in xr.enumerate_reference_spaces(session.handle)}
        for name, kind in (("view", xr.ReferenceSpaceType.VIEW),
                           ("local", xr.ReferenceSpaceType.LOCAL),
                           ("stage", xr.ReferenceSpaceType.STAGE)):
            if kind.value not in offered:
                if name == "stage":
                    log.warning("openxr: the runtime offers no STAGE space (no play area set "
                                "up?): standing mode uses LOCAL, whose origin is at the head")
                    continue
                raise XrUnavailable(f"the OpenXR runtime offers no {kind.name} space")
            session.spaces[name] = xr.create_reference_space(
                session.handle, xr.ReferenceSpaceCreateInfo(reference_space_type=kind,
                                                            pose_in_reference_space=xr.Posef()))

    def _create_swapchains(self, session: _Session) -> None:
        xr = self._xr
        assert self._info is not None
        offered = [int(f) for f in xr.enumerate_swapchain_formats(session.handle)]
        chosen = next((f for f in SWAPCHAIN_FORMATS if f in offered), None)
        if chosen is None:
            raise XrUnavailable(
                "the OpenXR runtime offers no swapchain format vret can copy into (wants "
                "GL_SRGB8_ALPHA8 0x8C43 or GL_RGBA8 0x8058); it offers "
                f"{', '.join(f'0x{f:04X}' for f in offered) or 'none'}")
        width, height = self._info.eye_size
        usage = (xr.SwapchainUsageFlags.COLOR_ATTACHMENT_BIT
                 | xr.SwapchainUsageFlags.TRANSFER_DST_BIT)
        for _eye in range(2):
            handle = xr.create_swapchain(session.handle, xr.SwapchainCreateInfo(
                usage_flags=usage, format=chosen, sample_count=1, width=width, height=height,
                face_count=1, array_size=1, mip_count=1))
            # Appended before enumerating, so that destroy_session frees it if that fails.
            swapchain = _Swapchain(handle, width, height, [])
            session.swapchains.append(swapchain)
            images = xr.enumerate_swapchain_images(handle, xr.SwapchainImageOpenGLKHR)
            swapchain.images = [int(image.image) for image in images]
        log.debug("openxr: swapchain format 0x%04X, %d images each", chosen,
                  len(session.swapchains[0].images))

    def _path(self, path: str) -> Any:
        return self._xr.string_to_path(self._instance, path)

    def _create_actions(self, session: _Session) -> None:
        xr = self._xr
        # The action set lives and dies with the session: once attached, a set can take no
        # new suggestions, so a later session needs a fresh one.
        session.action_set = xr.create_action_set(self._instance, xr.ActionSetCreateInfo(
            action_set_name=APP_NAME, localized_action_set_name=APP_NAME, priority=0))
        self._hand_paths = {hand: self._path(f"/user/hand/{hand}") for hand in HANDS}
        kinds = {"float": xr.ActionType.FLOAT_INPUT, "boolean": xr.ActionType.BOOLEAN_INPUT,
                 "vector2": xr.ActionType.VECTOR2F_INPUT, "pose": xr.ActionType.POSE_INPUT}
        hand_paths = [self._hand_paths[hand] for hand in HANDS]
        for name, (kind, label) in bindings.ACTIONS.items():
            session.actions[name] = xr.create_action(session.action_set, xr.ActionCreateInfo(
                action_name=name, action_type=kinds[kind], subaction_paths=hand_paths,
                localized_action_name=label))
        assert self._info is not None
        if self._info.eye_gaze:
            session.gaze_action = xr.create_action(session.action_set, xr.ActionCreateInfo(
                action_name="gaze", action_type=xr.ActionType.POSE_INPUT,
                localized_action_name="Eye gaze"))
        for profile in bindings.PROFILES:
            self._suggest(profile, [(session.actions[action], path)
                                    for action, path in bindings.suggested(profile)])
        if session.gaze_action is not None:
            self._suggest(bindings.EYE_GAZE_PROFILE,
                          [(session.gaze_action, bindings.EYE_GAZE_PATH)])
        for name in ("aim", "grip"):
            for hand in HANDS:
                session.action_spaces[(name, hand)] = xr.create_action_space(
                    session.handle, xr.ActionSpaceCreateInfo(
                        action=session.actions[name], subaction_path=self._hand_paths[hand],
                        pose_in_action_space=xr.Posef()))
        if session.gaze_action is not None:
            session.gaze_space = xr.create_action_space(session.handle, xr.ActionSpaceCreateInfo(
                action=session.gaze_action, pose_in_action_space=xr.Posef()))
        xr.attach_session_action_sets(session.handle, xr.SessionActionSetsAttachInfo(
            action_sets=[session.action_set]))

    def _suggest(self, profile: str, pairs: Sequence[tuple[Any, str]]) -> None:
        """Suggest one profile's bindings; a runtime that does not know the profile (or one
        of its paths) rejects it, which costs only that controller's defaults."""
        xr = self._xr
        try:
            suggested = [xr.ActionSuggestedBinding(action=action, binding=self._path(path))
                         for action, path in pairs]
            xr.suggest_interaction_profile_bindings(
                self._instance, xr.InteractionProfileSuggestedBinding(
                    interaction_profile=self._path(profile), suggested_bindings=suggested))
        except xr.ErrorResult as exc:
            log.info("openxr: the runtime rejected the bindings for %s (%s: %s)", profile,
                     type(exc).__name__, exc)

    # ------------------------------------------------------------ states

    def poll_states(self) -> list[SessionState]:
        """Drain the runtime's events; the session states passed through, in order."""
        xr = self._xr
        states: list[SessionState] = []
        if self._instance is None:
            return states
        by_name = {name.upper(): name for name in SESSION_STATES}
        while True:
            try:
                event = xr.poll_event(self._instance)
            except xr.EventUnavailable:
                break
            except (xr.InstanceLostError, xr.SessionLostError) as exc:
                log.error("openxr: the runtime was lost (%s)", type(exc).__name__)
                if self._state != "loss_pending":  # said once; the server then closes us
                    states.append(self._enter("loss_pending"))
                break
            kind = int(event._type)
            if kind == xr.StructureType.EVENT_DATA_SESSION_STATE_CHANGED.value:
                changed = ctypes.cast(ctypes.byref(event),
                                      ctypes.POINTER(xr.EventDataSessionStateChanged)).contents
                if not self._is_current(changed.session):
                    log.info("openxr: a state change of a session already destroyed ignored")
                    continue
                name = by_name.get(_enum_name(xr.SessionState, changed._state))
                if name is not None:
                    states.append(self._enter(name))
                else:
                    log.warning("openxr: unknown session state %d ignored", changed._state)
            elif kind == xr.StructureType.EVENT_DATA_INSTANCE_LOSS_PENDING.value:
                log.warning("openxr: the runtime is going away (instance loss pending)")
                states.append(self._enter("loss_pending"))
            elif kind == xr.StructureType.EVENT_DATA_INTERACTION_PROFILE_CHANGED.value:
                if self._session is not None:
                    self._session.profiles_stale = True
            elif kind == xr.StructureType.EVENT_DATA_REFERENCE_SPACE_CHANGE_PENDING.value:
                pending = ctypes.cast(
                    ctypes.byref(event),
                    ctypes.POINTER(xr.EventDataReferenceSpaceChangePending)).contents
                # The runtime recentred or the play area moved: poses jump once, and the
                # server already handles jumps (recentring), so nothing else to do.
                log.info("openxr: reference space %s changes (recentred or play area moved)",
                         _enum_name(xr.ReferenceSpaceType, pending._reference_space_type))
            else:
                log.debug("openxr: event %d ignored", kind)
        return states

    def _is_current(self, handle: Any) -> bool:
        """Whether an event's session handle is the session open now."""
        if self._session is None:
            return False
        try:
            event = ctypes.cast(handle, ctypes.c_void_p).value
            current = ctypes.cast(self._session.handle, ctypes.c_void_p).value
        except (TypeError, ctypes.ArgumentError):
            return True  # cannot tell: trust the runtime
        return bool(event == current)

    def is_lost(self, error: BaseException) -> bool:
        """Lost session, lost instance, an invalid handle, or no runtime at all."""
        if isinstance(error, XrUnavailable):
            return True
        xr = self._xr
        if xr is None:
            return True
        return isinstance(error, (xr.SessionLostError, xr.InstanceLostError,
                                  xr.HandleInvalidError, xr.RuntimeFailureError))

    def _enter(self, state: SessionState) -> SessionState:
        self._state = state
        return state

    def begin_session(self) -> None:
        """``ready``: begin the session with the stereo view configuration."""
        xr = self._xr
        session = self._require_session()
        try:
            xr.begin_session(session.handle, xr.SessionBeginInfo(
                primary_view_configuration_type=xr.ViewConfigurationType.PRIMARY_STEREO))
        except xr.SessionLossPending:
            pass  # begun; the loss arrives as an event
        session.running = True

    def end_session(self) -> None:
        """``stopping``: end the session (the frame loop has stopped)."""
        xr = self._xr
        session = self._require_session()
        session.running = False
        try:
            xr.end_session(session.handle)
        except xr.SessionLossPending:
            pass

    def request_exit(self) -> None:
        """Ask the runtime to stop the session (it moves to ``stopping``)."""
        xr = self._xr
        session = self._session
        if session is None:
            return
        try:
            xr.request_exit_session(session.handle)
        except xr.SessionLossPending:
            pass
        except xr.SessionNotRunningError:
            log.info("openxr: request_exit on a session that is not running")

    def _require_session(self) -> _Session:
        if self._session is None:
            raise RuntimeError("no OpenXR session (create_session first)")
        return self._session

    # ------------------------------------------------------------ frames

    def wait_frame(self) -> FrameTiming:
        """``xrWaitFrame``: blocks until the runtime wants the next frame."""
        xr = self._xr
        session = self._require_session()
        state = xr.FrameState()
        # The raw call: pyopenxr raises on XR_SESSION_LOSS_PENDING, a success that still
        # fills in the frame state this frame needs.
        self._check(xr.raw_functions.xrWaitFrame(session.handle, None, ctypes.byref(state)))
        return FrameTiming(int(state.predicted_display_time),
                           int(state.predicted_display_period), bool(state.should_render))

    def begin_frame(self) -> None:
        """``xrBeginFrame``."""
        xr = self._xr
        session = self._require_session()
        try:
            xr.begin_frame(session.handle, None)
        except (xr.FrameDiscarded, xr.SessionLossPending):
            pass  # both successes: the frame has begun (the previous one was dropped)

    def locate(self, display_time: int) -> Tracking:
        """Views, head, gaze and controllers at ``display_time`` in the reference space."""
        xr = self._xr
        session = self._require_session()
        space = self._reference_space()
        session.located_space = space
        try:
            synced = self._sync_actions(session)
            view_state, located = xr.locate_views(session.handle, xr.ViewLocateInfo(
                view_configuration_type=xr.ViewConfigurationType.PRIMARY_STEREO,
                display_time=display_time, space=space))
            valid = _flags(xr.ViewStateFlags.POSITION_VALID_BIT
                           | xr.ViewStateFlags.ORIENTATION_VALID_BIT)
            views: tuple[XrView, ...] = ()
            if _flags(view_state.view_state_flags) & valid == valid:
                views = tuple(XrView(_pose(v.pose), _fov(v.fov)) for v in located)
            head = self._locate_space(session.spaces["view"], space, display_time)
            gaze = None
            if synced and session.gaze_space is not None \
                    and self._pose_active(session, session.gaze_action, None):
                gaze = self._locate_space(session.gaze_space, space, display_time)
            hands = {hand: self._hand(session, hand, space, display_time, synced)
                     for hand in HANDS}
        except xr.SessionLossPending:
            # A success with no outputs to trust this frame; the loss arrives as an event.
            return Tracking(display_time)
        return Tracking(display_time, views, head, gaze, hands)

    def _sync_actions(self, session: _Session) -> bool:
        """``xrSyncActions`` while focused (a runtime gives input to the focused app only)."""
        xr = self._xr
        if self._state != "focused":
            return False
        try:
            xr.sync_actions(session.handle, xr.ActionsSyncInfo(active_action_sets=[
                xr.ActiveActionSet(action_set=session.action_set, subaction_path=xr.NULL_PATH)
            ]))
        except xr.SessionNotFocused:
            return False  # focus went before the state event said so
        return True

    def _locate_space(self, space: Any, base: Any, display_time: int) -> XrPose | None:
        xr = self._xr
        location = xr.locate_space(space, base, display_time)
        valid = _flags(xr.SpaceLocationFlags.POSITION_VALID_BIT
                       | xr.SpaceLocationFlags.ORIENTATION_VALID_BIT)
        if _flags(location.location_flags) & valid != valid:
            return None
        return _pose(location.pose)

    def _state_info(self, action: Any, subaction: Any) -> Any:
        xr = self._xr
        return xr.ActionStateGetInfo(action=action, subaction_path=subaction or xr.NULL_PATH)

    def _pose_active(self, session: _Session, action: Any, subaction: Any) -> bool:
        state = self._xr.get_action_state_pose(session.handle,
                                               self._state_info(action, subaction))
        return bool(state.is_active)

    def _hand(self, session: _Session, hand: Hand, space: Any, display_time: int,
              synced: bool) -> HandInput:
        profile = self._profile(session, hand)
        if not synced:
            return HandInput(profile=profile, active=False)
        xr = self._xr
        path = self._hand_paths[hand]
        actions = session.actions

        def number(name: str) -> float:
            state = xr.get_action_state_float(session.handle,
                                              self._state_info(actions[name], path))
            return float(state.current_state) if state.is_active else 0.0

        def pressed(name: str) -> bool:
            state = xr.get_action_state_boolean(session.handle,
                                                self._state_info(actions[name], path))
            return bool(state.is_active and state.current_state)

        stick = xr.get_action_state_vector2f(session.handle,
                                             self._state_info(actions["thumbstick"], path))
        thumbstick = ((float(stick.current_state.x), float(stick.current_state.y))
                      if stick.is_active else (0.0, 0.0))
        poses: dict[str, XrPose | None] = {}
        for name in ("aim", "grip"):
            poses[name] = None
            if self._pose_active(session, actions[name], path):
                poses[name] = self._locate_space(session.action_spaces[(name, hand)], space,
                                                 display_time)
        trigger = xr.get_action_state_float(session.handle,
                                            self._state_info(actions["trigger"], path))
        return HandInput(aim=poses["aim"], grip=poses["grip"], trigger=number("trigger"),
                         squeeze=number("squeeze"), menu=pressed("menu"), thumbstick=thumbstick,
                         thumbstick_click=pressed("thumbstick_click"), profile=profile,
                         active=bool(trigger.is_active))

    def _profile(self, session: _Session, hand: Hand) -> str:
        """The hand's interaction profile, asked again after the runtime says it changed."""
        xr = self._xr
        if session.profiles_stale:
            session.profiles_stale = False
            for each in HANDS:
                try:
                    state = xr.get_current_interaction_profile(session.handle,
                                                               self._hand_paths[each])
                    path = state.interaction_profile
                    session.profiles[each] = (xr.path_to_string(self._instance, path)
                                              if path else "")
                except xr.ErrorResult as exc:
                    log.debug("openxr: no interaction profile for %s: %s", each, exc)
                    session.profiles[each] = ""
            log.info("openxr: interaction profiles %s", session.profiles)
        return session.profiles.get(hand, "")

    def end_frame(self, timing: FrameTiming, views: Sequence[XrView],
                  eye_textures: Sequence[int] | None) -> None:
        """Copy the eyes into the swapchains and submit them as one projection layer (with
        the GL context current); no layer when there is nothing to show."""
        xr = self._xr
        session = self._require_session()
        layers: list[Any] = []
        layer = None
        if eye_textures is not None and timing.should_render:
            if len(views) < len(session.swapchains) or \
                    len(eye_textures) < len(session.swapchains):
                log.warning("openxr: end_frame with %d views and %d textures for %d eyes: "
                            "frame submitted empty", len(views), len(eye_textures),
                            len(session.swapchains))
            else:
                try:
                    layer = self._projection_layer(session, views, eye_textures)
                except (RuntimeError, xr.ErrorResult) as exc:
                    # The frame must still be ended (the runtime waits for it): it goes
                    # empty, and the headset shows the last good image or the runtime's
                    # own. Said once, not at 90 Hz.
                    if not self._copy_failed:
                        self._copy_failed = True
                        log.error("openxr: could not hand the eyes to the runtime (frames go "
                                  "empty until it works): %s: %s", type(exc).__name__, exc)
                    layer = None
                if layer is not None:
                    self._copy_failed = False
                    layers.append(ctypes.byref(layer))
        info = xr.FrameEndInfo(display_time=timing.display_time,
                               environment_blend_mode=self._blend_mode, layers=layers)
        try:
            xr.end_frame(session.handle, info)
        except xr.SessionLossPending:
            pass

    def _projection_layer(self, session: _Session, views: Sequence[XrView],
                          eye_textures: Sequence[int]) -> Any:
        """Copy each eye into its swapchain; the layer, or None when an image was not free
        in time (the frame is then submitted empty)."""
        xr = self._xr
        projection_views = []
        for eye, swapchain in enumerate(session.swapchains):
            if swapchain.acquired is None:
                swapchain.acquired = xr.acquire_swapchain_image(swapchain.handle, None)
            try:
                xr.wait_swapchain_image(swapchain.handle,
                                        xr.SwapchainImageWaitInfo(timeout=SWAPCHAIN_WAIT_NS))
            except xr.TimeoutExpired:
                # The image stays acquired; the next frame waits for it again (releasing an
                # image that was not waited for is an error).
                log.warning("openxr: swapchain image %d not free after %d ms: frame dropped",
                            eye, SWAPCHAIN_WAIT_NS // 1_000_000)
                return None
            try:
                gl_copy.copy_texture(eye_textures[eye], swapchain.images[swapchain.acquired],
                                     swapchain.width, swapchain.height)
            finally:
                swapchain.acquired = None
                xr.release_swapchain_image(swapchain.handle, None)
            view = views[eye]
            projection_views.append(xr.CompositionLayerProjectionView(
                pose=_posef(xr, view.pose), fov=_fovf(xr, view.fov),
                sub_image=xr.SwapchainSubImage(
                    swapchain=swapchain.handle,
                    image_rect=xr.Rect2Di(offset=xr.Offset2Di(0, 0),
                                          extent=xr.Extent2Di(swapchain.width,
                                                              swapchain.height)),
                    image_array_index=0)))
        return xr.CompositionLayerProjection(
            space=session.located_space or self._reference_space(), views=projection_views)

    # ------------------------------------------------------------ reference and time

    def set_reference(self, reference: Reference) -> None:
        """Locate in ``local`` (seated) or ``stage`` (standing) from the next frame."""
        self._reference = reference
        session = self._session
        if reference == "stage" and session is not None and "stage" not in session.spaces:
            log.warning("openxr: no STAGE space: standing mode locates in LOCAL")

    def _reference_space(self) -> Any:
        session = self._require_session()
        return session.spaces.get(self._reference) or session.spaces["local"]

    def to_monotonic_ns(self, xr_time: int) -> int:
        """An ``XrTime`` as ``time.monotonic_ns()``: through XR_KHR_convert_timespec_time
        (``CLOCK_MONOTONIC``, which is what ``time.monotonic_ns`` reads on Linux), or, when
        the runtime lacks it, as the same number (Monado's and SteamVR's ``XrTime`` are
        ``CLOCK_MONOTONIC`` nanoseconds on Linux)."""
        xr = self._xr
        if self._instance is not None and "XR_KHR_convert_timespec_time" in self._extensions:
            try:
                if self._to_timespec is None:
                    self._to_timespec = ctypes.cast(
                        xr.get_instance_proc_addr(self._instance,
                                                  "xrConvertTimeToTimespecTimeKHR"),
                        xr.PFN_xrConvertTimeToTimespecTimeKHR)
                spec = xr.timespec()
                self._check(self._to_timespec(self._instance, xr_time, ctypes.byref(spec)))
                return int(spec.tv_sec) * 1_000_000_000 + int(spec.tv_nsec)
            except xr.XrException as exc:
                if not self._clock_warned:
                    self._clock_warned = True
                    log.warning("openxr: xrConvertTimeToTimespecTimeKHR failed (%s): taking "
                                "XrTime as CLOCK_MONOTONIC nanoseconds", exc)
                return xr_time
        if not self._clock_warned:
            self._clock_warned = True
            log.info("openxr: no XR_KHR_convert_timespec_time: taking XrTime as "
                     "CLOCK_MONOTONIC nanoseconds (true of Monado and SteamVR on Linux)")
        return xr_time

    # ------------------------------------------------------------ teardown

    def destroy_session(self) -> None:
        """Destroy the session and everything made for it; never raises."""
        session, self._session = self._session, None
        if session is None:
            return
        xr = self._xr
        self._state = "unknown"
        for swapchain in session.swapchains:
            self._destroy("swapchain", xr.destroy_swapchain, swapchain.handle)
        spaces = [*session.action_spaces.values(), *session.spaces.values()]
        if session.gaze_space is not None:
            spaces.append(session.gaze_space)
        for space in spaces:
            self._destroy("space", xr.destroy_space, space)
        if session.action_set is not None:
            # Destroys its actions too.
            self._destroy("action set", xr.destroy_action_set, session.action_set)
        self._destroy("session", xr.destroy_session, session.handle)
        log.info("openxr: session destroyed")

    def close(self) -> None:
        """Destroy the session and the instance; safe twice and after a failed probe."""
        try:
            self.destroy_session()
        except Exception:  # destroy_session logs its own; this is the last line of defence
            log.exception("openxr: destroying the session failed")
        instance, self._instance = self._instance, None
        self._info = None
        self._system_id = None
        self._to_timespec = None
        if instance is not None:
            self._destroy("instance", self._xr.destroy_instance, instance)

    def _destroy(self, what: str, destroy: Any, handle: Any) -> None:
        try:
            destroy(handle)
        except Exception as exc:
            log.warning("openxr: destroying the %s failed: %s: %s", what, type(exc).__name__,
                        exc)
