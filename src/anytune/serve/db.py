"""The server's own records in SQLite (``<serve home>/serve.sqlite``): files, fine-tuning jobs, their
events and checkpoints, fine-tuned models. Every write is one short transaction, so a restarted server
finds everything it had. (Training itself is recorded in anytune's job store, like any other job.)

Lists are newest first; ``after`` is the id of the last item of the previous page, as in OpenAI's API.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, created_at INTEGER NOT NULL,
    bytes INTEGER NOT NULL, filename TEXT NOT NULL, purpose TEXT NOT NULL, path TEXT NOT NULL,
    sha256 TEXT NOT NULL, kind TEXT, examples INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, created_at INTEGER NOT NULL,
    status TEXT NOT NULL, model TEXT NOT NULL, base_path TEXT NOT NULL, kind TEXT NOT NULL,
    training_file TEXT NOT NULL, validation_file TEXT, method TEXT NOT NULL, hyperparameters TEXT NOT NULL,
    suffix TEXT, seed INTEGER NOT NULL, metadata TEXT, anytune_job_id TEXT, log_cursor TEXT NOT NULL DEFAULT '',
    fine_tuned_model TEXT, finished_at INTEGER, error TEXT, trained_tokens INTEGER,
    result_files TEXT NOT NULL DEFAULT '[]', cancel_requested INTEGER NOT NULL DEFAULT 0, slot INTEGER,
    init_adapter TEXT
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, job_id TEXT NOT NULL,
    created_at INTEGER NOT NULL, level TEXT NOT NULL, message TEXT NOT NULL, type TEXT NOT NULL, data TEXT
);
CREATE INDEX IF NOT EXISTS events_job ON events (job_id, seq);
CREATE TABLE IF NOT EXISTS checkpoints (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, job_id TEXT NOT NULL,
    created_at INTEGER NOT NULL, step INTEGER NOT NULL, metrics TEXT NOT NULL, model TEXT NOT NULL, path TEXT
);
CREATE TABLE IF NOT EXISTS models (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, created_at INTEGER NOT NULL,
    path TEXT NOT NULL, job_id TEXT NOT NULL
);
"""

JSON_COLUMNS = {"hyperparameters", "method", "metadata", "error", "result_files", "data", "metrics"}
UNFINISHED = ("validating_files", "queued", "running")


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def now() -> int:
    return int(time.time())


def _row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out = dict(row)
    for k in JSON_COLUMNS & out.keys():
        if out[k] is not None:
            out[k] = json.loads(out[k])
    return out


def _encode(values: dict[str, Any]) -> dict[str, Any]:
    return {k: json.dumps(v) if k in JSON_COLUMNS and v is not None else v for k, v in values.items()}


