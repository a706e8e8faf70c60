"""The commands a console can send, with their argument models and channel.

A :class:`~telemetry.schemas.Command` on the wire carries a ``name`` and flat ``args``; the
server looks the name up here and validates the args against its model, so an error reply can
name the bad field. Commands on the ``control`` channel (stop, pause, safe place) are served by
their own socket and applied before any other queued command.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ruptures.codes import check_code, check_strategy
from telemetry.errors import InvalidMessage, UnknownCommand
from telemetry.schemas import I64, Command, NonNegInt, RuptureMarker, ShortText

Channel = Literal["control", "command"]


class CommandArgs(BaseModel):
    """Base of every command's arguments: strict, frozen, unknown fields forbidden."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: ClassVar[str]
    channel: ClassVar[Channel] = "command"

    def to_args(self) -> dict[str, Any]:
        """The flat ``args`` map for the wire (defaults omitted)."""
        return self.model_dump(exclude_defaults=True)


class Stop(CommandArgs):
    """Stop the exposure at once: stimulus removed, safe place shown. Always allowed."""

    name = "stop"
    channel = "control"
    reason: ShortText = ""


class Recentre(CommandArgs):
    """Put the client back at the scenario's viewpoint, facing its way, from where they stand
    or sit now (a headset's tracking; at a monitor or with the virtual client, the viewpoint
    itself). ``posture`` switches between standing (the real floor) and seated (the eyes at a
    seated height) at the same time."""

    name = "recentre"
    posture: Literal["standing", "seated"] | None = None
    reason: ShortText = ""


class Pause(CommandArgs):
    """Freeze the exposure where it is."""

    name = "pause"
    channel = "control"
    reason: ShortText = ""


class SafePlace(CommandArgs):
    """Show the calm safe place without ending the session."""

    name = "safe_place"
    channel = "control"
    reason: ShortText = ""


class Start(CommandArgs):
    """Begin the session (ready -> baseline) or the exposure (baseline -> exposure)."""

    name = "start"


class Resume(CommandArgs):
    """Return from pause, safe place or safe hold to where the session was before it."""

    name = "resume"


class End(CommandArgs):
    """Move to closing, then ended."""

    name = "end"
    reason: ShortText = ""


class SetLevel(CommandArgs):
    """Set the rung of the hierarchy and the intensity within it (0-1). ``ask_consent``: a
    step up waits for the client's yes even when the session's consent mode is off (an
    automatic controller's steps)."""

    name = "set_level"
    rung: Annotated[int, Field(ge=0, le=10_000)]
    intensity: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    reason: ShortText = ""
    ask_consent: bool = False


class AskCheckIn(CommandArgs):
    """Ask the client for a rating now."""

    name = "ask_checkin"
    instrument: Annotated[str, Field(min_length=1, max_length=64)] = "suds"
    prompt: ShortText = ""
    purpose: Literal["rating", "prediction", "before", "after"] = "rating"
    """``prediction``: the SUDS the client expects at this step; ``before`` / ``after``: the
    expectancy rated before an exposure trial and re-rated after it."""


class MarkRupture(CommandArgs):
    """Mark a rupture moment (quick mark now, coding in review), or confirm a detector's
    candidate (``candidate_id``: its window becomes the rupture's). ``subtype`` is a 3RS
    marker code of the marker (``ruptures.codes``); ``salience`` 1-5."""

    name = "mark_rupture"
    marker: RuptureMarker = "withdrawal"
    subtype: Annotated[str, Field(max_length=64)] | None = None
    salience: Annotated[int, Field(ge=1, le=5)] | None = None
    note: ShortText = ""
    candidate_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None

    @model_validator(mode="after")
    def _known_code(self) -> MarkRupture:
        check_code(self.marker, self.subtype)
        return self


