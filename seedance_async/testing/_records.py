"""What the fake server keeps and is told: fault plans, scripts, jobs, requests."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from .._wire import CREATE_PATH, LEGACY_PATH

FaultKind = Literal[
    "429",
    "500",
    "502",
    "503",
    "504",
    "html",
    "reset",
    "malformed",
    "slow",
    "created_then_reset",
    "created_then_slow",
    "created_then_500",
]
"""``html`` is a 502 with an HTML body; the ``created_then_*`` kinds are POST-only and
create the (billed) job before failing: the ambiguous cases."""

Endpoint = Literal["get", "post"]

PATHS = (CREATE_PATH, LEGACY_PATH)  # the wire module's paths: one place knows them
CREDITS_PER_5S: Mapping[str, float] = {"480p": 120_000, "720p": 260_000, "1080p": 600_000}


@attrs.define
class Faults:
    """Probabilities of each fault per request (seeded by the server's ``seed``)."""

    rate_limit: float = 0.0
    retry_after: float | None = 1.0
    server_error: float = 0.0
    """5xx answers; ``html_share`` of them with an HTML body."""
    html_share: float = 0.5
    reset: float = 0.0
    malformed: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 30.0
    created_then_reset: float = 0.0
    """POST only: the job is created, then the connection dies."""

    def draw(self, rng: random.Random) -> FaultKind | None:
        roll = rng.random()
        for chance, kind in (
            (self.rate_limit, "429"),
            (self.server_error, "5xx"),
            (self.reset, "reset"),
            (self.malformed, "malformed"),
            (self.slow, "slow"),
            (self.created_then_reset, "created_then_reset"),
        ):
            if roll < chance:
                if kind == "5xx":
                    if rng.random() < self.html_share:
                        return "html"
                    return rng.choice(("500", "502", "503", "504"))
                return kind  # type: ignore[return-value]
            roll -= chance
        return None


@attrs.define
class Script:
    """How matching jobs end. ``status`` is the final word sent (``failed``,
    ``expired``, ``succeeded``...); ``fail`` sends an error object too."""

    match: Callable[[Mapping[str, Any]], bool]
    status: str = "completed"
    fail: bool = False
    error_shape: Literal["name", "detail"] = "name"
    processing_time: float | None = None
    times: int | None = None


@attrs.define
class FakeJob:
    id: str
    body: dict[str, Any]
    created_at: float
    finish_at: float
    final_status: str
    fail: bool
    error_shape: str
    credits: float
    polls: int = 0
    seen_done_at: float | None = None
    """When a status read first reported the job finished."""


@attrs.frozen
class RecordedRequest:
    at: float
    method: str
    host: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    json: Any
