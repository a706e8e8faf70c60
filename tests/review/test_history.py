"""A client's sessions over time: the hierarchy climbed and alliance drops flagged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from review.history import client_history, drops
from telemetry.store import SessionStore
from tests.review.conftest import CLIENT, Recorded


def test_history_over_two_sessions_flags_the_alliance_drop(second: Recorded) -> None:
    with SessionStore.in_dir(second.data_dir, create=False) as store:
        history = client_history(store, CLIENT)
    assert [s.session_id for s in history] == ["s-review", "s-review-2"]
    first, later = history
    assert first.top_rung == 4 and later.top_rung == 2
    assert 2 in first.peak_suds and 2 in later.peak_suds
    # (8 + 9 + 7 + 8) / 4 = 8 then (5 + 6 + 5 + 6) / 4 = 5.5: a fall of 2.5 >= 1.
    assert first.end_scores[("vret_alliance_check", "alliance")] == 8.0
    (drop,) = [d for d in drops(history) if d.key == ("vret_alliance_check", "alliance")]
    assert (drop.session_id, drop.before, drop.after) == ("s-review-2", 8.0, 5.5)
    assert not [d for d in drops(history) if d.key[1] == "guide"]  # 9 -> 8: below 2


def test_vret_review_client_writes_the_history(second: Recorded, tmp_path: Path) -> None:
    out = tmp_path / "history.html"
    done = subprocess.run([sys.executable, "-m", "vret", "review", "--client", CLIENT,
                           "--data-dir", str(second.data_dir), "-o", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "client history (2 sessions)" in done.stdout
    text = out.read_text()
    for section in ('id="sessions"', 'id="hierarchy"', 'id="alliance"'):
        assert section in text
    assert "fell from 8 to 5.5" in text and 'class="drop"' in text


def test_an_unknown_client_is_named_with_the_known_ones(second: Recorded) -> None:
    with SessionStore.in_dir(second.data_dir, create=False) as store, \
            pytest.raises(ValueError, match="no session of client 'c-nobody'; clients: "
                                            "c-review"):
        client_history(store, "c-nobody")
