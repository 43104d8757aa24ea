"""The shared scheduler on a fake clock: schedules, sharing, ceilings, pauses, deadlines."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter

import pytest

import seedance_async as sa
from seedance_async import _timing
from seedance_async._scheduler import PollScheduler
from seedance_async.testing import FakeClock

KIND = ("bytedance/seedance-1-0-pro-i2v", "1080p", 5)  # prior: 56 s


class Backend:
    """Jobs that finish at set times; every read is recorded."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.finish: dict[str, float] = {}
        self.reads: list[tuple[float, str]] = []
        self.errors: list[BaseException] = []
        self.final = "completed"

    async def fetch(self, gen_id: str) -> sa.Generation:
        self.reads.append((self.clock.now(), gen_id))
        if self.errors:
            raise self.errors.pop(0)
        done = self.clock.now() >= self.finish.get(gen_id, float("inf"))
        word = self.final if done else "generating"
        return sa.Generation(id=gen_id, status=_status(word), raw_status=word)


def _status(word: str) -> sa.GenerationStatus:
    from seedance_async._wire import parse_status

    return parse_status(word)


def make(clock: FakeClock, backend: Backend, **policy: object) -> PollScheduler:
    policy.setdefault("jitter", 0.0)
    sched = PollScheduler(
        backend.fetch,
        sa.PollPolicy(**policy),  # type: ignore[arg-type]
        clock=clock.now,
        sleep=clock.sleep,
        rng=random.Random(1),
    )
    sched.start()
    return sched


async def test_poll_schedule_of_one_job_with_the_vendor_prior(clock: FakeClock) -> None:
    backend = Backend(clock)
    backend.finish["a"] = 55.0
    sched = make(clock, backend)
    sched.track("a", kind=KIND, submitted_at=0.0)
    waiter = asyncio.ensure_future(sched.wait("a", timeout=None))
    await clock.run_until(waiter.done, step=0.5)
    times = [t for t, _ in backend.reads]
    # probes doubling from 2 s (nothing learned yet), then from 0.9 x 56 s each 9% of the age
    assert times[:5] == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert times[5] == pytest.approx(50.4, abs=0.01)
    for a, b in itertools.pairwise(times[5:]):
        assert b - a == pytest.approx(0.09 * a, abs=0.01)
    assert waiter.result().is_completed
    assert times[-1] - 55.0 <= 0.09 * 55.0  # known within 9% of the job's duration
    await sched.close()


async def test_learned_timing_converges_and_polls_about_twice(clock: FakeClock) -> None:
    backend = Backend(clock)
    sched = make(clock, backend)
    lags = []
    for i in range(25):  # jobs of one kind, one after another, all taking 30 s (prior: 56)
        gid = f"j{i}"
        start = clock.now()
        backend.finish[gid] = start + 30.0
        sched.track(gid, kind=KIND, submitted_at=start)
        waiter = asyncio.ensure_future(sched.wait(gid, timeout=None))
        await clock.run_until(waiter.done, step=0.25)
        lags.append(max(t for t, g in backend.reads if g == gid) - backend.finish[gid])
    per_job = Counter(g for _, g in backend.reads)
    assert per_job["j0"] == 5  # probes at 2, 4, 8, 16 s, then done at 32 s
    assert all(per_job[f"j{i}"] <= 3 for i in range(1, 25)), per_job
    assert all(lag <= 0.1 * 30.0 for lag in lags[15:]), lags
    assert sched.learner.expected(KIND) == pytest.approx(30.0, rel=0.1)
    await sched.close()


async def test_fast_server_is_noticed_quickly(clock: FakeClock) -> None:
    backend = Backend(clock)
    backend.finish["fast"] = 1.0
    sched = make(clock, backend)
    sched.track("fast", kind=KIND, submitted_at=0.0)
    waiter = asyncio.ensure_future(sched.wait("fast", timeout=None))
    await clock.run_until(waiter.done, step=0.1)
    assert clock.now() <= 2.1
    await sched.close()


async def test_waiters_share_one_poll(clock: FakeClock) -> None:
    backend = Backend(clock)
    backend.finish["a"] = 3.0
    sched = make(clock, backend)
    waiters = [asyncio.ensure_future(sched.wait("a", timeout=None)) for _ in range(50)]
    await clock.run_until(lambda: all(w.done() for w in waiters), step=0.5)
    assert len({w.result() for w in waiters}) == 1
    assert len(backend.reads) <= 4  # one read per check, not per waiter
    await sched.close()


