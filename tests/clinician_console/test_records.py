"""The console's records of clients, fear hierarchies and session plans, on real SQLite files,
checked against the installed scenarios and a session store written by the server's own API."""

from __future__ import annotations

import re
import sqlite3
import stat
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from clinician_console.records import (
    CLIENT_ID_RE,
    RECORDS_FILENAME,
    SCHEMA_VERSION,
    Client,
    HierarchyItem,
    RecordError,
    RecordsStore,
    SessionPlan,
    new_client_id,
)
from scenarios import registry
from telemetry.errors import StoreVersionError
from telemetry.schemas import Annotation
from telemetry.store import SessionStore
from vr_server import host

HEIGHTS_TOP = len(registry.load("heights").spec.rungs) - 1


def _items() -> list[HierarchyItem]:
    return [
        HierarchyItem(situation="standing on a balcony", initial_suds=70, scenario="heights",
                      rung=4),
        HierarchyItem(situation="looking out of a 3rd floor window", initial_suds=30,
                      scenario="heights", rung=1),
        HierarchyItem(situation="a spider in the bath", initial_suds=85, scenario="spiders",
                      rung=3),
        HierarchyItem(situation="a lift with the door closed", initial_suds=30,
                      scenario="enclosed", rung=2),
    ]


def _field_error(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[Any, ...]:
    """The field the (single) validation error is about."""
    errors = exc.value.errors()
    assert len(errors) == 1, errors
    return tuple(errors[0]["loc"])


# ---------------------------------------------------------------- clients


def test_clients_round_trip_and_survive_reopening(tmp_path: Path) -> None:
    created = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=1)))
    with RecordsStore.in_dir(tmp_path) as records:
        first = records.add_client(Client(created=created, goal="take the lift to work"))
        second = records.add_client()
        assert CLIENT_ID_RE.fullmatch(second.client_id)
        assert first.client_id != second.client_id
        assert records.get_client(first.client_id) == first
    assert (tmp_path / RECORDS_FILENAME).is_file()
    with RecordsStore.in_dir(tmp_path) as records:
        again = records.get_client(first.client_id)
        assert again == first
        assert again.created == created and again.created.tzinfo == UTC
        assert again.goal == "take the lift to work"
        assert records.get_client(second.client_id).goal is None
        assert [c.client_id for c in records.list_clients()] == [first.client_id,
                                                                second.client_id]


def test_console_and_server_ids_are_the_same_kind(tmp_path: Path) -> None:
    # An id the server generated is accepted as is, so the server's sessions link to it.
    server_id = host.new_client_id()
    assert CLIENT_ID_RE.fullmatch(server_id) and CLIENT_ID_RE.fullmatch(new_client_id())
    with RecordsStore.in_dir(tmp_path) as records:
        assert records.add_client(Client(client_id=server_id)).client_id == server_id


@pytest.mark.parametrize("bad", ["Jane Doe", "jane", "c-1", "C-0A1B2C3D", "c-0a1b2c3d4",
                                 "c-0a1b2c3d\nJane", "c-0a1b2c3g", ""])
def test_a_client_id_that_is_not_pseudonymous_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Client(client_id=bad)
    assert _field_error(exc) == ("client_id",)


def test_surrounding_whitespace_is_dropped_not_stored() -> None:
    # Typed or pasted input often ends in a newline; the stored values are the clean ones.
    assert Client(client_id=" c-0a1b2c3d\n").client_id == "c-0a1b2c3d"
    item = HierarchyItem(situation="  on a balcony ", initial_suds=60, scenario="heights\n",
                         rung=2)
    assert (item.situation, item.scenario) == ("on a balcony", "heights")


def test_bad_client_fields_are_named() -> None:
    with pytest.raises(ValidationError) as exc:
        Client(goal="x" * 501)
    assert _field_error(exc) == ("goal",)
    with pytest.raises(ValidationError) as exc:
        Client(goal="   ")
    assert _field_error(exc) == ("goal",)
    with pytest.raises(ValidationError) as exc:
        Client(created=datetime(2026, 1, 1))  # naive: whose clock?
    assert _field_error(exc) == ("created",)
    with pytest.raises(ValidationError) as exc:
        Client(name="Jane Doe")  # type: ignore[call-arg]
    assert _field_error(exc) == ("name",)
    assert "Extra inputs are not permitted" in str(exc.value)


