"""Scoring a set of answers by an instrument's definition.

Answers are canonical values (the scale's own numbers, never a screen position). An answer
outside the item's scale is refused with :class:`AnswerError` naming the instrument, the item
and the scale, so the panel can ask again; nothing is scored from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from instruments.definition import Condition, Instrument, Item, Score


class AnswerError(ValueError):
    """An answer that is not on the item's scale, or for an item the instrument lacks."""


@dataclass(frozen=True)
class ScoreValue:
    """One score's outcome: ``value`` None when the missing-item rule forbids it."""

    id: str
    value: float | None
    answered: int
    of: int
    prorated: bool = False
    verified: bool = True
    band: str | None = None


@dataclass(frozen=True)
class FlagHit:
    """A flag whose condition held."""

    id: str
    level: str
    message: str
    requires_acknowledgement: bool


@dataclass
class Result:
    """The scored response: every score, raised flags, what was asked and left unanswered."""

    instrument: str
    version: str
    scores: dict[str, ScoreValue] = field(default_factory=dict)
    flags: list[FlagHit] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Items that were asked (their condition held) and are required, but not answered."""

    @property
    def complete(self) -> bool:
        """Whether every asked, required item was answered."""
        return not self.missing

    def value(self, score_id: str) -> float | None:
        """A score's value (None if it could not be scored)."""
        return self.scores[score_id].value


def check_answer(instrument: Instrument, item_id: str, value: float) -> float:
    """``value`` as a float if it is on ``item_id``'s scale, else :class:`AnswerError`."""
    try:
        item = instrument.item(item_id)
    except KeyError:
        raise AnswerError(f"{instrument.id}: no item {item_id!r}; items: "
                          f"{', '.join(i.id for i in instrument.items)}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AnswerError(f"{instrument.id} item {item_id}: the answer must be a number, "
                          f"not {type(value).__name__}")
    scale = instrument.scale_of(item)
    if not scale.accepts(float(value)):
        raise AnswerError(f"{instrument.id} item {item_id}: {value:g} is not an answer on "
                          f"its scale ({scale.describe()})")
    return float(value)


def scored_value(instrument: Instrument, item: Item, value: float) -> float:
    """The value as it counts in a score (reversed items turned round)."""
    if not item.reversed:
        return value
    scale = instrument.scale_of(item)
    return scale.low + scale.high - value


def score(instrument: Instrument, answers: Mapping[str, float]) -> Result:
    """Score ``answers`` (item id -> canonical value); items not asked are ignored."""
    checked = {item_id: check_answer(instrument, item_id, value)
               for item_id, value in answers.items()}
    result = Result(instrument.id, instrument.version)
    raw: dict[str, float] = {}
    # Scores first from the items asked unconditionally, then conditions on scores can be
    # decided (PHQ-9's difficulty item is asked only when the total is above 0).
    _score_all(instrument, checked, result, raw)
    for item in instrument.items:
        if _asked(item.asked_when, checked, result):
            result.asked.append(item.id)
            if item.required and item.id not in checked:
                result.missing.append(item.id)
    for flag in instrument.flags:
        observed = _observed(flag.when, checked, result)
        if observed is not None and flag.when.holds(observed):
            result.flags.append(FlagHit(flag.id, flag.level, flag.message,
                                        flag.requires_acknowledgement))
    return result


def _score_all(instrument: Instrument, answers: Mapping[str, float], result: Result,
               raw: dict[str, float]) -> None:
    items = {item.id: item for item in instrument.items}
    pending = list(instrument.scores)
    while pending:  # scores of scores after the scores they sum (definitions forbid cycles)
        progressed = False
        for definition in list(pending):
            if any(ref not in result.scores for ref in definition.of_scores):
                continue
            result.scores[definition.id] = _one(instrument, definition, items, answers,
                                                result, raw)
            pending.remove(definition)
            progressed = True
        if not progressed:
            raise ValueError(f"{instrument.id}: scores refer to each other in a cycle: "
                             f"{[s.id for s in pending]}")


def _one(instrument: Instrument, definition: Score, items: Mapping[str, Item],
         answers: Mapping[str, float], result: Result, raw: dict[str, float]) -> ScoreValue:
    answered = [ref for ref in definition.items if ref in answers]
    n, k = len(definition.items), len(answered)
    missing = n - k
    rule = definition.missing
    allowed = rule.max_missing if rule.kind == "prorate" else 0
    band_of = instrument.bands.get(definition.id, [])
    if missing > allowed or k == 0:
        return ScoreValue(definition.id, None, k, n, verified=definition.verified)
    if definition.of_scores:
        total = 0.0
        for ref in definition.of_scores:
            if ref not in raw:
                return ScoreValue(definition.id, None, k, n, verified=definition.verified)
            total += raw[ref]
    else:
        total = sum(scored_value(instrument, items[ref], answers[ref]) for ref in answered)
        if missing:
            total = total * n / k
    raw[definition.id] = total
    value = (total / n if definition.method == "mean" else total) * definition.multiplier
    band = next((b.label for b in band_of if b.low <= value <= b.high), None)
    return ScoreValue(definition.id, value, k, n, prorated=missing > 0,
                      verified=definition.verified, band=band)


def _observed(condition: Condition, answers: Mapping[str, float],
              result: Result) -> float | None:
    if condition.item is not None:
        return answers.get(condition.item)
    assert condition.score is not None
    scored = result.scores.get(condition.score)
    return None if scored is None else scored.value


def _asked(condition: Condition | None, answers: Mapping[str, float],
           result: Result) -> bool:
    if condition is None:
        return True
    observed = _observed(condition, answers, result)
    return observed is not None and condition.holds(observed)


def difference(before: Result, after: Result) -> dict[str, float | None]:
    """Per score, ``after - before`` (the SSQ is read as the change from a pre-exposure
    baseline); None where either side could not be scored."""
    if (before.instrument, before.version) != (after.instrument, after.version):
        raise ValueError(f"cannot compare {before.instrument}/{before.version} with "
                         f"{after.instrument}/{after.version}")
    out: dict[str, float | None] = {}
    for score_id, value in after.scores.items():
        a, b = value.value, before.scores[score_id].value
        out[score_id] = None if a is None or b is None else a - b
    return out
