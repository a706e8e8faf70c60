"""Procedural building blocks: meshes, materials, textures, sky and light, all made in code.

Every built-in scene is assembled from these (no downloaded art). Meshes carry normals, vertex
colours and texture coordinates so they shade correctly under panda3d-simplepbr and under
Panda3D's fixed-function lights alike. Units are metres, Z is up, +Y is forward.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from panda3d.core import (
    AmbientLight,
    DirectionalLight,
    Geom,
    GeomNode,
    GeomTriangles,
    GeomVertexData,
    GeomVertexFormat,
    GeomVertexWriter,
    Material,
    NodePath,
    PointLight,
    SamplerState,
    Texture,
    TextureStage,
    TransparencyAttrib,
    Vec3,
)

Color = tuple[float, float, float, float]
Vec = tuple[float, float, float]


class MeshBuilder:
    """Collects triangles (position, normal, colour, uv) and makes one ``GeomNode``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._data = GeomVertexData(name, GeomVertexFormat.get_v3n3c4t2(), Geom.UH_static)
        self._pos = GeomVertexWriter(self._data, "vertex")
        self._nrm = GeomVertexWriter(self._data, "normal")
        self._col = GeomVertexWriter(self._data, "color")
        self._uv = GeomVertexWriter(self._data, "texcoord")
        self._tris = GeomTriangles(Geom.UH_static)
        self._count = 0

    def vertex(self, p: Sequence[float], n: Sequence[float], c: Color,
               uv: tuple[float, float] = (0.0, 0.0)) -> int:
        """Add one vertex; returns its index."""
        self._pos.add_data3(p[0], p[1], p[2])
        self._nrm.add_data3(n[0], n[1], n[2])
        self._col.add_data4(*c)
        self._uv.add_data2(*uv)
        self._count += 1
        return self._count - 1

    def triangle(self, a: int, b: int, c: int) -> None:
        """Add a triangle (counter-clockwise seen from the front)."""
        self._tris.add_vertices(a, b, c)

    def quad(self, corners: Sequence[Sequence[float]], normal: Sequence[float], color: Color,
             uv_scale: tuple[float, float] = (1.0, 1.0)) -> None:
        """A flat quad from four corners in counter-clockwise order seen from the front."""
        su, sv = uv_scale
        uvs = ((0.0, 0.0), (su, 0.0), (su, sv), (0.0, sv))
        i = [self.vertex(p, normal, color, uv) for p, uv in zip(corners, uvs, strict=True)]
        self.triangle(i[0], i[1], i[2])
        self.triangle(i[0], i[2], i[3])

    def box(self, center: Vec, size: Vec, color: Color, uv_per_m: float = 0.0) -> None:
        """An axis-aligned box; ``uv_per_m`` > 0 tiles a texture by size, else 0-1 per face."""
        cx, cy, cz = center
        hx, hy, hz = (s / 2 for s in size)
        faces = (
            ((0, 0, 1), [(-hx, -hy, hz), (hx, -hy, hz), (hx, hy, hz), (-hx, hy, hz)], (2, 2 * hy)),
            ((0, 0, -1), [(-hx, hy, -hz), (hx, hy, -hz), (hx, -hy, -hz), (-hx, -hy, -hz)],
             (2 * hx, 2 * hy)),
            ((0, -1, 0), [(-hx, -hy, -hz), (hx, -hy, -hz), (hx, -hy, hz), (-hx, -hy, hz)],
             (2 * hx, 2 * hz)),
            ((0, 1, 0), [(hx, hy, -hz), (-hx, hy, -hz), (-hx, hy, hz), (hx, hy, hz)],
             (2 * hx, 2 * hz)),
            ((1, 0, 0), [(hx, -hy, -hz), (hx, hy, -hz), (hx, hy, hz), (hx, -hy, hz)],
             (2 * hy, 2 * hz)),
            ((-1, 0, 0), [(-hx, hy, -hz), (-hx, -hy, -hz), (-hx, -hy, hz), (-hx, hy, hz)],
             (2 * hy, 2 * hz)),
        )
        for normal, corners, (su, sv) in faces:
            if normal[2] == 1:
                su = 2 * hx
            scale = (su * uv_per_m, sv * uv_per_m) if uv_per_m > 0 else (1.0, 1.0)
            self.quad([(cx + x, cy + y, cz + z) for x, y, z in corners], normal, color, scale)

    def cylinder(self, base: Vec, radius: float, height: float, color: Color,
                 segments: int = 16, caps: bool = True, top_radius: float | None = None) -> None:
        """An upright cylinder (or cone frustum with ``top_radius``) standing on ``base``."""
        bx, by, bz = base
        top = radius if top_radius is None else top_radius
        slope = (radius - top) / height if height else 0.0
        ring = []
        for k in range(segments + 1):
            a = 2 * math.pi * k / segments
            ca, sa = math.cos(a), math.sin(a)
            n = Vec3(ca, sa, slope)
            n.normalize()
            u = k / segments
            lo = self.vertex((bx + radius * ca, by + radius * sa, bz), n, color, (u, 0.0))
            hi = self.vertex((bx + top * ca, by + top * sa, bz + height), n, color, (u, 1.0))
            ring.append((lo, hi))
        for (a0, a1), (b0, b1) in itertools.pairwise(ring):
            self.triangle(a0, b0, b1)
            self.triangle(a0, b1, a1)
        if caps:
            for z, r, nz in ((bz + height, top, 1.0), (bz, radius, -1.0)):
                if r <= 0:
                    continue
                c = self.vertex((bx, by, z), (0, 0, nz), color, (0.5, 0.5))
                rim = [self.vertex((bx + r * math.cos(2 * math.pi * k / segments),
                                    by + r * math.sin(2 * math.pi * k / segments), z),
                                   (0, 0, nz), color) for k in range(segments + 1)]
                for a, b in itertools.pairwise(rim):
                    self.triangle(c, a, b) if nz > 0 else self.triangle(c, b, a)

    def sphere(self, center: Vec, radius: float | Vec, color: Color, segments: int = 16,
               rings: int = 10, inside: bool = False) -> None:
        """A UV sphere (an ellipsoid when ``radius`` is a triple); ``inside`` faces inward."""
        rx, ry, rz = (radius, radius, radius) if isinstance(radius, int | float) else radius
        cx, cy, cz = center
        rows = []
        for i in range(rings + 1):
            v = i / rings
            theta = math.pi * v
            row = []
            for k in range(segments + 1):
                u = k / segments
                phi = 2 * math.pi * u
                n = (math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi),
                     math.cos(theta))
                p = (cx + rx * n[0], cy + ry * n[1], cz + rz * n[2])
                nn = (-n[0], -n[1], -n[2]) if inside else n
                row.append(self.vertex(p, nn, color, (u, 1 - v)))
            rows.append(row)
        for r0, r1 in itertools.pairwise(rows):
            for k in range(segments):
                a, b, c, d = r0[k], r0[k + 1], r1[k + 1], r1[k]
                if inside:
                    self.triangle(a, b, c)
                    self.triangle(a, c, d)
                else:
                    self.triangle(a, c, b)
                    self.triangle(a, d, c)

    def node(self) -> GeomNode:
        """The finished ``GeomNode``."""
        geom = Geom(self._data)
        geom.add_primitive(self._tris)
        node = GeomNode(self.name)
        node.add_geom(geom)
        return node

    def attach(self, parent: NodePath) -> NodePath:
        """Attach the finished mesh under ``parent``."""
        return parent.attach_new_node(self.node())


