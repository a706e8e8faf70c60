"""What an OpenXR backend hands the server: poses, views, frame timing, controller input.

Everything here is in OpenXR's own conventions, exactly as a runtime reports it: metres,
right-handed, +Y up, -Z forward, +X right; orientations as ``(x, y, z, w)`` quaternions; times
as ``XrTime`` nanoseconds on the runtime's clock. :mod:`vr_server.xr.convert` turns them into
Panda3D's Z-up world, and :meth:`XrBackend.to_monotonic_ns` turns an ``XrTime`` into this
machine's monotonic clock (the session clock's base).

The :class:`XrBackend` protocol is the whole of what the server needs from a runtime, so the
pyopenxr backend (:mod:`vr_server.xr.openxr_runtime`) and the scripted fake
(:mod:`vr_server.xr.fake`) are interchangeable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

SessionState = Literal["unknown", "idle", "ready", "synchronized", "visible", "focused",
                       "stopping", "loss_pending", "exiting"]
"""The OpenXR session states (``XrSessionState``), lower case without the prefix."""
SESSION_STATES: tuple[SessionState, ...] = (
    "unknown", "idle", "ready", "synchronized", "visible", "focused", "stopping",
    "loss_pending", "exiting")
Reference = Literal["local", "stage"]
"""``local``: seated, origin where the head was when the runtime last recentred; ``stage``:
standing, origin on the floor at the centre of the play area."""
Hand = Literal["left", "right"]
HANDS: tuple[Hand, ...] = ("left", "right")


@dataclass(frozen=True)
class XrPose:
    """A position (metres) and orientation (quaternion x, y, z, w) in OpenXR's axes."""

    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    orientation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class XrFov:
    """A view's field of view as four angles in radians (left and down are negative)."""

    angle_left: float
    angle_right: float
    angle_up: float
    angle_down: float


@dataclass(frozen=True)
class XrView:
    """One eye: where it is (in the reference space) and what it sees."""

    pose: XrPose
    fov: XrFov


@dataclass(frozen=True)
class FrameTiming:
    """What ``xrWaitFrame`` said about the frame about to be made."""

    display_time: int
    """When the frame is predicted to reach the eyes (``XrTime`` ns)."""
    period_ns: int
    """The display's frame period."""
    should_render: bool
    """False: the runtime will not show this frame (submit it empty)."""


@dataclass(frozen=True)
class HandInput:
    """One controller's state this frame (empty when it is not tracked or not bound)."""

    aim: XrPose | None = None
    """The pointing ray's pose (points along its -Z)."""
    grip: XrPose | None = None
    """Where the hand holds the controller."""
    trigger: float = 0.0
    squeeze: float = 0.0
    menu: bool = False
    thumbstick: tuple[float, float] = (0.0, 0.0)
    """Thumbstick (or trackpad) x right, y up, each -1..1."""
    thumbstick_click: bool = False
    profile: str = ""
    """The interaction profile the runtime chose for this hand (empty: none yet)."""
    active: bool = True
    """False when the controller's input is not reaching vret (disconnected, unbound, the
    profile changing): its buttons read as released, which is not a release."""


@dataclass(frozen=True)
class Tracking:
    """Everything located for one frame at its predicted display time."""

    display_time: int
    views: tuple[XrView, ...] = ()
    """Left then right eye; empty when the runtime could not locate them."""
    head: XrPose | None = None
    gaze: XrPose | None = None
    """The eyes' gaze ray (XR_EXT_eye_gaze_interaction), where the runtime offers it."""
    hands: Mapping[Hand, HandInput] = field(default_factory=dict)


@dataclass(frozen=True)
class SystemInfo:
    """The runtime and headset found by :meth:`XrBackend.probe`."""

    runtime: str
    system: str
    eye_size: tuple[int, int]
    """The runtime's recommended image size per eye."""
    eye_gaze: bool = False
    """Whether eye tracking is offered (and will be used for the gaze stream)."""
    graphics: str = ""
    """Which graphics binding the session uses (``opengl-xlib``, ``egl``; ``fake``)."""


class XrUnavailable(Exception):
    """No OpenXR runtime, no headset, or a runtime that refused: the message says which,
    and how to install or select a runtime."""


class XrBackend(Protocol):
    """The runtime as the server uses it. Calls come from the render thread, in this order::

        probe()                                    # before anything is recorded
        create_session(reference)                  # once, with the GL context current
        per frame: poll_states(); when running:
            wait_frame() -> timing                 # blocks until the runtime wants a frame
            begin_frame(); locate(timing.display_time) -> tracking
            ... the scene is drawn ...
            end_frame(timing, views, eye_textures) # with the GL context current
        destroy_session(); close()
    """

    def probe(self) -> SystemInfo:
        """Find the runtime and the headset; raises :class:`XrUnavailable` saying what is
        missing."""
        ...

    def create_session(self, reference: Reference) -> None:
        """Open the session, its reference space, actions and swapchains."""
        ...

    def poll_states(self) -> list[SessionState]:
        """The session states the runtime moved through since the last call, in order."""
        ...

    def begin_session(self) -> None:
        """The session is ``ready``: start the frame loop."""
        ...

    def end_session(self) -> None:
        """The session is ``stopping``: stop the frame loop."""
        ...

    def request_exit(self) -> None:
        """Ask the runtime to end the session (it moves to ``stopping``)."""
        ...

    def wait_frame(self) -> FrameTiming:
        """Block until the runtime wants the next frame."""
        ...

    def begin_frame(self) -> None:
        """The frame's drawing starts."""
        ...

    def locate(self, display_time: int) -> Tracking:
        """Sync the actions and locate views, head, gaze and controllers at ``display_time``."""
        ...

    def end_frame(self, timing: FrameTiming, views: Sequence[XrView],
                  eye_textures: Sequence[int] | None) -> None:
        """Submit the frame: copy each eye's GL texture (its name) into the runtime's
        swapchain and hand over a projection layer with ``views``; ``None``: no layer."""
        ...

    def set_reference(self, reference: Reference) -> None:
        """Locate in the seated (``local``) or standing (``stage``) space from now on."""
        ...

    def to_monotonic_ns(self, xr_time: int) -> int:
        """An ``XrTime`` as a ``time.monotonic_ns()`` reading of this machine."""
        ...

    def is_lost(self, error: BaseException) -> bool:
        """Whether ``error`` (raised by one of these calls) means the session or the runtime
        is gone, rather than one call failing."""
        ...

    def destroy_session(self) -> None:
        """Destroy the session and what belongs to it (after ``end_session``, or when lost)."""
        ...

    def close(self) -> None:
        """Destroy the instance. Safe to call twice, and after a failed probe; a later
        ``create_session`` probes again (how vret reconnects to a runtime that was lost)."""
        ...
