"""The scenario guide's example keeps the contract too."""

from __future__ import annotations

from pathlib import Path

from tests.scenarios.contract import ScenarioContract

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "syringe.py"


class TestSyringeExample(ScenarioContract):
    scenario = str(EXAMPLE)
