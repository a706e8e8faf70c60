"""The Panda3D engine: one ShowBase per process, configured for a display mode.

Everything else receives the pieces it needs from here (the world root, the head node, the task
manager, the audio manager); nothing reads ShowBase's injected builtins.

Display modes:

* ``offscreen``: an EGL buffer, no window (servers, tests, screenshots). The default when
  there is no display.
* ``window``: a window at a monitor; :mod:`vr_server.window_input` adds mouse-look and keys.
* ``stereo``: two eye cameras ``ipd`` apart, each rendered to its own buffer and shown side by
  side (offscreen, or in a window when a display is present).
* ``openxr``: the same two eye buffers, sized and aimed by the headset's runtime every frame
  (:mod:`vr_server.xr.headset` copies them into the runtime's swapchains); the output, which
  the mirror view reads, shows the left eye only.

The client's head hangs under a ``rig`` node: the client's place in the world, which a scenario
may carry (an elevator, a moving walkway; :mod:`vr_server.comfort` softens what that motion
does to the eyes). The head moves within the rig: set from the virtual client, the window's
mouse, or the headset's tracking (through ``tracking``, the recentred tracking space).

Shading is ``pbr`` (panda3d-simplepbr: physically based lights, tone mapping) or ``basic``
(Panda3D's fixed-function lights, for the software renderer and the slowest machines).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from panda3d.core import (
    Camera,
    CardMaker,
    ClockObject,
    FrameBufferProperties,
    GraphicsOutput,
    NodePath,
    OrthographicLens,
    PerspectiveLens,
    Point3,
    Quat,
    Texture,
    loadPrcFileData,
)

from vr_server.xr.convert import set_lens_fov
from vr_server.xr.types import XrFov

log = logging.getLogger(__name__)

DisplayMode = Literal["offscreen", "window", "stereo", "openxr"]
Shading = Literal["pbr", "basic"]
DISPLAY_MODES: tuple[str, ...] = ("offscreen", "window", "stereo", "openxr")
NEAR_M = 0.05
FAR_M = 2000.0


class DisplayError(Exception):
    """The display mode cannot be opened here; the message says what is missing."""


@dataclass(frozen=True)
class DisplayConfig:
    """How to open the engine; every default is defined here, once."""

    mode: DisplayMode = "offscreen"
    size: tuple[int, int] = (1280, 720)
    """Pixels of the client's view (per eye in stereo and openxr)."""
    fov_deg: float = 90.0
    """Horizontal field of view; about what a headset shows."""
    ipd_m: float = 0.063
    """Interpupillary distance for stereo (the adult median is about 63 mm)."""
    shading: Shading = "pbr"
    renderer: Literal["pandagl", "p3tinydisplay"] = "pandagl"
    audio: bool = False
    """Open an audio device (OpenAL). Off, or without a device, scenes are silent."""
    frame_rate: float = 90.0
    msaa: Literal[0, 2, 4, 8, 16] = 0


def default_display_mode() -> DisplayMode:
    """``window`` when a display is available, else ``offscreen``."""
    return "window" if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") \
        else "offscreen"


_engine: Engine | None = None


