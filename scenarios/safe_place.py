"""The safe place: a quiet sandy cove the client returns to on stop, on panic and in breaks.

The stage loads it beside the exposure scenario and shows it in the same frame a stop arrives,
so everything here is chosen to be calm at every setting and cheap to build and draw:

* a cove of sand between two low wooded headlands, dunes with grass and pines behind, the sea
  ahead to a hazy horizon; a few smooth rocks and a driftwood log;
* slow swells (a handful of long curved ridges sliding toward the shore every ten seconds) and a
  thin wash of water running up the sand and back, with the surf sound in the same rhythm;
* one sky dome coloured per pixel by a tiny shader (zenith, horizon, glow around the sun, the
  sun's disc) from colours set per frame, so one scene covers morning to dusk without
  rebuilding anything, and costs one cheap pass on a software renderer;
* distant birdsong from the trees, both sounds looping at low volume.

Its rungs are not a fear hierarchy (``graded=False``): they are calm variants a client chooses
with their therapist (early morning, midday, overcast, late afternoon, sunset, dusk with stars).
Intensity within a rung drifts toward the next variant, like time passing. There is no stimulus:
nothing is tagged, and the live events start and end a breathing guide (a soft light over the
water that rises for four seconds and sinks for six: six breaths a minute).

When it is shown beside an exposure scenario the client's head is wherever that scenario put it
(a balcony 40 storeys up, a seat at a clinic table). In the frame it appears (see
:meth:`SafePlace.update`) the scene's root therefore moves so that the beach lies under the
client's feet and the sea lies ahead of where the client is facing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from panda3d.core import (
    ColorBlendAttrib,
    ConfigVariableInt,
    Fog,
    NodePath,
    PTA_LVecBase3f,
    SamplerState,
    Shader,
    Texture,
    TransparencyAttrib,
)

from scenarios import procedural as p
from scenarios import sound as s
from scenarios.base import Scenario
from scenarios.spec import LiveEvent, Parameter, Rung, ScenarioSpec

Rgb = tuple[float, float, float]

# ------------------------------------------------------------------ layout (metres, Z up)

WATER_Z = -0.5
"""The sea's surface, half a metre below the sand the client stands on."""
SHORE_Y = 10.0
"""The waterline straight ahead of the client; it curves out to sea on both sides (a cove)."""
SHORE_CURVE = 0.01
BEACH_SLOPE = 0.05
"""Rise of the sand per metre inland: a flat, safe-looking beach."""
SWELL_PERIOD = 10.0
"""Seconds between swells: slow surf, in step with the surf sound's swell."""
SWELLS = 6
SWELL_SPACING = 10.0
"""Metres between swell ridges; they move at spacing / period = 1 m/s."""
BREATH_IN, BREATH_OUT = 4.0, 6.0
"""The breathing guide's pace: in for 4 s, out for 6 s, six breaths a minute."""
SKY_R = 900.0
ORB_Y, ORB_LOW, ORB_RISE = SHORE_Y + 2.0, 1.1, 1.0
"""The breathing light hovers just past the waterline and rises a metre with each breath."""
SURF_SYNC = 0.65 * SWELL_PERIOD
"""Swell clock when the surf loop starts: the loop's swell peaks five seconds in, as the wash
runs up the sand."""
SOUND_FADE = 4.0
"""Seconds over which the surf and birdsong fade in when the safe place appears."""


def shore_y(x: float) -> float:
    """Where the waterline is at ``x`` (the cove curves toward the sea on both sides)."""
    return SHORE_Y + SHORE_CURVE * x * x


def _smooth(a: float, b: float, x: float) -> float:
    t = min(1.0, max(0.0, (x - a) / (b - a)))
    return t * t * (3 - 2 * t)


def ground_z(x: float, d: float, bumps: float = 0.0) -> float:
    """Height of the land ``d`` metres inland of the waterline at ``x`` (negative: under water).

    A gentle beach, dunes behind it, and two headlands rising at the ends of the cove;
    ``bumps`` (-1..1) is a little per-vertex noise that roughens the dunes.
    """
    z = WATER_Z + BEACH_SLOPE * d
    z += 2.6 * _smooth(16, 42, d) + 1.6 * _smooth(45, 110, d)
    z += 0.7 * bumps * _smooth(14, 30, d)
    head = _smooth(30, 70, abs(x))
    z += head * (14.0 + 3.0 * bumps) * _smooth(-30, 14, d)
    return z


def _lin(c: Rgb) -> tuple[float, float, float, float]:
    """sRGB-looking colour to the linear vertex colour the PBR shader expects."""
    r, g, b = (v ** 2.2 for v in c)
    return (r, g, b, 1.0)


def _mix(a: Rgb, b: Rgb, t: float) -> Rgb:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def _scale(c: Rgb, k: float) -> Rgb:
    return (c[0] * k, c[1] * k, c[2] * k)


def _untone(c: Rgb) -> Rgb:
    """The linear emission that simplepbr's filmic tone map shows as display colour ``c``.

    The tone map is ``y = x(6.2x + 0.5) / (x(6.2x + 1.7) + 0.06)`` after subtracting 0.004;
    solving the quadratic lets sky colours be written as the colours the client sees.
    """
    out = []
    for y in c:
        y = min(max(y, 0.0), 0.97)
        a = 6.2 * (1 - y)
        b = 0.5 - 1.7 * y
        out.append((-b + math.sqrt(b * b + 4 * a * 0.06 * y)) / (2 * a) + 0.004)
    return (out[0], out[1], out[2])


# ------------------------------------------------------------------ render-state helpers


def _tex(name: str, data: np.ndarray, srgb: bool = False, clamp: bool = True) -> Texture:
    """A texture from ``(h, w, 3|4)`` floats in 0-1 (row 0 at the top)."""
    h, w, channels = data.shape
    tex = Texture(name)
    fmt = {(3, False): Texture.F_rgb, (3, True): Texture.F_srgb,
           (4, False): Texture.F_rgba, (4, True): Texture.F_srgb_alpha}[(channels, srgb)]
    tex.setup_2d_texture(w, h, Texture.T_unsigned_byte, fmt)
    order = [2, 1, 0, 3][:channels]  # Panda3D stores BGR(A), rows bottom-up
    pixels = (np.clip(data, 0, 1) * 255).astype(np.uint8)[::-1, :, order]
    tex.set_ram_image(np.ascontiguousarray(pixels).tobytes())
    tex.set_minfilter(SamplerState.FT_linear_mipmap_linear)
    tex.set_magfilter(SamplerState.FT_linear)
    wrap = SamplerState.WM_clamp if clamp else SamplerState.WM_repeat
    tex.set_wrap_u(wrap)
    tex.set_wrap_v(wrap)
    return tex


def _ramp(name: str, weights: np.ndarray) -> Texture:
    """A 1-D lookup (u -> weight) as a grey texture two pixels high."""
    grey = np.repeat(weights[None, :, None], 3, axis=2)
    return _tex(name, np.repeat(grey, 2, axis=0))


