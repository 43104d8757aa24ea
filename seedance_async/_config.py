"""Configuration: every tunable in one place, as frozen attrs classes with sane defaults.

Change a policy with ``attrs.evolve(policy, field=value)``.
"""

from __future__ import annotations

import os
from typing import Final

import attrs

DEFAULT_BASE_URL: Final = "https://api.aimlapi.com"
API_KEY_ENV: Final = "AIMLAPI_API_KEY"
BASE_URL_ENV: Final = "SEEDANCE_BASE_URL"
DEFAULT_MODEL: Final = "bytedance/seedance-1-0-pro-i2v"

DEFAULT_MAX_IN_FLIGHT: Final = 8
DEFAULT_REQUEST_TIMEOUT: Final = 60.0
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024
DEFAULT_MAX_DOWNLOAD_BYTES: Final = 2 * 1024 * 1024 * 1024


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """How failed HTTP requests are retried.

    GETs retry on 408, 429, 5xx, connection errors and timeouts. The paid POST retries
    only when no job can have been created: the connection never opened, or a 429, 502
    or 503. After an ambiguous failure it raises ``SubmissionUncertainError`` unless
    ``resubmit_uncertain`` is true (which risks paying twice).
    """

    attempts: int = attrs.field(default=5, validator=attrs.validators.ge(1))
    """Total tries of one request, the first one included."""
    backoff_base: float = attrs.field(default=0.5, validator=_positive)
    """Seconds; the n-th retry waits a random time in [0, min(cap, base * 2**n)]."""
    backoff_cap: float = attrs.field(default=20.0, validator=_positive)
    """Seconds; the longest backoff between two tries."""
    retry_after_cap: float = attrs.field(default=120.0, validator=_positive)
    """Seconds; a server's Retry-After is honoured up to this."""
    resubmit_uncertain: bool = False
    """Retry the paid POST even after an ambiguous failure (may create a second job)."""


@attrs.frozen
class PollPolicy:
    """When the shared scheduler checks on a job.

    A job is checked once early (``first_poll``: catches instant rejections), then left
    alone until ``window_start`` of its expected duration, checked every
    ``window_interval`` of its age until ``window_end``, then with growing gaps. The expected
    duration starts from the vendor's published times and is learned per
    (model, resolution, duration) as jobs finish. While a kind of job has no learned
    timing yet, its first jobs' early checks grow geometrically (``probe_growth``), so a server
    much faster than the prior is noticed. All durations are multiplied by
    ``time_scale`` (benchmarks compress time with it). Only the first ``scouts`` jobs
    of an unlearned kind probe; the others wait for what the scouts learn.
    """

    first_poll: float = attrs.field(default=2.0, validator=_positive)
    """Seconds after submission of the first check."""
    probe_growth: float = attrs.field(default=2.0, validator=attrs.validators.gt(1.0))
    """Growth of early checks while a kind of job has no learned timing."""
    scouts: int = attrs.field(default=3, validator=attrs.validators.ge(0))
    """Jobs of a not-yet-learned kind that probe early; the rest trust the prior until
    the scouts report (then they are moved to the learned timing)."""
    early_check_when_learned: bool = False
    """Keep the early check for kinds of job whose timing is learned."""
    window_start: float = attrs.field(default=0.9, validator=_positive)
    """Share of the expected duration at which dense checking starts."""
    window_interval: float = attrs.field(default=0.09, validator=_positive)
    """Inside the window, each check comes this share of the job's age after the last:
    the detection lag stays under this share of the job's duration."""
    spread: float = attrs.field(default=0.1, validator=_positive)
    """Assumed spread of durations (standard deviation as a share of the expected one),
    used to read partial observations when learning."""
    window_end: float = attrs.field(default=1.3, validator=_positive)
    """Fraction of the expected duration after which gaps grow by ``backoff``."""
    backoff: float = attrs.field(default=1.5, validator=attrs.validators.ge(1.0))
    min_interval: float = attrs.field(default=1.0, validator=_positive)
    """Seconds; no job is checked more often than this."""
    max_interval: float = attrs.field(default=30.0, validator=_positive)
    """Seconds; no job goes longer than this without a check once past its window."""
    jitter: float = attrs.field(default=0.1, validator=_non_negative)
    """Each gap is stretched or shrunk by a random share up to this."""
    expected_seconds: float | None = None
    """Override the prior: expected duration of every job, in seconds (before scaling)."""
    learn: bool = True
    """Learn real durations as jobs finish."""
    time_scale: float = attrs.field(default=1.0, validator=_positive)
    """Multiplies every duration and interval (0.1 compresses time ten-fold)."""
    max_polls_per_second: float = attrs.field(default=20.0, validator=_positive)
    """Ceiling on status reads per second for the whole client, in any 1-second window."""
    max_concurrent_polls: int = attrs.field(default=16, validator=attrs.validators.ge(1))
    """Status reads under way at once."""
    unknown_id_attempts: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    """404s in a row before an id is declared unknown to the server."""
    error_backoff_cap: float = attrs.field(default=60.0, validator=_positive)
    """Seconds; longest wait after a failed status read."""
    final_check: float = attrs.field(default=1.0, validator=_non_negative)
    """Seconds before a waiter's deadline at which one last check is made."""


def env_api_key() -> str | None:
    return os.environ.get(API_KEY_ENV) or None


def env_base_url() -> str | None:
    return os.environ.get(BASE_URL_ENV) or None
