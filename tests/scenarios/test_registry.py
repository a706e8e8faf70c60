"""Finding scenarios: entry points, files, and loud failures that name the scenario."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from scenarios import registry
from scenarios.registry import ScenarioError

BUILT_INS = {"heights", "spiders", "enclosed", "safe_place", "public_speaking"}


def test_the_built_ins_are_installed_entry_points() -> None:
    assert set(registry.available()) >= BUILT_INS
    for name in BUILT_INS:
        assert registry.load(name).spec.name == name


def test_an_unknown_name_lists_what_is_installed() -> None:
    with pytest.raises(ScenarioError, match=r"no scenario named 'lava'; installed: .*heights"):
        registry.load("lava")


def test_a_plugin_that_fails_to_import_names_itself_and_the_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    broken = EntryPoint(name="lighthouse", value="no_such_package.lighthouse:Lighthouse",
                        group=registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [broken])
    with pytest.raises(ScenarioError, match=r"scenario 'lighthouse' \(no_such_package.lighthouse"
                                            r":Lighthouse\) failed to load: ModuleNotFoundError"):
        registry.load("lighthouse")


def test_a_plugin_that_is_not_a_scenario_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = EntryPoint(name="path", value="pathlib:Path", group=registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [wrong])
    with pytest.raises(ScenarioError, match=r"not a subclass of scenarios\.base\.Scenario"):
        registry.load("path")


def test_a_file_without_exactly_one_scenario_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.py"
    empty.write_text("X = 1\n")
    with pytest.raises(ScenarioError, match="expected one Scenario subclass, found none"):
        registry.load(str(empty))
    with pytest.raises(ScenarioError, match="no such file"):
        registry.load(str(tmp_path / "missing.py"))


def test_scenario_list_shows_every_built_in(tmp_path: Path) -> None:
    listed = subprocess.run([sys.executable, "-m", "vret", "scenario", "list"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "BROKEN" not in listed.stdout
    for name in BUILT_INS:
        assert name in listed.stdout
