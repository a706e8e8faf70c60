"""Public speaking (social anxiety): the client speaks from a lectern to an audience.

The client stands on a low stage behind a wooden lectern (notes and a microphone on it) and
looks out over a raked lecture hall: six tiers of upholstered seats, side aisles, exit doors
at the back, a clock on the back wall and a follow-spot in a booth above it. The hierarchy
moves along what people who fear speaking in public dread: how many people are watching, how
interested they look, how critical they look, how restless the room sounds, and how exposed
the speaker is (house lights up, or a dark hall with a spotlight on the lectern).

The audience is made of the project's procedural people (:class:`avatar.body.HumanoidBody`).
All :data:`MAX_AUDIENCE` of them are built in :meth:`PublicSpeaking.load` and seated (hips and
knees bent so the feet reach the tier); the ``audience`` parameter shows and hides them in a
fixed seat order (the middle rows fill first, the front row last). Building one body costs
about a tenth of a second, so the hall is built from :data:`TEMPLATES` bodies and copies of
them that share their meshes (``NodePath.copy_to``), varied by clothing tint and height; the
templates are cached by appearance, so loading the scene again costs only the copies.

Each listener has a temperament drawn at load (when attention first wanders for them, when
they turn sceptical, how much they nod) and a small state machine: attentive (eyes on the
speaker, occasional nods and glances away), glancing away, on the phone (head down, hands in
the lap), slumped and bored, whispering with a neighbour (both lean in; one talks), and, from
live events, a raised hand, a ringing phone, or walking out. ``attention`` raises the share of
listeners whose attention wanders; ``hostility`` the share who sit back with arms folded (or
chin on hand) and heads tilted, still watching, and nod less. Gaze follows the client's head
(``context.client.head``) with individual offsets, the eyes leading the head and holding their
target through a nod. Each face is tagged as the stimulus: whether the client meets the
audience's eyes or keeps to the notes is what gaze telemetry records.

Cost: ``update`` poses only a budget of :data:`TICKS_PER_FRAME` listeners a frame (the front
rows twice as often as the back), each with the time since its last turn, plus whoever is in
a live event; a turn sets the head and eyes only when they moved and the posture only while it
is changing. (The avatar's ``Animator`` poses every joint each frame, about 65 us a body: fine
for one therapist, too much for sixty listeners.) Sound (murmur, coughs, the ring tone) is
synthesised here with numpy.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from panda3d.core import (
    ColorAttrib,
    ColorBlendAttrib,
    GeomEnums,
    GeomNode,
    InternalName,
    Mat4,
    Material,
    MaterialAttrib,
    NodePath,
    OmniBoundingVolume,
    PerspectiveLens,
    Point3,
    RigidBodyCombiner,
    SceneGraphReducer,
    Spotlight,
    TextureStage,
    Vec3,
)

from avatar.appearance import Appearance
from avatar.body import LID_TRAVEL_DEG, HumanoidBody, linear
from scenarios import procedural as p
from scenarios import sound as synth
from scenarios.base import Scenario
from scenarios.spec import LiveEvent, Parameter, Rung, ScenarioSpec

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ the hall (metres, Z up)

STAGE_H = 0.4
"""Height of the stage the client stands on."""
EYE = 1.65
STAGE_BACK_Y = -3.2
STAGE_FRONT_Y = 1.5
HALL_HW = 5.6
"""Half the hall's width (side walls at +-HALL_HW)."""
ROW_SEATS = (7, 8, 9, 11, 12, 13)
"""Seats per row, front to back (60 in all)."""
MAX_AUDIENCE = sum(ROW_SEATS)
ROW_Y0 = 2.4
"""Front edge of the first tier."""
ROW_DEPTH = 1.15
RISE = 0.3
"""Each tier is this much higher than the one in front (a raked hall)."""
BACK_Y = ROW_Y0 + len(ROW_SEATS) * ROW_DEPTH
CEILING_Z = 5.4
SEAT_PITCH = 0.58
"""Seat centre to seat centre along a row."""
SEAT_SET = 0.72
"""From a tier's front edge to the seat centres on it."""
SEAT_TOP = 0.43
"""Height of the seat cushion above its tier."""
HIP_OVER_SEAT = 0.06
AISLE_X = 4.85
"""Centre line of the side aisles (and of the exit doors in the back wall)."""
DOOR_W, DOOR_H = 1.1, 2.15
LECTERN_Y = 0.55
SPOT_POS = (0.0, BACK_Y - 0.35, 4.55)
"""The follow-spot in its booth above the back wall."""

# ------------------------------------------------------------------ the audience

TEMPLATES = 8
"""Distinct bodies built; every listener is a tinted, slightly rescaled copy of one."""
TICKS_PER_FRAME = 5
"""Listeners posed per frame once more than this many are seated."""
ARRIVALS_PER_FRAME = 1
"""Listeners who sit down per frame when the audience grows (20 newcomers take a fifth of a
second; seating each costs about a tenth of a millisecond, more than a frame can spare)."""
ROW_PREFERENCE = (1.5, 0.0, 0.25, 0.75, 1.3, 1.9)
"""How reluctant people are to take each row (the front row fills late)."""
TORSO = ("spine", "chest")
ARMS = ("shoulder_l", "elbow_l", "wrist_l", "shoulder_r", "elbow_r", "wrist_r")
POSE_JOINTS = TORSO + ARMS
LEGS = ("hip_l", "knee_l", "ankle_l", "hip_r", "knee_r", "ankle_r")
HPR = tuple[float, float, float]

# Arm postures, relative to the rest pose (arms hanging): hands in the lap, arms folded,
# holding a phone low in the lap, chin resting on the right hand, one hand raised. Left then
# right.
ARMS_LAP: tuple[HPR, ...] = ((8, 8, -4), (0, 56, 0), (0, 15, 0),
                             (-8, 8, 4), (0, 56, 0), (0, 15, 0))
ARMS_CROSSED: tuple[HPR, ...] = ((-72, 14, 6), (0, 86, 0), (0, 0, 0),
                                 (68, 20, -6), (0, 80, 0), (0, 0, 0))
ARMS_PHONE: tuple[HPR, ...] = ((-40, 10, 2), (0, 70, 0), (0, 0, 0),
                               (40, 10, -2), (0, 70, 0), (60, 0, 0))
ARMS_CHIN: tuple[HPR, ...] = ((8, 8, -4), (0, 56, 0), (0, 15, 0),
                             (40, 34, -22), (0, 142, 0), (0, -25, 0))
ARMS_RAISED: tuple[HPR, ...] = ((8, 8, -4), (0, 56, 0), (0, 15, 0),
                                (0, 158, -14), (0, 18, 0), (0, 0, 0))
# Torso postures (spine, chest): sitting back, leaning in with interest, leaning back
# (sceptical), slumped.
TORSO_UPRIGHT: tuple[HPR, ...] = ((0, 3, 0), (0, 1, 0))
TORSO_FORWARD: tuple[HPR, ...] = ((0, -7, 0), (0, -3, 0))
TORSO_BACK: tuple[HPR, ...] = ((0, 9, 0), (0, 4, 0))
TORSO_SLUMP: tuple[HPR, ...] = ((0, 13, 0), (0, 9, 0))
TORSO_CHIN: tuple[HPR, ...] = ((-4, 2, 6), (0, -4, 4))

# States of a listener.
ATTENTIVE, GLANCE, PHONE, SLUMP, WHISPER, QUESTION, RINGING, WALKOUT, GONE = range(9)
BUSY = (QUESTION, RINGING, WALKOUT, GONE)
"""States a live event put a listener in: the ordinary behaviour leaves them alone."""

QUESTION_S = 8.0
RING_S = 5.5
STAND_S = 1.3
WALK_SPEED = 1.05
STRIDE = 1.3
"""Metres per full gait cycle (two steps)."""

Color = tuple[float, float, float, float]


def _rung(label: str, description: str, audience: float, attention: float, hostility: float,
          murmur: float, spotlight: float, peak: dict[str, float] | None = None) -> Rung:
    return Rung(label=label, description=description, peak=peak,
                values={"audience": audience, "attention": attention, "hostility": hostility,
                        "murmur": murmur, "spotlight": spotlight})


def smoothstep(lo: float, hi: float, x: float) -> float:
    """0 below ``lo``, 1 above ``hi``, a smooth S between."""
    t = min(1.0, max(0.0, (x - lo) / (hi - lo)))
    return t * t * (3 - 2 * t)


# ------------------------------------------------------------------ layout


@dataclass(frozen=True)
class Seat:
    """One seat: its row, where its cushion's centre is and which way it faces."""

    row: int
    x: float
    y: float
    z: float
    """Height of the tier the seat stands on."""
    heading: float
    """Which way the seat faces (degrees; 180 faces the stage)."""


def seat_layout() -> list[Seat]:
    """Every seat, row by row from the front, left to right seen from the stage.

    Rows are straight; each seat is turned a little toward the lectern (the outer seats of a
    lecture hall are), and rows of odd and even length stagger, so every face can be seen
    between the heads of the row in front.
    """
    seats = []
    for row, count in enumerate(ROW_SEATS):
        y = ROW_Y0 + row * ROW_DEPTH + SEAT_SET
        for k in range(count):
            x = (k - (count - 1) / 2) * SEAT_PITCH
            facing = math.degrees(math.atan2(x, LECTERN_Y - y)) % 360.0  # at the lectern
            seats.append(Seat(row, x, y, row * RISE, 180.0 + 0.35 * (facing - 180.0)))
    return seats


def floor_z(y: float) -> float:
    """Height of the hall's floor at ``y`` (the tier there; the hall floor in front)."""
    if y < ROW_Y0:
        return 0.0 if y > STAGE_FRONT_Y else STAGE_H
    return RISE * min(len(ROW_SEATS) - 1, int((y - ROW_Y0) / ROW_DEPTH))


def aisle_z(y: float) -> float:
    """Height of the aisle steps at ``y``: half steps between the tiers, walked smoothly."""
    if y < ROW_Y0:
        return 0.0
    return RISE * min(len(ROW_SEATS) - 1.0, max(0.0, (y - ROW_Y0 - 0.2) / ROW_DEPTH))


# ------------------------------------------------------------------ textures and sounds


