"""The clinician console's own records: clients, their fear hierarchies and session plans.

One SQLite file, ``console.sqlite3``, in the data folder the console is given (WAL, foreign keys
on, ``synchronous=FULL``; created with its tables when missing). It is health data, so:

* a client is known **only by a pseudonymous id** (``c-`` and 8 hex digits, the form the
  session server's ``new_client_id()`` generates), so the sessions the server recorded under
  that id are the client's sessions. There is no name, initials or label field anywhere, and
  the id pattern cannot hold a name;
* the only free text is the client's therapy goal (at most 500 characters) and, per hierarchy
  item, the feared situation in the client's words (at most 200). Neither may identify the
  client: write "ride the lift to the office", never who they are or where they work;
* the file is created readable by its owner only (0600), in a folder only they can enter.

Tables (``schema_info`` holds one row with the schema version; a file written by a newer vret
is refused, never changed)::

    schema_info      key 'schema_version' -> version
    clients          client_id PK, created_wall_ns, goal?
    hierarchy_items  (client_id -> clients, position) PK, situation, initial_suds, scenario, rung
    session_plans    plan_id PK (increasing), client_id -> clients, saved_wall_ns, scenario,
                     start_rung, band_low, band_high, controller, checkin_every_s?, consent,
                     max_rung?

A client's hierarchy is replaced as a whole (:meth:`RecordsStore.set_hierarchy`) or grown by one
item; it has no history. Session plans do keep theirs: every :meth:`RecordsStore.save_plan`
appends a row (triggers refuse UPDATE and DELETE), the current plan is the newest, and
:meth:`RecordsStore.plan_history` lists them all, so what was planned before a session can
always be read back next to what the session did.

Model fields are checked by pydantic, whose errors name the field (``initial_suds``, ``band``).
Whether a scenario exists and has the rung asked for is checked by the store, against an
injectable ``rungs_of`` lookup (by default the installed scenarios, via
:func:`scenarios.registry.load`), with errors such as ``hierarchy item 'standing on a balcony':
rung 9 is beyond scenario 'heights' (rungs 0-6)``.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from scenarios.spec import IDENTIFIER
from telemetry.sqlite_tx import immediate

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
RECORDS_FILENAME = "console.sqlite3"

CLIENT_ID_PATTERN = r"^c-[0-9a-f]{8}$"
"""A pseudonymous client id: exactly what ``vr_server.host.new_client_id()`` generates. Kept
this narrow on purpose: the server accepts any safe id, but here the id is the only thing that
stands for a person, and a pattern of hex digits cannot be a name."""
CLIENT_ID_RE = re.compile(r"c-[0-9a-f]{8}")
"""The same rule for Python code (use ``fullmatch``)."""

MAX_GOAL_LENGTH = 500
MAX_SITUATION_LENGTH = 200
DEFAULT_BAND = (40, 70)

ClientId = Annotated[str, Field(pattern=CLIENT_ID_PATTERN)]
ScenarioName = Annotated[str, Field(pattern=f"^{IDENTIFIER.pattern}$")]
"""A registered scenario name only: ``scenarios.registry.load`` would also run a ``.py`` file
given as a path, which a stored record must never make the console do."""
Suds = Annotated[StrictInt, Field(ge=0, le=100)]
Rung = Annotated[StrictInt, Field(ge=0)]
ControllerMode = Literal["manual", "suggest", "auto"]

RungsOf = Callable[[str], Sequence[str]]
"""Given a scenario name, the labels of its rungs in order (rung 0 first); raises
:class:`LookupError` with a readable message when there is no such scenario."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SCHEMA = (
    """CREATE TABLE schema_info (
        key     TEXT PRIMARY KEY CHECK (key = 'schema_version'),
        version INTEGER NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE clients (
        client_id       TEXT PRIMARY KEY,
        created_wall_ns INTEGER NOT NULL,
        goal            TEXT CHECK (goal IS NULL OR length(goal) <= 500)
    ) WITHOUT ROWID""",
    """CREATE TABLE hierarchy_items (
        client_id    TEXT NOT NULL REFERENCES clients(client_id),
        position     INTEGER NOT NULL,
        situation    TEXT NOT NULL CHECK (length(situation) BETWEEN 1 AND 200),
        initial_suds INTEGER NOT NULL CHECK (initial_suds BETWEEN 0 AND 100),
        scenario     TEXT NOT NULL,
        rung         INTEGER NOT NULL CHECK (rung >= 0),
        PRIMARY KEY (client_id, position),
        UNIQUE (client_id, situation)
    ) WITHOUT ROWID""",
    """CREATE TABLE session_plans (
        plan_id         INTEGER PRIMARY KEY AUTOINCREMENT,
        client_id       TEXT NOT NULL REFERENCES clients(client_id),
        saved_wall_ns   INTEGER NOT NULL,
        scenario        TEXT NOT NULL,
        start_rung      INTEGER NOT NULL CHECK (start_rung >= 0),
        band_low        INTEGER NOT NULL CHECK (band_low BETWEEN 0 AND 100),
        band_high       INTEGER NOT NULL CHECK (band_high BETWEEN 0 AND 100),
        controller      TEXT NOT NULL CHECK (controller IN ('manual', 'suggest', 'auto')),
        checkin_every_s REAL CHECK (checkin_every_s IS NULL OR checkin_every_s > 0),
        consent         INTEGER NOT NULL CHECK (consent IN (0, 1)),
        max_rung        INTEGER CHECK (max_rung IS NULL OR max_rung >= 0),
        trial_criterion TEXT NOT NULL DEFAULT 'time'
                        CHECK (trial_criterion IN ('time', 'suds_drop', 'expectancy')),
        trial_min_s     REAL NOT NULL DEFAULT 120 CHECK (trial_min_s > 0),
        CHECK (band_low < band_high)
    )""",
    "CREATE INDEX session_plans_by_client ON session_plans(client_id, plan_id)",
    # A saved plan is part of the clinical record: it is superseded by a newer one, never edited.
    """CREATE TRIGGER session_plans_no_update BEFORE UPDATE ON session_plans
        BEGIN SELECT RAISE(ABORT, 'saved session plans are kept as they were'); END""",
    """CREATE TRIGGER session_plans_no_delete BEFORE DELETE ON session_plans
        BEGIN SELECT RAISE(ABORT, 'saved session plans are kept as they were'); END""",
)
_UPGRADES: dict[int, tuple[str, ...]] = {
    # 1 -> 2: the plan's within-trial criterion (older plans ran on time, 120 s).
    1: ("ALTER TABLE session_plans ADD COLUMN trial_criterion TEXT NOT NULL DEFAULT 'time'"
        " CHECK (trial_criterion IN ('time', 'suds_drop', 'expectancy'))",
        "ALTER TABLE session_plans ADD COLUMN trial_min_s REAL NOT NULL DEFAULT 120"
        " CHECK (trial_min_s > 0)"),
}


