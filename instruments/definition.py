"""The instrument definition format: what a questionnaire or rating is, as data.

A definition holds the structure and the scoring, never the wording: items (with their
numbers, response scale, reversal and subscale membership), scores (sum or mean, weights,
multipliers, the rule for missing items), severity bands, flags, the version and a licence
note. What the respondent reads (title, instructions, item text, anchor labels) is a separate
*text pack* (:mod:`instruments.packs`), because for several instruments the structure may be
published with an open-source program and the wording may not.

Definitions live as JSON files in ``instruments/definitions/`` (one per instrument); each is
validated on load, and a broken one is refused with the file, the field and the reason.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Respondent = Literal["client", "therapist"]
Timing = Literal["screening", "start", "during", "trial", "end"]
"""When an instrument is given: before the session (screening), at its start, repeatedly
during exposure, before and after each exposure trial, or at its end."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResponseScale(_Strict):
    """The values an answer may take: ``low`` to ``high`` in steps of ``step``."""

    low: float
    high: float
    step: float = 1.0
    kind: Literal["integer", "decimal", "yes_no"] = "integer"
    anchored: list[float] = Field(default_factory=list)
    """Values a text pack must label (every value of a short ordinal scale; the two ends
    of a long one)."""

    @model_validator(mode="after")
    def _check(self) -> ResponseScale:
        if self.high <= self.low:
            raise ValueError(f"high ({self.high}) must be above low ({self.low})")
        if self.step <= 0:
            raise ValueError("step must be positive")
        if self.kind == "yes_no" and (self.low, self.high, self.step) != (0, 1, 1):
            raise ValueError("a yes_no scale is 0 (no) to 1 (yes) in steps of 1")
        for value in self.anchored:
            if not self.low <= value <= self.high:
                raise ValueError(f"anchored value {value} is outside {self.low}..{self.high}")
        return self

    def accepts(self, value: float) -> bool:
        """Whether ``value`` is a possible answer on this scale."""
        if not self.low <= value <= self.high:
            return False
        steps = (value - self.low) / self.step
        return abs(steps - round(steps)) < 1e-6

    def describe(self) -> str:
        """The scale in words, for error messages."""
        if self.kind == "yes_no":
            return "0 (no) or 1 (yes)"
        step = "" if self.step == 1 else f" in steps of {self.step:g}"
        return f"{self.low:g} to {self.high:g}{step}"


class Condition(_Strict):
    """When an item is asked: another item's answer (or a score) compared with a value."""

    item: str | None = None
    score: str | None = None
    op: Literal[">", ">=", "<", "<=", "==", "!="] = ">="
    value: float

    @model_validator(mode="after")
    def _one_source(self) -> Condition:
        if (self.item is None) == (self.score is None):
            raise ValueError("a condition names exactly one of item or score")
        return self

    def holds(self, observed: float) -> bool:
        """Whether ``observed`` satisfies the comparison."""
        v = self.value
        return {">": observed > v, ">=": observed >= v, "<": observed < v,
                "<=": observed <= v, "==": observed == v, "!=": observed != v}[self.op]


class Item(_Strict):
    """One question. ``id`` is its stable link id (FHIR ``linkId``); ``number`` is the
    position in the published form (reversal and subscale keys refer to it)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    number: int = Field(ge=1)
    scale: str = "default"
    reversed: bool = False
    """Scored as ``low + high - value`` (the stored answer stays as given)."""
    required: bool = True
    asked_when: Condition | None = None
    """Only asked (and only required) when this holds; else it is left out."""
    code: str | None = None
    """A standard code for the item where one exists (LOINC for PHQ-9)."""


class MissingRule(_Strict):
    """What a score does with unanswered items.

    * ``none``: any missing item makes the score unavailable;
    * ``prorate``: up to ``max_missing`` missing, the score is the answered items' sum scaled
      to all items (``sum * n / answered``; equals the mean for a mean score).
    """

    kind: Literal["none", "prorate"] = "none"
    max_missing: int = Field(default=0, ge=0)


class Score(_Strict):
    """A total or subscale: ``method`` over ``items`` (reversed items reversed first), times
    ``multiplier``."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    items: list[str] = Field(min_length=1)
    method: Literal["sum", "mean"] = "sum"
    multiplier: float = 1.0
    missing: MissingRule = MissingRule()
    of_scores: list[str] = Field(default_factory=list)
    """Instead of items: the sum of these scores' raw sums (the SSQ total), times
    ``multiplier``. ``items`` then lists every item involved, for the missing rule."""
    verified: bool = True
    """False where the composition is not confirmed against the primary source (shown as
    such wherever the score is shown)."""
    code: str | None = None