async def test_poll_ceiling_holds_in_every_window_with_1000_ids(clock: FakeClock) -> None:
    backend = Backend(clock)
    sched = make(clock, backend, max_polls_per_second=20, max_concurrent_polls=50)
    for i in range(1000):
        backend.finish[f"id{i}"] = 5.0
        sched.track(f"id{i}", kind=KIND, submitted_at=0.0, on_finish=lambda: None)
    await clock.run_until(lambda: sched.tracked_count == 0, step=0.05, limit=600)
    times = sorted(t for t, _ in backend.reads)
    assert len(times) >= 1000
    j = 0
    for i, t in enumerate(times):  # every window [t, t + 1) starting at a read
        while j < len(times) and times[j] < t + 1.0:
            j += 1
        assert j - i <= 20, f"{j - i} reads in the second after {t}"
    await sched.close()


async def test_rate_limit_pauses_every_poll_then_recovers(clock: FakeClock) -> None:
    backend = Backend(clock)
    sched = make(clock, backend, max_polls_per_second=100, first_poll=1.0)
    backend.errors.append(sa.RateLimitError("slow down", status_code=429, retry_after=10.0))
    for i in range(20):
        backend.finish[f"r{i}"] = 4.0
        sched.track(f"r{i}", kind=KIND, submitted_at=0.0, on_finish=lambda: None)
    await clock.advance(1.05)  # the first read gets a 429 at t=1
    first_wave = [t for t, _ in backend.reads]
    assert first_wave and first_wave[0] == pytest.approx(1.0)
    await clock.advance(8.0)  # every read waits out Retry-After
    assert [t for t, _ in backend.reads if 1.0 < t < 11.0] == []
    await clock.run_until(lambda: sched.tracked_count == 0, step=0.1, limit=120)
    after = sorted(t for t, _ in backend.reads if t >= 11.0)
    assert after and after[0] == pytest.approx(11.0, abs=0.01)
    await sched.close()


async def test_generation_timeout_at_the_deadline_with_a_last_check(clock: FakeClock) -> None:
    backend = Backend(clock)
    sched = make(clock, backend)
    sched.track("slow", kind=KIND, submitted_at=0.0)
    waiter = asyncio.ensure_future(sched.wait("slow", timeout=30.0))
    await clock.advance(29.99)
    assert not waiter.done()
    assert any(28.0 <= t < 30.0 for t, _ in backend.reads)  # one last look before giving up
    await clock.advance(0.02)
    assert waiter.done()
    exc = waiter.exception()
    assert isinstance(exc, sa.GenerationTimeout) and isinstance(exc, TimeoutError)
    assert exc.generation_id == "slow" and exc.last is not None
    assert sched.tracked_count == 0  # nobody waits any more: polling stops
    await sched.close()


async def test_job_finishing_just_before_deadline_is_caught(clock: FakeClock) -> None:
    backend = Backend(clock)
    backend.finish["b"] = 25.0
    sched = make(clock, backend)
    sched.track("b", kind=KIND, submitted_at=0.0)
    waiter = asyncio.ensure_future(sched.wait("b", timeout=30.0))
    await clock.run_until(waiter.done, step=0.5)
    assert waiter.result().is_completed
    await sched.close()


async def test_cancelling_one_waiter_leaves_the_others(clock: FakeClock) -> None:
    backend = Backend(clock)
    backend.finish["c"] = 10.0
    sched = make(clock, backend)
    a = asyncio.ensure_future(sched.wait("c", timeout=None))
    b = asyncio.ensure_future(sched.wait("c", timeout=None))
    await clock.advance(1.0)
    a.cancel()
    await clock.run_until(b.done, step=0.5)
    assert a.cancelled() and b.result().is_completed
    await sched.close()


async def test_cancelled_only_waiter_stops_polling_and_leaves_no_task(clock: FakeClock) -> None:
    before = asyncio.all_tasks()
    backend = Backend(clock)
    sched = make(clock, backend)
    w = asyncio.ensure_future(sched.wait("d", timeout=None))
    await clock.advance(3.0)
    w.cancel()
    await clock.settle()
    reads = len(backend.reads)
    await clock.advance(100.0)
    assert len(backend.reads) == reads
    await sched.close()
    await clock.settle()
    assert asyncio.all_tasks() == before


async def test_unknown_id_fails_after_a_few_404s(clock: FakeClock) -> None:
    backend = Backend(clock)
    not_found = sa.NotFoundError("no such generation", status_code=404)
    backend.errors.extend([not_found] * 3)
    sched = make(clock, backend)
    w = asyncio.ensure_future(sched.wait("ghost", timeout=None))
    await clock.run_until(w.done, step=0.5, limit=300)
    assert isinstance(w.exception(), sa.NotFoundError)
    assert len(backend.reads) == 3
    await sched.close()


