"""Scene sound: synthesised in the package, positioned through Panda3D's audio, silent without
a device.

Sounds are generated with numpy (no recorded assets to license or download), written as WAV
into a RAM-disk mounted in Panda3D's virtual file system, and loaded through the audio manager
the engine passes in. Without an audio device (or with ``audio-library-name null``) the manager
hands back silent sounds, so every code path runs the same and :attr:`SoundPlayer.log` still
says what would have been heard.
"""

from __future__ import annotations

import io
import itertools
import wave
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from panda3d.core import NodePath, VirtualFileMountRamdisk, VirtualFileSystem

RATE = 22050
"""Sample rate of every synthesised sound (Hz): plenty for wind, doors and footsteps."""
_MOUNT = "/vret-sounds"
_mounted = False
_serial = itertools.count()


def _ensure_mount() -> VirtualFileSystem:
    global _mounted
    vfs = VirtualFileSystem.get_global_ptr()
    if not _mounted:
        vfs.mount(VirtualFileMountRamdisk(), _MOUNT, 0)
        _mounted = True
    return vfs


def to_wav(samples: np.ndarray, rate: int = RATE) -> bytes:
    """16-bit mono WAV bytes of ``samples`` (floats in -1..1; clipped)."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return out.getvalue()


# ------------------------------------------------------------------ synthesis


def _fade(x: np.ndarray, seconds: float = 0.05) -> np.ndarray:
    n = min(len(x) // 2, int(seconds * RATE))
    if n:
        ramp = np.linspace(0.0, 1.0, n)
        x[:n] *= ramp
        x[-n:] *= ramp[::-1]
    return x


def wind(rng: np.random.Generator, seconds: float = 6.0) -> np.ndarray:
    """Gusting wind: low-passed noise with a slow random swell; loops without a click."""
    n = int(seconds * RATE)
    noise = rng.standard_normal(n)
    body = np.convolve(noise, np.ones(24) / 24, mode="same")
    body = np.convolve(body, np.ones(12) / 12, mode="same")
    t = np.arange(n) / RATE
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * t / seconds) * np.sin(2 * np.pi * 3 * t / seconds)
    out = body * swell
    out /= np.max(np.abs(out)) + 1e-9
    return _fade(0.8 * out, 0.2)


def door_slam(rng: np.random.Generator) -> np.ndarray:
    """A heavy door closing: a low thump with a short rattle of the latch."""
    n = int(0.9 * RATE)
    t = np.arange(n) / RATE
    thump = np.sin(2 * np.pi * 55 * t) * np.exp(-t * 9)
    knock = rng.standard_normal(n) * np.exp(-t * 40)
    knock = np.convolve(knock, np.ones(6) / 6, mode="same")
    latch = np.zeros(n)
    click = int(0.12 * RATE)
    latch[click:click + 200] = rng.standard_normal(200) * np.exp(-np.arange(200) / 40)
    out = 0.9 * thump + 0.5 * knock + 0.4 * latch
    return _fade(out / (np.max(np.abs(out)) + 1e-9), 0.005)


def scuttle(rng: np.random.Generator, seconds: float = 2.0) -> np.ndarray:
    """The dry patter of many small legs: irregular high clicks."""
    n = int(seconds * RATE)
    out = np.zeros(n)
    click = np.exp(-np.arange(60) / 8) * rng.standard_normal(60)
    for start in np.sort(rng.integers(0, n - 60, size=int(seconds * 38))):
        out[start:start + 60] += click * rng.uniform(0.3, 1.0)
    out = np.diff(out, prepend=0.0)  # high-pass: clicks, not thumps
    return _fade(0.7 * out / (np.max(np.abs(out)) + 1e-9), 0.05)


def hum(rng: np.random.Generator, seconds: float = 4.0, hz: float = 100.0) -> np.ndarray:
    """A ventilation or fluorescent-light hum: a buzz with a little air noise; loops."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    tone = sum(np.sin(2 * np.pi * hz * k * t) / k for k in (1, 2, 3, 5))
    air = np.convolve(rng.standard_normal(n), np.ones(30) / 30, mode="same")
    out = 0.25 * tone / 2.0 + 0.3 * air
    return _fade(out / (np.max(np.abs(out)) + 1e-9) * 0.6, 0.1)