def test_duplicate_and_unknown_clients_are_errors(tmp_path: Path) -> None:
    with RecordsStore.in_dir(tmp_path) as records:
        client = records.add_client()
        with pytest.raises(RecordError, match=f"client '{client.client_id}' already exists"):
            records.add_client(Client(client_id=client.client_id))
        with pytest.raises(RecordError, match="no client 'c-00000000'"):
            records.get_client("c-00000000")
        with pytest.raises(RecordError, match="no client"):
            records.set_hierarchy("c-00000000", _items())
        with pytest.raises(RecordError, match="no client"):
            records.save_plan("c-00000000", SessionPlan(scenario="heights"))
        assert records.list_clients() == [client]


# ---------------------------------------------------------------- hierarchy


def test_hierarchy_is_ordered_by_initial_suds_and_replaced_as_a_whole(tmp_path: Path) -> None:
    with RecordsStore.in_dir(tmp_path) as records:
        client = records.add_client().client_id
        stored = records.set_hierarchy(client, _items())
        # Mildest first; the two rated 30 keep the order they were given in.
        assert [i.initial_suds for i in stored] == [30, 30, 70, 85]
        assert [i.situation for i in stored[:2]] == ["looking out of a 3rd floor window",
                                                     "a lift with the door closed"]
        assert records.list_hierarchy(client) == stored
        grown = records.add_hierarchy_item(client, HierarchyItem(
            situation="speaking up in a meeting", initial_suds=50, scenario="public_speaking",
            rung=2))
        assert [i.initial_suds for i in grown] == [30, 30, 50, 70, 85]
    with RecordsStore.in_dir(tmp_path) as records:
        assert records.list_hierarchy(client) == grown
        replaced = records.set_hierarchy(client, _items()[:1])
        assert records.list_hierarchy(client) == replaced == _items()[:1]
        assert records.set_hierarchy(client, []) == []
        assert records.list_hierarchy(client) == []


def test_an_item_beyond_the_scenarios_rungs_is_refused(tmp_path: Path) -> None:
    assert HEIGHTS_TOP == 6  # the built-in heights hierarchy
    with RecordsStore.in_dir(tmp_path) as records:
        client = records.add_client().client_id
        records.set_hierarchy(client, _items())
        before = records.list_hierarchy(client)
        top = HierarchyItem(situation="standing on a balcony", initial_suds=90,
                            scenario="heights", rung=HEIGHTS_TOP)
        records.check_item(top)  # the top rung itself is fine
        beyond = HierarchyItem(situation="standing on a balcony", initial_suds=90,
                               scenario="heights", rung=9)
        with pytest.raises(RecordError) as exc:
            records.set_hierarchy(client, [*_items()[1:], beyond])
        assert str(exc.value) == ("hierarchy item 'standing on a balcony': rung 9 is beyond "
                                  "scenario 'heights' (rungs 0-6)")
        with pytest.raises(RecordError, match="rung 7 is beyond scenario 'heights'"):
            records.add_hierarchy_item(client, HierarchyItem(
                situation="on a roof", initial_suds=95, scenario="heights", rung=7))
        unknown = HierarchyItem(situation="snakes", initial_suds=60, scenario="snakes", rung=0)
        with pytest.raises(RecordError, match="hierarchy item 'snakes': scenario: no scenario "
                                              "named 'snakes'"):
            records.set_hierarchy(client, [unknown])
        # Nothing of a refused hierarchy was written.
        assert records.list_hierarchy(client) == before


def test_repeated_situations_are_refused(tmp_path: Path) -> None:
    with RecordsStore.in_dir(tmp_path) as records:
        client = records.add_client().client_id
        with pytest.raises(RecordError, match="situation repeated: \\['standing on a balcony'\\]"):
            records.set_hierarchy(client, [_items()[0], _items()[0]])


def test_the_scenario_lookup_can_be_injected(tmp_path: Path) -> None:
    asked: list[str] = []

    def rungs_of(scenario: str) -> Sequence[str]:
        asked.append(scenario)
        if scenario != "lighthouse":
            raise LookupError(f"not in this practice: {scenario!r}")
        return ("shore", "gallery")

    with RecordsStore.in_dir(tmp_path, rungs_of=rungs_of) as records:
        client = records.add_client().client_id
        item = HierarchyItem(situation="the gallery rail", initial_suds=60,
                             scenario="lighthouse", rung=1)
        assert records.set_hierarchy(client, [item]) == [item]
        with pytest.raises(RecordError, match="rung 2 is beyond scenario 'lighthouse' "
                                              "\\(rungs 0-1\\)"):
            records.check_item(item.model_copy(update={"rung": 2}))
        with pytest.raises(RecordError, match="scenario: not in this practice: 'heights'"):
            records.check_item(_items()[0])
    assert asked == ["lighthouse", "lighthouse", "heights"]


