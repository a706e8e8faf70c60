"""Definitions and text packs: shipped ones load, broken ones are refused by name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from instruments.catalogue import DEFINITIONS_DIR, PACKS_DIR, Catalogue, DefinitionError
from instruments.packs import PackError, check_pack, load_pack

SHIPPED_TEXT = {"phq9", "ssq", "fms", "suds", "expectancy", "vret_alliance_check",
                "vret_therapist_check"}
STRUCTURE_ONLY = {"wai_sr", "srs", "seq", "arm5", "haq2"}


def test_every_shipped_definition_and_pack_loads_and_fits() -> None:
    catalogue = Catalogue()
    assert catalogue.problems() == []
    assert set(catalogue.instruments) == SHIPPED_TEXT | STRUCTURE_ONLY
    for entry in catalogue.listing():
        instrument = entry.instrument
        if instrument.id in SHIPPED_TEXT:
            assert instrument.licence.text_included and entry.languages == ("en",)
        else:
            assert not instrument.licence.text_included and not entry.available
            assert entry.reason is not None and "licensed text pack" in entry.reason
            with pytest.raises(KeyError, match="not distributed with vret"):
                catalogue.pack(instrument.id)


def _pack(instrument: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((PACKS_DIR / "en" / f"{instrument}.json").read_text())
    return data


def _write(folder: Path, name: str, data: dict[str, object]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def test_a_pack_missing_an_item_is_refused_naming_instrument_and_item(tmp_path: Path) -> None:
    data = _pack("phq9")
    items = dict(data["items"])  # type: ignore[call-overload]
    del items["q7"]
    data["items"] = items
    pack = load_pack(_write(tmp_path, "phq9-site.json", data))
    catalogue = Catalogue()
    with pytest.raises(PackError, match=r"phq9 text pack .*: item q7 \(number 7\) has no "
                                        "text"):
        check_pack(pack, catalogue.get("phq9"), "phq9-site.json")
    # Loaded from a site folder, it is set aside with that reason; the shipped one stays.
    site = Catalogue(pack_dirs=[tmp_path])
    assert any("item q7" in p for p in site.problems())
    assert site.pack("phq9").items["q7"]


def test_a_pack_for_another_scale_is_refused_naming_the_scale(tmp_path: Path) -> None:
    data = _pack("phq9")
    data["anchors"] = {"default": {str(v): f"label {v}" for v in range(1, 6)},
                       "difficulty": _pack("phq9")["anchors"]["difficulty"]}  # type: ignore[index]
    pack = load_pack(_write(tmp_path, "phq9-1to5.json", data))
    with pytest.raises(PackError, match=r"phq9 text pack .*scale default \(item q\d\): anchor "
                                        r"4 is not on the scale \(0 to 3\)"):
        check_pack(pack, Catalogue().get("phq9"))
    data["anchors"] = {"default": {"0": "Not at all", "3": "Nearly every day"},
                       "difficulty": _pack("phq9")["anchors"]["difficulty"]}  # type: ignore[index]
    pack = load_pack(_write(tmp_path, "phq9-ends.json", data))
    with pytest.raises(PackError, match="value 1 has no label"):
        check_pack(pack, Catalogue().get("phq9"))


def test_a_sites_licensed_pack_makes_a_structure_only_instrument_available(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = {"instrument": "arm5", "version": "1", "language": "en", "title": "ARM-5",
            "licence": "Licensed to the site for electronic use", "source": "test clinic",
            "items": {f"q{i}": f"(licensed text of item {i})" for i in range(1, 6)},
            "anchors": {"default": {"1": "Strongly disagree", "7": "Strongly agree"}}}
    _write(tmp_path / "licensed", "arm5.json", data)
    monkeypatch.setenv("VRET_INSTRUMENT_PACKS", str(tmp_path / "licensed"))
    catalogue = Catalogue()
    entry = catalogue.availability("arm5")
    assert entry.available and entry.languages == ("en",)
    assert catalogue.pack("arm5").source == "test clinic"


def test_a_broken_definition_is_refused_naming_the_file_and_field(tmp_path: Path) -> None:
    folder = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS_DIR, folder)
    data = json.loads((folder / "wai_sr.json").read_text())
    data["scores"][0]["items"].append("q13")
    (folder / "wai_sr.json").write_text(json.dumps(data))
    with pytest.raises(DefinitionError, match=r"wai_sr.json: .*score task: unknown item "
                                              "'q13'"):
        Catalogue(definitions_dir=folder)
    data["scales"]["default"]["high"] = 0
    (folder / "wai_sr.json").write_text(json.dumps(data))
    with pytest.raises(DefinitionError, match=r"wai_sr.json: scales.default: .*high \(0.0\) "
                                              "must be above low"):
        Catalogue(definitions_dir=folder)


def test_a_pack_that_is_not_json_is_set_aside(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    catalogue = Catalogue(pack_dirs=[tmp_path])
    assert any("broken.json: cannot be read" in p for p in catalogue.problems())
    assert catalogue.availability("phq9").available


def test_the_command_line_names_an_unknown_instrument_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "vret", "instruments", "show", "bdi"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "no instrument 'bdi'; known: arm5" in done.stderr
    scored = subprocess.run([sys.executable, "-m", "vret", "instruments", "score", "ssq",
                             "s1=1", "s5=2", "s8=3", "s12=1"], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert scored.returncode == 0 and "total: not scored (missing items)" in scored.stdout
