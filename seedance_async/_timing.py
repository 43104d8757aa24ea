"""When to check a job next, and what the scheduler has learned about durations.

Pure functions of time: no I/O, no clock. The scheduler asks; tests check the answers.
"""

from __future__ import annotations

import math
import random
from collections import deque
from typing import Final

from . import _catalog
from ._config import PollPolicy

Kind = tuple[str, str, int]
"""(model, resolution, duration): jobs of one kind take about as long as each other."""

_PROBE_REACH: Final = 0.85  # a probe this close to the window gives way to it
_MIN_ALPHA: Final = 0.05  # ~100 jobs of memory: jobs started together finish in order of length
_RESCHEDULE_DROP: Final = 0.6


class Learner:
    """Expected durations per kind of job: the vendor's prior, then what was observed."""

    __slots__ = ("_learned", "_policy", "_ratio", "_ratio_n", "_scouts")

    def __init__(self, policy: PollPolicy) -> None:
        self._policy = policy
        self._learned: dict[Kind, tuple[float, int]] = {}
        """Per kind: (expected seconds, observations)."""
        self._scouts: dict[Kind, int] = {}
        self._ratio = 1.0
        self._ratio_n = 0

    def __repr__(self) -> str:
        shown = {k: round(v[0], 2) for k, v in self._learned.items()}
        return f"<Learner learned={shown} prior_ratio={self._ratio:.2f}>"

    def prior(self, kind: Kind | None) -> float:
        policy = self._policy
        if policy.expected_seconds is not None:
            base = policy.expected_seconds
        elif kind is None:
            base = _catalog.UNKNOWN_MODEL_SECONDS
        else:
            base = _catalog.expected_seconds(*kind)
        return base * policy.time_scale

    def expected(self, kind: Kind | None) -> float:
        """Expected seconds from submission to completion (already time-scaled)."""
        if kind is not None and kind in self._learned:
            return self._learned[kind][0]
        return self.prior(kind) * self._ratio

    def is_learned(self, kind: Kind | None) -> bool:
        return kind is not None and kind in self._learned

    def take_scout(self, kind: Kind | None) -> bool:
        """Whether a new job of ``kind`` should probe early: only the first few jobs of
        a kind with no learned timing do (jobs of unknown kind always do)."""
        if kind is None:
            return True
        if kind in self._learned:
            return False
        taken = self._scouts.get(kind, 0)
        if taken >= self._policy.scouts:
            return False
        self._scouts[kind] = taken + 1
        return True

    def observe(self, kind: Kind, low: float, high: float) -> bool:
        """Record that one job of ``kind`` finished between ``low`` and ``high`` seconds
        after submission (the last check that saw it pending, the first that saw it
        done). True when the estimate dropped sharply (callers then move jobs of this
        kind that were planned on the old estimate).

        The sample is the mean of the current duration model (normal) restricted to
        that interval: a wide interval, as when a job was already done at its first
        check, is neither taken at face value nor thrown away, so the estimate does
        not drift towards the jobs that happened to be seen pending (the long ones).
        """
        if not self._policy.learn or high <= 0:
            return False
        old = self.expected(kind)
        estimate, n = self._learned.get(kind, (old, 0))
        sigma = max(self._policy.spread * estimate, 1e-9)
        sample = _truncated_mean(estimate, sigma, max(low, 0.0), high)
        n += 1
        estimate += max(1.0 / n, _MIN_ALPHA) * (sample - estimate)
        self._learned[kind] = (estimate, n)
        self._ratio_n += 1
        self._ratio += max(1.0 / self._ratio_n, _MIN_ALPHA) * (
            sample / self.prior(kind) - self._ratio
        )
        return estimate < old * _RESCHEDULE_DROP


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _normal_pdf(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _truncated_mean(mu: float, sigma: float, low: float, high: float) -> float:
    """Mean of N(mu, sigma) restricted to (low, high]."""
    a, b = (low - mu) / sigma, (high - mu) / sigma
    mass = _normal_cdf(b) - _normal_cdf(a)
    if mass < 1e-12:  # the interval is far in a tail: its nearer end is the best guess
        return high if high <= mu else low
    return min(max(mu + sigma * (_normal_pdf(a) - _normal_pdf(b)) / mass, low), high)


def next_delay(
    policy: PollPolicy,
    *,
    elapsed: float,
    expected: float,
    learned: bool,
    polls: int,
    rng: random.Random,
) -> float:
    """Seconds from now until the next check of a job ``elapsed`` seconds old.

    Before the window: probes (scouts of unlearned kinds only), else nothing. In the
    window, each check comes ``window_interval`` of the job's age after the last, so
    the detection lag stays within that share of the job's duration. Past
    ``window_end``, gaps grow by ``backoff`` up to ``max_interval``.
    """
    scale = policy.time_scale
    floor = policy.min_interval * scale
    window_start = policy.window_start * expected
    window_end = policy.window_end * expected
    step = max(floor, policy.window_interval * max(elapsed, window_start))
    if elapsed < window_start - floor / 2:
        probing = not learned or (policy.early_check_when_learned and polls == 0)
        first = policy.first_poll * scale
        if probing and elapsed < first:
            target = first
        elif probing and not learned:
            target = elapsed * policy.probe_growth
        else:
            target = window_start
        if target > _PROBE_REACH * window_start:
            target = window_start
    elif elapsed < window_end:
        target = elapsed + step
    else:
        gap = step + (elapsed - window_end) * (policy.backoff - 1.0)
        target = elapsed + min(policy.max_interval * scale, gap)
    delay = max(target - elapsed, floor if polls else 0.0)
    if policy.jitter:  # de-synchronise jobs, by a share of one step at most
        delay += rng.uniform(-policy.jitter, policy.jitter) * min(delay, step)
    return max(delay, 0.0)


class RateWindow:
    """At most ``rate`` starts in any one-second window (exact, not a token bucket).

    Below one per second it spaces starts ``1 / rate`` apart. After a 429 the rate is
    halved and then recovers additively as reads succeed.
    """

    __slots__ = ("_cap", "_ceiling", "_period", "_rate", "_starts")

    def __init__(self, ceiling: float) -> None:
        self._ceiling = ceiling
        self._rate = ceiling
        self._starts: deque[float] = deque()
        self._cap = 1
        self._period = 1.0
        self._set(ceiling)

    def __repr__(self) -> str:
        return f"<RateWindow rate={self._rate:.2f}/s ceiling={self._ceiling:g}/s>"

    @property
    def rate(self) -> float:
        return self._rate

    def _set(self, rate: float) -> None:
        self._rate = rate
        if rate >= 1:
            self._cap, self._period = int(rate), 1.0
        else:
            self._cap, self._period = 1, 1.0 / rate
        while len(self._starts) > self._cap:
            self._starts.popleft()

    def next_allowed(self, now: float) -> float:
        if len(self._starts) < self._cap:
            return now
        return max(now, self._starts[0] + self._period)

    def take(self, now: float) -> None:
        self._starts.append(now)
        while len(self._starts) > self._cap:
            self._starts.popleft()

    def slow_down(self) -> None:
        self._set(max(self._rate / 2, min(0.5, self._ceiling)))

    def recover(self) -> None:
        if self._rate < self._ceiling:
            self._set(min(self._ceiling, self._rate + max(0.05, self._ceiling / 50)))