@pytest.mark.parametrize(("field", "value"), [
    ("situation", ""), ("situation", "   "), ("situation", "x" * 201), ("situation", 5),
    ("initial_suds", -1), ("initial_suds", 101), ("initial_suds", 50.5), ("initial_suds", True),
    ("initial_suds", "50"),
    ("scenario", "Heights"), ("scenario", "../evil.py"), ("scenario", "heights\nx"),
    ("rung", -1), ("rung", 1.0), ("rung", None),
])
def test_bad_item_fields_are_named(field: str, value: object) -> None:
    data: dict[str, object] = {"situation": "on a balcony", "initial_suds": 60,
                               "scenario": "heights", "rung": 2}
    data[field] = value
    with pytest.raises(ValidationError) as exc:
        HierarchyItem.model_validate(data)
    assert _field_error(exc)[0] == field
    assert field in str(exc.value)


# ---------------------------------------------------------------- plans


def test_plans_round_trip_and_keep_their_history(tmp_path: Path) -> None:
    with RecordsStore.in_dir(tmp_path) as records:
        client = records.add_client().client_id
        assert records.get_plan(client) is None and records.plan_history(client) == []
        default = SessionPlan(scenario="heights")
        assert (default.start_rung, default.band, default.controller, default.checkin_every_s,
                default.consent, default.max_rung) == (0, (40, 70), "manual", None, False, None)
        assert (default.trial_criterion, default.trial_min_s) == ("time", 120.0)
        first = records.save_plan(client, default)
        full = SessionPlan(scenario="spiders", start_rung=2, band=(30, 60), controller="suggest",
                           checkin_every_s=90.0, consent=True, max_rung=5,
                           trial_criterion="expectancy", trial_min_s=60.0)
        second = records.save_plan(client, full)
        assert records.get_plan(client) == full
        assert second.plan_id > first.plan_id and second.saved >= first.saved
    with RecordsStore.in_dir(tmp_path) as records:
        assert records.get_plan(client) == full
        assert records.plan_history(client) == [first, second]
        # A saved plan is part of the record: SQL cannot rewrite or drop it either.
        for statement in ("UPDATE session_plans SET start_rung=0",
                          "DELETE FROM session_plans"):
            with pytest.raises(sqlite3.IntegrityError, match="kept as they were"):
                records._db.execute(statement)
        assert records.plan_history(client) == [first, second]


def test_plans_beyond_the_scenarios_rungs_are_refused(tmp_path: Path) -> None:
    with RecordsStore.in_dir(tmp_path) as records:
        client = records.add_client().client_id
        records.save_plan(client, SessionPlan(scenario="heights", start_rung=HEIGHTS_TOP))
        with pytest.raises(RecordError) as exc:
            records.save_plan(client, SessionPlan(scenario="heights", start_rung=9))
        assert str(exc.value) == ("session plan: start_rung 9 is beyond scenario 'heights' "
                                  "(rungs 0-6)")
        with pytest.raises(RecordError, match="session plan: max_rung 7 is beyond"):
            records.save_plan(client, SessionPlan(scenario="heights", start_rung=1, max_rung=7))
        with pytest.raises(RecordError, match="session plan: scenario: no scenario named"):
            records.save_plan(client, SessionPlan(scenario="snakes"))
        assert len(records.plan_history(client)) == 1


