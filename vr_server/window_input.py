"""A client at a monitor: mouse-look, WASD to step, keys to rate and to stop.

Keys (shown in the window's title bar too):

* mouse: look around (the pointer is hidden and kept in the window);
* W A S D: step forward, left, back, right (walking speed, on the floor's plane);
* 0-9: answer an open rating with 0, 10, ... 90 % of its scale; ``=``: the top (SUDS: 0, 10,
  ... 100; the motion-sickness scale: 0, 2, ... 20); Y / N: yes / no to a consent
  question (numbers never answer consent); on a questionnaire item with a short scale (PHQ-9's
  0-3) the number is the answer itself, and Y / N answer a yes/no item;
* Space or Escape: **stop** (the client's own stop, applied in the next frame).
"""

from __future__ import annotations

import math
from typing import Any

from panda3d.core import WindowProperties

from vr_server.engine import Engine
from vr_server.host import SessionHost
from vr_server.stage import Stage

WALK_SPEED = 1.2
"""Metres per second: a calm walking pace."""
MOUSE_DEG_PER_PX = 0.15
KEYS = ("w", "a", "s", "d")


class WindowInput:
    """Mouse and keyboard of the window mode, driving the head node and the client's actions."""

    def __init__(self, engine: Engine, host: SessionHost, stage: Stage) -> None:
        self.engine = engine
        self.host = host
        self.stage = stage
        self.base: Any = engine.base
        self.held: dict[str, bool] = dict.fromkeys(KEYS, False)
        self.heading = engine.head.get_h()
        self.pitch = engine.head.get_p()
        self.pending: list[tuple[str, float, str | None]] = []
        """Key actions waiting for the next frame's start (see :meth:`apply`)."""
        self._events = [*KEYS, *(f"{k}-up" for k in KEYS), *map(str, range(10)), "=",
                        "y", "n", "space", "escape"]
        props = WindowProperties()
        props.set_cursor_hidden(True)
        props.set_mouse_mode(WindowProperties.M_confined)  # recentred each frame below
        props.set_title("vret - mouse: look, WASD: move, 0-9/=: rate, Y/N: consent, "
                        "Space/Esc: STOP")
        self.base.win.request_properties(props)
        for key in KEYS:
            self.base.accept(key, self._hold, [key, True])
            self.base.accept(f"{key}-up", self._hold, [key, False])
        for digit in range(10):
            self.base.accept(str(digit), self.rate, [digit * 10])
        self.base.accept("=", self.rate, [100])
        self.base.accept("y", self.answer_yes_no, [True])  # consent: only Y or N
        self.base.accept("n", self.answer_yes_no, [False])
        for key in ("space", "escape"):
            self.base.accept(key, self.stop)
        self.base.accept("t", self.too_much)

    def _hold(self, key: str, down: bool) -> None:
        self.held[key] = down

    def stop(self) -> None:
        """The client's stop key: safe place in the next frame, logged as the client's."""
        self.pending.append(("stop", 0.0, None))

    def too_much(self) -> None:
        """The client's "too much" key: the therapist is alerted (the exposure goes on)."""
        self.pending.append(("too_much", 0.0, None))

    def rate(self, value: int) -> None:
        """Answer the open rating check-in, if there is one (at the next frame)."""
        self.pending.append(("rate", float(value), self._open_id()))

    def answer_yes_no(self, yes: bool) -> None:
        """Answer the open consent question (a rating key never counts as consent)."""
        self.pending.append(("consent", 100.0 if yes else 0.0, self._open_id()))

    def _open_id(self) -> str | None:
        """What a key answers: the open check-in, or the current item of a questionnaire."""
        machine = self.host.machine
        if machine.open_checkin is not None:
            return machine.open_checkin.checkin_id
        form = machine.open_form
        item = form.next_item() if form is not None else None
        return f"{form.form_id}:{item.id}" if form is not None and item is not None else None

    def apply(self) -> None:
        """Apply the keys pressed since the last frame, at the start of this one: like a
        console's command, a key shows in the frame that applies it and is logged with it."""
        actions, self.pending = self.pending, []
        for action, value, checkin_id in actions:
            if action == "stop":
                self.host.client_stop("the client pressed stop (keyboard)")
                continue
            if action == "too_much":
                self.host.client_too_much()
                continue
            asked = self.host.machine.open_checkin
            if asked is None and checkin_id is not None and checkin_id == self._open_id():
                self._answer_item(action, value)
                continue
            # A key answers the question that was open when it was pressed, and only the
            # right kind of key: Y/N for consent, numbers for ratings.
            if asked is None or asked.checkin_id != checkin_id:
                continue
            if (asked.instrument == "consent") != (action == "consent"):
                continue
            scale = self.host.machine.checkin_scale(asked.instrument)
            if action == "rate" and scale is not None:
                # A number key is a tenth of the way up the instrument's scale (SUDS 0-100:
                # 0, 10, ... 90 and = for 100; the motion-sickness scale 0-20: 0, 2, ... 20).
                steps = round((scale.high - scale.low) * value / 100 / scale.step)
                value = scale.low + steps * scale.step
            self.host.answer_checkin(value)

    def _answer_item(self, action: str, value: float) -> None:
        """A key on a questionnaire item: Y/N on a yes/no item; on a short scale (at most 11
        values) the number key is the value itself (PHQ-9's 0-3), on a longer one a tenth of
        the way up, as for check-ins."""
        form = self.host.machine.open_form
        item = form.next_item() if form is not None else None
        if form is None or item is None:
            return
        scale = form.scale(item)
        if scale.kind == "yes_no":
            if action == "consent":
                self.host.answer_form(1.0 if value >= 100.0 else 0.0)
            return
        if action != "rate":
            return
        digit = round(value / 10)
        if scale.step == 1 and scale.high - scale.low <= 10:
            answer = scale.low + digit
            if answer > scale.high:
                return  # a key past the end of this scale answers nothing
        else:
            answer = scale.low + round((scale.high - scale.low) * value / 100 / scale.step) \
                * scale.step
        self.host.answer_form(answer)

    def update(self, dt: float) -> None:
        """Apply this frame's mouse motion and held keys to the head."""
        win = self.base.win
        pointer = win.get_pointer(0)
        cx, cy = win.get_x_size() // 2, win.get_y_size() // 2
        if pointer.get_in_window():
            dx, dy = pointer.get_x() - cx, pointer.get_y() - cy
            self.heading -= dx * MOUSE_DEG_PER_PX
            self.pitch = max(-80.0, min(80.0, self.pitch - dy * MOUSE_DEG_PER_PX))
            win.move_pointer(0, cx, cy)
        head = self.engine.head
        head.set_hpr(self.heading, self.pitch, 0)
        forward = (self.held["w"] - self.held["s"]) * WALK_SPEED * dt
        side = (self.held["d"] - self.held["a"]) * WALK_SPEED * dt
        if forward or side:
            rad = math.radians(self.heading)
            head.set_x(head.get_x() + side * math.cos(rad) - forward * math.sin(rad))
            head.set_y(head.get_y() + side * math.sin(rad) + forward * math.cos(rad))

    def close(self) -> None:
        """Stop listening to the keys (ShowBase's own handlers stay)."""
        for event in self._events:
            self.base.ignore(event)
