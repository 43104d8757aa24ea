"""The exception tree. Everything this library raises on purpose is a ``SeedanceError``.

```
SeedanceError
├── InvalidRequestError (also ValueError)      bad input, raised before any traffic
├── ClientClosedError                          the client is closed (or was never opened)
├── BudgetExceededError                        a submission would go over budget_credits
├── APIError
│   ├── APIStatusError                         the API answered with an error status
│   │   ├── BadRequestError                    400, 422
│   │   ├── AuthenticationError                401
│   │   ├── PermissionDeniedError              403
│   │   │   └── InsufficientCreditsError       402, or 403 "out of funds"
│   │   ├── NotFoundError                      404
│   │   ├── RateLimitError                     429
│   │   └── ServerError                        5xx
│   ├── APIConnectionError                     no usable answer (refused, reset, bad body)
│   │   └── APITimeoutError (also TimeoutError)
│   └── SubmissionUncertainError               the paid POST may or may not have created a job
├── GenerationFailed                           the job ended in a failed state
└── GenerationTimeout (also TimeoutError)      wait() gave up; the job may still finish
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._models import Generation, VideoRequest


class SeedanceError(Exception):
    """Base class of every error this library raises on purpose."""


class InvalidRequestError(SeedanceError, ValueError):
    """A request failed validation before anything was sent."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class ClientClosedError(SeedanceError, RuntimeError):
    """The client is not open: use it inside ``async with``, and not after closing it."""


class BudgetExceededError(SeedanceError):
    """A submission was refused because it would go over ``budget_credits``."""

    def __init__(self, message: str, *, budget: float, spent: float, estimate: float) -> None:
        self.budget = budget
        self.spent = spent
        self.estimate = estimate
        super().__init__(message)


class APIError(SeedanceError):
    """Something went wrong talking to the API."""


class APIStatusError(APIError):
    """The API answered with an error HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        request_id: str | None = None,
        body: Any = None,
        url: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        self.body = body
        self.url = url
        self.retry_after = retry_after
        super().__init__(message)

    def __str__(self) -> str:
        parts = [f"HTTP {self.status_code}: {self.message}"]
        if self.url:
            parts.append(f"url={self.url}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)


class BadRequestError(APIStatusError):
    """400/422: the API rejected the request body or query."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or invalid."""


class PermissionDeniedError(APIStatusError):
    """403: the account may not do this (for example it needs verification)."""


class InsufficientCreditsError(PermissionDeniedError):
    """402, or a 403 saying the account ran out of funds or credits."""


class NotFoundError(APIStatusError):
    """404: unknown endpoint or generation id."""


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` holds the server's hint when it gave one."""


class ServerError(APIStatusError):
    """5xx: the API or a gateway in front of it failed."""


class APIConnectionError(APIError):
    """No usable answer: the connection failed, was reset, or the body was unreadable."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        self.message = message
        self.url = url
        super().__init__(message if url is None else f"{message} (url={url})")


class APITimeoutError(APIConnectionError, TimeoutError):
    """A single HTTP request took longer than its timeout."""


class SubmissionUncertainError(APIError):
    """The paid POST was sent but no clear answer came back: a job may exist and be billed.

    It is not retried by default, so you never pay twice. Check your dashboard, or opt in
    to resubmitting with ``RetryPolicy(resubmit_uncertain=True)``.
    """

    def __init__(self, message: str, *, request: VideoRequest | None = None) -> None:
        self.request = request
        super().__init__(message)


class GenerationFailed(SeedanceError):
    """The generation reached a failed terminal state; ``generation`` holds it."""

    def __init__(self, generation: Generation) -> None:
        self.generation = generation
        err = generation.error
        detail = f"{err.name}: {err.message}" if err else "no error details given"
        super().__init__(
            f"generation {generation.id} ended as {generation.raw_status!r} ({detail})"
        )


class GenerationTimeout(SeedanceError, TimeoutError):
    """``wait`` ran out of time. The job may still finish: wait on ``generation_id`` again."""

    def __init__(self, generation_id: str, timeout: float, last: Generation | None = None) -> None:
        self.generation_id = generation_id
        self.timeout = timeout
        self.last = last
        status = f", last seen {last.raw_status!r}" if last else ""
        super().__init__(
            f"generation {generation_id} not finished after {timeout:g}s{status}; "
            "it may still finish: wait on it again"
        )
