"""The mirror's copy of the client's view: scaled down on the GPU, read back small.

Reading the client's full view back to memory (1280x720 on a monitor; 2x1440x1600 for a
headset, 18 MB) stalls the draw while the driver copies it, and converting it in Python holds
the frame loop for milliseconds more: measured with a GPU, 19 ms every mirror frame at a
headset's size, which dropped the loop from 90 to 67-71 fps. Instead, on the frames a mirror
image is due, the view is copied to a texture on the GPU, a small buffer draws it onto one
card at the mirror's width (only the left eye in stereo), and only that small image (480x270,
0.4 MB) is read back. On the other frames the small buffer is switched off and costs nothing.
"""

from __future__ import annotations

import numpy as np
from panda3d.core import (
    Camera,
    CardMaker,
    GraphicsOutput,
    NodePath,
    OrthographicLens,
    SamplerState,
    Texture,
)


class MirrorCopy:
    """Triggered, GPU-scaled copies of ``output``'s image (its left half in stereo)."""

    def __init__(self, output: GraphicsOutput, width: int, stereo: bool) -> None:
        eye_w = output.get_x_size() // (2 if stereo else 1)
        eye_h = output.get_y_size()
        self.width = max(1, min(width, eye_w))
        self.height = max(1, round(eye_h * self.width / eye_w))
        self._output = output
        self._view = Texture("client-view")
        self._view.set_minfilter(SamplerState.FT_linear)
        self._view.set_magfilter(SamplerState.FT_linear)
        self._view.set_wrap_u(SamplerState.WM_clamp)
        self._view.set_wrap_v(SamplerState.WM_clamp)
        output.add_render_texture(self._view, GraphicsOutput.RTM_triggered_copy_texture)
        buffer = output.make_texture_buffer("mirror", self.width, self.height)
        if buffer is None:
            raise RuntimeError("the graphics driver could not open the mirror's buffer")
        buffer.clear_render_textures()
        self.image = Texture("mirror")
        buffer.add_render_texture(self.image, GraphicsOutput.RTM_triggered_copy_ram)
        buffer.set_sort(output.get_sort() + 10)  # after the client's view has been drawn
        buffer.set_clear_color((0, 0, 0, 1))
        self._buffer = buffer
        # A card filling the small buffer, showing the view (the left eye's half in stereo).
        scene = NodePath("mirror-scene")
        scene.set_depth_test(False)
        scene.set_depth_write(False)
        scene.set_light_off(1)
        scene.set_shader_off(1)
        card = CardMaker("mirror-card")
        card.set_frame(-1, 1, -1, 1)
        card.set_uv_range((0, 0), (0.5 if stereo else 1.0, 1))
        quad = scene.attach_new_node(card.generate())
        quad.set_texture(self._view, 1)
        lens = OrthographicLens()
        lens.set_film_size(2, 2)
        lens.set_near_far(-10, 10)
        camera = scene.attach_new_node(Camera("mirror-camera", lens))
        region = buffer.make_display_region()
        region.set_camera(camera)
        self._scene = scene
        buffer.set_active(False)
        self.pending = False

    def request(self) -> None:
        """Copy this frame's view (call before the draw)."""
        self._output.trigger_copy()
        self._buffer.set_active(True)
        self._buffer.trigger_copy()
        self.pending = True

    def take(self) -> np.ndarray | None:
        """After the draw: the requested frame as ``(h, w, 3)`` uint8, top row first."""
        if not self.pending:
            return None
        self.pending = False
        self._buffer.set_active(False)
        tex = self.image
        if not tex.has_ram_image():
            return None
        data = tex.get_ram_image_as("RGB")
        image = np.frombuffer(memoryview(data), np.uint8).reshape(
            tex.get_y_size(), tex.get_x_size(), 3)[::-1]
        return np.ascontiguousarray(image)

    def close(self) -> None:
        """Release the small buffer."""
        engine = self._buffer.get_engine()
        if engine is not None:
            engine.remove_window(self._buffer)
        self._scene.remove_node()
