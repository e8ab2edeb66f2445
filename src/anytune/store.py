"""Job records in SQLite under ANYTUNE_HOME: the one source of truth for status, logs, cancel and retrieve.

One row per job. Every write is a short transaction, so a crash leaves the last committed state; a new
process reads the remote handle back and follows the job from there.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from . import paths
from .errors import ConfigError
from .types import CostEstimate, JobHandle, JobState, ModelArtifact

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    provider      TEXT NOT NULL,
    state         TEXT NOT NULL,
    spec_json     TEXT NOT NULL,
    spec_hash     TEXT NOT NULL,
    data_hash     TEXT NOT NULL DEFAULT '',
    data_dir      TEXT NOT NULL DEFAULT '',
    handle_json   TEXT,
    estimate_json TEXT,
    choice_json   TEXT,
    artifact_json TEXT,
    actual_json   TEXT,
    message       TEXT NOT NULL DEFAULT '',
    error         TEXT NOT NULL DEFAULT '',
    log_cursor    TEXT NOT NULL DEFAULT '',
    profile       TEXT NOT NULL DEFAULT '',
    launched_at   TEXT NOT NULL DEFAULT '',
    submitter     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at);
CREATE TABLE IF NOT EXISTS sweeps (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    state        TEXT NOT NULL,
    spec_json    TEXT NOT NULL,
    spec_hash    TEXT NOT NULL,
    profile      TEXT NOT NULL DEFAULT '',
    provider     TEXT NOT NULL DEFAULT '',
    plan_json    TEXT NOT NULL DEFAULT '[]',
    message      TEXT NOT NULL DEFAULT '',
    best_job     TEXT NOT NULL DEFAULT '',
    runner       TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS uploads (
    provider     TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    ref_json     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (provider, content_hash)
);
"""

# Job states the store knows besides the provider-neutral ones (before a remote job exists).
PREPARING = "preparing"
UPLOADING = "uploading"
LAUNCHING = "launching"
BEFORE_LAUNCH = (PREPARING, UPLOADING, LAUNCHING)
INTERRUPTED = "interrupted"  # its submitter died before anything started: nothing runs, nothing is charged
# Columns added after the first release, with their definitions, for stores made before them.
ADDED = {"submitter": "TEXT NOT NULL DEFAULT ''", "sweep_id": "TEXT NOT NULL DEFAULT ''",
         "trial_json": "TEXT NOT NULL DEFAULT ''"}
_migrated: set[Path] = set()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class JobRecord:
    id: str
    name: str
    created_at: str
    updated_at: str
    provider: str
    state: str
    spec_json: str
    spec_hash: str
    data_hash: str = ""
    data_dir: str = ""
    handle_json: str | None = None
    estimate_json: str | None = None
    choice_json: str | None = None
    artifact_json: str | None = None
    actual_json: str | None = None
    message: str = ""
    error: str = ""
    log_cursor: str = ""
    profile: str = ""
    launched_at: str = ""
    submitter: str = ""  # JSON {"host", "pid", "since"} of the process submitting it, until it has a handle
    sweep_id: str = ""  # the sweep this job is a trial of
    trial_json: str = ""  # JSON {"index", "params"} of that trial
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def handle(self) -> JobHandle | None:
        return JobHandle.from_json(self.handle_json) if self.handle_json else None

    @property
    def estimate(self) -> CostEstimate | None:
        return CostEstimate.from_json(self.estimate_json) if self.estimate_json else None

    @property
    def artifact(self) -> ModelArtifact | None:
        return ModelArtifact.from_json(self.artifact_json) if self.artifact_json else None

    @property
    def choice(self) -> list[dict]:
        return json.loads(self.choice_json) if self.choice_json else []

    @property
    def actual(self) -> dict:
        return json.loads(self.actual_json) if self.actual_json else {}

    @property
    def trial(self) -> dict:
        return json.loads(self.trial_json) if self.trial_json else {}

    @property
    def spec(self):
        from .spec import JobSpec

        return JobSpec.model_validate_json(self.spec_json)

    @property
    def terminal(self) -> bool:
        return self.state == INTERRUPTED or self.state in {s.value for s in JobState if s.terminal}


