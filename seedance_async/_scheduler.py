"""PollScheduler: one loop that checks every tracked generation for one client.

A heap of (due time, id) and one task: no per-job sleep loops. Many waiters on one id
share one status read; reads are bounded in concurrency and in rate (any one-second
window); a 429 slows every read of the client. Timing is injectable (clock, sleep).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

import anyio

from ._config import PollPolicy
from ._errors import (
    APIError,
    AuthenticationError,
    ClientClosedError,
    GenerationTimeout,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from ._models import Generation
from ._timing import Kind, Learner, RateWindow, next_delay

logger: Final = logging.getLogger("seedance_async")

Fetch = Callable[[str], Awaitable[Generation]]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_DONE: Final = object()


class _Tracked:
    """One generation id the scheduler is watching."""

    __slots__ = (
        "before_window",
        "checks",
        "errors",
        "id",
        "kind",
        "last",
        "last_pending",
        "not_found",
        "on_finish",
        "planned_at",
        "polling",
        "polls",
        "scout",
        "submitted_at",
        "subscribers",
        "task",
        "token",
        "waiters",
    )

    def __init__(self, gen_id: str, kind: Kind | None, submitted_at: float) -> None:
        self.id = gen_id
        self.kind = kind
        self.submitted_at = submitted_at
        self.last: Generation | None = None
        self.last_pending: float | None = None
        self.waiters: set[asyncio.Future[Generation]] = set()
        self.checks: dict[asyncio.Future[Generation], float] = {}
        """Per waiter with a deadline: when to take one last look before it gives up."""
        self.subscribers: set[asyncio.Queue[object]] = set()
        self.on_finish: Callable[[], None] | None = None
        self.token = 0
        self.planned_at = 0.0
        self.polls = 0
        self.errors = 0
        self.not_found = 0
        self.polling = False
        self.scout = True
        self.before_window = False
        self.task: asyncio.Task[None] | None = None

    def release(self) -> None:
        """Give back whatever was held for this job (the client's in-flight slot)."""
        callback, self.on_finish = self.on_finish, None
        if callback is not None:
            callback()

    @property
    def watched(self) -> bool:
        return bool(self.waiters or self.subscribers or self.on_finish)


class _Deadline:
    """When a waiter gives up; ``future`` is cleared once the waiter is gone."""

    __slots__ = ("future", "gen_id", "timeout")

    def __init__(self, future: asyncio.Future[Generation], gen_id: str, timeout: float) -> None:
        self.future: asyncio.Future[Generation] | None = future
        self.gen_id = gen_id
        self.timeout = timeout


class PollScheduler:
    """Tracks generation ids and resolves their waiters when they reach a terminal state."""

    def __init__(
        self,
        fetch: Fetch,
        policy: PollPolicy,
        *,
        clock: Clock,
        sleep: Sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._fetch = fetch
        self._policy = policy
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._learner = Learner(policy)
        self._rate = RateWindow(policy.max_polls_per_second)
        self._tracked: dict[str, _Tracked] = {}
        self._heap: list[tuple[float, int, str, int]] = []
        self._seq = itertools.count()
        self._deadlines: list[tuple[float, int, _Deadline]] = []
        self._stale_deadlines = 0
        self._polls: set[asyncio.Task[None]] = set()
        self._paused_until = 0.0
        self._rate_limit_streak = 0
        self._sleeping: anyio.CancelScope | None = None
        self._sleep_until = math.inf
        self._slot_blocked = False
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"<PollScheduler tracked={len(self._tracked)} polling={len(self._polls)} "
            f"rate={self._rate.rate:.2f}/s>"
        )

    @property
    def learner(self) -> Learner:
        return self._learner

    @property
    def tracked_count(self) -> int:
        return len(self._tracked)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="seedance-poll-scheduler"
            )

    async def close(self) -> None:
        """Stop polling; wake every waiter with ``ClientClosedError``."""
        self._closed = True
        tasks = [t for t in (self._task, *self._polls) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        closed = ClientClosedError("the client was closed while this job was being waited on")
        for entry in list(self._tracked.values()):
            self._finish(entry, error=closed)
        self._heap.clear()
        self._deadlines.clear()

    # -- tracking ----------------------------------------------------------------------

    def track(
        self,
        gen_id: str,
        *,
        kind: Kind | None = None,
        submitted_at: float | None = None,
        on_finish: Callable[[], None] | None = None,
        first: Generation | None = None,
    ) -> None:
        """Start watching an id (idempotent). ``on_finish`` runs once it stops being watched."""
        self._check_open()
        entry = self._tracked.get(gen_id)
        if entry is None:
            now = self._clock()
            entry = _Tracked(gen_id, kind, now if submitted_at is None else submitted_at)
            entry.last = first
            entry.scout = self._learner.take_scout(kind)
            self._tracked[gen_id] = entry
            if submitted_at is None and kind is None:
                self._plan(entry, now)  # an id we know nothing about: look now
            else:
                self._plan(entry, now + self._delay(entry, now))
        if on_finish is not None:
            previous = entry.on_finish
            entry.on_finish = on_finish if previous is None else _both(previous, on_finish)

    async def wait(self, gen_id: str, timeout: float | None) -> Generation:
        """The terminal generation (``GenerationTimeout`` after ``timeout`` seconds)."""
        self.track(gen_id)
        entry = self._tracked[gen_id]
        fut: asyncio.Future[Generation] = asyncio.get_running_loop().create_future()
        entry.waiters.add(fut)
        limit: _Deadline | None = None
        if timeout is not None:
            now = self._clock()
            deadline = now + max(timeout, 0.0)
            limit = _Deadline(fut, gen_id, timeout)
            heapq.heappush(self._deadlines, (deadline, next(self._seq), limit))
            self._wake(deadline)
            check = deadline - self._policy.final_check * self._policy.time_scale
            if check > now:
                entry.checks[fut] = check
                if check < entry.planned_at:
                    self._push(entry, check)
        resolved = False
        try:
            result = await fut
            resolved = True
            return result
        finally:
            if limit is not None and limit.future is not None:
                limit.future = None  # the heap entry stays until due: let it hold nothing
                self._stale_deadlines += 1
                self._compact_deadlines()
            entry.waiters.discard(fut)
            entry.checks.pop(fut, None)
            if not resolved:
                entry.release()  # a waiter gave up: stop holding the job's slot
            self._forget_if_unwatched(entry)

    async def updates(self, gen_id: str) -> AsyncIterator[Generation]:
        """Each status change of ``gen_id``, the terminal one last."""
        self.track(gen_id)
        entry = self._tracked[gen_id]
        queue: asyncio.Queue[object] = asyncio.Queue()
        if entry.last is not None:
            queue.put_nowait(entry.last)
        entry.subscribers.add(queue)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                if item is _DONE:
                    return
                assert isinstance(item, Generation)
                yield item
                if item.is_terminal:
                    return
        finally:
            entry.subscribers.discard(queue)
            self._forget_if_unwatched(entry)

    # -- the loop --------------------------------------------------------------------

    async def _run(self) -> None:
        policy = self._policy
        while True:
            now = self._clock()
            self._fire_deadlines(now)
            wake_at: float | None = self._deadlines[0][0] if self._deadlines else None
            self._slot_blocked = False
            while self._heap:
                due, _, gen_id, token = self._heap[0]
                entry = self._tracked.get(gen_id)
                if entry is None or entry.token != token or entry.polling:
                    heapq.heappop(self._heap)
                    continue
                start_at = max(due, self._paused_until, self._rate.next_allowed(now))
                if start_at > now:
                    wake_at = start_at if wake_at is None else min(wake_at, start_at)
                    break
                if len(self._polls) >= policy.max_concurrent_polls:
                    self._slot_blocked = True  # a finishing read wakes the loop
                    break
                heapq.heappop(self._heap)
                later = self._still_early(entry, now)
                if later is not None:
                    self._plan(entry, later)
                    continue
                self._rate.take(now)
                self._start_poll(entry)
            delay = None if wake_at is None else max(wake_at - now, 0.0)
            with anyio.CancelScope() as scope:
                self._sleeping = scope
                if delay is None:
                    self._sleep_until = math.inf
                    await anyio.sleep_forever()
                else:
                    self._sleep_until = now + delay
                    await self._sleep(delay)
            self._sleeping = None

    def _wake(self, due: float = -math.inf) -> None:
        """Interrupt the loop's sleep if something is now due before it would wake."""
        if self._sleeping is not None and due < self._sleep_until:
            self._sleeping.cancel()
            self._sleeping = None

    def _fire_deadlines(self, now: float) -> None:
        while self._deadlines and self._deadlines[0][0] <= now:
            _, _, limit = heapq.heappop(self._deadlines)
            fut = limit.future
            if fut is None:
                self._stale_deadlines -= 1
            elif not fut.done():
                entry = self._tracked.get(limit.gen_id)
                last = entry.last if entry else None
                fut.set_exception(GenerationTimeout(limit.gen_id, limit.timeout, last))

    def _compact_deadlines(self) -> None:
        """Drop deadlines of waiters that are gone, once they are most of the heap."""
        if self._stale_deadlines > max(1000, len(self._deadlines) // 2):
            self._deadlines = [d for d in self._deadlines if d[2].future is not None]
            heapq.heapify(self._deadlines)
            self._stale_deadlines = 0

    def _start_poll(self, entry: _Tracked) -> None:
        entry.polling = True
        task = asyncio.get_running_loop().create_task(self._poll(entry))
        entry.task = task
        self._polls.add(task)
        task.add_done_callback(self._poll_done)

    def _poll_done(self, task: asyncio.Task[None]) -> None:
        self._polls.discard(task)
        if self._slot_blocked:
            self._wake()

    async def _poll(self, entry: _Tracked) -> None:
        sent = self._clock()
        try:
            gen = await self._fetch(entry.id)
        except RateLimitError as exc:
            self._rate_limited(exc)
            self._plan(entry, max(self._paused_until, self._clock()))
        except (AuthenticationError, PermissionDeniedError) as exc:
            logger.error("status read refused (%s): failing every waiter", exc)
            for other in list(self._tracked.values()):
                self._finish(other, error=exc)
        except NotFoundError as exc:
            entry.not_found += 1
            if entry.not_found >= self._policy.unknown_id_attempts:
                self._finish(entry, error=exc)
            else:
                self._retry_later(entry, exc)
        except APIError as exc:
            self._retry_later(entry, exc)
        except Exception as exc:  # a bug or a hostile answer must not stop the loop
            logger.exception("unexpected error reading %s", entry.id)
            self._retry_later(entry, exc)
        else:
            self._rate.recover()
            self._rate_limit_streak = 0
            self._observed(entry, gen, sent)
        finally:
            entry.polling = False

    def _rate_limited(self, exc: RateLimitError) -> None:
        self._rate.slow_down()
        self._rate_limit_streak += 1
        pause = exc.retry_after
        if pause is None:
            pause = 2.0**self._rate_limit_streak * self._policy.time_scale
        pause = min(pause, self._policy.error_backoff_cap)
        until = self._clock() + pause
        if until > self._paused_until:
            self._paused_until = until
            logger.warning("rate limited: pausing every status read for %.1fs", pause)

    def _retry_later(self, entry: _Tracked, exc: BaseException) -> None:
        entry.errors += 1
        backoff = min(
            self._policy.error_backoff_cap,
            self._policy.min_interval * self._policy.time_scale * 2 ** min(entry.errors, 16),
        )
        logger.info("status read of %s failed (%s); again in %.1fs", entry.id, exc, backoff)
        self._plan(entry, self._clock() + backoff * (0.5 + self._rng.random() / 2))

    def _observed(self, entry: _Tracked, gen: Generation, sent: float) -> None:
        now = self._clock()
        # The server answered somewhere between sending and receiving: take the middle.
        seen = (sent + now) / 2 - entry.submitted_at
        entry.polls += 1
        entry.errors = entry.not_found = 0
        previous, entry.last = entry.last, gen
        changed = previous is None or (previous.status, previous.raw_status) != (
            gen.status,
            gen.raw_status,
        )
        if changed:
            for queue in entry.subscribers:
                queue.put_nowait(gen)
        if not gen.is_terminal:
            entry.last_pending = seen
            self._plan(entry, now + self._delay(entry, now))
            return
        if gen.is_completed and entry.kind is not None:
            self._learn(entry, now, seen)
        self._finish(entry, result=gen)

    def _learn(self, entry: _Tracked, now: float, seen: float) -> None:
        assert entry.kind is not None
        if self._learner.observe(entry.kind, entry.last_pending or 0.0, seen):
            for other in self._tracked.values():
                if other.kind == entry.kind and not other.polling:
                    due = now + self._delay(other, now)
                    if due < other.planned_at:
                        self._plan(other, due)

    def _finish(
        self,
        entry: _Tracked,
        *,
        result: Generation | None = None,
        error: BaseException | None = None,
    ) -> None:
        self._tracked.pop(entry.id, None)
        entry.token += 1
        for fut in entry.waiters:
            if not fut.done():
                if error is not None:
                    fut.set_exception(error)
                else:
                    assert result is not None
                    fut.set_result(result)
        for queue in entry.subscribers:
            queue.put_nowait(error if error is not None else _DONE)
        entry.release()

    def _forget_if_unwatched(self, entry: _Tracked) -> None:
        if not entry.watched and self._tracked.get(entry.id) is entry:
            del self._tracked[entry.id]
            entry.token += 1
            if entry.task is not None and not entry.task.done():
                entry.task.cancel()  # nobody wants the answer

    # -- planning ----------------------------------------------------------------------

    def _delay(self, entry: _Tracked, now: float) -> float:
        expected = self._learner.expected(entry.kind)
        learned = not entry.scout or self._learner.is_learned(entry.kind)
        elapsed = now - entry.submitted_at
        entry.before_window = learned and elapsed < self._policy.window_start * expected
        return next_delay(
            self._policy,
            elapsed=elapsed,
            expected=expected,
            learned=learned,
            polls=entry.polls,
            rng=self._rng,
        )

    def _still_early(self, entry: _Tracked, now: float) -> float | None:
        """A job planned to be checked when its window opens, whose window (by what was
        learned since) opens later: when to check instead. Jobs that started together
        finish shortest first, so estimates made early in such a wave run low."""
        if not entry.before_window or entry.checks:
            return None
        later = entry.submitted_at + self._policy.window_start * self._learner.expected(entry.kind)
        floor = self._policy.min_interval * self._policy.time_scale
        return later if later - now > floor else None

    def _plan(self, entry: _Tracked, due: float) -> None:
        now = self._clock()
        for check in entry.checks.values():
            if now < check < due:
                due = check
        entry.token += 1
        entry.planned_at = due
        self._push(entry, due)

    def _push(self, entry: _Tracked, due: float) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), entry.id, entry.token))
        self._wake(due)

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("the client is closed")


def _both(first: Callable[[], None], second: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        first()
        second()

    return run