def waves(rng: np.random.Generator, seconds: float = 8.0) -> np.ndarray:
    """Gentle surf: noise swelling and ebbing every few seconds; loops."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    noise = np.convolve(rng.standard_normal(n), np.ones(16) / 16, mode="same")
    swell = 0.25 + 0.75 * (0.5 - 0.5 * np.cos(2 * np.pi * t / (seconds / 2))) ** 2
    out = noise * swell
    return _fade(0.6 * out / (np.max(np.abs(out)) + 1e-9), 0.3)


def birdsong(rng: np.random.Generator, seconds: float = 6.0) -> np.ndarray:
    """A few distant chirps: short frequency sweeps at random times."""
    n = int(seconds * RATE)
    out = np.zeros(n)
    for start in rng.integers(0, n - RATE // 4, size=int(seconds * 1.2)):
        m = int(rng.uniform(0.06, 0.15) * RATE)
        tt = np.arange(m) / RATE
        f0, f1 = rng.uniform(2500, 4200), rng.uniform(1800, 5000)
        phase = 2 * np.pi * (f0 * tt + (f1 - f0) * tt * tt / (2 * tt[-1]))
        out[start:start + m] += np.sin(phase) * np.sin(np.pi * tt / tt[-1]) * 0.3
    return _fade(out, 0.05)


# ------------------------------------------------------------------ playback


@dataclass
class Sound:
    """A loaded sound: its name and the engine's handle (silent without a device)."""

    name: str
    handle: Any
    node: NodePath | None = None
    looping: bool = False
    volume: float = 1.0
    """The volume last asked for (kept without a device too, so it can be checked)."""


@dataclass
class SoundPlayer:
    """Loads synthesised sounds and plays them positioned at scene nodes.

    ``manager`` is a Panda3D ``AudioManager`` or ``None`` (no audio at all); ``listener`` is the
    node the client hears from (the head). :meth:`update` runs once a frame to move the
    listener and the sounds attached to moving nodes.
    """

    manager: Any = None
    listener: NodePath | None = None
    log: list[tuple[str, str]] = field(default_factory=list)
    """Every ``(action, sound name)`` in order: what the client heard, device or not."""
    _sounds: list[Sound] = field(default_factory=list)

    def add(self, name: str, samples: np.ndarray, rate: int = RATE) -> Sound:
        """Make ``samples`` playable as ``name``."""
        handle = None
        if self.manager is not None:
            vfs = _ensure_mount()
            path = f"{_MOUNT}/{next(_serial)}-{name}.wav"
            vfs.write_file(path, to_wav(samples, rate), False)
            handle = self.manager.get_sound(path, True)
            vfs.delete_file(path)  # the manager has read it; keep the RAM disk empty
        sound = Sound(name, handle)
        self._sounds.append(sound)
        return sound

    def play(self, sound: Sound, at: NodePath | None = None, loop: bool = False,
             volume: float = 1.0) -> None:
        """Start ``sound`` at node ``at`` (or at the listener when ``None``)."""
        sound.node, sound.looping, sound.volume = at, loop, volume
        self.log.append(("loop" if loop else "play", sound.name))
        if sound.handle is not None:
            sound.handle.set_loop(loop)
            sound.handle.set_volume(volume)
            sound.handle.play()
            self._place(sound)

    def set_volume(self, sound: Sound, volume: float) -> None:
        """Change a playing sound's volume (0-1): wind rising with height, for instance."""
        sound.volume = max(0.0, min(1.0, volume))
        if sound.handle is not None:
            sound.handle.set_volume(sound.volume)

    def stop(self, sound: Sound) -> None:
        """Stop one sound."""
        if sound.handle is not None:
            sound.handle.stop()
        if sound.looping:
            self.log.append(("stop", sound.name))
        sound.looping = False

    def stop_all(self) -> None:
        """Stop every sound (stop, safe place, unload)."""
        for sound in self._sounds:
            self.stop(sound)

    def forget(self, sound: Sound) -> None:
        """Stop one sound and drop it (a voice clip that has been said)."""
        self.stop(sound)
        if sound in self._sounds:
            self._sounds.remove(sound)

    def release(self) -> None:
        """Stop and forget every sound this player loaded."""
        self.stop_all()
        self._sounds.clear()

    @property
    def loaded(self) -> int:
        """How many sounds are loaded."""
        return len(self._sounds)

    def update(self, world: NodePath) -> None:
        """Move the listener and positioned sounds to this frame's places."""
        if self.manager is None or self.listener is None:
            return
        pos = self.listener.get_pos(world)
        fwd = world.get_relative_vector(self.listener, (0, 1, 0))
        up = world.get_relative_vector(self.listener, (0, 0, 1))
        self.manager.audio_3d_set_listener_attributes(pos.x, pos.y, pos.z, 0, 0, 0,
                                                      fwd.x, fwd.y, fwd.z, up.x, up.y, up.z)
        for sound in self._sounds:
            self._place(sound, world)

    def _place(self, sound: Sound, world: NodePath | None = None) -> None:
        if sound.handle is None or sound.node is None or sound.node.is_empty():
            return
        p = sound.node.get_pos(world) if world is not None else sound.node.get_pos()
        sound.handle.set_3d_attributes(p.x, p.y, p.z, 0, 0, 0)