async def test_auth_failure_fails_every_waiter(clock: FakeClock) -> None:
    backend = Backend(clock)
    backend.errors.append(sa.AuthenticationError("bad key", status_code=401))
    sched = make(clock, backend)
    waiters = [asyncio.ensure_future(sched.wait(f"x{i}", timeout=None)) for i in range(3)]
    await clock.run_until(lambda: all(w.done() for w in waiters), step=0.5)
    assert all(isinstance(w.exception(), sa.AuthenticationError) for w in waiters)
    await sched.close()


async def test_transient_errors_and_garbage_never_stop_the_loop(clock: FakeClock) -> None:
    backend = Backend(clock)
    backend.finish["e"] = 0.0
    backend.errors.extend(
        [
            sa.ServerError("boom", status_code=500),
            sa.APIConnectionError("reset"),
            sa.APITimeoutError("slow"),
            KeyError("a bug somewhere"),
        ]
    )
    sched = make(clock, backend)
    w = asyncio.ensure_future(sched.wait("e", timeout=None))
    await clock.run_until(w.done, step=0.5, limit=600)
    assert w.result().is_completed and len(backend.reads) == 5
    await sched.close()


async def test_updates_yield_each_change_then_end(clock: FakeClock) -> None:
    backend = Backend(clock)
    backend.finish["u"] = 8.0
    sched = make(clock, backend)
    seen: list[str] = []

    async def consume() -> None:
        async for gen in sched.updates("u"):
            seen.append(gen.raw_status)

    task = asyncio.ensure_future(consume())
    await clock.run_until(task.done, step=0.5)
    assert seen == ["generating", "completed"]
    await sched.close()


async def test_close_wakes_every_waiter(clock: FakeClock) -> None:
    backend = Backend(clock)
    sched = make(clock, backend)
    released: list[str] = []
    sched.track("z", kind=KIND, submitted_at=0.0, on_finish=lambda: released.append("z"))
    w = asyncio.ensure_future(sched.wait("z", timeout=None))
    await clock.advance(1.0)
    await sched.close()
    await clock.settle()
    assert isinstance(w.exception(), sa.ClientClosedError)
    assert released == ["z"]


def test_rate_window_is_exact() -> None:
    window = _timing.RateWindow(3)
    for t in (0.0, 0.1, 0.2):
        assert window.next_allowed(t) == t
        window.take(t)
    assert window.next_allowed(0.3) == pytest.approx(1.0)
    window.slow_down()
    assert window.rate == 1.5
    for _ in range(200):
        window.recover()
    assert window.rate == 3


def test_next_delay_phases() -> None:
    policy = sa.PollPolicy(jitter=0.0)
    rng = random.Random(0)

    def delay(elapsed: float, learned: bool, polls: int = 1) -> float:
        return _timing.next_delay(
            policy, elapsed=elapsed, expected=100.0, learned=learned, polls=polls, rng=rng
        )

    assert delay(0.0, learned=False, polls=0) == 2.0  # the first probe
    assert delay(2.0, learned=False) == 2.0  # probes double
    assert delay(0.0, learned=True, polls=0) == 90.0  # straight to the window
    assert delay(100.0, learned=True) == pytest.approx(9.0)  # 9% of the age
    assert delay(200.0, learned=True) == 30.0  # past the window: capped by max_interval


def test_learner_reads_partial_observations_without_bias() -> None:
    learner = _timing.Learner(sa.PollPolicy())
    kind = ("bytedance/seedance-1-0-pro-i2v", "480p", 5)  # prior 38 s
    rng = random.Random(5)
    for _ in range(400):  # true durations: mean 30 s, 10% spread
        d = rng.gauss(30.0, 3.0)
        if d < 27.0:  # done at the first check, at 27 s: only an upper bound
            learner.observe(kind, 0.0, 27.0)
        else:
            low = 27.0
            while low * 1.09 < d:
                low *= 1.09
            learner.observe(kind, low, low * 1.09)
    assert learner.expected(kind) == pytest.approx(30.0, rel=0.04)


def test_learner_adopts_a_much_faster_server_at_once() -> None:
    learner = _timing.Learner(sa.PollPolicy())
    kind = ("bytedance/seedance-1-0-pro-i2v", "1080p", 5)
    assert learner.observe(kind, 0.0, 2.0)  # a sharp drop: callers re-plan
    assert learner.expected(kind) <= 2.0


async def test_finished_waiters_leave_no_weight_in_the_deadline_heap(clock: FakeClock) -> None:
    backend = Backend(clock)
    sched = make(clock, backend)
    for i in range(2500):  # each waits with a long timeout and finishes at once
        backend.finish[f"d{i}"] = 0.0
        waiter = asyncio.ensure_future(sched.wait(f"d{i}", timeout=1800.0))
        await clock.run_until(waiter.done, step=0.5)
    assert len(sched._deadlines) <= 1500  # compacted, not 2,500 dead entries
    assert all(d[2].future is None for d in sched._deadlines)
    await sched.close()
