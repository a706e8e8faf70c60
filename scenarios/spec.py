"""A scenario's difficulty as data: parameters with bounds and units, a hierarchy of rungs.

The console builds its controls from this, the server validates every level against it, and a
scenario developer gets an error naming the bad field when a definition is wrong::

    ScenarioSpec
    ├── parameters: Parameter(name, label, unit, minimum, maximum, rate)   rate = units/second
    ├── rungs:      Rung(label, description, values{parameter: value}, peak{...}?)
    └── live_events: LiveEvent(name, label, description)

A level is a rung plus an intensity in [0, 1] within it. At intensity 0 the scene takes the rung's
``values``; intensity moves each parameter linearly toward the rung's ``peak`` (by default the
next rung's values; the top rung's own values), so the whole hierarchy is one continuous path
from the mildest to the harshest setting. (A rung with its own ``peak`` below the top breaks
that path; the built-in scenarios give a peak only to their top rung.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,47}")
Identifier = Annotated[str, Field(pattern=IDENTIFIER.pattern, min_length=1, max_length=48)]
Label = Annotated[str, Field(min_length=1, max_length=80)]
Text = Annotated[str, Field(max_length=1000)]


class SpecModel(BaseModel):
    """Strict, frozen, unknown fields forbidden: a typo in a scenario file is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


class Parameter(SpecModel):
    """One scene parameter the hierarchy moves: bounds, unit, and how fast it may change."""

    name: Identifier
    label: Label
    unit: Annotated[str, Field(max_length=16)] = ""
    minimum: float
    maximum: float
    rate: Annotated[float, Field(gt=0)]
    """The largest change per second of session time: no frame moves the parameter further,
    so a step up is always a ramp the client can see coming, never a jump."""
    description: Text = ""

    @model_validator(mode="after")
    def _bounds_ordered(self) -> Parameter:
        if not self.minimum < self.maximum:
            raise ValueError(f"minimum ({self.minimum}) must be below maximum ({self.maximum})")
        return self

    def check(self, value: float, where: str) -> None:
        """Raise ``ValueError`` naming ``where`` when ``value`` is outside the bounds."""
        if not self.minimum <= value <= self.maximum:
            unit = f" {self.unit}" if self.unit else ""
            raise ValueError(f"{where}: {value:g}{unit} is outside {self.name!r}'s bounds "
                             f"{self.minimum:g}-{self.maximum:g}{unit}")


class Rung(SpecModel):
    """One step of the fear hierarchy, described so a therapist knows what the client meets."""

    label: Label
    description: Text
    values: dict[str, float]
    peak: dict[str, float] | None = None
    """Values at intensity 1 within this rung; by default the next rung's values."""


class LiveEvent(SpecModel):
    """A scenario-specific moment the therapist can trigger (``spider walks toward you``)."""

    name: Identifier
    label: Label
    description: Text = ""
    escalates: bool = True
    """Whether the event makes the exposure harsher; such events are refused outside exposure."""


class ScenarioSpec(SpecModel):
    """Everything the server and the console need to know about a scenario, as data."""

    name: Identifier
    title: Label
    description: Text
    parameters: Annotated[tuple[Parameter, ...], Field(min_length=1, max_length=64)]
    rungs: Annotated[tuple[Rung, ...], Field(min_length=1, max_length=64)]
    live_events: tuple[LiveEvent, ...] = ()
    graded: bool = True
    """False for scenes that are not a fear hierarchy (the safe place): rungs are variants."""
    viewpoint: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Where the client stands (feet, metres; Z up)."""
    view_heading: float = 0.0
    """Which way the client faces by default (degrees about Z; 0 looks along +Y)."""
    eye_height: Annotated[float, Field(gt=0.3, lt=2.5)] = 1.65
    """Eye height above the viewpoint (1.65 m standing; about 1.2 m seated)."""
    view_pitch: float = 0.0
    """How far the client looks up (positive) or down (negative) by default, in degrees."""

    @field_validator("parameters")
    @classmethod
    def _unique_parameters(cls, value: tuple[Parameter, ...]) -> tuple[Parameter, ...]:
        names = [p.name for p in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"parameter names must be unique; repeated: {duplicates}")
        return value

    @model_validator(mode="after")
    def _rungs_complete(self) -> ScenarioSpec:
        by_name = {p.name: p for p in self.parameters}
        for index, rung in enumerate(self.rungs):
            for field in ("values", "peak"):
                values = getattr(rung, field)
                if values is None:
                    continue
                where = f"rungs[{index}] ({rung.label!r}).{field}"
                missing = [n for n in by_name if n not in values]
                unknown = [n for n in values if n not in by_name]
                if unknown:
                    raise ValueError(f"{where}: unknown parameter(s) {unknown}; "
                                     f"known: {list(by_name)}")
                if missing:
                    raise ValueError(f"{where}: missing value(s) for {missing}")
                for name, value in values.items():
                    by_name[name].check(value, f"{where}.{name}")
        events = [e.name for e in self.live_events]
        if len(events) != len(set(events)):
            raise ValueError(f"live event names must be unique: {events}")
        return self

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """The parameter names in declaration order."""
        return tuple(p.name for p in self.parameters)

    def parameter(self, name: str) -> Parameter:
        """The parameter called ``name`` (``KeyError`` naming it when there is none)."""
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(f"{self.name} has no parameter {name!r}")

    def level_values(self, rung: int, intensity: float) -> dict[str, float]:
        """The parameter values for a level: the rung's values moved toward its peak."""
        if not 0 <= rung < len(self.rungs):
            raise ValueError(f"rung {rung} is out of range: {self.name} has rungs "
                             f"0-{len(self.rungs) - 1}")
        if not 0.0 <= intensity <= 1.0:
            raise ValueError(f"intensity {intensity} is outside 0-1")
        here = self.rungs[rung]
        peak: Mapping[str, float] = here.peak if here.peak is not None else (
            self.rungs[rung + 1].values if rung + 1 < len(self.rungs) else here.values)
        return {n: here.values[n] + (peak[n] - here.values[n]) * intensity
                for n in self.parameter_names}

    def as_data(self) -> dict[str, object]:
        """A plain-data description for consoles (JSON-able)."""
        return self.model_dump(mode="json")