class Engine:
    """The process's Panda3D instance and its scene roots.

    ``world`` holds what the client sees: ``scene`` (the scenario), ``safe`` (the safe place)
    and ``shared`` (the avatar and anything present in both). ``head`` carries the cameras.
    """

    def __init__(self, config: DisplayConfig) -> None:
        global _engine
        if _engine is not None:
            raise RuntimeError("one Engine per process: reuse vr_server.engine.current()")
        self.config = config
        w, h = config.size
        out_w = w * 2 if config.mode == "stereo" else w
        # A headset's frames go to its runtime: the output is only the mirror's source.
        window_type = "onscreen" if config.mode == "window" else "offscreen"
        if config.mode == "window" and not (os.environ.get("DISPLAY")
                                             or os.environ.get("WAYLAND_DISPLAY")):
            raise DisplayError("window mode needs a display (DISPLAY is not set); use "
                               "--display offscreen")
        loadPrcFileData("vret-engine", "\n".join((
            f"window-type {window_type}",
            f"load-display {config.renderer}",
            f"win-size {out_w} {h}",
            "window-title vret",
            "sync-video false",
            "framebuffer-srgb false",
            f"audio-library-name {'p3openal_audio' if config.audio else 'null'}",
            # Panda3D probes X11 and input devices first; on a headless server those probes
            # fail harmlessly and their messages would only alarm an operator.
            "notify-level-display error" if config.mode != "window" else "",
            "notify-level-device fatal",
            "notify-level-x11display fatal" if config.mode != "window" else "",
            "notify-level-egldisplay fatal" if config.mode != "window" else "",
            "default-directnotify-level warning",
            "textures-power-2 none",
            "print-pipe-types false",
            # Joints (the avatar's, an audience's) change dozens of transforms every frame:
            # caching each new transform, and sweeping that cache every frame, cost more than
            # they save (measured in the public-speaking hall: about 10 % of the frame's own
            # work, and the draw a little faster too).
            "transform-cache false",
            "garbage-collect-states false",
        )))
        from direct.showbase.ShowBase import ShowBase

        try:
            self.base: Any = ShowBase()
        except Exception as exc:
            raise DisplayError(f"could not open the {config.mode} display with "
                               f"{config.renderer}: {exc}") from exc
        if self.base.win is None:
            self.base.destroy()
            raise DisplayError(f"could not open the {config.mode} display with "
                               f"{config.renderer}: no graphics pipe")
        _engine = self
        base = self.base
        self.task_mgr = base.taskMgr
        self.graphics_engine = base.graphicsEngine
        self.output: GraphicsOutput = base.win
        self.render: NodePath = base.render
        self.world = self.render.attach_new_node("world")
        self.scene = self.world.attach_new_node("scene")
        self.safe = self.world.attach_new_node("safe-place")
        self.shared = self.world.attach_new_node("shared")
        self.rig = self.render.attach_new_node("rig")
        self.head = self.rig.attach_new_node("head")
        self.tracking = self.rig.attach_new_node("tracking")
        """The headset's tracking space in the rig, placed by recentring (openxr)."""
        # Without audio the scenes get no manager at all: nothing is loaded or moved per frame
        # for sound nobody hears (the sound log still records what would have played).
        self.audio_manager = (base.sfxManagerList[0]
                              if config.audio and base.sfxManagerList else None)
        gsg = self.output.get_gsg()
        self.renderer_name = (f"{gsg.get_driver_renderer()} ({gsg.get_driver_vendor()}, "
                              f"{base.pipe.get_interface_name()})")
        self.eye_outputs: list[GraphicsOutput] = []
        self.cameras: list[NodePath] = []
        base.disableMouse()
        self._pbr: list[Any] = []
        self.eye_textures: list[Texture] = []
        if config.mode in ("stereo", "openxr"):
            self._stereo(w, h, both=config.mode == "stereo")
        else:
            base.cam.reparent_to(self.head)
            self._lens(base.cam, w, h)
            self.cameras.append(base.cam)
            self._shade(self.output, base.cam)
        clock = ClockObject.get_global_clock()
        clock.set_mode(ClockObject.M_limited)
        clock.set_frame_rate(config.frame_rate)
        log.info("engine: %s %dx%d, %s shading, renderer %s", config.mode, out_w, h,
                 config.shading, self.renderer_name)

    # ------------------------------------------------------------ set-up

    def _lens(self, cam: NodePath, w: int, h: int) -> None:
        lens = PerspectiveLens()
        lens.set_aspect_ratio(w / h)
        lens.set_fov(self.config.fov_deg)  # horizontal; the vertical follows the aspect
        lens.set_near_far(NEAR_M, FAR_M)
        node = cam.node()
        node.set_lens(lens)

    def _shade(self, output: GraphicsOutput, cam: NodePath) -> None:
        if self.config.shading != "pbr":
            return
        import simplepbr

        self._pbr.append(simplepbr.init(
            render_node=self.render, window=output, camera_node=cam, taskmgr=self.task_mgr,
            msaa_samples=self.config.msaa, enable_shadows=False, use_normal_maps=False,
            use_emission_maps=True, enable_fog=True, max_lights=8))

    def _stereo(self, w: int, h: int, both: bool) -> None:
        """Two eye buffers, shown side by side on cards in the output's 2D scene (``both``),
        or the left one filling it."""
        base = self.base
        base.cam.node().set_active(False)
        fbp = FrameBufferProperties()
        fbp.set_rgba_bits(8, 8, 8, 8)
        fbp.set_depth_bits(24)
        cards = NodePath("stereo-cards")
        for i, (side, offset) in enumerate((("left", -0.5), ("right", 0.5))):
            tex = Texture(f"eye-{side}")
            buf = self.output.make_texture_buffer(f"eye-{side}", w, h, tex, False, fbp)
            buf.set_sort(-10 + i)
            cam = base.makeCamera(buf, camName=f"eye-{side}")
            cam.reparent_to(self.head)
            cam.set_x(offset * self.config.ipd_m)
            self._lens(cam, w, h)
            self.cameras.append(cam)
            self.eye_outputs.append(buf)
            self.eye_textures.append(tex)
            self._shade(buf, cam)
            if both or i == 0:
                cm = CardMaker(f"card-{side}")
                if both:
                    cm.set_frame(-1 + i, i, -1, 1)
                else:
                    cm.set_frame(-1, 1, -1, 1)
                cards.attach_new_node(cm.generate()).set_texture(tex)
        # The output itself shows only the two cards through an orthographic camera.
        cards.set_depth_test(False)
        cards.set_depth_write(False)
        lens = OrthographicLens()
        lens.set_film_size(2, 2)
        lens.set_near_far(-10, 10)
        cam_node = Camera("stereo-out", lens)
        out_cam = cards.attach_new_node(cam_node)
        region = self.output.make_display_region()
        region.set_camera(out_cam)
        region.set_sort(20)
        self._cards = cards

    # ------------------------------------------------------------ use

    def step(self) -> None:
        """Run one frame of the task pipeline (tasks, then Panda3D's render at sort 50)."""
        self.task_mgr.step()

    def screenshot(self) -> np.ndarray:
        """What the output shows now, as an ``(h, w, 3)`` uint8 array, top row first."""
        tex = self.output.get_screenshot()
        if tex is None:
            raise DisplayError("the display returned no image")
        data = tex.get_ram_image_as("RGB")
        img = np.frombuffer(memoryview(data), np.uint8).reshape(
            tex.get_y_size(), tex.get_x_size(), 3)
        return img[::-1]

    def aim_eye(self, index: int, pos: Point3, quat: Quat, fov: XrFov) -> None:
        """Place eye ``index``'s camera in the head (metres, Panda3D axes) and give it the
        runtime's frustum for this frame (stereo and openxr)."""
        cam = self.cameras[index]
        cam.set_pos_quat(pos, quat)
        set_lens_fov(cam.node().get_lens(), fov, NEAR_M, FAR_M)

    def set_background(self, rgb: tuple[float, float, float]) -> None:
        """The colour behind everything (seen only where no sky is drawn)."""
        outputs = self.eye_outputs or [self.output]
        for out in outputs:
            out.set_clear_color((rgb[0], rgb[1], rgb[2], 1))

    def destroy(self) -> None:
        """Close the windows and buffers (the process should exit soon after)."""
        global _engine
        self.base.destroy()
        _engine = None


def current(config: DisplayConfig | None = None) -> Engine:
    """The process's engine, created with ``config`` on first use."""
    global _engine
    if _engine is None:
        return Engine(config or DisplayConfig())
    return _engine
