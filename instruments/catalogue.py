"""The instruments a site can give: shipped definitions, shipped packs and the site's own.

:class:`Catalogue` loads every definition in ``instruments/definitions/`` and every text pack
in ``instruments/packs/`` and in the site's pack folders (``--instrument-packs``, or the
``VRET_INSTRUMENT_PACKS`` environment variable, folders separated by ``:``). An instrument
is *available* in a language when a pack that fits it is loaded; otherwise it is listed as
unavailable with the reason (for licensed instruments: the site must load its licensed text).
A broken definition stops the catalogue with an error naming the file; a broken pack is set
aside with its error, which :meth:`Catalogue.problems` lists, and the rest still load.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from instruments.definition import Instrument
from instruments.packs import PackError, TextPack, check_pack, load_pack

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
DEFINITIONS_DIR = HERE / "definitions"
PACKS_DIR = HERE / "packs"
PACKS_ENV = "VRET_INSTRUMENT_PACKS"


class DefinitionError(ValueError):
    """A definition file that is not a valid instrument."""


def load_definition(path: Path) -> Instrument:
    """Read and validate one definition file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DefinitionError(f"instrument definition {path.name}: cannot be read: "
                              f"{exc}") from exc
    try:
        return Instrument.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise DefinitionError(f"instrument definition {path.name}: {where}: "
                              f"{first['msg']}") from exc


@dataclass(frozen=True)
class Availability:
    """Whether an instrument can be given, and if not, why."""

    instrument: Instrument
    languages: tuple[str, ...]
    reason: str | None

    @property
    def available(self) -> bool:
        """True when at least one language's text is loaded."""
        return bool(self.languages)


class Catalogue:
    """Definitions and the packs that fit them."""

    def __init__(self, pack_dirs: Iterable[Path] = (),
                 definitions_dir: Path = DEFINITIONS_DIR) -> None:
        self.instruments: dict[str, Instrument] = {}
        for path in sorted(definitions_dir.glob("*.json")):
            instrument = load_definition(path)
            if instrument.id in self.instruments:
                raise DefinitionError(f"instrument definition {path.name}: id "
                                      f"{instrument.id!r} is defined twice")
            self.instruments[instrument.id] = instrument
        self.packs: dict[tuple[str, str], TextPack] = {}
        self._problems: list[str] = []
        dirs = [PACKS_DIR, *pack_dirs]
        dirs += [Path(p) for p in os.environ.get(PACKS_ENV, "").split(os.pathsep) if p]
        for folder in dirs:
            if not folder.is_dir():
                self._problems.append(f"instrument pack folder {folder} does not exist")
                continue
            for path in sorted(folder.rglob("*.json")):
                self._add_pack(path)

    def _add_pack(self, path: Path) -> None:
        try:
            pack = load_pack(path)
            instrument = self.instruments.get(pack.instrument)
            if instrument is None:
                raise PackError(f"text pack {path.name}: no instrument {pack.instrument!r}; "
                                f"known: {', '.join(sorted(self.instruments))}")
            check_pack(pack, instrument, path.name)
        except PackError as exc:
            log.warning("%s", exc)
            self._problems.append(str(exc))
            return
        self.packs[(pack.instrument, pack.language)] = pack  # a site's pack wins (later)

    def problems(self) -> list[str]:
        """Packs (and pack folders) that were set aside, each with its reason."""
        return list(self._problems)

    def get(self, instrument_id: str) -> Instrument:
        """The definition of ``instrument_id`` (KeyError naming the known ones)."""
        try:
            return self.instruments[instrument_id]
        except KeyError:
            raise KeyError(f"no instrument {instrument_id!r}; known: "
                           f"{', '.join(sorted(self.instruments))}") from None

    def pack(self, instrument_id: str, language: str = "en") -> TextPack:
        """The text to give ``instrument_id`` in ``language`` (KeyError saying why not)."""
        instrument = self.get(instrument_id)
        pack = self.packs.get((instrument_id, language))
        if pack is None:
            raise KeyError(f"{instrument.name} cannot be given in {language!r}: "
                           f"{self.availability(instrument_id).reason}")
        return pack

    def availability(self, instrument_id: str) -> Availability:
        """Whether ``instrument_id`` can be given, in which languages, or why not."""
        instrument = self.get(instrument_id)
        languages = tuple(sorted(lang for (iid, lang) in self.packs if iid == instrument_id))
        reason = None
        if not languages:
            if instrument.licence.text_included:
                reason = "its shipped text pack is missing or broken"
            else:
                reason = ("its item text is not distributed with vret (licence: "
                          f"{instrument.licence.note}); load the site's licensed text pack "
                          f"with --instrument-packs or {PACKS_ENV}")
        return Availability(instrument, languages, reason)

    def listing(self) -> list[Availability]:
        """Every instrument's availability, in id order."""
        return [self.availability(i) for i in sorted(self.instruments)]
