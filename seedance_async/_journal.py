"""Journal: a durable record of every job, so a crash never loses a paid job.

One SQLite file (the standard library's sqlite3, used from a worker thread so the
event loop never blocks). For each job, keyed by your own ``key`` or a stable hash of
the request, it records that a submission is starting (before the POST), the id the
moment it comes back, and the result when it comes. A rerun then knows which jobs are
done, which to re-attach to by id, and which may have been paid for without an id.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

import anyio.to_thread
import attrs

from ._errors import SeedanceError
from ._models import Generation, GenerationError, GenerationStatus, VideoRequest

SCHEMA_VERSION: Final = 1
T = TypeVar("T")

JobState = Literal["submitting", "submitted", "uncertain", "completed", "failed"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    request TEXT NOT NULL,
    generation_id TEXT,
    raw_status TEXT,
    video_url TEXT,
    error_name TEXT,
    error_message TEXT,
    credits REAL,
    path TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_generation_id ON jobs (generation_id);
"""


class JournalError(SeedanceError):
    """The journal file cannot be used (newer schema, corrupt, or not a journal)."""


@attrs.frozen
class JournalEntry:
    """What the journal knows of one job."""

    key: str
    state: JobState
    request: dict[str, Any]
    generation_id: str | None
    raw_status: str | None
    video_url: str | None
    error: GenerationError | None
    credits: float | None
    path: str | None
    """Where the video was downloaded, once it was."""

    def generation(self) -> Generation | None:
        """The generation as last recorded (terminal states only)."""
        if self.generation_id is None or self.state not in ("completed", "failed"):
            return None
        status = GenerationStatus.COMPLETED if self.state == "completed" else GenerationStatus.ERROR
        return Generation(
            id=self.generation_id,
            status=status,
            raw_status=self.raw_status or status.value,
            video_url=self.video_url,
            error=self.error,
            credits_used=self.credits,
        )


def _describe(value: object) -> object:
    if isinstance(value, Path):
        return {"file": str(value)}
    if isinstance(value, bytes):
        return {"sha256": hashlib.sha256(value).hexdigest()}
    return value


def describe_request(request: VideoRequest) -> dict[str, Any]:
    """A JSON-able record of a request (local images by path or digest, not content)."""
    fields = attrs.asdict(request, recurse=False)
    fields["extra"] = dict(request.extra)
    for name in ("image_url", "last_image_url"):
        fields[name] = _describe(fields[name])
    return {k: v for k, v in fields.items() if v is not None and v != {}}


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _key_material(request: VideoRequest) -> dict[str, Any]:
    fields = describe_request(request)
    fields.pop("key", None)
    for name in ("image_url", "last_image_url"):
        value = getattr(request, name)
        if isinstance(value, Path):
            fields[name] = {"sha256": _file_digest(value)}
    return fields


async def request_key(request: VideoRequest) -> str:
    """The job's key: ``request.key``, or a stable hash of what would be sent."""
    if request.key:
        return request.key
    if any(isinstance(v, Path | bytes) for v in (request.image_url, request.last_image_url)):
        material = await anyio.to_thread.run_sync(_key_material, request)
    else:
        material = _key_material(request)  # nothing to read or hash at length: inline
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