def box(parent: NodePath, name: str, center: Vec, size: Vec, color: Color,
        uv_per_m: float = 0.0) -> NodePath:
    """One box under ``parent``."""
    mesh = MeshBuilder(name)
    mesh.box(center, size, color, uv_per_m)
    return mesh.attach(parent)


def material(node: NodePath, color: Color = (1, 1, 1, 1), roughness: float = 0.8,
             metallic: float = 0.0, emission: Color | None = None) -> Material:
    """Give ``node`` a PBR material (also sensible under fixed-function lighting)."""
    mat = Material(node.get_name())
    mat.set_base_color(color)
    mat.set_roughness(roughness)
    mat.set_metallic(metallic)
    if emission is not None:
        mat.set_emission(emission)
    node.set_material(mat, 1)
    return mat


def glass(node: NodePath, tint: Color = (0.75, 0.88, 0.95, 0.25)) -> None:
    """Make ``node`` transparent glass: alpha blended, drawn after the opaque scene."""
    material(node, tint, roughness=0.05, metallic=0.0)
    node.set_transparency(TransparencyAttrib.M_alpha)
    node.set_depth_write(False)
    node.set_bin("transparent", 10)


def texture(name: str, rgb: np.ndarray, srgb: bool = True) -> Texture:
    """A mipmapped, repeating texture from an ``(h, w, 3)`` uint8 array (row 0 at the top)."""
    h, w, _ = rgb.shape
    tex = Texture(name)
    tex.setup_2d_texture(w, h, Texture.T_unsigned_byte,
                         Texture.F_srgb if srgb else Texture.F_rgb)
    # Panda3D stores rows bottom-up and channels as BGR.
    tex.set_ram_image(np.ascontiguousarray(rgb[::-1, :, ::-1]).tobytes())
    tex.set_minfilter(SamplerState.FT_linear_mipmap_linear)
    tex.set_magfilter(SamplerState.FT_linear)
    tex.set_wrap_u(SamplerState.WM_repeat)
    tex.set_wrap_v(SamplerState.WM_repeat)
    return tex