class MarkRepair(CommandArgs):
    """Mark the repair of a rupture: the 3RS resolution strategy (``ruptures.codes``), whether
    it was resolved, and the avatar's repair line that carried it, if any."""

    name = "mark_repair"
    rupture_id: Annotated[str, Field(min_length=1, max_length=128)]
    strategy: Annotated[str, Field(min_length=1, max_length=64)]
    resolved: bool | None = None
    note: ShortText = ""
    line_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None

    @model_validator(mode="after")
    def _known_strategy(self) -> MarkRepair:
        check_strategy(self.strategy)
        return self


class DismissCandidate(CommandArgs):
    """The therapist judges a detector's candidate not to be a rupture."""

    name = "dismiss_candidate"
    candidate_id: Annotated[str, Field(min_length=1, max_length=128)]
    note: ShortText = ""


class RateRuptures(CommandArgs):
    """The therapist's global ratings of the session's ruptures (3RS, 1-5): their own
    contribution to them and how far they were resolved."""

    name = "rate_ruptures"
    therapist_contribution: Annotated[int, Field(ge=1, le=5)] | None = None
    resolution: Annotated[int, Field(ge=1, le=5)] | None = None
    note: ShortText = ""


class Annotate(CommandArgs):
    """Attach free text to this moment."""

    name = "annotate"
    text: Annotated[str, Field(min_length=1, max_length=4000)]


class Speak(CommandArgs):
    """Have the avatar say typed text, or a line of its line book by id (or both: the id
    names the line the text was chosen from)."""

    name = "speak"
    text: Annotated[str, Field(max_length=4000)] = ""
    line_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None

    @model_validator(mode="after")
    def _something_to_say(self) -> Speak:
        if not self.text.strip() and self.line_id is None:
            raise ValueError("give text (1-4000 characters) or a line_id")
        return self


class Gesture(CommandArgs):
    """Have the avatar make a gesture (``nod``, ``open_hands``, ``point``, ``breathe``)."""

    name = "gesture"
    gesture: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class Trigger(CommandArgs):
    """Play one of the scenario's live events (its names are in the scenario's spec)."""

    name = "trigger"
    event: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]


class Describe(CommandArgs):
    """What the server runs: its ack carries ``spec``, a JSON text with the scenario (name,
    rungs, parameters with bounds, units and labels, live events), the avatar's lines and
    gestures, and the session's settings. Consoles build their controls from it. No event."""

    name = "describe"


class Configure(CommandArgs):
    """The session plan, sent by the console as the session starts (in ``ready`` or
    ``baseline``): collaborative consent on or off, the check-in schedule, and what the
    console will do (its controller, target band, starting and maximum rung) for the record."""

    name = "configure"
    client_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    scenario: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    """The scenario the plan is for: refused if the session runs another."""
    consent: bool | None = None
    checkin_every_s: Annotated[float, Field(gt=0.0, le=86_400.0)] | None = None
    start_rung: Annotated[int, Field(ge=0, le=10_000)] | None = None
    max_rung: Annotated[int, Field(ge=0, le=10_000)] | None = None
    band_low: Annotated[float, Field(ge=0.0, le=100.0)] = 40.0
    band_high: Annotated[float, Field(ge=0.0, le=100.0)] = 70.0
    controller: Literal["manual", "suggest", "auto"] = "manual"
    trial_criterion: Literal["time", "suds_drop", "expectancy"] = "time"
    """When an exposure trial (a stay at one rung) has done its work: after ``trial_min_s``,
    when SUDS fell to half its peak, or when the expectancy was re-rated after it."""
    trial_min_s: Annotated[float, Field(gt=0.0, le=7200.0)] = 120.0

    @model_validator(mode="after")
    def _band_in_order(self) -> Configure:
        if self.band_low >= self.band_high:
            raise ValueError(f"band_low ({self.band_low:g}) must be below band_high "
                             f"({self.band_high:g})")
        return self


