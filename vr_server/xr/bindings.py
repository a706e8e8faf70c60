"""The controller actions and their default bindings for common controllers.

One action set, ``vret``, with these actions on both hands (``/user/hand/left`` and
``/user/hand/right``):

* ``trigger`` (float): answers the rating panel (the choice the controller points at);
* ``squeeze`` (float): the grip; held together with the trigger it is the stop chord;
* ``menu`` (boolean): on the Khronos simple controller, which has no grip, the stop chord is
  select + menu;
* ``thumbstick`` (vector): moves the highlighted choice on the panel left and right (no
  artificial locomotion: the client moves only by moving);
* ``thumbstick_click`` (boolean): answers the highlighted choice, like the trigger;
* ``aim`` and ``grip`` (poses): the pointing ray and the hand.

Eye gaze (``/interaction_profiles/ext/eye_gaze_interaction``) is bound when the runtime offers
XR_EXT_eye_gaze_interaction. Runtimes let users rebind all of this in their own settings; these
are only the defaults suggested to them.
"""

from __future__ import annotations

from typing import Literal

ActionKind = Literal["float", "boolean", "vector2", "pose"]

ACTIONS: dict[str, tuple[ActionKind, str]] = {
    "trigger": ("float", "Answer (trigger)"),
    "squeeze": ("float", "Grip (with the trigger: stop)"),
    "menu": ("boolean", "Menu (with select: stop)"),
    "thumbstick": ("vector2", "Choose on the panel"),
    "thumbstick_click": ("boolean", "Answer (thumbstick press)"),
    "aim": ("pose", "Pointing pose"),
    "grip": ("pose", "Hand pose"),
}
"""Action name -> (kind, the localised name runtimes show in their binding settings)."""

EYE_GAZE_PROFILE = "/interaction_profiles/ext/eye_gaze_interaction"
EYE_GAZE_PATH = "/user/eyes_ext/input/gaze_ext/pose"

_POSES = {"aim": "input/aim/pose", "grip": "input/grip/pose"}

PROFILES: dict[str, dict[str, dict[str, str]]] = {
    # Every hand's bindings, as the path under /user/hand/<hand>/.
    "/interaction_profiles/khr/simple_controller": {
        hand: {"trigger": "input/select/click", "menu": "input/menu/click", **_POSES}
        for hand in ("left", "right")},
    "/interaction_profiles/oculus/touch_controller": {
        "left": {"trigger": "input/trigger/value", "squeeze": "input/squeeze/value",
                 "menu": "input/menu/click", "thumbstick": "input/thumbstick",
                 "thumbstick_click": "input/thumbstick/click", **_POSES},
        # The right Touch's menu button belongs to the system (Oculus button).
        "right": {"trigger": "input/trigger/value", "squeeze": "input/squeeze/value",
                  "thumbstick": "input/thumbstick",
                  "thumbstick_click": "input/thumbstick/click", **_POSES}},
    "/interaction_profiles/valve/index_controller": {
        hand: {"trigger": "input/trigger/value", "squeeze": "input/squeeze/value",
               "thumbstick": "input/thumbstick",
               "thumbstick_click": "input/thumbstick/click", **_POSES}
        for hand in ("left", "right")},
    # The Vive's trackpad reports where a thumb rests on it, so it does not move the panel's
    # choice (a resting thumb would); its click answers.
    "/interaction_profiles/htc/vive_controller": {
        hand: {"trigger": "input/trigger/value", "squeeze": "input/squeeze/click",
               "menu": "input/menu/click", "thumbstick_click": "input/trackpad/click",
               **_POSES}
        for hand in ("left", "right")},
    "/interaction_profiles/microsoft/motion_controller": {
        hand: {"trigger": "input/trigger/value", "squeeze": "input/squeeze/click",
               "menu": "input/menu/click", "thumbstick": "input/thumbstick",
               "thumbstick_click": "input/thumbstick/click", **_POSES}
        for hand in ("left", "right")},
}
"""Interaction profile -> hand -> action -> input path (relative to ``/user/hand/<hand>/``)."""


def suggested(profile: str) -> list[tuple[str, str]]:
    """``(action, full input path)`` pairs to suggest for ``profile``."""
    return [(action, f"/user/hand/{hand}/{path}")
            for hand, actions in PROFILES[profile].items()
            for action, path in actions.items()]


STOP_HOLD_S = 0.5
"""How long the stop chord must be held: long enough that a client adjusting their grip does
not stop by accident, short enough to be a panic button. It fires in the frame the hold is
complete, so the stimulus is gone in that frame's image."""
PRESSED = 0.75
"""An analogue trigger or grip counts as held above this."""
RELEASED = 0.35
"""... and as let go below this (the gap keeps a half-pressed trigger from chattering)."""
