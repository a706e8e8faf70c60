"""The mirror view: what the client sees, downscaled and JPEG-encoded off the render thread.

The render thread only copies the frame's pixels (at the mirror rate, 10 Hz by default) and
hands them over; scaling, encoding and publishing happen on the encoder's own thread. If the
encoder falls behind, the older waiting frame is dropped: the console wants the newest view,
and the frame loop never waits for the encoder.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from telemetry.schemas import Frame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MirrorConfig:
    """Mirror-view settings; every default is defined here, once."""

    rate_hz: float = 10.0
    width: int = 480
    """Width of the published image; the height keeps the client's aspect ratio."""
    quality: int = 70
    """JPEG quality (1-95): 70 keeps a 480-wide frame around 15-25 KB."""


@dataclass
class _Pending:
    pixels: np.ndarray
    frame_number: int
    t_frame_ns: int


class MirrorEncoder:
    """Scales and encodes frames on a thread; ``publish`` receives each finished frame."""

    def __init__(self, config: MirrorConfig, publish: Callable[[Frame], None]) -> None:
        self.config = config
        self._publish = publish
        self._pending: _Pending | None = None
        self._cond = threading.Condition()
        self._closed = False
        self.encoded = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="vret-mirror", daemon=True)

    def start(self) -> None:
        """Start the encoder thread."""
        self._thread.start()

    def submit(self, pixels: np.ndarray, frame_number: int, t_frame_ns: int) -> None:
        """Hand over one ``(h, w, 3)`` uint8 image (top row first); never blocks."""
        with self._cond:
            if self._pending is not None:
                self.dropped += 1
            self._pending = _Pending(pixels, frame_number, t_frame_ns)
            self._cond.notify()

    def close(self) -> None:
        """Stop the thread (a frame waiting to be encoded is dropped)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def encode(self, pixels: np.ndarray) -> tuple[bytes, int, int]:
        """JPEG bytes, width and height of ``pixels`` scaled to the configured width."""
        from PIL import Image

        image = Image.fromarray(pixels)
        if image.width > self.config.width:
            height = max(1, round(image.height * self.config.width / image.width))
            image = image.resize((self.config.width, height), Image.Resampling.BILINEAR)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=self.config.quality)
        return out.getvalue(), image.width, image.height

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job, self._pending = self._pending, None
            assert job is not None
            try:
                data, width, height = self.encode(job.pixels)
                self._publish(Frame(width=width, height=height, encoding="jpeg",
                                    frame_number=job.frame_number, data=data,
                                    t_frame_ns=job.t_frame_ns))
                self.encoded += 1
            except Exception:  # the mirror must never take the session down
                log.exception("mirror frame %d could not be encoded", job.frame_number)