@pytest.mark.parametrize(("field", "value", "message"), [
    ("band", (70, 40), "low (70) must be below high (40)"),
    ("band", (50, 50), "low (50) must be below high (50)"),
    ("band", (40, 101), "less than or equal to 100"),
    ("band", (-1, 70), "greater than or equal to 0"),
    ("band", (40,), "Field required"),
    ("controller", "robot", "'manual', 'suggest' or 'auto'"),
    ("checkin_every_s", 0, "greater than 0"),
    ("checkin_every_s", -30.0, "greater than 0"),
    ("checkin_every_s", float("inf"), "finite number"),
    ("checkin_every_s", "60", "valid number"),
    ("consent", "yes", "valid boolean"),
    ("consent", 1, "valid boolean"),
    ("start_rung", -1, "greater than or equal to 0"),
    ("max_rung", -2, "greater than or equal to 0"),
    ("scenario", "heights.py", "should match pattern"),
])
def test_bad_plan_fields_are_named(field: str, value: object, message: str) -> None:
    data: dict[str, object] = {"scenario": "heights", field: value}
    with pytest.raises(ValidationError) as exc:
        SessionPlan.model_validate(data)
    assert _field_error(exc)[0] == field
    assert message in str(exc.value)


def test_max_rung_below_start_rung_is_refused() -> None:
    with pytest.raises(ValidationError, match="max_rung \\(2\\) is below start_rung \\(3\\)"):
        SessionPlan(scenario="heights", start_rung=3, max_rung=2)
    assert SessionPlan(scenario="heights", start_rung=3, max_rung=3).max_rung == 3
    assert SessionPlan(scenario="heights", band=[20, 50]).band == (20, 50)


# ---------------------------------------------------------------- past sessions


