"""The scenario guide shows the example exactly as it is in the repository, and its commands
work as the guide says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "scenario-guide.md"
EXAMPLE = ROOT / "examples" / "syringe.py"


def test_the_guide_shows_the_whole_example_verbatim() -> None:
    assert EXAMPLE.read_text() in GUIDE.read_text()


def _vret(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vret", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_validate_and_render_as_in_the_guide(tmp_path: Path) -> None:
    ok = _vret("scenario", "validate", str(EXAMPLE), cwd=tmp_path)
    assert ok.returncode == 0 and "syringe: valid" in ok.stdout and "6: Magnified" in ok.stdout
    shot = tmp_path / "highest.png"
    done = _vret("scenario", "render", str(EXAMPLE), "--rung", "6", "--intensity", "1",
                 "--size", "320x180", "-o", str(shot), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("change", "message"), [
    ('2.0, 1, 1.0),\n            _rung("Table, bare"', "outside 'distance''s bounds"),
    ("rate=0.5, description=\"From", "Parameter.rate: Input should be greater than 0"),
    ("def load(self)", "syntax error"),
])
def test_a_broken_scenario_file_gets_an_error_naming_the_field(
        tmp_path: Path, change: str, message: str) -> None:
    source = EXAMPLE.read_text()
    if message.startswith("outside"):
        broken = source.replace("2.0, 1, 1.0),", "9.0, 1, 1.0),", 1)
    elif message.startswith("Parameter.rate"):
        broken = source.replace(change, "rate=-1.0, description=\"From", 1)
    else:
        broken = source.replace(change, "def load(self", 1)
    assert broken != source
    path = tmp_path / "broken.py"
    path.write_text(broken)
    result = _vret("scenario", "validate", str(path), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert str(path) in result.stderr and message in result.stderr