def noise_rgb(rng: np.random.Generator, size: int, base: Vec, spread: float,
              blur: int = 3) -> np.ndarray:
    """Mottled surface (concrete, plaster, soil): a base colour with soft noise, tileable."""
    field = rng.standard_normal((size, size))
    for _ in range(blur):  # wrap-around box blur keeps the texture tileable
        field = (field + np.roll(field, 1, 0) + np.roll(field, -1, 0)
                 + np.roll(field, 1, 1) + np.roll(field, -1, 1)) / 5
    field /= np.abs(field).max() + 1e-9
    rgb = np.clip(np.array(base)[None, None, :] * (1 + spread * field[..., None]), 0, 1)
    return (rgb * 255).astype(np.uint8)


def tiles_rgb(rng: np.random.Generator, size: int, tiles: int, base: Vec, grout: Vec,
              spread: float = 0.08, grout_px: int = 2) -> np.ndarray:
    """Square tiles or planks with grout lines; each tile slightly different."""
    out = np.empty((size, size, 3))
    step = size // tiles
    for i in range(tiles):
        for j in range(tiles):
            shade = 1 + spread * rng.standard_normal()
            out[i * step:(i + 1) * step, j * step:(j + 1) * step] = np.array(base) * shade
    for k in range(tiles):
        out[k * step:k * step + grout_px, :] = grout
        out[:, k * step:k * step + grout_px] = grout
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


def apply_texture(node: NodePath, tex: Texture) -> None:
    """Use ``tex`` as the base colour map of ``node``."""
    node.set_texture(tex, 1)


def _gradient(zenith: Vec, horizon: Vec, ground: Vec, rows: int = 64) -> np.ndarray:
    """Sky colours from the zenith (row 0) through the horizon (middle) to the ground."""
    out = np.empty((rows, 1, 3))
    for i in range(rows):
        elevation = math.cos(math.pi * i / (rows - 1))
        if elevation >= 0:
            k = elevation ** 0.6
            out[i, 0] = [h + (z - h) * k for z, h in zip(zenith, horizon, strict=True)]
        else:
            k = min(1.0, -elevation * 4)
            out[i, 0] = [h + (g - h) * k for g, h in zip(ground, horizon, strict=True)]
    return np.asarray(np.clip(out, 0, 1) * 255, dtype=np.uint8)