# Two tiny shaders for everything that is only light (sky, stars, clouds, the breathing
# light). Under simplepbr each full-screen layer otherwise runs the whole PBR shader, which on
# a software renderer cost about as much as the rest of the scene; the sky is now one pass.
_SKY_VERT = """
uniform mat4 p3d_ModelViewProjectionMatrix;
attribute vec4 p3d_Vertex;
attribute vec2 p3d_MultiTexCoord0;
varying vec3 v_dir;
varying vec2 v_uv;
void main() {
    v_dir = p3d_Vertex.xyz;
    v_uv = p3d_MultiTexCoord0;
    gl_Position = p3d_ModelViewProjectionMatrix * p3d_Vertex;
}
"""
_SKY_FRAG = """
uniform vec3 sky[5];  // zenith, horizon, glow colours, direction to the sun, sun disc colour
varying vec3 v_dir;
void main() {
    vec3 zenith = sky[0];
    vec3 horizon = sky[1];
    vec3 glow = sky[2];
    vec3 sun_dir = sky[3];
    vec3 disc = sky[4];
    vec3 d = normalize(v_dir);
    float up = max(d.z, 0.0);
    vec3 c = mix(horizon, zenith, 1.0 - pow(1.0 - up, 3.0));
    float a = acos(clamp(dot(d, sun_dir), -1.0, 1.0));
    c += glow * (0.55 * exp(-pow(a / 0.22, 2.0)) + 0.45 * exp(-pow(a / 0.85, 2.0)));
    float sun = smoothstep(0.0105, 0.0085, a) + 0.15 * exp(-pow(a / 0.035, 2.0));
    c += disc * sun * step(-0.002, d.z);
    gl_FragColor = vec4(c, 1.0);
}
"""
_UNLIT_FRAG = """
uniform sampler2D p3d_Texture0;
uniform vec4 p3d_ColorScale;
uniform vec3 tint;
varying vec2 v_uv;
void main() {
    vec4 t = texture2D(p3d_Texture0, v_uv);
    gl_FragColor = vec4(tint * t.rgb, t.a * p3d_ColorScale.a);
}
"""
_shaders: dict[str, Shader] = {}


def _shader(name: str) -> Shader:
    """The sky (``sky``) or plain textured light (``unlit``) shader, in the GLSL dialect
    simplepbr chose for this window (GLSL 1.20, or 3.30 when gl-version asks for core)."""
    if name not in _shaders:
        gl = ConfigVariableInt("gl-version")
        words = [gl.get_word(i) for i in range(gl.get_num_words())]
        core = len(words) >= 2 and words[0] >= 3 and words[1] >= 2
        if core:
            vert = "#version 330\n#define attribute in\n#define varying out\n"
            frag = ("#version 330\n#define varying in\n#define texture2D texture\n"
                    "out vec4 o_color;\n#define gl_FragColor o_color\n")
        else:
            vert = frag = "#version 120\n"
        body = _SKY_FRAG if name == "sky" else _UNLIT_FRAG
        _shaders[name] = Shader.make(Shader.SL_GLSL, vert + _SKY_VERT, frag + body)
    return _shaders[name]


def _light_only(node: NodePath, shader: str, sort: int, blend: str = "alpha",
                tex: Texture | None = None) -> PTA_LVecBase3f:
    """Draw ``node`` with one of the light-only shaders, in the background bin at ``sort``
    (``blend``: ``opaque``, ``alpha`` or ``add``), unaffected by lights and fog.

    Returns the shader's colour array (``tint``, or the five ``sky`` colours), bound by
    reference: ``update`` writes its elements, which costs far less than a new shader input.
    """
    uniforms = PTA_LVecBase3f.empty_array(5 if shader == "sky" else 1)
    node.set_shader(_shader(shader), 100)
    node.set_shader_input("sky" if shader == "sky" else "tint", uniforms)
    node.set_two_sided(True)  # seen from inside or outside alike
    if tex is not None:
        node.set_texture(tex, 1)
    if blend == "add":
        node.set_attrib(ColorBlendAttrib.make(ColorBlendAttrib.M_add, ColorBlendAttrib.O_one,
                                              ColorBlendAttrib.O_one))
    elif blend == "alpha":
        node.set_transparency(TransparencyAttrib.M_alpha)
    node.set_light_off(1)
    node.set_fog_off(1)
    node.set_depth_write(False)
    node.set_bin("background", sort)
    return uniforms


def _sky_sphere(name: str, radius: float) -> p.MeshBuilder:
    """A coarse sphere around the origin; the sky shader colours it per pixel by direction."""
    mesh = p.MeshBuilder(name)
    rings, segments = 16, 24
    rows = []
    for i in range(rings + 1):
        theta = math.pi * i / rings
        row = []
        for j in range(segments + 1):
            phi = 2 * math.pi * j / segments
            n = (math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi),
                 math.cos(theta))
            row.append(mesh.vertex((radius * n[0], radius * n[1], radius * n[2]),
                                   (-n[0], -n[1], -n[2]), (1, 1, 1, 1)))
        rows.append(row)
    for r0, r1 in itertools.pairwise(rows):
        for j in range(segments):
            mesh.triangle(r0[j], r1[j + 1], r0[j + 1])
            mesh.triangle(r0[j], r1[j], r1[j + 1])
    return mesh


def _facing_quad(mesh: p.MeshBuilder, center: tuple[float, float, float], size: float,
                 aspect: float = 1.0, u_range: tuple[float, float] = (0.0, 1.0)) -> None:
    """A quad at ``center`` facing the origin (for sky sprites seen from the client)."""
    cx, cy, cz = center
    dist = math.sqrt(cx * cx + cy * cy + cz * cz)
    n = (-cx / dist, -cy / dist, -cz / dist)
    horiz = math.hypot(cx, cy)
    right = (cy / horiz, -cx / horiz, 0.0)
    # up = right x n
    up = (right[1] * n[2] - right[2] * n[1], right[2] * n[0] - right[0] * n[2],
          right[0] * n[1] - right[1] * n[0])
    hw, hh = size * aspect / 2, size / 2
    u0, u1 = u_range
    corners = [(-hw, -hh, u0, 0.0), (hw, -hh, u1, 0.0), (hw, hh, u1, 1.0), (-hw, hh, u0, 1.0)]
    idx = [mesh.vertex((cx + a * right[0] + b * up[0], cy + a * right[1] + b * up[1],
                        cz + a * right[2] + b * up[2]), n, (1, 1, 1, 1), (u, v))
           for a, b, u, v in corners]
    mesh.triangle(idx[0], idx[2], idx[1])
    mesh.triangle(idx[0], idx[3], idx[2])


# ------------------------------------------------------------------ the spec


def _variant(label: str, description: str, *, sun: float, bearing: float, warmth: float,
             clouds: float, waves: float, birds: float) -> Rung:
    return Rung(label=label, description=description, values={
        "sun_elevation": sun, "sun_bearing": bearing, "warmth": warmth, "cloud_cover": clouds,
        "wave_height": waves, "birdsong": birds})


@dataclass
class _Swell:
    """One swell ridge and the foam on its crest."""

    node: NodePath
    foam: NodePath
    foam_alpha: float = -1.0


