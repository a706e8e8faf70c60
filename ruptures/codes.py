"""The 3RS codes a therapist uses to mark ruptures and their repair.

Short labels only, after the Rupture Resolution Rating System (3RS; Eubanks, Muran & Safran,
2015 manual; Eubanks & Muran, 2022): the manual's definitions and examples are not reproduced
(its licence is unknown); read them there. The 2015 category names are the commonly cited
ones and were not checked against the manual's text (``docs/ruptures.md``).
"""

from __future__ import annotations

WITHDRAWAL_MARKERS: dict[str, str] = {
    "denial": "Denial",
    "minimal_response": "Minimal response",
    "abstract_communication": "Abstract communication",
    "avoidant_storytelling": "Avoidant storytelling or shifting topic",
    "deferential_appeasing": "Deferential and appeasing",
    "content_affect_split": "Content/affect split",
    "self_criticism_hopelessness": "Self-criticism or hopelessness",
}
"""Movements away from the therapist or the work (3RS withdrawal markers)."""

CONFRONTATION_MARKERS: dict[str, str] = {
    "complaints_therapist": "Complaints or concerns about the therapist",
    "rejects_intervention": "Rejects the therapist's intervention",
    "complaints_activities": "Complaints or concerns about the activities of therapy",
    "complaints_parameters": "Complaints or concerns about the parameters of therapy",
    "complaints_progress": "Complaints or concerns about progress in therapy",
    "defends_self": "Defends self against the therapist",
    "control_pressure": "Efforts to control or pressure the therapist",
}
"""Movements against the therapist or the work (3RS confrontation markers)."""

MARKERS: dict[str, dict[str, str]] = {"withdrawal": WITHDRAWAL_MARKERS,
                                      "confrontation": CONFRONTATION_MARKERS}

RESOLUTION_STRATEGIES: dict[str, str] = {
    "clarify_misunderstanding": "Clarifies a misunderstanding",
    "change_task": "Changes tasks or goals",
    "give_rationale": "Illustrates tasks or gives a rationale",
    "invite_discussion": "Invites the client to talk about the relationship or the therapy",
    "acknowledge_contribution": "Acknowledges their own contribution to the rupture",
    "disclose_experience": "Discloses their experience of the interaction",
    "link_pattern_therapy": "Links the rupture to patterns between client and therapist",
    "link_pattern_life": "Links the rupture to patterns in the client's other relationships",
    "validate": "Validates the client's defensive posture",
    "redirect": "Redirects or refocuses the client",
}
"""What the therapist did to repair it (3RS resolution strategies). The avatar's repair lines
carry the same ids as their ``strategy`` (``avatar/lines``)."""

SALIENCE = {1: "not salient", 3: "somewhat salient", 5: "very salient"}
"""Anchors of the 1-5 salience scale (2 and 4 lie between)."""


def check_code(marker: str, code: str | None) -> None:
    """``ValueError`` naming the known codes if ``code`` is not one of ``marker``'s."""
    if code is None:
        return
    known = MARKERS.get(marker)
    if known is None:
        raise ValueError(f"unknown rupture marker {marker!r}; known: withdrawal, confrontation")
    if code not in known:
        raise ValueError(f"{code!r} is not a {marker} code; known: {', '.join(known)}")


def check_strategy(strategy: str) -> None:
    """``ValueError`` naming the known strategies if ``strategy`` is not one of them."""
    if strategy not in RESOLUTION_STRATEGIES and strategy != "unspecified":
        raise ValueError(f"unknown resolution strategy {strategy!r}; known: "
                         f"{', '.join(RESOLUTION_STRATEGIES)}")
