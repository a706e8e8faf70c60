"""The avatar's voice: a caption that faces the client and stays readable, and audio from a
text-to-speech engine where one is installed (espeak-ng), placed at the avatar.

Without a TTS engine, or without an audio device, the avatar speaks in captions alone.
Synthesis runs on a worker thread: the frame loop never waits for it.
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
import tempfile
import threading
import wave
from pathlib import Path

import numpy as np
from panda3d.core import NodePath, Point3, TextNode

log = logging.getLogger(__name__)

CAPTION_ANGLE_DEG = 1.6
"""Height of a caption's letters as seen by the client (degrees): comfortably readable in a
headset whatever the distance."""
CAPTION_WRAP = 22.0
"""Characters per caption line."""


class Caption:
    """Text above the avatar's shoulder, turned to the client every frame, sized by distance."""

    def __init__(self, parent: NodePath) -> None:
        self.text_node = TextNode("avatar-caption")
        self.text_node.set_align(TextNode.A_center)
        self.text_node.set_wordwrap(CAPTION_WRAP)
        self.text_node.set_text_color(0.1, 0.1, 0.12, 1)
        self.text_node.set_card_color(1, 1, 1, 0.85)
        self.text_node.set_card_as_margin(0.4, 0.4, 0.25, 0.25)
        self.text_node.set_card_decal(True)
        self.node = parent.attach_new_node(self.text_node)
        self.node.set_light_off(1)
        self.node.set_fog_off(1)
        self.node.set_depth_offset(1)
        self.node.set_bin("fixed", 20)  # over the scene: a caption is never hidden by it
        self.node.set_depth_test(False)
        self.node.set_depth_write(False)
        self.node.hide()
        self.text = ""

    def show(self, text: str) -> None:
        """Show ``text`` (wrapped)."""
        self.text = text
        self.text_node.set_text(text)
        self.node.show()

    def hide(self) -> None:
        """Hide the caption."""
        self.text = ""
        self.node.hide()

    def place(self, anchor: Point3, client_head: Point3, world: NodePath) -> None:
        """Put the caption at ``anchor`` (world), facing the client, at a readable size."""
        self.node.set_pos(world, anchor)
        distance = max(0.3, (client_head - anchor).length())
        self.node.set_scale(world, distance * math.tan(math.radians(CAPTION_ANGLE_DEG)))
        # Text faces -Y: point +Y away from the client so the front faces them.
        self.node.look_at(world, anchor * 2 - client_head)

    def facing(self, client_head: Point3, world: NodePath) -> float:
        """Cosine between the caption's front and the direction to the client (1: square on)."""
        front = world.get_relative_vector(self.node, (0, -1, 0))
        to_client = client_head - self.node.get_pos(world)
        if front.length() == 0 or to_client.length() == 0:
            return 0.0
        front.normalize()
        to_client.normalize()
        return float(front.dot(to_client))


def tts_available() -> str | None:
    """The text-to-speech program found on this machine (espeak-ng or espeak), or None."""
    return shutil.which("espeak-ng") or shutil.which("espeak")


class Voice:
    """Synthesises lines to audio on a worker thread; :meth:`ready` hands finished ones over."""

    def __init__(self, program: str | None) -> None:
        self.program = program
        self._done: list[tuple[int, np.ndarray, int]] = []
        self._lock = threading.Lock()
        self._serial = 0

    def request(self, text: str) -> int | None:
        """Start synthesising ``text``; returns a ticket (None without a TTS program)."""
        if self.program is None:
            return None
        self._serial += 1
        ticket = self._serial
        threading.Thread(target=self._synthesise, args=(ticket, text), daemon=True,
                         name="vret-tts").start()
        return ticket

    def ready(self) -> list[tuple[int, np.ndarray, int]]:
        """``(ticket, samples, rate)`` of every line finished since the last call."""
        with self._lock:
            done, self._done = self._done, []
        return done

    def _synthesise(self, ticket: int, text: str) -> None:
        assert self.program is not None  # request() checked it
        with tempfile.TemporaryDirectory(prefix="vret-tts-") as tmp:
            out = Path(tmp) / "line.wav"
            try:
                # A calm, slightly slow voice; the text goes as one argument, never a shell.
                # "--" ends the options: a line starting with "-" is spoken, never obeyed.
                subprocess.run([self.program, "-s", "150", "-w", str(out), "--", text],
                               check=True, capture_output=True, stdin=subprocess.DEVNULL,
                               timeout=20)
                with wave.open(str(out), "rb") as w:
                    rate = w.getframerate()
                    raw = w.readframes(w.getnframes())
                samples = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
            except (OSError, subprocess.SubprocessError, wave.Error) as exc:
                log.warning("text to speech failed (%s); captions only for this line", exc)
                return
        with self._lock:
            self._done.append((ticket, samples, rate))
