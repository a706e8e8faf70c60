"""How a procedural person looks: skin, hair, clothes, height and build.

Colours are given in sRGB (0-1), as a person would pick them from a swatch; the body converts
them to the linear values the physically based shader expects. :meth:`Appearance.random` draws
varied, plausible people for crowds (an audience, passers-by) from a seeded generator, so a
crowd is the same every time for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

RGB = tuple[float, float, float]
HairStyle = Literal["short", "long", "bun", "bald"]
HAIR_STYLES: tuple[HairStyle, ...] = ("short", "long", "bun", "bald")
HEIGHT_RANGE_M = (1.5, 2.0)
"""Heights the body's proportions are made for (adults)."""

# Palettes (sRGB). Skin tones span the Fitzpatrick range, light to deep; hair colours are
# natural ones plus greys; clothes are the muted, everyday colours of an audience.
SKIN_TONES: tuple[RGB, ...] = (
    (0.95, 0.81, 0.71), (0.93, 0.77, 0.65), (0.90, 0.72, 0.60), (0.84, 0.65, 0.52),
    (0.78, 0.58, 0.44), (0.68, 0.48, 0.35), (0.58, 0.40, 0.28), (0.47, 0.31, 0.22),
    (0.38, 0.25, 0.18), (0.30, 0.20, 0.15),
)
HAIR_COLOURS: tuple[RGB, ...] = (
    (0.08, 0.06, 0.05), (0.16, 0.11, 0.08), (0.30, 0.20, 0.13), (0.45, 0.32, 0.20),
    (0.66, 0.50, 0.30), (0.85, 0.72, 0.48), (0.55, 0.26, 0.14), (0.62, 0.62, 0.62),
    (0.85, 0.85, 0.83),
)
TOP_COLOURS: tuple[RGB, ...] = (
    (0.55, 0.68, 0.82), (0.25, 0.32, 0.48), (0.78, 0.78, 0.76), (0.92, 0.92, 0.90),
    (0.42, 0.55, 0.40), (0.62, 0.30, 0.30), (0.85, 0.72, 0.50), (0.30, 0.30, 0.32),
    (0.55, 0.42, 0.62), (0.90, 0.62, 0.45), (0.35, 0.55, 0.58), (0.70, 0.50, 0.35),
)
TROUSER_COLOURS: tuple[RGB, ...] = (
    (0.18, 0.20, 0.26), (0.25, 0.28, 0.38), (0.12, 0.12, 0.13), (0.45, 0.40, 0.32),
    (0.35, 0.35, 0.36), (0.60, 0.55, 0.45), (0.28, 0.22, 0.18),
)
EYE_COLOURS: tuple[RGB, ...] = (
    (0.25, 0.15, 0.08), (0.33, 0.2, 0.1), (0.45, 0.32, 0.15), (0.35, 0.5, 0.65),
    (0.4, 0.5, 0.35),
)
SHOE_COLOURS: tuple[RGB, ...] = (
    (0.08, 0.07, 0.07), (0.28, 0.18, 0.12), (0.85, 0.85, 0.83), (0.40, 0.30, 0.22),
    (0.20, 0.20, 0.24),
)


def _check_rgb(name: str, value: RGB) -> None:
    if len(value) != 3 or not all(0.0 <= float(c) <= 1.0 for c in value):
        raise ValueError(f"{name} must be three sRGB values in 0..1, got {value!r}")


@dataclass(frozen=True)
class Appearance:
    """One person's look. Colours are sRGB triples in 0..1."""

    skin: RGB = (0.90, 0.72, 0.60)
    hair_colour: RGB = (0.30, 0.20, 0.13)
    hair_style: HairStyle = "short"
    top_colour: RGB = (0.55, 0.68, 0.82)
    trousers_colour: RGB = (0.22, 0.24, 0.30)
    shoe_colour: RGB = (0.12, 0.10, 0.09)
    height_m: float = 1.72
    """Standing height, top of the head to the floor (1.5-2.0 m)."""
    build: float = 0.5
    """0 slim .. 1 broad: widens shoulders, torso, hips and limbs."""
    eye_colour: RGB = (0.33, 0.2, 0.1)
    """The irises (brown by default)."""

    def __post_init__(self) -> None:
        lo, hi = HEIGHT_RANGE_M
        if not lo <= self.height_m <= hi:
            raise ValueError(f"height_m must be within {lo}-{hi} m, got {self.height_m}")
        if not 0.0 <= self.build <= 1.0:
            raise ValueError(f"build must be within 0-1, got {self.build}")
        if self.hair_style not in HAIR_STYLES:
            raise ValueError(f"hair_style must be one of {', '.join(HAIR_STYLES)}, "
                             f"got {self.hair_style!r}")
        for name in ("skin", "hair_colour", "top_colour", "trousers_colour", "shoe_colour",
                     "eye_colour"):
            _check_rgb(name, getattr(self, name))

    @classmethod
    def random(cls, rng: np.random.Generator) -> Appearance:
        """A varied, plausible adult: any skin tone, natural hair, everyday clothes.

        Draws a fixed number of values from ``rng`` in a fixed order, so a crowd built from
        one seeded generator is the same every time.
        """
        def pick(options: tuple[RGB, ...], jitter: float = 0.04) -> RGB:
            base = options[int(rng.integers(len(options)))]
            shade = 1.0 + float(rng.uniform(-jitter, jitter))
            r, g, b = (min(1.0, max(0.0, c * shade)) for c in base)
            return (r, g, b)

        skin = pick(SKIN_TONES, 0.03)
        hair = pick(HAIR_COLOURS)
        # Darker skin tones mostly come with dark hair; keep blond/red rarer there.
        dark_hair = float(rng.random()) < 0.8
        if sum(skin) / 3 < 0.5 and dark_hair:
            hair = pick(HAIR_COLOURS[:3])
        else:
            rng.integers(len(HAIR_COLOURS[:3]))  # keep the draw count fixed
            rng.uniform(-0.04, 0.04)
        style = HAIR_STYLES[int(rng.choice(4, p=[0.45, 0.3, 0.15, 0.1]))]
        height = float(np.clip(rng.normal(1.71, 0.08), 1.52, 1.96))
        return cls(
            skin=skin, hair_colour=hair, hair_style=style,
            top_colour=pick(TOP_COLOURS, 0.08), trousers_colour=pick(TROUSER_COLOURS, 0.06),
            shoe_colour=pick(SHOE_COLOURS, 0.05), height_m=round(height, 3),
            build=round(float(rng.beta(2.2, 2.2)), 3),
            # Light eyes only with lighter skin, and then only sometimes (as in most crowds).
            eye_colour=pick(EYE_COLOURS if sum(skin) / 3 > 0.7 else EYE_COLOURS[:3], 0.05),
        )


THERAPIST_DEFAULT = Appearance(
    skin=(0.88, 0.70, 0.58),
    hair_colour=(0.32, 0.21, 0.13),
    hair_style="bun",
    top_colour=(0.56, 0.70, 0.86),   # a soft, calm blue
    trousers_colour=(0.24, 0.26, 0.32),
    shoe_colour=(0.22, 0.15, 0.11),
    height_m=1.70,
    build=0.4,
    eye_colour=(0.36, 0.24, 0.12),
)
"""The therapist: a calm, friendly adult in a soft blue top, hair tied back."""