class Journal:
    """A durable record of jobs in one SQLite file. Safe for concurrent use in one process.

    ``async with Journal("jobs.sqlite") as journal:`` and pass it to ``generate_many``
    (or to ``SeedanceClient(journal=...)``).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Journal {str(self.path)!r} {'open' if self._db else 'closed'}>"

    @property
    def is_open(self) -> bool:
        return self._db is not None

    async def __aenter__(self) -> Journal:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        if self._db is None:
            self._db = await anyio.to_thread.run_sync(self._connect)

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await anyio.to_thread.run_sync(self._close, db)

    def _close(self, db: sqlite3.Connection) -> None:
        with self._lock:
            db.close()

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"{self.path} is not a usable journal: {exc}") from exc
        if row is None:
            db.execute(
                "INSERT INTO meta (name, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
            )
        elif int(row[0]) > SCHEMA_VERSION:
            db.close()
            raise JournalError(
                f"{self.path} was written by a newer seedance-async (journal schema "
                f"{row[0]}, this version reads up to {SCHEMA_VERSION}); upgrade to use it"
            )
        return db

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:
            await self.open()
        db = self._db
        assert db is not None

        def locked() -> T:
            with self._lock:
                return fn(db)

        return await anyio.to_thread.run_sync(locked)

    # -- reads ---------------------------------------------------------------------------

    async def get(self, key: str) -> JournalEntry | None:
        rows = await self._run(
            lambda db: db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE key=?", (key,)).fetchall()
        )
        return _entry(rows[0]) if rows else None

    async def entries(self) -> list[JournalEntry]:
        rows = await self._run(
            lambda db: db.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY created_at").fetchall()
        )
        return [_entry(r) for r in rows]

    async def counts(self) -> dict[str, int]:
        rows = await self._run(
            lambda db: db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        )
        return {state: n for state, n in rows}

    # -- writes --------------------------------------------------------------------------

    async def submitting(self, key: str, request: VideoRequest) -> None:
        """Before the POST: if we die now, this job may have been paid for."""
        described = json.dumps(describe_request(request), default=str)
        now = time.time()
        await self._run(
            lambda db: db.execute(
                "INSERT INTO jobs (key, state, request, created_at, updated_at) "
                "VALUES (?, 'submitting', ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                "state='submitting', request=excluded.request, generation_id=NULL, "
                "updated_at=excluded.updated_at",
                (key, described, now, now),
            )
        )

    async def submitted(self, key: str, generation: Generation) -> None:
        """The id, the moment it comes back."""
        await self._update(
            key, state="submitted", generation_id=generation.id, raw_status=generation.raw_status
        )

    async def uncertain(self, key: str, reason: str) -> None:
        await self._update(key, state="uncertain", error_name="uncertain", error_message=reason)

    async def not_submitted(self, key: str) -> None:
        """The POST was refused before a job could exist: forget the attempt."""
        await self._run(
            lambda db: db.execute("DELETE FROM jobs WHERE key=? AND state='submitting'", (key,))
        )

    async def finished(self, generation: Generation) -> None:
        """The terminal result, matched by generation id."""
        err = generation.error
        fields: dict[str, Any] = {
            "state": "completed" if generation.is_completed else "failed",
            "raw_status": generation.raw_status,
            "video_url": generation.video_url,
            "error_name": err.name if err else None,
            "error_message": err.message if err else None,
        }
        if generation.credits_used is not None:
            fields["credits"] = generation.credits_used
        await self._update_where("generation_id", generation.id, fields)

    async def downloaded(self, key: str, path: str | os.PathLike[str]) -> None:
        await self._update(key, path=str(path))

    async def _update(self, key: str, **fields: Any) -> None:
        await self._update_where("key", key, fields)

    async def _update_where(self, column: str, value: str, fields: dict[str, Any]) -> None:
        names = ", ".join(f"{name}=?" for name in fields)
        params = (*fields.values(), time.time(), value)
        await self._run(
            lambda db: db.execute(
                f"UPDATE jobs SET {names}, updated_at=? WHERE {column}=?",
                params,
            )
        )


_COLUMNS: Final = (
    "key, state, request, generation_id, raw_status, video_url, error_name, "
    "error_message, credits, path"
)


def _entry(row: tuple[Any, ...]) -> JournalEntry:
    (key, state, request, gen_id, raw, url, err_name, err_msg, credits, path) = row
    error = GenerationError(err_name, err_msg or "") if err_name else None
    return JournalEntry(key, state, json.loads(request), gen_id, raw, url, error, credits, path)
