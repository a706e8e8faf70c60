"""The client's previous end-of-session alliance check, for the detector's ``alliance_drop``."""

from __future__ import annotations

from pathlib import Path

from telemetry.errors import TelemetryError
from telemetry.schemas import QuestionnaireResponse
from telemetry.store import SessionStore

ALLIANCE_CHECK = "vret_alliance_check"


def previous_alliance(store_path: Path, client_id: str, session_id: str) -> dict[str, float]:
    """Scores (``alliance``, ``guide``) of the client's alliance check in their latest earlier
    session that has one; empty for a first session (or a store that cannot be read)."""
    try:
        with SessionStore(store_path) as store:
            earlier = [s for s in store.sessions()
                       if s.client_id == client_id and s.session_id != session_id]
            for record in reversed(earlier):
                checks = [e.body for e in store.events(record.session_id)
                          if isinstance(e.body, QuestionnaireResponse)
                          and e.body.instrument == ALLIANCE_CHECK]
                if checks:
                    return {k: float(v) for k, v in checks[-1].scores.items()
                            if isinstance(v, int | float)}
    except (TelemetryError, OSError):
        return {}
    return {}