class SafePlace(Scenario):
    """A quiet sandy cove at a gentle time of day: the calm scene for stops and breaks."""

    spec = ScenarioSpec(
        name="safe_place",
        title="Safe place: quiet cove",
        description="A quiet sandy cove with slow, gentle waves, dunes and pines, soft light "
                    "and distant birdsong. Shown on stop and in breaks; the variants are "
                    "times of day and weather the client chooses, never a hierarchy.",
        graded=False,
        parameters=(
            Parameter(name="sun_elevation", label="Sun height", unit="deg", minimum=-8.0,
                      maximum=60.0, rate=4.0,
                      description="Height of the sun above the horizon; below zero is dusk."),
            Parameter(name="sun_bearing", label="Sun direction", unit="deg", minimum=-90.0,
                      maximum=90.0, rate=6.0,
                      description="Where the sun stands, seen from the client: 0 straight "
                                  "ahead over the sea, negative to the left, positive right."),
            Parameter(name="warmth", label="Warmth of light", unit="", minimum=0.0,
                      maximum=1.0, rate=0.08,
                      description="0: clear white daylight; 1: golden, rosy light."),
            Parameter(name="cloud_cover", label="Cloud cover", unit="", minimum=0.0,
                      maximum=1.0, rate=0.06,
                      description="0: clear sky; 1: a soft, even overcast."),
            Parameter(name="wave_height", label="Wave height", unit="m", minimum=0.04,
                      maximum=0.35, rate=0.02,
                      description="Height of the slow swells; gentle at every setting."),
            Parameter(name="birdsong", label="Birdsong", unit="", minimum=0.0, maximum=1.0,
                      rate=0.1, description="Volume of the distant birdsong (0: none)."),
        ),
        rungs=(
            _variant("Early morning", "Low sun from the left, fresh light with a hint of "
                     "peach on the horizon, a few small clouds, birds singing in the pines.",
                     sun=12, bearing=-70, warmth=0.45, clouds=0.2, waves=0.12, birds=0.8),
            _variant("Bright midday", "High sun, clear blue sky, sparkling water, a light "
                     "surf and a little birdsong.",
                     sun=55, bearing=-30, warmth=0.05, clouds=0.1, waves=0.18, birds=0.5),
            _variant("Soft overcast", "An even, pale grey sky with no glare; quiet water "
                     "and quiet birds.",
                     sun=38, bearing=-20, warmth=0.15, clouds=0.95, waves=0.1, birds=0.35),
            _variant("Late afternoon", "Warm, slanting light from the right over the "
                     "headland, scattered fair-weather clouds, a light surf.",
                     sun=20, bearing=35, warmth=0.55, clouds=0.3, waves=0.16, birds=0.55),
            _variant("Sunset glow", "The sun low over the sea, a golden path on the water and "
                     "a rosy sky; the birds settling.",
                     sun=4, bearing=22, warmth=1.0, clouds=0.25, waves=0.12, birds=0.25),
            _variant("Dusk with stars", "After sunset: a violet afterglow on the horizon, the "
                     "first stars above, the sea almost still; only the waves are heard.",
                     sun=-6, bearing=18, warmth=0.7, clouds=0.05, waves=0.06, birds=0.0),
        ),
        live_events=(
            LiveEvent(name="breathing_guide", label="Breathing guide",
                      description="A soft light over the water fades in and paces slow "
                                  "breathing: it rises for four seconds (breathe in) and sinks "
                                  "for six (breathe out), six breaths a minute.",
                      escalates=False),
            LiveEvent(name="breathing_guide_off", label="End breathing guide",
                      description="The breathing light fades out over three seconds.",
                      escalates=False),
        ),
        viewpoint=(0.0, 0.0, 0.0),
        eye_height=1.65,
        view_pitch=-4.0,  # a little more beach and sea than sky
    )

    # ------------------------------------------------------------------ build

    def load(self) -> None:
        """Sky, land, sea, swells, lights, fog and the looping sounds (not yet playing)."""
        root = self.root
        self._t = 0.0
        self._wave_t = SURF_SYNC
        self._breath_t = 0.0
        self._orb_level = 0.0
        self._orb_target = 0.0
        self._look: tuple[float, ...] | None = None
        self._env_pending: tuple[Rgb, Rgb, Rgb, Rgb] | None = None
        self._env_age = 0.0
        self.waves_volume = 0.0
        self.birdsong_volume = 0.0
        self._sound_fade = 0.0
        self._build_sky(root)
        static = root.attach_new_node("static")
        self._build_land(static)
        self._build_plants(static)
        self._build_sea(root)
        # Merge the static land, trees and rocks into a few GeomNodes: cheap to cull and draw.
        static.flatten_strong()
        # Sand, grass and rock are rough: a sky reflection on them is only a grey sheen at
        # grazing angles (it read as fog). Their sky light comes from the fill lights instead.
        dark = Texture("no-reflection")
        dark.setup_cube_map(1, Texture.T_float, Texture.F_rgb16)
        dark.set_ram_image(np.zeros(18, np.float32).tobytes())
        static.set_shader_input("filtered_env_map", dark)
        self._build_orb(root)

        self.sun = p.sun(root, (0, -45, 0), (1, 1, 1), 3.0)
        self.skylight = p.sun(root, (0, -90, 0), (0.6, 0.7, 1.0), 0.4)
        self.skylight.set_name("skylight")
        self.fill = p.ambient(root, (0.8, 0.85, 0.95), 0.4)
        self._build_environment(root)
        self.fog = Fog("haze")
        self.fog.set_exp_density(0.0018)
        root.set_fog(self.fog)

        sound = self.context.sound
        self.surf_anchor = root.attach_new_node("surf-sound")
        self.surf_anchor.set_pos(0, SHORE_Y + 2, WATER_Z)
        self.birds_anchor = root.attach_new_node("birdsong-sound")
        self.birds_anchor.set_pos(-18, -35, 6)
        # Twenty seconds of surf with a swell every ten: the same rhythm as the swells.
        self.surf = sound.add("waves", s.waves(self.rng, 2 * SWELL_PERIOD))
        self.birds = sound.add("birdsong", s.birdsong(self.rng, 12.0))

    def _build_sky(self, root: NodePath) -> None:
        """One sky dome (gradient, sun glow and disc, drawn per pixel), stars and clouds."""
        sky = root.attach_new_node("sky")
        self.sky = sky
        self.dome = _sky_sphere("sky-dome", SKY_R).attach(sky)
        self.sky_colors = _light_only(self.dome, "sky", 0, blend="opaque")

        stars = p.MeshBuilder("stars")
        for _ in range(260):
            az = self.rng.uniform(0, 2 * math.pi)
            el = math.asin(self.rng.uniform(math.sin(math.radians(10)), 1.0))
            r = SKY_R * 0.97
            pos = (r * math.cos(el) * math.sin(az), r * math.cos(el) * math.cos(az),
                   r * math.sin(el))
            bright = float(self.rng.uniform(0.15, 1.0) ** 2)  # a few bright, many faint
            _facing_quad(stars, pos, float(self.rng.uniform(2.6, 4.2)),
                         u_range=(bright, bright))
        self.stars = stars.attach(sky)
        self.star_tint = _light_only(self.stars, "unlit", 1, blend="add",
                                     tex=_ramp("star-brightness", np.linspace(0, 1, 64)))

        # Clouds: soft blobs facing the client; each appears as the cloud cover passes its
        # threshold, so a little cover is a few small clouds and full cover many.
        blob = self._cloud_texture()
        self.clouds = sky.attach_new_node("clouds")
        self.cloud_tint = PTA_LVecBase3f.empty_array(1)
        self._cloud_nodes: list[tuple[NodePath, float]] = []
        self._cloud_alpha: list[float] = []
        for k in range(22):
            mesh = p.MeshBuilder(f"cloud-{k}")
            az = math.radians(float(self.rng.uniform(-110, 110) if k % 3 else
                                    self.rng.uniform(0, 360)))
            el = math.radians(float(self.rng.uniform(3.5, 20.0)))
            dist = float(self.rng.uniform(560, 700))
            size = float(self.rng.uniform(50, 110))
            for j in range(3):
                off = (j - 1) * size * 0.75
                a = az + off / dist
                e = el + self.rng.uniform(-0.15, 0.25) * size / dist
                pos = (dist * math.cos(e) * math.sin(a), dist * math.cos(e) * math.cos(a),
                       dist * math.sin(e))
                _facing_quad(mesh, pos, size * float(self.rng.uniform(0.7, 1.1)), aspect=2.0)
            node = mesh.attach(self.clouds)
            _light_only(node, "unlit", 3, tex=blob)
            node.set_shader_input("tint", self.cloud_tint)  # one colour for every cloud
            self._cloud_nodes.append((node, (k + 0.5) / 22))
            self._cloud_alpha.append(-1.0)
        # A high, even overcast: a textured canopy that only shows under heavy cover.
        layer = p.MeshBuilder("overcast")
        for i in range(12):
            for j in range(12):
                x0, y0 = -1500 + 250 * i, -1500 + 250 * j
                corners = [(x0, y0), (x0 + 250, y0), (x0 + 250, y0 + 250), (x0, y0 + 250)]
                idx = [layer.vertex((x, y, 220.0 - 0.00012 * (x * x + y * y)), (0, 0, -1),
                                    (1, 1, 1, 1), (x / 700, y / 700)) for x, y in corners]
                layer.triangle(idx[0], idx[2], idx[1])
                layer.triangle(idx[0], idx[3], idx[2])
        self.overcast = layer.attach(self.clouds)
        _light_only(self.overcast, "unlit", 2, tex=self._sheet_texture())
        self.overcast.set_shader_input("tint", self.cloud_tint)

    def _build_environment(self, root: NodePath) -> None:
        """A small sky cube map for this scene's reflections, replacing simplepbr's default.

        simplepbr's empty environment map reads as white, which gives every surface seen at a
        grazing angle a white sheen (the beach looked foggy). This one holds the same zenith,
        horizon and sun-glow colours as the sky, so the sea reflects the sky it lies under;
        it is eight texels a face and rewritten only while a variant is being reached.
        """
        n = 8
        t = (np.arange(n) + 0.5) / n * 2 - 1
        tc, sc = np.meshgrid(t, t, indexing="ij")  # rows are t (Panda3D: bottom row first)
        one = np.ones_like(sc)
        # OpenGL's face order and texel directions (+X, -X, +Y, -Y, +Z, -Z); simplepbr looks
        # the map up with world vectors, so world +Z (up) is the +Z face.
        faces = [(one, -tc, -sc), (-one, -tc, sc), (sc, one, tc), (sc, -one, -tc),
                 (sc, -tc, one), (-sc, -tc, -one)]
        dirs = np.stack([np.stack(f, -1) for f in faces])
        dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
        self._env_dirs = dirs.reshape(-1, 3)
        el = np.clip(self._env_dirs[:, 2], -1, 1)
        up = np.clip(el, 0, 1)
        self._env_zenith_w = (np.where(el > 0, 1 - (1 - up) ** 3, 0.0))[:, None]
        self._env_horizon_w = (1 - self._env_zenith_w) * np.clip(1 + el * 3, 0.25, 1)[:, None]
        self._env_size = n
        self.env_map = Texture("safe-place-sky")
        self.env_map.setup_cube_map(n, Texture.T_float, Texture.F_rgb16)
        self.env_map.set_minfilter(SamplerState.FT_linear)
        self.env_map.set_magfilter(SamplerState.FT_linear)
        root.set_shader_input("filtered_env_map", self.env_map)
        root.set_shader_input("max_reflection_lod", 0.0)

    def _write_environment(self, zenith: Rgb, horizon: Rgb, glow: Rgb,
                           sun_dir: tuple[float, float, float]) -> None:
        cos_a = np.clip(self._env_dirs @ np.asarray(sun_dir), -1, 1)
        angle = np.arccos(cos_a)[:, None]
        glow_w = 0.55 * np.exp(-(angle / 0.22) ** 2) + 0.45 * np.exp(-(angle / 0.85) ** 2)
        rgb = (self._env_zenith_w * np.asarray(zenith) + self._env_horizon_w * np.asarray(horizon)
               + glow_w * np.asarray(glow))
        # Panda3D wants BGR, 32-bit floats for a T_float texture.
        self.env_map.set_ram_image(np.ascontiguousarray(rgb[:, ::-1], dtype=np.float32).tobytes())

    def _cloud_texture(self) -> Texture:
        """A fair-weather cloud: soft puffs heaped on a flatter base, bright on top, grey
        underneath, with wispy edges (a quad twice as wide as high)."""
        h, w = 64, 128
        yy, xx = np.mgrid[0:h, 0:w].astype(float)
        yy, xx = yy / h, xx / w  # row 0 is the top
        dens = np.zeros((h, w))
        light = np.zeros((h, w))
        for _ in range(14):
            cx = self.rng.uniform(0.2, 0.8)
            r = self.rng.uniform(0.06, 0.16) * (1.3 - abs(cx - 0.5))  # big in the middle
            cy = 0.7 - r * self.rng.uniform(0.8, 1.6)
            puff = np.exp(-(((xx - cx) * 2.0) ** 2 + (yy - cy) ** 2) / (r * r))
            dens += puff
            light += puff * np.clip(1.0 - (yy - (cy - r)) / (2 * r), 0, 1)  # lit from above
        dens *= np.clip((0.74 - yy) / 0.08, 0, 1)  # the flat base
        alpha = np.clip((dens - 0.15) * 1.6, 0, 0.92)
        alpha *= np.clip(np.minimum(xx, 1 - xx) / 0.08, 0, 1)
        alpha *= np.clip(np.minimum(yy, 1 - yy) / 0.08, 0, 1)
        shade = 0.62 + 0.38 * np.clip(light / (dens + 1e-6), 0, 1)
        return _tex("cloud", np.dstack([shade, shade, shade * 1.02, alpha]))

    def _sheet_texture(self) -> Texture:
        """Soft, tileable grey-white blotches for the overcast layer."""
        field = self.rng.standard_normal((64, 64))
        for _ in range(6):
            field = (field + np.roll(field, 1, 0) + np.roll(field, -1, 0)
                     + np.roll(field, 1, 1) + np.roll(field, -1, 1)) / 5
        field = (field - field.min()) / (np.ptp(field) + 1e-9)
        shade = 0.8 + 0.2 * field
        alpha = 0.55 + 0.45 * field
        return _tex("overcast", np.dstack([shade, shade, shade, alpha]), clamp=False)

    def _build_land(self, static: NodePath) -> None:
        """The cove as one height field in (x, distance inland) rows, coloured by height."""
        xs = np.arange(-156, 157, 6.0)
        ds = [-40, -24, -12, -6, -3, -1, 0, 1, 2, 3, 4.5, 6, 8, 10, 13, 16, 20, 24, 28, 33,
              39, 46, 55, 66, 80, 96, 115, 135]
        bumps = self.rng.uniform(-1, 1, (len(ds), len(xs)))
        sand, wet = (0.88, 0.78, 0.6), (0.64, 0.55, 0.42)
        grass, rock = (0.44, 0.52, 0.28), (0.5, 0.47, 0.42)
        mesh = p.MeshBuilder("land")
        grid = []
        for i, d in enumerate(ds):
            row = []
            for j, x in enumerate(xs):
                b = float(bumps[i, j])
                z = ground_z(x, d, b)
                # Normal from the height differences one step along x and inland.
                dzx = (ground_z(x + 1, d, b) - ground_z(x - 1, d, b)) / 2
                dzd = (ground_z(x, d + 1, b) - ground_z(x, d - 1, b)) / 2
                # d grows inland (toward -y): dz/dy = -dz/dd plus the curve's x-dependence.
                dzy = -dzd
                dzx_total = dzx + dzd * 2 * SHORE_CURVE * x
                length = math.sqrt(dzx_total * dzx_total + dzy * dzy + 1.0)
                normal = (-dzx_total / length, -dzy / length, 1.0 / length)
                head = _smooth(32, 62, abs(x))
                steep = 1 - normal[2]
                col = _mix(wet, sand, _smooth(0.5, 4.0, d))
                col = _mix(col, grass, _smooth(22, 34, d + 4 * b) * 0.85)
                col = _mix(col, rock, min(1.0, head * _smooth(0.5, 3.5, z - WATER_Z)
                                          + steep * 2.5) * (1 - 0.4 * _smooth(8, 14, z)))
                col = _mix(col, grass, head * _smooth(6, 12, z + 2 * b) * 0.9)
                shade = 1 + 0.05 * b
                y = shore_y(x) - d
                row.append(mesh.vertex((x, y, z), normal, _lin(_scale(col, shade)),
                                       (x / 1.5, y / 1.5)))
            grid.append(row)
        for r0, r1 in itertools.pairwise(grid):
            for j in range(len(xs) - 1):
                # rows go inland (toward -y): keep triangles counter-clockwise from above
                mesh.triangle(r0[j], r1[j], r1[j + 1])
                mesh.triangle(r0[j], r1[j + 1], r0[j + 1])
        land = mesh.attach(static)
        p.material(land, roughness=0.95)
        grain = p.noise_rgb(self.rng, 128, (0.9, 0.9, 0.9), 0.2, blur=2)
        p.apply_texture(land, p.texture("sand-grain", grain, srgb=False))

        # Low hills all round behind the cove, and a faint island far out on the left.
        hills = p.MeshBuilder("far-hills")
        steps = 48
        prev: tuple[int, int] | None = None
        for k in range(steps + 1):
            bearing = math.radians(62 + (296 - 62) * k / steps)
            r = 520.0
            top = 28 + 18 * math.sin(k * 0.7) + 10 * math.sin(k * 1.9 + 1) \
                + float(self.rng.uniform(0, 6))
            x, y = r * math.sin(bearing), r * math.cos(bearing)
            inward = (-math.sin(bearing), -math.cos(bearing), 0.3)
            lo = hills.vertex((x, y, WATER_Z - 4), inward, _lin((0.42, 0.5, 0.42)))
            hi = hills.vertex((x, y, WATER_Z + top), inward, _lin((0.42, 0.5, 0.42)))
            if prev is not None:
                hills.triangle(prev[0], lo, hi)
                hills.triangle(prev[0], hi, prev[1])
            prev = (lo, hi)
        hills.sphere((-420, 680, WATER_Z - 8), (260, 90, 34), _lin((0.45, 0.52, 0.48)),
                     segments=20, rings=8)
        far = hills.attach(static)
        p.material(far, roughness=1.0)
        far.set_two_sided(True)

    def _build_plants(self, static: NodePath) -> None:
        """Pines on the dunes and headlands, dune grass, smooth rocks and a driftwood log."""
        rng = self.rng
        wood = p.MeshBuilder("trunks")
        pine = p.MeshBuilder("pines")
        spots: list[tuple[float, float]] = []
        for _ in range(16):  # on the dunes behind the beach
            spots.append((float(rng.uniform(-75, 75)), float(rng.uniform(38, 100))))
        for side in (-1, 1):  # on the headlands
            for _ in range(11):
                spots.append((side * float(rng.uniform(52, 130)), float(rng.uniform(-14, 60))))
        for x, d in spots:
            z = ground_z(x, d) - 0.2
            y = shore_y(x) - d
            k = float(rng.uniform(0.8, 1.4))
            wood.cylinder((x, y, z), 0.22 * k, 3.2 * k, _lin((0.36, 0.27, 0.2)), segments=7)
            green = _lin((0.20 + float(rng.uniform(0, 0.06)), 0.34, 0.22))
            base = z + 2.2 * k
            for radius, height in ((2.4, 3.4), (1.9, 3.0), (1.3, 2.6)):
                pine.cylinder((x, y, base), radius * k, height * k, green, segments=9,
                              top_radius=0.0, caps=False)
                base += height * k * 0.55
        p.material(wood.attach(static), roughness=0.9)
        p.material(pine.attach(static), roughness=0.85)

        grass = p.MeshBuilder("dune-grass")
        for _ in range(170):
            x = float(rng.uniform(-70, 70))
            d = float(rng.uniform(14, 44))
            if d < 20 and abs(x) < 6:
                continue  # keep the client's own patch of sand clear
            y = shore_y(x) - d
            z = ground_z(x, d) - 0.03
            col = _lin(_mix((0.62, 0.62, 0.36), (0.78, 0.72, 0.48), float(rng.uniform())))
            for _blade in range(6):
                a = float(rng.uniform(0, 2 * math.pi))
                h = float(rng.uniform(0.35, 0.75))
                lean = float(rng.uniform(0.1, 0.3))
                bx, by = x + 0.05 * math.cos(a), y + 0.05 * math.sin(a)
                tip = (bx + lean * math.cos(a), by + lean * math.sin(a), z + h)
                w = 0.035
                i0 = grass.vertex((bx - w * math.sin(a), by + w * math.cos(a), z), (0, 0, 1), col)
                i1 = grass.vertex((bx + w * math.sin(a), by - w * math.cos(a), z), (0, 0, 1), col)
                i2 = grass.vertex(tip, (0, 0, 1), col)
                grass.triangle(i0, i1, i2)
        tufts = grass.attach(static)
        p.material(tufts, roughness=0.9)
        tufts.set_two_sided(True)

        rocks = p.MeshBuilder("rocks")
        places = [(side * float(rng.uniform(30, 46)), float(rng.uniform(-3, 3)))
                  for side in (-1, 1) for _ in range(5)]
        places += [(7.5, 3.0), (8.6, 3.6), (-9.0, 1.5)]
        for x, d in places:
            size = float(rng.uniform(0.5, 1.6)) if abs(x) > 20 else float(rng.uniform(0.3, 0.6))
            radii = (size * float(rng.uniform(1.0, 1.5)), size * float(rng.uniform(0.8, 1.2)),
                     size * float(rng.uniform(0.6, 0.85)))
            shade = float(rng.uniform(0.42, 0.56))
            rocks.sphere((x, shore_y(x) - d, ground_z(x, d) - 0.15 * size), radii,  # half buried
                         _lin((shade, shade * 0.95, shade * 0.88)), segments=9, rings=6)
        p.material(rocks.attach(static), roughness=0.8)

        log = p.MeshBuilder("driftwood")
        log.cylinder((0, 0, -1.6), 0.16, 3.2, _lin((0.62, 0.56, 0.48)), segments=10)
        log_node = static.attach_new_node(log.node())
        log_node.set_pos(4.2, 3.0, ground_z(4.2, shore_y(4.2) - 3.0) + 0.12)
        log_node.set_hpr(68, 0, 90)
        p.material(log_node, roughness=0.9)

    def _build_sea(self, root: NodePath) -> None:
        """The sea (one flat grid, turquoise shallows), swell ridges and the wash on the sand."""
        water = root.attach_new_node("sea")
        self.water = water
        xs = [-1500.0, -800.0, -400.0, -220.0, *np.arange(-160, 161, 10.0), 220.0, 400.0,
              800.0, 1500.0]
        ys = [*np.arange(-40, 90, 4.0), 110.0, 140.0, 180.0, 240.0, 330.0, 480.0, 720.0,
              1050.0, 1600.0]
        shallow, deep = (0.22, 0.62, 0.6), (0.06, 0.26, 0.4)
        mesh = p.MeshBuilder("sea")
        grid = []
        for y in ys:
            row = []
            for x in xs:
                out = y - shore_y(x)
                col = _lin(_mix(shallow, deep, _smooth(0, 22, out)))
                row.append(mesh.vertex((x, y, WATER_Z), (0, 0, 1), col, (x / 9, y / 3)))
            grid.append(row)
        for r0, r1 in itertools.pairwise(grid):
            for j in range(len(xs) - 1):
                mesh.triangle(r0[j], r0[j + 1], r1[j + 1])
                mesh.triangle(r0[j], r1[j + 1], r1[j])
        sea = mesh.attach(water)
        self.water_mat = p.material(sea, roughness=0.14)
        ripples = self.rng.standard_normal((64, 64))
        for _ in range(4):  # blur mostly across: long, low ripples
            ripples = (2 * ripples + np.roll(ripples, 1, 1) + np.roll(ripples, -1, 1)) / 4
        ripples = 0.9 + 0.1 * ripples / (np.abs(ripples).max() + 1e-9)
        sea.set_texture(_tex("ripples", np.repeat(ripples[..., None], 3, 2), clamp=False))
        self.sea = sea

        # Swell ridges: a smooth hump following the curve of the shore, tapering at the ends.
        profile = [(-3.0, 0.0), (-1.6, 0.55), (-0.5, 0.95), (0.3, 1.0), (1.2, 0.6), (2.8, 0.0)]
        ridge = p.MeshBuilder("swell")
        foam = p.MeshBuilder("crest")
        cols = np.arange(-48, 49, 3.0)
        ridge_rows = []
        foam_rows = []
        for dy, hz in profile:
            row = []
            for x in cols:
                taper = 1 - _smooth(26, 44, abs(x))
                # Normal: the profile's slope in y (front faces the shore at -y).
                n = (0.0, -0.3 if dy < 0.3 else 0.3, 1.0)
                col = _lin(_mix((0.22, 0.5, 0.52), (0.30, 0.62, 0.60), hz))
                row.append(ridge.vertex((x, shore_y(x) + dy, hz * taper), n, col))
            ridge_rows.append(row)
        for dy, hz in ((-0.7, 0.85), (-0.3, 1.02), (0.2, 1.02), (0.6, 0.85)):
            row = []
            for x in cols:
                taper = 1 - _smooth(20, 34, abs(x))
                a = 0.0 if dy in (-0.7, 0.6) else 0.6 * taper
                row.append(foam.vertex((x, shore_y(x) + dy, hz * taper + 0.02), (0, 0, 1),
                                       (0.95, 0.97, 0.97, a)))
            foam_rows.append(row)
        for builder, rows in ((ridge, ridge_rows), (foam, foam_rows)):
            for r0, r1 in itertools.pairwise(rows):
                for j in range(len(cols) - 1):
                    builder.triangle(r0[j], r0[j + 1], r1[j + 1])
                    builder.triangle(r0[j], r1[j + 1], r1[j])
        ridge_node, foam_node = ridge.node(), foam.node()
        self.swells: list[_Swell] = []
        for k in range(SWELLS):
            pivot = water.attach_new_node(f"swell-{k}")
            body = pivot.attach_new_node(ridge_node.make_copy())
            body.set_material(self.water_mat, 1)
            crest = pivot.attach_new_node(foam_node.make_copy())
            p.material(crest, (1, 1, 1, 1), roughness=0.9)
            crest.set_transparency(TransparencyAttrib.M_alpha)
            crest.set_depth_write(False)
            self.swells.append(_Swell(pivot, crest))

        # The wash: a thin sheet of water with a lacy foam edge that runs up the sand and back.
        wash = p.MeshBuilder("wash")
        wash_cols = np.arange(-30, 31, 2.0)
        for k, (d0, d1, c0, c1) in enumerate((
                (-4.0, 1.3, (0.6, 0.8, 0.8, 0.5), (0.7, 0.86, 0.86, 0.35)),
                (1.3, 1.7, (0.7, 0.86, 0.86, 0.35), (0.97, 0.98, 0.97, 0.75)),
                (1.7, 2.0, (0.97, 0.98, 0.97, 0.75), (0.97, 0.98, 0.97, 0.0)))):
            rows = []
            for d, c in ((d0, c0), (d1, c1)):
                row = []
                for x in wash_cols:
                    taper = 1 - _smooth(20, 29, abs(x))  # the headlands start at 30 m
                    y = shore_y(x) - d
                    row.append(wash.vertex((x, y, ground_z(x, d) + 0.015 + 0.002 * k),
                                           (0, 0, 1), (*_lin(c[:3])[:3], c[3] * taper)))
                rows.append(row)
            for j in range(len(wash_cols) - 1):
                wash.triangle(rows[0][j], rows[1][j + 1], rows[0][j + 1])
                wash.triangle(rows[0][j], rows[1][j], rows[1][j + 1])
        self.wash = wash.attach(water)
        p.material(self.wash, roughness=0.3)
        self.wash.set_transparency(TransparencyAttrib.M_alpha)
        self.wash.set_depth_write(False)

    def _build_orb(self, root: NodePath) -> None:
        """The breathing guide: a small soft light with a halo, over the water ahead."""
        self.orb = root.attach_new_node("breathing-guide")
        self.orb.set_pos(0, ORB_Y, ORB_LOW)
        core = p.MeshBuilder("orb-core")
        core.sphere((0, 0, 0), 0.22, (1, 1, 1, 1), segments=14, rings=8)
        self.orb_core = core.attach(self.orb)
        self.core_tint = _light_only(self.orb_core, "unlit", 0, blend="opaque",
                                     tex=_ramp("orb-white", np.ones(4)))
        self.orb_core.clear_bin()  # a thing in the scene: behind the headland if it must be
        self.orb_core.set_depth_write(True)
        halo = p.MeshBuilder("orb-halo")
        _facing_quad(halo, (0, -1e-3, 0), 2.6)
        self.orb_halo = halo.attach(self.orb)
        self.orb_halo.set_billboard_point_eye()
        yy, xx = np.mgrid[-1:1:64j, -1:1:64j]
        rr = np.sqrt(xx * xx + yy * yy)
        halo_w = np.clip(np.exp(-(rr / 0.35) ** 2) - math.exp(-(1 / 0.35) ** 2), 0, 1)
        self.halo_tint = _light_only(self.orb_halo, "unlit", 0, blend="add",
                                     tex=_tex("halo", np.repeat(halo_w[..., None], 3, 2)))
        self.orb_halo.set_bin("fixed", 10)
        self.orb.hide()

    # ------------------------------------------------------------------ lifecycle

    def _anchor(self) -> None:
        """Put the beach under the client's feet and the sea ahead of where they face.

        Shown beside an exposure scenario, the client's head is wherever that scenario put it
        (40 storeys up, at a clinic table, facing any way). The stage gives no safe-place
        viewpoint, so the scene comes to the client instead: its root moves so that the
        viewpoint lies under the head, one standing eye height down, turned to the head's
        heading (read from the sound listener, which is the head).
        """
        head = self.context.client.head
        parent = self.root.get_parent()
        listener = self.context.sound.listener
        heading = 0.0
        if listener is not None and not listener.is_empty() and not parent.is_empty():
            heading = listener.get_h(parent) - self.spec.view_heading
        vx, vy, vz = self.spec.viewpoint
        rad = math.radians(heading)
        # Where the viewpoint lands after the turn, then shift it under the head.
        rx = vx * math.cos(rad) - vy * math.sin(rad)
        ry = vx * math.sin(rad) + vy * math.cos(rad)
        self.root.set_pos_hpr(head.x - rx, head.y - ry, head.z - self.spec.eye_height - vz,
                              heading, 0, 0)

    def update(self, values: Mapping[str, float], dt: float) -> None:
        """Light and sky for the variant, slow swells and wash, the breathing light, sound."""
        sound = self.context.sound
        if not self.surf.looping:
            # Silent means not shown until now: the stage stops these sounds whenever it hides
            # the safe place. So this is the frame it appears (or a still preview): move it
            # under the client now, never while they are looking at it.
            self._anchor()
            if dt > 0:
                # Start the loops silent and fade them in, and line the swells up with the
                # surf sound (a jump, if any, happens in the frame the scene appears).
                self._wave_t = SURF_SYNC
                self._sound_fade = 0.0
                sound.play(self.surf, at=self.surf_anchor, loop=True, volume=0.0)
                sound.play(self.birds, at=self.birds_anchor, loop=True, volume=0.0)
        self._t += dt
        self._wave_t += dt
        look = (values["sun_elevation"], values["sun_bearing"], values["warmth"],
                values["cloud_cover"])
        changed = look != self._look
        if changed:  # the sky only changes while a variant is being reached
            self._apply_look(*look)
            self._look = look
        self._env_age += dt
        if self._env_pending is not None and (not changed or dt == 0 or self._env_age >= 0.2):
            self._write_environment(*self._env_pending)
            self._env_pending = None
            self._env_age = 0.0
        self._animate_sea(values["wave_height"])
        self._animate_orb(dt)

        self._sound_fade = min(1.0, self._sound_fade + dt / SOUND_FADE)
        waves_volume = (0.16 + 0.7 * values["wave_height"]) * self._sound_fade
        birds_volume = 0.3 * values["birdsong"] * self._sound_fade
        if abs(waves_volume - self.waves_volume) > 1e-4:
            sound.set_volume(self.surf, waves_volume)
            self.waves_volume = waves_volume
        if abs(birds_volume - self.birdsong_volume) > 1e-4:
            sound.set_volume(self.birds, birds_volume)
            self.birdsong_volume = birds_volume

    def _apply_look(self, elevation: float, bearing: float, warmth: float,
                    cloud: float) -> None:
        """Sky colours, sun, fill and fog for one time of day and weather."""
        day = _smooth(-7, 8, elevation)
        low = 1 - _smooth(2, 30, elevation)  # how much the sun is near the horizon
        after = _smooth(-9, -1, elevation) * (1 - _smooth(2, 10, elevation))  # afterglow
        grey = cloud ** 1.4
        zenith = _mix((0.06, 0.08, 0.2), (0.24, 0.46, 0.82), day)
        zenith = _mix(zenith, (0.58, 0.62, 0.7), low * warmth * 0.25 * day)
        zenith = _mix(zenith, _mix((0.16, 0.17, 0.22), (0.66, 0.69, 0.74), day), grey)
        horizon = _mix((0.78, 0.86, 0.94), (1.0, 0.76, 0.52), warmth * low)
        horizon = _mix((0.42, 0.36, 0.52), horizon, day)
        horizon = _mix(horizon, (0.86, 0.58, 0.52), warmth * after * 0.7)
        horizon = _mix(horizon, _mix((0.3, 0.3, 0.34), (0.84, 0.85, 0.86), day), grey)
        z_lin, h_lin = _untone(zenith), _untone(horizon)
        self.fog.set_color(*h_lin)
        self.fog.set_exp_density(0.0008 + 0.0016 * grey)

        heading = -bearing  # a bearing to the right is a negative Panda3D heading
        e_rad, h_rad = math.radians(elevation), math.radians(heading)
        sun_dir = (-math.sin(h_rad) * math.cos(e_rad), math.cos(h_rad) * math.cos(e_rad),
                   math.sin(e_rad))
        glow = (0.25 + 1.1 * warmth * low) * (1 - 0.85 * grey) * _smooth(-9, 0, elevation)
        glow_lin = (1.0 * glow, (0.78 - 0.3 * warmth) * glow, (0.55 - 0.35 * warmth) * glow)
        sun_col = _mix((1.0, 0.96, 0.9), (1.0, 0.64, 0.36), warmth * low)
        disc = 6.0 * (1 - 0.95 * grey) * _smooth(-2, 1, elevation)
        for i, value in enumerate((z_lin, h_lin, glow_lin, sun_dir, _scale(sun_col, disc))):
            self.sky_colors.set_element(i, value)
        stars = (1 - _smooth(-6, -1, elevation)) * (1 - grey) * 1.4
        if stars > 0.01:
            self.stars.show()
            self.star_tint.set_element(0, (stars, stars, stars * 1.05))
        else:
            self.stars.hide()

        cloud_col = _mix(_mix((0.3, 0.3, 0.38), (1.0, 1.0, 1.0), day),
                         (1.0, 0.8, 0.7), warmth * low * 0.6)
        cloud_col = _mix(cloud_col, _mix((0.25, 0.25, 0.3), (0.9, 0.9, 0.92), day), grey)
        self.cloud_tint.set_element(0, _untone(_scale(cloud_col, 0.93)))
        thin = 1 - 0.5 * _smooth(0.75, 1.0, cloud)  # single clouds fade into the overcast
        for k, (node, threshold) in enumerate(self._cloud_nodes):
            alpha = min(1.0, max(0.0, (cloud * 1.15 - threshold) * 5)) * thin
            if abs(alpha - self._cloud_alpha[k]) < 0.004:
                continue  # only the few clouds crossing their threshold change
            self._cloud_alpha[k] = alpha
            if alpha <= 0.01:
                node.hide()
            else:
                node.show()
                node.set_alpha_scale(alpha)
        sheet = _smooth(0.45, 0.95, cloud)
        if sheet > 0.01:
            self.overcast.show()
            self.overcast.set_alpha_scale(sheet)
        else:
            self.overcast.hide()

        strength = 3.2 * _smooth(-3, 10, elevation) * (1 - 0.75 * grey)
        self.sun.node().set_color((sun_col[0] * strength, sun_col[1] * strength,
                                   sun_col[2] * strength, 1))
        self.sun.set_hpr(heading + 180, -max(elevation, 2.0), 0)
        sky = 0.45 * (0.25 + 0.75 * day) * (1 + 0.6 * grey)
        # Light from the open sky is bluish, but far less saturated than the sky looks.
        tint = _mix((1.0, 1.0, 1.0), (z_lin[0] / max(z_lin), z_lin[1] / max(z_lin),
                                      z_lin[2] / max(z_lin)), 0.35)
        self.skylight.node().set_color((tint[0] * sky, tint[1] * sky, tint[2] * sky, 1))
        amb = (0.16 + 0.14 * day) * (1 + 1.6 * grey)
        top = max(h_lin)
        # Fill from the whole sky: the horizon's tint by day, a cool blue once the sun is down.
        fill = _mix((0.55, 0.65, 1.0), (h_lin[0] / top, h_lin[1] / top, h_lin[2] / top), day)
        self.fill.node().set_color((fill[0] * amb, fill[1] * amb, fill[2] * amb, 1))
        # The sea reflects a little less than all of the sky (it is not a mirror). The map is
        # written by update(), at most five times a second while a variant is being reached.
        self._env_pending = (_scale(z_lin, 0.8), _scale(h_lin, 0.8), glow_lin, sun_dir)

    def _animate_sea(self, height: float) -> None:
        """Swell ridges roll in and settle; the wash runs up the sand as each one arrives."""
        phase = self._wave_t / SWELL_PERIOD
        for k, swell in enumerate(self.swells):
            travel = ((phase + k) % SWELLS) * SWELL_SPACING  # metres from the start line
            out = SWELLS * SWELL_SPACING - travel  # metres from the waterline
            # Grows out at sea, settles near the shore and sinks to nothing at the waterline,
            # where it starts again unseen at the far end.
            grow = _smooth(0, 14, travel) * (1 - _smooth(6, 0, out) * 0.85) * _smooth(0, 1.5, out)
            swell.node.set_pos_hpr_scale(0, out, WATER_Z - 0.06, 0, 0, 0, 1, 1,
                                         max(1e-3, height * grow))
            foam = _smooth(14, 4, out) * (1 - _smooth(2.5, 0, out))
            if foam != swell.foam_alpha:  # far out it stays at zero: no call at all
                # Hidden rather than transparent: simplepbr's fog also mixes alpha toward 1,
                # so an invisible crest far out would show as a faint line in the haze.
                if foam <= 0.0:
                    swell.foam.hide()
                else:
                    swell.foam.show()
                    swell.foam.set_alpha_scale(foam)
                swell.foam_alpha = foam
        u = phase % 1.0
        if u < 0.4:
            reach = 0.5 - 0.5 * math.cos(math.pi * u / 0.4)
        else:
            reach = 0.5 + 0.5 * math.cos(math.pi * (u - 0.4) / 0.6)
        run = (1.0 + 9.0 * height) * reach - 0.6
        # Along the beach's slope: inland is -y, and the sand rises BEACH_SLOPE per metre.
        self.wash.set_pos(0, -run, BEACH_SLOPE * run)
        self.wash.set_alpha_scale(0.35 + 0.65 * reach)

    def _animate_orb(self, dt: float) -> None:
        if self._orb_level <= 0.0 and self._orb_target <= 0.0:
            return
        step = dt / 3.0  # fade in or out over three seconds
        if self._orb_target > self._orb_level:
            self._orb_level = min(self._orb_target, self._orb_level + step)
        else:
            self._orb_level = max(self._orb_target, self._orb_level - step)
        if self._orb_level <= 0.0:
            self.orb.hide()
            return
        self.orb.show()
        self._breath_t = (self._breath_t + dt) % (BREATH_IN + BREATH_OUT)
        rise = self.breath_level
        self.orb.set_z(ORB_LOW + ORB_RISE * rise)
        self.orb.set_scale(0.85 + 0.3 * rise)
        light = self._orb_level * (0.75 + 0.5 * rise)
        self.core_tint.set_element(0, (2.2 * light, 2.0 * light, 1.6 * light))
        self.halo_tint.set_element(0, (0.8 * light, 0.72 * light, 0.55 * light))

    @property
    def breath_level(self) -> float:
        """Where the breathing guide is in its cycle: 0 fully out, 1 fully in."""
        t = self._breath_t
        if t < BREATH_IN:
            return 0.5 - 0.5 * math.cos(math.pi * t / BREATH_IN)
        return 0.5 + 0.5 * math.cos(math.pi * (t - BREATH_IN) / BREATH_OUT)

    def unload(self) -> None:
        """Everything the base class removes, plus the reflection map and the anchor."""
        super().unload()
        self.root.clear_shader_input("filtered_env_map")
        self.root.clear_shader_input("max_reflection_lod")
        self.root.clear_transform()

    def event(self, name: str) -> None:
        """Start or end the breathing guide (it fades in or out, never pops)."""
        if name == "breathing_guide":
            if self._orb_level <= 0.0:
                self._breath_t = 0.0  # begin at the bottom: the first movement is breathing in
            self._orb_target = 1.0
        elif name == "breathing_guide_off":
            self._orb_target = 0.0