def sky_dome(parent: NodePath, zenith: Vec, horizon: Vec, ground: Vec,
             radius: float = 900.0) -> NodePath:
    """A gradient sky around the scene: unlit, drawn first, never in the way.

    The gradient is an emission map (simplepbr lights emission by its map, not by vertex
    colours) and also the vertex colours (what fixed-function shading shows with lights off).
    """
    gradient = _gradient(zenith, horizon, ground)
    mesh = MeshBuilder("sky")
    rings, segments = 24, 24
    rows = []
    for i in range(rings + 1):
        v = i / rings
        theta = math.pi * v  # 0 at the zenith
        colour = gradient[min(len(gradient) - 1, round(v * (len(gradient) - 1))), 0] / 255
        row = []
        for j in range(segments + 1):
            phi = 2 * math.pi * j / segments
            n = (math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi),
                 math.cos(theta))
            row.append(mesh.vertex((radius * n[0], radius * n[1], radius * n[2]),
                                   (-n[0], -n[1], -n[2]),
                                   (float(colour[0]), float(colour[1]), float(colour[2]), 1.0),
                                   (j / segments, 1.0 - v)))
        rows.append(row)
    for r0, r1 in itertools.pairwise(rows):
        for j in range(segments):
            mesh.triangle(r0[j], r0[j + 1], r1[j + 1])
            mesh.triangle(r0[j], r1[j + 1], r1[j])
    sky = mesh.attach(parent)
    tex = texture("sky-gradient", gradient)
    tex.set_wrap_v(SamplerState.WM_clamp)
    stage = TextureStage("sky-emission")
    stage.set_mode(TextureStage.M_emission)
    sky.set_texture(stage, tex)
    # Black and metallic: no diffuse and no reflection of the environment, only emission.
    material(sky, (0, 0, 0, 1), roughness=1.0, metallic=1.0, emission=(1, 1, 1, 1))
    sky.set_light_off(1)
    sky.set_fog_off(1)  # the sky is the far distance; fog on it would hide the gradient
    sky.set_bin("background", 0)
    sky.set_depth_write(False)
    sky.set_compass()  # turns with the world, not with the client
    return sky


def emissive_vertex_colors(node: NodePath) -> None:
    """Make ``node`` self-lit: under basic shading it shows its vertex colours; under
    physically based shading it glows white (emission comes from the material, not vertex
    colours: use :func:`glow` for a coloured glow)."""
    material(node, (1, 1, 1, 1), roughness=1.0, emission=(1, 1, 1, 1))


def glow(node: NodePath, color: Vec, strength: float = 1.0) -> NodePath:
    """Make ``node`` glow in ``color`` (a lamp shade, an indicator light), whatever the light.

    Emission is set on the material when the node is built, and a colour scale does not reach
    it under simplepbr: to dim a glow later, swap to a dimmer prepared material, or show and
    hide prepared nodes.
    """
    material(node, (0, 0, 0, 1), roughness=1.0, metallic=1.0,
             emission=(color[0] * strength, color[1] * strength, color[2] * strength, 1))
    return node


def sun(parent: NodePath, hpr: Vec, color: Vec, strength: float = 3.0) -> NodePath:
    """A directional light lighting ``parent``'s subtree."""
    light = DirectionalLight("sun")
    light.set_color((color[0] * strength, color[1] * strength, color[2] * strength, 1))
    np_ = parent.attach_new_node(light)
    np_.set_hpr(*hpr)
    parent.set_light(np_)
    return np_


def ambient(parent: NodePath, color: Vec, strength: float = 0.4) -> NodePath:
    """Soft fill light everywhere in ``parent``'s subtree."""
    light = AmbientLight("ambient")
    light.set_color((color[0] * strength, color[1] * strength, color[2] * strength, 1))
    np_ = parent.attach_new_node(light)
    parent.set_light(np_)
    return np_


def lamp(parent: NodePath, pos: Vec, color: Vec, strength: float = 6.0,
         falloff: float = 0.15, lit: NodePath | None = None) -> NodePath:
    """A point light (a ceiling lamp) with quadratic falloff, lighting ``lit`` (default:
    ``parent``'s subtree; pass the scenario root when the lamp hangs on a moving node)."""
    light = PointLight("lamp")
    light.set_color((color[0] * strength, color[1] * strength, color[2] * strength, 1))
    light.set_attenuation((1.0, 0.0, falloff))
    np_ = parent.attach_new_node(light)
    np_.set_pos(*pos)
    (lit if lit is not None else parent).set_light(np_)
    return np_
