"""What the avatar says, kept as data so it can be translated: ``avatar/lines/<language>.json``.

Each line has an id, a category (greeting, rationale, check-in prompts, consent, praise,
grounding, breathing, closing, repair) and, for repair lines, the resolution strategy it
belongs to. The strategies are named after the resolution strategies of the Rupture Resolution
Rating System (3RS; the names only: the manual's definitions are not reproduced here). Safety
lines (grounding, breathing) interrupt anything the avatar is saying.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

CATEGORIES: tuple[str, ...] = (
    "greeting", "rationale", "checkin_suds", "checkin_expectancy", "checkin_fms",
    "consent_step_up", "praise",
    "grounding", "breathing", "closing", "repair",
)
REPAIR_STRATEGIES: tuple[str, ...] = (
    "clarify_misunderstanding", "change_task", "give_rationale", "invite_discussion",
    "acknowledge_contribution", "validate",
)
"""3RS resolution strategies the repair lines are grouped by (labels only)."""
MAX_TEXT = 4000


class LineError(ValueError):
    """A line file is broken; the message names the file, the line and the field."""


@dataclass(frozen=True)
class Line:
    """One thing the avatar can say."""

    id: str
    text: str
    category: str
    strategy: str | None = None
    safety: bool = False
    """Grounding and breathing guidance: spoken at once, interrupting anything else."""


class LineBook:
    """The lines of one language, by id."""

    def __init__(self, language: str, lines: list[Line]) -> None:
        self.language = language
        self.lines = {line.id: line for line in lines}

    def __contains__(self, line_id: object) -> bool:
        return line_id in self.lines

    def get(self, line_id: str) -> Line:
        """The line called ``line_id``; ``KeyError`` naming it otherwise."""
        try:
            return self.lines[line_id]
        except KeyError:
            raise KeyError(f"no avatar line {line_id!r}") from None

    def require(self, line_ids: tuple[str, ...]) -> None:
        """Raise :class:`LineError` naming every id of ``line_ids`` this book lacks (the
        session says these itself: a translation must have them)."""
        missing = [i for i in line_ids if i not in self.lines]
        if missing:
            raise LineError(f"the {self.language!r} line book lacks {missing}")

    def category(self, category: str) -> list[Line]:
        """The lines of one category, in file order."""
        return [line for line in self.lines.values() if line.category == category]

    def repairs(self, strategy: str) -> list[Line]:
        """The repair lines of one resolution strategy."""
        return [line for line in self.lines.values() if line.strategy == strategy]

    @classmethod
    def load(cls, language: str = "en", path: Path | None = None) -> LineBook:
        """The line book of ``language`` (shipped with the package), or from ``path``."""
        where = str(path) if path else f"avatar/lines/{language}.json"
        try:
            raw = path.read_text() if path else (
                resources.files("avatar").joinpath("lines", f"{language}.json").read_text())
            data = json.loads(raw)
        except FileNotFoundError:
            raise LineError(f"{where}: no such line file") from None
        except json.JSONDecodeError as exc:
            raise LineError(f"{where}: not valid JSON at line {exc.lineno}: {exc.msg}") from exc
        return cls(data.get("language", language), _parse(data, where))


def _parse(data: Any, where: str) -> list[Line]:
    if not isinstance(data, dict) or not isinstance(data.get("lines"), list):
        raise LineError(f"{where}: expected an object with a 'lines' list")
    lines: list[Line] = []
    seen: set[str] = set()
    for index, item in enumerate(data["lines"]):
        at = f"{where}: lines[{index}]"
        if not isinstance(item, dict):
            raise LineError(f"{at}: expected an object")
        unknown = set(item) - {"id", "text", "category", "strategy", "safety"}
        if unknown:
            raise LineError(f"{at}: unknown field(s) {sorted(unknown)}")
        line_id, text, category = item.get("id"), item.get("text"), item.get("category")
        if not isinstance(line_id, str) or not line_id:
            raise LineError(f"{at}.id: a non-empty string is required")
        if line_id in seen:
            raise LineError(f"{at}.id: {line_id!r} is used twice")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            raise LineError(f"{at}.text: 1-{MAX_TEXT} characters are required")
        if category not in CATEGORIES:
            raise LineError(f"{at}.category: {category!r} is not one of {list(CATEGORIES)}")
        strategy = item.get("strategy")
        if (category == "repair") != (strategy is not None):
            raise LineError(f"{at}.strategy: repair lines, and only they, name a strategy")
        if strategy is not None and strategy not in REPAIR_STRATEGIES:
            raise LineError(f"{at}.strategy: {strategy!r} is not one of "
                            f"{list(REPAIR_STRATEGIES)}")
        safety = item.get("safety", False)
        if not isinstance(safety, bool):
            raise LineError(f"{at}.safety: true or false")
        seen.add(line_id)
        lines.append(Line(line_id, text, category, strategy, safety))
    return lines
