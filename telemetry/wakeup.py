"""A wake-up pipe: lets any thread interrupt an I/O thread blocked in ``zmq.Poller.poll``.

ZeroMQ sockets must stay on the thread that owns them, so other threads hand work over through a
queue and then poke this pipe, whose read end the I/O thread polls beside its sockets.
"""

from __future__ import annotations

import os


class Wakeup:
    """A non-blocking pipe; :meth:`wake` from any thread, :meth:`drain` on the polling thread."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)

    def fileno(self) -> int:
        """The read end, to register with a ``zmq.Poller``."""
        return self._read

    def wake(self) -> None:
        """Make the next (or current) poll return."""
        try:
            os.write(self._write, b"\0")
        except OSError:
            pass  # pipe full (already due to wake) or closed (shutting down)

    def drain(self) -> None:
        """Consume pending wake-ups."""
        try:
            while os.read(self._read, 4096):
                pass
        except OSError:
            pass

    def close(self) -> None:
        """Close both ends."""
        for fd in (self._read, self._write):
            try:
                os.close(fd)
            except OSError:
                pass
