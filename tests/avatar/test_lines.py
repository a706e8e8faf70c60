"""The avatar's lines as data: every category present, repair lines by 3RS strategy, and a
broken line file named with the line and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avatar.lines import CATEGORIES, REPAIR_STRATEGIES, LineBook, LineError


def test_the_english_book_covers_every_category_and_strategy() -> None:
    book = LineBook.load("en")
    for category in CATEGORIES:
        assert book.category(category), f"no {category} line"
    for strategy in REPAIR_STRATEGIES:
        assert len(book.repairs(strategy)) >= 2, f"fewer than two {strategy} lines"
    assert all(line.safety for line in book.category("grounding"))
    assert book.get("checkin_suds").text.endswith("0 to 100?")


def test_an_unknown_line_is_named() -> None:
    with pytest.raises(KeyError, match="no avatar line 'sing'"):
        LineBook.load("en").get("sing")


@pytest.mark.parametrize(("line", "message"), [
    ({"id": "a", "text": "", "category": "praise"}, r"lines\[0\].text"),
    ({"id": "a", "text": "Hi", "category": "jokes"}, r"lines\[0\].category: 'jokes'"),
    ({"id": "a", "text": "Hi", "category": "repair"}, r"lines\[0\].strategy"),
    ({"id": "a", "text": "Hi", "category": "repair", "strategy": "bribe"},
     r"'bribe' is not one of"),
    ({"id": "a", "text": "Hi", "category": "praise", "tone": "warm"}, r"unknown field"),
])
def test_a_broken_line_file_names_the_line_and_field(tmp_path: Path, line: dict[str, object],
                                                     message: str) -> None:
    path = tmp_path / "xx.json"
    path.write_text(json.dumps({"language": "xx", "lines": [line]}))
    with pytest.raises(LineError, match=message):
        LineBook.load(path=path)


def test_a_repeated_id_and_bad_json_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "xx.json"
    line = {"id": "a", "text": "Hi", "category": "praise"}
    path.write_text(json.dumps({"lines": [line, line]}))
    with pytest.raises(LineError, match=r"lines\[1\].id: 'a' is used twice"):
        LineBook.load(path=path)
    path.write_text("{")
    with pytest.raises(LineError, match="not valid JSON at line 1"):
        LineBook.load(path=path)