_COLUMNS = [f.name for f in fields(JobRecord) if f.name != "extra"]


@dataclass
class SweepRecord:
    id: str
    name: str
    created_at: str
    updated_at: str
    state: str  # running, succeeded, failed, cancelled, stopped (budget)
    spec_json: str
    spec_hash: str
    profile: str = ""
    provider: str = ""  # the --provider override it was started with
    plan_json: str = "[]"  # the trials as planned: [{"index", "params", "provider", "cost_usd", "hours"}]
    message: str = ""
    best_job: str = ""
    runner: str = ""  # JSON {"host", "pid", "since"} of the process driving it

    @property
    def plan(self) -> list[dict]:
        return json.loads(self.plan_json)

    @property
    def spec(self):
        from .spec import JobSpec

        return JobSpec.model_validate_json(self.spec_json)

    @property
    def terminal(self) -> bool:
        return self.state != "running"


_SWEEP_COLUMNS = [f.name for f in fields(SweepRecord)]


class StoreUnreadable(ConfigError):
    """The job store cannot be read. Nothing is changed: the file stays as it is for the user to keep."""

    def __init__(self, path: Path, exc: Exception):
        super().__init__(f"the job store {path} cannot be read ({exc})", [
            f"nothing was changed; keep a copy (cp {path} {path}.bad), then move it aside to start a new store "
            f"(mv {path} {path}.bad), or restore it from a backup",
            "ANYTUNE_HOME points anytune at another folder"])


