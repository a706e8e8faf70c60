"""Text packs: what the respondent reads, kept apart from the definition and its scoring.

A pack is one JSON file for one instrument version in one language::

    {"instrument": "phq9", "version": "1", "language": "en",
     "copyright": "...", "licence": "...",
     "title": "...", "instructions": "...",
     "items": {"q1": "...", ...},
     "anchors": {"default": {"0": "Not at all", ...}}}

vret ships packs where the licence allows (``instruments/packs/``); a site adds its licensed
packs for the others in a folder of its own. A pack is checked against its definition when it
is loaded: a missing or unknown item, an anchor for a value that is not on the item's scale,
or a scale value left without its label is an error naming the instrument, the pack and the
item, and the pack is not used.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from instruments.definition import Instrument


class PackError(ValueError):
    """A text pack that does not fit its instrument (or is not a pack at all)."""


class TextPack(BaseModel):
    """One instrument version's wording in one language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instrument: str
    version: str
    language: str = Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    title: str = Field(min_length=1)
    instructions: str = ""
    copyright: str | None = None
    licence: str = Field(min_length=1)
    """The terms this text is used under (shown beside the form and in exports)."""
    items: dict[str, str]
    anchors: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Per scale id: value (as written in the definition, e.g. "0", "2.5") -> label."""
    source: str = "vret"
    """Who supplied it: ``vret`` for shipped packs, else the site's own name for it."""

    def anchor(self, scale: str, value: float) -> str | None:
        """The label of ``value`` on ``scale`` (None where the pack labels only some)."""
        return self.anchors.get(scale, {}).get(f"{value:g}")


def load_pack(path: Path) -> TextPack:
    """Read a pack file (its fit to the instrument is checked by :func:`check_pack`)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackError(f"text pack {path.name}: cannot be read: {exc}") from exc
    try:
        return TextPack.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise PackError(f"text pack {path.name}: {where}: {first['msg']}") from exc


def check_pack(pack: TextPack, instrument: Instrument, name: str = "") -> None:
    """Raise :class:`PackError` unless ``pack`` gives text for exactly ``instrument``'s items
    and labels its scales' anchored values with values on the scale."""
    label = f"{instrument.id} text pack{f' {name}' if name else ''} ({pack.language})"
    if (pack.instrument, pack.version) != (instrument.id, instrument.version):
        raise PackError(f"{label}: written for {pack.instrument}/{pack.version}, not "
                        f"{instrument.key}")
    for item in instrument.items:
        text = pack.items.get(item.id)
        if text is None or not text.strip():
            raise PackError(f"{label}: item {item.id} (number {item.number}) has no text")
    unknown = sorted(set(pack.items) - {item.id for item in instrument.items})
    if unknown:
        raise PackError(f"{label}: text for items the instrument does not have: "
                        f"{', '.join(unknown)}")
    used = {item.scale: item for item in instrument.items}
    for scale_id, labels in pack.anchors.items():
        if scale_id not in instrument.scales:
            raise PackError(f"{label}: anchors for an unknown scale {scale_id!r}")
        scale = instrument.scales[scale_id]
        for key in labels:
            try:
                number = float(key)
            except ValueError:
                raise PackError(f"{label}: scale {scale_id}: anchor key {key!r} is not a "
                                "number") from None
            if not scale.accepts(number):
                user = used.get(scale_id)
                of_item = f" (item {user.id})" if user is not None else ""
                raise PackError(
                    f"{label}: scale {scale_id}{of_item}: anchor {key} is not on the scale "
                    f"({scale.describe()}): is this pack for another scale?")
    for scale_id, item in used.items():
        for value in instrument.scales[scale_id].anchored:
            if pack.anchor(scale_id, value) is None:
                raise PackError(f"{label}: scale {scale_id} (item {item.id}): value "
                                f"{value:g} has no label")