class ServeDB:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
            if "init_adapter" not in columns:  # a database from before continued fine-tuning
                db.execute("ALTER TABLE jobs ADD COLUMN init_adapter TEXT")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30)) as conn:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            with conn:
                yield conn

    def _insert(self, table: str, values: dict[str, Any], verb: str = "INSERT") -> dict[str, Any]:
        values = _encode(values)
        with self._db() as db:
            db.execute(f"{verb} INTO {table} ({','.join(values)}) VALUES ({','.join('?' * len(values))})",
                       list(values.values()))
        return self._get(table, values["id"])

    def _get(self, table: str, id: str) -> dict[str, Any] | None:
        with self._db() as db:
            return _row(db.execute(f"SELECT * FROM {table} WHERE id = ?", (id,)).fetchone())

    def _page(self, table: str, where: str, args: list, after: str | None, limit: int,
              ascending: bool = False) -> tuple[list[dict], bool]:
        op, order = (">", "ASC") if ascending else ("<", "DESC")
        if after:
            where += f" AND seq {op} COALESCE((SELECT seq FROM {table} WHERE id = ?), {'-1' if ascending else '1e18'})"
            args = [*args, after]
        with self._db() as db:
            rows = db.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY seq {order} LIMIT ?",
                              [*args, limit + 1]).fetchall()
        return [_row(r) for r in rows[:limit]], len(rows) > limit

    # --- files ------------------------------------------------------------------------------------

    def add_file(self, **values: Any) -> dict[str, Any]:
        return self._insert("files", {"created_at": now(), **values})

    def file(self, id: str) -> dict[str, Any] | None:
        return self._get("files", id)

    def files(self, purpose: str | None, after: str | None, limit: int, ascending: bool) -> tuple[list[dict], bool]:
        where, args = ("purpose = ?", [purpose]) if purpose else ("1", [])
        return self._page("files", where, args, after, limit, ascending)

    def delete_file(self, id: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM files WHERE id = ?", (id,))

    def jobs_using(self, file_id: str) -> list[str]:
        with self._db() as db:
            rows = db.execute(f"SELECT id FROM jobs WHERE (training_file = ? OR validation_file = ?) AND status IN "
                              f"({','.join('?' * len(UNFINISHED))})", (file_id, file_id, *UNFINISHED)).fetchall()
        return [r["id"] for r in rows]

    # --- jobs -------------------------------------------------------------------------------------

    def add_job(self, **values: Any) -> dict[str, Any]:
        return self._insert("jobs", {"created_at": now(), **values})

    def job(self, id: str) -> dict[str, Any] | None:
        return self._get("jobs", id)

    def jobs(self, after: str | None, limit: int, metadata: dict[str, str]) -> tuple[list[dict], bool]:
        where, args = "1", []
        for key, value in metadata.items():
            where += " AND json_extract(metadata, ?) = ?"
            args += [f'$."{key}"', value]
        return self._page("jobs", where, args, after, limit)

    def update_job(self, id: str, **values: Any) -> dict[str, Any]:
        values = _encode(values)
        with self._db() as db:
            db.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?", [*values.values(), id])
        return self.job(id)

    def set_status(self, id: str, status: str, *events: str, level: str = "info", only_from: tuple[str, ...] = (),
                   **values: Any) -> bool:
        """Move a job to ``status`` and record ``events`` in one transaction, so a client that sees the new
        status also sees why. With ``only_from``, only a job in one of those states moves (atomic against
        ``claim``). Returns whether the job moved."""
        values = _encode({"status": status, **values})
        where = f" AND status IN ({','.join('?' * len(only_from))})" if only_from else ""
        with self._db() as db:
            cur = db.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?{where}",
                             [*values.values(), id, *only_from])
            if cur.rowcount != 1:
                return False
            for message in events:
                db.execute("INSERT INTO events (id, job_id, created_at, level, message, type) VALUES (?,?,?,?,?,?)",
                           (new_id("ftevent"), id, now(), level, message[:4000], "message"))
        return True

    def claim(self, slot: int) -> dict[str, Any] | None:
        """Take the oldest queued job for ``slot`` (one statement: two slots never take the same job)."""
        with self._db() as db:
            row = db.execute("UPDATE jobs SET status = 'running', slot = ? WHERE seq = (SELECT seq FROM jobs "
                             "WHERE status = 'queued' ORDER BY seq LIMIT 1) AND status = 'queued' RETURNING id",
                             (slot,)).fetchone()
        return self.job(row["id"]) if row else None

    def running(self) -> list[dict[str, Any]]:
        with self._db() as db:
            return [_row(r) for r in db.execute("SELECT * FROM jobs WHERE status = 'running' ORDER BY seq")]

    # --- events, checkpoints, models --------------------------------------------------------------

    def add_event(self, job_id: str, message: str, *, level: str = "info", type: str = "message",
                  data: dict | None = None) -> None:
        self._insert("events", {"id": new_id("ftevent"), "job_id": job_id, "created_at": now(), "level": level,
                                "message": message[:4000], "type": type, "data": data})

    def events(self, job_id: str, after: str | None, limit: int) -> tuple[list[dict], bool]:
        return self._page("events", "job_id = ?", [job_id], after, limit)

    def add_checkpoint(self, **values: Any) -> dict[str, Any]:
        with self._db() as db:  # a job finished again after a restart keeps one set of checkpoints
            db.execute("DELETE FROM checkpoints WHERE job_id = ? AND step = ?", (values["job_id"], values["step"]))
        return self._insert("checkpoints", {"id": new_id("ftckpt"), "created_at": now(), **values})

    def checkpoints(self, job_id: str, after: str | None, limit: int) -> tuple[list[dict], bool]:
        return self._page("checkpoints", "job_id = ?", [job_id], after, limit)

    def add_model(self, id: str, path: str, job_id: str) -> None:
        self._insert("models", {"id": id, "created_at": now(), "path": path, "job_id": job_id}, "INSERT OR REPLACE")

    def model(self, id: str) -> dict[str, Any] | None:
        return self._get("models", id)

    def delete_model(self, id: str) -> None:
        """Forget a fine-tuned model (its files stay on disk with its job's outputs)."""
        with self._db() as db:
            db.execute("DELETE FROM models WHERE id = ?", (id,))

    def models(self) -> list[dict[str, Any]]:
        with self._db() as db:
            return [_row(r) for r in db.execute("SELECT * FROM models ORDER BY seq")]