class RecordError(Exception):
    """A record that cannot be stored or found, or a records file that cannot be used; the
    message says which record and why."""


def new_client_id() -> str:
    """A fresh pseudonymous client id, in the form the session server generates."""
    return "c-" + secrets.token_hex(4)


def _now() -> datetime:
    return datetime.now(UTC)


def _to_ns(moment: datetime) -> int:
    # Exact integer arithmetic (float timestamps would lose microseconds in a round trip).
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def _from_ns(wall_ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=wall_ns // 1000)


class _Record(BaseModel):
    """Frozen, unknown fields refused (a typo is an error, not a silently dropped value)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Client(_Record):
    """A client of the practice, known only by a pseudonymous id.

    There is deliberately no name, initials or label field: the id is what the session server
    records sessions under, and ``goal`` is the therapy goal in a few words, never anything
    that identifies the client.
    """

    client_id: ClientId = Field(default_factory=new_client_id)
    created: AwareDatetime = Field(default_factory=_now)
    goal: Annotated[str, Field(min_length=1, max_length=MAX_GOAL_LENGTH)] | None = None

    @field_validator("created")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        # Stored as UTC nanoseconds; normalising here makes a round trip give back an equal value.
        return value.astimezone(UTC)


class HierarchyItem(_Record):
    """One situation of the client's own fear hierarchy, mapped onto a scenario rung.

    ``situation`` is in the client's words (and, like every free text here, must not identify
    them); ``initial_suds`` is how distressing they rated it (0-100) when the hierarchy was
    built, which orders the hierarchy.
    """

    situation: Annotated[str, Field(min_length=1, max_length=MAX_SITUATION_LENGTH)]
    initial_suds: Suds
    scenario: ScenarioName
    rung: Rung


class SessionPlan(_Record):
    """How the next session of a client is to run.

    ``band`` is the SUDS range the exposure aims to stay in (``low < high``, both 0-100);
    ``controller`` is who moves the level (``manual``: the therapist; ``suggest``: the console
    proposes, the therapist applies; ``auto``: the console applies within ``max_rung``);
    ``checkin_every_s`` asks the client for a SUDS rating at that interval (None: only when the
    therapist asks); ``consent`` turns on collaborative mode, where a step up waits for the
    client's yes (the server's ``consent`` setting).
    """

    scenario: ScenarioName
    start_rung: Rung = 0
    band: tuple[Suds, Suds] = DEFAULT_BAND
    controller: ControllerMode = "manual"
    checkin_every_s: Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)] | None = None
    consent: StrictBool = False
    max_rung: Rung | None = None
    trial_criterion: Literal["time", "suds_drop", "expectancy"] = "time"
    """When a stay at a rung has done its work (the server's ``trial_criterion``): after
    ``trial_min_s`` (time), once SUDS has dropped by half from its peak, or once the feared
    outcome was tested (expectancy rated after it)."""
    trial_min_s: Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)] = 120.0

    @field_validator("band")
    @classmethod
    def _band_ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not low < high:
            raise ValueError(f"low ({low}) must be below high ({high})")
        return value

    @model_validator(mode="after")
    def _ceiling_above_start(self) -> SessionPlan:
        if self.max_rung is not None and self.max_rung < self.start_rung:
            raise ValueError(f"max_rung ({self.max_rung}) is below start_rung ({self.start_rung})")
        return self


@dataclass(frozen=True)
class SavedPlan:
    """A session plan as saved: when, and its place in the client's plan history."""

    plan_id: int
    client_id: str
    saved: datetime
    plan: SessionPlan


@dataclass(frozen=True)
class PastSession:
    """A session the server recorded for a client (read from the session store)."""

    session_id: str
    scenario: str
    started: datetime
    ended: datetime | None
    """None when the session has no end recorded (still running, or the server stopped)."""
    event_count: int


@functools.lru_cache(maxsize=64)
def registry_rungs(scenario: str) -> tuple[str, ...]:
    """The rung labels of an installed scenario (the default ``rungs_of``).

    Cached: loading a scenario imports its module, and the installed set does not change while
    the console runs.
    """
    # Imported here: the registry pulls in the scenario base classes, which the records module
    # itself does not need (and a test with its own lookup should not pay for).
    from scenarios.registry import ScenarioError, load

    if not IDENTIFIER.fullmatch(scenario):  # a name, never a path to a file to execute
        raise LookupError(f"{scenario!r} is not a scenario name")
    try:
        cls = load(scenario)
    except ScenarioError as exc:
        raise LookupError(str(exc)) from exc
    return tuple(rung.label for rung in cls.spec.rungs)


class RecordsStore:
    """The console's records file; create with :meth:`in_dir`. One instance per thread."""

    def __init__(self, path: Path, *, rungs_of: RungsOf = registry_rungs) -> None:
        self.path = Path(path)
        self._rungs_of = rungs_of
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path.exists():
            # Health data: the file (and the -wal/-shm files SQLite derives from it) is private.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        try:
            self._db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise RecordError(f"cannot open console records {self.path}: {exc}") from exc
        try:
            self._open()
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def in_dir(cls, data_dir: Path, *, rungs_of: RungsOf = registry_rungs) -> RecordsStore:
        """The records of a console data folder (``<data-dir>/console.sqlite3``)."""
        return cls(Path(data_dir) / RECORDS_FILENAME, rungs_of=rungs_of)

    def _open(self) -> None:
        db = self._db
        try:
            tables = {row[0] for row in db.execute(
                "SELECT name FROM sqlite_schema WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise RecordError(f"{self.path} is not a console records file: {exc}") from exc
        row = None
        if tables:
            # Checked before any PRAGMA that writes, so a foreign or newer file is left untouched.
            if "schema_info" in tables:
                row = db.execute(
                    "SELECT version FROM schema_info WHERE key='schema_version'").fetchone()
            if row is None:
                raise RecordError(f"{self.path} is an SQLite database but not console records")
            if row[0] > SCHEMA_VERSION:
                raise RecordError(
                    f"{self.path} has schema version {row[0]}; this vret reads up to "
                    f"{SCHEMA_VERSION}. Upgrade vret to open it (the file was not changed).")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        # Per connection and off by default in SQLite; must be set outside a transaction.
        db.execute("PRAGMA foreign_keys=ON")
        if not tables:
            with self._transaction():
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute("INSERT INTO schema_info VALUES ('schema_version', ?)",
                           (SCHEMA_VERSION,))
        elif row is not None and row[0] < SCHEMA_VERSION:
            self._upgrade(row[0])

    def _upgrade(self, version: int) -> None:
        """Bring an older records file up to :data:`SCHEMA_VERSION`, in one transaction
        (nothing is rewritten: new columns take the defaults older plans ran with)."""
        db = self._db
        with self._transaction():
            for step in range(version, SCHEMA_VERSION):
                for statement in _UPGRADES[step]:
                    db.execute(statement)
            db.execute("UPDATE schema_info SET version=? WHERE key='schema_version'",
                       (SCHEMA_VERSION,))
        log.info("console records %s upgraded from schema %d to %d", self.path, version,
                 SCHEMA_VERSION)

    def close(self) -> None:
        """Close the file (committed records are already on disk)."""
        self._db.close()

    def __enter__(self) -> RecordsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; SQLite errors come out as :class:`RecordError`."""
        with immediate(self._db, RecordError, "console records write") as db:
            yield db

    # ---------------------------------------------------------------- clients

    def add_client(self, client: Client | None = None) -> Client:
        """Register a client (a fresh id when ``client`` is None) and return it as stored."""
        client = client if client is not None else Client()
        try:
            with self._transaction() as db:
                db.execute("INSERT INTO clients VALUES (?, ?, ?)",
                           (client.client_id, _to_ns(client.created), client.goal))
        except RecordError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise RecordError(f"client {client.client_id!r} already exists") from exc
            raise
        return client

    def get_client(self, client_id: str) -> Client:
        """One client; :class:`RecordError` if there is none with that id."""
        row = self._db.execute(
            "SELECT client_id, created_wall_ns, goal FROM clients WHERE client_id=?",
            (client_id,)).fetchone()
        if row is None:
            raise RecordError(f"no client {client_id!r}")
        return Client(client_id=row[0], created=_from_ns(row[1]), goal=row[2])

    def list_clients(self) -> list[Client]:
        """Every client, oldest registration first."""
        rows = self._db.execute(
            "SELECT client_id, created_wall_ns, goal FROM clients"
            " ORDER BY created_wall_ns, client_id").fetchall()
        return [Client(client_id=r[0], created=_from_ns(r[1]), goal=r[2]) for r in rows]

    def _require_client(self, client_id: str) -> None:
        # A clear "no client" beats the bare FOREIGN KEY failure SQLite would give.
        self.get_client(client_id)

    # ---------------------------------------------------------------- hierarchy

    def _check_rung(self, where: str, field: str, scenario: str, rung: int) -> None:
        try:
            labels = self._rungs_of(scenario)
        except LookupError as exc:
            message = exc.args[0] if exc.args else f"no scenario named {scenario!r}"
            raise RecordError(f"{where}: scenario: {message}") from exc
        if not labels:  # a lookup that returns nothing has no rung to map onto
            raise RecordError(f"{where}: scenario {scenario!r} has no rungs")
        if rung >= len(labels):
            raise RecordError(f"{where}: {field} {rung} is beyond scenario {scenario!r} "
                              f"(rungs 0-{len(labels) - 1})")

    def check_item(self, item: HierarchyItem) -> None:
        """Raise :class:`RecordError` unless the item's scenario exists and has its rung."""
        self._check_rung(f"hierarchy item {item.situation!r}", "rung", item.scenario, item.rung)

    def set_hierarchy(self, client_id: str, items: Sequence[HierarchyItem]) -> list[HierarchyItem]:
        """Replace the client's whole hierarchy with ``items``; return it in stored order.

        The order is by initial SUDS, mildest first; items rated the same keep the order given.
        Every item is checked before anything is written, so a refused item leaves the old
        hierarchy as it was.
        """
        self._require_client(client_id)
        for item in items:
            self.check_item(item)
        situations = [item.situation for item in items]
        repeated = sorted({s for s in situations if situations.count(s) > 1})
        if repeated:
            raise RecordError(f"hierarchy of {client_id!r}: situation repeated: {repeated}")
        ordered = sorted(items, key=lambda item: item.initial_suds)  # stable: ties keep order
        with self._transaction() as db:
            db.execute("DELETE FROM hierarchy_items WHERE client_id=?", (client_id,))
            db.executemany(
                "INSERT INTO hierarchy_items VALUES (?, ?, ?, ?, ?, ?)",
                [(client_id, position, item.situation, item.initial_suds, item.scenario,
                  item.rung) for position, item in enumerate(ordered)])
        return ordered

    def add_hierarchy_item(self, client_id: str, item: HierarchyItem) -> list[HierarchyItem]:
        """Add one item to the client's hierarchy; return the whole hierarchy in order."""
        return self.set_hierarchy(client_id, [*self.list_hierarchy(client_id), item])

    def list_hierarchy(self, client_id: str) -> list[HierarchyItem]:
        """The client's hierarchy, by initial SUDS, mildest first (empty if none was set)."""
        self._require_client(client_id)
        rows = self._db.execute(
            "SELECT situation, initial_suds, scenario, rung FROM hierarchy_items"
            " WHERE client_id=? ORDER BY initial_suds, position", (client_id,)).fetchall()
        return [HierarchyItem(situation=r[0], initial_suds=r[1], scenario=r[2], rung=r[3])
                for r in rows]

    # ---------------------------------------------------------------- plans

    def check_plan(self, plan: SessionPlan) -> None:
        """Raise :class:`RecordError` unless the plan's scenario has its start and max rungs."""
        self._check_rung("session plan", "start_rung", plan.scenario, plan.start_rung)
        if plan.max_rung is not None:
            self._check_rung("session plan", "max_rung", plan.scenario, plan.max_rung)

    def save_plan(self, client_id: str, plan: SessionPlan) -> SavedPlan:
        """Make ``plan`` the client's current plan; earlier plans stay in the history."""
        self._require_client(client_id)
        self.check_plan(plan)
        saved = _now()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO session_plans(client_id, saved_wall_ns, scenario, start_rung,"
                " band_low, band_high, controller, checkin_every_s, consent, max_rung,"
                " trial_criterion, trial_min_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (client_id, _to_ns(saved), plan.scenario, plan.start_rung, plan.band[0],
                 plan.band[1], plan.controller, plan.checkin_every_s, int(plan.consent),
                 plan.max_rung, plan.trial_criterion, plan.trial_min_s))
            plan_id = cursor.lastrowid
        assert plan_id is not None  # an INSERT into a rowid table always sets it
        return SavedPlan(plan_id=plan_id, client_id=client_id, saved=saved, plan=plan)

    def get_plan(self, client_id: str) -> SessionPlan | None:
        """The client's current plan (the newest saved), or None before any was saved."""
        history = self._plans(client_id, current_only=True)
        return history[0].plan if history else None

    def plan_history(self, client_id: str) -> list[SavedPlan]:
        """Every plan saved for the client, oldest first (the last one is current)."""
        return self._plans(client_id, current_only=False)

    def _plans(self, client_id: str, *, current_only: bool) -> list[SavedPlan]:
        self._require_client(client_id)
        # plan_id increases with every save (AUTOINCREMENT), so it orders saves even when two
        # land on the same clock reading.
        order = "DESC LIMIT 1" if current_only else "ASC"
        rows = self._db.execute(
            "SELECT plan_id, saved_wall_ns, scenario, start_rung, band_low, band_high,"
            " controller, checkin_every_s, consent, max_rung, trial_criterion, trial_min_s"
            " FROM session_plans"
            f" WHERE client_id=? ORDER BY plan_id {order}", (client_id,)).fetchall()
        return [SavedPlan(plan_id=r[0], client_id=client_id, saved=_from_ns(r[1]),
                          plan=SessionPlan(scenario=r[2], start_rung=r[3], band=(r[4], r[5]),
                                           controller=r[6], checkin_every_s=r[7],
                                           consent=bool(r[8]), max_rung=r[9],
                                           trial_criterion=r[10], trial_min_s=float(r[11])))
                for r in rows]

    # ---------------------------------------------------------------- sessions

    def past_sessions(self, client_id: str, session_store_dir: Path) -> list[PastSession]:
        """The sessions the server recorded for ``client_id`` in its data folder, oldest first.

        Only reads the server's session store (``<session_store_dir>/vret.sqlite3``); a folder
        where no session was ever recorded gives an empty list. A damaged or newer store raises
        the session store's own error rather than looking empty. The client need not be
        registered here: sessions may have been recorded before the console knew the id.
        """
        if not CLIENT_ID_RE.fullmatch(client_id):
            raise RecordError(f"client_id: {client_id!r} is not a pseudonymous client id "
                              "('c-' and 8 hex digits)")
        # Imported here: the session store brings numpy and the wire schemas, which the rest of
        # the records module does not need.
        from telemetry.errors import StoreCorruptError, StoreError, StoreVersionError
        from telemetry.store import STORE_FILENAME, SessionStore

        if not (Path(session_store_dir) / STORE_FILENAME).is_file():
            return []
        try:
            store = SessionStore.in_dir(Path(session_store_dir), create=False)
        except (StoreCorruptError, StoreVersionError):
            raise
        except StoreError:  # the file exists but no session was ever written to it
            return []
        with store:
            return [PastSession(session_id=record.session_id, scenario=record.scenario,
                                started=_from_ns(record.created_wall_ns),
                                ended=(None if record.ended_wall_ns is None
                                       else _from_ns(record.ended_wall_ns)),
                                # The store has no count query; events() decodes the log,
                                # which is small (commands and check-ins, not samples).
                                event_count=len(store.events(record.session_id)))
                    for record in store.sessions() if record.client_id == client_id]
