"""seedance_async: an asyncio-first client for the AI/ML API's Seedance video models.

It never pays twice, never loses a job id, never hangs, and never leaks your key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._client import SeedanceClient
from ._config import PollPolicy, RetryPolicy
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ClientClosedError,
    GenerationFailed,
    GenerationTimeout,
    InsufficientCreditsError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SeedanceError,
    ServerError,
    SubmissionUncertainError,
)
from ._models import (
    Generation,
    GenerationError,
    GenerationStatus,
    JobOutcome,
    Usage,
    VideoRequest,
)

if TYPE_CHECKING:
    from ._journal import Journal, JournalEntry, JournalError

_LAZY = {"Journal", "JournalEntry", "JournalError"}  # sqlite3 loads only when used

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ClientClosedError",
    "Generation",
    "GenerationError",
    "GenerationFailed",
    "GenerationStatus",
    "GenerationTimeout",
    "InsufficientCreditsError",
    "InvalidRequestError",
    "JobOutcome",
    "Journal",
    "JournalEntry",
    "JournalError",
    "NotFoundError",
    "PermissionDeniedError",
    "PollPolicy",
    "RateLimitError",
    "RetryPolicy",
    "SeedanceClient",
    "SeedanceError",
    "ServerError",
    "SubmissionUncertainError",
    "Usage",
    "VideoRequest",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import _journal

        return getattr(_journal, name)
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("seedance-async")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