class Band(_Strict):
    """A labelled range of one score (severity bands), ``low`` <= score <= ``high``."""

    low: float
    high: float
    label: str


class Flag(_Strict):
    """Raised when ``when`` holds. ``level`` ``risk`` needs a clinician's acknowledgement
    before exposure starts; ``unless`` keeps it quiet when another condition holds."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    when: Condition
    level: Literal["info", "attention", "risk", "high_risk"]
    message: str = Field(min_length=1)
    requires_acknowledgement: bool = False


class Licence(_Strict):
    """What may be shipped with the program, and the notice that must travel with it."""

    text_included: bool
    """Whether vret ships the item text (else a site loads a licensed pack)."""
    note: str = Field(min_length=1)
    copyright: str | None = None


class Instrument(_Strict):
    """One instrument, one version."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: str = Field(min_length=1)
    name: str = Field(min_length=1)
    respondent: Respondent = "client"
    timing: list[Timing] = Field(min_length=1)
    citation: str = ""
    validated: bool = True
    """False for in-house checks written for vret: shown as "not a validated instrument"."""
    licence: Licence
    scales: dict[str, ResponseScale]
    items: list[Item] = Field(min_length=1)
    scores: list[Score] = Field(default_factory=list)
    bands: dict[str, list[Band]] = Field(default_factory=dict)
    flags: list[Flag] = Field(default_factory=list)
    code: str | None = None
    """A standard code for the whole instrument (LOINC panel) where one exists."""
    notes: list[str] = Field(default_factory=list)

    @field_validator("scales")
    @classmethod
    def _has_default(cls, scales: dict[str, ResponseScale]) -> dict[str, ResponseScale]:
        if "default" not in scales:
            raise ValueError("scales must include 'default'")
        return scales

    @model_validator(mode="after")
    def _references(self) -> Instrument:
        ids = [item.id for item in self.items]
        if len(set(ids)) != len(ids):
            raise ValueError(f"item ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
        numbers = [item.number for item in self.items]
        if len(set(numbers)) != len(numbers):
            raise ValueError("item numbers repeat")
        known_items = set(ids)
        score_ids = [score.id for score in self.scores]
        for item in self.items:
            if item.scale not in self.scales:
                raise ValueError(f"item {item.id}: unknown scale {item.scale!r}")
            self._check_condition(item.asked_when, known_items, score_ids, f"item {item.id}")
        for score in self.scores:
            for ref in score.items:
                if ref not in known_items:
                    raise ValueError(f"score {score.id}: unknown item {ref!r}")
            for ref in score.of_scores:
                if ref not in score_ids or ref == score.id:
                    raise ValueError(f"score {score.id}: unknown score {ref!r}")
        for name in self.bands:
            if name not in score_ids:
                raise ValueError(f"bands for unknown score {name!r}")
        for flag in self.flags:
            self._check_condition(flag.when, known_items, score_ids, f"flag {flag.id}")
        return self

    @staticmethod
    def _check_condition(condition: Condition | None, items: set[str], scores: list[str],
                         where: str) -> None:
        if condition is None:
            return
        if condition.item is not None and condition.item not in items:
            raise ValueError(f"{where}: condition on unknown item {condition.item!r}")
        if condition.score is not None and condition.score not in scores:
            raise ValueError(f"{where}: condition on unknown score {condition.score!r}")

    def item(self, item_id: str) -> Item:
        """The item with ``item_id`` (KeyError naming the instrument if there is none)."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(f"{self.id} has no item {item_id!r}")

    def scale_of(self, item: Item) -> ResponseScale:
        """The response scale ``item`` is answered on."""
        return self.scales[item.scale]

    @property
    def key(self) -> str:
        """``id/version``: what a stored response names."""
        return f"{self.id}/{self.version}"