class JobStore:
    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else paths.home() / "jobs.sqlite"

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with closing(sqlite3.connect(self.path, timeout=30)) as conn:
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(SCHEMA)
                if self.path not in _migrated:
                    have = {r["name"] for r in conn.execute("PRAGMA table_info(jobs)")}
                    for column, definition in ADDED.items():
                        if column not in have:
                            conn.execute(f"ALTER TABLE jobs ADD COLUMN {column} {definition}")
                    _migrated.add(self.path)
                with conn:
                    yield conn
        except sqlite3.DatabaseError as exc:  # not a database, damaged, unreadable, read-only, ...
            if type(exc) not in (sqlite3.DatabaseError, sqlite3.OperationalError) or "locked" in str(exc):
                raise  # a bug of ours (IntegrityError, ...) or a busy store: not a damaged file
            raise StoreUnreadable(self.path, exc) from None

    @staticmethod
    def new_id(name: str) -> str:
        """``<name>-<8 hex>``: short enough for every cloud's job-name limit with a prefix, and unique."""
        slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:40] or "job"
        return f"{slug}-{uuid.uuid4().hex[:8]}"

    def create(self, *, id: str, name: str, provider: str, spec_json: str, spec_hash: str,
               state: str = PREPARING, **values: Any) -> JobRecord:
        now = _now()
        rec = JobRecord(id=id, name=name, created_at=now, updated_at=now, provider=provider, state=state,
                        spec_json=spec_json, spec_hash=spec_hash, **values)
        with self._db() as db:
            db.execute(f"INSERT INTO jobs ({','.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})",
                       [getattr(rec, c) for c in _COLUMNS])
        return rec

    def update(self, job_id: str, **values: Any) -> JobRecord:
        unknown = set(values) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"unknown job columns: {sorted(unknown)}")
        values["updated_at"] = _now()
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._db() as db:
            cur = db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", [*values.values(), job_id])
            if cur.rowcount == 0:
                raise ConfigError(f"no job {job_id!r} in {self.path}")
        return self.get(job_id)

    def get(self, job_id: str) -> JobRecord:
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                rows = db.execute("SELECT * FROM jobs WHERE id LIKE ? ORDER BY created_at DESC",
                                  (job_id.replace("%", "") + "%",)).fetchall()
                if len(rows) == 1:
                    row = rows[0]
                elif len(rows) > 1:
                    raise ConfigError(f"job id {job_id!r} is ambiguous: " + ", ".join(r["id"] for r in rows[:5]))
        if row is None:
            raise ConfigError(f"no job {job_id!r} (see `anytune jobs`)")
        return JobRecord(**{c: row[c] for c in _COLUMNS})

    def latest(self) -> JobRecord:
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT 1").fetchone()
        if row is None:
            raise ConfigError("there are no jobs yet (`anytune submit job.yaml`)")
        return JobRecord(**{c: row[c] for c in _COLUMNS})

    def list(self, limit: int = 50) -> list[JobRecord]:
        with self._db() as db:
            rows = db.execute("SELECT * FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)).fetchall()
        return [JobRecord(**{c: r[c] for c in _COLUMNS}) for r in rows]

    def trials(self, sweep_id: str) -> list[JobRecord]:
        """A sweep's trial jobs, oldest first."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM jobs WHERE sweep_id = ? ORDER BY created_at, rowid",
                              (sweep_id,)).fetchall()
        return [JobRecord(**{c: r[c] for c in _COLUMNS}) for r in rows]

    # --- sweeps ----------------------------------------------------------------------------------

    def create_sweep(self, **values: Any) -> SweepRecord:
        now = _now()
        rec = SweepRecord(created_at=now, updated_at=now, **values)
        with self._db() as db:
            db.execute(f"INSERT INTO sweeps ({','.join(_SWEEP_COLUMNS)}) VALUES ({','.join('?' * len(_SWEEP_COLUMNS))})",
                       [getattr(rec, c) for c in _SWEEP_COLUMNS])
        return rec

    def update_sweep(self, sweep_id: str, **values: Any) -> SweepRecord:
        if set(values) - set(_SWEEP_COLUMNS):
            raise ValueError(f"unknown sweep columns: {sorted(set(values) - set(_SWEEP_COLUMNS))}")
        values["updated_at"] = _now()
        with self._db() as db:
            db.execute(f"UPDATE sweeps SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                       [*values.values(), sweep_id])
        return self.get_sweep(sweep_id)

    def get_sweep(self, sweep_id: str) -> SweepRecord:
        with self._db() as db:
            rows = db.execute("SELECT * FROM sweeps WHERE id = ? OR id LIKE ? ORDER BY id = ? DESC, created_at DESC",
                              (sweep_id, sweep_id.replace("%", "") + "%", sweep_id)).fetchall()
        if not rows:
            raise ConfigError(f"no sweep {sweep_id!r} (see `anytune sweeps`)")
        if len(rows) > 1 and rows[0]["id"] != sweep_id:
            raise ConfigError(f"sweep id {sweep_id!r} is ambiguous: " + ", ".join(r["id"] for r in rows[:5]))
        return SweepRecord(**{c: rows[0][c] for c in _SWEEP_COLUMNS})

    def sweeps(self, limit: int = 50, spec_hash: str = "") -> list[SweepRecord]:
        """Newest first; with ``spec_hash``, the sweeps of that spec only."""
        where, args = ("WHERE spec_hash = ?", [spec_hash]) if spec_hash else ("", [])
        with self._db() as db:
            rows = db.execute(f"SELECT * FROM sweeps {where} ORDER BY created_at DESC, rowid DESC LIMIT ?",
                              [*args, limit]).fetchall()
        return [SweepRecord(**{c: r[c] for c in _SWEEP_COLUMNS}) for r in rows]

    # --- uploads already made (for providers whose storage cannot be asked by content hash) -------

    def find_upload(self, provider: str, content_hash: str) -> str | None:
        with self._db() as db:
            row = db.execute("SELECT ref_json FROM uploads WHERE provider = ? AND content_hash = ?",
                             (provider, content_hash)).fetchone()
        return row["ref_json"] if row else None

    def record_upload(self, provider: str, content_hash: str, ref_json: str) -> None:
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?)", (provider, content_hash, ref_json, _now()))
