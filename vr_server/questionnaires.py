"""Questionnaires in a session: forms submitted whole, and forms given item by item in VR.

The session machine (:mod:`vr_server.session`) decides *when* (states, one form at a time);
this module holds *how*: finding the instrument and its text, scoring, the events a response
logs (the response, an alert per flag), and a :class:`Form` in progress, which knows the next
item to ask (items whose condition does not hold are skipped) and takes answers one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from instruments.catalogue import Catalogue
from instruments.definition import Instrument, Item, ResponseScale
from instruments.packs import TextPack
from instruments.scoring import AnswerError, Result, check_answer, score
from telemetry.errors import CommandRejected
from telemetry.schemas import Alert, QuestionnaireResponse

SEVERITY = {"info": "info", "attention": "warning", "risk": "critical", "high_risk": "critical"}


def resolve(catalogue: Catalogue, instrument_id: str, language: str,
            respondent: str) -> tuple[Instrument, TextPack]:
    """The instrument and its text, or :class:`CommandRejected` saying why it cannot be
    given."""
    try:
        instrument = catalogue.get(instrument_id)
    except KeyError as exc:
        raise CommandRejected("out_of_range", str(exc.args[0])) from None
    pack = catalogue.packs.get((instrument.id, language))
    if pack is None:
        reason = catalogue.availability(instrument.id).reason or "no text in that language"
        raise CommandRejected("not_allowed", f"{instrument.name} cannot be given in "
                                             f"{language!r}: {reason}")
    if instrument.respondent != respondent:
        raise CommandRejected("out_of_range", f"{instrument.id} is answered by the "
                                              f"{instrument.respondent}, not the {respondent}")
    return instrument, pack


def score_or_reject(instrument: Instrument, answers: dict[str, Any]) -> Result:
    """Score ``answers``; an answer off its scale is :class:`CommandRejected` naming it."""
    try:
        return score(instrument, answers)
    except AnswerError as exc:
        raise CommandRejected("out_of_range", f"{exc}; ask it again") from None


def response_events(response_id: str, instrument: Instrument, pack: TextPack,
                    answers: dict[str, float], result: Result, timing: str, respondent: str,
                    language: str, actor: str) -> list[object]:
    """The events of a scored response: the response, then an alert per raised flag."""
    events: list[object] = [QuestionnaireResponse(
        response_id=response_id, instrument=instrument.id, version=instrument.version,
        respondent=respondent, timing=timing, language=language,  # type: ignore[arg-type]
        answers={k: float(v) for k, v in answers.items()},
        scores={k: v.value for k, v in result.scores.items()},
        flags=tuple(f.id for f in result.flags), complete=result.complete,
        text_source=pack.source, actor=actor)]  # type: ignore[arg-type]
    for flag in result.flags:
        events.append(Alert(
            code="questionnaire_flag", severity=SEVERITY[flag.level],  # type: ignore[arg-type]
            message=f"{instrument.name}: {flag.message}",
            details={"response_id": response_id, "instrument": instrument.id,
                     "flag": flag.id, "level": flag.level,
                     "requires_acknowledgement": flag.requires_acknowledgement}))
    return events


@dataclass
class Form:
    """A questionnaire being given in the scene, one item at a time."""

    form_id: str
    instrument: Instrument
    pack: TextPack
    timing: str
    language: str
    answers: dict[str, float] = field(default_factory=dict)
    _asked: list[str] | None = field(default=None, repr=False)
    """The items asked given the answers so far (worked out once per answer: the frame loop
    asks for the next item every frame)."""

    def _asked_now(self) -> list[str]:
        if self._asked is None:
            self._asked = score(self.instrument, self.answers).asked
        return self._asked

    def next_item(self) -> Item | None:
        """The next item to ask (its condition holds and it is unanswered), or None when done."""
        asked = self._asked_now()
        return next((item for item in self.instrument.items
                     if item.id in asked and item.id not in self.answers), None)

    def scale(self, item: Item) -> ResponseScale:
        """The scale ``item`` is answered on."""
        return self.instrument.scale_of(item)

    def answer(self, value: float) -> None:
        """Take the answer to the current item (:class:`AnswerError` if it is off its scale)."""
        item = self.next_item()
        if item is None:
            raise AnswerError(f"{self.instrument.id}: every item is answered")
        self.answers[item.id] = check_answer(self.instrument, item.id, value)
        self._asked = None

    def progress(self) -> tuple[int, int]:
        """``(answered, asked so far)``: for the panel's "3 of 10"."""
        return len(self.answers), len(self._asked_now())


def form_descriptions(catalogue: Catalogue, language: str = "en") -> list[dict[str, Any]]:
    """Every instrument that can be given in ``language``, with its wording, scales and
    conditions: what a console needs to show the form on its own screen (``describe``)."""
    forms = []
    for availability in catalogue.listing():
        instrument = availability.instrument
        pack = catalogue.packs.get((instrument.id, language))
        if pack is None:
            continue
        items = []
        for item in instrument.items:
            scale = instrument.scale_of(item)
            condition = item.asked_when
            items.append({
                "id": item.id, "number": item.number, "text": pack.items[item.id],
                "required": item.required,
                "scale": {"low": scale.low, "high": scale.high, "step": scale.step,
                          "kind": scale.kind},
                "anchors": pack.anchors.get(item.scale, {}),
                "asked_when": None if condition is None else condition.model_dump()})
        forms.append({
            "id": instrument.id, "version": instrument.version, "name": instrument.name,
            "title": pack.title, "instructions": pack.instructions,
            "respondent": instrument.respondent, "timing": list(instrument.timing),
            "validated": instrument.validated, "licence": pack.licence, "items": items})
    return forms