def test_past_sessions_lists_only_that_clients_sessions(tmp_path: Path) -> None:
    server_dir = tmp_path / "server-data"
    client, other = host.new_client_id(), host.new_client_id()
    start = datetime(2026, 4, 2, 14, 0, tzinfo=UTC)
    ns = (start - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000
    minute = 60 * 10**9
    with SessionStore.in_dir(server_dir) as store:
        store.create_session("s-1", client_id=client, scenario="heights", created_wall_ns=ns)
        store.create_session("s-2", client_id=other, scenario="spiders",
                             created_wall_ns=ns + minute)
        store.create_session("s-3", client_id=client, scenario="enclosed",
                             created_wall_ns=ns + 2 * minute)
        store.write_batch([("s-1", seq, seq, ns + seq, None, Annotation(text=f"note {seq}"))
                           for seq in range(3)]
                          + [("s-2", 0, 0, ns, None, Annotation(text="other client"))], [])
        store.end_session("s-1", ns + 30 * minute)
    store_file = server_dir / "vret.sqlite3"
    before = store_file.read_bytes()

    with RecordsStore.in_dir(tmp_path / "console") as records:
        records.add_client(Client(client_id=client))
        sessions = records.past_sessions(client, server_dir)
        assert [s.session_id for s in sessions] == ["s-1", "s-3"]
        first, third = sessions
        assert (first.scenario, first.started, first.ended, first.event_count) == (
            "heights", start, start + timedelta(minutes=30), 3)
        assert (third.scenario, third.started, third.ended, third.event_count) == (
            "enclosed", start + timedelta(minutes=2), None, 0)
        assert [s.session_id for s in records.past_sessions(other, server_dir)] == ["s-2"]
        assert records.past_sessions(new_client_id(), server_dir) == []
        # A folder where the server never recorded anything: no sessions, and no store made.
        assert records.past_sessions(client, tmp_path / "nowhere") == []
        assert not (tmp_path / "nowhere").exists()
        with pytest.raises(RecordError, match="client_id: 'Jane Doe' is not a pseudonymous"):
            records.past_sessions("Jane Doe", server_dir)
    # Read only: the server's store is byte for byte what it was.
    assert store_file.read_bytes() == before


def test_past_sessions_does_not_hide_a_newer_store(tmp_path: Path) -> None:
    with SessionStore.in_dir(tmp_path / "server") as store:
        store.create_session("s-1", client_id="c-0a1b2c3d", scenario="heights")
    db = sqlite3.connect(tmp_path / "server" / "vret.sqlite3")
    db.execute("PRAGMA user_version=99")
    db.close()
    with RecordsStore.in_dir(tmp_path) as records, pytest.raises(StoreVersionError):
        records.past_sessions("c-0a1b2c3d", tmp_path / "server")


# ---------------------------------------------------------------- the file


def test_the_file_layout_is_private_versioned_and_holds_no_names(tmp_path: Path) -> None:
    with RecordsStore.in_dir(tmp_path / "console") as records:
        client = records.add_client(Client(goal="walk over the bridge")).client_id
        records.set_hierarchy(client, _items())
        records.save_plan(client, SessionPlan(scenario="heights", consent=True))
        assert records._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    path = tmp_path / "console" / RECORDS_FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT key, version FROM schema_info").fetchall() == [
            ("schema_version", SCHEMA_VERSION)]
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name")]
        columns = {table: [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
                   for table in tables}
        assert columns == {
            "clients": ["client_id", "created_wall_ns", "goal"],
            "hierarchy_items": ["client_id", "position", "situation", "initial_suds",
                                "scenario", "rung"],
            "schema_info": ["key", "version"],
            "session_plans": ["plan_id", "client_id", "saved_wall_ns", "scenario", "start_rung",
                              "band_low", "band_high", "controller", "checkin_every_s",
                              "consent", "max_rung", "trial_criterion", "trial_min_s"],
        }
        # No column could hold who the client is: the only person-shaped value is the id.
        every_column = {c for cs in columns.values() for c in cs}
        for word in ("name", "label", "initial", "first", "last", "birth", "email", "phone",
                     "address"):
            assert not any(word in c for c in every_column - {"initial_suds"}), word
        client_ids = {r[0] for t in ("clients", "hierarchy_items", "session_plans")
                      for r in db.execute(f"SELECT client_id FROM {t}")}
        assert client_ids == {client}
        # Foreign keys hold the tables together in the file itself.
        db.execute("PRAGMA foreign_keys=ON")
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            db.execute("INSERT INTO hierarchy_items VALUES ('c-00000000', 0, 'x', 10, "
                       "'heights', 0)")
    finally:
        db.close()


def test_a_records_file_of_the_first_schema_is_upgraded_in_place(tmp_path: Path) -> None:
    from clinician_console import records as module

    old = tmp_path / RECORDS_FILENAME
    db = sqlite3.connect(old)
    for statement in module._SCHEMA:  # the first schema: plans without a trial criterion
        db.execute(re.sub(r",\s*trial_criterion.*?CHECK \(trial_min_s > 0\)", "", statement,
                          flags=re.S))
    db.execute("INSERT INTO schema_info VALUES ('schema_version', 1)")
    db.execute("INSERT INTO clients(client_id, created_wall_ns) VALUES ('c-0000abcd', 1)")
    db.execute("INSERT INTO session_plans(client_id, saved_wall_ns, scenario, start_rung, "
               "band_low, band_high, controller, checkin_every_s, consent, max_rung) VALUES "
               "('c-0000abcd', 2, 'heights', 1, 30, 60, 'suggest', 300, 1, 4)")
    db.commit()
    db.close()
    with RecordsStore.in_dir(tmp_path) as records:
        plan = records.get_plan("c-0000abcd")
        assert plan is not None and (plan.start_rung, plan.band, plan.max_rung) == (1, (30, 60), 4)
        assert (plan.trial_criterion, plan.trial_min_s) == ("time", 120.0)  # as it ran
        records.save_plan("c-0000abcd", plan.model_copy(update={"trial_criterion": "suds_drop"}))
        assert records.get_plan("c-0000abcd").trial_criterion == "suds_drop"  # type: ignore[union-attr]
        assert records._db.execute("SELECT version FROM schema_info").fetchone() == (2,)


def test_a_newer_or_foreign_file_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    with RecordsStore.in_dir(tmp_path / "newer"):
        pass
    newer = tmp_path / "newer" / RECORDS_FILENAME
    db = sqlite3.connect(newer)
    db.execute("UPDATE schema_info SET version=?", (SCHEMA_VERSION + 1,))
    db.commit()
    db.close()
    before = newer.read_bytes()
    with pytest.raises(RecordError, match=f"schema version {SCHEMA_VERSION + 1}; this vret "
                                          f"reads up to {SCHEMA_VERSION}"):
        RecordsStore.in_dir(tmp_path / "newer")
    assert newer.read_bytes() == before

    (tmp_path / "foreign").mkdir()
    foreign = tmp_path / "foreign" / RECORDS_FILENAME
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE notes (text TEXT)")
    db.commit()
    db.close()
    with pytest.raises(RecordError, match="an SQLite database but not console records"):
        RecordsStore.in_dir(tmp_path / "foreign")

    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / RECORDS_FILENAME).write_bytes(b"not a database at all" * 100)
    with pytest.raises(RecordError, match="not a console records file"):
        RecordsStore.in_dir(tmp_path / "junk")