def carpet_rgb(rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """Dense, dark blue-grey contract carpet: fine fleck on a soft mottle."""
    base = p.noise_rgb(rng, size, (0.19, 0.21, 0.27), 0.18, blur=4).astype(float) / 255
    fleck = 1 + 0.12 * rng.standard_normal((size, size, 1))
    return (np.clip(base * fleck, 0, 1) * 255).astype(np.uint8)


def boards_rgb(rng: np.random.Generator, size: int = 256, boards: int = 8) -> np.ndarray:
    """Stage boards running across the stage (along the texture's u), with grain."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    del xx
    index = np.floor(yy * boards).astype(int)
    tone = (1 + 0.08 * rng.standard_normal(boards))[index]
    streaks = rng.standard_normal((size, size))
    for _ in range(10):  # blurred along the boards only: grain, not blotches
        streaks = (streaks + np.roll(streaks, 1, 1) + np.roll(streaks, -1, 1)) / 3
    streaks /= np.abs(streaks).max() + 1e-9
    shade = tone * (1 + 0.14 * streaks)
    joint = (yy * boards) % 1.0
    shade = np.where(joint < 0.025, shade * 0.55, shade)
    rgb = np.array((0.36, 0.25, 0.16))[None, None, :] * shade[..., None]
    return np.asarray(np.clip(rgb, 0, 1) * 255, dtype=np.uint8)


def slats_rgb(rng: np.random.Generator, size: int = 256, slats: int = 16) -> np.ndarray:
    """Vertical oak slats of an acoustic wall lining with dark gaps between them."""
    xx = np.mgrid[0:size, 0:size][1] / size
    index = np.floor(xx * slats).astype(int)
    tone = (1 + 0.06 * rng.standard_normal(slats))[index]
    grain = rng.standard_normal((size, size))
    for _ in range(12):
        grain = (grain + np.roll(grain, 1, 0) + np.roll(grain, -1, 0)) / 3
    grain /= np.abs(grain).max() + 1e-9
    shade = tone * (1 + 0.1 * grain)
    gap = (xx * slats) % 1.0
    shade = np.where(gap > 0.82, 0.18, shade)
    rgb = np.array((0.62, 0.45, 0.29))[None, None, :] * shade[..., None]
    return np.asarray(np.clip(rgb, 0, 1) * 255, dtype=np.uint8)


def slide_rgb(width: int = 320, height: int = 200) -> np.ndarray:
    """The title slide on the screen behind the speaker: a header band and lines of text."""
    img = np.full((height, width, 3), 0.96)
    img[:38] = (0.16, 0.3, 0.5)
    img[12:26, 20:200] = (0.92, 0.94, 0.97)  # the title, as a bar
    for k, length in enumerate((250, 210, 270, 160, 230)):
        top = 62 + k * 24
        img[top:top + 9, 34:34 + length] = (0.45, 0.47, 0.5)
        img[top:top + 9, 20:27] = (0.16, 0.3, 0.5)  # bullet
    return np.asarray(np.clip(img, 0, 1) * 255, dtype=np.uint8)


def halo_rgb(size: int = 64) -> np.ndarray:
    """A soft radial glow (white in the middle, black at the rim): the spotlight's glare."""
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(xx - (size - 1) / 2, yy - (size - 1) / 2) / (size / 2)
    glow = np.clip(1 - r, 0, 1) ** 3 + 0.6 * np.exp(-(r / 0.12) ** 2)
    rgb = np.stack([glow, glow * 0.95, glow * 0.85], axis=-1)
    return (rgb * 255).astype(np.uint8)


def _periodic_lowpass(x: np.ndarray, hz: float, rate: int) -> np.ndarray:
    """Low-pass by FFT: circular, so a looped sound keeps its texture across the seam."""
    spec = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    spec *= 1 / (1 + (freqs / hz) ** 4)
    return np.fft.irfft(spec, len(x))


def _envelope(rng: np.random.Generator, n: int, hz: float, rate: int = 200) -> np.ndarray:
    """A slow random envelope (``hz`` and below) for ``n`` samples that loops seamlessly.

    Made at a low rate and stretched, so a syllable rhythm costs next to nothing.
    """
    m = max(8, int(n * rate / synth.RATE))
    slow = _periodic_lowpass(rng.standard_normal(m), hz, rate)
    grid = np.arange(n) * (m / n)
    return np.asarray(np.interp(grid, np.arange(m + 1), np.append(slow, slow[0])))


def murmur(rng: np.random.Generator, seconds: float = 6.0, voices: int = 8) -> np.ndarray:
    """The low babble of a waiting audience: speech-shaped noise in syllables and phrases.

    Each voice is noise with a speech-like spectrum (a formant region of its own) switched on
    and off in syllables of a quarter of a second and phrases of a few seconds. Everything is
    circular, so the loop has no seam.
    """
    rate = synth.RATE
    n = int(seconds * rate)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    logf = np.log(freqs + 1)
    spectrum = np.zeros(len(freqs), dtype=complex)
    out = np.zeros(n)
    for _ in range(voices):
        centre = np.log(rng.uniform(260, 700))
        shape = np.exp(-(logf - centre) ** 2 / 0.5) + 0.35 * np.exp(
            -(logf - centre - 0.95) ** 2 / 0.3)
        spectrum = np.fft.rfft(rng.standard_normal(n)) * shape
        voice = np.fft.irfft(spectrum, n)
        syllables = np.abs(_envelope(rng, n, 5.0))
        phrases = _envelope(rng, n, 0.4)
        gate = np.clip(phrases / (np.abs(phrases).max() + 1e-9) * 3 + 0.6, 0, 1)
        out += voice * syllables ** 1.5 * gate
    # Loud enough on average (a murmur is a steady bed, not peaks), never clipping hard.
    out *= 0.16 / (out.std() + 1e-9)
    return np.asarray(np.tanh(out * 1.2) / 1.2)


def cough(rng: np.random.Generator) -> np.ndarray:
    """A dry double cough: two bursts of throaty, band-limited noise."""
    rate = synth.RATE
    n = int(0.75 * rate)
    out = np.zeros(n)
    for start, loud in ((0.0, 1.0), (0.3, 0.7)):
        m = int(0.24 * rate)
        t = np.arange(m) / rate
        env = (1 - np.exp(-t * 260)) * np.exp(-t * 13)
        burst = _periodic_lowpass(rng.standard_normal(m), 2200.0, rate)
        burst -= _periodic_lowpass(burst, 250.0, rate)  # and no rumble below the voice
        throat = np.sin(2 * np.pi * rng.uniform(110, 170) * t) * np.exp(-t * 30)
        i = int(start * rate)
        out[i:i + m] += loud * env * (burst / (np.abs(burst).max() + 1e-9) + 0.25 * throat)
    return np.asarray(0.9 * out / (np.abs(out).max() + 1e-9))


def ring_tone(seconds: float = RING_S) -> np.ndarray:
    """A mobile phone's marimba ring tone: a bright six-note figure, repeated with pauses."""
    rate = synth.RATE
    n = int(seconds * rate)
    out = np.zeros(n)
    notes = (1318.5, 1046.5, 783.99, 1046.5, 1318.5, 1568.0)  # E6 C6 G5 C6 E6 G6
    figure = 0.13 * len(notes) + 0.55
    start = 0.0
    while start < seconds - 0.2:
        for k, f in enumerate(notes):
            i = int((start + 0.13 * k) * rate)
            m = min(int(0.35 * rate), n - i)
            if m <= 0:
                break
            t = np.arange(m) / rate
            tone = (np.sin(2 * np.pi * f * t) * np.exp(-t * 11)
                    + 0.35 * np.sin(2 * np.pi * 4 * f * t) * np.exp(-t * 40))
            out[i:i + m] += tone
        start += figure
    return np.asarray(0.7 * out / (np.abs(out).max() + 1e-9))


# ------------------------------------------------------------------ geometry helpers


def tbox(mesh: p.MeshBuilder, mat: Mat4, center: Sequence[float], size: Sequence[float],
         color: Color) -> None:
    """A box built in a local frame and transformed by ``mat`` (so it may be turned)."""
    cx, cy, cz = center
    hx, hy, hz = size[0] / 2, size[1] / 2, size[2] / 2
    faces = (
        ((0, 0, 1), [(-hx, -hy, hz), (hx, -hy, hz), (hx, hy, hz), (-hx, hy, hz)]),
        ((0, 0, -1), [(-hx, hy, -hz), (hx, hy, -hz), (hx, -hy, -hz), (-hx, -hy, -hz)]),
        ((0, -1, 0), [(-hx, -hy, -hz), (hx, -hy, -hz), (hx, -hy, hz), (-hx, -hy, hz)]),
        ((0, 1, 0), [(hx, hy, -hz), (-hx, hy, -hz), (-hx, hy, hz), (hx, hy, hz)]),
        ((1, 0, 0), [(hx, -hy, -hz), (hx, hy, -hz), (hx, hy, hz), (hx, -hy, hz)]),
        ((-1, 0, 0), [(-hx, hy, -hz), (-hx, -hy, -hz), (-hx, -hy, hz), (-hx, hy, hz)]),
    )
    for normal, corners in faces:
        n = mat.xform_vec(Vec3(*normal))
        n.normalize()
        pts = [mat.xform_point(Point3(cx + x, cy + y, cz + z)) for x, y, z in corners]
        mesh.quad(pts, n, color)


def frame(x: float, y: float, z: float, h: float = 0.0, pitch: float = 0.0) -> Mat4:
    """A transform: turned by ``h`` about Z, tilted by ``pitch`` about X, then moved."""
    mat = Mat4.rotate_mat(pitch, Vec3(1, 0, 0)) * Mat4.rotate_mat(h, Vec3(0, 0, 1))
    mat *= Mat4.translate_mat(x, y, z)
    return mat


def rod(mesh: p.MeshBuilder, a: Sequence[float], b: Sequence[float], r: float,
        color: Color, segments: int = 8) -> None:
    """A thin round bar from ``a`` to ``b`` in any direction (a microphone's gooseneck)."""
    ax = Vec3(b[0] - a[0], b[1] - a[1], b[2] - a[2])
    length = ax.length()
    ax /= length
    helper = Vec3(0, 0, 1) if abs(ax.z) < 0.9 else Vec3(1, 0, 0)
    u = ax.cross(helper)
    u.normalize()
    v = ax.cross(u)
    ring = []
    for k in range(segments + 1):
        t = 2 * math.pi * k / segments
        radial = u * math.cos(t) + v * math.sin(t)
        lo = mesh.vertex((a[0] + radial.x * r, a[1] + radial.y * r, a[2] + radial.z * r),
                         radial, color)
        hi = mesh.vertex((b[0] + radial.x * r, b[1] + radial.y * r, b[2] + radial.z * r),
                         radial, color)
        ring.append((lo, hi))
    for (a0, a1), (b0, b1) in itertools.pairwise(ring):
        mesh.triangle(a0, b0, b1)
        mesh.triangle(a0, b1, a1)


def emission_steps(name: str, color: tuple[float, float, float], strength: float,
                   steps: int) -> list[Material]:
    """Materials glowing from 0 to ``strength`` in ``steps``: the physically based shader
    ignores colour scale on emission, so a glow dims by swapping to a dimmer material."""
    out = []
    for k in range(steps):
        s = strength * k / (steps - 1)
        mat = Material(f"{name}-{k}")
        mat.set_base_color((0, 0, 0, 1))
        mat.set_roughness(1.0)
        mat.set_metallic(1.0)
        mat.set_emission((color[0] * s, color[1] * s, color[2] * s, 1))
        out.append(mat)
    return out


# ------------------------------------------------------------------ people


def tint_except(node: NodePath, tint: Color, keep: Color) -> None:
    """Multiply the vertex colours of ``node``'s meshes by ``tint``, except those equal to
    ``keep`` (a skin colour). The copy's meshes become its own (copy on write); the body
    they were copied from keeps its colours. Falls back to tinting the whole node when the
    colours are not stored as four floats."""
    geom_node = node.node()
    if not isinstance(geom_node, GeomNode):
        return
    kept = np.asarray(keep, dtype=np.float32)
    scale = np.asarray(tint[:3], dtype=np.float32)
    for i in range(geom_node.get_num_geoms()):
        data = geom_node.modify_geom(i).modify_vertex_data()
        array_index = data.get_format().get_array_with(InternalName.get_color())
        if array_index < 0:
            continue
        array = data.modify_array(array_index)
        layout = array.get_array_format()
        column = layout.get_column(InternalName.get_color())
        if (column.get_numeric_type() != GeomEnums.NT_float32
                or column.get_num_components() != 4 or layout.get_stride() % 4
                or column.get_start() % 4):
            node.set_color_scale(tint)
            return
        rows = np.frombuffer(memoryview(array), dtype=np.float32).reshape(
            -1, layout.get_stride() // 4)
        start = column.get_start() // 4
        colours = rows[:, start:start + 4]
        cloth = np.any(np.abs(colours - kept) > 1e-4, axis=1)
        colours[cloth, :3] *= scale



_TEMPLATE_CACHE: OrderedDict[Appearance, NodePath] = OrderedDict()
_CACHE_SIZE = 48
AUDIENCE_DETAIL = 0.4
"""Mesh detail of a listener (see ``avatar.body.Mesh``). Seen from two metres and more, a
listener with a third of the avatar's vertices looks the same (the full hall at 1280x720
differed by 0.4/255 on average from full detail), and the hall is 60 of them: with a software
renderer the vertices were most of the frame (the hall's draw went from 130 to 50 ms)."""


def body_template(appearance: Appearance) -> NodePath:
    """A detached, built body for ``appearance`` (cached: building one takes ~0.1 s)."""
    cached = _TEMPLATE_CACHE.get(appearance)
    if cached is not None:
        _TEMPLATE_CACHE.move_to_end(appearance)
        return cached
    holder = NodePath("template")
    body = HumanoidBody(holder, appearance, name="listener", detail=AUDIENCE_DETAIL)
    template = body.root
    template.detach_node()
    _TEMPLATE_CACHE[appearance] = template
    while len(_TEMPLATE_CACHE) > _CACHE_SIZE:
        _TEMPLATE_CACHE.popitem(last=False)
    return template


class Person:
    """One listener's body: a copy of a built :class:`HumanoidBody` sharing its meshes.

    Poses go through the joint nodes, named as the body names them (``spine``, ``head``,
    ``lid_l``...), with hpr relative to the rest pose, exactly as ``HumanoidBody.set_pose``
    sets them.
    """

    def __init__(self, parent: NodePath, template: NodePath, name: str) -> None:
        self.frame = parent.attach_new_node(RigidBodyCombiner(f"{name}-combined"))
        """Draws the whole body (see :meth:`combine`); shown and hidden with the person."""
        self.root = template.copy_to(self.frame)
        self.root.set_name(name)
        self.joints = {n: self.root.find(f"**/{n}") for n in (
            *POSE_JOINTS, *LEGS, "pelvis", "neck", "head", "eye_l", "eye_r", "lid_l", "lid_r",
            "jaw")}
        missing = [n for n, node in self.joints.items() if node.is_empty()]
        if missing:
            raise RuntimeError(f"the body has no joint(s) {missing}")
        self.lids = 0.0
        self.jaw = 0.0

    def combine(self) -> None:
        """Draw the body as one or two meshes whose vertices follow the joints.

        A body is some twenty parts, each a draw: a full hall was over a thousand draws a
        frame, which held a GPU machine's frame at 15 ms (30 ms in stereo) in Panda3D's
        per-draw work. Panda3D's rigid-body combiner gathers the parts into meshes that move
        with the joint nodes, which are still posed as before. Parts merge only where their
        render states are equal, so the clothes' tints are first baked into the vertex
        colours and the eyes take the body's material (their extra gloss is not seen from
        the audience's distance). Call once the body is dressed; the nodes under
        :attr:`root` may then move, but not be shown, hidden or re-coloured.
        """
        root = self.root
        SceneGraphReducer().apply_attribs(
            root.node(), SceneGraphReducer.TT_color | SceneGraphReducer.TT_color_scale)
        for node in root.find_all_matches("**"):
            node.clear_color()
            node.clear_color_scale()
            if node.has_material() and node.get_name() != "skeleton":
                node.clear_material()
        for mesh in root.find_all_matches("**/+GeomNode"):
            geoms = mesh.node()
            for i in range(geoms.get_num_geoms()):
                state = geoms.get_geom_state(i)
                geoms.set_geom_state(i, state.remove_attrib(ColorAttrib)
                                     .remove_attrib(MaterialAttrib))
        combiner = self.frame.node()
        assert isinstance(combiner, RigidBodyCombiner)
        combiner.collect()
        # Walking out, a listener leaves the bounds the combined mesh was made in.
        combiner.get_internal_scene().node().set_bounds(OmniBoundingVolume())

    def show(self) -> None:
        """Show the person."""
        self.frame.show()

    def hide(self) -> None:
        """Hide the person."""
        self.frame.hide()

    @property
    def hidden(self) -> bool:
        """Whether the person is hidden."""
        return bool(self.frame.is_hidden())

    def set_eyelids(self, closed: float) -> None:
        """Close the upper lids (0 open .. 1 shut), as ``HumanoidBody.set_eyelids`` does."""
        if abs(closed - self.lids) < 0.02:
            return
        self.lids = closed
        self.joints["lid_l"].set_p(-LID_TRAVEL_DEG * closed)
        self.joints["lid_r"].set_p(-LID_TRAVEL_DEG * closed)

    def set_jaw(self, degrees: float) -> None:
        """Drop the jaw (talking, whispering)."""
        if abs(degrees - self.jaw) < 0.3:
            return
        self.jaw = degrees
        self.joints["jaw"].set_p(-degrees)

    def head_position(self, other: NodePath) -> Point3:
        """The point between the eyes in ``other``'s coordinates."""
        a = self.joints["eye_l"].get_pos(other)
        b = self.joints["eye_r"].get_pos(other)
        return Point3((a + b) * 0.5)


@dataclass
class Listener:
    """One audience member: body, seat, temperament and what they are doing now."""

    index: int
    person: Person
    seat: Seat
    legs: dict[str, HPR]
    seated_pos: Point3
    eyes: Point3
    """Where the eyes are when seated upright (scenario coordinates)."""
    near: bool
    """In the front two rows: posed twice as often."""
    focus: float
    """Attention at which this listener's mind starts to wander (higher: keeps focus)."""
    scepticism: float
    """Hostility at which this listener turns sceptical (higher: stays friendly)."""
    nodder: float
    """How readily they nod (0..1)."""
    tilt: float
    """Their sceptical head tilt (degrees; the sign is the side)."""
    offset: tuple[float, float]
    """Where exactly they look on the speaker's face (small yaw, pitch offsets)."""
    has_phone: bool
    phone: NodePath
    state: int = ATTENTIVE
    timer: float = 0.0
    last: float = 0.0
    """Scenario time of the last pose: a listener's turn covers the time since."""
    pose: list[float] = field(default_factory=list)
    target: list[float] = field(default_factory=list)
    gaze: list[float] = field(default_factory=lambda: [0.0, 0.0])
    """Current head direction (yaw, pitch) in the body's frame."""
    look: tuple[float, float] | None = None
    """A fixed direction to look in (yaw, pitch); ``None``: at the speaker."""
    look_at: Point3 | None = None
    """A point to look at (a ringing phone); overrides ``look``."""
    critic: int = 0
    """How this listener shows scepticism: 0 arms folded, 1 chin on hand, 2 sitting back."""
    sceptic: bool = False
    partner: int = -1
    nod: float = -1.0
    shake: float = -1.0
    blink: float = 3.0
    saccade: tuple[float, float] = (0.0, 0.0)
    saccade_t: float = 1.0
    cough: float = -1.0
    moving: bool = True
    """Whether the posture is still easing toward its target (else it is not re-applied)."""
    head_set: tuple[float, float, float] = (1e9, 0.0, 0.0)
    phone_slot: NodePath | None = None
    """Where the phone is held (under the right wrist); the phone itself is drawn outside the
    combined body and placed there when the arm moves (:meth:`PublicSpeaking._place_phone`)."""
    eyes_set: tuple[float, float] = (1e9, 0.0)
    event_t: float = 0.0
    path: list[tuple[float, float, float]] = field(default_factory=list)
    walked: float = 0.0
    heading: float = 180.0
    """Which way the body faces now (turned while walking out)."""
    seat_heading: float = 180.0
    """Which way the body faces when seated."""


# ------------------------------------------------------------------ the scenario


class PublicSpeaking(Scenario):
    """A speech from a lectern to an audience that grows, loses interest and turns critical."""

    spec = ScenarioSpec(
        name="public_speaking",
        title="Public speaking",
        description=(
            "The client stands at a lectern on a low stage and speaks to an audience in a "
            "raked lecture hall: from one friendly listener to a full hall that is restless, "
            "distracted and sceptical, with the house lights down and a spotlight on the "
            "speaker. Listeners watch the speaker with believable gaze, nod or look away."),
        parameters=(
            Parameter(name="audience", label="Audience size", unit="people", minimum=1,
                      maximum=MAX_AUDIENCE, rate=4.0,
                      description="How many seats are taken (the middle rows fill first)."),
            Parameter(name="attention", label="Distraction", unit="", minimum=0.0,
                      maximum=1.0, rate=0.08,
                      description="0: everyone attentive; 1: most listeners look away, check "
                                  "phones, slump or whisper."),
            Parameter(name="hostility", label="Scepticism", unit="", minimum=0.0, maximum=1.0,
                      rate=0.08,
                      description="0: friendly, nodding; 1: most sit back with arms crossed "
                                  "and heads tilted, watching critically."),
            Parameter(name="murmur", label="Room noise", unit="", minimum=0.0, maximum=1.0,
                      rate=0.1,
                      description="Murmur of the audience and how often someone coughs."),
            Parameter(name="spotlight", label="Spotlight", unit="", minimum=0.0, maximum=1.0,
                      rate=0.1,
                      description="0: house lights up, the speaker one of the room; 1: the "
                                  "hall dark and a bright spotlight on the speaker."),
        ),
        rungs=(
            _rung("One friendly listener",
                  "A single listener in the middle of the second row, about four metres away: "
                  "attentive and friendly, leaning in, watching the client and nodding now "
                  "and then. House lights up, the room quiet.",
                  1, 0.0, 0.0, 0.0, 0.0),
            _rung("A few friendly faces",
                  "Three listeners near the front, all attentive and friendly, "
                  "nodding; an occasional glance away. A quiet room, house lights up.",
                  3, 0.05, 0.0, 0.05, 0.0),
            _rung("Small seminar",
                  "Eight people in the front rows, attentive and friendly; now and then "
                  "someone glances away. A faint murmur.",
                  8, 0.15, 0.1, 0.15, 0.1),
            _rung("Full seminar",
                  "Fifteen listeners, most still watching the client. One or two sit back "
                  "with arms crossed, one may slump or whisper to a neighbour. A low murmur; "
                  "the hall lights a little dimmed.",
                  15, 0.3, 0.25, 0.3, 0.3),
            _rung("Half-full lecture hall",
                  "Thirty people. About a third are distracted (on their phones, slumped in "
                  "their seats, glancing around); about a third watch sceptically with arms "
                  "crossed or chin on hand, heads tilted. Murmur and the odd cough; house "
                  "lights down, a spotlight on the speaker.",
                  30, 0.5, 0.45, 0.5, 0.55),
            _rung("Full hall, restless",
                  "All sixty seats taken, the front row too. Only about half are watching; the "
                  "rest check phones, slump, whisper in pairs or look around, and about half "
                  "of the hall sits back with arms crossed. A steady murmur with coughs; the "
                  "hall dark, the spotlight bright.",
                  60, 0.65, 0.6, 0.7, 0.8),
            _rung("Full hall, critical",
                  "A full hall that has mostly stopped listening or is judging: three in four "
                  "are on phones, slumped, whispering or looking away; two in three sit with "
                  "arms crossed; hardly anyone nods. Loud murmur, frequent coughs, the speaker "
                  "alone in the spotlight. Intensity takes it to everyone at once.",
                  60, 0.8, 0.85, 0.85, 0.9,
                  peak={"audience": MAX_AUDIENCE, "attention": 1.0, "hostility": 1.0,
                        "murmur": 1.0, "spotlight": 1.0}),
        ),
        live_events=(
            LiveEvent(name="question", label="Someone raises a hand",
                      description="A listener raises a hand to ask a question and keeps it "
                                  "up for a few seconds, looking at the speaker."),
            LiveEvent(name="phone", label="A phone rings",
                      description="A phone rings somewhere in the audience; its owner "
                                  "fumbles for it and the neighbours turn to look."),
            LiveEvent(name="walk_out", label="Someone walks out",
                      description="A listener at the end of a row stands up, walks up the "
                                  "aisle and leaves through the exit door at the back."),
        ),
        viewpoint=(0.0, 0.0, STAGE_H),
        eye_height=EYE,
        view_pitch=-6.0,
    )

    # -------------------------------------------------------------- building

    def load(self) -> None:
        """Build the hall, the lectern, the lights, the audience and the sounds."""
        self.time = 0.0
        self._build_hall()
        self._build_lectern()
        self._build_chairs()
        self._build_lights()
        self._build_audience()
        self._build_sounds()
        self.count = 0
        """How many listeners are seated (the first ``count`` in seat order)."""
        self.actors: list[Listener] = []
        """Listeners in a live event: they move every frame."""
        self.fresh: list[Listener] = []
        """Listeners who just sat down: posed at once in the next update."""
        self.arriving: list[Listener] = []
        """Listeners on their way to their seats (state ``GONE`` until seated):
        :data:`ARRIVALS_PER_FRAME` sit down a frame."""
        self.order: list[int] = []
        """The round of listeners posed in turn, :data:`TICKS_PER_FRAME` a frame."""
        self.cursor = 0
        self.snap = True
        self.cough_clock = float(self.rng.exponential(1.0))
        self.door_open = [0.0, 0.0]
        self.lights_at: float | None = None
        self.murmur_volume = 0.0

    def _build_hall(self) -> None:
        rng, root = self.rng, self.root
        hall = root.attach_new_node("hall")
        self.hall = hall
        carpet = p.MeshBuilder("carpet")
        front = ROW_Y0
        carpet.box((0, (STAGE_FRONT_Y + BACK_Y) / 2, -0.05),
                   (2 * HALL_HW, BACK_Y - STAGE_FRONT_Y, 0.1), (1, 1, 1, 1), uv_per_m=0.5)
        for row in range(1, len(ROW_SEATS)):
            y0 = front + row * ROW_DEPTH
            top = row * RISE
            carpet.box((0, (y0 + BACK_Y) / 2, top - RISE / 2), (2 * HALL_HW, BACK_Y - y0, RISE),
                       (1, 1, 1, 1), uv_per_m=0.5)
            for side in (-1, 1):  # half steps up the side aisles
                carpet.box((side * (AISLE_X + 0.05), y0 - 0.2, top - 0.75 * RISE),
                           (1.3, 0.4, RISE / 2), (1, 1, 1, 1), uv_per_m=0.5)
        node = carpet.attach(hall)
        p.apply_texture(node, p.texture("carpet", carpet_rgb(rng)))
        p.material(node, roughness=0.95)
        # Light nosing along the front of every tier (and the stage): the steps read at once.
        nosing = p.MeshBuilder("nosing")
        for row in range(1, len(ROW_SEATS)):
            y0 = front + row * ROW_DEPTH
            nosing.box((0, y0 - 0.005, row * RISE - 0.012), (2 * HALL_HW, 0.03, 0.03),
                       (0.55, 0.52, 0.45, 1))
        nosing.box((0, STAGE_FRONT_Y - 0.01, STAGE_H - 0.012), (2 * HALL_HW, 0.03, 0.03),
                   (0.75, 0.7, 0.55, 1))
        p.material(nosing.attach(hall), roughness=0.5, metallic=0.6)

        stage = p.MeshBuilder("stage")
        stage.box((0, (STAGE_BACK_Y + STAGE_FRONT_Y) / 2, STAGE_H / 2),
                  (2 * HALL_HW, STAGE_FRONT_Y - STAGE_BACK_Y, STAGE_H), (1, 1, 1, 1),
                  uv_per_m=0.45)
        node = stage.attach(hall)
        p.apply_texture(node, p.texture("boards", boards_rgb(rng)))
        p.material(node, roughness=0.55)
        riser = p.box(hall, "stage-front", (0, STAGE_FRONT_Y + 0.01, STAGE_H / 2),
                      (2 * HALL_HW, 0.02, STAGE_H), (0.06, 0.06, 0.07, 1))
        p.material(riser, roughness=0.8)

        plaster = p.MeshBuilder("plaster")
        white = (1.0, 1.0, 1.0, 1.0)
        length = BACK_Y - STAGE_BACK_Y
        mid_y = (BACK_Y + STAGE_BACK_Y) / 2
        for side in (-1, 1):
            plaster.box((side * (HALL_HW + 0.1), mid_y, CEILING_Z / 2),
                        (0.2, length, CEILING_Z), white, uv_per_m=0.6)
        plaster.box((0, STAGE_BACK_Y - 0.1, CEILING_Z / 2), (2 * HALL_HW + 0.4, 0.2, CEILING_Z),
                    white, uv_per_m=0.6)
        # The back wall, with two door openings.
        door_top = floor_z(BACK_Y - 0.1) + DOOR_H
        wall_base = 0.0
        outer = HALL_HW + 0.2
        for x0, x1 in ((-outer, -AISLE_X - DOOR_W / 2), (-AISLE_X + DOOR_W / 2,
                                                           AISLE_X - DOOR_W / 2),
                       (AISLE_X + DOOR_W / 2, outer)):
            plaster.box(((x0 + x1) / 2, BACK_Y + 0.1, (wall_base + CEILING_Z) / 2),
                        (x1 - x0, 0.2, CEILING_Z - wall_base), white, uv_per_m=0.6)
        for side in (-1, 1):
            plaster.box((side * AISLE_X, BACK_Y + 0.1, (door_top + CEILING_Z) / 2),
                        (DOOR_W, 0.2, CEILING_Z - door_top), white, uv_per_m=0.6)
        plaster.box((0, mid_y, CEILING_Z + 0.05), (2 * HALL_HW + 0.4, length + 0.4, 0.1),
                    white, uv_per_m=0.6)
        node = plaster.attach(hall)
        p.apply_texture(node, p.texture("plaster", p.noise_rgb(rng, 128, (0.8, 0.78, 0.74),
                                                                0.05, blur=2)))
        p.material(node, roughness=0.9)

        # Oak slat lining on the lower walls, following the rake up to a level top.
        slats = p.MeshBuilder("slats")
        lining_top = 2.9
        for side in (-1, 1):
            slats.box((side * (HALL_HW - 0.02), mid_y, lining_top / 2),
                      (0.04, length, lining_top), (1, 1, 1, 1), uv_per_m=0.5)
        slats.box((0, BACK_Y - 0.02, (1.5 + lining_top + 0.2) / 2 - 0.1),
                  (2 * HALL_HW, 0.04, lining_top + 0.2 - 1.5), (1, 1, 1, 1), uv_per_m=0.5)
        node = slats.attach(hall)
        p.apply_texture(node, p.texture("slats", slats_rgb(rng)))
        p.material(node, roughness=0.6)

        # Fabric acoustic panels high on the side walls, and a dark booth window at the back.
        panels = p.MeshBuilder("panels")
        for side in (-1, 1):
            for k in range(5):
                y = 0.2 + k * 1.95
                panels.box((side * (HALL_HW - 0.05), y, 4.0), (0.06, 1.4, 1.6),
                           (0.3, 0.33, 0.4, 1))
        panels.box((0, BACK_Y - 0.03, 4.55), (1.6, 0.06, 0.75), (0.03, 0.03, 0.035, 1))
        p.material(panels.attach(hall), roughness=0.95)

        # Exit doors (each leaf hinged at its outer edge), their frames and the dark corridor.
        metal = p.MeshBuilder("door-frames")
        self.doors: list[NodePath] = []
        base_z = floor_z(BACK_Y - 0.1)
        for side in (-1, 1):
            x = side * AISLE_X
            for dx in (-DOOR_W / 2, DOOR_W / 2):
                metal.box((x + dx, BACK_Y - 0.01, base_z + DOOR_H / 2), (0.06, 0.06, DOOR_H),
                          (0.55, 0.56, 0.58, 1))
            metal.box((x, BACK_Y - 0.01, base_z + DOOR_H), (DOOR_W + 0.06, 0.06, 0.06),
                      (0.55, 0.56, 0.58, 1))
            metal.box((x, BACK_Y + 1.2, base_z + 1.3), (DOOR_W + 0.8, 2.0, 2.6),
                      (0.08, 0.08, 0.09, 1))  # the corridor behind, dark
            hinge = hall.attach_new_node(f"door-hinge-{side}")
            hinge.set_pos(x + side * DOOR_W / 2, BACK_Y + 0.02, base_z)
            leaf = p.MeshBuilder(f"door-{side}")
            leaf.box((-side * DOOR_W / 2, 0, DOOR_H / 2), (DOOR_W - 0.04, 0.05, DOOR_H - 0.02),
                     (0.42, 0.3, 0.2, 1))
            leaf.box((-side * (DOOR_W - 0.15), -0.06, 1.0), (0.05, 0.06, 0.05),
                     (0.7, 0.7, 0.72, 1))  # the push bar's handle
            p.material(leaf.attach(hinge), roughness=0.6)
            self.doors.append(hinge)
        p.material(metal.attach(hall), roughness=0.4, metallic=0.7)
        signs = p.MeshBuilder("exit-signs")
        for side in (-1, 1):
            signs.box((side * AISLE_X, BACK_Y - 0.04, base_z + DOOR_H + 0.3), (0.4, 0.04, 0.17),
                      (1, 1, 1, 1))
        p.glow(signs.attach(hall), (0.1, 0.9, 0.3), 1.4)

        # A clock on the back wall (ten past ten), over the middle of the hall.
        clock = p.MeshBuilder("clock")
        clock_mat = frame(0, BACK_Y - 0.05, 3.55, pitch=90)
        clock.cylinder((0, 0, 0), 0.24, 0.04, (0.15, 0.15, 0.16, 1), segments=28)
        clock.cylinder((0, 0, 0.041), 0.215, 0.004, (0.95, 0.95, 0.93, 1), segments=28)
        for k in range(12):
            a = math.radians(30 * k)
            clock.box((0.18 * math.sin(a), 0.18 * math.cos(a), 0.047), (0.012, 0.035, 0.004),
                      (0.1, 0.1, 0.1, 1))
        clock_np = clock.attach(hall)
        clock_np.set_mat(clock_mat)
        hands = p.MeshBuilder("clock-hands")
        for angle, length, width in ((305.0, 0.11, 0.018), (60.0, 0.16, 0.012)):
            m = Mat4.rotate_mat(-angle, Vec3(0, 0, 1))
            tbox(hands, m, (0, length / 2, 0.052), (width, length, 0.004), (0.05, 0.05, 0.05, 1))
        hands_np = hands.attach(clock_np)
        p.material(clock_np, roughness=0.6)
        p.material(hands_np, roughness=0.6)

        # The projection screen behind the speaker with a title slide on it.
        screen = p.MeshBuilder("screen")
        screen.quad([(2.0, STAGE_BACK_Y + 0.02, 1.3), (-2.0, STAGE_BACK_Y + 0.02, 1.3),
                     (-2.0, STAGE_BACK_Y + 0.02, 3.8), (2.0, STAGE_BACK_Y + 0.02, 3.8)],
                    (0, 1, 0), (1, 1, 1, 1))
        screen_np = screen.attach(hall)
        p.apply_texture(screen_np, p.texture("slide", slide_rgb()))
        p.material(screen_np, roughness=0.9)

        # Ceiling light panels: they dim with the house lights (a swapped material).
        panels_lit = p.MeshBuilder("ceiling-lights")
        for x in (-3.2, 0.0, 3.2):
            for y in (-0.5, 2.8, 5.6, 8.3):
                panels_lit.box((x, y, CEILING_Z - 0.01), (1.2, 0.6, 0.02), (1, 1, 1, 1))
        self.ceiling_lights = panels_lit.attach(hall)
        self.ceiling_steps = emission_steps("ceiling-light", (1.0, 0.96, 0.88), 2.2, 12)
        self.ceiling_lights.set_material(self.ceiling_steps[-1], 1)

    def _build_lectern(self) -> None:
        root = self.root
        wood = p.MeshBuilder("lectern")
        y, top = LECTERN_Y, STAGE_H + 1.05
        color = (0.11, 0.055, 0.025, 1)
        wood.box((0, y + 0.02, STAGE_H + 0.5), (0.62, 0.42, 1.0), color)
        wood.box((0, y + 0.02, STAGE_H + 0.03), (0.72, 0.5, 0.06), (0.06, 0.03, 0.015, 1))
        # The reading desk slopes down toward the speaker, with a ledge at its far edge.
        tbox(wood, frame(0, y, top + 0.06, pitch=14), (0, 0, 0), (0.7, 0.5, 0.035), color)
        wood.box((0, y + 0.25, top + 0.125), (0.7, 0.06, 0.03), color)
        node = wood.attach(root)
        p.material(node, roughness=0.45)
        paper = p.MeshBuilder("notes")
        tbox(paper, frame(-0.03, y - 0.02, top + 0.08, h=4, pitch=14), (0, 0, 0),
             (0.21, 0.297, 0.004), (0.93, 0.93, 0.9, 1))
        tbox(paper, frame(0.16, y - 0.03, top + 0.079, h=-3, pitch=14), (0, 0, 0),
             (0.21, 0.297, 0.004), (0.9, 0.9, 0.87, 1))
        lines = p.MeshBuilder("notes-text")
        for k in range(9):
            tbox(lines, frame(-0.03, y - 0.02, top + 0.08, h=4, pitch=14),
                 (-0.01 + 0.01 * (k % 3), 0.11 - 0.025 * k, 0.0025),
                 (0.15 - 0.02 * (k % 3), 0.006, 0.001), (0.15, 0.15, 0.2, 1))
        p.material(paper.attach(root), roughness=0.9)
        p.material(lines.attach(root), roughness=0.9)
        mic = p.MeshBuilder("microphone")
        # A gooseneck rising from the ledge and bending toward the speaker's mouth.
        neck = [(-0.25, y + 0.22, top + 0.14), (-0.25, y + 0.2, top + 0.22),
                (-0.235, y + 0.13, top + 0.3), (-0.21, y + 0.04, top + 0.33)]
        mic.cylinder((neck[0][0], neck[0][1], neck[0][2] - 0.004), 0.028, 0.012,
                     (0.03, 0.03, 0.035, 1), segments=14)
        for a, b in itertools.pairwise(neck):
            rod(mic, a, b, 0.0045, (0.05, 0.05, 0.055, 1))
        tip = (-0.19, y - 0.03, top + 0.335)
        rod(mic, neck[-1], tip, 0.011, (0.02, 0.02, 0.022, 1), segments=10)
        mic.sphere(tip, 0.013, (0.02, 0.02, 0.022, 1), segments=10, rings=6)
        p.material(mic.attach(root), roughness=0.5, metallic=0.4)
        glass = p.MeshBuilder("water-glass")
        glass.cylinder((0.26, y + 0.25, top + 0.14), 0.032, 0.11, (0.8, 0.9, 0.95, 1),
                       segments=14)
        p.glass(glass.attach(root))

    def _build_chairs(self) -> None:
        """Every seat in the hall (empty seats stay): two merged meshes, fabric and frame."""
        fabric = p.MeshBuilder("seat-fabric")
        frame_mesh = p.MeshBuilder("seat-frames")
        cloth = (0.035, 0.05, 0.12, 1)
        dark = (0.025, 0.025, 0.03, 1)
        self.seats = seat_layout()
        for seat in self.seats:
            m = frame(seat.x, seat.y, seat.z, h=seat.heading + 180.0)
            # Local frame: +Y is toward the back of the chair (the person faces -Y).
            tbox(fabric, m, (0, -0.02, SEAT_TOP - 0.04), (0.48, 0.46, 0.08), cloth)
            back = frame(0, 0.23, SEAT_TOP + 0.02, pitch=-10) * m
            tbox(fabric, back, (0, 0, 0.25), (0.48, 0.07, 0.5), cloth)
            tbox(frame_mesh, back, (0, 0.045, 0.25), (0.5, 0.02, 0.52), dark)
            for dx in (-0.275, 0.275):  # armrests and the stand under each
                tbox(frame_mesh, m, (dx, 0.0, SEAT_TOP + 0.2), (0.05, 0.42, 0.035), dark)
                tbox(frame_mesh, m, (dx, 0.12, (SEAT_TOP + 0.2) / 2), (0.04, 0.08,
                                                                       SEAT_TOP + 0.2), dark)
        p.material(fabric.attach(self.root), roughness=0.95)
        p.material(frame_mesh.attach(self.root), roughness=0.5, metallic=0.3)

    def _build_lights(self) -> None:
        root = self.root
        self.ambient = p.ambient(root, (0.85, 0.88, 1.0), 0.45)
        self.key = p.sun(root, (0, -52, 0), (1.0, 0.96, 0.9), 1.6)
        self.lamps = [p.lamp(root, (x, 5.5, CEILING_Z - 0.4), (1.0, 0.95, 0.88), 3.0, 0.05)
                      for x in (-2.8, 2.8)]
        # Light thrown back off the lit stage: it reaches the front rows, not the back wall,
        # so a dark hall keeps the nearest faces visible.
        self.spill = p.lamp(root, (0.0, 1.5, 1.8), (1.0, 0.93, 0.84), 0.0, 0.3)
        spot = Spotlight("follow-spot")
        lens = PerspectiveLens()
        lens.set_fov(13)
        spot.set_lens(lens)
        spot.set_exponent(4.0)
        self.spot_color = (1.0, 0.95, 0.85)
        spot.set_color((0, 0, 0, 1))
        self.spot = root.attach_new_node(spot)
        self.spot.set_pos(*SPOT_POS)
        self.spot.look_at(0, 0.1, STAGE_H + 1.2)
        root.set_light(self.spot)
        # The lamp of the follow-spot seen from the stage: a lens and a soft glare around it.
        lens_mesh = p.MeshBuilder("spot-lens")
        lens_mesh.cylinder((0, 0, 0), 0.13, 0.02, (1, 1, 1, 1), segments=20)
        self.spot_lens = lens_mesh.attach(root)
        self.spot_lens.set_pos(SPOT_POS[0], SPOT_POS[1] + 0.05, SPOT_POS[2])
        self.spot_lens.set_p(-90)  # the disc faces the stage
        self.lens_steps = emission_steps("spot-lens", (1.0, 0.95, 0.85), 9.0, 12)
        self.spot_lens.set_material(self.lens_steps[0], 1)
        self.spot_lens.set_light_off(1)
        halo = p.MeshBuilder("spot-glare")
        halo.quad([(-1.6, 0, -1.6), (1.6, 0, -1.6), (1.6, 0, 1.6), (-1.6, 0, 1.6)],
                  (0, -1, 0), (1, 1, 1, 1))
        self.glare = halo.attach(root)
        self.glare.set_pos(SPOT_POS[0], SPOT_POS[1] - 0.15, SPOT_POS[2])
        self.glare.set_billboard_point_eye()
        stage = TextureStage("glare-emission")
        stage.set_mode(TextureStage.M_emission)
        self.glare.set_texture(stage, p.texture("glare", halo_rgb()))
        self.glare_steps = emission_steps("spot-glare", (1.0, 1.0, 1.0), 2.5, 12)
        self.glare.set_material(self.glare_steps[0], 1)
        self.glare.set_attrib(ColorBlendAttrib.make(ColorBlendAttrib.M_add,
                                                    ColorBlendAttrib.O_one,
                                                    ColorBlendAttrib.O_one))
        self.glare.set_depth_write(False)
        self.glare.set_bin("fixed", 40)
        self.glare.set_light_off(1)
        self.glare.hide()

    def _build_audience(self) -> None:
        rng = self.rng
        appearances = [Appearance.random(rng) for _ in range(TEMPLATES)]
        templates = [body_template(a) for a in appearances]
        skins = [linear(a.skin) for a in appearances]
        audience = self.root.attach_new_node("audience")
        self.audience = audience
        phone = p.MeshBuilder("phone")
        phone.box((0, 0, 0), (0.072, 0.008, 0.15), (0.05, 0.05, 0.06, 1))
        phone_np = NodePath(phone.node())
        p.material(phone_np, roughness=0.3, metallic=0.5)
        phones = audience.attach_new_node("phones")
        screen = p.MeshBuilder("phone-screen")
        screen.box((0, -0.0045, 0), (0.064, 0.002, 0.135), (1, 1, 1, 1))
        p.glow(screen.attach(phone_np), (0.55, 0.7, 0.95), 1.2)
        # Seat order: the middle of the middle rows first, the front row and the edges later.
        order = sorted(range(len(self.seats)), key=lambda i: (
            ROW_PREFERENCE[self.seats[i].row] + 0.45 * abs(self.seats[i].x)
            + float(rng.uniform(0, 0.9))))
        # The first, lone listener sits in the middle of the second row, face to face.
        first = min((i for i, seat in enumerate(self.seats) if seat.row == 1),
                    key=lambda i: abs(self.seats[i].x))
        order.remove(first)
        order.insert(0, first)
        self.listeners: list[Listener] = []
        for n, seat_index in enumerate(order):
            seat = self.seats[seat_index]
            k = int(rng.integers(TEMPLATES))
            person = Person(audience, templates[k], f"listener-{n}")
            scale = float(rng.uniform(0.96, 1.04))
            person.root.set_scale(scale)
            self._tint(person.root, rng, skins[k])
            slot = person.joints["wrist_r"].attach_new_node("phone-slot")
            slot.set_pos_hpr(-0.02, 0.02, -0.085, 0, 0, 90)
            held = phones.attach_new_node(f"phone-{n}")
            phone_np.instance_to(held)
            held.hide()
            listener = Listener(
                index=n, person=person, seat=seat, legs={}, seated_pos=Point3(),
                eyes=Point3(), near=seat.row <= 1,
                focus=float(rng.uniform(0.15, 1.1)), scepticism=float(rng.uniform(0.1, 1.15)),
                nodder=float(rng.uniform(0.2, 1.0)),
                tilt=float(rng.choice((-1, 1)) * rng.uniform(5, 11)),
                offset=(float(rng.normal(0, 1.5)), float(rng.normal(0, 1.5))),
                has_phone=bool(rng.random() < 0.7), phone=held, phone_slot=slot,
                critic=int(rng.choice(3, p=(0.55, 0.3, 0.15))),
                heading=seat.heading + float(rng.normal(0, 3)))
            listener.seat_heading = listener.heading
            self._seat(listener)
            listener.pose = self._compose(listener, ATTENTIVE)
            listener.target = list(listener.pose)
            self._apply_pose(listener)
            person.combine()
            person.hide()
            self.listeners.append(listener)
            # The face is what a speaker meets or avoids: tag each head. A seated head stays
            # within its sphere as it nods, turns and slouches, so the sphere is placed in the
            # seat and again only when the listener gets up or sits back (update, _reset).
            self.context.targets.tag(person.joints["head"], "stimulus", radius=0.16,
                                     center=(0.0, 0.06, 0.09), moves=False)

    @staticmethod
    def _tint(root: NodePath, rng: np.random.Generator, skin: Color) -> None:
        """Vary a copy's clothes: the top and the trousers each get a colour of their own."""
        top = (float(rng.uniform(0.6, 1.25)), float(rng.uniform(0.6, 1.2)),
               float(rng.uniform(0.6, 1.25)), 1.0)
        legs = (float(rng.uniform(0.7, 1.2)),) * 3 + (1.0,)
        for part in ("spine", "chest", "upper-arm-l", "upper-arm-r"):
            for node in root.find_all_matches(f"**/*-{part}"):
                node.set_color_scale(top)
        for part in ("pelvis", "thigh-l", "thigh-r", "shin-l", "shin-r"):
            for node in root.find_all_matches(f"**/*-{part}"):
                node.set_color_scale(legs)
        # A forearm mesh is sleeve and wrist in one: tint its vertices, all but the skin.
        for part in ("forearm-l", "forearm-r"):
            for node in root.find_all_matches(f"**/*-{part}"):
                tint_except(node, top, skin)

    def _seat(self, listener: Listener) -> None:
        """Sit the listener on their seat: hips and knees bent, feet on the tier."""
        person, seat = listener.person, listener.seat
        root = person.root
        for name in LEGS:
            person.joints[name].set_hpr(0, 0, 0)
        root.set_pos_hpr(0, 0, 0, 0, 0, 0)
        parent = root.get_parent()  # measured where the copy's own scale counts
        hip = person.joints["hip_l"].get_pos(parent)
        knee = person.joints["knee_l"].get_pos(parent)
        ankle = person.joints["ankle_l"].get_pos(parent)
        thigh, shin, ankle_h = hip.z - knee.z, knee.z - ankle.z, ankle.z
        hip_height = SEAT_TOP + HIP_OVER_SEAT
        # Short legs tilt the thighs down off the cushion's edge so the feet reach the floor.
        drop = hip_height - (shin + ankle_h)
        beta = math.asin(min(0.45, drop / thigh)) if drop > 0 else 0.0
        knee_z = hip_height - thigh * math.sin(beta)
        alpha = math.acos(max(-1.0, min(1.0, (knee_z - ankle_h) / shin)))
        hip_p = 90.0 - math.degrees(beta)
        knee_p = math.degrees(alpha) - hip_p
        ankle_p = -math.degrees(alpha)
        listener.legs = {"hip_l": (0.0, hip_p, 5.0), "knee_l": (0.0, knee_p, -5.0),
                         "ankle_l": (0.0, ankle_p, 0.0), "hip_r": (0.0, hip_p, -5.0),
                         "knee_r": (0.0, knee_p, 5.0), "ankle_r": (0.0, ankle_p, 0.0)}
        for name, hpr in listener.legs.items():
            person.joints[name].set_hpr(*hpr)
        heading = listener.heading
        rad = math.radians(heading)
        back = (math.sin(rad) * 0.05, -math.cos(rad) * 0.05)  # a little behind the centre
        pos = Point3(seat.x + back[0], seat.y + back[1], seat.z + hip_height - hip.z)
        listener.seated_pos = pos
        root.set_pos_hpr(pos, Vec3(heading, 0, 0))
        for name in (*POSE_JOINTS, "neck", "head"):
            person.joints[name].set_hpr(0, 0, 0)
        listener.eyes = person.head_position(self.root)

    def _build_sounds(self) -> None:
        rng, sound = self.rng, self.context.sound
        self.murmur_sound = sound.add("audience-murmur", murmur(rng))
        self.hum_sound = sound.add("hall-ventilation", synth.hum(rng, 4.0, 50.0))
        self.cough_sound = sound.add("cough", cough(rng))
        self.ring_sound = sound.add("phone-ring", ring_tone())
        self.door_sound = sound.add("exit-door", synth.door_slam(rng))
        self.murmur_node = self.root.attach_new_node("murmur")
        self.murmur_node.set_pos(0, 5.5, 1.6)
        self.cough_node = self.root.attach_new_node("cough-at")

    # -------------------------------------------------------------- lifecycle

    def rung_start(self, rung: int) -> None:
        """Loop the room's sounds (again, after a stop); anyone who walked out is back."""
        sound = self.context.sound
        sound.play(self.murmur_sound, at=self.murmur_node, loop=True,
                   volume=self.murmur_volume)
        sound.play(self.hum_sound, at=self.murmur_node, loop=True, volume=0.06)
        self._everyone_back()

    def settle(self) -> None:
        """The next update poses everyone at once, without blending."""
        self.snap = True
        self._everyone_back()

    def _everyone_back(self) -> None:
        for listener in self.listeners:
            if listener.state in BUSY:
                self._reset(listener)
                if listener.index < self.count:
                    listener.person.show()
                    self.context.targets.refresh(listener.person.joints["head"])
        for door in self.doors:
            door.set_h(0)
        self.door_open = [0.0, 0.0]

    def _reset(self, listener: Listener) -> None:
        """Back in the seat, attentive, posed at once."""
        listener.state = ATTENTIVE
        listener.timer = float(self.rng.uniform(2.0, 8.0))
        listener.look = listener.look_at = None
        listener.partner = -1
        listener.phone.hide()
        listener.person.set_jaw(0.0)
        listener.heading = listener.seat_heading
        listener.person.root.set_pos_hpr(listener.seated_pos, Vec3(listener.heading, 0, 0))
        for name, hpr in listener.legs.items():
            listener.person.joints[name].set_hpr(*hpr)
        self._retarget(listener, ATTENTIVE)
        listener.pose = list(listener.target)
        self._apply_pose(listener)
        self.context.targets.refresh(listener.person.joints["head"])
        listener.head_set = (1e9, 0.0, 0.0)  # head and eyes are set afresh at the next turn
        listener.eyes_set = (1e9, 0.0)

    # -------------------------------------------------------------- per frame

    def update(self, values: Mapping[str, float], dt: float) -> None:
        """Seat the audience, light the hall, set the room's sound and pose the listeners."""
        self.time += dt
        top = self.root.get_top()
        client = self.root.get_relative_point(top, self.context.client.head)
        self._set_count(round(values["audience"]))
        if self.arriving:
            self._seat_arrivals(len(self.arriving) if self.snap else ARRIVALS_PER_FRAME)
        self._light(values["spotlight"])
        self._sound(values, dt)
        if self.snap:
            self.snap = False
            self.fresh = list(self.listeners[:self.count])
        if self.fresh:
            for listener in self.fresh:
                if listener.index < self.count and listener.state not in BUSY:
                    self._tick(listener, 0.0, values, client, snap=True)
            self.fresh.clear()
        elif dt > 0 and self.order:
            for _ in range(min(TICKS_PER_FRAME, len(self.order))):
                listener = self.listeners[self.order[self.cursor]]
                self.cursor = (self.cursor + 1) % len(self.order)
                if listener.state not in BUSY:
                    self._tick(listener, self.time - listener.last, values, client)
        if self.actors:
            for listener in list(self.actors):
                if listener.state in (QUESTION, RINGING, WALKOUT):
                    self._event_tick(listener, dt, values, client)
                    self.context.targets.refresh(listener.person.joints["head"])
                else:
                    self.actors.remove(listener)
            self._doors(dt)
        elif self.door_open[0] or self.door_open[1]:
            self._doors(dt)

    def _seat_arrivals(self, how_many: int) -> None:
        """Seat the next ``how_many`` arriving listeners, posed from their first frame."""
        for listener in self.arriving[:how_many]:
            if listener.state == GONE:  # (an earlier settle may have seated them already)
                self._reset(listener)
                listener.person.show()
                self.context.targets.refresh(listener.person.joints["head"])
                listener.last = self.time
                self.fresh.append(listener)  # newcomers appear already posed
        del self.arriving[:how_many]

    def _set_count(self, count: int) -> None:
        if count == self.count:
            return
        old = self.count
        self.count = count
        for listener in self.listeners[min(old, count):max(old, count)]:
            if listener.index < count:
                listener.state = GONE  # not in the seat yet: _seat_arrivals seats them
                self.arriving.append(listener)
            else:
                if listener in self.arriving:
                    self.arriving.remove(listener)
                if listener.partner >= 0:
                    self._end_whisper(listener)
                if listener.state in BUSY:  # back in the seat (hidden) for a later return
                    self._reset(listener)
                listener.person.hide()
                self.context.targets.refresh(listener.person.joints["head"])
        # Who is posed in which frame: everyone each frame while few are seated; beyond the
        # budget, a round in which the front two rows come up twice.
        seated = list(range(count))
        if count > TICKS_PER_FRAME:
            near = [i for i in seated if self.listeners[i].near]
            far = [i for i in seated if not self.listeners[i].near]
            half = len(far) // 2
            seated = near + far[:half] + near + far[half:]
        self.order = seated
        self.cursor = 0

    def _light(self, spot: float) -> None:
        if self.lights_at is not None and abs(spot - self.lights_at) < 0.004:
            return
        self.lights_at = spot
        house = 1.0 - 0.93 * spot
        a = 0.45 * (0.04 + 0.96 * house)
        self.ambient.node().set_color((0.85 * a, 0.88 * a, 1.0 * a, 1))
        k = 1.6 * house
        self.key.node().set_color((1.0 * k, 0.96 * k, 0.9 * k, 1))
        for lamp in self.lamps:
            s = 3.0 * house
            lamp.node().set_color((1.0 * s, 0.95 * s, 0.88 * s, 1))
        s = 4.5 * spot
        self.spill.node().set_color((1.0 * s, 0.93 * s, 0.84 * s, 1))
        s = 14.0 * smoothstep(0.05, 0.6, spot)
        c = self.spot_color
        self.spot.node().set_color((c[0] * s, c[1] * s, c[2] * s, 1))
        steps = len(self.ceiling_steps) - 1
        self.ceiling_lights.set_material(self.ceiling_steps[max(1, round(steps * house))], 1)
        lens = round(steps * smoothstep(0.02, 0.7, spot))
        self.spot_lens.set_material(self.lens_steps[lens], 1)
        glare = round(steps * smoothstep(0.15, 1.0, spot))
        if glare:
            self.glare.show()
            self.glare.set_material(self.glare_steps[glare], 1)
        else:
            self.glare.hide()

    def _sound(self, values: Mapping[str, float], dt: float) -> None:
        crowd = min(1.0, self.count / 30.0)
        volume = values["murmur"] * (0.3 + 0.7 * crowd) * 0.8
        if abs(volume - self.murmur_volume) > 0.004:
            self.murmur_volume = volume
            self.context.sound.set_volume(self.murmur_sound, volume)
        # Coughs: on average one every few seconds in a full, noisy hall; none when quiet.
        rate = 0.2 * values["murmur"] * crowd
        if rate <= 0 or dt <= 0:
            return
        self.cough_clock -= dt * rate
        if self.cough_clock > 0:
            return
        self.cough_clock = float(self.rng.exponential(1.0))
        idle = [listener for listener in self.listeners[:self.count]
                if listener.state not in BUSY]
        if not idle:
            return
        who = idle[int(self.rng.integers(len(idle)))]
        who.cough = 0.0
        self.cough_node.set_pos(who.eyes)
        self.context.sound.play(self.cough_sound, at=self.cough_node,
                                volume=0.35 + 0.4 * values["murmur"])

    # -------------------------------------------------------------- behaviour

    def _choose(self, listener: Listener, values: Mapping[str, float]) -> None:
        """The listener's next activity, from their temperament and the level."""
        rng = self.rng
        attention, hostility = values["attention"], values["hostility"]
        if listener.partner >= 0:
            self._end_whisper(listener)
        listener.look = listener.look_at = None
        listener.phone.hide()
        away = smoothstep(listener.focus - 0.2, listener.focus + 0.15, attention)
        listener.sceptic = hostility > listener.scepticism
        if float(rng.random()) < away:
            weights = [1.2 if listener.has_phone else 0.2, 0.9, 0.55, 0.7]
            pick = float(rng.random()) * sum(weights)
            kind = 0
            while pick > weights[kind] and kind < 3:
                pick -= weights[kind]
                kind += 1
            if kind == 2 and self._start_whisper(listener):
                return
            if kind == 0:
                listener.state = PHONE
                listener.phone.show()
                self._place_phone(listener)
                listener.look = (float(rng.uniform(-6, 6)), -52.0)
                listener.timer = float(rng.uniform(5, 14))
            elif kind == 1:
                listener.state = SLUMP
                listener.look = (float(rng.uniform(-40, 40)), float(rng.uniform(-30, -8)))
                listener.timer = float(rng.uniform(5, 12))
            else:
                listener.state = GLANCE
                listener.look = (float(rng.choice((-1, 1)) * rng.uniform(35, 75)),
                                 float(rng.uniform(-15, 12)))
                listener.timer = float(rng.uniform(2.5, 6))
        elif float(rng.random()) < 0.12 + 0.3 * attention:
            listener.state = GLANCE
            listener.look = (float(rng.choice((-1, 1)) * rng.uniform(20, 60)),
                             float(rng.uniform(-30, 8)))
            listener.timer = float(rng.uniform(0.8, 2.2))
        else:
            listener.state = ATTENTIVE
            listener.timer = float(rng.uniform(3, 9) * (1.4 - 0.6 * attention))

    def _start_whisper(self, listener: Listener) -> bool:
        """Lean in to a seated neighbour in the same row who is free to whisper back."""
        seat = listener.seat
        for other in self.listeners[:self.count]:
            if (other is not listener and other.seat.row == seat.row
                    and abs(abs(other.seat.x - seat.x) - SEAT_PITCH) < 0.05
                    and other.state in (ATTENTIVE, GLANCE, SLUMP) and other.partner < 0):
                duration = float(self.rng.uniform(4, 9))
                for a, b in ((listener, other), (other, listener)):
                    a.state = WHISPER
                    a.partner = b.index
                    a.timer = duration
                    a.look = None
                    a.look_at = b.eyes
                    a.phone.hide()
                    self._retarget(a, WHISPER)
                return True
        return False

    def _end_whisper(self, listener: Listener) -> None:
        partner = self.listeners[listener.partner]
        listener.partner = -1
        listener.person.set_jaw(0.0)
        if partner.partner == listener.index:
            partner.partner = -1
            partner.state = ATTENTIVE
            partner.timer = float(self.rng.uniform(2, 6))
            partner.look_at = None
            partner.person.set_jaw(0.0)
            self._retarget(partner, ATTENTIVE)

    def _retarget(self, listener: Listener, state: int) -> None:
        """Aim the listener's posture at what ``state`` asks for (reached over a second)."""
        listener.target = self._compose(listener, state)
        listener.moving = True

    def _compose(self, listener: Listener, state: int) -> list[float]:
        """The posture (torso and arms) a state asks for, as a flat list of hpr values."""
        if state == QUESTION:
            arms = ARMS_RAISED
        elif state in (PHONE, RINGING):
            arms = ARMS_PHONE
        elif listener.sceptic and listener.critic == 0:
            arms = ARMS_CROSSED
        elif listener.sceptic and listener.critic == 1:
            arms = ARMS_CHIN
        else:
            arms = ARMS_LAP
        if state == SLUMP:
            torso = TORSO_SLUMP
        elif state == WHISPER and listener.partner >= 0:
            side = 1.0 if self._side_of(listener, self.listeners[listener.partner]) > 0 else -1.0
            torso = ((-7 * side, -6.0, 8 * side), (-5 * side, -3.0, 5 * side))
        elif listener.sceptic:
            torso = TORSO_BACK if listener.critic != 1 else TORSO_CHIN
        elif state == ATTENTIVE and listener.nodder > 0.45:
            torso = TORSO_FORWARD
        else:
            torso = TORSO_UPRIGHT
        flat: list[float] = []
        for hpr in (*torso, *arms):
            flat.extend(hpr)
        return flat

    @staticmethod
    def _side_of(listener: Listener, other: Listener) -> float:
        """Where ``other`` sits across ``listener``'s body: > 0 to their right (+X)."""
        rad = math.radians(listener.heading)
        dx, dy = other.seat.x - listener.seat.x, other.seat.y - listener.seat.y
        return dx * math.cos(rad) + dy * math.sin(rad)

    def _direction(self, listener: Listener, point: Point3) -> tuple[float, float]:
        """Yaw (+ to the listener's left) and pitch to look from their eyes at ``point``."""
        e = listener.eyes
        dx, dy, dz = point[0] - e[0], point[1] - e[1], point[2] - e[2]
        rad = math.radians(listener.heading)
        c, s = math.cos(rad), math.sin(rad)
        right = dx * c + dy * s
        ahead = -dx * s + dy * c
        return (math.degrees(math.atan2(-right, ahead)),
                math.degrees(math.atan2(dz, math.hypot(right, ahead))))

    def _tick(self, listener: Listener, dt: float, values: Mapping[str, float],
              client: Point3, snap: bool = False) -> None:
        """One turn of a seated listener: behaviour, posture, gaze, eyelids and mouth."""
        listener.last = self.time
        rng = self.rng
        listener.timer -= dt
        if listener.timer <= 0 or snap:
            self._choose(listener, values)
            self._retarget(listener, listener.state)
        hostility = values["hostility"]
        friendly = 1.0 - smoothstep(listener.scepticism - 0.25, listener.scepticism,
                                    hostility)
        # Nods (friendly, attentive) and the occasional sceptical shake of the head.
        if listener.state == ATTENTIVE and listener.nod < 0 and listener.shake < 0:
            if float(rng.random()) < dt * 0.22 * listener.nodder * friendly:
                listener.nod = 0.0
            elif listener.sceptic and float(rng.random()) < dt * 0.04 * hostility:
                listener.shake = 0.0
        # Posture: ease toward the target (a second or so), or jump there when snapping.
        pose, target = listener.pose, listener.target
        if listener.moving or snap:
            k = 1.0 if snap else 1.0 - math.exp(-dt * 2.2)
            far = 0.0
            for i in range(len(pose)):
                gap = target[i] - pose[i]
                pose[i] += gap * k
                far = max(far, abs(gap))
            if far * (1.0 - k) < 0.1:  # close enough: land on it and stop re-applying it
                pose[:] = target
                listener.moving = False
            self._apply_pose(listener)
        # Gaze: where to look, in the body's frame.
        if listener.look_at is not None:
            yaw, pitch = self._direction(listener, listener.look_at)
        elif listener.look is not None:
            yaw, pitch = listener.look
        else:
            yaw, pitch = self._direction(listener, client)
            yaw += listener.offset[0]
            pitch += listener.offset[1]
        listener.saccade_t -= dt
        if listener.saccade_t <= 0:
            listener.saccade_t = float(rng.uniform(0.4, 2.0))
            listener.saccade = (float(rng.normal(0, 1.2)), float(rng.normal(0, 0.8)))
        yaw = max(-70.0, min(70.0, yaw))
        g = 1.0 if snap else 1.0 - math.exp(-dt * 5.0)
        gaze = listener.gaze
        gaze[0] += (yaw * 0.85 - gaze[0]) * g
        gaze[1] += (pitch * 0.8 - gaze[1]) * g
        head_p = gaze[1]
        head_h = gaze[0]
        head_r = 0.0
        if listener.sceptic:
            head_r = listener.tilt * smoothstep(listener.scepticism, 1.0, hostility + 0.3)
            head_p += 4.0
        elif friendly > 0.5 and listener.state == ATTENTIVE:
            head_r = -0.4 * listener.tilt
        if listener.nod >= 0:
            listener.nod += dt
            head_p -= 7.0 * math.sin(listener.nod * 2 * math.pi * 1.8) * (listener.nod < 1.1)
            if listener.nod > 1.1:
                listener.nod = -1.0
        if listener.shake >= 0:
            listener.shake += dt
            head_h += 9.0 * math.sin(listener.shake * 2 * math.pi * 2.2) * (listener.shake < 1.0)
            if listener.shake > 1.0:
                listener.shake = -1.0
        if listener.cough >= 0:
            listener.cough += dt
            head_p -= 14.0 * math.sin(min(1.0, listener.cough / 0.7) * math.pi)
            if listener.cough > 0.7:
                listener.cough = -1.0
        # Eyes carry what the head has not turned yet, plus small saccades; measured from
        # where the head points now, they stay on their target through a nod or a shake.
        eye_h = max(-25.0, min(25.0, yaw - head_h + listener.saccade[0]))
        eye_p = max(-25.0, min(20.0, pitch - head_p + listener.saccade[1]))
        # The torso already turns and tilts the head: take that out of the neck and head.
        head_p -= pose[1] + pose[4]
        head_h -= pose[0] + pose[3]
        head_r -= pose[2] + pose[5]
        joints = listener.person.joints
        last = listener.head_set
        if (abs(head_h - last[0]) > 0.15 or abs(head_p - last[1]) > 0.15
                or abs(head_r - last[2]) > 0.15):
            listener.head_set = (head_h, head_p, head_r)
            joints["neck"].set_hpr(0.4 * head_h, 0.35 * head_p, 0.3 * head_r)
            joints["head"].set_hpr(0.6 * head_h, 0.65 * head_p, 0.7 * head_r)
        eyes = listener.eyes_set
        if abs(eye_h - eyes[0]) > 0.3 or abs(eye_p - eyes[1]) > 0.3:
            listener.eyes_set = (eye_h, eye_p)
            joints["eye_l"].set_hpr(eye_h, eye_p, 0)
            joints["eye_r"].set_hpr(eye_h, eye_p, 0)
        # Blinks, heavier lids when bored, and whispering mouths.
        listener.blink -= dt
        if listener.blink <= -0.15:
            listener.blink = float(rng.uniform(2.0, 6.0))
        lids = 1.0 if listener.blink < 0 else (0.4 if listener.state == SLUMP else 0.0)
        if listener.state == PHONE:
            lids = max(lids, 0.35)
        listener.person.set_eyelids(lids)
        if listener.state == WHISPER and listener.index < listener.partner:
            talk = abs(math.sin(self.time * 7.0)) * (math.sin(self.time * 0.9) > -0.2)
            listener.person.set_jaw(6.0 * talk)

    def _apply_pose(self, listener: Listener) -> None:
        pose, joints = listener.pose, listener.person.joints
        for i, name in enumerate(POSE_JOINTS):
            joints[name].set_hpr(pose[3 * i], pose[3 * i + 1], pose[3 * i + 2])
        self._place_phone(listener)

    def _place_phone(self, listener: Listener) -> None:
        """Put a phone in use in the hand that holds it (after the arm or body moved)."""
        if listener.phone_slot is not None and not listener.phone.is_hidden():
            listener.phone.set_transform(listener.phone_slot.get_transform(self.audience))

    # -------------------------------------------------------------- live events

    def _idle(self) -> list[Listener]:
        return [listener for listener in self.listeners[:self.count]
                if listener.state not in BUSY]

    def event(self, name: str) -> None:
        """``question``: a hand goes up; ``phone``: a phone rings in the audience;
        ``walk_out``: someone at the end of a row leaves by the back door."""
        idle = self._idle()
        if not idle:
            log.info("public_speaking: %s ignored: nobody is free to do it", name)
            return
        rng = self.rng
        if name == "question":
            # Somebody from the middle rows rather than right in front.
            weights = np.array([1.0 if 1 <= who.seat.row <= 4 else 0.4 for who in idle])
            who = idle[int(rng.choice(len(idle), p=weights / weights.sum()))]
            self._begin(who, QUESTION)
        elif name == "phone":
            weights = np.array([0.3 if who.seat.row == 0 else 1.0 for who in idle])
            who = idle[int(rng.choice(len(idle), p=weights / weights.sum()))]
            self._begin(who, RINGING)
            self.context.sound.play(self.ring_sound, at=who.person.joints["head"], volume=0.8)
            # The neighbours turn to see whose phone it is.
            for other in idle:
                if other is not who and (other.seat.x - who.seat.x) ** 2 + (
                        other.seat.y - who.seat.y) ** 2 < 2.4 ** 2:
                    if other.partner >= 0:
                        self._end_whisper(other)
                    other.state = GLANCE
                    other.look = None
                    other.look_at = who.eyes
                    other.timer = float(rng.uniform(1.5, 3.5))
        elif name == "walk_out":
            who = self._leaver(idle)
            self._begin(who, WALKOUT)
            who.path = self._exit_path(who)
            who.walked = 0.0

    def _leaver(self, idle: list[Listener]) -> Listener:
        """Someone with nobody seated between them and an aisle (the back rows preferred)."""
        seated = self.listeners[:self.count]
        ends = []
        for who in idle:
            side = 1.0 if who.seat.x >= 0 else -1.0
            blocked = any(other is not who and other.state != GONE
                          and other.seat.row == who.seat.row
                          and side * other.seat.x > side * who.seat.x for other in seated)
            if not blocked:
                ends.append(who)
        pool = ends or idle
        weights = np.array([1.0 + who.seat.row for who in pool])
        return pool[int(self.rng.choice(len(pool), p=weights / weights.sum()))]

    def _exit_path(self, who: Listener) -> list[tuple[float, float, float]]:
        seat = who.seat
        side = 1.0 if seat.x >= 0 else -1.0
        front_y = seat.y - 0.55
        return [(seat.x, front_y, seat.z), (side * AISLE_X, front_y, seat.z),
                (side * AISLE_X, BACK_Y - 0.7, aisle_z(BACK_Y - 0.7)),
                (side * AISLE_X, BACK_Y + 0.9, aisle_z(BACK_Y - 0.7))]

    def _begin(self, who: Listener, state: int) -> None:
        if who.partner >= 0:
            self._end_whisper(who)
        who.state = state
        who.event_t = 0.0
        if who not in self.actors:
            self.actors.append(who)
        who.look = who.look_at = None
        who.phone.hide()
        self._retarget(who, state)

    def _event_tick(self, who: Listener, dt: float, values: Mapping[str, float],
                    client: Point3) -> None:
        """A listener in a live event moves every frame."""
        if dt <= 0:
            return
        who.event_t += dt
        t = who.event_t
        if who.state == QUESTION:
            if t > QUESTION_S:
                who.state = ATTENTIVE
                who.timer = float(self.rng.uniform(3, 6))
                self._retarget(who, ATTENTIVE)
            self._tick_posed(who, dt, values, client)
        elif who.state == RINGING:
            if t < 1.6:
                who.look = (25.0, -45.0)  # looking for it in a pocket or bag
            else:
                if who.phone.is_hidden():
                    who.phone.show()
                    self._place_phone(who)
                who.look = (0.0, -50.0)
            if t > RING_S + 1.0:
                who.state = ATTENTIVE
                who.phone.hide()
                who.look = None
                who.timer = float(self.rng.uniform(3, 6))
                self._retarget(who, ATTENTIVE)
            self._tick_posed(who, dt, values, client)
            self._place_phone(who)
        elif who.state == WALKOUT:
            self._walk(who, dt)

    def _tick_posed(self, who: Listener, dt: float, values: Mapping[str, float],
                    client: Point3) -> None:
        """Pose a listener in a live event: the event, not their own whims, ends it."""
        timer = who.timer
        who.timer = math.inf
        self._tick(who, dt, values, client)
        who.timer = timer

    def _walk(self, who: Listener, dt: float) -> None:
        """Stand up, walk along the row and up the aisle, and go out through the door."""
        person = who.person
        joints = person.joints
        t = who.event_t
        if t < STAND_S:
            # Rising: hips forward over the feet, then up, legs straightening.
            u = smoothstep(0.0, 1.0, t / STAND_S)
            start = who.seated_pos
            end = who.path[0]
            x = start.x + (end[0] - start.x) * u
            y = start.y + (end[1] - start.y) * u
            rise = (end[2] - start.z) * u
            person.root.set_pos(x, y, start.z + rise)
            for name, (h, pitch, r) in who.legs.items():
                joints[name].set_hpr(h * (1 - u), pitch * (1 - u), r * (1 - u))
            joints["spine"].set_hpr(0, -28 * math.sin(math.pi * u), 0)
            joints["chest"].set_hpr(0, 0, 0)
            for i, name in enumerate(ARMS):
                lap = ARMS_LAP[i]
                joints[name].set_hpr(lap[0] * (1 - u), lap[1] * (1 - u), lap[2] * (1 - u))
            return
        who.walked += WALK_SPEED * dt
        s = who.walked
        path = who.path
        for stretch, (a, b) in enumerate(itertools.pairwise(path)):
            length = math.dist(a[:2], b[:2])
            if s <= length:
                f = s / max(length, 1e-6)
                x, y = a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f
                z = aisle_z(y) if stretch == 1 else a[2]  # up the aisle's half steps
                heading = math.degrees(math.atan2(-(b[0] - a[0]), b[1] - a[1]))
                break
            s -= length
        else:
            who.state = GONE
            person.hide()
            return
        turn = (heading - who.heading + 180.0) % 360.0 - 180.0
        who.heading += max(-360 * dt, min(360 * dt, turn))
        phase = 2 * math.pi * who.walked / STRIDE
        bob = 0.025 * abs(math.cos(phase))
        person.root.set_pos_hpr(x, y, z + bob, who.heading, 0, 0)
        for side, offset, sgn in (("l", 0.0, 1.0), ("r", math.pi, -1.0)):
            # Each leg swings forward with its knee bent, then pushes back straight; the arm
            # on the same side swings against it.
            swing = math.sin(phase + offset)
            forward = max(0.0, math.cos(phase + offset))
            joints[f"hip_{side}"].set_hpr(0, 24 * swing, 0)
            joints[f"knee_{side}"].set_hpr(0, -32 * forward - 4, 0)
            joints[f"ankle_{side}"].set_hpr(0, 8 * forward - 4 * swing, 0)
            joints[f"shoulder_{side}"].set_hpr(0, -18 * swing, 3 * sgn)
            joints[f"elbow_{side}"].set_hpr(0, 14, 0)
            joints[f"wrist_{side}"].set_hpr(0, 0, 0)
        joints["spine"].set_hpr(0, -3, 0)
        joints["neck"].set_hpr(0, -4, 0)
        joints["head"].set_hpr(0, -6, 0)
        joints["eye_l"].set_hpr(0, -5, 0)
        joints["eye_r"].set_hpr(0, -5, 0)

    def _doors(self, dt: float) -> None:
        """Open a back door as a leaver comes near; it swings shut behind them."""
        if dt <= 0:
            return
        for k, side in enumerate((-1.0, 1.0)):
            near = False
            for who in self.actors:
                if who.state == WALKOUT and who.event_t > STAND_S:
                    pos = who.person.root.get_pos()
                    if (side * pos.x > 0 and abs(pos.x - side * AISLE_X) < 0.8
                            and pos.y > BACK_Y - 2.2):
                        near = True
            was = self.door_open[k]
            goal = 1.0 if near else 0.0
            step = dt * (1.4 if near else 0.9)
            now = min(goal, was + step) if goal > was else max(goal, was - step)
            if now != was:
                self.door_open[k] = now
                self.doors[k].set_h(side * 80.0 * now)
                if now == 0.0:
                    self.context.sound.play(self.door_sound, at=self.doors[k], volume=0.3)
