"""What the avatar says next: a queue with priorities.

* ``SAFETY`` (stop, panic, grounding) interrupts anything, at once: the frame that queues it
  shows it.
* ``THERAPIST`` (the therapist's typed or chosen line) interrupts scheduled and scripted lines.
* ``SCHEDULED`` (check-in prompts, consent questions) waits for the therapist, interrupts chatter.
* ``CHATTER`` (scripted encouragement) is dropped rather than queued behind anything else.

Pure logic on session time in seconds; the avatar turns :attr:`SpeechQueue.current` into a
caption, mouth movement and audio. :attr:`SpeechQueue.journal` says what became of each line
(started, interrupted, dropped) for the session log: a line is logged when it is said, not
when it is asked for, and a line cut off or never said is logged as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal


class Priority(IntEnum):
    """Who asked for a line; higher interrupts lower."""

    CHATTER = 0
    SCHEDULED = 1
    THERAPIST = 2
    SAFETY = 3


WORDS_PER_SECOND = 2.4
"""A calm speaking pace (about 145 words a minute)."""


def speaking_time(text: str) -> float:
    """How long saying ``text`` takes at a calm pace, with a short pause after it."""
    return 0.6 + len(text.split()) / WORDS_PER_SECOND


@dataclass
class Utterance:
    """One line to say: its text, where it came from, and how urgent it is."""

    text: str
    priority: Priority
    line_id: str | None = None
    duration_s: float = 0.0
    started_s: float | None = None
    tag: str | None = None
    """What the line belongs to (a check-in's id): dropped, if still waiting, when that ends."""
    actor: str = "therapist"
    """Who asked for it: ``therapist``, ``server`` (safety lines) or ``script`` (schedule)."""

    def __post_init__(self) -> None:
        if not self.duration_s:
            self.duration_s = speaking_time(self.text)


Outcome = Literal["started", "interrupted", "dropped"]


@dataclass
class SpeechQueue:
    """The line being said and the lines waiting, by priority then order of arrival."""

    current: Utterance | None = None
    waiting: list[Utterance] = field(default_factory=list)
    interrupted: list[Utterance] = field(default_factory=list)
    """Lines cut off by a more urgent one (for the log and the tests)."""
    journal: list[tuple[Outcome, Utterance, float]] = field(default_factory=list)
    """What happened to lines, in order, with the session time: ``started`` (it is being said
    from now), ``interrupted`` (cut off by a more urgent line) or ``dropped`` (never said).
    The owner drains it into the session log."""

    def push(self, utterance: Utterance, now_s: float) -> None:
        """Queue a line; a more urgent one than the current interrupts it at once."""
        current = self.current
        urgent = utterance.priority == Priority.SAFETY
        if current is not None and (utterance.priority > current.priority or urgent):
            # A safety line interrupts anything, another safety line included: the latest
            # (the grounding after a stop) is what the moment needs.
            self.interrupted.append(current)
            self.journal.append(("interrupted", current, now_s))
            if utterance.priority == Priority.SAFETY:
                # Nothing that was waiting is said after a stop: the moment has changed.
                for u in self.waiting:
                    if u.priority != Priority.SAFETY:
                        self.journal.append(("dropped", u, now_s))
                self.waiting = [u for u in self.waiting if u.priority == Priority.SAFETY]
            self._start(utterance, now_s)
            return
        if current is None:
            self._start(utterance, now_s)
            return
        if utterance.priority == Priority.CHATTER:
            self.journal.append(("dropped", utterance, now_s))
            return  # never queue chatter behind anything
        self.waiting.append(utterance)
        self.waiting.sort(key=lambda u: -u.priority)  # stable: arrival order within a level

    def update(self, now_s: float) -> Utterance | None:
        """Finish the current line when its time is up and start the next; returns the line
        that started in this call, if any."""
        current = self.current
        if current is not None and current.started_s is not None and \
                now_s - current.started_s >= current.duration_s:
            self.current = None
        if self.current is None and self.waiting:
            return self._start(self.waiting.pop(0), now_s)
        return None

    def drop(self, tag: str, now_s: float = 0.0) -> list[Utterance]:
        """The lines tagged ``tag`` are moot (the question they ask was answered or
        withdrawn): the waiting ones are dropped and one being said is cut off, so the next
        line begins. Returns the dropped (never said) ones."""
        dropped = [u for u in self.waiting if u.tag == tag]
        self.waiting = [u for u in self.waiting if u.tag != tag]
        self.journal.extend(("dropped", u, now_s) for u in dropped)
        current = self.current
        if current is not None and current.tag == tag:
            self.interrupted.append(current)
            self.journal.append(("interrupted", current, now_s))
            self.current = None
        return dropped

    def clear(self, now_s: float = 0.0) -> None:
        """Say nothing more (the session ended): the line being said is cut off, and the
        waiting ones are dropped."""
        if self.current is not None and self.current.started_s is not None and \
                now_s - self.current.started_s < self.current.duration_s:
            self.journal.append(("interrupted", self.current, now_s))
        self.journal.extend(("dropped", u, now_s) for u in self.waiting)
        self.current = None
        self.waiting.clear()

    def _start(self, utterance: Utterance, now_s: float) -> Utterance:
        utterance.started_s = now_s
        self.current = utterance
        self.journal.append(("started", utterance, now_s))
        return utterance