class LogDecision(CommandArgs):
    """Record a difficulty controller's proposal, its acceptance or rejection, or a step it
    took, with the reasons (the inputs and thresholds it used)."""

    name = "log_decision"
    decision: Annotated[str, Field(pattern=r"^[a-z][a-z_]{0,31}$")]
    """``proposed``, ``accepted``, ``rejected``, ``withdrawn``, ``superseded``,
    ``consent_requested``, ``consent_given``, ``consent_refused``, ``step_taken``,
    ``checkin_requested``, ``level_changed``, ``mode_changed``."""
    action: Literal["step_up", "step_down", "hold", "ask_checkin"] | None = None
    proposal_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None
    from_rung: Annotated[int, Field(ge=0, le=10_000)] | None = None
    to_rung: Annotated[int, Field(ge=0, le=10_000)] | None = None
    mode: Literal["manual", "suggest", "auto"] = "suggest"
    summary: ShortText = ""
    reasons: ShortText = ""
    """The inputs and thresholds used, as JSON text (args are flat on the wire)."""
    actor: Literal["therapist", "controller"] = "controller"


class SubmitQuestionnaire(CommandArgs):
    """Record a questionnaire answered outside the scene (screening on the console, the
    therapist's end-of-session form) or by the client's panel: scored by the instrument's
    definition; an answer off its scale is refused naming the item (ask it again)."""

    name = "submit_questionnaire"
    instrument: Annotated[str, Field(min_length=1, max_length=64)]
    answers: Annotated[str, Field(min_length=2, max_length=4000)]
    """JSON object text: item id -> canonical value (args are flat on the wire)."""
    timing: Literal["screening", "start", "during", "trial", "end"] = "screening"
    respondent: Literal["client", "therapist"] = "client"
    language: Annotated[str, Field(min_length=2, max_length=16)] = "en"


class GiveQuestionnaire(CommandArgs):
    """Give a questionnaire to the client in the scene: the rating panel shows its items one
    at a time (asked only when their condition holds), answered with the client's input;
    scored and logged when the last is answered. Not during exposure."""

    name = "give_questionnaire"
    instrument: Annotated[str, Field(min_length=1, max_length=64)]
    timing: Literal["screening", "start", "during", "trial", "end"] = "end"
    language: Annotated[str, Field(min_length=2, max_length=16)] = "en"


class AcknowledgeRisk(CommandArgs):
    """A clinician acknowledges a response's risk flags (after assessing the client); exposure
    cannot start while a risk flag is unacknowledged."""

    name = "acknowledge_risk"
    response_id: Annotated[str, Field(min_length=1, max_length=128)]
    note: ShortText = ""


class ClockOffset(CommandArgs):
    """A console's clock-offset estimate, recorded in the session store for analysis."""

    name = "clock_offset"
    offset_ns: I64
    rtt_ns: NonNegInt
    probes: Annotated[int, Field(ge=1, le=1000)]
    t_console_ns: I64


COMMANDS: dict[str, type[CommandArgs]] = {
    cls.name: cls
    for cls in (
        Stop, Pause, SafePlace, Start, Resume, End, SetLevel, AskCheckIn, MarkRupture,
        MarkRepair, Annotate, Speak, Gesture, Trigger, ClockOffset, Describe, Configure,
        LogDecision, SubmitQuestionnaire, GiveQuestionnaire, AcknowledgeRisk,
        DismissCandidate, RateRuptures, Recentre,
    )
}
CONTROL_COMMANDS: frozenset[str] = frozenset(
    n for n, c in COMMANDS.items() if c.channel == "control"
)


def parse_args(command: Command) -> CommandArgs:
    """Validate a command's args against its model; errors name the command and the field."""
    model = COMMANDS.get(command.name)
    if model is None:
        raise UnknownCommand(
            f"unknown command {command.name!r}; known: {', '.join(sorted(COMMANDS))}",
            command_id=command.id,
        )
    try:
        return model.model_validate(command.args)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'args'}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise InvalidMessage(f"{command.name}: {problems}", command_id=command.id) from exc
